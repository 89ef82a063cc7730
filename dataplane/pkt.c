/* SPDX-License-Identifier: BSD-3-Clause */
#include <string.h>
#include <rte_arp.h>
#include <rte_icmp.h>
#include <rte_byteorder.h>
#include "pkt.h"
#include "stats.h"

const uint8_t gw6_addr[16] = { 0xfe, 0x80, [15] = 1 };

#define ICMP6_RS 133
#define ICMP6_NS 135
#define ICMP6_NA 136
#define ND_OPT_SLLA 1
#define ND_OPT_TLLA 2

/* The ICMPv6 neighbour messages' fixed part after the 4-byte ICMP header. */
struct nd_msg {
	uint8_t type, code;
	rte_be16_t cksum;
	rte_be32_t flags;
	uint8_t target[16];
	uint8_t opt_type, opt_len;
	struct rte_ether_addr opt_mac;
} __rte_packed __rte_aligned(2);

bool pod_owns_ip4(const struct pod_identity *pod, rte_be32_t a)
{
	for (unsigned int i = 0; i < pod->n4; i++)
		if (pod->ip4[i] == a)
			return true;
	return false;
}

bool pod_owns_ip6(const struct pod_identity *pod, const uint8_t *a)
{
	for (unsigned int i = 0; i < pod->n6; i++)
		if (memcmp(pod->ip6[i], a, 16) == 0)
			return true;
	return false;
}

static inline enum pkt_class drop(uint32_t *reason, enum drop_reason r)
{
	*reason = r;
	return PKT_DROP;
}

static enum pkt_class classify_arp(const uint8_t *data, uint32_t len,
				   const struct pod_identity *pod,
				   uint32_t *reason)
{
	const struct rte_arp_hdr *arp;

	if (len < RTE_ETHER_HDR_LEN + sizeof(*arp))
		return drop(reason, DROP_MALFORMED);
	arp = (const struct rte_arp_hdr *)(data + RTE_ETHER_HDR_LEN);
	if (arp->arp_hardware != RTE_BE16(RTE_ARP_HRD_ETHER) ||
	    arp->arp_protocol != RTE_BE16(RTE_ETHER_TYPE_IPV4) ||
	    arp->arp_hlen != RTE_ETHER_ADDR_LEN || arp->arp_plen != 4)
		return drop(reason, DROP_MALFORMED);
	if (pod == NULL)
		return PKT_NEIGH_UPLINK;
	if (!rte_is_same_ether_addr(&arp->arp_data.arp_sha, &pod->mac))
		return drop(reason, DROP_SPOOF_MAC);
	/* 0.0.0.0 is an address-conflict probe (RFC 5227). */
	if (arp->arp_data.arp_sip != 0 &&
	    !pod_owns_ip4(pod, arp->arp_data.arp_sip))
		return drop(reason, DROP_SPOOF_IP);
	if (arp->arp_opcode == RTE_BE16(RTE_ARP_OP_REQUEST) &&
	    arp->arp_data.arp_tip == RTE_BE32(GW4_ADDR) &&
	    arp->arp_data.arp_sip != 0)
		return PKT_ARP_GW;
	return PKT_NEIGH_OTHER;
}

static enum pkt_class classify_ipv4(const uint8_t *data, uint32_t len,
				    uint32_t pkt_len,
				    const struct pod_identity *pod,
				    uint32_t *reason)
{
	const struct rte_ipv4_hdr *ip;
	uint32_t hl, tl;

	if (len < RTE_ETHER_HDR_LEN + sizeof(*ip))
		return drop(reason, DROP_MALFORMED);
	ip = (const struct rte_ipv4_hdr *)(data + RTE_ETHER_HDR_LEN);
	hl = (ip->version_ihl & 0x0f) * 4u;
	tl = rte_be_to_cpu_16(ip->total_length);
	if ((ip->version_ihl >> 4) != 4 || hl < sizeof(*ip) || tl < hl ||
	    tl > pkt_len - RTE_ETHER_HDR_LEN ||
	    hl > len - RTE_ETHER_HDR_LEN)
		return drop(reason, DROP_MALFORMED);
	if (pod != NULL && !pod_owns_ip4(pod, ip->src_addr))
		return drop(reason, DROP_SPOOF_IP);
	if (ip->dst_addr == RTE_BE32(GW4_ADDR)) {
		const uint8_t *icmp = (const uint8_t *)ip + hl;

		/* Only pods may ping their gateway; unfragmented, whole. */
		if (pod != NULL && ip->next_proto_id == IPPROTO_ICMP &&
		    tl == pkt_len - RTE_ETHER_HDR_LEN && tl >= hl + 8 &&
		    len >= RTE_ETHER_HDR_LEN + hl + 8 && icmp[0] == 8 &&
		    (ip->fragment_offset & RTE_BE16(0x3fff)) == 0)
			return PKT_ECHO_GW;
		return drop(reason, DROP_UNSUPPORTED);
	}
	/* Routed model: no broadcast or multicast crosses pods. */
	if ((rte_be_to_cpu_32(ip->dst_addr) >> 28) >= 14 ||
	    ip->dst_addr == RTE_BE32(0xffffffff))
		return drop(reason, DROP_UNSUPPORTED);
	return PKT_IPV4;
}

static enum pkt_class classify_ipv6(const uint8_t *data, uint32_t len,
				    uint32_t pkt_len, bool to_us,
				    const struct pod_identity *pod,
				    uint32_t *reason)
{
	const struct rte_ipv6_hdr *ip6;
	uint32_t pl;

	if (len < RTE_ETHER_HDR_LEN + sizeof(*ip6))
		return drop(reason, DROP_MALFORMED);
	ip6 = (const struct rte_ipv6_hdr *)(data + RTE_ETHER_HDR_LEN);
	pl = rte_be_to_cpu_16(ip6->payload_len);
	if ((rte_be_to_cpu_32(ip6->vtc_flow) >> 28) != 6 ||
	    pl > pkt_len - RTE_ETHER_HDR_LEN - sizeof(*ip6))
		return drop(reason, DROP_MALFORMED);

	if (ip6->proto == IPPROTO_ICMPV6 && pl >= 4 &&
	    len >= RTE_ETHER_HDR_LEN + sizeof(*ip6) + 4) {
		const uint8_t *icmp = (const uint8_t *)(ip6 + 1);

		if (icmp[0] >= 130 && icmp[0] <= 143) {
			const struct nd_msg *ns = (const struct nd_msg *)icmp;

			/* Neighbour discovery and MLD stay on the link. */
			if (pod == NULL)
				return icmp[0] == ICMP6_NS || icmp[0] == ICMP6_NA ?
					PKT_NEIGH_UPLINK : PKT_NEIGH_OTHER;
			if (icmp[0] != ICMP6_NS)
				return PKT_NEIGH_OTHER;
			if (pl < offsetof(struct nd_msg, opt_type) ||
			    len < RTE_ETHER_HDR_LEN + sizeof(*ip6) +
				  offsetof(struct nd_msg, opt_type) ||
			    ip6->hop_limits != 255 || ns->code != 0)
				return drop(reason, DROP_MALFORMED);
			if (memcmp(ns->target, gw6_addr, 16) != 0)
				return PKT_NEIGH_OTHER;
			/* A solicitation from :: is duplicate address
			 * detection: the gateway address is never free. */
			return PKT_ND_GW;
		}
	}
	if (ip6->dst_addr[0] == 0xff)
		return drop(reason, DROP_UNSUPPORTED);
	if (memcmp(ip6->dst_addr, gw6_addr, 16) == 0) {
		const uint8_t *icmp = (const uint8_t *)(ip6 + 1);

		if (pod != NULL && to_us && ip6->proto == IPPROTO_ICMPV6 &&
		    pl >= 8 && pl == pkt_len - RTE_ETHER_HDR_LEN - sizeof(*ip6) &&
		    len == pkt_len && icmp[0] == 128)
			return PKT_ECHO_GW;
		return drop(reason, DROP_UNSUPPORTED);
	}
	if (!to_us)
		return drop(reason, DROP_NOT_FOR_US);
	if (pod != NULL && !pod_owns_ip6(pod, ip6->src_addr))
		return drop(reason, DROP_SPOOF_IP);
	return PKT_IPV6;
}

enum pkt_class pkt_classify(const uint8_t *data, uint32_t len,
			    uint32_t pkt_len,
			    const struct pod_identity *pod,
			    const struct rte_ether_addr *our_mac,
			    uint32_t *reason)
{
	const struct rte_ether_hdr *eth = (const struct rte_ether_hdr *)data;
	bool to_us;

	if (len < RTE_ETHER_HDR_LEN)
		return drop(reason, DROP_MALFORMED);
	if (pod != NULL && !rte_is_same_ether_addr(&eth->src_addr, &pod->mac))
		return drop(reason, DROP_SPOOF_MAC);
	to_us = rte_is_same_ether_addr(&eth->dst_addr, our_mac);
	switch (eth->ether_type) {
	case RTE_BE16(RTE_ETHER_TYPE_IPV4):
		if (!to_us)
			return drop(reason, DROP_NOT_FOR_US);
		return classify_ipv4(data, len, pkt_len, pod, reason);
	case RTE_BE16(RTE_ETHER_TYPE_IPV6):
		if (!to_us && !rte_is_multicast_ether_addr(&eth->dst_addr))
			return drop(reason, DROP_NOT_FOR_US);
		return classify_ipv6(data, len, pkt_len, to_us, pod, reason);
	case RTE_BE16(RTE_ETHER_TYPE_ARP):
		if (!to_us && !rte_is_broadcast_ether_addr(&eth->dst_addr))
			return drop(reason, DROP_NOT_FOR_US);
		return classify_arp(data, len, pod, reason);
	default:
		return drop(reason, DROP_UNSUPPORTED);
	}
}

void pkt_arp_reply(uint8_t *data, const struct rte_ether_addr *our_mac,
		   rte_be32_t sip)
{
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)data;
	struct rte_arp_hdr *arp = (struct rte_arp_hdr *)(eth + 1);
	struct rte_arp_ipv4 *a = &arp->arp_data;

	rte_ether_addr_copy(&eth->src_addr, &eth->dst_addr);
	rte_ether_addr_copy(our_mac, &eth->src_addr);
	arp->arp_opcode = RTE_BE16(RTE_ARP_OP_REPLY);
	rte_ether_addr_copy(&a->arp_sha, &a->arp_tha);
	a->arp_tip = a->arp_sip;
	rte_ether_addr_copy(our_mac, &a->arp_sha);
	a->arp_sip = sip;
}

uint32_t pkt_arp_request(uint8_t *buf, const struct rte_ether_addr *our_mac,
			 rte_be32_t sip, rte_be32_t tip)
{
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)buf;
	struct rte_arp_hdr *arp = (struct rte_arp_hdr *)(eth + 1);

	memset(buf, 0, RTE_ETHER_MIN_LEN - RTE_ETHER_CRC_LEN);
	memset(&eth->dst_addr, 0xff, RTE_ETHER_ADDR_LEN);
	eth->src_addr = *our_mac;
	eth->ether_type = RTE_BE16(RTE_ETHER_TYPE_ARP);
	arp->arp_hardware = RTE_BE16(RTE_ARP_HRD_ETHER);
	arp->arp_protocol = RTE_BE16(RTE_ETHER_TYPE_IPV4);
	arp->arp_hlen = RTE_ETHER_ADDR_LEN;
	arp->arp_plen = 4;
	arp->arp_opcode = RTE_BE16(RTE_ARP_OP_REQUEST);
	arp->arp_data.arp_sha = *our_mac;
	arp->arp_data.arp_sip = sip;
	arp->arp_data.arp_tip = tip;
	return RTE_ETHER_MIN_LEN - RTE_ETHER_CRC_LEN;
}

uint32_t pkt_ns_build(uint8_t *buf, const struct rte_ether_addr *our_mac,
		      const uint8_t *src, const uint8_t *target)
{
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)buf;
	struct rte_ipv6_hdr *ip6 = (struct rte_ipv6_hdr *)(eth + 1);
	struct nd_msg *ns = (struct nd_msg *)(ip6 + 1);
	/* Solicited-node multicast ff02::1:ffXX:XXXX (RFC 4291 2.7.1). */
	static const uint8_t snm[13] = { 0xff, 0x02, [11] = 0x01, [12] = 0xff };

	memset(buf, 0, ND_REPLY_LEN);
	eth->dst_addr = (struct rte_ether_addr){ { 0x33, 0x33, 0xff,
		target[13], target[14], target[15] } };
	eth->src_addr = *our_mac;
	eth->ether_type = RTE_BE16(RTE_ETHER_TYPE_IPV6);
	ip6->vtc_flow = RTE_BE32(6u << 28);
	ip6->payload_len = RTE_BE16(sizeof(*ns));
	ip6->proto = IPPROTO_ICMPV6;
	ip6->hop_limits = 255;
	memcpy(ip6->src_addr, src, 16);
	memcpy(ip6->dst_addr, snm, 13);
	memcpy(ip6->dst_addr + 13, target + 13, 3);
	ns->type = ICMP6_NS;
	memcpy(ns->target, target, 16);
	ns->opt_type = ND_OPT_SLLA;
	ns->opt_len = 1;
	ns->opt_mac = *our_mac;
	ns->cksum = rte_ipv6_udptcp_cksum(ip6, ns);
	return ND_REPLY_LEN;
}

uint32_t pkt_nd_reply(uint8_t *data, uint32_t len,
		      const struct rte_ether_addr *our_mac,
		      const uint8_t *target)
{
	static const uint8_t all_nodes[16] = { 0xff, 0x02, [15] = 1 };
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)data;
	struct rte_ipv6_hdr *ip6 = (struct rte_ipv6_hdr *)(eth + 1);
	struct nd_msg *na = (struct nd_msg *)(ip6 + 1);
	bool dad = true;

	(void)len;
	for (int i = 0; i < 16; i++)
		if (ip6->src_addr[i] != 0)
			dad = false;
	rte_ether_addr_copy(&eth->src_addr, &eth->dst_addr);
	rte_ether_addr_copy(our_mac, &eth->src_addr);
	if (dad) {
		/* RFC 4861 7.2.4: answer DAD to all-nodes, not solicited. */
		memcpy(ip6->dst_addr, all_nodes, 16);
		eth->dst_addr = (struct rte_ether_addr){
			{ 0x33, 0x33, 0, 0, 0, 1 } };
	} else {
		memcpy(ip6->dst_addr, ip6->src_addr, 16);
	}
	memcpy(ip6->src_addr, target, 16);
	ip6->vtc_flow = RTE_BE32(6u << 28);
	ip6->payload_len = RTE_BE16(sizeof(*na));
	ip6->proto = IPPROTO_ICMPV6;
	ip6->hop_limits = 255;
	na->type = ICMP6_NA;
	na->code = 0;
	na->cksum = 0;
	/* Router, Solicited (unless DAD), Override. */
	na->flags = rte_cpu_to_be_32(dad ? 0xa0000000u : 0xe0000000u);
	memcpy(na->target, target, 16);
	na->opt_type = ND_OPT_TLLA;
	na->opt_len = 1;
	na->opt_mac = *our_mac;
	na->cksum = rte_ipv6_udptcp_cksum(ip6, na);
	return ND_REPLY_LEN;
}

void pkt_echo_reply(uint8_t *data, uint32_t len,
		    const struct rte_ether_addr *our_mac)
{
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)data;

	(void)len;
	rte_ether_addr_copy(&eth->src_addr, &eth->dst_addr);
	rte_ether_addr_copy(our_mac, &eth->src_addr);
	if (eth->ether_type == RTE_BE16(RTE_ETHER_TYPE_IPV4)) {
		struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
		uint8_t *icmp = (uint8_t *)ip + (ip->version_ihl & 0x0f) * 4;
		rte_be16_t *ck = (rte_be16_t *)(icmp + 2);

		ip->dst_addr = ip->src_addr;
		ip->src_addr = RTE_BE32(GW4_ADDR);
		ip->time_to_live = 64;
		ip->hdr_checksum = 0;
		ip->hdr_checksum = rte_ipv4_cksum(ip);
		/* Type 8 -> 0 changes one 16-bit word of the ICMP message. */
		*ck = rte_cpu_to_be_16(pkt_csum_replace16(rte_be_to_cpu_16(*ck),
				       (uint16_t)(icmp[0] << 8 | icmp[1]),
				       (uint16_t)(0 << 8 | icmp[1])));
		icmp[0] = 0;
	} else {
		struct rte_ipv6_hdr *ip6 = (struct rte_ipv6_hdr *)(eth + 1);
		uint8_t *icmp = (uint8_t *)(ip6 + 1);

		memcpy(ip6->dst_addr, ip6->src_addr, 16);
		memcpy(ip6->src_addr, gw6_addr, 16);
		ip6->hop_limits = 64;
		icmp[0] = 129;
		icmp[2] = icmp[3] = 0;
		*(rte_be16_t *)(icmp + 2) = rte_ipv6_udptcp_cksum(ip6, icmp);
	}
}

/* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'), on 16-bit words. */
