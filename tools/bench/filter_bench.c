/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ns per packet of each shipped filter: rte_bpf JIT (direct call), the
 * same through filter_chain_run (what a worker pays: context set-up, the
 * chain loop, counters), the interpreter, and the same logic compiled as
 * plain C in this program, in the same run on the same frames. The plain
 * C versions use the very parsing and matching code the filters use
 * (ebpf/shunt_parse.h, shunt_acl.h, compiled here by gcc).
 * Run by tools/bench/filter; prints one line per filter:
 *     name jit_ns chain_ns interp_ns c_ns cached_ns cached1_ns
 * where cached_ns is filter_chain_run with the verdict cache (every frame
 * a hit: the 64 frames are 16 flows, interleaved) and cached1_ns the same
 * with all frames of one flow; chain_ns for filters not cacheable. Chains
 * run over rounds of 32 frames, as a worker's bursts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include "filter.h"
#include "filter_internal.h"
#include "shunt_acl.h"

#define NPKT 64
#define ROUNDS 20000

static struct rte_mempool *pool;
static struct rte_mbuf *pkts[NPKT];
static struct shunt_ctx ctxs[NPKT];
static uint64_t c_counters[SHUNT_MAX_COUNTERS];
static volatile uint64_t sink;

/* ---- plain C equivalents ---------------------------------------------- */

static uint64_t c_example(struct shunt_ctx *ctx)
{
	struct shunt_pkt p;

	if (shunt_parse(ctx, &p) != SHUNT_PARSE_OK || p.proto != 17)
		return SHUNT_PASS;
	c_counters[0]++;
	if (p.has_ports && p.dport == 9)
		return SHUNT_DROP_REASON(1);
	return SHUNT_PASS;
}

static const struct shunt_acl *c_acl_table;

static uint64_t c_acl(struct shunt_ctx *ctx)
{
	const struct shunt_acl *acl = c_acl_table;
	struct shunt_pkt p;
	int rc = shunt_parse(ctx, &p);

	if (rc == SHUNT_PARSE_NOT_IP)
		return SHUNT_PASS;
	if (rc != SHUNT_PARSE_OK)
		return acl->malformed_action == SHUNT_ACL_DENY ?
			SHUNT_DROP_REASON(SHUNT_ACL_REASON_MALFORMED) : SHUNT_PASS;
	if (p.family == 4) {
		for (uint32_t i = 0; i < acl->n4 && i < SHUNT_ACL_MAX_RULES; i++)
			if (shunt_acl_diff4(&acl->rule4[i], &p) == 0) {
				c_counters[i]++;
				return acl->rule4[i].action == SHUNT_ACL_DENY ?
					SHUNT_DROP_REASON(1) : SHUNT_PASS;
			}
	} else {
		for (uint32_t i = 0; i < acl->n6 && i < SHUNT_ACL_MAX_RULES; i++)
			if (shunt_acl_diff6(&acl->rule6[i], &p) == 0) {
				c_counters[SHUNT_ACL_MAX_RULES + i]++;
				return acl->rule6[i].action == SHUNT_ACL_DENY ?
					SHUNT_DROP_REASON(1) : SHUNT_PASS;
			}
	}
	return acl->default_action == SHUNT_ACL_DENY ?
		SHUNT_DROP_REASON(SHUNT_ACL_REASON_DEFAULT) : SHUNT_PASS;
}

/* the policer's bucket is the data plane's own helper in both versions */
static uint64_t (*rate_allow)(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t);

static uint64_t c_policer(struct shunt_ctx *ctx)
{
	if (rate_allow(0, ctx->pkt_len, 0, 0, 0)) {
		c_counters[0] += ctx->pkt_len;
		return SHUNT_PASS;
	}
	c_counters[1] += ctx->pkt_len;
	return SHUNT_DROP_REASON(1);
}

static uint64_t c_observe(struct shunt_ctx *ctx)
{
	struct shunt_pkt p;
	int rc;

	c_counters[11] += ctx->pkt_len;
	rc = shunt_parse(ctx, &p);
	if (rc == SHUNT_PARSE_NOT_IP) {
		c_counters[2]++;
		return SHUNT_PASS;
	}
	if (rc != SHUNT_PARSE_OK) {
		c_counters[9]++;
		return SHUNT_DROP_REASON(1);
	}
	c_counters[p.family == 4 ? 0 : 1]++;
	if (p.frag != SHUNT_FRAG_NONE)
		c_counters[8]++;
	switch (p.proto) {
	case 6: c_counters[3]++; break;
	case 17: c_counters[4]++; break;
	case 1: c_counters[5]++; break;
	case 58: c_counters[6]++; break;
	default: c_counters[7]++;
	}
	return SHUNT_PASS;
}

/* ---- frames and timing ------------------------------------------------- */

static void frames(void)
{
	for (int i = 0; i < NPKT; i++) {
		struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
		uint8_t *d = (uint8_t *)rte_pktmbuf_append(m, 64);

		memset(d, 0, 64);
		d[12] = 0x08;                       /* IPv4 */
		d[14] = 0x45;
		d[16] = 0; d[17] = 50;
		d[22] = 64;
		d[23] = i % 4 == 3 ? 17 : 6;        /* 3/4 TCP, 1/4 UDP */
		inet_pton(AF_INET, "10.1.0.1", d + 26);
		inet_pton(AF_INET, "10.0.0.2", d + 30);
		d[34] = 0x30; d[35] = 0x39;
		d[36] = 0x1f; d[37] = (uint8_t)(0x90 + i % 16);  /* 8080.. */
		pkts[i] = m;
		ctxs[i].data = d;
		ctxs[i].len = 64;
		ctxs[i].pkt_len = 64;
	}
}

/* Make every frame frame 0's flow (on), or put the 16 flows back. */
static void one_flow(bool on)
{
	for (int i = 0; i < NPKT; i++) {
		uint8_t *d = rte_pktmbuf_mtod(pkts[i], uint8_t *);

		d[23] = on || i % 4 != 3 ? 6 : 17;
		d[37] = (uint8_t)(0x90 + (on ? 0 : i % 16));
	}
}

static double ns_per_pkt(uint64_t cycles, uint64_t n)
{
	return (double)cycles * 1e9 / (double)rte_get_tsc_hz() / (double)n;
}

typedef uint64_t (*pkt_fn)(struct shunt_ctx *);

static double time_direct(pkt_fn fn, const struct filter *f, int interp)
{
	uint64_t t0, acc = 0;
	int rounds = interp ? ROUNDS / 10 : ROUNDS;

	t0 = rte_rdtsc_precise();
	for (int r = 0; r < rounds; r++)
		for (int i = 0; i < NPKT; i++)
			acc += fn ? fn(&ctxs[i]) : rte_bpf_exec(f->bpf, &ctxs[i]);
	t0 = rte_rdtsc_precise() - t0;
	sink += acc;
	return ns_per_pkt(t0, (uint64_t)rounds * NPKT);
}

static double time_chain(const struct filter_chain *c)
{
	uint32_t verdicts[NPKT];
	uint64_t t0;

	/* in rounds of 32, as a worker's bursts */
	t0 = rte_rdtsc_precise();
	for (int r = 0; r < ROUNDS; r++)
		for (int k = 0; k < NPKT; k += 32)
			sink += filter_chain_run(c, 0, pkts + k, 32, verdicts,
						 NULL);
	t0 = rte_rdtsc_precise() - t0;
	return ns_per_pkt(t0, (uint64_t)ROUNDS * NPKT);
}

static void rule4(struct shunt_acl *acl, const char *dst, int dlen, int lo,
		  int hi, uint8_t action)
{
	struct shunt_acl_rule4 *r = &acl->rule4[acl->n4++];
	uint32_t a;

	inet_pton(AF_INET, dst, &a);
	r->dst_mask = htonl(dlen ? ~0u << (32 - dlen) : 0);
	r->dst = a & r->dst_mask;
	r->proto = 6;
	r->proto_mask = 0xff;
	r->need_ports = 1;
	r->dport_lo = (uint16_t)lo;
	r->dport_hi = (uint16_t)hi;
	r->action = action;
}

int main(int argc, char **argv)
{
	const char *dir = getenv("SHUNT_FILTER_DIR");
	static const char *const names[] = { "example", "acl", "policer", "observe" };
	static const pkt_fn cfns[] = { c_example, c_acl, c_policer, c_observe };
	char prefix[64], lcores[16], err[1024];
	char *eal[] = { argv[0], "--no-huge", "--no-shconf", "-m", "128",
			"--file-prefix", prefix, "--log-level=4", "--no-pci",
			"--no-telemetry", "-l", lcores };
	static struct shunt_acl acl;

	if (dir == NULL) {
		fprintf(stderr, "usage: SHUNT_FILTER_DIR=build/ebpf %s [cpu]\n", argv[0]);
		return 2;
	}
	snprintf(lcores, sizeof(lcores), "%s", argc > 1 ? argv[1] : "1");
	snprintf(prefix, sizeof(prefix), "shunt_bench_filter_%d", getpid());
	if (rte_eal_init(RTE_DIM(eal), eal) < 0) {
		fprintf(stderr, "EAL: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	pool = rte_pktmbuf_pool_create("bf_pool", 255, 0, 0,
				       RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	frames();
	/* 16 rules: 15 that miss the frames (other prefixes), the 16th allows
	 * TCP to 10/8 ports 8000..9000, so every TCP frame walks all 16 and
	 * every UDP frame takes the default (deny) */
	for (int i = 0; i < 15; i++) {
		char p[32];

		snprintf(p, sizeof(p), "172.%d.0.0", 16 + i);
		rule4(&acl, p, 16, 0, 65535, SHUNT_ACL_DENY);
	}
	rule4(&acl, "10.0.0.0", 8, 8000, 9000, SHUNT_ACL_ALLOW);
	acl.default_action = SHUNT_ACL_DENY;
	acl.malformed_action = SHUNT_ACL_DENY;
	c_acl_table = &acl;
	for (unsigned int k = 0; k < filter_n_xsym; k++)
		if (strcmp(filter_xsym[k].name, "shunt_rate_allow") == 0)
			rate_allow = filter_xsym[k].func.val;

	printf("# cpu %u, tsc %.2f GHz, %d frames of 64 B, %d rounds\n",
	       rte_lcore_id(), rte_get_tsc_hz() / 1e9, NPKT, ROUNDS);
	for (unsigned int i = 0; i < RTE_DIM(names); i++) {
		char path[512];
		struct filter *f;
		struct filter_inst *fi;
		struct filter_table *t = NULL;
		struct filter_chain *c, *cu;
		double jit, chain, interp, cns, cached, cached1;

		snprintf(path, sizeof(path), "%s/%s.o", dir, names[i]);
		if (filter_load(path, names[i], 0, &f, err, sizeof(err)) < 0) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
		filter_inst_create(f, &fi, err, sizeof(err));
		if (strcmp(names[i], "acl") == 0) {
			filter_table_create("acl", FILTER_TABLE_ARRAY, 0, 0, NULL,
					    &t, err, sizeof(err));
			filter_table_array_set(t, &acl, sizeof(acl));
			filter_inst_bind(fi, SHUNT_ACL_SLOT, t, NULL);
		}
		/* policer: a rate no 64 B frame stream here exceeds */
		filter_inst_bucket_set(fi, 0, 1ull << 40, 1ull << 40);
		filter_chain_build(&fi, NULL, 1, NULL, &c, err, sizeof(err));
		filter_cache_enable(false);
		filter_chain_build(&fi, NULL, 1, NULL, &cu, err, sizeof(err));
		filter_cache_enable(true);
		filter_cur.fi = fi;
		filter_cur.ws = &fi->ws[0];
		/* warm up, then measure */
		time_direct((pkt_fn)f->jit, f, 0);
		jit = time_direct((pkt_fn)f->jit, f, 0);
		interp = time_direct(NULL, f, 1);
		time_direct(cfns[i], NULL, 0);
		cns = time_direct(cfns[i], NULL, 0);
		filter_cur.fi = NULL;
		filter_cur.ws = NULL;
		time_chain(cu);
		chain = time_chain(cu);
		time_chain(c);
		cached = filter_chain_n_cached(c) ? time_chain(c) : chain;
		/* the same with every frame of one flow (rounds of 32) */
		one_flow(true);
		time_chain(c);
		cached1 = filter_chain_n_cached(c) ? time_chain(c) : chain;
		one_flow(false);
		printf("%s %.2f %.2f %.2f %.2f %.2f %.2f\n", names[i], jit,
		       chain, interp, cns, cached, cached1);
		filter_chain_free(c);
		filter_chain_free(cu);
		filter_inst_put(fi);
		filter_table_put(t);
		filter_put(f);
	}
	rte_eal_cleanup();
	return 0;
}
