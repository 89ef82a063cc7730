/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * eBPF filters (agent.h): the filters loaded by name, and each
 * attachment's chains per direction, applied to every data plane port of
 * the attachment. The data plane holds the programs and checks the rules
 * (dataplane/filter_ctl.c); shuntd records what was asked so that a
 * restarted data plane gets it all back (reconcile.c).
 *
 * Order of each change: check, apply to the data plane, persist, answer.
 * A refused change leaves the data plane as it was; a failed save puts
 * the old chain back. A crash between the data plane and the save is
 * repaired by the reconciliation at the next start, which pushes every
 * chain from the state again.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <shunt/agent_api.h>
#include <shunt/dp_api.h>
#include "agent.h"
#include "log.h"

static bool chain_uses(json_t *chain, const char *name)
{
	json_t *el;
	size_t i;

	json_array_foreach(chain, i, el)
		if (strcmp(json_string_value(json_object_get(el, "filter")) ?: "",
			   name) == 0)
			return true;
	return false;
}

/* --- load, unload ---------------------------------------------------------- */

int filter_load(struct agent *ag, const struct filter_def *d,
		struct jsonl_error *e)
{
	struct filter_def *old = state_filter_find(&ag->st, d->name);
	char msg[512];
	struct stat sb;
	int code, rc;

	if (old != NULL && strcmp(old->path, d->path) != 0) {
		jsonl_fail(e, AGENT_E_EXISTS, "'name': filter '%s' is loaded from %s; "
			   "unload it first", d->name, old->path);
		return -EEXIST;
	}
	if (stat(d->path, &sb) < 0) {
		rc = -errno;
		jsonl_fail(e, rc == -ENOENT ? AGENT_E_NOT_FOUND : AGENT_E_PARAMS,
			   "'path': %.300s: %s", d->path, strerror(-rc));
		return rc;
	}
	if (!S_ISREG(sb.st_mode)) {
		jsonl_fail(e, AGENT_E_PARAMS, "'path': %.300s: not a regular file",
			   d->path);
		return -EINVAL;
	}
	if (old == NULL && ag->st.n_filters >= STATE_MAX_FILTERS) {
		jsonl_fail(e, AGENT_E_LIMIT, "at most %d filters", STATE_MAX_FILTERS);
		return -ENOSPC;
	}
	rc = dp_client_do(ag->dp, DP_M_FILTER_LOAD, json_pack("{s:s, s:s}", "name", d->name,
		   "path", d->path), &code, msg, sizeof(msg));
	if (rc == -EREMOTEIO && code == DP_E_EXISTS && old == NULL) {
		/* Not ours: left by an earlier shuntd run, maybe from
		 * another file. Ours replaces it; chains built from it keep
		 * their own reference in the data plane. */
		dp_client_do(ag->dp, DP_M_FILTER_UNLOAD, json_pack("{s:s}", "name", d->name),
		      &code, msg, sizeof(msg));
		rc = dp_client_do(ag->dp, DP_M_FILTER_LOAD, json_pack("{s:s, s:s}", "name",
			   d->name, "path", d->path), &code, msg, sizeof(msg));
	} else if (rc == -EREMOTEIO && code == DP_E_EXISTS) {
		rc = 0;  /* the same again */
	}
	if (rc < 0) {
		/* A program that cannot be checked now is not recorded: it
		 * would fail at every data plane start instead. */
		agent_dp_error(rc, code, msg, "filter.load", e);
		return rc;
	}
	if (old != NULL)
		return 0;
	rc = state_filter_add(&ag->st, d);
	if (rc == 0)
		rc = state_save(&ag->st, msg, sizeof(msg));
	if (rc < 0) {
		state_filter_remove(&ag->st, d->name);
		dp_client_do(ag->dp, DP_M_FILTER_UNLOAD, json_pack("{s:s}", "name", d->name),
		      &code, msg, sizeof(msg));
		jsonl_fail(e, AGENT_E_STATE, "filter.load %s: %s", d->name, msg);
		return rc;
	}
	log_info("filter %s loaded from %s", d->name, d->path);
	return 0;
}

int filter_unload(struct agent *ag, const char *name, struct jsonl_error *e)
{
	struct filter_def saved, *d = state_filter_find(&ag->st, name);
	char msg[512];
	int code, rc;

	if (d == NULL) {
		jsonl_fail(e, AGENT_E_NOT_FOUND, "'name': no filter named '%s'", name);
		return -ENOENT;
	}
	for (unsigned int i = 0; i < ag->st.n_atts; i++) {
		const struct attachment *a = ag->st.atts[i];

		for (int k = 0; k < 2; k++)
			if (a->chains[k] != NULL && chain_uses(a->chains[k], name)) {
				jsonl_fail(e, AGENT_E_BUSY, "filter '%s' is in use by "
					   "%s/%s %s; detach it first", name,
					   a->container_id, a->ifname,
					   state_dir_name((enum filter_dir)k));
				return -EBUSY;
			}
	}
	saved = *d;
	state_filter_remove(&ag->st, name);
	rc = state_save(&ag->st, msg, sizeof(msg));
	if (rc < 0) {
		state_filter_add(&ag->st, &saved);
		jsonl_fail(e, AGENT_E_STATE, "filter.unload %s: %s", name, msg);
		return rc;
	}
	/* Not there or data plane away: it is not loaded at its next start
	 * either, since the state no longer has it. */
	rc = dp_client_do(ag->dp, DP_M_FILTER_UNLOAD, json_pack("{s:s}", "name", name),
		   &code, msg, sizeof(msg));
	if (rc < 0 && !dp_client_away(rc) && code != DP_E_NOT_FOUND)
		log_warn("filter.unload %s: %s", name, msg);
	log_info("filter %s unloaded", name);
	return 0;
}

/* --- chains ------------------------------------------------------------------ */

int filter_chain_check(struct agent *ag, json_t *chain, const char *field,
		       struct jsonl_error *e)
{
	static const char *const known[] = { "filter", "rules", "rate",
		"watch_drops", "flow_cache", NULL };
	json_t *el, *v;
	const char *key, *name;
	size_t i;

	if (!json_is_array(chain) || json_array_size(chain) == 0 ||
	    json_array_size(chain) > STATE_CHAIN_MAX) {
		jsonl_fail(e, AGENT_E_PARAMS, "'%s' must be an array of 1 to %d "
			   "{filter, [rules], [rate], [watch_drops], [flow_cache]}",
			   field,
			   STATE_CHAIN_MAX);
		return -EINVAL;
	}
	json_array_foreach(chain, i, el) {
		if (!json_is_object(el)) {
			jsonl_fail(e, AGENT_E_PARAMS, "'%s[%zu]' must be an object",
				   field, i);
			return -EINVAL;
		}
		json_object_foreach(el, key, v) {
			int k;

			for (k = 0; known[k] && strcmp(known[k], key) != 0; k++)
				;
			if (known[k] == NULL) {
				jsonl_fail(e, AGENT_E_PARAMS, "'%s[%zu].%.64s': unknown "
					   "field (filter, rules, rate, watch_drops, "
					   "flow_cache)",
					   field, i, key);
				return -EINVAL;
			}
		}
		name = json_string_value(json_object_get(el, "filter"));
		if (name == NULL) {
			jsonl_fail(e, AGENT_E_PARAMS, "'%s[%zu].filter' is required "
				   "(a loaded filter's name)", field, i);
			return -EINVAL;
		}
		if (state_filter_find(&ag->st, name) == NULL) {
			jsonl_fail(e, AGENT_E_PARAMS, "'%s[%zu].filter': no loaded "
				   "filter named '%.64s' (shuntctl filter load)",
				   field, i, name);
			return -EINVAL;
		}
		v = json_object_get(el, "rules");
		if (v != NULL && !json_is_object(v)) {
			jsonl_fail(e, AGENT_E_PARAMS, "'%s[%zu].rules' must be an "
				   "object {default, rules}", field, i);
			return -EINVAL;
		}
		v = json_object_get(el, "rate");
		if (v != NULL && !json_is_object(v)) {
			jsonl_fail(e, AGENT_E_PARAMS, "'%s[%zu].rate' must be an "
				   "object {bytes_per_s, burst}", field, i);
			return -EINVAL;
		}
		v = json_object_get(el, "watch_drops");
		if (v != NULL && !json_is_boolean(v)) {
			jsonl_fail(e, AGENT_E_PARAMS, "'%s[%zu].watch_drops' must be "
				   "a boolean", field, i);
			return -EINVAL;
		}
		v = json_object_get(el, "flow_cache");
		if (v != NULL && !json_is_boolean(v)) {
			jsonl_fail(e, AGENT_E_PARAMS, "'%s[%zu].flow_cache' must be "
				   "a boolean", field, i);
			return -EINVAL;
		}
	}
	return 0;
}

int filter_chains_parse(struct agent *ag, json_t *arr, json_t *chains[2],
			struct jsonl_error *e)
{
	json_t *c;
	size_t i;
	int d;

	chains[0] = chains[1] = NULL;
	if (arr == NULL)
		return 0;
	if (!json_is_array(arr) || json_array_size(arr) > 2) {
		jsonl_fail(e, AGENT_E_PARAMS, "'filters' must be an array of at most "
			   "2 {dir, filters}");
		return -EINVAL;
	}
	json_array_foreach(arr, i, c) {
		char field[48];

		d = state_dir_parse(json_string_value(json_object_get(c, "dir")));
		if (!json_is_object(c) || d < 0) {
			jsonl_fail(e, AGENT_E_PARAMS, "'filters[%zu].dir' must be "
				   "from_pod or to_pod", i);
			goto fail;
		}
		if (chains[d] != NULL) {
			jsonl_fail(e, AGENT_E_PARAMS, "'filters[%zu].dir': %s is "
				   "listed twice", i, state_dir_name((enum filter_dir)d));
			goto fail;
		}
		snprintf(field, sizeof(field), "filters[%zu].filters", i);
		if (filter_chain_check(ag, json_object_get(c, "filters"), field, e) < 0)
			goto fail;
		chains[d] = json_deep_copy(json_object_get(c, "filters"));
	}
	return 0;
fail:
	json_decref(chains[0]);
	json_decref(chains[1]);
	chains[0] = chains[1] = NULL;
	return -EINVAL;
}

static int port_dir_set(struct agent *ag, const char *port, enum filter_dir d,
			json_t *chain, int *code, char *msg, size_t len)
{
	if (chain != NULL)
		return dp_client_do(ag->dp, DP_M_FILTER_ATTACH, json_pack("{s:s, s:s, s:O}",
			     "port", port, "dir", state_dir_name(d), "filters", chain),
			     code, msg, len);
	return dp_client_do(ag->dp, DP_M_FILTER_DETACH, json_pack("{s:s, s:s}", "port", port,
		     "dir", state_dir_name(d)), code, msg, len);
}

int filter_port_apply(struct agent *ag, const struct attachment *a,
		      const char *port, bool clear, char *msg, size_t len)
{
	char dmsg[384];
	int code, rc;

	for (int d = 0; d < 2; d++) {
		if (a->chains[d] == NULL && !clear)
			continue;
		rc = port_dir_set(ag, port, (enum filter_dir)d, a->chains[d], &code,
				  dmsg, sizeof(dmsg));
		if (rc == -EREMOTEIO && a->chains[d] == NULL && code == DP_E_NOT_FOUND)
			rc = 0;
		if (rc < 0) {
			snprintf(msg, len, "filters %s on %s: %s",
				 state_dir_name((enum filter_dir)d), port, dmsg);
			return rc;
		}
	}
	return 0;
}

static const char *att_port(const struct attachment *a, int k)
{
	return k == 0 ? a->veth_port : a->memif_port;
}

/* Set one direction on every port of a (chain NULL: remove). On a data
 * plane refusal the ports already changed get old back. Returns 0, 1
 * when the data plane is away (reconciliation applies it), or -errno
 * with e filled. */
static int att_dir_set(struct agent *ag, struct attachment *a, enum filter_dir d,
		       json_t *chain, json_t *old, struct jsonl_error *e)
{
	char msg[384], m2[128];
	int code, c2, rc;

	for (int k = 0; k < 2; k++) {
		const char *port = att_port(a, k);

		if (port[0] == '\0')
			continue;
		rc = port_dir_set(ag, port, d, chain, &code, msg, sizeof(msg));
		if (rc == -EREMOTEIO && chain == NULL && code == DP_E_NOT_FOUND)
			rc = 0;  /* no chain there (or no port yet) */
		if (dp_client_away(rc))
			return 1;
		if (rc < 0) {
			if (k == 1 && a->veth_port[0])
				port_dir_set(ag, a->veth_port, d, old, &c2, m2, sizeof(m2));
			agent_dp_error(rc, code, msg, "filter.attach", e);
			return rc;
		}
	}
	return 0;
}

int filter_attach(struct agent *ag, struct attachment *a, enum filter_dir d,
		  json_t *chain, struct jsonl_error *e)
{
	json_t *old = a->chains[d];
	char msg[512];
	int rc;

	if (a->state != ATT_READY) {
		jsonl_fail(e, AGENT_E_BUSY, "%s/%s is %s", a->container_id, a->ifname,
			   state_att_state_name(a->state));
		return -EBUSY;
	}
	rc = att_dir_set(ag, a, d, chain, old, e);
	if (rc < 0)
		return rc;
	a->chains[d] = chain ? json_incref(chain) : NULL;
	rc = state_save(&ag->st, msg, sizeof(msg));
	if (rc < 0) {
		struct jsonl_error ignore;

		json_decref(a->chains[d]);
		a->chains[d] = old;
		att_dir_set(ag, a, d, old, NULL, &ignore);
		jsonl_fail(e, AGENT_E_STATE, "filter.%s %s/%s: %s", chain ? "attach" :
			   "detach", a->container_id, a->ifname, msg);
		return rc;
	}
	json_decref(old);
	log_info("%s/%s %s: %s", a->container_id, a->ifname, state_dir_name(d),
		 chain ? "chain attached" : "chain detached");
	return 0;
}

int filter_rules(struct agent *ag, struct attachment *a, enum filter_dir d,
		 unsigned int index, json_t *rules, struct jsonl_error *e)
{
	json_t *chain = a->chains[d], *el, *copy, *old_rules;
	char msg[384];
	int code, rc;

	if (chain == NULL || index >= json_array_size(chain)) {
		jsonl_fail(e, AGENT_E_NOT_FOUND, "'index': %s/%s %s has no element %u",
			   a->container_id, a->ifname, state_dir_name(d), index);
		return -ENOENT;
	}
	el = json_array_get(chain, index);
	if (json_object_get(el, "rules") == NULL) {
		/* The data plane binds a rule table only when the chain was
		 * built with rules: new ones need a filter.attach. */
		jsonl_fail(e, AGENT_E_PARAMS, "'index': element %u (%s) was attached "
			   "without rules; attach it again with rules", index,
			   json_string_value(json_object_get(el, "filter")));
		return -EINVAL;
	}
	for (int k = 0; k < 2; k++) {
		const char *port = att_port(a, k);

		if (port[0] == '\0')
			continue;
		rc = dp_client_do(ag->dp, DP_M_FILTER_RULES, json_pack("{s:s, s:s, s:i, s:O}",
			   "port", port, "dir", state_dir_name(d), "index", (int)index,
			   "rules", rules), &code, msg, sizeof(msg));
		if (dp_client_away(rc) || (rc == -EREMOTEIO && code == DP_E_NOT_FOUND &&
				    strstr(msg, "no port") != NULL))
			continue;  /* applied when the port is (re)added */
		if (rc < 0) {
			if (k == 1 && a->veth_port[0])
				dp_client_do(ag->dp, DP_M_FILTER_RULES, json_pack("{s:s, s:s, s:i, s:O}",
				      "port", a->veth_port, "dir", state_dir_name(d),
				      "index", (int)index, "rules",
				      json_object_get(el, "rules")), &code, msg, sizeof(msg));
			agent_dp_error(rc, code, msg, "filter.rules", e);
			return rc;
		}
	}
	/* Chains may be shared with requests in flight: replace, not edit. */
	copy = json_deep_copy(chain);
	json_object_set(json_array_get(copy, index), "rules", rules);
	old_rules = json_incref(json_object_get(el, "rules"));
	a->chains[d] = copy;
	rc = state_save(&ag->st, msg, sizeof(msg));
	if (rc < 0) {
		a->chains[d] = chain;
		json_decref(copy);
		for (int k = 0; k < 2; k++)
			if (att_port(a, k)[0])
				dp_client_do(ag->dp, DP_M_FILTER_RULES, json_pack("{s:s, s:s, s:i, s:O}",
				      "port", att_port(a, k), "dir", state_dir_name(d),
				      "index", (int)index, "rules", old_rules), &code,
				      msg, sizeof(msg));
		json_decref(old_rules);
		jsonl_fail(e, AGENT_E_STATE, "filter.rules %s/%s: %s", a->container_id,
			   a->ifname, msg);
		return rc;
	}
	json_decref(old_rules);
	json_decref(chain);
	return 0;
}

/* --- list -------------------------------------------------------------------- */

json_t *filter_list(struct agent *ag, struct jsonl_error *e)
{
	json_t *r = NULL, *loaded = json_array(), *att = json_array(), *o, *dpl;
	bool connected;
	char msg[256];
	int code = 0;
	size_t i;

	(void)e;
	/* The live view when there is one; the recorded one always. */
	connected = dp_client_call(ag->dp, DP_M_FILTER_LIST, NULL, &r, &code, msg,
				   sizeof(msg)) == 0;
	dpl = json_object_get(r, "loaded");
	for (unsigned int k = 0; k < ag->st.n_filters; k++) {
		const struct filter_def *d = &ag->st.filters[k];
		json_t *x = json_pack("{s:s, s:s, s:b, s:i}", "name", d->name,
				      "path", d->path, "in_dataplane", 0, "attached", 0);

		json_array_foreach(dpl, i, o)
			if (strcmp(json_string_value(json_object_get(o, "name")) ?: "",
				   d->name) == 0) {
				json_object_set_new(x, "in_dataplane", json_true());
				json_object_set(x, "jit", json_object_get(o, "jit"));
				json_object_set(x, "insns", json_object_get(o, "insns"));
				json_object_set(x, "flow_cacheable",
						json_object_get(o, "flow_cacheable"));
			}
		for (unsigned int n = 0, a = 0; a < ag->st.n_atts; a++) {
			for (int d2 = 0; d2 < 2; d2++)
				n += ag->st.atts[a]->chains[d2] != NULL &&
				     chain_uses(ag->st.atts[a]->chains[d2], d->name);
			json_object_set_new(x, "attached", json_integer(n));
		}
		json_array_append_new(loaded, x);
	}
	for (unsigned int k = 0; k < ag->st.n_atts; k++) {
		const struct attachment *a = ag->st.atts[k];

		for (int d = 0; d < 2; d++) {
			json_t *ports = json_array();

			if (a->chains[d] == NULL) {
				json_decref(ports);
				continue;
			}
			for (int p = 0; p < 2; p++) {
				const char *port = att_port(a, p);
				json_t *chain = json_null();

				if (port[0] == '\0')
					continue;
				json_array_foreach(json_object_get(r, "attached"), i, o)
					if (strcmp(json_string_value(json_object_get(o, "port")) ?: "", port) == 0 &&
					    strcmp(json_string_value(json_object_get(o, "dir")) ?: "",
						   state_dir_name((enum filter_dir)d)) == 0)
						chain = json_incref(json_object_get(o, "chain"));
				json_array_append_new(ports, json_pack("{s:s, s:o}",
					"port", port, "chain", chain));
			}
			json_array_append_new(att, json_pack("{s:s, s:s, s:s, s:O, s:o}",
				"container_id", a->container_id, "ifname", a->ifname,
				"dir", state_dir_name((enum filter_dir)d),
				"filters", a->chains[d], "ports", ports));
		}
	}
	o = json_pack("{s:b, s:o, s:o}", "dataplane", connected, "loaded", loaded,
		      "attached", att);
	if (json_is_object(json_object_get(r, "cache")))
		json_object_set(o, "cache", json_object_get(r, "cache"));
	json_decref(r);
	return o;
}
