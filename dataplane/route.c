/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Routes: IPv4 and IPv6 longest-prefix match with rte_fib / rte_fib6.
 *
 * Each route owns one next-hop slot (slot i+1 for route i), so changing a
 * route never rewrites a slot a worker may be reading: a deleted route's
 * slot is reused only after dp_sync(). rte_fib has no RCU hook in 22.11;
 * its tables are preallocated, so a lookup racing a change reads either
 * the old or the new next hop, never freed memory.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <rte_errno.h>
#include <rte_fib.h>
#include <rte_fib6.h>
#include <rte_malloc.h>
#include "dp.h"
#include "log.h"

#define ROUTE_MAX (ROUTE_MAX_NH - 1)

struct route {
	bool used;
	bool owned;     /* made by port.add for a pod address */
	bool has_via;   /* next hop by address, resolved by neigh.c */
	bool installed; /* in the fib (a route via an unresolved next hop is not) */
	int family;
	uint8_t depth;
	uint8_t addr[16];
	uint8_t via[16];
	uint16_t port;
};

static struct route *routes;  /* control path, [ROUTE_MAX] */

int route_init(char *err, size_t errlen)
{
	struct rte_fib_conf c4 = {
		.type = RTE_FIB_DIR24_8,
		.default_nh = ROUTE_NH_NONE,
		.max_routes = ROUTE_MAX,
		.dir24_8 = { .nh_sz = RTE_FIB_DIR24_8_2B, .num_tbl8 = 1024 },
	};
	struct rte_fib6_conf c6 = {
		.type = RTE_FIB6_TRIE,
		.default_nh = ROUTE_NH_NONE,
		.max_routes = ROUTE_MAX,
		.trie = { .nh_sz = RTE_FIB6_TRIE_2B, .num_tbl8 = 4096 },
	};

	routes = calloc(ROUTE_MAX, sizeof(*routes));
	dp.nh = rte_zmalloc("shunt_nh", sizeof(*dp.nh) * ROUTE_MAX_NH, 0);
	if (routes == NULL || dp.nh == NULL) {
		snprintf(err, errlen, "no memory for the route table");
		return -ENOMEM;
	}
	dp.fib4 = rte_fib_create("shunt_fib4", SOCKET_ID_ANY, &c4);
	if (dp.fib4 == NULL) {
		snprintf(err, errlen, "rte_fib_create: %s", rte_strerror(rte_errno));
		return -rte_errno;
	}
	dp.fib6 = rte_fib6_create("shunt_fib6", SOCKET_ID_ANY, &c6);
	if (dp.fib6 == NULL) {
		snprintf(err, errlen, "rte_fib6_create: %s", rte_strerror(rte_errno));
		return -rte_errno;
	}
	return 0;
}

/* Parse "a.b.c.d/n" or "x::y/n"; host bits must be zero. */
static int prefix_parse(const char *s, int *family, uint8_t *addr,
			uint8_t *depth, char *err, size_t errlen)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash, *end;
	long d;
	int max;

	if (strlen(s) >= sizeof(buf))
		goto bad;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash == NULL)
		goto bad;
	*slash = '\0';
	memset(addr, 0, 16);
	if (inet_pton(AF_INET, buf, addr) == 1) {
		*family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, addr) == 1) {
		*family = AF_INET6;
		max = 128;
	} else {
		goto bad;
	}
	errno = 0;
	d = strtol(slash + 1, &end, 10);
	if (errno || end == slash + 1 || *end != '\0' || d < 0 || d > max)
		goto bad;
	*depth = (uint8_t)d;
	for (int bit = (int)d; bit < max; bit++)
		if (addr[bit / 8] & (0x80 >> (bit % 8))) {
			snprintf(err, errlen,
				 "prefix '%s': host bits set past /%ld", s, d);
			return -EINVAL;
		}
	return 0;
bad:
	snprintf(err, errlen, "prefix '%s' is not ADDRESS/LENGTH", s);
	return -EINVAL;
}

static struct route *route_find(int family, const uint8_t *addr, uint8_t depth)
{
	for (int i = 0; i < ROUTE_MAX; i++)
		if (routes[i].used && routes[i].family == family &&
		    routes[i].depth == depth &&
		    memcmp(routes[i].addr, addr, 16) == 0)
			return &routes[i];
	return NULL;
}

static int fib_apply(const struct route *r, uint16_t nh, bool add)
{
	uint32_t a4;

	if (r->family == AF_INET) {
		memcpy(&a4, r->addr, 4);
		return add ? rte_fib_add(dp.fib4, ntohl(a4), r->depth, nh)
			   : rte_fib_delete(dp.fib4, ntohl(a4), r->depth);
	}
	return add ? rte_fib6_add(dp.fib6, r->addr, r->depth, nh)
		   : rte_fib6_delete(dp.fib6, r->addr, r->depth);
}

/* A next hop given by address: it must be of the prefix's family and the
 * uplink must have an address of that family to ask from. */
static int via_parse(struct route *r, const struct port *p, const char *via,
		     char *err, size_t errlen)
{
	if (inet_pton(r->family, via, r->via) != 1) {
		snprintf(err, errlen, "via '%s' is not an %s address", via,
			 r->family == AF_INET ? "IPv4" : "IPv6");
		return -EINVAL;
	}
	if (p->pod != NULL) {
		snprintf(err, errlen, "via applies to uplinks; '%s' is a pod port",
			 p->args.name);
		return -EINVAL;
	}
	if ((r->family == AF_INET ? p->args.local.n4 : p->args.local.n6) == 0) {
		snprintf(err, errlen, "uplink '%s' has no %s address to resolve "
			 "%s from (port.add ips)", p->args.name,
			 r->family == AF_INET ? "IPv4" : "IPv6", via);
		return -EINVAL;
	}
	r->has_via = true;
	return 0;
}

int route_add(const char *prefix, const char *port_name,
	      const struct rte_ether_addr *mac, const char *via,
	      bool owned_by_port, char *err, size_t errlen)
{
	struct route r = { .used = true, .owned = owned_by_port };
	struct port *p = port_find(port_name);
	struct rte_ether_addr learned;
	int i, rc;

	rc = prefix_parse(prefix, &r.family, r.addr, &r.depth, err, errlen);
	if (rc < 0)
		return rc;
	if (p == NULL) {
		snprintf(err, errlen, "no port named '%s'", port_name);
		return -ENOENT;
	}
	if (mac != NULL && via != NULL) {
		snprintf(err, errlen, "route %s: give mac or via, not both", prefix);
		return -EINVAL;
	}
	if (via != NULL && (rc = via_parse(&r, p, via, err, errlen)) < 0)
		return rc;
	if (mac == NULL && via == NULL && p->pod == NULL) {
		snprintf(err, errlen,
			 "route %s via uplink '%s' needs the next hop's mac or via",
			 prefix, port_name);
		return -EINVAL;
	}
	if (route_find(r.family, r.addr, r.depth) != NULL) {
		snprintf(err, errlen, "route %s exists", prefix);
		return -EEXIST;
	}
	for (i = 0; i < ROUTE_MAX && routes[i].used; i++)
		;
	if (i == ROUTE_MAX) {
		snprintf(err, errlen, "route table full (%d)", ROUTE_MAX);
		return -ENOSPC;
	}
	r.port = p->id;
	/* The slot is unused and no worker can reach it before fib_apply. */
	dp.nh[i + 1].port = p->id;
	dp.nh[i + 1].mac = mac != NULL ? *mac :
			   p->pod != NULL ? p->pod->mac : (struct rte_ether_addr){ 0 };
	if (r.has_via) {
		rc = neigh_want(p->id, r.family, r.via, &learned);
		if (rc < 0) {
			snprintf(err, errlen, "neighbour table full");
			return rc;
		}
		if (rc == 0) {  /* installed once neigh.c learns the MAC */
			routes[i] = r;
			return 0;
		}
		dp.nh[i + 1].mac = learned;
	}
	rc = fib_apply(&r, (uint16_t)(i + 1), true);
	if (rc < 0) {
		snprintf(err, errlen, "adding %s to the fib: %s", prefix,
			 strerror(-rc));
		return rc;
	}
	r.installed = true;
	routes[i] = r;
	log_debug("route %s -> %s (nh %d)", prefix, port_name, i + 1);
	return 0;
}

static bool via_in_use(uint16_t port, int family, const uint8_t *via)
{
	for (int i = 0; i < ROUTE_MAX; i++)
		if (routes[i].used && routes[i].has_via && routes[i].port == port &&
		    routes[i].family == family &&
		    memcmp(routes[i].via, via, family == AF_INET ? 4 : 16) == 0)
			return true;
	return false;
}

int route_del(const char *prefix, char *err, size_t errlen)
{
	struct route key, *r;
	int rc;

	rc = prefix_parse(prefix, &key.family, key.addr, &key.depth, err,
			  errlen);
	if (rc < 0)
		return rc;
	r = route_find(key.family, key.addr, key.depth);
	if (r == NULL) {
		snprintf(err, errlen, "no route %s", prefix);
		return -ENOENT;
	}
	if (r->owned) {
		snprintf(err, errlen,
			 "route %s belongs to port %s: delete the port",
			 prefix, dp.ports[r->port]->args.name);
		return -EPERM;
	}
	if (r->installed)
		fib_apply(r, 0, false);
	dp_sync();
	r->used = false;
	if (r->has_via && !via_in_use(r->port, r->family, r->via))
		neigh_release(r->port, r->family, r->via);
	return 0;
}

void route_neigh_update(uint16_t port, int family, const uint8_t *ip,
			const struct rte_ether_addr *mac)
{
	size_t n = family == AF_INET ? 4 : 16;

	for (int i = 0; i < ROUTE_MAX; i++) {
		struct route *r = &routes[i];
		union nexthop nh;

		if (!r->used || !r->has_via || r->port != port ||
		    r->family != family || memcmp(r->via, ip, n) != 0)
			continue;
		nh.u64 = dp.nh[i + 1].u64;
		nh.mac = *mac;
		__atomic_store_n(&dp.nh[i + 1].u64, nh.u64, __ATOMIC_RELEASE);
		if (!r->installed && fib_apply(r, (uint16_t)(i + 1), true) == 0)
			r->installed = true;
	}
}

void route_del_port(uint16_t port)
{
	bool any = false;

	for (int i = 0; i < ROUTE_MAX; i++)
		if (routes[i].used && routes[i].port == port) {
			if (routes[i].installed)
				fib_apply(&routes[i], 0, false);
			any = true;
		}
	if (!any)
		return;
	dp_sync();
	for (int i = 0; i < ROUTE_MAX; i++)
		if (routes[i].used && routes[i].port == port)
			routes[i].used = false;
}

void route_del_nexthop(uint16_t port, const struct rte_ether_addr *mac)
{
	bool any = false;

	for (int i = 0; i < ROUTE_MAX; i++)
		if (routes[i].used && routes[i].port == port && !routes[i].has_via &&
		    rte_is_same_ether_addr(&dp.nh[i + 1].mac, mac)) {
			if (routes[i].installed)
				fib_apply(&routes[i], 0, false);
			routes[i].installed = false;
			any = true;
		}
	if (!any)
		return;
	dp_sync();
	for (int i = 0; i < ROUTE_MAX; i++)
		if (routes[i].used && routes[i].port == port && !routes[i].has_via &&
		    rte_is_same_ether_addr(&dp.nh[i + 1].mac, mac))
			routes[i].used = false;
}

json_t *route_list(void)
{
	json_t *a = json_array();
	char addr[INET6_ADDRSTRLEN], buf[INET6_ADDRSTRLEN + 8], mac[32];
	char via[INET6_ADDRSTRLEN];

	for (int i = 0; i < ROUTE_MAX; i++) {
		const struct route *r = &routes[i];

		if (!r->used)
			continue;
		inet_ntop(r->family, r->addr, addr, sizeof(addr));
		snprintf(buf, sizeof(buf), "%s/%u", addr, r->depth);
		rte_ether_format_addr(mac, sizeof(mac), &dp.nh[i + 1].mac);
		if (r->has_via)
			inet_ntop(r->family, r->via, via, sizeof(via));
		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:b, s:s?, s:s?, s:b}",
			"prefix", buf, "port", dp.ports[r->port]->args.name,
			"mac", r->installed ? mac : "", "pod", r->owned,
			"via", r->has_via ? via : NULL,
			"peer", port_ib_peer_name(dp.ports[r->port], &dp.nh[i + 1].mac),
			"installed", r->installed));
	}
	return a;
}
