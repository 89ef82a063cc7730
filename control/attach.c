/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Attach and detach pods (agent.h). Write-ahead: an attachment is saved
 * as "pending", with the names of everything it will create, before the
 * first object exists, and as "ready" once all exist. A crash in between
 * leaves a pending entry that the next start rolls back, so nothing made
 * here can outlive its record. Detach mirrors it with "detaching".
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <shunt/agent_api.h>
#include <shunt/dp_api.h>
#include "agent.h"
#include "log.h"
#include "podnet.h"

#define DONE_VETH     0x1u
#define DONE_DP_VETH  0x2u
#define DONE_DP_MEMIF 0x4u

static bool mode_has_veth(const char *mode)
{
	return strcmp(mode, AGENT_MODE_VETH) == 0 ||
	       strcmp(mode, AGENT_MODE_VETH_MEMIF) == 0;
}

static bool mode_has_memif(const char *mode)
{
	return strcmp(mode, AGENT_MODE_MEMIF) == 0 ||
	       strcmp(mode, AGENT_MODE_VETH_MEMIF) == 0;
}

/* FNV-1a: stable across restarts and builds, which is all names need. */
static uint64_t fnv1a(const char *s, uint64_t h)
{
	for (; *s; s++) {
		h ^= (uint8_t)*s;
		h *= 0x100000001b3ull;
	}
	return h;
}

/* Names derive from (container_id, ifname) only, so a retried attach and
 * a restarted shuntd find the same objects. "sh" + 10 hex digits fits
 * IFNAMSIZ with room to spare. */
static void att_names(struct attachment *a)
{
	uint64_t h = fnv1a(a->container_id, 0xcbf29ce484222325ull);
	unsigned long long x;

	h = fnv1a("/", h);
	h = fnv1a(a->ifname, h);
	x = (unsigned long long)(h & 0xffffffffffull);
	if (mode_has_veth(a->mode)) {
		snprintf(a->host_if, sizeof(a->host_if), "sh%010llx", x);
		snprintf(a->veth_port, sizeof(a->veth_port), "%s", a->host_if);
	}
	if (mode_has_memif(a->mode)) {
		snprintf(a->memif_port, sizeof(a->memif_port), "sm%010llx", x);
		snprintf(a->memif_socket, sizeof(a->memif_socket), "/shunt/%s",
			 a->ifname);
	}
}

/* 0a:58 (locally administered, as other CNIs do) + the first IPv4
 * address, else the last 4 bytes of the first IPv6 one. */
static void mac_derive(const struct ip_prefix *ips, unsigned int n,
		       uint8_t mac[6])
{
	const struct ip_prefix *p = &ips[0];

	for (unsigned int i = 0; i < n; i++)
		if (ips[i].family == AF_INET) {
			p = &ips[i];
			break;
		}
	mac[0] = 0x0a;
	mac[1] = 0x58;
	memcpy(mac + 2, p->family == AF_INET ? p->addr : p->addr + 12, 4);
}

static json_t *addrs_json(const struct ip_prefix *p, unsigned int n)
{
	json_t *a = json_array();
	char buf[IPADDR_STRLEN];

	for (unsigned int i = 0; i < n; i++)
		json_array_append_new(a, json_string(ipaddr_format(&p[i], false,
						     buf, sizeof(buf))));
	return a;
}

json_t *attach_port_params(const struct agent *ag, const struct attachment *a,
			   bool memif)
{
	char mac[18];

	if (!memif)
		return json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:o}}",
			"name", a->veth_port, "kind", DP_PORT_VETH,
			"ifname", a->host_if, "mode", ag->veth_mode,
			"pod", "mac", state_mac_format(a->mac, mac),
			"ips", addrs_json(a->ips, a->n_ips));
	/* memif only: the pod's addresses; veth+memif: the memif app's own. */
	if (a->n_memif_ips)
		return json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:o}}",
			"name", a->memif_port, "kind", DP_PORT_MEMIF,
			"socket", a->memif_socket, "netns", a->netns,
			"pod", "mac", state_mac_format(a->memif_mac, mac),
			"ips", addrs_json(a->memif_ips, a->n_memif_ips));
	return json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:o}}",
		"name", a->memif_port, "kind", DP_PORT_MEMIF,
		"socket", a->memif_socket, "netns", a->netns,
		"pod", "mac", state_mac_format(a->mac, mac),
		"ips", addrs_json(a->ips, a->n_ips));
}

struct attachment *attach_by_port(struct agent *ag, const char *name)
{
	for (unsigned int i = 0; i < ag->st.n_atts; i++) {
		struct attachment *a = ag->st.atts[i];

		if ((a->veth_port[0] && strcmp(a->veth_port, name) == 0) ||
		    (a->memif_port[0] && strcmp(a->memif_port, name) == 0))
			return a;
	}
	return NULL;
}

json_t *attach_to_json(const struct attachment *a)
{
	json_t *o = state_attachment_to_json(a);

	if (a->dp_error[0])
		json_object_set_new(o, "dataplane_error", json_string(a->dp_error));
	return o;
}

/* --- data plane ports ------------------------------------------------------ */

/* Returns 0 when added, 1 when deferred to reconciliation (the data plane
 * is away), or -errno with msg filled. */
static int dp_port_add(struct agent *ag, struct attachment *a, bool memif,
		       char *msg, size_t len)
{
	json_t *params = attach_port_params(ag, a, memif), *r = NULL;
	int code = 0, rc;

	rc = dp_client_call(ag->dp, DP_M_PORT_ADD, params, &r, &code, msg, len);
	if (rc == -EREMOTEIO && code == DP_E_EXISTS) {
		/* A port under our name that the state does not have as ready
		 * is a leftover (of a crash, or of a data plane that kept it
		 * across our restart): replace it. */
		json_t *del = json_pack("{s:O}", "name", json_object_get(params, "name"));
		json_t *dr = NULL;

		if (dp_client_call(ag->dp, DP_M_PORT_DEL, del, &dr, &code, msg, len) == 0)
			json_decref(dr);
		json_decref(del);
		rc = dp_client_call(ag->dp, DP_M_PORT_ADD, params, &r, &code, msg, len);
	}
	json_decref(params);
	json_decref(r);
	if (rc == -ENOTCONN || rc == -EPIPE || rc == -ETIMEDOUT) {
		log_warn("attach %s/%s: data plane away (%s); its port is added "
			 "when it is back", a->container_id, a->ifname, msg);
		return 1;
	}
	return rc;
}

/* Remove a data plane port. 0 also when it is not there or the data plane
 * is away (reconciliation removes it then: it is not in the state). */
static int dp_port_del(struct agent *ag, const char *name)
{
	json_t *params = json_pack("{s:s}", "name", name), *r = NULL;
	char msg[256];
	int code = 0, rc;

	rc = dp_client_call(ag->dp, DP_M_PORT_DEL, params, &r, &code, msg, sizeof(msg));
	json_decref(params);
	json_decref(r);
	if (rc == -EREMOTEIO && code == DP_E_NOT_FOUND)
		return 0;
	if (rc == -ENOTCONN || rc == -EPIPE || rc == -ETIMEDOUT)
		return 0;
	if (rc < 0)
		log_warn("data plane port.del %s: %s", name, msg);
	return rc;
}

/* Undo what `done` says was made, newest first. */
static void att_undo(struct agent *ag, struct attachment *a, unsigned int done)
{
	int rc;

	if ((done & DONE_DP_MEMIF) && a->memif_port[0])
		dp_port_del(ag, a->memif_port);
	if ((done & DONE_DP_VETH) && a->veth_port[0])
		dp_port_del(ag, a->veth_port);
	if ((done & DONE_VETH) && a->host_if[0]) {
		/* Deleting the host end deletes the pod end with it. */
		rc = podnet_link_del(a->host_if);
		if (rc < 0)
			log_warn("undo %s/%s: deleting %s: %s", a->container_id,
				 a->ifname, a->host_if, strerror(-rc));
	}
}

/* --- attach ---------------------------------------------------------------- */

static bool same_prefixes(const struct ip_prefix *a, unsigned int na,
			  const struct ip_prefix *b, unsigned int nb)
{
	if (na != nb)
		return false;
	for (unsigned int i = 0; i < na; i++)
		if (!ipaddr_same_addr(&a[i], &b[i]) || a[i].len != b[i].len)
			return false;
	return true;
}

/* What differs between an existing attachment and a request, or NULL. */
static const char *att_differs(const struct attachment *old,
			       const struct attachment *a, bool has_mac,
			       bool has_filters)
{
	for (int d = 0; has_filters && d < 2; d++)
		if ((old->chains[d] == NULL) != (a->chains[d] == NULL) ||
		    (old->chains[d] && !json_equal(old->chains[d], a->chains[d])))
			return "filters";
	if (strcmp(old->netns, a->netns) != 0)
		return "netns";
	if (strcmp(old->network, a->network) != 0)
		return "network";
	if (strcmp(old->mode, a->mode) != 0)
		return "mode";
	if (old->mtu != a->mtu)
		return "mtu";
	if (!same_prefixes(old->ips, old->n_ips, a->ips, a->n_ips))
		return "ips";
	if (!same_prefixes(old->memif_ips, old->n_memif_ips, a->memif_ips,
			   a->n_memif_ips))
		return "memif_ips";
	if (has_mac && memcmp(old->mac, a->mac, 6) != 0)
		return "mac";
	return NULL;
}

/* Check ips against the network and the other attachments. */
static int ips_validate(struct agent *ag, const struct network *net,
			const struct attachment *self, const char *field,
			const struct ip_prefix *ips, unsigned int n,
			struct jsonl_error *e)
{
	char buf[IPADDR_STRLEN];
	unsigned int fam[2] = { 0, 0 };

	for (unsigned int i = 0; i < n; i++) {
		const struct ip_prefix *p = &ips[i];
		bool in = net->n_prefixes == 0;

		ipaddr_format(p, false, buf, sizeof(buf));
		if (++fam[p->family == AF_INET6] > STATE_MAX_FAMILY_IPS) {
			jsonl_fail(e, AGENT_E_PARAMS, "'%s': at most %d addresses of "
				   "each family", field, STATE_MAX_FAMILY_IPS);
			return -EINVAL;
		}
		for (unsigned int k = 0; k < net->n_prefixes && !in; k++)
			in = ipaddr_contains(&net->prefixes[k], p);
		if (!in) {
			jsonl_fail(e, AGENT_E_PARAMS, "'%s[%u]': %s is outside network "
				   "'%s''s prefixes", field, i, buf, net->name);
			return -EINVAL;
		}
		for (unsigned int k = 0; k < i; k++)
			if (ipaddr_same_addr(&ips[k], p)) {
				jsonl_fail(e, AGENT_E_PARAMS, "'%s[%u]': %s is listed "
					   "twice", field, i, buf);
				return -EINVAL;
			}
		for (unsigned int k = 0; k < ag->st.n_atts; k++) {
			const struct attachment *o = ag->st.atts[k];

			if (o == self)
				continue;
			for (unsigned int j = 0; j < o->n_ips + o->n_memif_ips; j++) {
				const struct ip_prefix *q = j < o->n_ips ? &o->ips[j]
					: &o->memif_ips[j - o->n_ips];

				if (ipaddr_same_addr(q, p)) {
					jsonl_fail(e, AGENT_E_EXISTS, "'%s[%u]': %s is "
						   "in use by %s/%s", field, i, buf,
						   o->container_id, o->ifname);
					return -EEXIST;
				}
			}
		}
	}
	return 0;
}

/* Fill defaults and check the request against the state. */
static int att_prepare(struct agent *ag, struct attachment *a,
		       const struct attachment *old, bool has_mac,
		       struct jsonl_error *e)
{
	const struct network *net = state_network_find(&ag->st, a->network);
	bool v6;
	int rc;

	if (net == NULL) {
		jsonl_fail(e, AGENT_E_NOT_FOUND, "'network': no network named '%s'",
			   a->network);
		return -ENOENT;
	}
	if (a->mode[0] == '\0')
		snprintf(a->mode, sizeof(a->mode), "%s", net->mode);
	else if (!network_mode_ok(a->mode)) {
		jsonl_fail(e, AGENT_E_PARAMS, "'mode': '%s' is not veth, memif or "
			   "veth+memif", a->mode);
		return -EINVAL;
	}
	if (a->mtu == 0)
		a->mtu = net->mtu;
	if (a->n_ips == 0) {
		jsonl_fail(e, AGENT_E_PARAMS, "'ips' must list at least one address");
		return -EINVAL;
	}
	if (strcmp(a->mode, AGENT_MODE_VETH_MEMIF) == 0 && a->n_memif_ips == 0) {
		/* The data plane routes an address to one port, and a memif
		 * app is its own IP stack: it needs addresses of its own. */
		jsonl_fail(e, AGENT_E_PARAMS, "'memif_ips' is required for mode "
			   "veth+memif (the memif app's own addresses)");
		return -EINVAL;
	}
	if (strcmp(a->mode, AGENT_MODE_VETH_MEMIF) != 0 && a->n_memif_ips) {
		jsonl_fail(e, AGENT_E_PARAMS, "'memif_ips' applies to mode "
			   "veth+memif only");
		return -EINVAL;
	}
	rc = ips_validate(ag, net, old, "ips", a->ips, a->n_ips, e);
	if (rc == 0)
		rc = ips_validate(ag, net, old, "memif_ips", a->memif_ips,
				  a->n_memif_ips, e);
	if (rc < 0)
		return rc;
	for (unsigned int i = 0; i < a->n_ips; i++)
		for (unsigned int k = 0; k < a->n_memif_ips; k++)
			if (ipaddr_same_addr(&a->ips[i], &a->memif_ips[k])) {
				jsonl_fail(e, AGENT_E_PARAMS, "'memif_ips[%u]' repeats "
					   "an address of 'ips'", k);
				return -EINVAL;
			}
	v6 = false;
	for (unsigned int i = 0; i < a->n_ips; i++)
		v6 |= a->ips[i].family == AF_INET6;
	if (mode_has_veth(a->mode) && v6 && a->mtu < 1280) {
		jsonl_fail(e, AGENT_E_PARAMS, "'mtu' %u is below IPv6's minimum "
			   "(1280)", a->mtu);
		return -EINVAL;
	}
	if (!has_mac)
		mac_derive(a->ips, a->n_ips, a->mac);
	if (a->n_memif_ips)
		mac_derive(a->memif_ips, a->n_memif_ips, a->memif_mac);
	return 0;
}

static int att_fail(struct agent *ag, struct attachment *a, unsigned int done,
		    struct jsonl_error *e, int code, int rc, const char *step,
		    const char *detail)
{
	char err[256];

	att_undo(ag, a, done);
	jsonl_fail(e, code, "attach %s/%s: step '%s' failed: %s; undone",
		   a->container_id, a->ifname, step, detail);
	log_warn("%s", e->message);
	state_attachment_remove(&ag->st, a);
	/* If this save fails, the file keeps the pending entry and the next
	 * start rolls it back: the same end state. */
	if (state_save(&ag->st, err, sizeof(err)) < 0)
		log_warn("%s", err);
	return rc;
}

int attach_add(struct agent *ag, const struct attachment *req, bool has_mac,
	       bool has_filters, struct attachment **out, struct jsonl_error *e)
{
	struct attachment *old = state_attachment_find(&ag->st, req->container_id,
						      req->ifname);
	struct attachment *a;
	unsigned int done = 0;
	char msg[512];
	int nsfd = -1, rc;

	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return -ENOMEM;
	*a = *req;
	/* Borrowed from req until a is recorded (then owned by the state):
	 * every early free(a) below stays right. */
	a->chains[0] = a->chains[1] = NULL;
	rc = att_prepare(ag, a, old, has_mac, e);
	if (rc < 0) {
		free(a);
		return rc;
	}
	if (old != NULL && old->state == ATT_READY) {
		const char *what;

		a->chains[0] = req->chains[0];
		a->chains[1] = req->chains[1];
		what = att_differs(old, a, has_mac, has_filters);

		free(a);
		if (what != NULL) {
			jsonl_fail(e, AGENT_E_EXISTS, "attach %s/%s: exists with "
				   "another '%s'; detach it first", req->container_id,
				   req->ifname, what);
			return -EEXIST;
		}
		*out = old;  /* the same request again: the same answer */
		return 0;
	}
	if (old != NULL) {
		/* Left by an attach or detach whose last save failed: finish
		 * removing it before starting over. */
		att_undo(ag, old, DONE_VETH | DONE_DP_VETH | DONE_DP_MEMIF);
		state_attachment_remove(&ag->st, old);
	}
	att_names(a);
	for (unsigned int i = 0; i < ag->st.n_atts; i++)
		if (a->host_if[0] && strcmp(ag->st.atts[i]->host_if, a->host_if) == 0) {
			jsonl_fail(e, AGENT_E_EXISTS, "attach %s/%s: host interface "
				   "name %s collides with %s/%s", a->container_id,
				   a->ifname, a->host_if, ag->st.atts[i]->container_id,
				   ag->st.atts[i]->ifname);
			free(a);
			return -EEXIST;
		}
	/* The namespace is checked before anything is recorded: a bad path
	 * is the client's mistake, not a step to undo. */
	nsfd = podnet_netns_open(a->netns);
	if (nsfd < 0) {
		jsonl_fail(e, AGENT_E_PARAMS, "'netns': %.300s: %s", a->netns,
			   nsfd == -EINVAL ? "not a network namespace" :
			   strerror(-nsfd));
		free(a);
		return nsfd;
	}
	a->state = ATT_PENDING;
	rc = state_attachment_add(&ag->st, a);
	if (rc < 0) {
		close(nsfd);
		free(a);
		jsonl_fail(e, AGENT_E_LIMIT, "attach: at most %d attachments",
			   STATE_MAX_ATTACHMENTS);
		return rc;
	}
	for (int d = 0; d < 2; d++)
		a->chains[d] = req->chains[d] ? json_incref(req->chains[d]) : NULL;
	/* Write-ahead: the record exists before anything it names. */
	rc = state_save(&ag->st, msg, sizeof(msg));
	if (rc < 0) {
		close(nsfd);
		state_attachment_remove(&ag->st, a);
		jsonl_fail(e, AGENT_E_STATE, "attach %s/%s: %s", req->container_id,
			   req->ifname, msg);
		return rc;
	}
	if (mode_has_veth(a->mode)) {
		rc = podnet_veth_create(a->host_if, nsfd, a->ifname, a->mac, a->mtu,
					msg, sizeof(msg));
		if (rc < 0)
			goto kernel_fail_veth;
		done |= DONE_VETH;
		rc = podnet_host_setup(a->host_if, msg, sizeof(msg));
		if (rc < 0)
			goto kernel_fail_host;
		rc = podnet_pod_setup(nsfd, a->ifname, a->ips, a->n_ips, msg,
				      sizeof(msg));
		if (rc < 0)
			goto kernel_fail_pod;
	}
	close(nsfd);
	nsfd = -1;
	if (mode_has_veth(a->mode)) {
		rc = dp_port_add(ag, a, false, msg, sizeof(msg));
		if (rc < 0)
			return att_fail(ag, a, done, e, AGENT_E_DATAPLANE, rc,
					"data plane port (veth)", msg);
		if (rc == 0)
			done |= DONE_DP_VETH;
	}
	if (mode_has_memif(a->mode)) {
		rc = dp_port_add(ag, a, true, msg, sizeof(msg));
		if (rc < 0)
			return att_fail(ag, a, done, e, AGENT_E_DATAPLANE, rc,
					"data plane port (memif)", msg);
		if (rc == 0)
			done |= DONE_DP_MEMIF;
	}
	/* The chains go on before the answer: a runtime starts the pod's
	 * workload after ADD answers, so it never runs without its policy
	 * (the port exists a few ms before its chain, with nothing behind
	 * it yet). A data plane away gets them from the reconciliation,
	 * after the ports. */
	for (int k = 0; k < 2; k++) {
		const char *port = k == 0 ? a->veth_port : a->memif_port;

		if (!(done & (k == 0 ? DONE_DP_VETH : DONE_DP_MEMIF)))
			continue;
		rc = filter_port_apply(ag, a, port, false, msg, sizeof(msg));
		if (rc == -ENOTCONN || rc == -EPIPE || rc == -ETIMEDOUT)
			continue;
		if (rc < 0)
			return att_fail(ag, a, done, e, rc == -EREMOTEIO ?
					AGENT_E_PARAMS : AGENT_E_DATAPLANE, rc,
					"filters", msg);
	}
	a->state = ATT_READY;
	rc = state_save(&ag->st, msg, sizeof(msg));
	if (rc < 0)
		return att_fail(ag, a, done, e, AGENT_E_STATE, rc, "save", msg);
	log_info("attached %s/%s (%s) as %s%s%s", a->container_id, a->ifname,
		 a->mode, a->host_if[0] ? a->host_if : "",
		 a->host_if[0] && a->memif_port[0] ? " + " : "",
		 a->memif_port[0] ? a->memif_socket : "");
	*out = a;
	return 0;

kernel_fail_veth:
	close(nsfd);
	return att_fail(ag, a, done, e, AGENT_E_DEVICE, rc, "veth", msg);
kernel_fail_host:
	close(nsfd);
	return att_fail(ag, a, done, e, AGENT_E_DEVICE, rc, "host interface", msg);
kernel_fail_pod:
	close(nsfd);
	return att_fail(ag, a, done, e, AGENT_E_DEVICE, rc, "pod interface", msg);
}

/* --- detach, check, recover ------------------------------------------------- */

int attach_del(struct agent *ag, const char *cid, const char *ifname,
	       struct jsonl_error *e)
{
	struct attachment *a = state_attachment_find(&ag->st, cid, ifname);
	enum att_state prev;
	char msg[512];
	int rc;

	if (a == NULL)
		return 0;  /* already gone: CNI DEL must succeed */
	prev = a->state;
	a->state = ATT_DETACHING;
	rc = state_save(&ag->st, msg, sizeof(msg));
	if (rc < 0) {
		a->state = prev;
		jsonl_fail(e, AGENT_E_STATE, "detach %s/%s: %s", cid, ifname, msg);
		return rc;
	}
	if (a->memif_port[0])
		dp_port_del(ag, a->memif_port);
	if (a->veth_port[0])
		dp_port_del(ag, a->veth_port);
	if (a->host_if[0]) {
		/* 0 also when the pod's namespace (and with it the pair) is
		 * already gone. */
		rc = podnet_link_del(a->host_if);
		if (rc < 0) {
			jsonl_fail(e, AGENT_E_DEVICE, "detach %s/%s: deleting %s: %s",
				   cid, ifname, a->host_if, strerror(-rc));
			return rc;
		}
	}
	log_info("detached %s/%s", cid, ifname);
	state_attachment_remove(&ag->st, a);
	rc = state_save(&ag->st, msg, sizeof(msg));
	if (rc < 0) {
		/* The file still says "detaching": the next start finishes it. */
		jsonl_fail(e, AGENT_E_STATE, "detach %s/%s: %s", cid, ifname, msg);
		return rc;
	}
	return 0;
}

static void note(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void note(char *buf, size_t len, const char *fmt, ...)
{
	size_t used = strlen(buf);
	va_list ap;

	if (used + 3 >= len)
		return;
	if (used) {
		strcat(buf, "; ");
		used += 2;
	}
	va_start(ap, fmt);
	vsnprintf(buf + used, len - used, fmt, ap);
	va_end(ap);
}

static void check_dp_ports(struct agent *ag, struct attachment *a, char *missing,
			   size_t len)
{
	const char *names[2] = { a->veth_port, a->memif_port };
	const char *kinds[2] = { DP_PORT_VETH, DP_PORT_MEMIF };
	json_t *r = NULL, *ports, *p;
	char msg[256];
	int code;
	size_t i;

	if (dp_client_call(ag->dp, DP_M_PORT_LIST, NULL, &r, &code, msg,
			   sizeof(msg)) < 0) {
		note(missing, len, "data plane: %s", msg);
		return;
	}
	ports = json_object_get(r, "ports");
	for (int k = 0; k < 2; k++) {
		bool found = false;

		if (names[k][0] == '\0')
			continue;
		json_array_foreach(ports, i, p)
			if (strcmp(json_string_value(json_object_get(p, "name")) ?: "",
				   names[k]) == 0 &&
			    strcmp(json_string_value(json_object_get(p, "kind")) ?: "",
				   kinds[k]) == 0)
				found = true;
		if (!found)
			note(missing, len, "data plane port %s (%s) missing%s%s",
			     names[k], kinds[k], a->dp_error[0] ? ": " : "",
			     a->dp_error);
	}
	json_decref(r);
}

int attach_check(struct agent *ag, struct attachment *a, struct jsonl_error *e)
{
	char missing[sizeof(e->message) - 80] = "";
	int nsfd, rc;

	if (a->state != ATT_READY)
		note(missing, sizeof(missing), "attachment is %s",
		     state_att_state_name(a->state));
	nsfd = podnet_netns_open(a->netns);
	if (nsfd < 0)
		note(missing, sizeof(missing), "netns %s is gone", a->netns);
	if (a->host_if[0]) {
		rc = podnet_host_exists(a->host_if);
		if (rc == 0)
			note(missing, sizeof(missing), "host interface %s missing",
			     a->host_if);
		if (nsfd >= 0) {
			/* It appends its own findings to missing. */
			rc = podnet_pod_check(nsfd, a->ifname, a->mac, a->ips,
					      a->n_ips, missing, sizeof(missing));
			if (rc < 0)
				note(missing, sizeof(missing), "pod namespace: %s",
				     strerror(-rc));
		}
	}
	if (nsfd >= 0)
		close(nsfd);
	if (!dp_client_connected(ag->dp))
		note(missing, sizeof(missing), "data plane not connected");
	else
		check_dp_ports(ag, a, missing, sizeof(missing));
	if (missing[0] == '\0')
		return 0;
	jsonl_fail(e, AGENT_E_CHECK, "check %s/%s: %s", a->container_id, a->ifname,
		   missing);
	return -ENOENT;
}

int attach_recover(struct agent *ag, char *err, size_t errlen)
{
	int n = 0, rc;

	for (unsigned int i = ag->st.n_atts; i-- > 0;) {
		struct attachment *a = ag->st.atts[i];

		if (a->state == ATT_READY)
			continue;
		log_warn("%s/%s was left %s by a crash: rolling it back%s%s",
			 a->container_id, a->ifname, state_att_state_name(a->state),
			 a->host_if[0] ? ", deleting " : "", a->host_if);
		if (a->host_if[0]) {
			rc = podnet_link_del(a->host_if);
			if (rc < 0) {
				snprintf(err, errlen, "rolling back %s/%s: deleting "
					 "%s: %s", a->container_id, a->ifname,
					 a->host_if, strerror(-rc));
				return rc;
			}
		}
		state_attachment_remove(&ag->st, a);
		n++;
	}
	if (n > 0) {
		rc = state_save(&ag->st, err, errlen);
		if (rc < 0)
			return rc;
	}
	return n;
}
