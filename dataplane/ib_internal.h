/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The ib uplink's objects, shared by port_ib.c (port ops, data path),
 * ib_dev.c (devices, registered memory, devargs) and ib_peer.c (peers).
 * Private to dataplane/; the design is described in port_ib.c.
 */
#ifndef SHUNT_IB_INTERNAL_H
#define SHUNT_IB_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <infiniband/verbs.h>
#include <rte_byteorder.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include "dp.h"

#define IB_GRH_LEN      40
#define IB_MAX_DEVS     8
#define IB_MAX_MR       64
#define IB_MAX_PEERS    256      /* per uplink */
#define IB_POOL_MBUFS   16383    /* per device: receive queues of its ports */
#define IB_IMM_MAGIC    0x5348u  /* "SH" */
#define IB_DEF_QKEY     0x53480000u  /* | (pkey & 0x7fff) by default */
#define IB_RX_OFF       (RTE_PKTMBUF_HEADROOM + RTE_ETHER_HDR_LEN - IB_GRH_LEN)
#define IB_RX_REFILL    32       /* post receives in batches of at least */
#ifndef IB_SIGNAL_EVERY
#define IB_SIGNAL_EVERY 32       /* a send completion every N sends (power of 2) */
#endif

/* Locally administered; the last two bytes are the peer's slot. */
extern const uint8_t ib_peer_mac_prefix[4];

/* An opened device: kept for the life of the process, so mbufs of its
 * pool may travel anywhere (other ports' queues) without a lifetime
 * question. Control path only, but mr[] is read by workers: it is filled
 * before the first port of the device is published and never changes. */
struct ib_dev {
	char name[64];
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct rte_mempool *pool;   /* receive buffers, room for a 4096 MTU */
	int tfd;                    /* 1 s timer: queue pair health checks */
	unsigned int n_mr;
	struct {
		uintptr_t start, end;
		uint32_t lkey;
		struct ibv_mr *mr;
	} mr[IB_MAX_MR];
};

#define IB_MAX_NETS 16

/* The partition's address space: pod addresses on every node of it. */
struct ib_nets {
	uint8_t n4, n6;
	struct { uint32_t addr, mask; } v4[IB_MAX_NETS];   /* host order */
	struct { uint8_t addr[16]; uint8_t depth; } v6[IB_MAX_NETS];
};

struct ib_peer {
	char name[64];
	uint8_t gid[16];
	uint32_t qpn, qkey;
	uint16_t pkey;
	uint16_t slot;
	struct ibv_ah *ah;
};

/* Data path counters of one queue; written by the worker that polls it. */
struct ib_qstats {
	uint64_t copied;      /* sends that needed a copy (unregistered mbuf) */
	uint64_t send_err;    /* send completions with an error */
	uint64_t rx_cycles, rx_pkts, tx_cycles, tx_pkts;
};

struct ib_txq {
	struct ibv_qp *qp;
	struct ibv_cq *cq;          /* send completions */
	/* Posted sends, in order: ring[i & mask] for tail <= i < head. Only
	 * some are signaled; a completion (in order on one QP) frees every
	 * send up to its own. */
	struct rte_mbuf **ring;
	uint32_t mask, head, tail;
	struct ib_qstats st;
} __rte_cache_aligned;

struct ib_port {
	struct ib_dev *dev;
	uint8_t port_num;
	int gid_index;
	union ibv_gid gid;
	bool rx_ipv4;               /* RoCE v2 with an IPv4 GID: IPv4 header in the GRH room */
	bool pkey_hca;              /* the HCA enforces the P_Key */
	bool link_eth;
	uint16_t pkey, pkey_index;
	uint32_t qkey, mtu, sq_depth, rq_depth;
	uint32_t imm;               /* network order */
	bool paused;                /* data path reads: queues being reset */
	struct ib_nets nets;        /* empty: addresses not checked */
	/* receive: queue 0, polled by the port's worker (data path) */
	struct ibv_cq *rcq;
	uint32_t rq_posted;
	uint16_t last_peer;
	struct ib_qstats rst;
	uint16_t n_txq;
	struct ib_txq txq[DP_MAX_QUEUES];
	/* data path reads, control path publishes (RCU) */
	uint16_t peer_hiwat;
	struct ib_peer *peers[IB_MAX_PEERS];
};

struct ib_conf {
	char dev[64];
	unsigned int port;
	int gid_index;    /* -1: the first RoCE v2 GID on Ethernet, else 0 */
	uint32_t pkey, qkey;
	bool has_qkey;
	struct ib_nets nets;
};

/* ib_dev.c: open device name once for the process (never closed). NULL
 * with err filled on failure. */
struct ib_dev *ib_dev_get(const char *name, char *err, size_t errlen);
/* Parse "DEVICE:PORT[,gid_index=N][,pkey=P][,qkey=Q][,net=PREFIX]...";
 * 0 or -EINVAL with err. */
int ib_conf_parse(const char *s, struct ib_conf *c, char *err, size_t errlen);
/* ib_peer.c: destroy every peer of a closed port. */
void ib_peers_free(struct ib_port *ib);

static inline int ib_mac_slot(const struct rte_ether_addr *mac)
{
	if (memcmp(mac->addr_bytes, ib_peer_mac_prefix, 4) != 0)
		return -1;
	return mac->addr_bytes[4] << 8 | mac->addr_bytes[5];
}

static inline bool ib_lkey(const struct ib_dev *d, uintptr_t a, uint32_t len,
			   uint32_t *lkey)
{
	for (unsigned int i = 0; i < d->n_mr; i++)
		if (a >= d->mr[i].start && a + len <= d->mr[i].end) {
			*lkey = d->mr[i].lkey;
			return true;
		}
	return false;
}

static inline bool ib_net_has4(const struct ib_nets *n, rte_be32_t a)
{
	uint32_t h = rte_be_to_cpu_32(a);

	for (unsigned int i = 0; i < n->n4; i++)
		if ((h & n->v4[i].mask) == n->v4[i].addr)
			return true;
	return false;
}

static inline bool ib_net_has6(const struct ib_nets *n, const uint8_t *a)
{
	for (unsigned int i = 0; i < n->n6; i++) {
		unsigned int d = n->v6[i].depth, bytes = d / 8, rem = d % 8;

		if (memcmp(a, n->v6[i].addr, bytes) == 0 &&
		    (rem == 0 || ((a[bytes] ^ n->v6[i].addr[bytes]) &
				  (uint8_t)(0xff << (8 - rem))) == 0))
			return true;
	}
	return false;
}

/* Both addresses of the IP packet at ip (len bytes) are in the
 * partition's address space (true when it has none configured). */
static inline bool ib_net_ok(const struct ib_nets *n, const uint8_t *ip,
			     uint32_t len)
{
	if (n->n4 == 0 && n->n6 == 0)
		return true;
	if ((ip[0] >> 4) == 4 && len >= sizeof(struct rte_ipv4_hdr)) {
		const struct rte_ipv4_hdr *h = (const struct rte_ipv4_hdr *)ip;

		return ib_net_has4(n, h->src_addr) && ib_net_has4(n, h->dst_addr);
	}
	if ((ip[0] >> 4) == 6 && len >= sizeof(struct rte_ipv6_hdr)) {
		const struct rte_ipv6_hdr *h = (const struct rte_ipv6_hdr *)ip;

		return ib_net_has6(n, h->src_addr) && ib_net_has6(n, h->dst_addr);
	}
	return false;
}

#endif
