/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The worker loop: rx burst -> classify (anti-spoofing, gateway answers)
 * -> route lookup in bulk -> rewrite -> per-port tx buffers -> flush.
 * Run to completion, no locks (but a shared tx queue's), nothing logged.
 * A worker reports a quiescent state after every round, and goes offline
 * while it sleeps when idle, so the control thread's dp_sync() never waits
 * on a sleeping worker.
 */
#include <string.h>
#include <time.h>
#include <rte_cycles.h>
#include <rte_fib.h>
#include <rte_fib6.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>
#include "dp.h"
#include "filter.h"

_Static_assert(FILTER_MAX_WORKERS >= DP_MAX_WORKERS,
	       "filter counters are per worker");

#define IDLE_ROUNDS 64  /* empty rounds before sleeping */

struct txbuf {
	struct port *port;
	uint16_t n;
	struct rte_mbuf *m[DP_MAX_BURST];
};

struct worker {
	unsigned int w;
	struct port_counters *cnt;
	uint16_t ndirty;
	uint16_t dirty[DP_MAX_PORTS];
	struct txbuf tx[DP_MAX_PORTS];
} __rte_cache_aligned;

static void tx_flush(struct worker *wk, struct txbuf *tb)
{
	struct port_counters *c = &wk->cnt[tb->port->id];
	const struct filter_chain *fc =
		__atomic_load_n(&tb->port->filters[SHUNT_DIR_TO_POD], __ATOMIC_ACQUIRE);
	uint64_t bytes = 0;
	uint16_t sent;

	if (unlikely(fc != NULL)) {
		struct rte_mbuf *drops[DP_MAX_BURST];
		uint16_t nd = 0;

		tb->n = filter_chain_apply(fc, wk->w, tb->m, tb->n, drops, &nd);
		for (uint16_t i = 0; i < nd; i++)
			rte_pktmbuf_free(drops[i]);
		c->drops[DROP_FILTER] += nd;
	}
	/* Counted here, while the frames are still ours, not as they are
	 * queued: a running sum kept in the buffer made each frame wait on
	 * the previous one's store. */
	for (uint16_t i = 0; i < tb->n; i++)
		bytes += rte_pktmbuf_pkt_len(tb->m[i]);
	sent = port_tx(tb->port, wk->w, tb->m, tb->n);

	c->tx_pkts += sent;
	for (uint16_t i = sent; i < tb->n; i++) {
		bytes -= rte_pktmbuf_pkt_len(tb->m[i]);
		rte_pktmbuf_free(tb->m[i]);
	}
	c->tx_bytes += bytes;
	c->drops[DROP_TX_FULL] += tb->n - sent;
	tb->n = 0;
}

static void tx_flush_all(struct worker *wk)
{
	for (uint16_t i = 0; i < wk->ndirty; i++) {
		struct txbuf *tb = &wk->tx[wk->dirty[i]];

		if (tb->n)
			tx_flush(wk, tb);
		tb->port = NULL;
	}
	wk->ndirty = 0;
}

static inline void tx_enqueue(struct worker *wk, struct port *out,
			      struct rte_mbuf *m)
{
	struct txbuf *tb = &wk->tx[out->id];

	if (tb->port == NULL) {
		tb->port = out;
		wk->dirty[wk->ndirty++] = out->id;
	}
	tb->m[tb->n++] = m;
	if (tb->n == DP_MAX_BURST)
		tx_flush(wk, tb);
}

static inline void drop(struct port_counters *c, struct rte_mbuf *m,
			uint32_t reason)
{
	c->drops[reason]++;
	rte_pktmbuf_free(m);
}

/*
 * Frames the data plane itself answers or builds (ARP, ND, echo replies):
 * sent at once, past the to-pod filters, so a default-deny policy never
 * cuts a pod off its gateway. Rare, so one at a time.
 */
static void tx_now(struct worker *wk, struct port *out, struct rte_mbuf *m)
{
	struct port_counters *c = &wk->cnt[out->id];
	uint32_t len = rte_pktmbuf_pkt_len(m);

	if (port_tx(out, wk->w, &m, 1) == 1) {
		c->tx_pkts++;
		c->tx_bytes += len;
	} else {
		drop(c, m, DROP_TX_FULL);
	}
}

/* Run the from-pod chain over pkts and keep the passing ones (and their
 * lookup keys, ksz bytes each) in order. Returns how many pass. */
static uint16_t filter_from_pod(const struct filter_chain *fc,
				struct worker *wk, struct port_counters *c,
				struct rte_mbuf **pkts, uint8_t *keys, size_t ksz,
				uint16_t n)
{
	uint32_t v[DP_MAX_BURST];
	uint16_t k = 0;

	if (filter_chain_run(fc, wk->w, pkts, n, v, NULL) == 0)
		return n;
	for (uint16_t i = 0; i < n; i++) {
		if (v[i] != 0) {
			drop(c, pkts[i], DROP_FILTER);
			continue;
		}
		pkts[k] = pkts[i];
		memmove(keys + k * ksz, keys + i * ksz, ksz);
		k++;
	}
	return k;
}

static inline void forward(struct worker *wk, struct port *in,
			   struct port_counters *c, struct rte_mbuf *m,
			   uint64_t nhid)
{
	union nexthop nh;
	struct rte_ether_hdr *eth;
	struct port *out;

	if (nhid == ROUTE_NH_NONE)
		return drop(c, m, DROP_NO_ROUTE);
	nh.u64 = __atomic_load_n(&dp.nh[nhid].u64, __ATOMIC_ACQUIRE);
	out = __atomic_load_n(&dp.ports[nh.port], __ATOMIC_ACQUIRE);
	if (out == NULL)
		return drop(c, m, DROP_PORT_DOWN);
	if (out == in && in->pod != NULL)
		return drop(c, m, DROP_HAIRPIN);
	eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	eth->dst_addr = nh.mac;
	eth->src_addr = out->mac;
	tx_enqueue(wk, out, m);
}

/* Frames the control thread built (ARP/ND on uplinks). */
static void inject_drain(struct worker *wk)
{
	struct rte_mbuf *ms[32];
	unsigned int n = rte_ring_sc_dequeue_burst(dp.inject[wk->w], (void **)ms,
						   RTE_DIM(ms), NULL);

	for (unsigned int i = 0; i < n; i++) {
		struct port *out = ms[i]->port < DP_MAX_PORTS ?
			__atomic_load_n(&dp.ports[ms[i]->port], __ATOMIC_ACQUIRE) : NULL;

		if (out == NULL)
			rte_pktmbuf_free(ms[i]);
		else
			tx_now(wk, out, ms[i]);
	}
}

static void process_burst(struct worker *wk, struct port *in,
			  struct rte_mbuf **pkts, uint16_t n)
{
	struct port_counters *c = &wk->cnt[in->id];
	const struct pod_identity *pod = in->pod;
	struct rte_mbuf *m4[DP_MAX_BURST], *m6[DP_MAX_BURST];
	uint32_t dst4[DP_MAX_BURST];
	uint8_t dst6[DP_MAX_BURST][16];
	uint64_t nh4[DP_MAX_BURST], nh6[DP_MAX_BURST];
	uint16_t n4 = 0, n6 = 0;
	uint64_t bytes = 0;

	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		uint8_t *d = rte_pktmbuf_mtod(m, uint8_t *);
		uint32_t reason = 0;

		if (i + 1 < n)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void *));
		bytes += rte_pktmbuf_pkt_len(m);
		switch (pkt_classify(d, rte_pktmbuf_data_len(m),
				     rte_pktmbuf_pkt_len(m), pod, &in->mac,
				     &reason)) {
		case PKT_IPV4: {
			struct rte_ipv4_hdr *ip =
				(struct rte_ipv4_hdr *)(d + RTE_ETHER_HDR_LEN);

			if (!pkt_ipv4_ttl_dec(ip)) {
				drop(c, m, DROP_TTL_EXPIRED);
				break;
			}
			dst4[n4] = rte_be_to_cpu_32(ip->dst_addr);
			m4[n4++] = m;
			break;
		}
		case PKT_IPV6: {
			struct rte_ipv6_hdr *ip6 =
				(struct rte_ipv6_hdr *)(d + RTE_ETHER_HDR_LEN);

			if (!pkt_ipv6_hop_dec(ip6)) {
				drop(c, m, DROP_TTL_EXPIRED);
				break;
			}
			rte_memcpy(dst6[n6], ip6->dst_addr, 16);
			m6[n6++] = m;
			break;
		}
		case PKT_ARP_GW:
			pkt_arp_reply(d, &in->mac, RTE_BE32(GW4_ADDR));
			c->neigh_replies++;
			tx_now(wk, in, m);
			break;
		case PKT_ND_GW:
			if (m->nb_segs != 1) {
				drop(c, m, DROP_MALFORMED);
				break;
			}
			if (rte_pktmbuf_data_len(m) < ND_REPLY_LEN &&
			    rte_pktmbuf_append(m, ND_REPLY_LEN -
					       rte_pktmbuf_data_len(m)) == NULL) {
				drop(c, m, DROP_MALFORMED);
				break;
			}
			m->data_len = m->pkt_len = pkt_nd_reply(d,
				rte_pktmbuf_data_len(m), &in->mac, gw6_addr);
			c->neigh_replies++;
			tx_now(wk, in, m);
			break;
		case PKT_ECHO_GW:
			pkt_echo_reply(d, rte_pktmbuf_data_len(m), &in->mac);
			c->neigh_replies++;
			tx_now(wk, in, m);
			break;
		case PKT_NEIGH_UPLINK:
			m->port = in->id;
			if (rte_ring_sp_enqueue(dp.punt[wk->w], m) != 0)
				drop(c, m, DROP_NEIGH_IGNORED);
			break;
		case PKT_NEIGH_OTHER:
			drop(c, m, DROP_NEIGH_IGNORED);
			break;
		case PKT_DROP:
			drop(c, m, reason);
			break;
		}
	}
	c->rx_pkts += n;
	c->rx_bytes += bytes;

	const struct filter_chain *fc =
		__atomic_load_n(&in->filters[SHUNT_DIR_FROM_POD], __ATOMIC_ACQUIRE);
	if (unlikely(fc != NULL)) {
		if (n4)
			n4 = filter_from_pod(fc, wk, c, m4, (uint8_t *)dst4,
					     sizeof(dst4[0]), n4);
		if (n6)
			n6 = filter_from_pod(fc, wk, c, m6, (uint8_t *)dst6,
					     sizeof(dst6[0]), n6);
	}

	if (n4) {
		rte_fib_lookup_bulk(dp.fib4, dst4, nh4, n4);
		for (uint16_t i = 0; i < n4; i++)
			forward(wk, in, c, m4[i], nh4[i]);
	}
	if (n6) {
		rte_fib6_lookup_bulk(dp.fib6, dst6, nh6, n6);
		for (uint16_t i = 0; i < n6; i++)
			forward(wk, in, c, m6[i], nh6[i]);
	}
}

int lcore_worker_main(void *arg)
{
	unsigned int w = (unsigned int)(uintptr_t)arg, idle = 0;
	uint64_t round_end;
	struct rte_mbuf *pkts[DP_MAX_BURST];
	struct worker *wk;

	wk = rte_zmalloc("shunt_worker", sizeof(*wk), RTE_CACHE_LINE_SIZE);
	if (wk == NULL)
		return -1;
	wk->w = w;
	wk->cnt = dp.counters[w];
	rte_rcu_qsbr_thread_register(dp.qsbr, w);
	rte_rcu_qsbr_thread_online(dp.qsbr, w);

	round_end = rte_rdtsc();
	while (!dp.quit) {
		const struct poll_list *pl =
			__atomic_load_n(&dp.poll[w], __ATOMIC_ACQUIRE);
		uint16_t burst = (uint16_t)dp.cfg.burst, total = 0;
		uint64_t now;

		for (uint16_t i = 0; pl != NULL && i < pl->n; i++) {
			struct port *p = pl->e[i].port;
			uint16_t nb = p->ops->rx(p, pl->e[i].q, pkts, burst);

			if (nb == 0)
				continue;
			total += nb;
			process_burst(wk, p, pkts, nb);
		}
		if (unlikely(!rte_ring_empty(dp.inject[w])))
			inject_drain(wk);
		if (wk->ndirty)
			tx_flush_all(wk);
		rte_rcu_qsbr_quiescent(dp.qsbr, w);

		/* whole stores: the control thread reads them. Rounds run
		 * back to back, so one TSC read a round times them all: a
		 * busy round is the time since the previous one ended. */
		now = rte_rdtsc();
		__atomic_store_n(&dp.wcnt[w].rounds, dp.wcnt[w].rounds + 1,
				 __ATOMIC_RELAXED);
		if (total != 0) {
			idle = 0;
			__atomic_store_n(&dp.wcnt[w].busy_rounds,
					 dp.wcnt[w].busy_rounds + 1, __ATOMIC_RELAXED);
			__atomic_store_n(&dp.wcnt[w].busy_tsc, dp.wcnt[w].busy_tsc +
					 (now - round_end), __ATOMIC_RELAXED);
		} else if (++idle >= IDLE_ROUNDS && dp.cfg.idle_sleep_us) {
			struct timespec ts = { 0, dp.cfg.idle_sleep_us * 1000L };

			rte_rcu_qsbr_thread_offline(dp.qsbr, w);
			nanosleep(&ts, NULL);
			rte_rcu_qsbr_thread_online(dp.qsbr, w);
			now = rte_rdtsc();  /* the sleep is not the next round's */
		}
		round_end = now;
	}
	rte_rcu_qsbr_thread_offline(dp.qsbr, w);
	rte_rcu_qsbr_thread_unregister(dp.qsbr, w);
	rte_free(wk);
	return 0;
}
