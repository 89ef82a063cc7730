/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The wire contract of shunt-dataplane's control channel. Every side
 * (shunt-dataplane, shuntd, tests) includes this one header.
 *
 * Transport: a unix stream socket (mode 0600; the peer must be root or the
 * data plane's own uid). One JSON object per line, both ways:
 *   request:  {"id": <int|string>, "method": "<name>", "params": {...}}
 *   response: {"id": <same>, "result": {...}}
 *         or  {"id": <same>, "error": {"code": <int>, "message": "<text>"}}
 * A request longer than DP_API_MAX_REQUEST bytes gets an error and the
 * connection is closed; at most DP_API_MAX_CLIENTS connections at once;
 * an idle connection is closed after DP_API_IDLE_TIMEOUT_MS.
 */
#ifndef SHUNT_DP_API_H
#define SHUNT_DP_API_H

#define DP_API_VERSION 1
#define DP_API_MAX_REQUEST (64 * 1024)
#define DP_API_MAX_CLIENTS 16
#define DP_API_IDLE_TIMEOUT_MS (5 * 60 * 1000)
#define DP_API_DEFAULT_SOCKET "/run/shunt/dataplane.sock"

/* Methods. */
#define DP_M_VERSION    "version"
#define DP_M_PORT_ADD   "port.add"    /* name, kind, ... -> id, mac, driver;
				       * eth: devargs, [ips] (own addresses);
				       * ib: devargs "DEVICE:PORT[,gid_index=N]
				       * [,pkey=P][,qkey=Q]" -> also fabric
				       * {gid, qpn, qkey, pkey, mtu, ...} */
#define DP_M_PORT_DEL   "port.del"    /* name */
#define DP_M_PORT_LIST  "port.list"   /* -> ports[] */
#define DP_M_ROUTE_ADD  "route.add"   /* prefix, port, [mac | via | peer (ib)] */
#define DP_M_ROUTE_DEL  "route.del"   /* prefix */
#define DP_M_ROUTE_LIST "route.list"  /* -> routes[] */
#define DP_M_NEIGH_LIST "neigh.list"  /* -> neighbours[] (uplink next hops) */
#define DP_M_STATS      "stats"       /* [port] -> ports[] with counters, drops{} */
/* eBPF filters (ebpf/README.md): */
#define DP_M_FILTER_LOAD   "filter.load"    /* name, path (ELF) -> name, jit, insns */
#define DP_M_FILTER_UNLOAD "filter.unload"  /* name */
/* port, dir (from_pod|to_pod), filters[]: {filter, [rules], [rate],
 * [watch_drops]}; rules: {default, malformed, rules[]: {action, src, dst,
 * family, proto, dport}}; rate: {bytes_per_s, burst}. Replaces the chain
 * atomically. */
#define DP_M_FILTER_ATTACH "filter.attach"
#define DP_M_FILTER_DETACH "filter.detach"  /* port, dir */
#define DP_M_FILTER_RULES  "filter.rules"   /* port, dir, [index], rules: no reload */
#define DP_M_FILTER_LIST   "filter.list"    /* -> loaded[], attached[] with stats */
#define DP_M_FILTER_STATS  "filter.stats"   /* the same as filter.list */
/* Peers of an ib uplink (another node's UD address on the partition):
 * port, name, gid (IPv6 form), qpn, qkey, pkey. P_Key and Q_Key must be
 * the uplink's. Idempotent for the same gid and qpn. */
#define DP_M_PEER_ADD   "peer.add"
#define DP_M_PEER_DEL   "peer.del"    /* port, name: its routes go too */
#define DP_M_PEER_LIST  "peer.list"   /* -> peers[] {port, name, gid, qpn, ...} */
#define DP_M_CONFIG_GET "config.get"
#define DP_M_CONFIG_SET "config.set"  /* any of the config keys below */

/* Port kinds (port.add "kind"). */
#define DP_PORT_MEMIF "memif"   /* pod port: memif server in the pod's netns */
#define DP_PORT_VETH  "veth"    /* pod port: host end of a veth */
#define DP_PORT_ETH   "eth"     /* uplink: any DPDK device by devargs */
#define DP_PORT_IB    "ib"      /* uplink: a verbs device port, UD QPs */

/* Config keys (config.get/config.set). */
#define DP_CFG_BURST         "burst"          /* 1..256 */
#define DP_CFG_RX_RING       "rx_ring"        /* descriptors, new ports */
#define DP_CFG_TX_RING       "tx_ring"
#define DP_CFG_IDLE_SLEEP_US "idle_sleep_us"  /* 0: busy-poll forever */
#define DP_CFG_POLL          "poll"           /* {"port": lcore, ...} */

/* Error codes (error.code). JSON-RPC's numbers for protocol errors. */
#define DP_E_PARSE       (-32700)  /* not JSON */
#define DP_E_REQUEST     (-32600)  /* JSON, but not a request object, or too long */
#define DP_E_METHOD      (-32601)  /* unknown method */
#define DP_E_PARAMS      (-32602)  /* missing/ill-typed/invalid field (named) */
#define DP_E_INTERNAL    (-32603)
#define DP_E_EXISTS      1         /* name/prefix already present */
#define DP_E_NOT_FOUND   2
#define DP_E_LIMIT       3         /* a table is full */
#define DP_E_DEVICE      4         /* the device/socket could not be set up */
#define DP_E_PERM        5

#endif
