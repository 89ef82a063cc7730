/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The wire contract of shuntd's API. Every side (shuntd, shuntctl, the CNI
 * plugin in cni/, tests) includes this one header.
 *
 * Transport: the same as the data plane's (include/shunt/dp_api.h): a unix
 * stream socket, one JSON object per line, both ways:
 *   request:  {"id": <int|string>, "method": "<name>", "params": {...}}
 *   response: {"id": <same>, "result": {...}}
 *         or  {"id": <same>, "error": {"code": <int>, "message": "<text>"}}
 * Requests on one connection are answered in order.
 *
 * Access: the socket is mode 0660, owned by root and shuntd's --group
 * (default root). Each request is checked against the peer's credentials
 * (SO_PEERCRED, SO_PEERGROUPS): uid 0 and members of that group may call
 * every method; anybody else gets AGENT_E_PERM. Methods marked "reads"
 * below change nothing.
 *
 * Limits: a request line longer than AGENT_API_MAX_REQUEST bytes gets an
 * error and the connection is closed; at most AGENT_API_MAX_CLIENTS
 * connections at once (more get AGENT_E_LIMIT and are closed); a connection
 * idle for AGENT_API_IDLE_TIMEOUT_MS is closed. A client should use a short
 * timeout: shuntd answers each request in well under a second.
 */
#ifndef SHUNT_AGENT_API_H
#define SHUNT_AGENT_API_H

#define AGENT_API_VERSION 1
#define AGENT_API_MAX_REQUEST (64 * 1024)
#define AGENT_API_MAX_CLIENTS 128
#define AGENT_API_IDLE_TIMEOUT_MS (60 * 1000)
#define AGENT_API_DEFAULT_SOCKET "/run/shunt/shuntd.sock"
#define AGENT_DEFAULT_STATE_DIR "/var/lib/shunt"

/*
 * Methods. Parameters in [] are optional. An attachment is named by
 * (container_id, ifname), the CNI's key.
 */
/* container_id, ifname, netns, network, ips[] ("addr/len" as IPAM gave
 * them), [mode], [mac], [mtu], [memif_ips[]] (required for veth+memif),
 * [filters[]] ({dir, filters[]}: chains as AGENT_M_FILTER_ATTACH takes,
 * applied before the answer) -> the attachment (see
 * AGENT_M_ATTACHMENT_SHOW; it has "filters" in the same form). Idempotent:
 * the same request again returns the same result. */
#define AGENT_M_ATTACH          "attach"
/* container_id, ifname, [netns] -> {}. Idempotent; succeeds when the
 * namespace or the attachment is already gone. */
#define AGENT_M_DETACH          "detach"
/* container_id, ifname -> {} or AGENT_E_CHECK naming what is missing. reads */
#define AGENT_M_CHECK           "check"
/* valid[] ({container_id, ifname}) -> removed[]: every other attachment
 * is detached (CNI GC). */
#define AGENT_M_GC              "gc"
/* -> version, api, dataplane{connected, ...}, attachments{...}, networks,
 * uplinks, peers (counts). reads */
#define AGENT_M_STATUS          "status"
/* -> attachments[]. reads */
#define AGENT_M_ATTACHMENT_LIST "attachment.list"
/* container_id, ifname -> the attachment, with its data plane ports'
 * live view when connected. reads */
#define AGENT_M_ATTACHMENT_SHOW "attachment.show"
/* name, prefixes[] ("addr/len", v4 and/or v6), [mtu] (default 1500),
 * [mode] (default veth) -> the network. */
#define AGENT_M_NETWORK_CREATE  "network.create"
/* name -> {}; AGENT_E_BUSY while attachments use it. */
#define AGENT_M_NETWORK_DELETE  "network.delete"
/* -> networks[]. reads */
#define AGENT_M_NETWORK_LIST    "network.list"
/* -> ports[]: the data plane's port.list, each with "owner"
 * ("container_id/ifname") when an attachment owns it. reads */
#define AGENT_M_PORT_LIST       "port.list"
/* -> routes[]: the data plane's route.list. reads */
#define AGENT_M_ROUTE_LIST      "route.list"
/* [container_id, ifname] (both or neither) -> time_ms (shuntd's
 * monotonic clock, for rates), pods[] and ports[]. ports[]: the data
 * plane's stats (name, rx_pkts, rx_bytes, tx_pkts, tx_bytes,
 * neigh_replies, dropped, drops{reason: count}), with owner
 * ("container_id/ifname"), container_id, ifname and kind when an
 * attachment owns the port. pods[]: one per attachment (container_id,
 * ifname, network, mode, ports[] names found in the data plane) with the
 * same counters summed over its ports. Counters restart at 0 when the
 * data plane restarts or re-adds a port. reads */
#define AGENT_M_STATS           "stats"
/* -> the data plane's config.get result, with "persisted": the tuning
 * shuntd pushes again after a data plane restart. reads */
#define AGENT_M_TUNE_GET        "tune.get"
/* any of dp_api.h's DP_CFG_* keys -> the data plane's new config. The
 * scalar keys are persisted and pushed again after a data plane restart;
 * "poll" (port to lcore) is passed through only. */
#define AGENT_M_TUNE_SET        "tune.set"

/*
 * eBPF filters (ebpf/README.md). Loaded filters and chains are persisted
 * and pushed again after a data plane restart. A chain is applied to each
 * data plane port of the attachment (veth and memif).
 */
/* name, path (absolute; an eBPF ELF file) -> {name, path}. Idempotent for
 * the same path; AGENT_E_EXISTS for another one. */
#define AGENT_M_FILTER_LOAD   "filter.load"
/* name -> {}; AGENT_E_BUSY while a chain uses it. */
#define AGENT_M_FILTER_UNLOAD "filter.unload"
/* container_id, ifname, dir (AGENT_DIR_*), filters[]: {filter, [rules],
 * [rate], [watch_drops]} (dp_api.h's filter.attach elements; filter names
 * a loaded filter) -> {}. Replaces the direction's chain atomically. */
#define AGENT_M_FILTER_ATTACH "filter.attach"
/* container_id, ifname, dir -> {}. Idempotent. */
#define AGENT_M_FILTER_DETACH "filter.detach"
/* container_id, ifname, dir, [index] (default 0), rules -> {}: the rules
 * of one element replaced without a reload. */
#define AGENT_M_FILTER_RULES  "filter.rules"
/* -> dataplane (connected), loaded[] {name, path, in_dataplane, [jit],
 * [insns], attached (chains using it)}, attached[] {container_id, ifname,
 * dir, filters[] (as attached), ports[] {port, chain (the data plane's
 * filter.list chain with runs, drops, counters; null when absent)}}.
 * reads */
#define AGENT_M_FILTER_LIST   "filter.list"

/*
 * Uplinks and peers (several nodes). Persisted; after a data plane
 * restart the uplink ports are added again, then the peers' routes.
 */
/* name (also the data plane port's; not sh/sm + 10 hex digits, which are
 * pod ports), [kind] ("eth", the default, or "ib"), devargs (eth: a DPDK
 * device, e.g. "net_af_packet0,iface=eth1"; ib: an RDMA device port
 * "DEVICE:PORT[,gid_index=N][,pkey=P][,qkey=Q]", e.g. "mlx5_0:1"),
 * eth: ips[] (1 to 8 addresses, no length: the uplink's own, answered
 * for by ARP/ND); ib: prefixes[] (1 to 16 "addr/len": the partition's
 * address space, its network's pod prefixes on every node; other
 * addresses are kept off the uplink) -> the uplink. Creates or replaces
 * (the port is re-added; its peers' routes follow). AGENT_E_BUSY when a
 * peer would lose the address family it is reached by, or the kind it
 * was added for. */
#define AGENT_M_UPLINK_SET  "uplink.set"
/* name -> {}; AGENT_E_BUSY while a peer uses it, AGENT_E_DATAPLANE while
 * the data plane is away (its port would be left behind). */
#define AGENT_M_UPLINK_DEL  "uplink.del"
/* -> dataplane (connected), uplinks[] {name, kind, devargs, ips,
 * [prefixes] (ib), peers (how many use it), in_dataplane, [up, mac,
 * driver], [fabric] (ib: the node's own UD address {gid, qpn, qkey, pkey,
 * mtu, ...}, what the other nodes' peer.add takes), dp_error}. reads */
#define AGENT_M_UPLINK_LIST "uplink.list"
/* name, uplink, address (eth uplinks: the peer node's uplink address, v4
 * or v6; absent on ib uplinks), prefixes[] (1 to 16 "addr/len", the pod
 * prefixes it hosts; on eth of the address's family: a dual-stack peer is
 * two peers), fabric {gid (16 bytes in IPv6 form), qpn (2 to 2^24-1),
 * qkey (32 bits), pkey (16 bits, not 0x0000/0x8000)} (required on ib
 * uplinks: the peer's uplink's fabric address; P_Key and Q_Key must be
 * this uplink's) -> the peer. Each prefix is routed: eth: route.add
 * {prefix, port: uplink, via: address}; ib: the data plane's peer.add
 * (address handle), then route.add {prefix, port: uplink, peer: name}. Refused: prefixes overlapping another peer's or one of this
 * node's networks (AGENT_E_EXISTS naming both). Idempotent for the same
 * parameters; AGENT_E_EXISTS for others. */
#define AGENT_M_PEER_ADD  "peer.add"
/* name -> {}: its routes are removed. */
#define AGENT_M_PEER_DEL  "peer.del"
/* -> dataplane (connected), peers[] {name, uplink, [address], prefixes,
 * [fabric], routes[] {prefix, in_dataplane, installed (route.list's:
 * the next hop is resolved)}, neighbour {state: resolved | resolving |
 * absent | unknown (data plane away), mac} (ib: resolved once the data
 * plane has the peer's address handle)}. reads */
#define AGENT_M_PEER_LIST "peer.list"

#define AGENT_DIR_FROM_POD "from_pod"
#define AGENT_DIR_TO_POD   "to_pod"

/* Pod attachment modes (attach "mode", network "mode"). */
#define AGENT_MODE_VETH       "veth"        /* a veth in the pod */
#define AGENT_MODE_MEMIF      "memif"       /* a memif socket, no veth */
#define AGENT_MODE_VETH_MEMIF "veth+memif"  /* both; memif has memif_ips */

/* Attachment states (attachment "state"). */
#define AGENT_STATE_PENDING   "pending"     /* being made; rolled back at start */
#define AGENT_STATE_READY     "ready"
#define AGENT_STATE_DETACHING "detaching"   /* being removed; finished at start */

/* The pod's gateway (DESIGN.md, routed model). */
#define AGENT_GW4 "169.254.1.1"
#define AGENT_GW6 "fe80::1"

/* Error codes (error.code). Protocol errors keep JSON-RPC's numbers, as in
 * dp_api.h; the others share dp_api.h's numbers where the meaning is the
 * same. */
#define AGENT_E_PARSE      (-32700)  /* not JSON */
#define AGENT_E_REQUEST    (-32600)  /* not a request object, or too long */
#define AGENT_E_METHOD     (-32601)  /* unknown method */
#define AGENT_E_PARAMS     (-32602)  /* missing/ill-typed/invalid field (named) */
#define AGENT_E_INTERNAL   (-32603)
#define AGENT_E_EXISTS     1   /* exists with other parameters */
#define AGENT_E_NOT_FOUND  2
#define AGENT_E_LIMIT      3   /* too many connections, attachments, ... */
#define AGENT_E_DEVICE     4   /* a kernel object could not be set up; the
				* message names the step */
#define AGENT_E_PERM       5   /* the peer may not call this method */
#define AGENT_E_BUSY       6   /* in use (a network with attachments, a
				* filter in a chain) */
#define AGENT_E_DATAPLANE  7   /* data plane unreachable or refused */
#define AGENT_E_STATE      8   /* the change could not be persisted */
#define AGENT_E_CHECK      9   /* check: something recorded is missing */

#endif
