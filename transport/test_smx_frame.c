/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of smx's pieces that need no data plane: frame build/parse
 * (and what parse refuses), ARP, and the receive side's combine step:
 * pieces of odd sizes stitched into whole align units, across requests.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "smx_internal.h"

#include "unit/check.h"

static uint16_t csum(const uint8_t *p, int n)
{
	uint32_t s = 0;

	for (int i = 0; i < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static void test_frame(void)
{
	static uint8_t b[70000];
	struct smx_frame_addr a = {
		.src_mac = { 2, 0, 0, 0, 0, 1 }, .dst_mac = { 2, 0, 0, 0, 0, 2 },
		.src_port = 7470, .dst_port = 7471,
	};
	struct smx_frame_hdr h = {
		.type = SMX_T_DATA, .flags = SMX_F_GAP, .src_session = 0xdeadbeef,
		.dst_session = 7, .seq = 0x123456789abcull, .ack = 42,
		.wnd = UINT64_MAX - 1,
	};
	struct smx_frame_info fi;
	uint32_t len = SMX_MAX_PAYLOAD, tot = SMX_HDRS_LEN + len;
	int r;

	a.src_ip = inet_addr("10.1.2.3");
	a.dst_ip = inet_addr("10.1.2.4");
	smx_frame_build(b, &a, &h, len);
	CHECK((uint32_t)(b[16] << 8 | b[17]) == tot - SMX_ETH_LEN && tot - SMX_ETH_LEN <= 65535,
	      "IP total length %u fits 16 bits", tot - SMX_ETH_LEN);
	CHECK(csum(b + SMX_ETH_LEN, SMX_IP4_LEN) == 0, "IPv4 header checksum valid");
	CHECK(SMX_MAX_PAYLOAD % 8 == 0, "max payload a multiple of 8");
	memset(&fi, 0, sizeof(fi));
	r = smx_frame_parse(b, SMX_HDRS_LEN, tot, &fi);
	CHECK(r == 0, "parse own frame: %d", r);
	CHECK(fi.src_ip == a.src_ip && fi.dst_ip == a.dst_ip &&
	      fi.src_port == 7470 && fi.dst_port == 7471 && fi.payload_len == len,
	      "addresses, ports, payload length");
	CHECK(fi.h.type == SMX_T_DATA && fi.h.flags == SMX_F_GAP &&
	      fi.h.src_session == 0xdeadbeef && fi.h.dst_session == 7 &&
	      fi.h.seq == h.seq && fi.h.ack == 42 && fi.h.wnd == h.wnd,
	      "smx header fields round-trip");

	/* What parse refuses or passes over. */
	r = smx_frame_parse(b, SMX_HDRS_LEN, tot - 1, &fi);
	CHECK(r == -EBADMSG, "IP length past the frame: %d", r);
	r = smx_frame_parse(b, SMX_HDRS_LEN - 1, tot, &fi);
	CHECK(r == -EBADMSG, "headers not contiguous: %d", r);
	b[SMX_ETH_LEN + SMX_IP4_LEN + SMX_UDP_LEN] ^= 0xff;
	r = smx_frame_parse(b, SMX_HDRS_LEN, tot, &fi);
	CHECK(r == 2, "wrong magic: other traffic (%d)", r);
	b[SMX_ETH_LEN + SMX_IP4_LEN + SMX_UDP_LEN] ^= 0xff;
	b[SMX_ETH_LEN + SMX_IP4_LEN + SMX_UDP_LEN + 2] = 9;
	r = smx_frame_parse(b, SMX_HDRS_LEN, tot, &fi);
	CHECK(r == -EBADMSG, "wrong version: malformed (%d)", r);
	h.type = SMX_T_ACK;
	smx_frame_build(b, &a, &h, 8);
	r = smx_frame_parse(b, SMX_HDRS_LEN, SMX_HDRS_LEN + 8, &fi);
	CHECK(r == -EBADMSG, "ACK with payload: malformed (%d)", r);
	smx_frame_build(b, &a, &h, 0);
	r = smx_frame_parse(b, SMX_HDRS_LEN, SMX_HDRS_LEN + 18, &fi);
	CHECK(r == 0 && fi.payload_len == 0, "ACK with Ethernet padding after it: %d", r);
	b[SMX_ETH_LEN + 9] = 6;
	r = smx_frame_parse(b, SMX_HDRS_LEN, SMX_HDRS_LEN, &fi);
	CHECK(r == 2, "TCP: other traffic (%d)", r);
	b[SMX_ETH_LEN + 9] = 17;
	b[SMX_ETH_LEN + 6] = 0x20;	/* more fragments */
	r = smx_frame_parse(b, SMX_HDRS_LEN, SMX_HDRS_LEN, &fi);
	CHECK(r == 2, "fragment: other traffic (%d)", r);
	b[12] = 0x86;
	b[13] = 0xdd;
	r = smx_frame_parse(b, SMX_HDRS_LEN, SMX_HDRS_LEN, &fi);
	CHECK(r == 2, "IPv6: other traffic (%d)", r);
	r = smx_frame_parse(b, 10, 10, &fi);
	CHECK(r == -EBADMSG, "runt: %d", r);
}

static void test_arp(void)
{
	uint8_t b[64], mac[6] = { 2, 0, 0, 0, 0, 9 }, got[6];
	uint32_t sip = inet_addr("10.0.0.5"), gw = inet_addr("169.254.1.1");
	uint32_t n = smx_frame_arp_request(b, mac, sip, gw);
	struct smx_frame_info fi;

	CHECK(n == SMX_ARP_LEN && smx_frame_parse(b, n, n, &fi) == 1,
	      "ARP request built, parsed as ARP");
	CHECK(!smx_frame_arp_reply(b, n, gw, got), "a request is not a reply");
	/* Turn it into the gateway's reply, as the data plane would. */
	b[SMX_ETH_LEN + 7] = 2;
	memcpy(b + SMX_ETH_LEN + 18, b + SMX_ETH_LEN + 8, 10);
	memcpy(b + SMX_ETH_LEN + 8, "\x02\x5e\x00\x00\x00\x01", 6);
	memcpy(b + SMX_ETH_LEN + 14, &gw, 4);
	CHECK(smx_frame_arp_reply(b, n, gw, got) &&
	      memcmp(got, "\x02\x5e\x00\x00\x00\x01", 6) == 0, "reply: gateway MAC learned");
	CHECK(!smx_frame_arp_reply(b, n, sip, got), "reply from another address ignored");
}

/* ---- combine / stitching ---- */

struct sink {
	uint8_t *buf;
	size_t len, align, pieces, bad_align, overlap;
	uint8_t *seen;
};

static void sink_fn(void *arg, size_t off, const void *src, size_t len)
{
	struct sink *k = arg;

	k->pieces++;
	if ((off % k->align) != 0 || ((len % k->align) != 0 && off + len != k->len))
		k->bad_align++;
	for (size_t i = 0; i < len; i++) {
		if (k->seen[off + i])
			k->overlap++;
		k->seen[off + i] = 1;
	}
	memcpy(k->buf + off, src, len);
}

static uint8_t pat(size_t i)
{
	return (uint8_t)(i * 131 + (i >> 8) * 7 + 1);
}

/* Deliver `total` stream bytes in pieces of the sizes cycling through
 * cuts[], to receives of the sizes in rl[] with the given align. */
static void stitch_case(const size_t *rl, int nr, size_t align,
			const size_t *cuts, int ncuts)
{
	struct smx_peer p;
	struct smx_req r[8];
	struct sink k[8];
	size_t total = 0, off = 0;
	uint8_t *src;
	int i, c = 0;

	memset(&p, 0, sizeof(p));
	for (i = 0; i < nr; i++)
		total += rl[i];
	src = malloc(total);
	for (size_t j = 0; j < total; j++)
		src[j] = pat(j);
	for (i = 0; i < nr; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		k[i] = (struct sink){ .buf = calloc(1, rl[i] + 1), .len = rl[i],
				      .align = align, .seen = calloc(1, rl[i] + 1) };
		r[i].len = rl[i];
		r[i].fn = sink_fn;
		r[i].arg = &k[i];
		r[i].align = (uint32_t)align;
		r[i].start = p.rcv_posted;
		p.rcv_posted += rl[i];
		smx_queue_push(&p.rq, &r[i]);
	}
	while (off < total) {
		size_t n = cuts[c++ % ncuts];

		if (n > total - off)
			n = total - off;
		smx_req_deliver(&p, src + off, (uint32_t)n);
		off += n;
	}
	for (i = 0, off = 0; i < nr; i++) {
		size_t miss = 0;

		for (size_t j = 0; j < rl[i]; j++)
			miss += k[i].seen[j] == 0 || k[i].buf[j] != pat(off + j);
		CHECK(r[i].status == 1 && miss == 0 && k[i].bad_align == 0 &&
		      k[i].overlap == 0,
		      "align %zu, recv %d of %zu B: done %d, %zu bytes wrong, "
		      "%zu misaligned of %zu pieces, %zu overlaps", align, i, rl[i],
		      r[i].status, miss, k[i].bad_align, k[i].pieces, k[i].overlap);
		off += rl[i];
		free(k[i].buf);
		free(k[i].seen);
	}
	CHECK(p.rq.head == NULL && p.rcv_nxt == total, "all receives retired");
	free(src);
}

static void test_stitch(void)
{
	static const size_t cuts1[] = { 1, 3, 5, 7, 2048 - 82, 2048, 61440, 13 };
	static const size_t cuts2[] = { 4093, 2048, 1, 65535 };
	static const size_t rl1[] = { 100003, 7, 64, 250001 };
	static const size_t rl2[] = { 1 << 20, 1 << 16 };
	static const size_t rl3[] = { 5, 3, 1, 130 };
	size_t a;

	for (a = 1; a <= SMX_ALIGN_MAX; a *= 2) {
		stitch_case(rl1, 4, a, cuts1, 8);
		stitch_case(rl2, 2, a, cuts2, 4);
		stitch_case(rl3, 4, a, cuts1, 8);
	}
	/* fn NULL: plain copy into the buffer. */
	{
		struct smx_peer p;
		struct smx_req r;
		uint8_t buf[1000], src[1000];

		memset(&p, 0, sizeof(p));
		memset(&r, 0, sizeof(r));
		for (int i = 0; i < 1000; i++)
			src[i] = pat((size_t)i);
		r.len = 1000;
		r.rbuf = buf;
		r.align = 8;
		p.rcv_posted = 1000;
		smx_queue_push(&p.rq, &r);
		smx_req_deliver(&p, src, 333);
		smx_req_deliver(&p, src + 333, 667);
		CHECK(r.status == 1 && memcmp(buf, src, 1000) == 0, "default combine copies");
	}
}

int main(void)
{
	test_frame();
	test_arp();
	test_stitch();
	printf("%d passed, %d failed\n", n_pass, n_fail);
	return n_fail ? 1 : 0;
}
