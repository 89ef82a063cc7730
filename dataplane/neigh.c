/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Next hops on uplinks, resolved with ARP (IPv4) and neighbour discovery
 * (IPv6). Control path only: workers punt every ARP, NS and NA received on
 * an uplink into a ring (dp.punt), and send what this module builds from
 * another ring (dp.inject). The module answers requests for the uplink's
 * own addresses and learns the MAC of next hops that routes ask for; a
 * learned MAC reaches the data path through route_neigh_update().
 *
 * Entries exist only for next hops a route uses; they do not age (a peer
 * that changes MAC is learned again from its next ARP/ND message).
 */
#include <errno.h>
#include <string.h>
#include <arpa/inet.h>
#include <rte_arp.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include "dp.h"
#include "log.h"

#define NEIGH_MAX 1024
#define NEIGH_RETRY_MS 1000
#define PUNT_RING 1024

struct neigh {
	bool used, resolved;
	uint16_t port;
	int family;
	uint8_t ip[16];
	struct rte_ether_addr mac;
	uint64_t next_ms;    /* when to ask again while unresolved */
};

static struct neigh neighs[NEIGH_MAX];

int neigh_init(void)
{
	char name[32];

	for (unsigned int w = 0; w < dp.n_workers; w++) {
		snprintf(name, sizeof(name), "shunt_punt%u", w);
		dp.punt[w] = rte_ring_create(name, PUNT_RING, SOCKET_ID_ANY,
					     RING_F_SP_ENQ | RING_F_SC_DEQ);
		snprintf(name, sizeof(name), "shunt_inject%u", w);
		dp.inject[w] = rte_ring_create(name, PUNT_RING, SOCKET_ID_ANY,
					       RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (dp.punt[w] == NULL || dp.inject[w] == NULL)
			return -ENOMEM;
	}
	return 0;
}

static struct neigh *neigh_find(uint16_t port, int family, const uint8_t *ip)
{
	size_t n = family == AF_INET ? 4 : 16;

	for (int i = 0; i < NEIGH_MAX; i++)
		if (neighs[i].used && neighs[i].port == port &&
		    neighs[i].family == family && memcmp(neighs[i].ip, ip, n) == 0)
			return &neighs[i];
	return NULL;
}

/* Hand a frame to the worker that polls p, to send on p. */
static void neigh_inject(struct port *p, struct rte_mbuf *m)
{
	unsigned int w = p->worker >= 0 ? (unsigned int)p->worker : 0;

	m->port = p->id;
	if (rte_ring_sp_enqueue(dp.inject[w], m) != 0)
		rte_pktmbuf_free(m);
}

static void neigh_request(const struct neigh *n, uint64_t now_ms)
{
	struct port *p = dp.ports[n->port];
	struct rte_mbuf *m;
	uint8_t *d;
	uint32_t len;
	rte_be32_t tip;

	(void)now_ms;
	if (p == NULL || (m = rte_pktmbuf_alloc(dp.pool)) == NULL)
		return;
	d = (uint8_t *)rte_pktmbuf_append(m, ND_REPLY_LEN);
	if (d == NULL) {
		rte_pktmbuf_free(m);
		return;
	}
	if (n->family == AF_INET) {
		memcpy(&tip, n->ip, 4);
		len = pkt_arp_request(d, &p->mac, p->args.local.ip4[0], tip);
	} else {
		len = pkt_ns_build(d, &p->mac, p->args.local.ip6[0], n->ip);
	}
	rte_pktmbuf_trim(m, (uint16_t)(ND_REPLY_LEN - len));
	neigh_inject(p, m);
}

int neigh_want(uint16_t port, int family, const uint8_t *ip,
	       struct rte_ether_addr *mac)
{
	struct neigh *n = neigh_find(port, family, ip);
	int i;

	if (n != NULL && n->resolved) {
		*mac = n->mac;
		return 1;
	}
	if (n != NULL)
		return 0;
	for (i = 0; i < NEIGH_MAX && neighs[i].used; i++)
		;
	if (i == NEIGH_MAX)
		return -ENOSPC;
	n = &neighs[i];
	memset(n, 0, sizeof(*n));
	n->used = true;
	n->port = port;
	n->family = family;
	memcpy(n->ip, ip, family == AF_INET ? 4 : 16);
	neigh_request(n, 0);
	return 0;
}

/* RFC 826: update the sender of a message if we track it already. */
static void neigh_learn(uint16_t port, int family, const uint8_t *ip,
			const struct rte_ether_addr *mac)
{
	struct neigh *n = neigh_find(port, family, ip);
	char a[INET6_ADDRSTRLEN], m[RTE_ETHER_ADDR_FMT_SIZE];

	if (n == NULL || rte_is_zero_ether_addr(mac) ||
	    rte_is_multicast_ether_addr(mac) ||
	    (n->resolved && rte_is_same_ether_addr(&n->mac, mac)))
		return;
	n->mac = *mac;
	n->resolved = true;
	rte_ether_format_addr(m, sizeof(m), mac);
	log_info("neighbour %s on port %s is %s",
		 inet_ntop(family, ip, a, sizeof(a)), dp.ports[port]->args.name, m);
	route_neigh_update(port, family, ip, mac);
}

/* One punted ARP frame; returns true if m was reused (sent). */
static bool neigh_arp(struct port *p, struct rte_mbuf *m)
{
	uint8_t *d = rte_pktmbuf_mtod(m, uint8_t *);
	struct rte_arp_hdr *arp = (struct rte_arp_hdr *)(d + RTE_ETHER_HDR_LEN);
	const struct rte_arp_ipv4 *a = &arp->arp_data;
	rte_be32_t tip = a->arp_tip;

	/* pkt_classify checked the ARP header's size and kinds. */
	neigh_learn(p->id, AF_INET, (const uint8_t *)&a->arp_sip, &a->arp_sha);
	if (arp->arp_opcode != RTE_BE16(RTE_ARP_OP_REQUEST) ||
	    !pod_owns_ip4(&p->args.local, tip))
		return false;
	pkt_arp_reply(d, &p->mac, tip);
	neigh_inject(p, m);
	return true;
}

/* Link-layer address option of type want in an NS/NA, or NULL. */
static const struct rte_ether_addr *nd_lladdr(const uint8_t *opt, uint32_t n,
					      uint8_t want)
{
	while (n >= 8 && opt[1] != 0 && (uint32_t)opt[1] * 8 <= n) {
		if (opt[0] == want && opt[1] == 1)
			return (const struct rte_ether_addr *)(opt + 2);
		n -= opt[1] * 8u;
		opt += opt[1] * 8u;
	}
	return NULL;
}

static bool neigh_nd(struct port *p, struct rte_mbuf *m)
{
	uint8_t *d = rte_pktmbuf_mtod(m, uint8_t *);
	struct rte_ipv6_hdr *ip6 = (struct rte_ipv6_hdr *)(d + RTE_ETHER_HDR_LEN);
	const uint8_t *icmp = (const uint8_t *)(ip6 + 1), *target = icmp + 8;
	uint32_t pl = rte_be_to_cpu_16(ip6->payload_len);
	const struct rte_ether_addr *ll;
	uint8_t tgt[16];

	if (rte_pktmbuf_data_len(m) < RTE_ETHER_HDR_LEN + sizeof(*ip6) + pl ||
	    pl < 24 || ip6->hop_limits != 255)
		return false;
	if (icmp[0] == 136) {  /* NA: the target's address is in the option */
		ll = nd_lladdr(icmp + 24, pl - 24, 2);
		if (ll != NULL)
			neigh_learn(p->id, AF_INET6, target, ll);
		return false;
	}
	ll = nd_lladdr(icmp + 24, pl - 24, 1);
	if (ll != NULL)
		neigh_learn(p->id, AF_INET6, ip6->src_addr, ll);
	if (!pod_owns_ip6(&p->args.local, target) || m->nb_segs != 1)
		return false;
	if (rte_pktmbuf_data_len(m) < ND_REPLY_LEN &&
	    rte_pktmbuf_append(m, ND_REPLY_LEN - rte_pktmbuf_data_len(m)) == NULL)
		return false;
	memcpy(tgt, target, 16);
	m->data_len = m->pkt_len = pkt_nd_reply(d, rte_pktmbuf_data_len(m),
						&p->mac, tgt);
	neigh_inject(p, m);
	return true;
}

void neigh_poll(void)
{
	struct rte_mbuf *ms[32];

	for (unsigned int w = 0; w < dp.n_workers; w++) {
		unsigned int n = rte_ring_sc_dequeue_burst(dp.punt[w],
			(void **)ms, RTE_DIM(ms), NULL);

		for (unsigned int i = 0; i < n; i++) {
			struct rte_mbuf *m = ms[i];
			struct port *p = m->port < DP_MAX_PORTS ? dp.ports[m->port] : NULL;
			const struct rte_ether_hdr *eth =
				rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
			bool sent = false;

			if (p != NULL && p->pod == NULL) {
				if (eth->ether_type == RTE_BE16(RTE_ETHER_TYPE_ARP))
					sent = neigh_arp(p, m);
				else
					sent = neigh_nd(p, m);
			}
			if (!sent)
				rte_pktmbuf_free(m);
		}
	}
}

void neigh_tick(uint64_t now_ms)
{
	for (int i = 0; i < NEIGH_MAX; i++) {
		struct neigh *n = &neighs[i];

		if (!n->used || n->resolved || n->next_ms > now_ms)
			continue;
		neigh_request(n, now_ms);
		n->next_ms = now_ms + NEIGH_RETRY_MS;
	}
}

void neigh_release(uint16_t port, int family, const uint8_t *ip)
{
	struct neigh *n = neigh_find(port, family, ip);

	if (n != NULL)
		n->used = false;
}

void neigh_del_port(uint16_t port)
{
	for (int i = 0; i < NEIGH_MAX; i++)
		if (neighs[i].used && neighs[i].port == port)
			neighs[i].used = false;
}

json_t *neigh_list(void)
{
	json_t *a = json_array();
	char ip[INET6_ADDRSTRLEN], mac[RTE_ETHER_ADDR_FMT_SIZE];

	for (int i = 0; i < NEIGH_MAX; i++) {
		const struct neigh *n = &neighs[i];

		if (!n->used || dp.ports[n->port] == NULL)
			continue;
		rte_ether_format_addr(mac, sizeof(mac), &n->mac);
		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:b}",
			"port", dp.ports[n->port]->args.name,
			"ip", inet_ntop(n->family, n->ip, ip, sizeof(ip)),
			"mac", n->resolved ? mac : "", "resolved", n->resolved));
	}
	return a;
}
