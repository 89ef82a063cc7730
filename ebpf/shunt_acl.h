/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The ACL filter's rule table (acl.c), shared with the control plane that
 * writes it: an array table (slot SHUNT_ACL_SLOT, SHUNT_ARRAY_BYTES) the
 * filter reads in place. IPv4 and IPv6 rules are kept apart; each list is
 * evaluated in order, the first match decides, no match takes
 * default_action. The control plane replaces the whole table atomically,
 * so a packet sees one rule set, never a mix.
 *
 * A rule is matched without branches (one per rule, taken on a match):
 * rte_bpf's verifier walks every path through a program, and a branch per
 * field over 32 rules is more paths than it can walk. Hence the encoding:
 * addresses and masks are the 32-bit words a filter loads from the frame
 * (network byte order in memory, addr already masked), proto_mask says
 * whether proto counts, need_ports whether the port range does.
 */
#ifndef SHUNT_ACL_H
#define SHUNT_ACL_H

#include "shunt_filter.h"
#include "shunt_parse.h"

#define SHUNT_ACL_SLOT 0
#define SHUNT_ACL_MAX_RULES 32   /* per family */
#define SHUNT_ACL_ALLOW 1
#define SHUNT_ACL_DENY 2

/* Drop reasons (SHUNT_REASONS order in acl.c) and counters. */
#define SHUNT_ACL_REASON_DENY 1
#define SHUNT_ACL_REASON_DEFAULT 2
#define SHUNT_ACL_REASON_MALFORMED 3
/* counters 0..31: hits of IPv4 rule i; 32..63: of IPv6 rule i - 32 */
#define SHUNT_ACL_CNT_RULE6 SHUNT_ACL_MAX_RULES
/* default and malformed are counted by the chain as drop reasons when they
 * drop; when they allow, not at all (a helper call per packet costs) */

struct shunt_acl_rule4 {
	uint32_t src, src_mask, dst, dst_mask;
	uint16_t dport_lo, dport_hi;   /* host order, inclusive */
	uint8_t proto, proto_mask;     /* proto_mask 0xff: proto must equal */
	uint8_t need_ports;            /* 1: TCP/UDP/SCTP ports in range (a
	                                * later fragment has none: no match) */
	uint8_t action;                /* SHUNT_ACL_ALLOW or SHUNT_ACL_DENY */
};

struct shunt_acl_rule6 {
	uint32_t src[4], src_mask[4], dst[4], dst_mask[4];
	uint16_t dport_lo, dport_hi;
	uint8_t proto, proto_mask;
	uint8_t need_ports;
	uint8_t action;
};

struct shunt_acl {
	uint32_t n4, n6;           /* rules evaluated in each list */
	uint32_t default_action;   /* SHUNT_ACL_DENY, else allow */
	uint32_t malformed_action; /* SHUNT_ACL_DENY, else allow */
	struct shunt_acl_rule4 rule4[SHUNT_ACL_MAX_RULES];
	struct shunt_acl_rule6 rule6[SHUNT_ACL_MAX_RULES];
};

#if !defined(__bpf__) && defined(__STDC_VERSION__)
_Static_assert(sizeof(struct shunt_acl) <= SHUNT_ARRAY_BYTES,
	       "ACL table fits an array table");
#endif

/* Nonzero unless p's ports pass r's port condition. */
static __always_inline uint64_t shunt_acl_port_diff(uint8_t need,
						    uint16_t lo, uint16_t hi,
						    const struct shunt_pkt *p)
{
	int64_t d = p->dport;
	/* sign bit set when dport < lo or dport > hi */
	uint64_t out = (uint64_t)(((int64_t)hi - d) | (d - (int64_t)lo)) >> 63;

	return need & ((p->has_ports ^ 1) | out);
}

/* 0 when IPv4 rule r matches p (a parsed IPv4 frame). */
static __always_inline uint64_t shunt_acl_diff4(const struct shunt_acl_rule4 *r,
						const struct shunt_pkt *p)
{
	return ((p->src4 & r->src_mask) ^ r->src) |
	       ((p->dst4 & r->dst_mask) ^ r->dst) |
	       ((uint64_t)(p->proto ^ r->proto) & r->proto_mask) |
	       shunt_acl_port_diff(r->need_ports, r->dport_lo, r->dport_hi, p);
}

static __always_inline uint64_t shunt_acl_diff6(const struct shunt_acl_rule6 *r,
						const struct shunt_pkt *p)
{
	uint64_t d = ((uint64_t)(p->proto ^ r->proto) & r->proto_mask) |
		shunt_acl_port_diff(r->need_ports, r->dport_lo, r->dport_hi, p);

	SHUNT_UNROLL
	for (int i = 0; i < 4; i++)
		d |= ((p->src6[i] & r->src_mask[i]) ^ r->src[i]) |
		     ((p->dst6[i] & r->dst_mask[i]) ^ r->dst[i]);
	return d;
}

#endif
