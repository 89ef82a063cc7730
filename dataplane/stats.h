/* SPDX-License-Identifier: BSD-3-Clause */
/* Drop reasons, declared once; counted per port and reported by name. */
#ifndef SHUNT_STATS_H
#define SHUNT_STATS_H

#include <stdint.h>
#include <rte_common.h>

#define DROP_REASONS(X) \
	X(MALFORMED,     "malformed")      /* truncated or invalid header */ \
	X(UNSUPPORTED,   "unsupported")    /* ethertype or protocol not routed */ \
	X(NOT_FOR_US,    "not_for_us")     /* destination MAC is not ours */ \
	X(SPOOF_MAC,     "spoof_mac")      /* pod sent from a MAC not its own */ \
	X(SPOOF_IP,      "spoof_ip")       /* pod sent from an address not its own */ \
	X(NO_ROUTE,      "no_route") \
	X(TTL_EXPIRED,   "ttl_expired") \
	X(PORT_DOWN,     "port_down")      /* next hop's port gone or not connected */ \
	X(TX_FULL,       "tx_full")        /* output queue full */ \
	X(HAIRPIN,       "hairpin")        /* route points back out the input pod port */ \
	X(NEIGH_IGNORED, "neigh_ignored")  /* ARP/ND not for the gateway */ \
	X(FILTER,        "filter")         /* an eBPF filter said drop */ \
	X(NO_PEER,       "no_peer")        /* ib: the route's peer is gone */ \
	X(TOO_BIG,       "too_big")        /* ib: larger than the fabric MTU */ \
	X(UNKNOWN_PEER,  "unknown_peer")   /* ib: sender GID is no peer of the uplink */ \
	X(PARTITION,     "partition")      /* ib: another partition's packet */ \
	X(IB_ERROR,      "ib_error")       /* ib: receive completed in error */

enum drop_reason {
#define X(id, name) DROP_##id,
	DROP_REASONS(X)
#undef X
	DROP_MAX
};

extern const char *const drop_reason_names[DROP_MAX];

/* One worker's polling rounds (written by that worker only): the share of
 * its time spent in rounds that received frames says how loaded it is
 * (near 1: saturated). */
struct worker_counters {
	uint64_t rounds;       /* polls of its ports */
	uint64_t busy_rounds;  /* polls that received something */
	uint64_t busy_tsc;     /* TSC cycles spent in those */
} __rte_cache_aligned;

/* One port's counters on one worker; written by that worker only. */
struct port_counters {
	uint64_t rx_pkts, rx_bytes, tx_pkts, tx_bytes;
	uint64_t neigh_replies;  /* ARP/NA answers sent */
	uint64_t drops[DROP_MAX];
} __rte_cache_aligned;

#endif
