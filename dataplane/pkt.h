/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Packet helpers of the fast path: header checks, anti-spoofing data,
 * neighbour (ARP / ND) answers for the pod gateway, TTL decrement.
 * Pure functions on buffers so unit tests can drive them without EAL.
 */
#ifndef SHUNT_PKT_H
#define SHUNT_PKT_H

#include <stdint.h>
#include <stdbool.h>
#include <string.h>
#include <rte_ether.h>
#include <rte_ip.h>

#define POD_MAX_ADDRS 4

/* The pod gateway the data plane answers for (DESIGN.md, routed model). */
#define GW4_ADDR 0xa9fe0101u  /* 169.254.1.1 */
extern const uint8_t gw6_addr[16];  /* fe80::1 */

/* What a pod port may send from: data path reads, control path writes
 * a whole new copy and publishes it. */
struct pod_identity {
	struct rte_ether_addr mac;
	uint8_t n4, n6;
	rte_be32_t ip4[POD_MAX_ADDRS];
	uint8_t ip6[POD_MAX_ADDRS][16];
};

/* Result of classifying one frame. */
enum pkt_class {
	PKT_IPV4,        /* routable IPv4; l3 offset in *l3 */
	PKT_IPV6,
	PKT_ARP_GW,      /* ARP request for the gateway: answer it */
	PKT_ND_GW,       /* neighbour solicitation for fe80::1: answer it */
	PKT_ECHO_GW,     /* ICMP/ICMPv6 echo request to the gateway: answer it */
	PKT_NEIGH_OTHER, /* other ARP/ND/MLD: not forwarded, not an error */
	PKT_NEIGH_UPLINK,/* ARP, NS or NA on an uplink: for the control thread */
	PKT_DROP,        /* *reason says why */
};

/*
 * Classify a frame: data points at its first seg_len contiguous bytes (the
 * headers must be there), pkt_len is its whole length. If pod is non-NULL,
 * the frame came from that pod and is checked against its identity (source
 * MAC and address). our_mac is the data plane's MAC on the input port.
 * Returns the class; for PKT_DROP, *reason is a drop_reason.
 */
enum pkt_class pkt_classify(const uint8_t *data, uint32_t seg_len,
			    uint32_t pkt_len,
			    const struct pod_identity *pod,
			    const struct rte_ether_addr *our_mac,
			    uint32_t *reason);

/* True when the pod may send from this IPv4 / IPv6 source address. */
bool pod_owns_ip4(const struct pod_identity *pod, rte_be32_t a);
bool pod_owns_ip6(const struct pod_identity *pod, const uint8_t *a);

/* Turn an ARP request into the reply from our_mac for address sip (network
 * order), in place. */
void pkt_arp_reply(uint8_t *data, const struct rte_ether_addr *our_mac,
		   rte_be32_t sip);

/* Build an ARP request for tip from sip/our_mac into buf (>= 60 bytes).
 * Returns the frame length. */
uint32_t pkt_arp_request(uint8_t *buf, const struct rte_ether_addr *our_mac,
			 rte_be32_t sip, rte_be32_t tip);

/* Build a neighbour solicitation for target from src/our_mac into buf
 * (>= ND_REPLY_LEN bytes). Returns the frame length. */
uint32_t pkt_ns_build(uint8_t *buf, const struct rte_ether_addr *our_mac,
		      const uint8_t *src, const uint8_t *target);

/* Turn a neighbour solicitation (PKT_ND_GW) into the advertisement, in
 * place. data must have room for ND_REPLY_LEN bytes. Returns the new frame
 * length (ND_REPLY_LEN). */
#define ND_REPLY_LEN (RTE_ETHER_HDR_LEN + 40 + 32)
uint32_t pkt_nd_reply(uint8_t *data, uint32_t len,
		      const struct rte_ether_addr *our_mac,
		      const uint8_t *target);

/* Turn an echo request to the gateway (PKT_ECHO_GW) into the reply, in
 * place; the frame's length does not change. */
void pkt_echo_reply(uint8_t *data, uint32_t len,
		    const struct rte_ether_addr *our_mac);

/* One's complement checksum hc after a 16-bit word changed from m to m2
 * (RFC 1624, eqn. 3); host order in and out. */
static inline uint16_t pkt_csum_replace16(uint16_t hc, uint16_t m, uint16_t m2)
{
	uint32_t s = (uint16_t)~hc + (uint32_t)(uint16_t)~m + m2;

	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* Decrement the IPv4 TTL with an incremental checksum update (RFC 1624).
 * Returns false when the packet must be dropped (TTL would reach 0).
 * Inline, and the TTL/protocol word read and written whole: a byte store
 * then a 16-bit load of the same word stalls store forwarding (this was
 * 18% of a worker's time at 20 Mpps). */
static inline bool pkt_ipv4_ttl_dec(struct rte_ipv4_hdr *ip)
{
	rte_be16_t w;  /* TTL, protocol */
	uint16_t old, new;

	memcpy(&w, &ip->time_to_live, sizeof(w));
	old = rte_be_to_cpu_16(w);
	if ((old >> 8) <= 1)
		return false;
	new = (uint16_t)(old - 0x100);
	w = rte_cpu_to_be_16(new);
	memcpy(&ip->time_to_live, &w, sizeof(w));
	ip->hdr_checksum = rte_cpu_to_be_16(
		pkt_csum_replace16(rte_be_to_cpu_16(ip->hdr_checksum), old, new));
	return true;
}

/* Same for the IPv6 hop limit (no header checksum). */
static inline bool pkt_ipv6_hop_dec(struct rte_ipv6_hdr *ip6)
{
	if (ip6->hop_limits <= 1)
		return false;
	ip6->hop_limits--;
	return true;
}

#endif
