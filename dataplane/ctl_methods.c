/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Control channel methods: each parses its params into an args struct,
 * naming any bad field, and calls one mutator (port.c, route.c).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <rte_version.h>
#include <shunt/dp_api.h>
#include "jsonl_server.h"
#include "dp.h"

#define FAIL(code_, ...) do { *code = (code_); \
	snprintf(err, errlen, __VA_ARGS__); return NULL; } while (0)
/* A bad-params failure: keep the field error a getter wrote, else say msg. */
#define FAIL_PARAM(msg) do { *code = DP_E_PARAMS; \
	if (!err[0]) { snprintf(err, errlen, "%s", msg); } return NULL; } while (0)

static int errno_code(int rc)
{
	switch (-rc) {
	case EEXIST: case EADDRINUSE: return DP_E_EXISTS;
	case ENOENT: return DP_E_NOT_FOUND;
	case ENOSPC: return DP_E_LIMIT;
	case EINVAL: return DP_E_PARAMS;
	case EPERM: return DP_E_PERM;
	default: return DP_E_DEVICE;
	}
}

/* Optional string field into buf; -1 with err if ill-typed or too long,
 * 0 if absent, 1 if set. */
static int get_str(json_t *params, const char *key, char *buf, size_t len,
		   char *err, size_t errlen)
{
	json_t *v = json_object_get(params, key);

	if (v == NULL)
		return 0;
	if (!json_is_string(v)) {
		snprintf(err, errlen, "'%s' must be a string", key);
		return -1;
	}
	if (json_string_length(v) >= len || strlen(json_string_value(v)) !=
	    json_string_length(v)) {
		snprintf(err, errlen, "'%s' must be a string of at most %zu bytes",
			 key, len - 1);
		return -1;
	}
	strcpy(buf, json_string_value(v));
	return 1;
}

static int get_uint(json_t *params, const char *key, json_int_t min,
		    json_int_t max, uint32_t *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(params, key);

	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max) {
		snprintf(err, errlen, "'%s' must be an integer from %lld to %lld",
			 key, (long long)min, (long long)max);
		return -1;
	}
	*out = (uint32_t)json_integer_value(v);
	return 1;
}

static int get_mac(json_t *o, const char *key, struct rte_ether_addr *mac,
		   char *err, size_t errlen)
{
	char buf[32];
	int rc = get_str(o, key, buf, sizeof(buf), err, errlen);

	if (rc <= 0)
		return rc;
	if (rte_ether_unformat_addr(buf, mac) < 0 ||
	    rte_is_zero_ether_addr(mac) || rte_is_multicast_ether_addr(mac)) {
		snprintf(err, errlen, "'%s': '%s' is not a unicast MAC address",
			 key, buf);
		return -1;
	}
	return 1;
}

static bool name_ok(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' &&
		    *s != '.')
			return false;
	return true;
}

/* A non-empty array of IPv4/IPv6 addresses into id. */
static int parse_ips(json_t *ips, const char *field, struct pod_identity *id,
		     char *err, size_t errlen)
{
	json_t *v;
	size_t i;

	if (!json_is_array(ips) || json_array_size(ips) == 0) {
		snprintf(err, errlen, "'%s' must be a non-empty array of addresses",
			 field);
		return -1;
	}
	json_array_foreach(ips, i, v) {
		const char *s = json_string_value(v);

		if (s != NULL && strchr(s, ':') == NULL && id->n4 < POD_MAX_ADDRS &&
		    inet_pton(AF_INET, s, &id->ip4[id->n4]) == 1) {
			id->n4++;
		} else if (s != NULL && id->n6 < POD_MAX_ADDRS &&
			   inet_pton(AF_INET6, s, id->ip6[id->n6]) == 1) {
			id->n6++;
		} else {
			snprintf(err, errlen,
				 "'%s[%zu]' must be an IPv4 or IPv6 address "
				 "(at most %d of each)", field, i, POD_MAX_ADDRS);
			return -1;
		}
	}
	return 0;
}

static int parse_pod(json_t *pod, struct pod_identity *id, char *err,
		     size_t errlen)
{
	if (!json_is_object(pod)) {
		snprintf(err, errlen, "'pod' must be an object {mac, ips}");
		return -1;
	}
	if (get_mac(pod, "mac", &id->mac, err, errlen) != 1) {
		if (!err[0])
			snprintf(err, errlen, "'pod.mac' is required");
		return -1;
	}
	return parse_ips(json_object_get(pod, "ips"), "pod.ips", id, err, errlen);
}

static json_t *m_port_add(json_t *params, int *code, char *err, size_t errlen)
{
	struct port_args a = { 0 };
	json_t *pod = json_object_get(params, "pod");
	struct port *p;
	uint32_t u;
	int rc;

	*code = DP_E_PARAMS;
	if (get_str(params, "name", a.name, sizeof(a.name), err, errlen) != 1 ||
	    !name_ok(a.name))
		FAIL_PARAM("'name' is required: letters, digits, '-', '_', '.'");
	if (get_str(params, "kind", a.kind, sizeof(a.kind), err, errlen) != 1)
		FAIL_PARAM("'kind' is required: memif, veth, eth or ib");
	if (strcmp(a.kind, DP_PORT_IB) == 0) {
		if (pod != NULL || json_object_get(params, "ips") != NULL)
			FAIL(DP_E_PARAMS, "'pod' and 'ips' do not apply to an ib uplink "
			     "(it answers no ARP/ND: peers are named by GID and QPN)");
		if (get_str(params, "devargs", a.devargs, sizeof(a.devargs), err,
			    errlen) != 1)
			FAIL_PARAM("'devargs' is required for an ib port: "
				   "DEVICE:PORT[,gid_index=N][,pkey=P][,qkey=Q]");
	} else if (strcmp(a.kind, DP_PORT_ETH) == 0) {
		if (pod != NULL)
			FAIL(DP_E_PARAMS, "'pod' does not apply to an eth uplink");
		if (get_str(params, "devargs", a.devargs, sizeof(a.devargs), err,
			    errlen) != 1)
			FAIL_PARAM("'devargs' is required for an eth port");
		if (json_object_get(params, "ips") != NULL &&
		    parse_ips(json_object_get(params, "ips"), "ips", &a.local,
			      err, errlen) < 0)
			return NULL;  /* *code is DP_E_PARAMS, err names the field */
	} else if (strcmp(a.kind, DP_PORT_MEMIF) == 0 ||
		   strcmp(a.kind, DP_PORT_VETH) == 0) {
		if (pod == NULL)
			FAIL(DP_E_PARAMS, "'pod' {mac, ips} is required for a %s port",
			     a.kind);
		if (parse_pod(pod, &a.id, err, errlen) < 0)
			return NULL;
		a.pod = true;
	} else {
		FAIL(DP_E_PARAMS, "'kind' '%s': expected memif, veth, eth or ib", a.kind);
	}
	if (strcmp(a.kind, DP_PORT_MEMIF) == 0) {
		if (get_str(params, "socket", a.socket, sizeof(a.socket), err,
			    errlen) != 1)
			FAIL_PARAM("'socket' (abstract socket name) is required for memif");
		if (get_str(params, "netns", a.netns, sizeof(a.netns), err, errlen) < 0 ||
		    get_str(params, "secret", a.secret, sizeof(a.secret), err, errlen) < 0 ||
		    get_uint(params, "id", 0, UINT32_MAX, &a.memif_id, err, errlen) < 0 ||
		    get_mac(params, "mac", &a.mac, err, errlen) < 0)
			return NULL;
		a.has_mac = json_object_get(params, "mac") != NULL;
		u = 1;
		if (get_uint(params, "queues", 1, DP_MAX_QUEUES, &u, err, errlen) < 0)
			return NULL;
		a.queues = (uint16_t)u;
	}
	if (strcmp(a.kind, DP_PORT_VETH) == 0) {
		if (get_str(params, "ifname", a.ifname, sizeof(a.ifname), err,
			    errlen) != 1)
			FAIL_PARAM("'ifname' (host end of the veth) is required for veth");
		if (get_str(params, "mode", a.veth_mode, sizeof(a.veth_mode), err,
			    errlen) < 0)
			return NULL;
	}
	rc = port_add(&a, &p, err, errlen);
	if (rc < 0) {
		*code = errno_code(rc);
		return NULL;
	}
	json_t *o = json_object();
	port_to_json(p, o);
	return o;
}

static json_t *m_port_del(json_t *params, int *code, char *err, size_t errlen)
{
	char name[DP_NAME_LEN];

	if (get_str(params, "name", name, sizeof(name), err, errlen) != 1)
		FAIL_PARAM("'name' is required");
	if (port_del(name) < 0)
		FAIL(DP_E_NOT_FOUND, "no port named '%s'", name);
	return json_object();
}

static json_t *m_port_list(json_t *params, int *code, char *err, size_t errlen)
{
	json_t *a = json_array();

	(void)params; (void)code; (void)err; (void)errlen;
	for (int i = 0; i < DP_MAX_PORTS; i++)
		if (dp.ports[i] != NULL) {
			json_t *o = json_object();

			port_to_json(dp.ports[i], o);
			json_array_append_new(a, o);
		}
	return json_pack("{s:o}", "ports", a);
}

static json_t *m_route_add(json_t *params, int *code, char *err, size_t errlen)
{
	char prefix[64], port[DP_NAME_LEN], via[INET6_ADDRSTRLEN], peer[64];
	struct rte_ether_addr mac;
	int has_mac, has_via, has_peer, rc;
	struct port *p;

	if (get_str(params, "prefix", prefix, sizeof(prefix), err, errlen) != 1)
		FAIL_PARAM("'prefix' is required");
	if (get_str(params, "port", port, sizeof(port), err, errlen) != 1)
		FAIL_PARAM("'port' is required");
	has_mac = get_mac(params, "mac", &mac, err, errlen);
	if (has_mac < 0) {
		*code = DP_E_PARAMS;
		return NULL;
	}
	has_via = get_str(params, "via", via, sizeof(via), err, errlen);
	has_peer = get_str(params, "peer", peer, sizeof(peer), err, errlen);
	if (has_via < 0 || has_peer < 0) {
		*code = DP_E_PARAMS;
		return NULL;
	}
	/* An ib uplink's next hop is a peer (its address handle). */
	p = port_find(port);
	if (p != NULL && p->ops == &port_ib_ops) {
		if (has_mac || has_via || !has_peer)
			FAIL(DP_E_PARAMS, "route %s via ib uplink '%s' names a 'peer' "
			     "(peer.add), not a mac or via", prefix, port);
		rc = port_ib_peer_nexthop(p, peer, &mac, err, errlen);
		if (rc < 0) {
			*code = errno_code(rc);
			return NULL;
		}
		has_mac = 1;
	} else if (has_peer) {
		FAIL(DP_E_PARAMS, "'peer' applies to routes via an ib uplink");
	}
	rc = route_add(prefix, port, has_mac ? &mac : NULL, has_via ? via : NULL,
		       false, err, errlen);
	if (rc < 0) {
		*code = errno_code(rc);
		return NULL;
	}
	return json_object();
}

static struct port *ib_port_param(json_t *params, int *code, char *err,
				  size_t errlen)
{
	char name[DP_NAME_LEN];
	struct port *p;

	*code = DP_E_PARAMS;
	if (get_str(params, "port", name, sizeof(name), err, errlen) != 1) {
		if (!err[0])
			snprintf(err, errlen, "'port' (an ib uplink) is required");
		return NULL;
	}
	p = port_find(name);
	if (p == NULL) {
		*code = DP_E_NOT_FOUND;
		snprintf(err, errlen, "no port named '%s'", name);
		return NULL;
	}
	if (p->ops != &port_ib_ops) {
		snprintf(err, errlen, "port '%s' is a %s port, not an ib uplink",
			 name, p->args.kind);
		return NULL;
	}
	return p;
}

static json_t *m_peer_add(json_t *params, int *code, char *err, size_t errlen)
{
	struct ib_peer_args a = { 0 };
	struct port *p = ib_port_param(params, code, err, errlen);
	char gid[INET6_ADDRSTRLEN];
	uint32_t pkey = 0;
	int rc;

	if (p == NULL)
		return NULL;
	if (get_str(params, "name", a.name, sizeof(a.name), err, errlen) != 1 ||
	    !name_ok(a.name))
		FAIL_PARAM("'name' is required: letters, digits, '-', '_', '.'");
	if (get_str(params, "gid", gid, sizeof(gid), err, errlen) != 1 ||
	    inet_pton(AF_INET6, gid, a.gid) != 1)
		FAIL_PARAM("'gid' is required: 16 bytes in IPv6 form "
			   "(e.g. ::ffff:10.0.0.2 or fe80::...)");
	if (get_uint(params, "qpn", 2, 0xffffff, &a.qpn, err, errlen) != 1)
		FAIL_PARAM("'qpn' is required: 2 to 16777215");
	if (get_uint(params, "qkey", 0, UINT32_MAX, &a.qkey, err, errlen) != 1)
		FAIL_PARAM("'qkey' is required: 32 bits");
	if (get_uint(params, "pkey", 1, 0xffff, &pkey, err, errlen) != 1 ||
	    (pkey & 0x7fff) == 0)
		FAIL_PARAM("'pkey' is required: 16 bits, not 0x0000 or 0x8000");
	a.pkey = (uint16_t)pkey;
	rc = port_ib_peer_add(p, &a, err, errlen);
	if (rc < 0) {
		*code = rc == -EHOSTUNREACH ? DP_E_DEVICE : errno_code(rc);
		return NULL;
	}
	return json_object();
}

static json_t *m_peer_del(json_t *params, int *code, char *err, size_t errlen)
{
	struct port *p = ib_port_param(params, code, err, errlen);
	char name[64];
	int rc;

	if (p == NULL)
		return NULL;
	if (get_str(params, "name", name, sizeof(name), err, errlen) != 1)
		FAIL_PARAM("'name' is required");
	rc = port_ib_peer_del(p, name, err, errlen);
	if (rc < 0) {
		*code = errno_code(rc);
		return NULL;
	}
	return json_object();
}

static json_t *m_peer_list(json_t *params, int *code, char *err, size_t errlen)
{
	json_t *a = json_array();

	(void)params; (void)code; (void)err; (void)errlen;
	for (int i = 0; i < DP_MAX_PORTS; i++) {
		struct port *p = dp.ports[i];
		json_t *ps, *v;
		size_t k;

		if (p == NULL || p->ops != &port_ib_ops)
			continue;
		ps = port_ib_peer_list(p);
		json_array_foreach(ps, k, v) {
			json_object_set_new(v, "port", json_string(p->args.name));
			json_array_append(a, v);
		}
		json_decref(ps);
	}
	return json_pack("{s:o}", "peers", a);
}

static json_t *m_route_del(json_t *params, int *code, char *err, size_t errlen)
{
	char prefix[64];
	int rc;

	if (get_str(params, "prefix", prefix, sizeof(prefix), err, errlen) != 1)
		FAIL_PARAM("'prefix' is required");
	rc = route_del(prefix, err, errlen);
	if (rc < 0) {
		*code = errno_code(rc);
		return NULL;
	}
	return json_object();
}

static json_t *m_route_list(json_t *params, int *code, char *err, size_t errlen)
{
	(void)params; (void)code; (void)err; (void)errlen;
	return json_pack("{s:o}", "routes", route_list());
}

static json_t *m_neigh_list(json_t *params, int *code, char *err, size_t errlen)
{
	(void)params; (void)code; (void)err; (void)errlen;
	return json_pack("{s:o}", "neighbours", neigh_list());
}

static json_t *port_stats(struct port *p)
{
	struct port_counters c;
	json_t *drops = json_object();
	uint64_t total = 0;

	port_counters_sum(p, &c);
	for (int r = 0; r < DROP_MAX; r++) {
		uint64_t v = c.drops[r] - p->base.drops[r];

		json_object_set_new(drops, drop_reason_names[r], json_integer((json_int_t)v));
		total += v;
	}
	return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:o}",
		"name", p->args.name,
		"rx_pkts", (json_int_t)(c.rx_pkts - p->base.rx_pkts),
		"rx_bytes", (json_int_t)(c.rx_bytes - p->base.rx_bytes),
		"tx_pkts", (json_int_t)(c.tx_pkts - p->base.tx_pkts),
		"tx_bytes", (json_int_t)(c.tx_bytes - p->base.tx_bytes),
		"neigh_replies", (json_int_t)(c.neigh_replies - p->base.neigh_replies),
		"dropped", (json_int_t)total,
		"drops", drops);
}

static json_t *m_stats(json_t *params, int *code, char *err, size_t errlen)
{
	char name[DP_NAME_LEN];
	json_t *a = json_array(), *ws;
	int has = get_str(params, "port", name, sizeof(name), err, errlen);

	if (has < 0) {
		json_decref(a);
		*code = DP_E_PARAMS;
		return NULL;
	}
	if (has && port_find(name) == NULL) {
		json_decref(a);
		FAIL(DP_E_NOT_FOUND, "no port named '%s'", name);
	}
	ws = json_array();
	for (int i = 0; i < DP_MAX_PORTS; i++)
		if (dp.ports[i] != NULL &&
		    (!has || strcmp(dp.ports[i]->args.name, name) == 0))
			json_array_append_new(a, port_stats(dp.ports[i]));
	for (unsigned int w = 0; w < dp.n_workers; w++)
		json_array_append_new(ws, json_pack("{s:i, s:I, s:I, s:I, s:I}",
			"worker", (int)w, "rounds", (json_int_t)__atomic_load_n(
				&dp.wcnt[w].rounds, __ATOMIC_RELAXED),
			"busy_rounds", (json_int_t)__atomic_load_n(
				&dp.wcnt[w].busy_rounds, __ATOMIC_RELAXED),
			"busy_tsc", (json_int_t)__atomic_load_n(
				&dp.wcnt[w].busy_tsc, __ATOMIC_RELAXED),
			"tsc_hz", (json_int_t)rte_get_tsc_hz()));
	return json_pack("{s:o, s:o, s:o}", "ports", a, "workers", ws,
			 "filter_cache", filter_cache_json());
}

static json_t *m_config_get(json_t *params, int *code, char *err, size_t errlen)
{
	json_t *lcores = json_array(), *poll = json_object();

	(void)params; (void)code; (void)err; (void)errlen;
	for (unsigned int w = 0; w < dp.n_workers; w++)
		json_array_append_new(lcores, json_integer(dp.worker_lcore[w]));
	for (int i = 0; i < DP_MAX_PORTS; i++)
		if (dp.ports[i] != NULL)
			json_object_set_new(poll, dp.ports[i]->args.name,
				json_integer(dp.worker_lcore[dp.ports[i]->worker]));
	return json_pack("{s:i, s:i, s:i, s:i, s:o, s:o}",
		DP_CFG_BURST, dp.cfg.burst, DP_CFG_RX_RING, dp.cfg.rx_ring,
		DP_CFG_TX_RING, dp.cfg.tx_ring, DP_CFG_IDLE_SLEEP_US,
		dp.cfg.idle_sleep_us, "worker_lcores", lcores, DP_CFG_POLL, poll);
}

static int lcore_worker(uint32_t lcore)
{
	for (unsigned int w = 0; w < dp.n_workers; w++)
		if (dp.worker_lcore[w] == lcore)
			return (int)w;
	return -1;
}

static json_t *m_config_set(json_t *params, int *code, char *err, size_t errlen)
{
	static const char *const known[] = { DP_CFG_BURST, DP_CFG_RX_RING,
		DP_CFG_TX_RING, DP_CFG_IDLE_SLEEP_US, DP_CFG_POLL };
	struct dp_config c = dp.cfg;
	json_t *poll = json_object_get(params, DP_CFG_POLL), *v;
	const char *key;

	*code = DP_E_PARAMS;
	json_object_foreach(params, key, v) {
		size_t i;

		for (i = 0; i < RTE_DIM(known) && strcmp(key, known[i]); i++)
			;
		if (i == RTE_DIM(known))
			FAIL(DP_E_PARAMS, "unknown config key '%s'", key);
	}
	/* Validate everything before changing anything. */
	if (get_uint(params, DP_CFG_BURST, 1, DP_MAX_BURST, &c.burst, err, errlen) < 0 ||
	    get_uint(params, DP_CFG_RX_RING, 64, 16384, &c.rx_ring, err, errlen) < 0 ||
	    get_uint(params, DP_CFG_TX_RING, 64, 16384, &c.tx_ring, err, errlen) < 0 ||
	    get_uint(params, DP_CFG_IDLE_SLEEP_US, 0, 100000, &c.idle_sleep_us,
		     err, errlen) < 0)
		return NULL;
	if (poll != NULL) {
		if (!json_is_object(poll))
			FAIL(DP_E_PARAMS, "'poll' must be an object {port: lcore}");
		json_object_foreach(poll, key, v) {
			if (port_find(key) == NULL)
				FAIL(DP_E_NOT_FOUND, "'poll': no port named '%s'", key);
			if (!json_is_integer(v) || json_integer_value(v) < 0 ||
			    json_integer_value(v) > UINT32_MAX ||
			    lcore_worker((uint32_t)json_integer_value(v)) < 0)
				FAIL(DP_E_PARAMS, "'poll.%s': not a worker lcore", key);
		}
	}
	__atomic_store_n(&dp.cfg.burst, c.burst, __ATOMIC_RELAXED);
	__atomic_store_n(&dp.cfg.idle_sleep_us, c.idle_sleep_us, __ATOMIC_RELAXED);
	dp.cfg.rx_ring = c.rx_ring;
	dp.cfg.tx_ring = c.tx_ring;
	if (poll != NULL) {
		json_object_foreach(poll, key, v)
			port_find(key)->worker =
				lcore_worker((uint32_t)json_integer_value(v));
		if (port_publish_poll() < 0)
			FAIL(DP_E_INTERNAL, "no memory for poll lists");
	}
	return m_config_get(NULL, code, err, errlen);
}

static json_t *m_version(json_t *params, int *code, char *err, size_t errlen)
{
	(void)params; (void)code; (void)err; (void)errlen;
	return json_pack("{s:s, s:i, s:s}", "version", "0.1.0",
			 "api", DP_API_VERSION, "dpdk", rte_version());
}

/*
 * jsonl_server's method signature, around this file's (params, code, err):
 * the methods here and in filter_ctl.c keep one simple shape.
 */
#define METHOD(fn)							\
static json_t *fn##_j(void *ctx, json_t *params,			\
		      const struct jsonl_peer *peer, struct jsonl_error *e) \
{									\
	int code = DP_E_INTERNAL;					\
	json_t *r;							\
									\
	(void)ctx;							\
	(void)peer;							\
	e->message[0] = '\0';						\
	r = fn(params, &code, e->message, sizeof(e->message));		\
	if (r == NULL)							\
		e->code = code;						\
	return r;							\
}
METHOD(m_version) METHOD(m_port_add) METHOD(m_port_del) METHOD(m_port_list)
METHOD(m_route_add) METHOD(m_route_del) METHOD(m_route_list)
METHOD(m_neigh_list) METHOD(m_stats) METHOD(m_config_get) METHOD(m_config_set)
METHOD(filter_m_load) METHOD(filter_m_unload) METHOD(filter_m_attach)
METHOD(filter_m_detach) METHOD(filter_m_rules) METHOD(filter_m_list)
METHOD(m_peer_add) METHOD(m_peer_del) METHOD(m_peer_list)

static const struct jsonl_method methods[] = {
	{ DP_M_VERSION, 0, m_version_j },
	{ DP_M_PORT_ADD, JSONL_MUTATES, m_port_add_j },
	{ DP_M_PORT_DEL, JSONL_MUTATES, m_port_del_j },
	{ DP_M_PORT_LIST, 0, m_port_list_j },
	{ DP_M_ROUTE_ADD, JSONL_MUTATES, m_route_add_j },
	{ DP_M_ROUTE_DEL, JSONL_MUTATES, m_route_del_j },
	{ DP_M_ROUTE_LIST, 0, m_route_list_j },
	{ DP_M_NEIGH_LIST, 0, m_neigh_list_j },
	{ DP_M_STATS, 0, m_stats_j },
	{ DP_M_CONFIG_GET, 0, m_config_get_j },
	{ DP_M_CONFIG_SET, JSONL_MUTATES, m_config_set_j },
	{ DP_M_FILTER_LOAD, JSONL_MUTATES, filter_m_load_j },
	{ DP_M_FILTER_UNLOAD, JSONL_MUTATES, filter_m_unload_j },
	{ DP_M_FILTER_ATTACH, JSONL_MUTATES, filter_m_attach_j },
	{ DP_M_FILTER_DETACH, JSONL_MUTATES, filter_m_detach_j },
	{ DP_M_FILTER_RULES, JSONL_MUTATES, filter_m_rules_j },
	{ DP_M_FILTER_LIST, 0, filter_m_list_j },
	{ DP_M_FILTER_STATS, 0, filter_m_list_j },
	{ DP_M_PEER_ADD, JSONL_MUTATES, m_peer_add_j },
	{ DP_M_PEER_DEL, JSONL_MUTATES, m_peer_del_j },
	{ DP_M_PEER_LIST, 0, m_peer_list_j },
};

const struct jsonl_method *ctl_methods(size_t *n)
{
	*n = RTE_DIM(methods);
	return methods;
}
