/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * "ib" uplinks: pod packets between the data planes of different nodes as
 * unreliable-datagram (UD) sends through libibverbs, on InfiniBand or
 * RoCE (soft-RoCE included) alike.
 *
 * One uplink is one partition (network): a UD QP bound to the network's
 * P_Key and Q_Key. Its fabric address (GID, QPN, Q_Key, P_Key, MTU) is
 * what port.list shows and what the other nodes' peers name.
 *
 * Wire format: one IP packet (the pod's, without its Ethernet header) per
 * UD send, with immediate data IB_IMM_MAGIC << 16 | P_Key. A receive
 * buffer is an mbuf posted so that the 40-byte GRH lands in its headroom
 * and the IP packet where an Ethernet header would end; the receive path
 * writes that header in front (our MAC, the peer's), so the rest of the
 * pipeline sees a frame from an uplink like any other. Sends point at the
 * mbuf's own data (zero copy) when its memory is registered: the shared
 * pool's and this device's receive pool are; anything else (an AF_XDP
 * port's own pool, a chained mbuf) is copied once and counted.
 *
 * Routes to a peer carry a next-hop "MAC" that names the peer's slot
 * (IB_PEER_MAC); the transmit path reads it back from the frame's
 * destination MAC, so the worker loop needs nothing ib-specific.
 *
 * Queues: one QP per worker (tx queue q = worker % n_txq) so workers
 * never share a send queue; QP 0 also receives (its QPN is the one
 * advertised). Completions are polled in rx/tx: no interrupts, no locks.
 *
 * Files: this one holds the port ops and the data path; ib_dev.c the
 * devices, their registered memory and the devargs; ib_peer.c the peers;
 * ib_internal.h what they share.
 *
 * Partitions: on InfiniBand the QP is bound to the P_Key's index and the
 * HCA drops packets of other partitions. Both ends also check that a
 * packet's source and destination lie in the partition's address space
 * (devargs net=PREFIX, the network's pod prefixes on every node), since
 * routing alone (one FIB per node) would let a pod of another network
 * reach this partition's prefixes through this uplink. RoCE carries only the default
 * P_Key (the table holds 0xffff alone, as on rxe), so there the partition
 * is enforced by the Q_Key (checked by the device) and by this code: the
 * immediate must carry the uplink's P_Key and the sender's GID must be a
 * peer of this uplink. That keeps networks apart when configured as
 * meant; it is not a security boundary against a hostile host on the same
 * Ethernet, which can forge both.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <infiniband/verbs.h>
#include <rte_cycles.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_per_lcore.h>
#include "ib_internal.h"
#include "log.h"

static uint32_t ib_mtu_bytes(enum ibv_mtu m)
{
	return m >= IBV_MTU_256 && m <= IBV_MTU_4096 ? 128u << m : 0;
}

static const char *ib_port_state_name(enum ibv_port_state s)
{
	return ibv_port_state_str(s);
}

/* Worker index of the calling lcore: counters are per worker. */
static RTE_DEFINE_PER_LCORE(int, ib_worker_plus1);

static inline struct port_counters *ib_counters(const struct port *p)
{
	int w = RTE_PER_LCORE(ib_worker_plus1);

	if (unlikely(w == 0)) {
		unsigned int lc = rte_lcore_id();

		for (unsigned int i = 0; i < dp.n_workers; i++)
			if (dp.worker_lcore[i] == lc)
				w = (int)i + 1;
		if (w == 0)
			w = 1;  /* not a worker: cannot happen; stay in bounds */
		RTE_PER_LCORE(ib_worker_plus1) = w;
	}
	return &dp.counters[w - 1][p->id];
}

static int ib_gid_pick(struct ib_port *ib, const struct ib_conf *c,
		       const struct ibv_port_attr *pa, char *err, size_t errlen)
{
	struct ibv_gid_entry ge;
	int idx = c->gid_index, rc;

	if (idx < 0) {
		idx = 0;
		for (int i = 0; ib->link_eth && i < pa->gid_tbl_len; i++)
			if (ibv_query_gid_ex(ib->dev->ctx, ib->port_num, (uint32_t)i,
					     &ge, 0) == 0 &&
			    ge.gid_type == IBV_GID_TYPE_ROCE_V2) {
				idx = i;
				break;
			}
	}
	if (idx >= pa->gid_tbl_len) {
		snprintf(err, errlen, "%s port %u: GID index %d is past the table "
			 "(%d entries)", c->dev, c->port, idx, pa->gid_tbl_len);
		return -EINVAL;
	}
	rc = ibv_query_gid_ex(ib->dev->ctx, ib->port_num, (uint32_t)idx, &ge, 0);
	if (rc != 0) {
		snprintf(err, errlen, "%s port %u: GID index %d: %s (an empty entry; "
			 "see ibv_devinfo -v)", c->dev, c->port, idx,
			 strerror(rc > 0 ? rc : errno));
		return -EINVAL;
	}
	if (ib->link_eth && ge.gid_type == IBV_GID_TYPE_ROCE_V1)
		log_warn("ib %s port %u: GID index %d is RoCE v1 (not routable); "
			 "RoCE v2 is usually the next index", c->dev, c->port, idx);
	ib->gid_index = idx;
	memcpy(ib->gid.raw, ge.gid.raw, 16);
	ib->rx_ipv4 = ib->link_eth && ge.gid_type == IBV_GID_TYPE_ROCE_V2 &&
		      IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)ge.gid.raw);
	return 0;
}

/* --- queues -------------------------------------------------------------------- */

static int ib_qp_up(struct ib_port *ib, struct ibv_qp *qp, char *err,
		    size_t errlen)
{
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_INIT, .pkey_index = ib->pkey_index,
		.port_num = ib->port_num, .qkey = ib->qkey,
	};
	int rc;

	rc = ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX |
			   IBV_QP_PORT | IBV_QP_QKEY);
	if (rc == 0) {
		a = (struct ibv_qp_attr){ .qp_state = IBV_QPS_RTR };
		rc = ibv_modify_qp(qp, &a, IBV_QP_STATE);
	}
	if (rc == 0) {
		a = (struct ibv_qp_attr){ .qp_state = IBV_QPS_RTS, .sq_psn = 0 };
		rc = ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_SQ_PSN);
	}
	if (rc != 0) {
		snprintf(err, errlen, "%s: UD QP to RTS: %s", ib->dev->name,
			 strerror(rc));
		return -rc;
	}
	return 0;
}

/* Post up to n receive buffers; returns how many. Data path (and open). */
static uint32_t ib_rq_fill(struct ib_port *ib, uint32_t n)
{
	struct rte_mbuf *ms[64];
	struct ibv_recv_wr wr[64], *bad = NULL;
	struct ibv_sge sge[64];
	uint32_t lkey, k;

	if (n > RTE_DIM(ms))
		n = RTE_DIM(ms);
	if (n == 0 || rte_pktmbuf_alloc_bulk(ib->dev->pool, ms, n) != 0)
		return 0;
	for (k = 0; k < n; k++) {
		uintptr_t a = (uintptr_t)ms[k]->buf_addr + IB_RX_OFF;

		if (!ib_lkey(ib->dev, a, ms[k]->buf_len - IB_RX_OFF, &lkey))
			break;  /* cannot happen: the pool is registered */
		sge[k] = (struct ibv_sge){ .addr = a,
			.length = ms[k]->buf_len - IB_RX_OFF, .lkey = lkey };
		wr[k] = (struct ibv_recv_wr){ .wr_id = (uintptr_t)ms[k],
			.sg_list = &sge[k], .num_sge = 1,
			.next = k + 1 < n ? &wr[k + 1] : NULL };
	}
	if (k < n) {
		rte_pktmbuf_free_bulk(ms + k, n - k);
		n = k;
		if (n == 0)
			return 0;
		wr[n - 1].next = NULL;
	}
	if (ibv_post_recv(ib->txq[0].qp, wr, &bad) != 0) {
		/* bad and everything after it were not posted */
		for (k = 0; &wr[k] != bad; k++)
			;
		rte_pktmbuf_free_bulk(ms + k, n - k);
		n = k;
	}
	ib->rq_posted += n;
	return n;
}

/* Free what the device has sent. Returns the completions seen. */
static inline int ib_tx_reap(struct ib_txq *t)
{
	struct ibv_wc wc[DP_MAX_BURST];
	struct rte_mbuf *done[64];
	uint32_t last, n, k = 0;
	int got;

	if (t->head == t->tail)
		return 0;
	got = ibv_poll_cq(t->cq, DP_MAX_BURST, wc);
	if (got <= 0)
		return 0;
	for (int i = 0; i < got; i++)
		if (unlikely(wc[i].status != IBV_WC_SUCCESS))
			t->st.send_err++;
	last = (uint32_t)wc[got - 1].wr_id;
	n = last + 1 - t->tail;
	if (unlikely(n > t->head - t->tail))
		return got;  /* a stale completion (queues were reset) */
	while (n--) {
		done[k++] = t->ring[t->tail++ & t->mask];
		if (k == RTE_DIM(done)) {
			rte_pktmbuf_free_bulk(done, k);
			k = 0;
		}
	}
	if (k)
		rte_pktmbuf_free_bulk(done, k);
	return got;
}

/* Control path, the queue pair out of use: wait up to a second for its
 * sends to complete, then (the QP destroyed or reset) free the rest. */
static void ib_txq_drain(struct ib_txq *t)
{
	uint64_t deadline = rte_get_timer_cycles() + rte_get_timer_hz();

	while (t->cq != NULL && t->head != t->tail &&
	       rte_get_timer_cycles() < deadline)
		ib_tx_reap(t);
}

static void ib_txq_forget(struct ib_txq *t)
{
	while (t->ring != NULL && t->tail != t->head)
		rte_pktmbuf_free(t->ring[t->tail++ & t->mask]);
}

/* Free what completes on cq within a second, counting *count down. */
static void ib_drain(struct ibv_cq *cq, uint32_t *count)
{
	uint64_t deadline = rte_get_timer_cycles() + rte_get_timer_hz();
	struct ibv_wc wc[64];
	int got;

	while (*count > 0 && rte_get_timer_cycles() < deadline) {
		got = ibv_poll_cq(cq, RTE_DIM(wc), wc);
		for (int i = 0; i < got; i++)
			rte_pktmbuf_free((struct rte_mbuf *)(uintptr_t)wc[i].wr_id);
		if (got > 0)
			*count -= (uint32_t)got;
	}
}

static void ib_queues_destroy(struct ib_port *ib)
{
	for (uint16_t q = 0; q < ib->n_txq; q++) {
		struct ib_txq *t = &ib->txq[q];

		if (t->qp != NULL) {
			struct ibv_qp_attr a = { .qp_state = IBV_QPS_ERR };

			/* Flush: every posted request completes (in error). */
			ibv_modify_qp(t->qp, &a, IBV_QP_STATE);
		}
	}
	for (uint16_t q = 0; q < ib->n_txq; q++)
		ib_txq_drain(&ib->txq[q]);
	if (ib->rcq != NULL)
		ib_drain(ib->rcq, &ib->rq_posted);
	for (uint16_t q = 0; q < ib->n_txq; q++) {
		if (ib->txq[q].qp != NULL)
			ibv_destroy_qp(ib->txq[q].qp);
		if (ib->txq[q].cq != NULL)
			ibv_destroy_cq(ib->txq[q].cq);
		ib_txq_forget(&ib->txq[q]);  /* the device has let go */
		rte_free(ib->txq[q].ring);
	}
	if (ib->rcq != NULL)
		ibv_destroy_cq(ib->rcq);
}

static int ib_queues_create(struct ib_port *ib, char *err, size_t errlen)
{
	struct ibv_context *ctx = ib->dev->ctx;
	int rc;

	ib->rcq = ibv_create_cq(ctx, (int)ib->rq_depth, NULL, NULL, 0);
	if (ib->rcq == NULL)
		goto cq_fail;
	for (uint16_t q = 0; q < ib->n_txq; q++) {
		struct ib_txq *t = &ib->txq[q];
		struct ibv_qp_init_attr ia = {
			.qp_type = IBV_QPT_UD,
			.cap = { .max_send_wr = ib->sq_depth, .max_send_sge = 1,
				 .max_recv_wr = q == 0 ? ib->rq_depth : 1,
				 .max_recv_sge = 1 },
		};

		t->mask = rte_align32pow2(ib->sq_depth) - 1;
		t->ring = rte_zmalloc("shunt_ib_ring", (t->mask + 1) * sizeof(*t->ring),
				      RTE_CACHE_LINE_SIZE);
		if (t->ring == NULL) {
			snprintf(err, errlen, "no memory for a send ring");
			return -ENOMEM;
		}
		t->cq = ibv_create_cq(ctx, (int)ib->sq_depth, NULL, NULL, 0);
		if (t->cq == NULL)
			goto cq_fail;
		ia.send_cq = t->cq;
		ia.recv_cq = q == 0 ? ib->rcq : t->cq;
		t->qp = ibv_create_qp(ib->dev->pd, &ia);
		if (t->qp == NULL) {
			snprintf(err, errlen, "%s: ibv_create_qp (UD, %u sends, %u "
				 "receives): %s", ib->dev->name, ib->sq_depth,
				 ib->rq_depth, strerror(errno ? errno : EINVAL));
			return -(errno ? errno : EINVAL);
		}
		rc = ib_qp_up(ib, t->qp, err, errlen);
		if (rc < 0)
			return rc;
	}
	while (ib->rq_posted < ib->rq_depth &&
	       ib_rq_fill(ib, ib->rq_depth - ib->rq_posted) > 0)
		;
	if (ib->rq_posted == 0) {
		snprintf(err, errlen, "%s: no receive buffer could be posted",
			 ib->dev->name);
		return -ENOMEM;
	}
	return 0;
cq_fail:
	snprintf(err, errlen, "%s: ibv_create_cq: %s", ib->dev->name,
		 strerror(errno ? errno : ENOMEM));
	return -(errno ? errno : ENOMEM);
}

/* --- port ops -------------------------------------------------------------------- */

static int ib_open(struct port *p, char *err, size_t errlen)
{
	struct ibv_port_attr pa;
	struct ib_conf c;
	struct ib_port *ib;
	int rc, idx;

	rc = ib_conf_parse(p->args.devargs, &c, err, errlen);
	if (rc < 0)
		return rc;
	ib = rte_zmalloc("shunt_ib", sizeof(*ib), RTE_CACHE_LINE_SIZE);
	if (ib == NULL) {
		snprintf(err, errlen, "no memory for port '%s'", p->args.name);
		return -ENOMEM;
	}
	ib->dev = ib_dev_get(c.dev, err, errlen);
	if (ib->dev == NULL) {
		rte_free(ib);
		return -ENODEV;
	}
	ib->port_num = (uint8_t)c.port;
	rc = ibv_query_port(ib->dev->ctx, ib->port_num, &pa);
	if (rc != 0) {
		snprintf(err, errlen, "%s has no port %u: %s", c.dev, c.port,
			 strerror(rc));
		rc = -ENODEV;
		goto fail;
	}
	if (pa.state != IBV_PORT_ACTIVE) {
		snprintf(err, errlen, "%s port %u is %s, not ACTIVE (link down, or "
			 "no subnet manager on InfiniBand)", c.dev, c.port,
			 ib_port_state_name(pa.state));
		rc = -ENETDOWN;
		goto fail;
	}
	ib->link_eth = pa.link_layer == IBV_LINK_LAYER_ETHERNET;
	rc = ib_gid_pick(ib, &c, &pa, err, errlen);
	if (rc < 0)
		goto fail;
	ib->pkey = (uint16_t)c.pkey;
	ib->qkey = c.qkey;
	idx = ibv_get_pkey_index(ib->dev->ctx, ib->port_num, htons(ib->pkey));
	if (idx >= 0) {
		ib->pkey_index = (uint16_t)idx;
		/* RoCE sends the default P_Key whatever the index. */
		ib->pkey_hca = !ib->link_eth;
	} else if (ib->link_eth) {
		ib->pkey_index = 0;
		ib->pkey_hca = false;
	} else {
		snprintf(err, errlen, "%s port %u: P_Key 0x%04x is not in the port's "
			 "P_Key table (ask the subnet manager for the partition)",
			 c.dev, c.port, ib->pkey);
		rc = -EINVAL;
		goto fail;
	}
	ib->mtu = ib_mtu_bytes(pa.active_mtu);
	ib->imm = htonl(IB_IMM_MAGIC << 16 | ib->pkey);
	ib->nets = c.nets;
	ib->rq_depth = RTE_MIN(dp.cfg.rx_ring, 4096u);
	ib->sq_depth = RTE_MIN(dp.cfg.tx_ring, 4096u);
	ib->n_txq = (uint16_t)RTE_MIN(dp.n_workers, (unsigned int)DP_MAX_QUEUES);
	p->priv = ib;
	rc = ib_queues_create(ib, err, errlen);
	if (rc < 0)
		goto fail_q;
	p->n_rxq = 1;
	p->n_txq = ib->n_txq;
	/* A MAC of our own for the frames the rest of the pipeline sees. */
	p->mac = (struct rte_ether_addr){ { 0x02, 0x53, 0x49, 0x00,
		(uint8_t)(p->id >> 8), (uint8_t)p->id } };
	snprintf(p->driver, sizeof(p->driver), "verbs");
	snprintf(p->devname, sizeof(p->devname), "%.48s:%u", c.dev, c.port);
	log_info("ib %s: %s port %u gid[%d] qpn %u qkey 0x%x pkey 0x%04x (%s) mtu %u",
		 p->args.name, c.dev, c.port, ib->gid_index, ib->txq[0].qp->qp_num,
		 ib->qkey, ib->pkey, ib->pkey_hca ? "hca" : "software", ib->mtu);
	return 0;
fail_q:
	ib_queues_destroy(ib);
	p->priv = NULL;
fail:
	rte_free(ib);
	return rc;
}

static void ib_close(struct port *p)
{
	struct ib_port *ib = p->priv;

	if (ib == NULL)
		return;
	ib_queues_destroy(ib);
	ib_peers_free(ib);
	rte_free(ib);
	p->priv = NULL;
}

static bool ib_is_up(struct port *p)
{
	struct ib_port *ib = p->priv;
	struct ibv_port_attr pa;

	return ibv_query_port(ib->dev->ctx, ib->port_num, &pa) == 0 &&
	       pa.state == IBV_PORT_ACTIVE;
}

/* The sender's GID from the 40 bytes in front of the payload. */
static inline void ib_rx_sgid(const struct ib_port *ib, const uint8_t *grh,
			      uint8_t *gid)
{
	if (ib->rx_ipv4) {
		/* RoCE v2 over IPv4: the IPv4 header is the room's last 20
		 * bytes; its source address is the GID's last 4. */
		memset(gid, 0, 10);
		gid[10] = gid[11] = 0xff;
		memcpy(gid + 12, grh + 20 + 12, 4);
	} else {
		memcpy(gid, grh + 8, 16);
	}
}

static inline const struct ib_peer *ib_rx_peer(struct ib_port *ib,
					       const uint8_t *gid)
{
	const struct ib_peer *pe;
	uint16_t n = __atomic_load_n(&ib->peer_hiwat, __ATOMIC_ACQUIRE);

	pe = __atomic_load_n(&ib->peers[ib->last_peer], __ATOMIC_ACQUIRE);
	if (pe != NULL && memcmp(pe->gid, gid, 16) == 0)
		return pe;
	for (uint16_t i = 0; i < n; i++) {
		pe = __atomic_load_n(&ib->peers[i], __ATOMIC_ACQUIRE);
		if (pe != NULL && memcmp(pe->gid, gid, 16) == 0) {
			ib->last_peer = i;
			return pe;
		}
	}
	return NULL;
}

static inline void ib_rx_drop(struct port_counters *c, struct rte_mbuf *m,
			      uint32_t len, enum drop_reason r)
{
	c->rx_pkts++;
	c->rx_bytes += len;
	c->drops[r]++;
	rte_pktmbuf_free(m);
}

static uint16_t ib_rx(struct port *p, uint16_t q, struct rte_mbuf **pkts,
		      uint16_t n)
{
	struct ib_port *ib = p->priv;
	struct ibv_wc wc[DP_MAX_BURST];
	struct port_counters *c = NULL;
	uint64_t t0 = rte_rdtsc();
	uint16_t k = 0;
	int got;

	(void)q;
	if (unlikely(__atomic_load_n(&ib->paused, __ATOMIC_ACQUIRE)))
		return 0;
	got = ibv_poll_cq(ib->rcq, n, wc);
	if (got > 0) {
		ib->rq_posted -= (uint32_t)got;
		c = ib_counters(p);
	}
	for (int i = 0; i < got; i++) {
		struct rte_mbuf *m = (struct rte_mbuf *)(uintptr_t)wc[i].wr_id;
		uint8_t *grh = (uint8_t *)m->buf_addr + IB_RX_OFF;
		uint8_t *ip = grh + IB_GRH_LEN, gid[16];
		uint32_t len = wc[i].byte_len - IB_GRH_LEN;
		const struct ib_peer *pe;
		struct rte_ether_hdr *eth;

		if (i + 1 < got)
			rte_prefetch0((uint8_t *)((struct rte_mbuf *)(uintptr_t)
				wc[i + 1].wr_id)->buf_addr + IB_RX_OFF);
		if (unlikely(wc[i].status != IBV_WC_SUCCESS)) {
			ib_rx_drop(c, m, 0, DROP_IB_ERROR);
			continue;
		}
		if (unlikely(wc[i].byte_len < IB_GRH_LEN + 20 ||
			     !(wc[i].wc_flags & IBV_WC_GRH))) {
			ib_rx_drop(c, m, len, DROP_MALFORMED);
			continue;
		}
		if (unlikely(!(wc[i].wc_flags & IBV_WC_WITH_IMM) ||
			     wc[i].imm_data != ib->imm)) {
			ib_rx_drop(c, m, len, DROP_PARTITION);
			continue;
		}
		ib_rx_sgid(ib, grh, gid);
		pe = ib_rx_peer(ib, gid);
		if (unlikely(pe == NULL)) {
			ib_rx_drop(c, m, len, DROP_UNKNOWN_PEER);
			continue;
		}
		if (unlikely(!ib_net_ok(&ib->nets, ip, len))) {
			ib_rx_drop(c, m, len, DROP_PARTITION);
			continue;
		}
		eth = (struct rte_ether_hdr *)(ip - RTE_ETHER_HDR_LEN);
		switch (ip[0] >> 4) {
		case 4: eth->ether_type = RTE_BE16(RTE_ETHER_TYPE_IPV4); break;
		case 6: eth->ether_type = RTE_BE16(RTE_ETHER_TYPE_IPV6); break;
		default:
			ib_rx_drop(c, m, len, DROP_MALFORMED);
			continue;
		}
		eth->dst_addr = p->mac;
		port_ib_peer_mac(pe->slot, &eth->src_addr);
		m->data_off = RTE_PKTMBUF_HEADROOM;
		m->data_len = (uint16_t)(len + RTE_ETHER_HDR_LEN);
		m->pkt_len = len + RTE_ETHER_HDR_LEN;
		pkts[k++] = m;
	}
	if (ib->rq_depth - ib->rq_posted >= IB_RX_REFILL ||
	    unlikely(ib->rq_posted == 0))
		ib_rq_fill(ib, ib->rq_depth - ib->rq_posted);
	if (got > 0) {
		ib->rst.rx_cycles += rte_rdtsc() - t0;
		ib->rst.rx_pkts += (uint64_t)got;
	}
	return k;
}

/*
 * A packet the transmit path drops itself. The caller counts what this
 * function returns as sent (tx_pkts, tx_bytes); this one was not, so it
 * is taken off here first: the worker writes these counters alone, and
 * the sum is right once the caller has added its share.
 */
static inline void ib_tx_drop(struct port_counters *c, struct rte_mbuf *m,
			      uint32_t frame_len, enum drop_reason r)
{
	c->drops[r]++;
	c->tx_pkts--;
	c->tx_bytes -= frame_len;
	rte_pktmbuf_free(m);
}

/* A copy of m's IP packet in a registered mbuf, or NULL. */
static struct rte_mbuf *ib_tx_copy(struct ib_port *ib, struct rte_mbuf *m,
				   uint32_t len)
{
	struct rte_mbuf *cp = rte_pktmbuf_alloc(ib->dev->pool);
	void *dst;

	if (cp == NULL)
		return NULL;
	dst = rte_pktmbuf_append(cp, (uint16_t)len);
	if (dst == NULL ||
	    rte_pktmbuf_read(m, RTE_ETHER_HDR_LEN, len, dst) == NULL) {
		rte_pktmbuf_free(cp);
		return NULL;
	}
	return cp;
}

static uint16_t ib_tx(struct port *p, uint16_t q, struct rte_mbuf **pkts,
		      uint16_t n)
{
	struct ib_port *ib = p->priv;
	struct ib_txq *t = &ib->txq[q];
	struct ibv_send_wr wr[DP_MAX_BURST], *bad = NULL;
	struct ibv_sge sge[DP_MAX_BURST];
	struct rte_mbuf *sent[DP_MAX_BURST];
	struct port_counters *c = ib_counters(p);
	uint64_t t0 = rte_rdtsc();
	uint16_t i, k = 0;

	if (unlikely(__atomic_load_n(&ib->paused, __ATOMIC_ACQUIRE))) {
		for (i = 0; i < n; i++)
			ib_tx_drop(c, pkts[i], rte_pktmbuf_pkt_len(pkts[i]),
				   DROP_PORT_DOWN);
		return n;
	}
	ib_tx_reap(t);
	for (i = 0; i < n && t->head - t->tail + k < ib->sq_depth; i++) {
		struct rte_mbuf *m = pkts[i], *s = m;
		struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
		uint32_t len = rte_pktmbuf_pkt_len(m) - RTE_ETHER_HDR_LEN, lkey = 0;
		int slot = ib_mac_slot(&eth->dst_addr);
		const struct ib_peer *pe = slot >= 0 && slot < IB_MAX_PEERS ?
			__atomic_load_n(&ib->peers[slot], __ATOMIC_ACQUIRE) : NULL;
		uintptr_t a = rte_pktmbuf_mtod_offset(m, uintptr_t, RTE_ETHER_HDR_LEN);

		if (unlikely(pe == NULL)) {
			ib_tx_drop(c, m, rte_pktmbuf_pkt_len(m), DROP_NO_PEER);
			continue;
		}
		if (unlikely(rte_pktmbuf_pkt_len(m) <= RTE_ETHER_HDR_LEN ||
			     len > ib->mtu)) {
			ib_tx_drop(c, m, rte_pktmbuf_pkt_len(m), DROP_TOO_BIG);
			continue;
		}
		/* Another network's packet (routed here by a prefix of this
		 * partition's peers) does not enter the partition. */
		if (unlikely(!ib_net_ok(&ib->nets, (const uint8_t *)a,
					rte_pktmbuf_data_len(m) - RTE_ETHER_HDR_LEN))) {
			ib_tx_drop(c, m, rte_pktmbuf_pkt_len(m), DROP_PARTITION);
			continue;
		}
		if (unlikely(m->nb_segs != 1 || !ib_lkey(ib->dev, a, len, &lkey))) {
			s = ib_tx_copy(ib, m, len);
			if (s == NULL) {
				ib_tx_drop(c, m, rte_pktmbuf_pkt_len(m), DROP_TX_FULL);
				continue;
			}
			rte_pktmbuf_free(m);
			t->st.copied++;
			a = rte_pktmbuf_mtod(s, uintptr_t);
			ib_lkey(ib->dev, a, len, &lkey);
		}
		sge[k] = (struct ibv_sge){ .addr = a, .length = len, .lkey = lkey };
		t->ring[(t->head + k) & t->mask] = s;
		/* A completion every IB_SIGNAL_EVERY sends and at the end
		 * of the burst (below): fewer completions to make and poll. */
		wr[k] = (struct ibv_send_wr){
			.wr_id = t->head + k, .sg_list = &sge[k], .num_sge = 1,
			.opcode = IBV_WR_SEND_WITH_IMM, .imm_data = ib->imm,
			.send_flags = ((t->head + k) & (IB_SIGNAL_EVERY - 1)) ==
				IB_SIGNAL_EVERY - 1 ? IBV_SEND_SIGNALED : 0,
			.wr.ud = { .ah = pe->ah, .remote_qpn = pe->qpn,
				   .remote_qkey = pe->qkey },
		};
		if (k > 0)
			wr[k - 1].next = &wr[k];
		sent[k++] = s;
	}
	if (k > 0)
		wr[k - 1].send_flags = IBV_SEND_SIGNALED;
	if (k > 0 && ibv_post_send(t->qp, wr, &bad) != 0) {
		uint16_t ok = bad != NULL && bad >= wr && bad < wr + k ?
			(uint16_t)(bad - wr) : 0;

		/* Not posted: counted as a full queue. */
		for (uint16_t j = ok; j < k; j++)
			ib_tx_drop(c, sent[j], sge[j].length + RTE_ETHER_HDR_LEN,
				   DROP_TX_FULL);
		k = ok;
	}
	t->head += k;
	t->st.tx_cycles += rte_rdtsc() - t0;
	t->st.tx_pkts += i;
	return i;
}

static void ib_info(struct port *p, json_t *o)
{
	struct ib_port *ib = p->priv;
	struct ib_qstats s = ib->rst;
	char gs[INET6_ADDRSTRLEN];

	for (uint16_t q = 0; q < ib->n_txq; q++) {
		s.copied += ib->txq[q].st.copied;
		s.send_err += ib->txq[q].st.send_err;
		s.tx_cycles += ib->txq[q].st.tx_cycles;
		s.tx_pkts += ib->txq[q].st.tx_pkts;
	}
	json_object_set_new(o, "devargs", json_string(p->args.devargs));
	json_object_set_new(o, "fabric", json_pack(
		"{s:s, s:i, s:s, s:i, s:I, s:I, s:i, s:i, s:s, s:i, s:s, s:i}",
		"device", ib->dev->name, "port", (int)ib->port_num,
		"gid", inet_ntop(AF_INET6, ib->gid.raw, gs, sizeof(gs)),
		"gid_index", ib->gid_index,
		"qpn", (json_int_t)ib->txq[0].qp->qp_num, "qkey", (json_int_t)ib->qkey,
		"pkey", (int)ib->pkey, "pkey_index", (int)ib->pkey_index,
		"pkey_enforced_by", ib->pkey_hca ? "hca" : "software",
		"mtu", (int)ib->mtu,
		"link_layer", ib->link_eth ? "ethernet" : "infiniband",
		"tx_queues", (int)ib->n_txq));
	json_object_set_new(o, "mtu", json_integer(ib->mtu));
	{
		json_t *nets = json_array();
		char a[INET6_ADDRSTRLEN + 8], b[INET6_ADDRSTRLEN];

		for (unsigned int i = 0; i < ib->nets.n4; i++) {
			uint32_t be = htonl(ib->nets.v4[i].addr);

			snprintf(a, sizeof(a), "%s/%d", inet_ntop(AF_INET, &be, b,
				 sizeof(b)), __builtin_popcount(ib->nets.v4[i].mask));
			json_array_append_new(nets, json_string(a));
		}
		for (unsigned int i = 0; i < ib->nets.n6; i++) {
			snprintf(a, sizeof(a), "%s/%u", inet_ntop(AF_INET6,
				 ib->nets.v6[i].addr, b, sizeof(b)), ib->nets.v6[i].depth);
			json_array_append_new(nets, json_string(a));
		}
		json_object_set_new(o, "nets", nets);
	}
	json_object_set_new(o, "peers", port_ib_peer_list(p));
	json_object_set_new(o, "ib_stats", json_pack(
		"{s:I, s:I, s:I, s:I, s:I, s:I, s:i, s:I}",
		"tx_copied", (json_int_t)s.copied, "send_errors", (json_int_t)s.send_err,
		"rx_cycles", (json_int_t)s.rx_cycles, "rx_polled", (json_int_t)s.rx_pkts,
		"tx_cycles", (json_int_t)s.tx_cycles, "tx_handled", (json_int_t)s.tx_pkts,
		"rq_posted", (int)ib->rq_posted, "tsc_hz", (json_int_t)rte_get_tsc_hz()));
}

/*
 * Queue pair health (control path, once a second). A send that fails
 * (e.g. while the link is down) puts a UD QP in the error state, where it
 * stays: every later request is flushed. Once the port is ACTIVE again the
 * queues are reset in place, so the QPN (the fabric address the other
 * nodes know) stays the same. Workers keep out meanwhile: paused, then a
 * grace period, and the control thread owns the queues.
 */
static int ib_recover(struct port *p)
{
	struct ib_port *ib = p->priv;
	char err[256];
	int rc = 0;

	__atomic_store_n(&ib->paused, true, __ATOMIC_RELEASE);
	dp_sync();
	for (uint16_t q = 0; q < ib->n_txq; q++) {
		struct ibv_qp_attr a = { .qp_state = IBV_QPS_ERR };

		ibv_modify_qp(ib->txq[q].qp, &a, IBV_QP_STATE);
	}
	for (uint16_t q = 0; q < ib->n_txq; q++)
		ib_txq_drain(&ib->txq[q]);
	ib_drain(ib->rcq, &ib->rq_posted);
	/* Receives that did not complete in a second are forgotten (leaked):
	 * the device may still own them until the reset below. */
	ib->rq_posted = 0;
	for (uint16_t q = 0; q < ib->n_txq && rc == 0; q++) {
		struct ibv_qp_attr a = { .qp_state = IBV_QPS_RESET };

		rc = ibv_modify_qp(ib->txq[q].qp, &a, IBV_QP_STATE);
		if (rc == 0) {
			ib_txq_forget(&ib->txq[q]);  /* reset: the device let go */
			rc = ib_qp_up(ib, ib->txq[q].qp, err, sizeof(err));
		} else {
			snprintf(err, sizeof(err), "to RESET: %s", strerror(rc));
		}
	}
	while (rc == 0 && ib->rq_posted < ib->rq_depth &&
	       ib_rq_fill(ib, ib->rq_depth - ib->rq_posted) > 0)
		;
	if (rc != 0) {
		log_err("ib %s: resetting the queue pairs failed (%s); the port "
			"stays down: delete and add it", p->args.name, err);
		return -EIO;  /* stays paused: its traffic counts as port_down */
	}
	__atomic_store_n(&ib->paused, false, __ATOMIC_RELEASE);
	log_warn("ib %s: queue pairs were in error (link down?): reset, QPN %u "
		 "kept", p->args.name, ib->txq[0].qp->qp_num);
	return 0;
}

static int ib_ctl_fds(struct port *p, int *fds, int max)
{
	struct ib_port *ib = p->priv;

	if (max < 1 || ib == NULL || ib->dev->tfd < 0)
		return 0;
	fds[0] = ib->dev->tfd;
	return 1;
}

static void ib_ctl_handle(struct port *p, int fd)
{
	struct ib_port *ib = p->priv;
	struct ibv_port_attr pa;
	uint64_t ticks;

	/* Ports of one device share the timer: whoever reads it, each
	 * port checks its own queues. */
	if (read(fd, &ticks, sizeof(ticks)) < 0)
		(void)0;
	if (ibv_query_port(ib->dev->ctx, ib->port_num, &pa) != 0 ||
	    pa.state != IBV_PORT_ACTIVE)
		return;
	for (uint16_t q = 0; q < ib->n_txq; q++) {
		struct ibv_qp_attr a;
		struct ibv_qp_init_attr ia;

		if (ibv_query_qp(ib->txq[q].qp, &a, IBV_QP_STATE, &ia) != 0 ||
		    a.qp_state != IBV_QPS_RTS ||
		    __atomic_load_n(&ib->paused, __ATOMIC_ACQUIRE)) {
			ib_recover(p);
			return;
		}
	}
}

const struct port_ops port_ib_ops = {
	.kind = "ib",
	.open = ib_open,
	.close = ib_close,
	.rx = ib_rx,
	.tx = ib_tx,
	.ctl_fds = ib_ctl_fds,
	.ctl_handle = ib_ctl_handle,
	.is_up = ib_is_up,
	.info = ib_info,
};

