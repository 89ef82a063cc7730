/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * memif_server: shunt's own implementation of the memif wire protocol,
 * server ("master") side, for pod ports.
 *
 * Why not DPDK's memif PMD: in DPDK 22.11 the PMD unmaps a client's shared
 * regions from the EAL interrupt thread with no handshake with the data
 * path, so a pod that dies mid-traffic can crash a forwarding lcore (see
 * shared/FACTS.md). Here the region lifetimes belong to the data plane: a
 * disconnect unpublishes the connection, and its regions are unmapped only
 * after every worker has passed an RCU quiescent point.
 *
 * Threads:
 *  - control path: create/destroy/fd/handle, called from one thread only
 *    (the data plane's main lcore).
 *  - data path: rx_burst/tx_burst, called by at most one worker lcore per
 *    queue, lock-free; they never fail, they count.
 * Pod apps keep using an ordinary memif client (DPDK's net_memif with
 * role=client, or libmemif).
 */
#ifndef SHUNT_MEMIF_SERVER_H
#define SHUNT_MEMIF_SERVER_H

#include <stdint.h>
#include <stdbool.h>

struct rte_mbuf;
struct rte_mempool;
struct rte_rcu_qsbr;

struct memif_server;

struct memif_server_config {
	const char *socket_name;  /* abstract unix socket name (no leading NUL) */
	const char *netns_path;   /* create the socket inside this netns; NULL: current */
	const char *secret;       /* optional, at most 24 bytes; NULL: none */
	const char *if_name;      /* name announced to the client (<= 31 chars) */
	uint32_t id;              /* interface id the client must ask for */
	uint8_t max_log2_ring;    /* largest ring the client may create (e.g. 14) */
	uint16_t max_queues;      /* per direction, >= 1 */
	struct rte_mempool *pool; /* mbufs for received packets */
	struct rte_rcu_qsbr *qsbr;/* workers report quiescent states on it */
};

struct memif_server_stats {
	uint64_t connects;        /* completed handshakes */
	uint64_t disconnects;
	uint64_t refused;         /* handshakes refused (bad secret, version, region, ...) */
	uint64_t bad_desc;        /* descriptors rejected by validation (data path) */
	uint64_t rx_nombuf;       /* no mbuf for a received packet */
	uint64_t tx_full;         /* packets not sent: client ring full / no buffers */
	uint64_t tx_too_big;      /* packet larger than the client's buffer chain */
};

/*
 * Create the listening socket (inside netns_path if given).
 * Returns 0 and sets *out, or -errno (-EADDRINUSE: name taken in that netns,
 * -ENOENT: netns missing, -EINVAL: bad config).
 */
int memif_server_create(const struct memif_server_config *cfg,
			struct memif_server **out);

/*
 * Close the listener and any connection, wait for an RCU grace period,
 * unmap and free everything. The socket name is free again on return.
 */
void memif_server_destroy(struct memif_server *s);

/*
 * Every fd the control path must watch for reading (listener and the
 * current connection's control socket). Fills up to max, returns the count.
 * The set changes after memif_server_handle(); callers re-query it.
 */
int memif_server_fds(const struct memif_server *s, int *fds, int max);

/*
 * Handle a readable fd returned by memif_server_fds(): accept, run the
 * handshake, or tear down a connection whose peer left. Never blocks.
 * Returns 0, or -errno on a fault that closed the connection (logged at
 * debug; counted).
 */
int memif_server_handle(struct memif_server *s, int fd);

/* True once the handshake is complete and rings are live. */
bool memif_server_connected(const struct memif_server *s);

/*
 * Data path. Receive up to n packets the client sent on queue qid
 * (client-to-server ring). Packets are copied into mbufs from cfg->pool
 * (multi-segment when longer than the mbuf data room). Returns the count;
 * 0 when not connected or qid is not a live queue.
 */
uint16_t memif_server_rx_burst(struct memif_server *s, uint16_t qid,
			       struct rte_mbuf **pkts, uint16_t n);

/*
 * Data path. Send up to n packets to the client on queue qid
 * (server-to-client ring). Returns how many were consumed: those are
 * copied out and freed. The rest stay with the caller.
 */
uint16_t memif_server_tx_burst(struct memif_server *s, uint16_t qid,
			       struct rte_mbuf **pkts, uint16_t n);

/* Number of queues the connected client created per direction (0 if none). */
uint16_t memif_server_queues(const struct memif_server *s);

void memif_server_stats_get(const struct memif_server *s,
			    struct memif_server_stats *st);

#endif
