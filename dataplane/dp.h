/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * shunt-dataplane's shared state (private to dataplane/).
 *
 * One writer: the control thread (main lcore) changes everything here.
 * Workers only read, and only what is marked "data path". Objects that
 * workers may hold a pointer to are unpublished first and freed after
 * dp_sync() (an RCU grace period on dp.qsbr), following DPDK's
 * lib/bpf/bpf_pkt.c.
 */
#ifndef SHUNT_DP_H
#define SHUNT_DP_H

#include <stdbool.h>
#include <stdint.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <rte_ether.h>
#include <rte_spinlock.h>
#include <jansson.h>
#include "pkt.h"
#include "stats.h"

#define DP_MAX_PORTS    256
#define DP_MAX_WORKERS  16
#define DP_MAX_BURST    128
#define DP_MAX_QUEUES   8
#define DP_NAME_LEN     32

struct port;
struct port_filters;
struct filter_chain;
struct rte_mbuf;

/* What port.add asks for, parsed and validated by the control channel. */
struct port_args {
	char name[DP_NAME_LEN];
	char kind[8];
	bool pod;                 /* pod port: anti-spoofing, gateway answers */
	struct pod_identity id;
	/* memif */
	char netns[PATH_MAX];
	char socket[100];
	char secret[25];
	uint32_t memif_id;
	uint16_t queues;
	/* veth */
	char ifname[IF_NAMESIZE];
	char veth_mode[12];       /* auto, af_xdp, af_packet */
	/* eth */
	char devargs[512];
	struct pod_identity local; /* the uplink's own addresses (ARP/ND) */
	bool has_mac;
	struct rte_ether_addr mac;  /* our MAC on a memif port (else generated) */
};

/* One kind of port. All callbacks but rx/tx run on the control thread. */
struct port_ops {
	const char *kind;
	/* Set up p (p->args filled). Returns 0 or -errno with err filled. */
	int (*open)(struct port *p, char *err, size_t errlen);
	/* Release everything; workers have moved past p already. */
	void (*close)(struct port *p);
	/* Data path. */
	uint16_t (*rx)(struct port *p, uint16_t q, struct rte_mbuf **pkts,
		       uint16_t n);
	uint16_t (*tx)(struct port *p, uint16_t q, struct rte_mbuf **pkts,
		       uint16_t n);
	/* Optional: fds the control thread watches for this port. */
	int (*ctl_fds)(struct port *p, int *fds, int max);
	void (*ctl_handle)(struct port *p, int fd);
	/* Link/connection state, for port.list. */
	bool (*is_up)(struct port *p);
	/* Optional: kind-specific fields for port.list. */
	void (*info)(struct port *p, json_t *o);
};

struct port {
	/* data path: read by workers */
	const struct port_ops *ops;
	uint16_t id;
	uint16_t n_rxq, n_txq;
	bool tx_shared;           /* fewer tx queues than workers: lock */
	struct pod_identity *pod; /* NULL for the uplink */
	struct rte_ether_addr mac;/* ours on this port */
	uint16_t eth_port;        /* ethdev ports */
	void *priv;               /* kind's private state */
	rte_spinlock_t txq_lock[DP_MAX_QUEUES];
	/* data path: eBPF filter chains, [SHUNT_DIR_FROM_POD, SHUNT_DIR_TO_POD] */
	struct filter_chain *filters[2];

	/* control path */
	struct port_args args;
	char driver[16];          /* af_xdp, af_packet, memif, devargs' driver */
	char devname[64];         /* vdev name, for uninit */
	int worker;               /* index into dp.workers */
	uint16_t nh;              /* next hop to this pod (pod ports) */
	struct port_counters base;/* counters when the id was (re)used */
	struct port_filters *pf[2];/* what the chains are made of */
	struct rte_mempool *pool; /* own receive pool (AF_XDP), or NULL */
};

/* What one worker polls. Published whole, with RCU. */
struct poll_list {
	uint16_t n;
	struct {
		struct port *port;
		uint16_t q;
	} e[];
};

/* One word, so the control thread can change a resolved neighbour's MAC
 * with one atomic store while workers read it. */
union nexthop {
	struct {
		uint16_t port;
		struct rte_ether_addr mac;  /* destination MAC to write */
	};
	uint64_t u64;
};

struct dp_config {
	/* data path reads these with plain loads; they are single words */
	uint32_t burst;
	uint32_t idle_sleep_us;
	/* control path, for ports added later */
	uint32_t rx_ring, tx_ring;
};

struct dp_state {
	struct port *ports[DP_MAX_PORTS];        /* data path */
	struct poll_list *poll[DP_MAX_WORKERS];  /* data path */
	union nexthop *nh;                       /* data path, ROUTE_MAX_NH */
	struct rte_ring *punt[DP_MAX_WORKERS];   /* worker -> control: uplink ARP/ND */
	struct rte_ring *inject[DP_MAX_WORKERS]; /* control -> worker: frames to send,
						  * mbuf->port = output port id */
	struct rte_fib *fib4;                    /* data path */
	struct rte_fib6 *fib6;                   /* data path */
	struct port_counters *counters[DP_MAX_WORKERS]; /* [DP_MAX_PORTS] */
	struct worker_counters wcnt[DP_MAX_WORKERS];
	struct dp_config cfg;
	volatile bool quit;

	/* control path */
	struct rte_rcu_qsbr *qsbr;
	struct rte_mempool *pool;
	unsigned int n_workers;
	unsigned int worker_lcore[DP_MAX_WORKERS];
	uint32_t mac_seq;
};

extern struct dp_state dp;

/* Wait until every worker has passed a quiescent point. Control path. */
void dp_sync(void);

/* port.c */
int port_add(const struct port_args *a, struct port **out, char *err,
	     size_t errlen);
int port_del(const char *name);
struct port *port_find(const char *name);
int port_set_worker(struct port *p, int worker);
int port_publish_poll(void);
void port_del_all(void);
void port_to_json(struct port *p, json_t *o);
void port_counters_sum(const struct port *p, struct port_counters *sum);
extern const struct port_ops port_memif_ops, port_veth_ops, port_eth_ops,
	port_ib_ops;
/* Once a second from the control loop: frees closed AF_XDP ports' pools. */
void port_ethdev_tick(void);
/* Work for when the control loop is idle (a spare AF_XDP pool). */
bool port_ethdev_idle_pending(void);
void port_ethdev_idle(void);

/* data path helper: transmit on the worker's queue of p. */
static inline uint16_t port_tx(struct port *p, unsigned int w,
			       struct rte_mbuf **pkts, uint16_t n)
{
	uint16_t q = (uint16_t)(w % p->n_txq), sent;

	if (!p->tx_shared)
		return p->ops->tx(p, q, pkts, n);
	rte_spinlock_lock(&p->txq_lock[q]);
	sent = p->ops->tx(p, q, pkts, n);
	rte_spinlock_unlock(&p->txq_lock[q]);
	return sent;
}

/* ib_peer.c: peers of an ib uplink (control path). A peer is another
 * node's UD address on the uplink's partition. */
struct ib_peer_args {
	char name[64];
	uint8_t gid[16];
	uint32_t qpn, qkey;
	uint16_t pkey;
};
/* 0 (also for the same peer again) or -errno with err filled. */
int port_ib_peer_add(struct port *p, const struct ib_peer_args *a, char *err,
		     size_t errlen);
/* Removes the peer's routes too. 0 or -ENOENT/-EINVAL with err. */
int port_ib_peer_del(struct port *p, const char *name, char *err, size_t errlen);
/* The next-hop MAC that routes to peer name carry: 0, or -errno with err. */
int port_ib_peer_nexthop(struct port *p, const char *name,
			 struct rte_ether_addr *mac, char *err, size_t errlen);
/* The peer a next-hop MAC names on p, or NULL. */
const char *port_ib_peer_name(struct port *p, const struct rte_ether_addr *mac);
json_t *port_ib_peer_list(struct port *p);
void port_ib_peer_mac(uint16_t slot, struct rte_ether_addr *mac);

/* route.c */
#define ROUTE_MAX_NH 32768  /* rte_fib 2-byte next hops: 15 bits */
#define ROUTE_NH_NONE 0   /* fib default: no route */
int route_init(char *err, size_t errlen);
int route_add(const char *prefix, const char *port, const struct rte_ether_addr *mac,
	      const char *via, bool owned_by_port, char *err, size_t errlen);
/* neigh.c calls this when a next hop's MAC is learned or changes. */
void route_neigh_update(uint16_t port, int family, const uint8_t *ip,
			const struct rte_ether_addr *mac);
int route_del(const char *prefix, char *err, size_t errlen);
void route_del_port(uint16_t port);
/* Delete the routes through port whose next hop is mac (an ib peer). */
void route_del_nexthop(uint16_t port, const struct rte_ether_addr *mac);
json_t *route_list(void);

/* neigh.c: next hops on uplinks, resolved with ARP / ND (control path) */
int neigh_init(void);
/* Track ip on port; 1 and *mac filled if known, 0 if a request went out. */
int neigh_want(uint16_t port, int family, const uint8_t *ip,
	       struct rte_ether_addr *mac);
void neigh_poll(void);          /* drain punted frames: learn and answer */
void neigh_tick(uint64_t now_ms);
void neigh_del_port(uint16_t port);
/* No route uses this next hop any more: stop asking for it. */
void neigh_release(uint16_t port, int family, const uint8_t *ip);
json_t *neigh_list(void);

/* filter_ctl.c: control methods for eBPF filters */
json_t *filter_m_load(json_t *params, int *code, char *err, size_t errlen);
json_t *filter_m_unload(json_t *params, int *code, char *err, size_t errlen);
json_t *filter_m_attach(json_t *params, int *code, char *err, size_t errlen);
json_t *filter_m_detach(json_t *params, int *code, char *err, size_t errlen);
json_t *filter_m_rules(json_t *params, int *code, char *err, size_t errlen);
json_t *filter_m_list(json_t *params, int *code, char *err, size_t errlen);
/* The verdict cache's counts, as filter.list and stats report them. */
json_t *filter_cache_json(void);
void filter_port_detach(struct port *p, int dir);

/* lcore.c */
int lcore_worker_main(void *arg);

/* ctl.c */
int ctl_open(const char *path);
int ctl_fds(struct pollfd *pfd, int max);
void ctl_handle(struct pollfd *pfd, int n);
void ctl_close(void);
/* ctl_methods.c: the method table the control socket serves */
struct jsonl_method;
const struct jsonl_method *ctl_methods(size_t *n);

#endif
