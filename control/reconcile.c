/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Reconciliation: make the data plane match the state, whenever the
 * connection to it is (re)made. A data plane restarted after kill -9 has
 * no ports; one that kept running while shuntd restarted may have ports
 * the state no longer wants. Either way: list what is there, plan the
 * difference, then carry the plan out in time slices between API calls.
 *
 * Filters: every recorded filter is loaded again (replacing one of the
 * same name: the state is the truth), and every chain is pushed again
 * after its port, even onto a port that kept one, since a crash between
 * a change in the data plane and its save can leave the two apart.
 * filter.attach replaces a chain atomically, so traffic sees no gap.
 *
 * Uplinks and peers: an eth port named as an uplink of the state is
 * ours (re-added when its devargs differ), and so is every route through
 * it: those that are not a peer's prefix via the peer's address go. A
 * peer's prefix is routed after its uplink's port. An eth port the state
 * does not name is left alone, with its routes (an operator's).
 *
 * Otherwise only pod ports (kinds veth and memif) and routes that block
 * a pod address are ours to change.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <shunt/dp_api.h>
#include "agent.h"
#include "log.h"

#define RECONCILE_SLICE_MS 20

enum action_kind { ACT_TUNE, ACT_FILTER_LOAD, ACT_ROUTE_DEL, ACT_PORT_DEL,
		   ACT_PORT_ADD, ACT_FILTERS, ACT_FILTERS_CLEAR, ACT_UPLINK_ADD,
		   ACT_PEER_ROUTE };

struct reconcile_action {
	enum action_kind kind;
	char name[64];          /* port name, route prefix or filter name */
};

static int plan_push(struct reconcile *r, unsigned int *cap,
		     enum action_kind kind, const char *name)
{
	if (r->n == *cap) {
		unsigned int ncap = *cap ? *cap * 2 : 32;
		struct reconcile_action *grown = realloc(r->plan, ncap * sizeof(*grown));

		if (grown == NULL)
			return -ENOMEM;
		r->plan = grown;
		*cap = ncap;
	}
	r->plan[r->n].kind = kind;
	snprintf(r->plan[r->n].name, sizeof(r->plan[r->n].name), "%s", name);
	r->n++;
	return 0;
}

static const char *jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

/* Same address sets, order aside (the data plane lists IPv4 first). */
static bool same_ips(json_t *have, json_t *want)
{
	size_t i, k;
	json_t *v, *w;

	if (!json_is_array(have) || json_array_size(have) != json_array_size(want))
		return false;
	json_array_foreach(want, i, w) {
		struct ip_prefix a, b;
		bool found = false;

		if (ipaddr_parse(json_string_value(w), false, &a) < 0)
			return false;
		json_array_foreach(have, k, v)
			if (json_is_string(v) &&
			    ipaddr_parse(json_string_value(v), false, &b) == 0 &&
			    ipaddr_same_addr(&a, &b))
				found = true;
		if (!found)
			return false;
	}
	return true;
}

/* Does the data plane's port (from port.list) match what we would add? */
static bool port_matches(json_t *have, json_t *want)
{
	json_t *pod = json_object_get(want, "pod");
	const char *kind = jstr(want, "kind");

	if (strcmp(jstr(have, "kind"), kind) != 0 ||
	    strcasecmp(jstr(have, "pod_mac"), jstr(pod, "mac")) != 0 ||
	    !same_ips(json_object_get(have, "ips"), json_object_get(pod, "ips")))
		return false;
	if (strcmp(kind, DP_PORT_VETH) == 0)
		return strcmp(jstr(have, "ifname"), jstr(want, "ifname")) == 0;
	return strcmp(jstr(have, "socket"), jstr(want, "socket")) == 0 &&
	       strcmp(jstr(have, "netns"), jstr(want, "netns")) == 0;
}

static json_t *find_by(json_t *arr, const char *key, const char *val)
{
	size_t i;
	json_t *o;

	json_array_foreach(arr, i, o)
		if (strcmp(jstr(o, key), val) == 0)
			return o;
	return NULL;
}

static int list(struct agent *ag, const char *method, const char *key,
		json_t **out)
{
	json_t *r = NULL;
	char msg[256];
	int code, rc;

	rc = dp_client_call(ag->dp, method, NULL, &r, &code, msg, sizeof(msg));
	if (rc < 0) {
		log_warn("reconcile: %s: %s", method, msg);
		return rc;
	}
	*out = json_incref(json_object_get(r, key));
	json_decref(r);
	return json_is_array(*out) ? 0 : -EPROTO;
}

/* The chains to push to a port: all of its attachment's; and on a port
 * that stays, clearing any direction the state has no chain for. */
static int plan_filters(struct reconcile *r, unsigned int *cap, json_t *dp_chains,
			const struct attachment *a, const char *name, bool kept)
{
	bool stray = false;
	json_t *o;
	size_t i;

	json_array_foreach(dp_chains, i, o)
		if (kept && strcmp(jstr(o, "port"), name) == 0 &&
		    a->chains[state_dir_parse(jstr(o, "dir")) == FILTER_TO_POD] == NULL)
			stray = true;
	if (stray)
		return plan_push(r, cap, ACT_FILTERS_CLEAR, name);
	if (a->chains[0] != NULL || a->chains[1] != NULL)
		return plan_push(r, cap, ACT_FILTERS, name);
	return 0;
}

/* Plan for one wanted port: keep it, or (re)add it; then its chains. */
static int plan_port(struct agent *ag, struct reconcile *r, unsigned int *cap,
		     json_t *ports, json_t *routes, json_t *dp_chains,
		     const struct attachment *a, bool memif)
{
	json_t *want = attach_port_params(ag, a, memif);
	const char *name = jstr(want, "name");
	json_t *have = find_by(ports, "name", name), *ip, *rt;
	size_t i;
	int rc = 0;

	if (have != NULL && port_matches(have, want)) {
		rc = plan_filters(r, cap, dp_chains, a, name, true);
		json_decref(want);
		return rc;
	}
	if (have != NULL)
		rc = plan_push(r, cap, ACT_PORT_DEL, name);
	/* A route to a pod address that no port owns would make port.add
	 * fail (route exists): it goes first. Owned ones go with their
	 * port. */
	json_array_foreach(json_object_get(json_object_get(want, "pod"), "ips"), i, ip) {
		char pfx[IPADDR_STRLEN + 8];

		snprintf(pfx, sizeof(pfx), "%s/%d", json_string_value(ip),
			 strchr(json_string_value(ip), ':') ? 128 : 32);
		rt = find_by(routes, "prefix", pfx);
		if (rc == 0 && rt != NULL && !json_is_true(json_object_get(rt, "pod")))
			rc = plan_push(r, cap, ACT_ROUTE_DEL, pfx);
	}
	if (rc == 0)
		rc = plan_push(r, cap, ACT_PORT_ADD, name);
	if (rc == 0)
		rc = plan_filters(r, cap, dp_chains, a, name, false);
	json_decref(want);
	return rc;
}

/* The data plane's eth port matches the uplink? port.list shows an eth
 * port's devargs, and its own addresses as "ips" when the data plane
 * lists them (compared then). */
static bool uplink_matches(json_t *have, const struct uplink *u)
{
	json_t *want = uplink_port_params(u), *ips = json_object_get(have, "ips");
	bool same;

	/* ib: devargs holds the partition's prefixes too (uplink_port_params). */
	if (strcmp(jstr(have, "kind"), jstr(want, "kind")) != 0 ||
	    strcmp(jstr(have, "devargs"), jstr(want, "devargs")) != 0) {
		json_decref(want);
		return false;
	}
	if (ips == NULL || state_uplink_is_ib(u)) {
		json_decref(want);
		return true;
	}
	same = same_ips(ips, json_object_get(want, "ips"));
	json_decref(want);
	return same;
}

/* Uplink ports, then the peers' routes. Routes through a kept uplink
 * that no peer wants go; a peer prefix routed elsewhere is replaced. */
static int plan_uplinks(struct agent *ag, struct reconcile *r, unsigned int *cap,
			json_t *ports, json_t *routes)
{
	bool *kept = calloc(ag->st.n_uplinks + 1, sizeof(*kept));
	json_t *rt;
	size_t i;
	int rc = 0;

	if (kept == NULL)
		return -ENOMEM;
	for (unsigned int k = 0; rc == 0 && k < ag->st.n_uplinks; k++) {
		const struct uplink *u = &ag->st.uplinks[k];
		json_t *have = find_by(ports, "name", u->name);

		kept[k] = have != NULL && uplink_matches(have, u);
		if (kept[k])
			continue;
		if (have != NULL)
			rc = plan_push(r, cap, ACT_PORT_DEL, u->name);
		if (rc == 0)
			rc = plan_push(r, cap, ACT_UPLINK_ADD, u->name);
	}
	json_array_foreach(routes, i, rt) {
		struct uplink *u = state_uplink_find(&ag->st, jstr(rt, "port"));
		struct ip_prefix pfx;
		struct peer *p;

		if (rc < 0)
			break;
		if (ipaddr_parse(jstr(rt, "prefix"), true, &pfx) < 0)
			continue;
		p = state_peer_by_prefix(&ag->st, &pfx);
		if (p != NULL && peer_route_matches(p, rt))
			continue;  /* as wanted (or goes with its port) */
		/* Through a kept uplink of ours: not as a peer wants it. A
		 * peer's prefix elsewhere: in the way of the peer's route.
		 * Through an uplink being re-added: goes with the port. */
		if ((u != NULL && kept[u - ag->st.uplinks]) || (u == NULL && p != NULL))
			rc = plan_push(r, cap, ACT_ROUTE_DEL, jstr(rt, "prefix"));
	}
	for (unsigned int k = 0; rc == 0 && k < ag->st.n_peers; k++) {
		const struct peer *p = &ag->st.peers[k];
		struct uplink *u = state_uplink_find(&ag->st, p->uplink);
		char buf[IPADDR_STRLEN];

		for (unsigned int j = 0; rc == 0 && j < p->n_prefixes; j++) {
			ipaddr_format(&p->prefixes[j], true, buf, sizeof(buf));
			rt = find_by(routes, "prefix", buf);
			if (u != NULL && kept[u - ag->st.uplinks] && rt != NULL &&
			    peer_route_matches(p, rt))
				continue;
			rc = plan_push(r, cap, ACT_PEER_ROUTE, buf);
		}
	}
	free(kept);
	return rc;
}

int reconcile_start(struct agent *ag)
{
	struct reconcile *r = &ag->rec;
	json_t *ports = NULL, *routes = NULL, *p, *fl = NULL, *dp_chains;
	unsigned int cap = 0;
	char msg[256];
	int code;
	size_t i;
	int rc;

	free(r->plan);
	r->plan = NULL;
	r->n = r->next = 0;
	r->added = r->deleted = r->failed = 0;
	r->started_ms = agent_now_ms();
	rc = list(ag, DP_M_PORT_LIST, "ports", &ports);
	if (rc == 0)
		rc = list(ag, DP_M_ROUTE_LIST, "routes", &routes);
	if (rc < 0)
		goto out;
	/* Chains the data plane has: an old data plane without filters
	 * answers an error, and then has none. */
	if (dp_client_call(ag->dp, DP_M_FILTER_LIST, NULL, &fl, &code, msg,
			   sizeof(msg)) < 0)
		fl = NULL;
	dp_chains = json_object_get(fl, "attached");
	if (json_object_size(ag->st.tune) > 0)
		rc = plan_push(r, &cap, ACT_TUNE, "tune");
	for (i = 0; rc == 0 && i < ag->st.n_filters; i++)
		rc = plan_push(r, &cap, ACT_FILTER_LOAD, ag->st.filters[i].name);
	/* Pod ports the state does not want. */
	json_array_foreach(ports, i, p) {
		const char *kind = jstr(p, "kind");
		struct attachment *a = attach_by_port(ag, jstr(p, "name"));

		if (rc < 0)
			break;
		if (strcmp(kind, DP_PORT_VETH) != 0 && strcmp(kind, DP_PORT_MEMIF) != 0)
			continue;
		if (a == NULL || a->state != ATT_READY)
			rc = plan_push(r, &cap, ACT_PORT_DEL, jstr(p, "name"));
	}
	/* The uplink first: one port that every pod's remote traffic needs. */
	if (rc == 0)
		rc = plan_uplinks(ag, r, &cap, ports, routes);
	for (i = 0; rc == 0 && i < ag->st.n_atts; i++) {
		const struct attachment *a = ag->st.atts[i];

		if (a->state != ATT_READY)
			continue;
		if (a->veth_port[0])
			rc = plan_port(ag, r, &cap, ports, routes, dp_chains, a, false);
		if (rc == 0 && a->memif_port[0])
			rc = plan_port(ag, r, &cap, ports, routes, dp_chains, a, true);
	}
	/* Even an empty plan is a run to finish (and to report). */
	if (rc == 0 && r->plan == NULL && (r->plan = calloc(1, sizeof(*r->plan))) == NULL)
		rc = -ENOMEM;
	if (rc == 0)
		log_info("reconcile: %zu port(s) in the data plane, %u change(s) "
			 "planned", json_array_size(ports), r->n);
out:
	json_decref(fl);
	json_decref(ports);
	json_decref(routes);
	if (rc < 0) {
		free(r->plan);
		r->plan = NULL;
		r->n = 0;
	}
	return rc;
}

bool reconcile_busy(const struct agent *ag)
{
	return ag->rec.plan != NULL;
}

/* One action. Each re-checks the state: an API call served between two
 * slices may have changed what is wanted since the plan was made. */
static void act(struct agent *ag, const struct reconcile_action *x)
{
	struct reconcile *r = &ag->rec;
	struct attachment *a = NULL;
	json_t *params = NULL, *res = NULL;
	const char *method;
	char msg[256];
	int code = 0, rc;

	switch (x->kind) {
	case ACT_FILTER_LOAD: {
		struct filter_def *d = state_filter_find(&ag->st, x->name);

		if (d == NULL)
			return;  /* unloaded since */
		params = json_pack("{s:s, s:s}", "name", d->name, "path", d->path);
		rc = dp_client_call(ag->dp, DP_M_FILTER_LOAD, params, &res, &code,
				    msg, sizeof(msg));
		if (rc == -EREMOTEIO && code == DP_E_EXISTS) {
			json_t *u = json_pack("{s:s}", "name", d->name), *ur = NULL;

			/* Kept by a data plane that outlived shuntd: load
			 * ours (chains are pushed again below anyway). */
			json_decref(res);
			res = NULL;
			if (dp_client_call(ag->dp, DP_M_FILTER_UNLOAD, u, &ur, &code,
					   msg, sizeof(msg)) == 0)
				rc = dp_client_call(ag->dp, DP_M_FILTER_LOAD, params,
						    &res, &code, msg, sizeof(msg));
			json_decref(u);
			json_decref(ur);
		}
		json_decref(params);
		json_decref(res);
		if (rc < 0) {
			r->failed++;
			log_warn("reconcile: filter.load %s (%s): %s", d->name,
				 d->path, msg);
		}
		return;
	}
	case ACT_FILTERS:
	case ACT_FILTERS_CLEAR:
		a = attach_by_port(ag, x->name);
		if (a == NULL || a->state != ATT_READY)
			return;
		rc = filter_port_apply(ag, a, x->name, x->kind == ACT_FILTERS_CLEAR,
				       msg, sizeof(msg));
		if (rc < 0) {
			r->failed++;
			log_warn("reconcile: %s", msg);
			snprintf(a->dp_error, sizeof(a->dp_error), "%s", msg);
		}
		return;
	case ACT_UPLINK_ADD: {
		struct uplink *u = state_uplink_find(&ag->st, x->name);

		if (u == NULL)
			return;  /* deleted since */
		params = uplink_port_params(u);
		rc = dp_client_call(ag->dp, DP_M_PORT_ADD, params, &res, &code, msg,
				    sizeof(msg));
		json_decref(params);
		json_decref(res);
		if (rc == 0) {
			r->added++;
			u->dp_error[0] = '\0';
		} else if (!(rc == -EREMOTEIO && code == DP_E_EXISTS)) {
			r->failed++;
			log_warn("reconcile: uplink %s: port.add: %s", u->name, msg);
			snprintf(u->dp_error, sizeof(u->dp_error), "%s", msg);
		}
		return;
	}
	case ACT_PEER_ROUTE: {
		struct ip_prefix pfx;
		struct peer *p;

		if (ipaddr_parse(x->name, true, &pfx) < 0 ||
		    (p = state_peer_by_prefix(&ag->st, &pfx)) == NULL)
			return;  /* deleted since */
		rc = peer_route_push(ag, p, &pfx, &code, msg, sizeof(msg));
		if (rc < 0) {
			r->failed++;
			log_warn("reconcile: peer %s: route %s: %s", p->name, x->name, msg);
		}
		return;
	}
	case ACT_TUNE:
		method = DP_M_CONFIG_SET;
		params = json_incref(ag->st.tune);
		break;
	case ACT_ROUTE_DEL:
		method = DP_M_ROUTE_DEL;
		params = json_pack("{s:s}", "prefix", x->name);
		break;
	case ACT_PORT_DEL:
		a = attach_by_port(ag, x->name);
		method = DP_M_PORT_DEL;
		params = json_pack("{s:s}", "name", x->name);
		break;
	case ACT_PORT_ADD:
		a = attach_by_port(ag, x->name);
		if (a == NULL || a->state != ATT_READY)
			return;  /* detached since */
		method = DP_M_PORT_ADD;
		params = attach_port_params(ag, a, strcmp(a->memif_port, x->name) == 0);
		break;
	default:
		return;
	}
	rc = dp_client_call(ag->dp, method, params, &res, &code, msg, sizeof(msg));
	json_decref(params);
	json_decref(res);
	/* Already gone is as good as deleted (a route goes with its port). */
	if (rc == 0 || (rc == -EREMOTEIO && code == DP_E_NOT_FOUND &&
			(x->kind == ACT_PORT_DEL || x->kind == ACT_ROUTE_DEL))) {
		if (x->kind == ACT_PORT_ADD) {
			r->added++;
			a->dp_error[0] = '\0';
		} else if (x->kind == ACT_PORT_DEL) {
			r->deleted++;
		}
		return;
	}
	if (rc == -EREMOTEIO && x->kind == ACT_PORT_ADD && code == DP_E_EXISTS &&
	    strstr(msg, "port") != NULL)
		return;  /* added by an attach since the plan */
	r->failed++;
	log_warn("reconcile: %s %s: %s", method, x->name, msg);
	if (a != NULL && x->kind == ACT_PORT_ADD)
		snprintf(a->dp_error, sizeof(a->dp_error), "%s", msg);
}

void reconcile_step(struct agent *ag)
{
	struct reconcile *r = &ag->rec;
	uint64_t until = agent_now_ms() + RECONCILE_SLICE_MS;

	while (r->plan != NULL && r->next < r->n) {
		if (!dp_client_connected(ag->dp)) {
			/* Gone again: the next connection starts over. */
			log_warn("reconcile: data plane lost after %u of %u changes",
				 r->next, r->n);
			free(r->plan);
			r->plan = NULL;
			return;
		}
		act(ag, &r->plan[r->next++]);
		if (agent_now_ms() >= until)
			return;
	}
	if (r->plan == NULL)
		return;
	free(r->plan);
	r->plan = NULL;
	r->runs++;
	r->last_ms = agent_now_ms() - r->started_ms;
	log_info("reconciled in %llu ms: %u port(s) added, %u deleted, %u "
		 "failed", (unsigned long long)r->last_ms, r->added, r->deleted,
		 r->failed);
}

json_t *reconcile_status(const struct agent *ag)
{
	const struct reconcile *r = &ag->rec;

	return json_pack("{s:b, s:i, s:I, s:i, s:i, s:i}",
		"running", r->plan != NULL, "runs", (int)r->runs,
		"last_ms", (json_int_t)r->last_ms, "last_added", (int)r->added,
		"last_deleted", (int)r->deleted, "last_failed", (int)r->failed);
}
