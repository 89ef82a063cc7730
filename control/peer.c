/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Uplinks and peers: the node's data plane port to the fabric (kind eth
 * or ib) and the other nodes, whose pod prefixes are routed through an
 * uplink: on eth to the peer's uplink address (route.add {prefix, port,
 * via}; the data plane resolves the address by ARP/ND), on ib to the
 * peer's UD address (the data plane's peer.add {port, name, gid, qpn,
 * qkey, pkey} makes the address handle, route.add {prefix, port, peer}).
 *
 * Order of a change, as for filters: check, data plane, save, answer. A
 * data plane refusal changes nothing; a failed save puts the data plane
 * back as it was. When the data plane is away, the change is recorded and
 * the reconciliation at its return applies it (reconcile.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <shunt/agent_api.h>
#include <shunt/dp_api.h>
#include "agent.h"
#include "log.h"

static bool overlaps(const struct ip_prefix *a, const struct ip_prefix *b)
{
	return a->family == b->family &&
	       (a->len <= b->len ? ipaddr_contains(a, b) : ipaddr_contains(b, a));
}

int peer_prefix_conflict(struct agent *ag, const struct ip_prefix *pfx,
			 const char *self, bool networks, char *msg, size_t len)
{
	char other[IPADDR_STRLEN];

	for (unsigned int i = 0; i < ag->st.n_peers; i++) {
		const struct peer *p = &ag->st.peers[i];

		if (self != NULL && strcmp(p->name, self) == 0)
			continue;
		for (unsigned int k = 0; k < p->n_prefixes; k++)
			if (overlaps(&p->prefixes[k], pfx)) {
				snprintf(msg, len, "overlaps %s of peer '%s'",
					 ipaddr_format(&p->prefixes[k], true, other,
						       sizeof(other)), p->name);
				return -EEXIST;
			}
	}
	for (unsigned int i = 0; networks && i < ag->st.n_nets; i++) {
		const struct network *n = ag->st.nets[i];

		for (unsigned int k = 0; k < n->n_prefixes; k++)
			if (overlaps(&n->prefixes[k], pfx)) {
				snprintf(msg, len, "overlaps %s of this node's "
					 "network '%s'", ipaddr_format(&n->prefixes[k],
					 true, other, sizeof(other)), n->name);
				return -EEXIST;
			}
	}
	return 0;
}

json_t *uplink_port_params(const struct uplink *u)
{
	json_t *ips = json_array();
	char buf[IPADDR_STRLEN];

	if (state_uplink_is_ib(u)) {
		char devargs[STATE_DEVARGS_LEN + STATE_MAX_PREFIXES * (IPADDR_STRLEN + 5)];
		size_t n = (size_t)snprintf(devargs, sizeof(devargs), "%s", u->devargs);

		/* The data plane keeps other addresses out of the partition. */
		for (unsigned int i = 0; i < u->n_nets && n < sizeof(devargs); i++)
			n += (size_t)snprintf(devargs + n, sizeof(devargs) - n, ",net=%s",
				ipaddr_format(&u->nets[i], true, buf, sizeof(buf)));
		json_decref(ips);
		return json_pack("{s:s, s:s, s:s}", "name", u->name, "kind",
				 DP_PORT_IB, "devargs", devargs);
	}

	for (unsigned int i = 0; i < u->n_ips; i++)
		json_array_append_new(ips, json_string(ipaddr_format(&u->ips[i], false,
						       buf, sizeof(buf))));
	return json_pack("{s:s, s:s, s:s, s:o}", "name", u->name, "kind", DP_PORT_ETH,
			 "devargs", u->devargs, "ips", ips);
}

/* The peer's uplink is of kind ib (its routes name the peer). */
static bool peer_on_ib(struct agent *ag, const struct peer *p)
{
	const struct uplink *u = state_uplink_find(&ag->st, p->uplink);

	return u != NULL && state_uplink_is_ib(u);
}

bool peer_route_matches(const struct peer *p, json_t *rt)
{
	json_t *port = json_object_get(rt, "port"), *via = json_object_get(rt, "via"),
	       *peer = json_object_get(rt, "peer");
	char addr[IPADDR_STRLEN];

	if (!json_is_string(port) || strcmp(json_string_value(port), p->uplink) != 0)
		return false;
	if (p->address.family == 0)  /* ib */
		return json_is_string(peer) &&
		       strcmp(json_string_value(peer), p->name) == 0;
	ipaddr_format(&p->address, false, addr, sizeof(addr));
	return json_is_string(via) && strcmp(json_string_value(via), addr) == 0;
}

json_t *peer_route_params(const struct peer *p, const struct ip_prefix *pfx)
{
	char a[IPADDR_STRLEN], b[IPADDR_STRLEN];

	if (p->address.family == 0)
		return json_pack("{s:s, s:s, s:s}", "prefix",
				 ipaddr_format(pfx, true, a, sizeof(a)), "port",
				 p->uplink, "peer", p->name);

	return json_pack("{s:s, s:s, s:s}", "prefix",
			 ipaddr_format(pfx, true, a, sizeof(a)), "port", p->uplink,
			 "via", ipaddr_format(&p->address, false, b, sizeof(b)));
}

static json_t *peer_dp_params(const struct peer *p)
{
	char gid[INET6_ADDRSTRLEN];

	return json_pack("{s:s, s:s, s:s, s:I, s:I, s:i}", "port", p->uplink,
		"name", p->name, "gid", inet_ntop(AF_INET6, p->fabric.gid, gid,
		sizeof(gid)), "qpn", (json_int_t)p->fabric.qpn,
		"qkey", (json_int_t)p->fabric.qkey, "pkey", (int)p->fabric.pkey);
}

/* The data plane's peer (address handle) of an ib peer: added, or
 * replaced when it has another address. */
static int peer_dp_push(struct agent *ag, const struct peer *p, int *code,
			char *msg, size_t len)
{
	int rc = dp_client_do(ag->dp, DP_M_PEER_ADD, peer_dp_params(p), code, msg, len);

	if (rc == -EREMOTEIO && *code == DP_E_EXISTS) {
		dp_client_do(ag->dp, DP_M_PEER_DEL, json_pack("{s:s, s:s}", "port", p->uplink,
		      "name", p->name), code, msg, len);
		rc = dp_client_do(ag->dp, DP_M_PEER_ADD, peer_dp_params(p), code, msg, len);
	}
	return rc;
}

int peer_route_push(struct agent *ag, const struct peer *p,
		    const struct ip_prefix *pfx, int *code, char *msg, size_t len)
{
	char buf[IPADDR_STRLEN];
	int rc;

	if (peer_on_ib(ag, p)) {
		rc = peer_dp_push(ag, p, code, msg, len);
		if (rc < 0)
			return rc;
	}

	rc = dp_client_do(ag->dp, DP_M_ROUTE_ADD, peer_route_params(p, pfx), code, msg, len);
	if (rc == -EREMOTEIO && *code == DP_E_EXISTS) {
		/* A route of ours left by a crash before a save, or a stale
		 * one: the state is the truth (prefixes do not overlap
		 * another peer's or a network's). */
		dp_client_do(ag->dp, DP_M_ROUTE_DEL, json_pack("{s:s}", "prefix",
		      ipaddr_format(pfx, true, buf, sizeof(buf))), code, msg, len);
		rc = dp_client_do(ag->dp, DP_M_ROUTE_ADD, peer_route_params(p, pfx), code, msg,
			   len);
	}
	return rc;
}

static void peer_routes_del(struct agent *ag, const struct peer *p, unsigned int n)
{
	char buf[IPADDR_STRLEN], msg[256];
	int code;

	for (unsigned int k = 0; k < n && k < p->n_prefixes; k++)
		dp_client_do(ag->dp, DP_M_ROUTE_DEL, json_pack("{s:s}", "prefix",
		      ipaddr_format(&p->prefixes[k], true, buf, sizeof(buf))),
		      &code, msg, sizeof(msg));
	/* All of them: the address handle goes too. */
	if (n >= p->n_prefixes && peer_on_ib(ag, p))
		dp_client_do(ag->dp, DP_M_PEER_DEL, json_pack("{s:s, s:s}", "port", p->uplink,
		      "name", p->name), &code, msg, sizeof(msg));
}

/* All of a peer's routes, or none. 0 (also when the data plane is away
 * or lacks the uplink port: reconciliation applies them) or -errno with
 * e naming the prefix. */
static int peer_routes_add(struct agent *ag, const struct peer *p,
			   struct jsonl_error *e)
{
	char msg[256], buf[IPADDR_STRLEN];
	int code, rc;

	/* ib: the data plane's peer first, so its refusal names 'fabric'. */
	if (peer_on_ib(ag, p)) {
		rc = peer_dp_push(ag, p, &code, msg, sizeof(msg));
		if (dp_client_away(rc) || (rc == -EREMOTEIO && code == DP_E_NOT_FOUND)) {
			log_info("peer %s: waits for the data plane (%s)", p->name, msg);
			return 0;
		}
		if (rc < 0) {
			jsonl_fail(e, AGENT_E_DATAPLANE, "'fabric': the data plane refused "
				   "the peer: %s", msg);
			return -EIO;
		}
	}
	for (unsigned int k = 0; k < p->n_prefixes; k++) {
		rc = peer_route_push(ag, p, &p->prefixes[k], &code, msg, sizeof(msg));
		if (rc == 0)
			continue;
		if (dp_client_away(rc) || (rc == -EREMOTEIO && code == DP_E_NOT_FOUND)) {
			log_info("peer %s: routes wait for the data plane (%s)",
				 p->name, msg);
			return 0;
		}
		peer_routes_del(ag, p, k);
		jsonl_fail(e, AGENT_E_DATAPLANE, "'prefixes[%u]': %s: the data plane "
			   "refused the %s: %s", k, ipaddr_format(&p->prefixes[k],
			   true, buf, sizeof(buf)),
			   peer_on_ib(ag, p) ? "peer or its route" : "route", msg);
		return -EIO;
	}
	return 0;
}

static bool same_peer(const struct peer *a, const struct peer *b)
{
	if (strcmp(a->uplink, b->uplink) != 0 || a->n_prefixes != b->n_prefixes ||
	    !ipaddr_same_addr(&a->address, &b->address) ||
	    a->has_fabric != b->has_fabric ||
	    (a->has_fabric && memcmp(&a->fabric, &b->fabric, sizeof(a->fabric)) != 0))
		return false;
	for (unsigned int i = 0; i < a->n_prefixes; i++)
		if (!ipaddr_same_addr(&a->prefixes[i], &b->prefixes[i]) ||
		    a->prefixes[i].len != b->prefixes[i].len)
			return false;
	return true;
}

static bool uplink_has_family(const struct uplink *u, int family)
{
	for (unsigned int i = 0; i < u->n_ips; i++)
		if (u->ips[i].family == family)
			return true;
	return false;
}

static const char *family_name(int family)
{
	return family == AF_INET ? "IPv4" : "IPv6";
}

int peer_add(struct agent *ag, const struct peer *req, struct jsonl_error *e)
{
	struct peer *old = state_peer_find(&ag->st, req->name);
	struct uplink *u = state_uplink_find(&ag->st, req->uplink);
	char msg[512], buf[IPADDR_STRLEN];
	int rc;

	if (old != NULL) {
		if (same_peer(old, req))
			return 0;
		jsonl_fail(e, AGENT_E_EXISTS, "peer '%s' exists with other parameters "
			   "(peer.del it first)", req->name);
		return -EEXIST;
	}
	if (u == NULL) {
		jsonl_fail(e, AGENT_E_NOT_FOUND, "'uplink': no uplink named '%s' "
			   "(uplink.set)", req->uplink);
		return -ENOENT;
	}
	if (state_uplink_is_ib(u)) {
		if (!req->has_fabric) {
			jsonl_fail(e, AGENT_E_PARAMS, "'fabric' {gid, qpn, qkey, pkey} is "
				   "required for a peer on ib uplink '%s'", u->name);
			return -EINVAL;
		}
		if (req->address.family != 0) {
			jsonl_fail(e, AGENT_E_PARAMS, "'address' does not apply to a peer "
				   "on ib uplink '%s' (it is reached by its fabric address)",
				   u->name);
			return -EINVAL;
		}
	} else if (req->address.family == 0) {
		jsonl_fail(e, AGENT_E_PARAMS, "'address' is required for a peer on eth "
			   "uplink '%s'", u->name);
		return -EINVAL;
	} else if (!uplink_has_family(u, req->address.family)) {
		jsonl_fail(e, AGENT_E_PARAMS, "'address': %s is %s and uplink '%s' has "
			   "no %s address to reach it from", ipaddr_format(&req->address,
			   false, buf, sizeof(buf)), family_name(req->address.family),
			   u->name, family_name(req->address.family));
		return -EINVAL;
	}
	for (unsigned int k = 0; k < req->n_prefixes; k++) {
		const struct ip_prefix *pfx = &req->prefixes[k];

		ipaddr_format(pfx, true, buf, sizeof(buf));
		/* The data plane resolves the next hop in the prefix's
		 * family; a dual-stack node is two peers (one per address). */
		if (req->address.family != 0 && pfx->family != req->address.family) {
			jsonl_fail(e, AGENT_E_PARAMS, "'prefixes[%u]': %s is %s but "
				   "'address' is %s: route %s prefixes through a peer "
				   "with an %s address", k, buf, family_name(pfx->family),
				   family_name(req->address.family),
				   family_name(pfx->family), family_name(pfx->family));
			return -EINVAL;
		}
		for (unsigned int j = 0; j < k; j++)
			if (overlaps(&req->prefixes[j], pfx)) {
				jsonl_fail(e, AGENT_E_PARAMS, "'prefixes[%u]': %s overlaps "
					   "'prefixes[%u]'", k, buf, j);
				return -EINVAL;
			}
		if (peer_prefix_conflict(ag, pfx, NULL, true, msg, sizeof(msg)) < 0) {
			jsonl_fail(e, AGENT_E_EXISTS, "'prefixes[%u]': %s %s", k, buf, msg);
			return -EEXIST;
		}
	}
	rc = peer_routes_add(ag, req, e);
	if (rc < 0)
		return rc;
	rc = state_peer_add(&ag->st, req);
	if (rc < 0) {
		peer_routes_del(ag, req, req->n_prefixes);
		jsonl_fail(e, AGENT_E_LIMIT, "at most %d peers", STATE_MAX_PEERS);
		return rc;
	}
	rc = state_save(&ag->st, msg, sizeof(msg));
	if (rc < 0) {
		state_peer_remove(&ag->st, req->name);
		peer_routes_del(ag, req, req->n_prefixes);
		jsonl_fail(e, AGENT_E_STATE, "peer.add %s: %s", req->name, msg);
		return rc;
	}
	if (req->address.family == 0)
		snprintf(buf, sizeof(buf), "its fabric address");
	else
		ipaddr_format(&req->address, false, buf, sizeof(buf));
	log_info("peer %s added: %u prefix(es) via %s on %s", req->name,
		 req->n_prefixes, buf, req->uplink);
	return 0;
}

int peer_del(struct agent *ag, const char *name, struct jsonl_error *e)
{
	struct peer *p = state_peer_find(&ag->st, name), saved;
	char msg[512];
	int rc;

	if (p == NULL) {
		jsonl_fail(e, AGENT_E_NOT_FOUND, "no peer named '%s'", name);
		return -ENOENT;
	}
	saved = *p;
	peer_routes_del(ag, &saved, saved.n_prefixes);
	state_peer_remove(&ag->st, name);
	rc = state_save(&ag->st, msg, sizeof(msg));
	if (rc < 0) {
		struct jsonl_error ignored;

		/* Not persisted: not done. */
		if (state_peer_add(&ag->st, &saved) == 0)
			peer_routes_add(ag, &saved, &ignored);
		jsonl_fail(e, AGENT_E_STATE, "peer.del %s: %s", name, msg);
		return rc;
	}
	log_info("peer %s deleted", name);
	return 0;
}

/* Add the uplink's port (taking over a port of that name: the state is
 * the truth), then the routes of its peers. */
static int uplink_push(struct agent *ag, const struct uplink *u, int *code,
		       char *msg, size_t len)
{
	int rc;

	rc = dp_client_do(ag->dp, DP_M_PORT_ADD, uplink_port_params(u), code, msg, len);
	if (rc == -EREMOTEIO && *code == DP_E_EXISTS) {
		dp_client_do(ag->dp, DP_M_PORT_DEL, json_pack("{s:s}", "name", u->name), code,
		      msg, len);
		rc = dp_client_do(ag->dp, DP_M_PORT_ADD, uplink_port_params(u), code, msg, len);
	}
	if (rc < 0)
		return rc;
	for (unsigned int i = 0; i < ag->st.n_peers; i++) {
		struct jsonl_error ignored;

		if (strcmp(ag->st.peers[i].uplink, u->name) == 0)
			peer_routes_add(ag, &ag->st.peers[i], &ignored);
	}
	return 0;
}

static bool same_uplink(const struct uplink *a, const struct uplink *b)
{
	if (strcmp(a->devargs, b->devargs) != 0 || a->n_ips != b->n_ips ||
	    state_uplink_is_ib(a) != state_uplink_is_ib(b) || a->n_nets != b->n_nets)
		return false;
	for (unsigned int i = 0; i < a->n_nets; i++)
		if (!ipaddr_same_addr(&a->nets[i], &b->nets[i]) ||
		    a->nets[i].len != b->nets[i].len)
			return false;
	for (unsigned int i = 0; i < a->n_ips; i++)
		if (!ipaddr_same_addr(&a->ips[i], &b->ips[i]))
			return false;
	return true;
}

int uplink_set(struct agent *ag, const struct uplink *req, struct jsonl_error *e)
{
	struct uplink *cur = state_uplink_find(&ag->st, req->name), old;
	bool had = cur != NULL;
	char msg[512];
	int code, rc;

	if (had && same_uplink(cur, req))
		return 0;
	if (had)
		old = *cur;
	/* Peers keep their next hop reachable. */
	for (unsigned int i = 0; i < ag->st.n_peers; i++) {
		const struct peer *p = &ag->st.peers[i];

		if (strcmp(p->uplink, req->name) == 0 &&
		    state_uplink_is_ib(req) != (p->address.family == 0)) {
			jsonl_fail(e, AGENT_E_BUSY, "'kind': peer '%s' uses uplink '%s' "
				   "as an %s uplink", p->name, req->name,
				   p->address.family == 0 ? "ib" : "eth");
			return -EBUSY;
		}
		if (strcmp(p->uplink, req->name) == 0 && p->address.family != 0 &&
		    !uplink_has_family(req, p->address.family)) {
			jsonl_fail(e, AGENT_E_BUSY, "'ips': peer '%s' is reached by %s "
				   "through uplink '%s', which would have no %s address",
				   p->name, family_name(p->address.family), req->name,
				   family_name(p->address.family));
			return -EBUSY;
		}
	}
	if (had)  /* its routes go with it */
		dp_client_do(ag->dp, DP_M_PORT_DEL, json_pack("{s:s}", "name", req->name), &code,
		      msg, sizeof(msg));
	if (had)
		*cur = *req;
	else if ((rc = state_uplink_add(&ag->st, req)) < 0) {
		jsonl_fail(e, AGENT_E_LIMIT, "at most %d uplinks", STATE_MAX_UPLINKS);
		return rc;
	}
	cur = state_uplink_find(&ag->st, req->name);
	rc = uplink_push(ag, cur, &code, msg, sizeof(msg));
	if (rc == -EREMOTEIO) {
		jsonl_fail(e, AGENT_E_DATAPLANE, "uplink %s: the data plane refused "
			   "'devargs'%s: %s", req->name,
			   state_uplink_is_ib(req) ? "" : " or 'ips'", msg);
		goto undo;
	}
	cur->dp_error[0] = '\0';
	rc = state_save(&ag->st, msg, sizeof(msg));
	if (rc < 0) {
		jsonl_fail(e, AGENT_E_STATE, "uplink.set %s: %s", req->name, msg);
		dp_client_do(ag->dp, DP_M_PORT_DEL, json_pack("{s:s}", "name", req->name), &code,
		      msg, sizeof(msg));
		goto undo;
	}
	log_info("uplink %s set: %s", req->name, req->devargs);
	return 0;
undo:
	if (had) {
		*cur = old;
		uplink_push(ag, cur, &code, msg, sizeof(msg));
	} else {
		state_uplink_remove(&ag->st, req->name);
	}
	return rc < 0 ? rc : -EIO;
}

int uplink_del(struct agent *ag, const char *name, struct jsonl_error *e)
{
	struct uplink *u = state_uplink_find(&ag->st, name), saved;
	char msg[512];
	int code, rc;

	if (u == NULL) {
		jsonl_fail(e, AGENT_E_NOT_FOUND, "no uplink named '%s'", name);
		return -ENOENT;
	}
	for (unsigned int i = 0; i < ag->st.n_peers; i++)
		if (strcmp(ag->st.peers[i].uplink, name) == 0) {
			jsonl_fail(e, AGENT_E_BUSY, "uplink '%s' is in use by peer '%s' "
				   "(and maybe others)", name, ag->st.peers[i].name);
			return -EBUSY;
		}
	saved = *u;
	/* Once out of the state, the port would be an eth port the state
	 * does not name, which reconciliation leaves alone: it goes now or
	 * the uplink stays. */
	rc = dp_client_do(ag->dp, DP_M_PORT_DEL, json_pack("{s:s}", "name", name), &code, msg,
		   sizeof(msg));
	if (dp_client_away(rc)) {
		jsonl_fail(e, AGENT_E_DATAPLANE, "uplink.del %s: %s: its port would "
			   "be left behind; try again when the data plane is back",
			   name, msg);
		return -EAGAIN;
	}
	state_uplink_remove(&ag->st, name);
	rc = state_save(&ag->st, msg, sizeof(msg));
	if (rc < 0) {
		if (state_uplink_add(&ag->st, &saved) == 0)
			uplink_push(ag, &saved, &code, msg, sizeof(msg));
		jsonl_fail(e, AGENT_E_STATE, "uplink.del %s: %s", name, msg);
		return rc;
	}
	log_info("uplink %s deleted", name);
	return 0;
}

static json_t *dp_array(struct agent *ag, const char *method, const char *key)
{
	json_t *r = NULL, *a;
	char msg[256];
	int code;

	if (dp_client_call(ag->dp, method, NULL, &r, &code, msg, sizeof(msg)) < 0)
		return NULL;
	a = json_incref(json_object_get(r, key));
	json_decref(r);
	return a;
}

static json_t *find_by(json_t *arr, const char *key, const char *val)
{
	size_t i;
	json_t *o;

	json_array_foreach(arr, i, o)
		if (json_is_string(json_object_get(o, key)) &&
		    strcmp(json_string_value(json_object_get(o, key)), val) == 0)
			return o;
	return NULL;
}

json_t *uplink_list(struct agent *ag)
{
	json_t *ports = dp_array(ag, DP_M_PORT_LIST, "ports"), *a = json_array();

	for (unsigned int i = 0; i < ag->st.n_uplinks; i++) {
		const struct uplink *u = &ag->st.uplinks[i];
		json_t *o = state_uplink_to_json(u), *p = find_by(ports, "name", u->name);
		int n = 0;

		for (unsigned int k = 0; k < ag->st.n_peers; k++)
			n += strcmp(ag->st.peers[k].uplink, u->name) == 0;
		json_object_set_new(o, "kind", json_string(state_uplink_is_ib(u) ?
				    STATE_UPLINK_IB : STATE_UPLINK_ETH));
		json_object_set_new(o, "peers", json_integer(n));
		json_object_set_new(o, "in_dataplane", json_boolean(p != NULL));
		if (p != NULL) {
			json_object_set(o, "up", json_object_get(p, "up"));
			json_object_set(o, "mac", json_object_get(p, "mac"));
			json_object_set(o, "driver", json_object_get(p, "driver"));
			/* ib: the node's own fabric address, for the others'
			 * peer.add. */
			if (json_object_get(p, "fabric") != NULL)
				json_object_set(o, "fabric", json_object_get(p, "fabric"));
		}
		json_object_set_new(o, "dp_error", json_string(u->dp_error));
		json_array_append_new(a, o);
	}
	json_decref(ports);
	return json_pack("{s:b, s:o}", "dataplane", dp_client_connected(ag->dp),
			 "uplinks", a);
}

json_t *peer_list(struct agent *ag)
{
	json_t *routes = dp_array(ag, DP_M_ROUTE_LIST, "routes");
	json_t *neighs = dp_array(ag, DP_M_NEIGH_LIST, "neighbours");
	json_t *dpeers = dp_array(ag, DP_M_PEER_LIST, "peers");
	json_t *a = json_array();

	for (unsigned int i = 0; i < ag->st.n_peers; i++) {
		const struct peer *p = &ag->st.peers[i];
		json_t *o = state_peer_to_json(p), *rs = json_array(), *n = NULL, *v;
		char addr[IPADDR_STRLEN], buf[IPADDR_STRLEN];
		size_t k;

		addr[0] = '\0';
		if (p->address.family != 0)
			ipaddr_format(&p->address, false, addr, sizeof(addr));
		for (unsigned int j = 0; j < p->n_prefixes; j++) {
			json_t *r = find_by(routes, "prefix", ipaddr_format(&p->prefixes[j],
					    true, buf, sizeof(buf)));
			/* Ours only when it goes where the state says. */
			bool mine = r != NULL && peer_route_matches(p, r);

			json_array_append_new(rs, json_pack("{s:s, s:b, s:b}", "prefix", buf,
				"in_dataplane", mine,
				"installed", mine && json_is_true(json_object_get(r, "installed"))));
		}
		/* ib: the data plane's peer (address handle made) is the
		 * neighbour. */
		if (p->address.family == 0) {
			json_array_foreach(dpeers, k, v)
				if (strcmp(json_string_value(json_object_get(v, "port")) ?: "",
					   p->uplink) == 0 &&
				    strcmp(json_string_value(json_object_get(v, "name")) ?: "",
					   p->name) == 0)
					n = v;
			json_object_set_new(o, "routes", rs);
			json_object_set_new(o, "neighbour", json_pack("{s:s, s:s}", "state",
				n != NULL ? "resolved" : dpeers != NULL ? "absent" :
				routes != NULL ? "absent" : "unknown", "mac", ""));
			json_array_append_new(a, o);
			continue;
		}
		json_array_foreach(neighs, k, v)
			if (json_is_string(json_object_get(v, "port")) &&
			    strcmp(json_string_value(json_object_get(v, "port")), p->uplink) == 0 &&
			    json_is_string(json_object_get(v, "ip")) &&
			    strcmp(json_string_value(json_object_get(v, "ip")), addr) == 0)
				n = v;
		json_object_set_new(o, "routes", rs);
		json_object_set_new(o, "neighbour", n == NULL ?
			json_pack("{s:s, s:s}", "state", routes ? "absent" : "unknown",
				  "mac", "") :
			json_pack("{s:s, s:O}", "state",
				  json_is_true(json_object_get(n, "resolved")) ?
				  "resolved" : "resolving", "mac", json_object_get(n, "mac")));
		json_array_append_new(a, o);
	}
	json_decref(routes);
	json_decref(neighs);
	json_decref(dpeers);
	return json_pack("{s:b, s:o}", "dataplane", dp_client_connected(ag->dp),
			 "peers", a);
}
