/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Header parsing for filters: Ethernet, IPv4 (with options and fragments),
 * IPv6 (with up to four extension headers), TCP/UDP ports. Every offset is
 * checked against ctx->len (the frame) and kept below 256 (headers further
 * in count as malformed; the verifier allows SHUNT_WINDOW), so a truncated or hostile frame parses as malformed and
 * never reads outside the window. Loops are unrolled: rte_bpf has none.
 */
#ifndef SHUNT_PARSE_H
#define SHUNT_PARSE_H

#include "shunt_filter.h"

#define SHUNT_PARSE_OK 0
#define SHUNT_PARSE_NOT_IP 1     /* ARP, LLDP, ...: no IP header */
#define SHUNT_PARSE_MALFORMED 2  /* truncated or invalid header */

#define SHUNT_FRAG_NONE 0
#define SHUNT_FRAG_FIRST 1       /* first fragment: L4 header present */
#define SHUNT_FRAG_LATER 2       /* later fragment: no L4 header */

struct shunt_pkt {
	uint32_t l4_off;    /* L4 header offset from ctx->data */
	uint8_t family;     /* 4 or 6 */
	uint8_t proto;      /* L4 protocol (after IPv6 extension headers) */
	uint8_t frag;       /* SHUNT_FRAG_* */
	uint8_t has_ports;  /* sport and dport are valid (TCP, UDP, SCTP) */
	uint16_t sport, dport;  /* host order */
	uint32_t src4, dst4;    /* IPv4 addresses as in the frame (network order) */
	uint32_t src6[4], dst6[4];  /* IPv6 addresses as in the frame */
};

/*
 * Make clang forget what it knows about x, so the bounds check that follows
 * is done on x itself. Without it clang moves the check to the value x was
 * computed from, and rte_bpf's verifier, which tracks each register on its
 * own, then cannot see that x is bounded.
 */
#define SHUNT_OPAQUE(x) __asm__ volatile("" : "+r"(x))

/*
 * Offsets the parser reads at: at most 255 (plus the few bytes of the field),
 * which the verifier sees from the mask itself. Callers check the real bound
 * first, so the mask never changes a value; SHUNT_OPAQUE keeps clang from
 * dropping it as redundant.
 */
static __always_inline uint64_t shunt_off(uint64_t x)
{
	SHUNT_OPAQUE(x);
	return x & 0xff;
}

static __always_inline uint16_t shunt_ld16(const uint8_t *p)
{
	return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static __always_inline uint32_t shunt_ld32raw(const uint8_t *p)
{
	return *(const uint32_t *)p;  /* as in memory; rte_bpf allows unaligned */
}

static __always_inline int shunt_parse_l4(const struct shunt_ctx *ctx,
					  struct shunt_pkt *p)
{
	const uint8_t *d = ctx->data;
	uint64_t off = p->l4_off;

	if (p->frag == SHUNT_FRAG_LATER)
		return SHUNT_PARSE_OK;
	if (p->proto == 6 || p->proto == 17 || p->proto == 132) {
		if (off > 255 - 4 || off + 4 > ctx->len)
			return SHUNT_PARSE_MALFORMED;
		off = shunt_off(off);
		p->sport = shunt_ld16(d + off);
		p->dport = shunt_ld16(d + off + 2);
		p->has_ports = 1;
	}
	return SHUNT_PARSE_OK;
}

static __always_inline int shunt_parse_ipv4(const struct shunt_ctx *ctx,
					    struct shunt_pkt *p)
{
	const uint8_t *d = ctx->data;
	uint32_t ihl, frag;

	if (ctx->len < 14 + 20)
		return SHUNT_PARSE_MALFORMED;
	if ((d[14] >> 4) != 4)
		return SHUNT_PARSE_MALFORMED;
	ihl = (uint32_t)(d[14] & 0xf) * 4;
	if (ihl < 20 || 14 + ihl > ctx->len)
		return SHUNT_PARSE_MALFORMED;
	p->family = 4;
	p->proto = d[14 + 9];
	p->src4 = shunt_ld32raw(d + 14 + 12);
	p->dst4 = shunt_ld32raw(d + 14 + 16);
	frag = shunt_ld16(d + 14 + 6);
	if (frag & 0x1fff)
		p->frag = SHUNT_FRAG_LATER;
	else if (frag & 0x2000)
		p->frag = SHUNT_FRAG_FIRST;
	p->l4_off = 14 + ihl;
	return shunt_parse_l4(ctx, p);
}

/* One IPv6 extension header at *off; returns 0 to go on, 1 at the L4
 * header, or SHUNT_PARSE_MALFORMED. */
static __always_inline int shunt_parse_ext6(const struct shunt_ctx *ctx,
					    struct shunt_pkt *p, uint64_t *off)
{
	const uint8_t *d = ctx->data;
	uint64_t o = *off;

	if (o > 255 - 8 || o + 8 > ctx->len)
		return SHUNT_PARSE_MALFORMED;
	o = shunt_off(o);
	switch (p->proto) {
	case 0:   /* hop-by-hop */
	case 43:  /* routing */
	case 60:  /* destination options */
		p->proto = d[o];
		*off = o + ((uint64_t)d[o + 1] + 1) * 8;
		return 0;
	case 44:  /* fragment */
		p->proto = d[o];
		if (shunt_ld16(d + o + 2) & 0xfff8)
			p->frag = SHUNT_FRAG_LATER;
		else if (d[o + 3] & 1)
			p->frag = SHUNT_FRAG_FIRST;
		*off = o + 8;
		return 0;
	}
	return 1;
}

static __always_inline int shunt_parse_ipv6(const struct shunt_ctx *ctx,
					    struct shunt_pkt *p)
{
	const uint8_t *d = ctx->data;
	uint64_t off = 14 + 40;
	int rc;

	if (ctx->len < 14 + 40 || (d[14] >> 4) != 6)
		return SHUNT_PARSE_MALFORMED;
	p->family = 6;
	p->proto = d[14 + 6];
	SHUNT_UNROLL
	for (int i = 0; i < 4; i++) {
		p->src6[i] = shunt_ld32raw(d + 14 + 8 + 4 * i);
		p->dst6[i] = shunt_ld32raw(d + 14 + 24 + 4 * i);
	}
	SHUNT_UNROLL
	for (int i = 0; i < 4; i++) {
		rc = shunt_parse_ext6(ctx, p, &off);
		if (rc == SHUNT_PARSE_MALFORMED)
			return rc;
		if (rc == 1)
			break;
	}
	/* more than four extension headers: L4 unknown, ports not read */
	if (p->proto == 0 || p->proto == 43 || p->proto == 60 ||
	    p->proto == 44)
		return SHUNT_PARSE_OK;
	p->l4_off = (uint32_t)off;
	return shunt_parse_l4(ctx, p);
}

/* Parse ctx's frame into *p. Returns SHUNT_PARSE_*. */
static __always_inline int shunt_parse(const struct shunt_ctx *ctx,
				       struct shunt_pkt *p)
{
	const uint8_t *d = ctx->data;
	uint16_t type;

	p->l4_off = 0;
	p->family = 0;
	p->proto = 0;
	p->frag = SHUNT_FRAG_NONE;
	p->has_ports = 0;
	p->sport = 0;
	p->dport = 0;
	/* every field defined on every path: the verifier refuses a read of
	 * stack it has not seen written, whatever the family */
	p->src4 = 0;
	p->dst4 = 0;
	SHUNT_UNROLL
	for (int i = 0; i < 4; i++) {
		p->src6[i] = 0;
		p->dst6[i] = 0;
	}
	if (ctx->len < 14)
		return SHUNT_PARSE_MALFORMED;
	type = shunt_ld16(d + 12);
	if (type == 0x0800)
		return shunt_parse_ipv4(ctx, p);
	if (type == 0x86dd)
		return shunt_parse_ipv6(ctx, p);
	return SHUNT_PARSE_NOT_IP;
}

#endif
