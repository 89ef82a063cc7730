/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of pkt.c: classification, anti-spoofing, gateway answers,
 * TTL/checksum arithmetic. No EAL needed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <rte_arp.h>
#include "pkt.h"
#include "stats.h"

static int failures;
#define CHECK(c) do { if (!(c)) { failures++; \
	fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c); } } while (0)

static const struct rte_ether_addr our = { { 0x02, 0x5e, 0, 0, 0, 1 } };
static const struct rte_ether_addr podmac = { { 0x0a, 0x58, 0x0a, 0, 0, 2 } };
static struct pod_identity pod;

static uint32_t frame_eth(uint8_t *f, const struct rte_ether_addr *dst,
			  const struct rte_ether_addr *src, uint16_t type)
{
	struct rte_ether_hdr *e = (struct rte_ether_hdr *)f;

	e->dst_addr = *dst;
	e->src_addr = *src;
	e->ether_type = htons(type);
	return RTE_ETHER_HDR_LEN;
}

static uint32_t frame_ipv4(uint8_t *f, const char *src, const char *dst,
			   uint8_t ttl, uint16_t payload)
{
	struct rte_ipv4_hdr *ip;
	uint32_t off = frame_eth(f, &our, &podmac, RTE_ETHER_TYPE_IPV4);

	ip = (struct rte_ipv4_hdr *)(f + off);
	memset(ip, 0, sizeof(*ip));
	ip->version_ihl = 0x45;
	ip->total_length = htons((uint16_t)(20 + payload));
	ip->time_to_live = ttl;
	ip->next_proto_id = IPPROTO_UDP;
	inet_pton(AF_INET, src, &ip->src_addr);
	inet_pton(AF_INET, dst, &ip->dst_addr);
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	return off + 20 + payload;
}

static uint32_t frame_ns(uint8_t *f, const char *src, const char *target,
			 uint8_t hops, bool with_opt)
{
	static const struct rte_ether_addr sn = { { 0x33, 0x33, 0xff, 0, 0, 1 } };
	uint32_t off = frame_eth(f, &sn, &podmac, RTE_ETHER_TYPE_IPV6);
	struct rte_ipv6_hdr *ip6 = (struct rte_ipv6_hdr *)(f + off);
	uint8_t *icmp = (uint8_t *)(ip6 + 1);
	uint16_t pl = with_opt ? 32 : 24;

	memset(ip6, 0, sizeof(*ip6) + pl);
	ip6->vtc_flow = htonl(6u << 28);
	ip6->payload_len = htons(pl);
	ip6->proto = IPPROTO_ICMPV6;
	ip6->hop_limits = hops;
	inet_pton(AF_INET6, src, ip6->src_addr);
	inet_pton(AF_INET6, "ff02::1:ff00:1", ip6->dst_addr);
	icmp[0] = 135;
	inet_pton(AF_INET6, target, icmp + 8);
	if (with_opt) {
		icmp[24] = 1;
		icmp[25] = 1;
		memcpy(icmp + 26, &podmac, 6);
	}
	return off + 40 + pl;
}

static void test_arp(void)
{
	uint8_t f[128] = { 0 };
	struct rte_arp_hdr *arp = (struct rte_arp_hdr *)(f + RTE_ETHER_HDR_LEN);
	uint32_t reason = 0, len;

	len = frame_eth(f, &(struct rte_ether_addr){ { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff } },
			&podmac, RTE_ETHER_TYPE_ARP) + sizeof(*arp);
	arp->arp_hardware = htons(RTE_ARP_HRD_ETHER);
	arp->arp_protocol = htons(RTE_ETHER_TYPE_IPV4);
	arp->arp_hlen = 6;
	arp->arp_plen = 4;
	arp->arp_opcode = htons(RTE_ARP_OP_REQUEST);
	arp->arp_data.arp_sha = podmac;
	arp->arp_data.arp_sip = pod.ip4[0];
	arp->arp_data.arp_tip = htonl(GW4_ADDR);
	CHECK(pkt_classify(f, len, len, &pod, &our, &reason) == PKT_ARP_GW);
	/* From the uplink (no pod) an ARP goes to the control thread. */
	CHECK(pkt_classify(f, len, len, NULL, &our, &reason) == PKT_NEIGH_UPLINK);

	pkt_arp_reply(f, &our, htonl(GW4_ADDR));
	CHECK(arp->arp_opcode == htons(RTE_ARP_OP_REPLY));
	CHECK(rte_is_same_ether_addr(&arp->arp_data.arp_sha, &our));
	CHECK(arp->arp_data.arp_sip == htonl(GW4_ADDR));
	CHECK(rte_is_same_ether_addr(&arp->arp_data.arp_tha, &podmac));
	CHECK(arp->arp_data.arp_tip == pod.ip4[0]);
	CHECK(rte_is_same_ether_addr(&((struct rte_ether_hdr *)f)->dst_addr, &podmac));
	CHECK(rte_is_same_ether_addr(&((struct rte_ether_hdr *)f)->src_addr, &our));

	/* Spoofed sender: another pod's address or MAC. */
	arp->arp_opcode = htons(RTE_ARP_OP_REQUEST);
	arp->arp_data.arp_sha = podmac;
	inet_pton(AF_INET, "10.0.0.99", &arp->arp_data.arp_sip);
	((struct rte_ether_hdr *)f)->src_addr = podmac;
	((struct rte_ether_hdr *)f)->dst_addr = our;
	CHECK(pkt_classify(f, len, len, &pod, &our, &reason) == PKT_DROP &&
	      reason == DROP_SPOOF_IP);
	arp->arp_data.arp_sip = pod.ip4[0];
	arp->arp_data.arp_sha.addr_bytes[5] ^= 1;
	CHECK(pkt_classify(f, len, len, &pod, &our, &reason) == PKT_DROP &&
	      reason == DROP_SPOOF_MAC);
	/* Truncated ARP. */
	CHECK(pkt_classify(f, len - 1, len - 1, &pod, &our, &reason) == PKT_DROP &&
	      reason == DROP_MALFORMED);
}

static void test_ipv4(void)
{
	uint8_t f[256];
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(f + RTE_ETHER_HDR_LEN);
	uint32_t reason = 0, len;

	len = frame_ipv4(f, "10.0.0.2", "10.0.0.3", 64, 30);
	CHECK(pkt_classify(f, len, len, &pod, &our, &reason) == PKT_IPV4);
	/* Frames may be longer than the IP packet (padding), never shorter. */
	CHECK(pkt_classify(f, len, len + 10, &pod, &our, &reason) == PKT_IPV4);
	CHECK(pkt_classify(f, len - 1, len - 1, &pod, &our, &reason) == PKT_DROP &&
	      reason == DROP_MALFORMED);
	CHECK(pkt_classify(f, 30, 30, &pod, &our, &reason) == PKT_DROP &&
	      reason == DROP_MALFORMED);

	len = frame_ipv4(f, "10.0.0.9", "10.0.0.3", 64, 30);
	CHECK(pkt_classify(f, len, len, &pod, &our, &reason) == PKT_DROP &&
	      reason == DROP_SPOOF_IP);
	/* The uplink is not subject to anti-spoofing. */
	CHECK(pkt_classify(f, len, len, NULL, &our, &reason) == PKT_IPV4);

	len = frame_ipv4(f, "10.0.0.2", "10.0.0.3", 64, 30);
	((struct rte_ether_hdr *)f)->src_addr.addr_bytes[0] ^= 2;
	CHECK(pkt_classify(f, len, len, &pod, &our, &reason) == PKT_DROP &&
	      reason == DROP_SPOOF_MAC);

	len = frame_ipv4(f, "10.0.0.2", "10.0.0.3", 64, 30);
	((struct rte_ether_hdr *)f)->dst_addr.addr_bytes[5] ^= 1;
	CHECK(pkt_classify(f, len, len, &pod, &our, &reason) == PKT_DROP &&
	      reason == DROP_NOT_FOR_US);

	len = frame_ipv4(f, "10.0.0.2", "10.0.0.3", 64, 30);
	ip->version_ihl = 0x44;
	CHECK(pkt_classify(f, len, len, &pod, &our, &reason) == PKT_DROP &&
	      reason == DROP_MALFORMED);
	ip->version_ihl = 0x65;
	CHECK(pkt_classify(f, len, len, &pod, &our, &reason) == PKT_DROP &&
	      reason == DROP_MALFORMED);
	/* Options are fine when they fit. */
	ip->version_ihl = 0x46;
	CHECK(pkt_classify(f, len, len, &pod, &our, &reason) == PKT_IPV4);
	ip->version_ihl = 0x4f;  /* 60-byte header > 50-byte packet */
	CHECK(pkt_classify(f, len, len, &pod, &our, &reason) == PKT_DROP &&
	      reason == DROP_MALFORMED);

	len = frame_ipv4(f, "10.0.0.2", "255.255.255.255", 64, 30);
	CHECK(pkt_classify(f, len, len, &pod, &our, &reason) == PKT_DROP &&
	      reason == DROP_UNSUPPORTED);
	len = frame_ipv4(f, "10.0.0.2", "224.0.0.251", 64, 30);
	CHECK(pkt_classify(f, len, len, &pod, &our, &reason) == PKT_DROP &&
	      reason == DROP_UNSUPPORTED);

	((struct rte_ether_hdr *)f)->ether_type = htons(0x8100);
	CHECK(pkt_classify(f, len, len, &pod, &our, &reason) == PKT_DROP &&
	      reason == DROP_UNSUPPORTED);
	CHECK(pkt_classify(f, 10, 10, &pod, &our, &reason) == PKT_DROP &&
	      reason == DROP_MALFORMED);
}

static void test_ttl(void)
{
	uint8_t f[256];
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(f + RTE_ETHER_HDR_LEN);

	srand(7);
	for (int i = 0; i < 100000; i++) {
		char src[32], dst[32];

		snprintf(src, sizeof(src), "%d.%d.%d.%d", rand() & 255, rand() & 255,
			 rand() & 255, rand() & 255);
		snprintf(dst, sizeof(dst), "%d.%d.%d.%d", rand() & 255, rand() & 255,
			 rand() & 255, rand() & 255);
		frame_ipv4(f, src, dst, (uint8_t)(2 + rand() % 254),
			   (uint16_t)(rand() % 1400));
		ip->packet_id = (uint16_t)rand();
		ip->next_proto_id = (uint8_t)rand();
		ip->hdr_checksum = 0;
		ip->hdr_checksum = rte_ipv4_cksum(ip);
		CHECK(pkt_ipv4_ttl_dec(ip));
		uint16_t inc = ip->hdr_checksum;
		ip->hdr_checksum = 0;
		uint16_t full = rte_ipv4_cksum(ip);
		/* 0x0000 and 0xffff are the same in one's complement. */
		if (inc != full && !((inc == 0xffff && full == 0) ||
				     (inc == 0 && full == 0xffff))) {
			CHECK(inc == full);
			break;
		}
	}
	frame_ipv4(f, "1.2.3.4", "5.6.7.8", 1, 0);
	CHECK(!pkt_ipv4_ttl_dec(ip));
	CHECK(ip->time_to_live == 1);
	frame_ipv4(f, "1.2.3.4", "5.6.7.8", 0, 0);
	CHECK(!pkt_ipv4_ttl_dec(ip));
}

static void test_ipv6(void)
{
	uint8_t f[256];
	struct rte_ipv6_hdr *ip6 = (struct rte_ipv6_hdr *)(f + RTE_ETHER_HDR_LEN);
	uint8_t *icmp = (uint8_t *)(ip6 + 1);
	uint32_t reason = 0, len;

	len = frame_ns(f, "fe80::858:aff:fe00:2", "fe80::1", 255, true);
	CHECK(pkt_classify(f, len, len, &pod, &our, &reason) == PKT_ND_GW);
	len = pkt_nd_reply(f, len, &our, gw6_addr);
	CHECK(len == ND_REPLY_LEN);
	CHECK(icmp[0] == 136);
	CHECK(rte_ipv6_udptcp_cksum_verify(ip6, icmp) == 0);
	CHECK(memcmp(ip6->src_addr, gw6_addr, 16) == 0);
	CHECK(memcmp(icmp + 8, gw6_addr, 16) == 0);
	CHECK(icmp[24] == 2 && memcmp(icmp + 26, &our, 6) == 0);
	CHECK((icmp[4] & 0xe0) == 0xe0);  /* router, solicited, override */
	CHECK(rte_is_same_ether_addr(&((struct rte_ether_hdr *)f)->dst_addr, &podmac));

	/* NUD probe without the option, unicast to us. */
	len = frame_ns(f, "fe80::858:aff:fe00:2", "fe80::1", 255, false);
	((struct rte_ether_hdr *)f)->dst_addr = our;
	CHECK(pkt_classify(f, len, len, &pod, &our, &reason) == PKT_ND_GW);

	len = frame_ns(f, "fe80::858:aff:fe00:2", "fe80::1", 64, true);
	CHECK(pkt_classify(f, len, len, &pod, &our, &reason) == PKT_DROP &&
	      reason == DROP_MALFORMED);
	len = frame_ns(f, "::", "fe80::858:aff:fe00:2", 255, false);
	CHECK(pkt_classify(f, len, len, &pod, &our, &reason) == PKT_NEIGH_OTHER);

	/* Plain IPv6 from the pod. */
	len = frame_ns(f, "fd00::2", "fe80::1", 255, false);
	((struct rte_ether_hdr *)f)->dst_addr = our;
	ip6->proto = IPPROTO_UDP;
	inet_pton(AF_INET6, "fd00::3", ip6->dst_addr);
	CHECK(pkt_classify(f, len, len, &pod, &our, &reason) == PKT_IPV6);
	CHECK(pkt_ipv6_hop_dec(ip6) && ip6->hop_limits == 254);
	inet_pton(AF_INET6, "fd00::9", ip6->src_addr);
	CHECK(pkt_classify(f, len, len, &pod, &our, &reason) == PKT_DROP &&
	      reason == DROP_SPOOF_IP);
	CHECK(pkt_classify(f, len, len, NULL, &our, &reason) == PKT_IPV6);
	ip6->payload_len = htons(200);
	CHECK(pkt_classify(f, len, len, &pod, &our, &reason) == PKT_DROP &&
	      reason == DROP_MALFORMED);
	ip6->hop_limits = 1;
	CHECK(!pkt_ipv6_hop_dec(ip6));
}

static void test_echo(void)
{
	uint8_t f[256];
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(f + RTE_ETHER_HDR_LEN);
	struct rte_ipv6_hdr *ip6 = (struct rte_ipv6_hdr *)(f + RTE_ETHER_HDR_LEN);
	uint8_t *icmp = (uint8_t *)(ip + 1), *icmp6 = (uint8_t *)(ip6 + 1);
	uint32_t reason = 0, len;

	len = frame_ipv4(f, "10.0.0.2", "169.254.1.1", 64, 64);
	ip->next_proto_id = IPPROTO_ICMP;
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	for (int i = 0; i < 64; i++)
		icmp[i] = (uint8_t)(i * 7);
	icmp[0] = 8;
	icmp[1] = 0;
	icmp[2] = icmp[3] = 0;
	*(uint16_t *)(icmp + 2) = (uint16_t)~rte_raw_cksum(icmp, 64);
	CHECK(pkt_classify(f, len, len, &pod, &our, &reason) == PKT_ECHO_GW);
	CHECK(pkt_classify(f, len, len, NULL, &our, &reason) == PKT_DROP);
	pkt_echo_reply(f, len, &our);
	CHECK(icmp[0] == 0);
	CHECK(rte_raw_cksum(icmp, 64) == 0xffff);  /* checksum still valid */
	CHECK(rte_ipv4_cksum(ip) == 0 || rte_ipv4_cksum(ip) == 0xffff);
	CHECK(ip->src_addr == htonl(GW4_ADDR) && ip->dst_addr == pod.ip4[0]);
	CHECK(rte_is_same_ether_addr(&((struct rte_ether_hdr *)f)->dst_addr, &podmac));
	/* Not an echo request: dropped, never forwarded. */
	len = frame_ipv4(f, "10.0.0.2", "169.254.1.1", 64, 64);
	CHECK(pkt_classify(f, len, len, &pod, &our, &reason) == PKT_DROP &&
	      reason == DROP_UNSUPPORTED);

	/* IPv6 echo to fe80::1 from the pod's link-local address. */
	len = frame_ns(f, "fe80::858:aff:fe00:2", "fe80::1", 64, false);
	((struct rte_ether_hdr *)f)->dst_addr = our;
	inet_pton(AF_INET6, "fe80::1", ip6->dst_addr);
	memset(icmp6, 0, 24);
	icmp6[0] = 128;
	icmp6[7] = 5;
	*(uint16_t *)(icmp6 + 2) = rte_ipv6_udptcp_cksum(ip6, icmp6);
	CHECK(pkt_classify(f, len, len, &pod, &our, &reason) == PKT_ECHO_GW);
	pkt_echo_reply(f, len, &our);
	CHECK(icmp6[0] == 129);
	CHECK(rte_ipv6_udptcp_cksum_verify(ip6, icmp6) == 0);
	CHECK(memcmp(ip6->src_addr, gw6_addr, 16) == 0);
}

static void test_requests(void)
{
	uint8_t f[128], src[16], tgt[16];
	struct rte_ipv6_hdr *ip6 = (struct rte_ipv6_hdr *)(f + RTE_ETHER_HDR_LEN);
	struct rte_arp_hdr *arp = (struct rte_arp_hdr *)(f + RTE_ETHER_HDR_LEN);
	uint32_t reason = 0, len;

	len = pkt_arp_request(f, &our, htonl(0x0a000001), htonl(0x0a000002));
	CHECK(len == 60);
	CHECK(rte_is_broadcast_ether_addr(&((struct rte_ether_hdr *)f)->dst_addr));
	CHECK(arp->arp_opcode == htons(RTE_ARP_OP_REQUEST) &&
	      arp->arp_data.arp_tip == htonl(0x0a000002));
	/* What we send is what an uplink hands to the control thread. */
	CHECK(pkt_classify(f, len, len, NULL, &podmac, &reason) == PKT_NEIGH_UPLINK);

	inet_pton(AF_INET6, "fd99::254", src);
	inet_pton(AF_INET6, "fd99::1", tgt);
	len = pkt_ns_build(f, &our, src, tgt);
	CHECK(len == ND_REPLY_LEN);
	CHECK(rte_ipv6_udptcp_cksum_verify(ip6, ip6 + 1) == 0);
	CHECK(ip6->dst_addr[0] == 0xff && ip6->dst_addr[11] == 1 &&
	      ip6->dst_addr[12] == 0xff && ip6->dst_addr[15] == 1);
	CHECK(((struct rte_ether_hdr *)f)->dst_addr.addr_bytes[0] == 0x33);
	CHECK(pkt_classify(f, len, len, NULL, &podmac, &reason) == PKT_NEIGH_UPLINK);
	/* The reply to it, for our own address, from the uplink. */
	len = pkt_nd_reply(f, len, &podmac, tgt);
	CHECK(rte_ipv6_udptcp_cksum_verify(ip6, ip6 + 1) == 0);
	CHECK(memcmp(ip6->src_addr, tgt, 16) == 0 && memcmp(ip6->dst_addr, src, 16) == 0);
}

/* Random frames: classification must stay in bounds (run under ASan in
 * debug builds) and never call a frame with a bad header routable. */
static void test_fuzz(void)
{
	uint8_t *f;

	srand(11);
	for (int i = 0; i < 200000; i++) {
		uint32_t len = (uint32_t)(rand() % 128), reason;
		enum pkt_class c;

		f = malloc(len ? len : 1);
		for (uint32_t k = 0; k < len; k++)
			f[k] = (uint8_t)rand();
		if (len >= 14 && (rand() & 1)) {
			memcpy(f, &our, 6);
			memcpy(f + 6, &podmac, 6);
			f[12] = (rand() & 1) ? 0x08 : 0x86;
			f[13] = f[12] == 0x08 ? ((rand() & 1) ? 0x00 : 0x06) : 0xdd;
		}
		c = pkt_classify(f, len, len, &pod, &our, &reason);
		if (c == PKT_IPV4)
			CHECK(len >= 34 && (f[14] >> 4) == 4);
		if (c == PKT_DROP)
			CHECK(reason < DROP_MAX);
		free(f);
	}
}

int main(void)
{
	pod.mac = podmac;
	pod.n4 = 1;
	inet_pton(AF_INET, "10.0.0.2", &pod.ip4[0]);
	pod.n6 = 1;
	inet_pton(AF_INET6, "fd00::2", pod.ip6[0]);

	test_arp();
	test_ipv4();
	test_ttl();
	test_ipv6();
	test_echo();
	test_requests();
	test_fuzz();
	if (failures) {
		fprintf(stderr, "%d check(s) failed\n", failures);
		return 1;
	}
	printf("pkt: all checks passed\n");
	return 0;
}
