/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * memif_server internals shared by its control path (memif_server.c) and
 * its data path (memif_server_dp.c). Private to dataplane/.
 */
#ifndef SHUNT_MEMIF_SERVER_INTERNAL_H
#define SHUNT_MEMIF_SERVER_INTERNAL_H

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/vfs.h>
#include <rte_branch_prediction.h>
#include <rte_common.h>
#include <rte_mbuf.h>
#include <rte_memcpy.h>
#include <rte_mempool.h>
#include <rte_prefetch.h>
#include <rte_rcu_qsbr.h>
#include "log.h"
#include "shunt/memif_proto.h"
#include "memif_server.h"

/* Limits on what a client may ask of us. */
#define MEMIF_SERVER_MAX_REGIONS	16
/* Descriptor offsets are 32 bit: nothing past 4 GiB is addressable. */
#define MEMIF_SERVER_MAX_REGION_SIZE	(UINT64_C(1) << 32)
#define MEMIF_SERVER_MAX_QUEUES		1024
/* Ring indexes are 16 bit, so a ring holds at most 2^15 descriptors. */
#define MEMIF_SERVER_MAX_LOG2_RING	15
/* A handshake older than this loses its slot to the next client. */
#define MEMIF_SERVER_HANDSHAKE_TIMEOUT_NS	(UINT64_C(5) * 1000000000)

/* Data path: longest descriptor chain of one packet, largest packet. */
#define MEMIF_SERVER_MAX_CHAIN		64
#define MEMIF_SERVER_MAX_PKT_LEN	UINT16_MAX
/* Descriptors copied and checked per step of rx_burst. */
#define MEMIF_SERVER_RX_WINDOW		64
_Static_assert(MEMIF_SERVER_RX_WINDOW >= MEMIF_SERVER_MAX_CHAIN,
	       "a whole chain must fit in one rx window");

/* DPDK's net_memif clients copy at most 106 name bytes after the NUL. */
#define MEMIF_SERVER_NAME_MAX		106

enum memif_server_state {
	MEMIF_SERVER_ST_INIT,		/* HELLO sent, waiting for INIT */
	MEMIF_SERVER_ST_CONFIG,		/* INIT accepted: regions, rings, CONNECT */
	MEMIF_SERVER_ST_CONNECTED,	/* published to the data path */
};

/* Drop counters of one queue; one cache line, one writer (its worker). */
struct memif_server_qstats {
	uint64_t bad_desc;
	uint64_t rx_nombuf;
	uint64_t tx_full;
	uint64_t tx_too_big;
} __rte_cache_aligned;

struct memif_server_region {
	uint8_t *addr;			/* NULL: slot unused */
	uint64_t size;			/* mapped length == declared size */
};

struct memif_server_queue {
	/* data path */
	struct memif_proto_ring *ring;
	uint16_t next;			/* our tail: private, never read back from shm */
	uint16_t mask;
	uint16_t size;
	int int_fd;			/* client's eventfd, -1: none */
	/* control path, during the handshake */
	bool set;
	uint8_t log2;
	uint16_t region;
	uint32_t offset;
} __rte_cache_aligned;

struct memif_server_conn {
	/* data path, read-only while published */
	uint16_t nregions;
	uint16_t n_c2s;
	uint16_t n_s2c;
	struct memif_server_region regions[MEMIF_SERVER_MAX_REGIONS];
	struct memif_server_queue *c2s;	/* [max_queues] */
	struct memif_server_queue *s2c;	/* [max_queues] */
	/* control path */
	int sock;
	enum memif_server_state state;
	uint64_t accepted_ns;
	char peer_name[MEMIF_PROTO_NAME_SZ];
};

struct memif_server {
	/* data path */
	struct memif_server_conn *live;	/* RCU-published; NULL: no rings */
	struct rte_mempool *pool;
	uint16_t room;			/* mbuf data room after headroom */
	struct memif_server_qstats *rxq_stats;	/* [max_queues] */
	struct memif_server_qstats *txq_stats;	/* [max_queues] */
	/* control path: own cache lines, away from what workers read */
	int listen_fd __rte_cache_aligned;
	struct memif_server_conn *cc;	/* current client, any state */
	struct rte_rcu_qsbr *qsbr;
	uint32_t id;
	uint16_t max_queues;
	uint8_t max_log2_ring;
	bool has_secret;
	uint8_t secret[MEMIF_PROTO_SECRET_SZ];
	char if_name[MEMIF_PROTO_NAME_SZ];
	char name[MEMIF_SERVER_NAME_MAX + 1];
	uint64_t connects;
	uint64_t disconnects;
	uint64_t refused;
};


#endif
