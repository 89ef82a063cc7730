/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Observability: counts frames by protocol, drops malformed IP frames
 * (reason "malformed") and samples the first SHUNT_SAMPLE_BYTES of every
 * frame it drops into the attachment's sample ring. Attached with the
 * chain's "watch drops" flag, it also sees the frames earlier filters in
 * the chain dropped (ctx->drop_verdict != 0) and samples those with their
 * reason; its verdict on them is ignored. Put it last in a chain.
 */
#include "shunt_filter.h"
#include "shunt_parse.h"

SHUNT_REASONS("malformed");
SHUNT_COUNTERS("ipv4", "ipv6", "not_ip", "tcp", "udp", "icmp", "icmp6",
	"other_l4", "fragment", "malformed", "dropped_seen", "bytes");

enum { C_IPV4, C_IPV6, C_NOT_IP, C_TCP, C_UDP, C_ICMP, C_ICMP6, C_OTHER,
       C_FRAG, C_MALFORMED, C_DROPPED, C_BYTES };

SHUNT_FILTER(observe)
{
	/* one helper call, then plain adds: several counters per frame */
	uint64_t *cnt = shunt_counters();
	struct shunt_pkt p;
	int rc;

	if (ctx->drop_verdict) {
		cnt[C_DROPPED]++;
		shunt_sample(ctx, ctx->drop_verdict);
		return SHUNT_PASS;
	}
	cnt[C_BYTES] += ctx->pkt_len;
	rc = shunt_parse(ctx, &p);
	if (rc == SHUNT_PARSE_NOT_IP) {
		cnt[C_NOT_IP]++;
		return SHUNT_PASS;
	}
	if (rc != SHUNT_PARSE_OK) {
		cnt[C_MALFORMED]++;
		shunt_sample(ctx, SHUNT_DROP_REASON(1));
		return SHUNT_DROP_REASON(1);
	}
	cnt[p.family == 4 ? C_IPV4 : C_IPV6]++;
	if (p.frag != SHUNT_FRAG_NONE)
		cnt[C_FRAG]++;
	switch (p.proto) {
	case 6:
		cnt[C_TCP]++;
		break;
	case 17:
		cnt[C_UDP]++;
		break;
	case 1:
		cnt[C_ICMP]++;
		break;
	case 58:
		cnt[C_ICMP6]++;
		break;
	default:
		cnt[C_OTHER]++;
	}
	return SHUNT_PASS;
}
