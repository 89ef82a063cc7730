/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Tests of the eBPF filters (suite 'ebpf'): the shipped filters on crafted
 * frames, interpreter and JIT agreeing on every one; refusals with their
 * messages (verifier, ABI version, missing section, size, not ELF); chains
 * replaced 1,000 times while a worker runs them.
 * Filters come from $SHUNT_FILTER_DIR (meson sets it to build/ebpf).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <rte_bpf.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>
#include "filter.h"
#include "shunt_acl.h"

static int failures;
static const char *dir;
static struct rte_mempool *pool;

#define CHECK(c, ...) do { if (!(c)) { failures++; \
	printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); \
	printf("\n"); } } while (0)

/* ---- frames ------------------------------------------------------------- */

struct frame {
	uint8_t b[512];
	uint32_t len;
};

static void put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v & 0xff; }

static void eth(struct frame *f, uint16_t type)
{
	memset(f, 0, sizeof(*f));
	memset(f->b, 0x02, 12);
	put16(f->b + 12, type);
	f->len = 14;
}

/* IPv4 with optlen bytes of options (NOPs), then 8 bytes of L4 header
 * (ports, the rest zero) unless frag_off says a later fragment. */
static void ip4(struct frame *f, const char *src, const char *dst,
		uint8_t proto, uint16_t sport, uint16_t dport,
		unsigned int optlen, uint16_t frag)
{
	uint8_t *ip;
	unsigned int ihl = 20 + optlen;

	eth(f, 0x0800);
	ip = f->b + 14;
	ip[0] = 0x40 | (uint8_t)(ihl / 4);
	ip[8] = 64;
	ip[9] = proto;
	put16(ip + 6, frag);
	inet_pton(AF_INET, src, ip + 12);
	inet_pton(AF_INET, dst, ip + 16);
	memset(ip + 20, 1, optlen);
	put16(ip + ihl, sport);
	put16(ip + ihl + 2, dport);
	f->len = 14 + ihl + 8 + 18;
	put16(ip + 2, (uint16_t)(f->len - 14));
}

/* IPv6 with the extension headers in ext (next-header values, each 8
 * bytes; 44 is a fragment header with frag_off). */
static void ip6(struct frame *f, const char *src, const char *dst,
		uint8_t proto, uint16_t sport, uint16_t dport,
		const uint8_t *ext, unsigned int n_ext, uint16_t frag_off)
{
	uint8_t *ip, *p;

	eth(f, 0x86dd);
	ip = f->b + 14;
	ip[0] = 0x60;
	ip[6] = n_ext ? ext[0] : proto;
	ip[7] = 64;
	inet_pton(AF_INET6, src, ip + 8);
	inet_pton(AF_INET6, dst, ip + 24);
	p = ip + 40;
	for (unsigned int i = 0; i < n_ext; i++) {
		p[0] = i + 1 < n_ext ? ext[i + 1] : proto;
		p[1] = 0;
		if (ext[i] == 44)
			put16(p + 2, frag_off);
		p += 8;
	}
	put16(p, sport);
	put16(p + 2, dport);
	f->len = (uint32_t)(p - f->b) + 8 + 10;
	put16(ip + 4, (uint16_t)(f->len - 54));
}

static struct shunt_ctx ctx_of(const struct frame *f, uint8_t *window)
{
	struct shunt_ctx c = { 0 };

	memset(window, 0, SHUNT_WINDOW);
	memcpy(window, f->b, RTE_MIN(f->len, (uint32_t)SHUNT_WINDOW));
	c.data = window;
	c.len = f->len;
	c.pkt_len = f->len;
	c.port = 3;
	return c;
}

/* Run f on the frame in the JIT and the interpreter; they must agree.
 * Returns the verdict. */
static uint64_t run_both(struct filter *flt, struct filter_inst *fi,
			 const struct frame *fr, const char *what)
{
	uint8_t w[SHUNT_WINDOW];
	struct shunt_ctx c = ctx_of(fr, w);
	uint64_t vj = filter_exec(flt, fi, 0, &c, true);
	uint64_t vi;

	c = ctx_of(fr, w);
	vi = filter_exec(flt, fi, 0, &c, false);
	CHECK(vj == vi, "%s %s: JIT says %#llx, interpreter %#llx",
	      filter_name(flt), what, (unsigned long long)vj,
	      (unsigned long long)vi);
	return vj;
}

static struct filter *load(const char *name, unsigned int flags)
{
	char path[512], err[1024];
	struct filter *f = NULL;
	int rc;

	snprintf(path, sizeof(path), "%s/%s.o", dir, name);
	rc = filter_load(path, name, flags, &f, err, sizeof(err));
	CHECK(rc == 0, "load %s: %d %s", path, rc, err);
	if (rc == 0 && !(flags & FILTER_LOAD_NO_JIT))
		CHECK(filter_is_jit(f), "%s: no JIT", name);
	return f;
}

#define EXPECT(flt, fi, fr, want, what) do { \
	uint64_t v_ = run_both(flt, fi, fr, what); \
	CHECK(v_ == (want), "%s %s: verdict %#llx, expected %#llx", \
	      filter_name(flt), what, (unsigned long long)v_, \
	      (unsigned long long)(want)); \
	n_vectors++; } while (0)

static int n_vectors;

/* ---- shipped filters ---------------------------------------------------- */

static void test_example(void)
{
	struct filter *f = load("example", 0);
	struct frame fr;
	uint8_t ext[] = { 0, 44 };

	if (f == NULL)
		return;
	ip4(&fr, "10.0.0.1", "10.0.0.2", 17, 1000, 9, 0, 0);
	EXPECT(f, NULL, &fr, SHUNT_DROP_REASON(1), "udp4 to 9");
	ip4(&fr, "10.0.0.1", "10.0.0.2", 17, 1000, 10, 0, 0);
	EXPECT(f, NULL, &fr, SHUNT_PASS, "udp4 to 10");
	ip4(&fr, "10.0.0.1", "10.0.0.2", 6, 1000, 9, 0, 0);
	EXPECT(f, NULL, &fr, SHUNT_PASS, "tcp4 to 9");
	ip4(&fr, "10.0.0.1", "10.0.0.2", 17, 1000, 9, 40, 0);
	EXPECT(f, NULL, &fr, SHUNT_DROP_REASON(1), "udp4 to 9, 40B options");
	ip4(&fr, "10.0.0.1", "10.0.0.2", 17, 1000, 9, 0, 0x2000);
	EXPECT(f, NULL, &fr, SHUNT_DROP_REASON(1), "udp4 to 9, first fragment");
	ip4(&fr, "10.0.0.1", "10.0.0.2", 17, 1000, 9, 0, 0x0010);
	EXPECT(f, NULL, &fr, SHUNT_PASS, "udp4 later fragment (no ports)");
	ip4(&fr, "10.0.0.1", "10.0.0.2", 17, 1000, 9, 0, 0);
	fr.len = 14 + 20 + 3;
	EXPECT(f, NULL, &fr, SHUNT_PASS, "udp4 header cut at 3 bytes");
	fr.len = 20;
	EXPECT(f, NULL, &fr, SHUNT_PASS, "frame cut in the IP header");
	ip6(&fr, "2001:db8::1", "2001:db8::2", 17, 1, 9, NULL, 0, 0);
	EXPECT(f, NULL, &fr, SHUNT_DROP_REASON(1), "udp6 to 9");
	ip6(&fr, "2001:db8::1", "2001:db8::2", 17, 1, 9, ext, 2, 0);
	EXPECT(f, NULL, &fr, SHUNT_DROP_REASON(1), "udp6 to 9 after hbh+frag");
	ip6(&fr, "2001:db8::1", "2001:db8::2", 17, 1, 9, ext, 2, 0x100);
	EXPECT(f, NULL, &fr, SHUNT_PASS, "udp6 later fragment");
	eth(&fr, 0x0806);
	fr.len = 42;
	EXPECT(f, NULL, &fr, SHUNT_PASS, "arp");
	CHECK(strcmp(filter_reason_name(f, 1), "udp_discard") == 0,
	      "reason name %s", filter_reason_name(f, 1));
	filter_put(f);
}

/* Append a rule; lo < 0: any port; proto 0: any; "any" prefixes: NULL. */
static void acl_rule(struct shunt_acl *acl, int fam, uint8_t proto,
		     const char *src, int slen, const char *dst, int dlen,
		     int lo, int hi, uint8_t action)
{
	char s[64], d[64], err[256];
	struct filter_acl_rule_args a = {
		.action = action == SHUNT_ACL_DENY ? "deny" : "allow",
		.family = fam, .proto = proto, .dport_lo = lo, .dport_hi = hi,
	};

	snprintf(s, sizeof(s), "%s/%d", src, slen);
	snprintf(d, sizeof(d), "%s/%d", dst, dlen);
	a.src = slen ? s : NULL;
	a.dst = dlen ? d : NULL;
	CHECK(filter_acl_rule_add(acl, &a, err, sizeof(err)) == 0, "rule: %s", err);
}

static void test_acl_rules(void)
{
	struct shunt_acl acl;
	char err[256];
	struct filter_acl_rule_args a = { .action = "deny", .src = "10.0.0.0/8",
					  .dst = "2001:db8::/32",
					  .dport_lo = -1, .dport_hi = -1 };

	CHECK(filter_acl_init(&acl, "deny", "maybe", err, sizeof(err)) == -EINVAL,
	      "bad action accepted");
	filter_acl_init(&acl, "deny", "deny", err, sizeof(err));
	CHECK(filter_acl_rule_add(&acl, &a, err, sizeof(err)) == -EINVAL,
	      "mixed families accepted");
	printf("  refused rule: %s\n", err);
	a.dst = "10.1.0.0/40";
	CHECK(filter_acl_rule_add(&acl, &a, err, sizeof(err)) == -EINVAL,
	      "/40 accepted");
	a.dst = NULL;
	a.dport_lo = 100;
	a.dport_hi = 10;
	CHECK(filter_acl_rule_add(&acl, &a, err, sizeof(err)) == -EINVAL,
	      "port range 100-10 accepted");
	a.dport_lo = a.dport_hi = -1;
	for (int i = 0; i < SHUNT_ACL_MAX_RULES; i++)
		CHECK(filter_acl_rule_add(&acl, &a, err, sizeof(err)) == 0, "%s", err);
	CHECK(filter_acl_rule_add(&acl, &a, err, sizeof(err)) == -ENOSPC,
	      "rule %d accepted", SHUNT_ACL_MAX_RULES + 1);
	CHECK(acl.rule4[0].src_mask == htonl(0xff000000u) &&
	      acl.rule4[0].src == htonl(0x0a000000u), "10/8 words");
}

static struct rte_rcu_qsbr *qsbr;

static void test_acl(void)
{
	struct filter *f = load("acl", 0);
	struct filter_table *t;
	struct filter_inst *fi;
	struct filter_inst_stats st;
	struct shunt_acl acl;
	char err[256];
	struct frame fr;
	uint8_t ext[] = { 0, 44 };
	const uint64_t deny = SHUNT_DROP_REASON(SHUNT_ACL_REASON_DENY);
	const uint64_t dflt = SHUNT_DROP_REASON(SHUNT_ACL_REASON_DEFAULT);

	if (f == NULL)
		return;
	CHECK(filter_table_create("acl_rules", FILTER_TABLE_ARRAY, 0, 0, qsbr,
				  &t, err, sizeof(err)) == 0, "table: %s", err);
	CHECK(filter_inst_create(f, &fi, err, sizeof(err)) == 0, "inst: %s", err);
	filter_inst_bind(fi, SHUNT_ACL_SLOT, t, qsbr);

	filter_acl_init(&acl, "deny", "deny", err, sizeof(err));
	/* no table written yet, all zero: default allow */
	ip4(&fr, "10.0.0.1", "10.1.2.3", 6, 1000, 22, 0, 0);
	EXPECT(f, fi, &fr, SHUNT_PASS, "no rules");

	acl_rule(&acl, 4, 6, "0.0.0.0", 0, "10.0.0.0", 8, 22, 22,
		 SHUNT_ACL_DENY);
	acl_rule(&acl, 4, 17, "0.0.0.0", 0, "0.0.0.0", 0, -1, -1,
		 SHUNT_ACL_ALLOW);
	acl_rule(&acl, 6, 6, "::", 0, "2001:db8::", 32, 80, 443,
		 SHUNT_ACL_ALLOW);
	acl_rule(&acl, 4, 0, "192.168.0.0", 16, "10.0.0.0", 8, -1, -1,
		 SHUNT_ACL_ALLOW);
	CHECK(filter_table_array_set(t, &acl, sizeof(acl)) == 0, "array set");

	ip4(&fr, "10.0.0.1", "10.1.2.3", 6, 1000, 22, 0, 0);
	EXPECT(f, fi, &fr, deny, "tcp4 to 10/8:22");
	ip4(&fr, "10.0.0.1", "10.1.2.3", 6, 1000, 22, 12, 0);
	EXPECT(f, fi, &fr, deny, "tcp4 to 10/8:22 with options");
	ip4(&fr, "10.0.0.1", "10.1.2.3", 6, 1000, 80, 0, 0);
	EXPECT(f, fi, &fr, dflt, "tcp4 to 10/8:80");
	ip4(&fr, "10.0.0.1", "11.1.2.3", 17, 1000, 53, 0, 0);
	EXPECT(f, fi, &fr, SHUNT_PASS, "udp4");
	ip4(&fr, "192.168.3.4", "10.9.9.9", 6, 1000, 22, 0, 0);
	EXPECT(f, fi, &fr, deny, "tcp4 192.168/16 to 10/8:22 (rule 0 first)");
	ip4(&fr, "192.168.3.4", "10.9.9.9", 1, 0, 0, 0, 0);
	EXPECT(f, fi, &fr, SHUNT_PASS, "icmp4 192.168/16 to 10/8");
	ip4(&fr, "10.0.0.1", "10.1.2.3", 6, 1000, 22, 0, 0x0020);
	EXPECT(f, fi, &fr, dflt, "tcp4 later fragment: port rules skip it");
	ip4(&fr, "10.0.0.1", "10.1.2.3", 6, 1000, 22, 0, 0);
	fr.len = 14 + 20 + 2;
	EXPECT(f, fi, &fr, SHUNT_DROP_REASON(SHUNT_ACL_REASON_MALFORMED),
	       "tcp4 cut in the ports");
	ip4(&fr, "10.0.0.1", "10.1.2.3", 6, 1000, 22, 40, 0);
	fr.len = 14 + 40;
	EXPECT(f, fi, &fr, SHUNT_DROP_REASON(SHUNT_ACL_REASON_MALFORMED),
	       "ipv4 cut in its options");
	ip4(&fr, "10.0.0.1", "10.1.2.3", 6, 1000, 22, 0, 0);
	fr.b[14] = 0x43;
	EXPECT(f, fi, &fr, SHUNT_DROP_REASON(SHUNT_ACL_REASON_MALFORMED),
	       "ipv4 ihl 3");
	ip6(&fr, "2001:db8:1::1", "2001:db8::2", 6, 1, 443, NULL, 0, 0);
	EXPECT(f, fi, &fr, SHUNT_PASS, "tcp6 to 2001:db8::/32:443");
	ip6(&fr, "2001:db8:1::1", "2001:db8::2", 6, 1, 8080, NULL, 0, 0);
	EXPECT(f, fi, &fr, dflt, "tcp6 to :8080");
	ip6(&fr, "2001:db8:1::1", "2001:db9::2", 6, 1, 443, NULL, 0, 0);
	EXPECT(f, fi, &fr, dflt, "tcp6 to 2001:db9::");
	ip6(&fr, "2001:db8:1::1", "2001:db8::2", 6, 1, 80, ext, 2, 0);
	EXPECT(f, fi, &fr, SHUNT_PASS, "tcp6 :80 after hbh + first fragment");
	ip6(&fr, "2001:db8:1::1", "2001:db8::2", 6, 1, 80, ext, 2, 0x80);
	EXPECT(f, fi, &fr, dflt, "tcp6 later fragment");
	ip6(&fr, "2001:db8:1::1", "2001:db8::2", 6, 1, 80, NULL, 0, 0);
	fr.len = 14 + 30;
	EXPECT(f, fi, &fr, SHUNT_DROP_REASON(SHUNT_ACL_REASON_MALFORMED),
	       "ipv6 cut in its header");
	eth(&fr, 0x0806);
	fr.len = 42;
	EXPECT(f, fi, &fr, SHUNT_PASS, "arp");

	/* rules change without a reload */
	acl.rule4[0].action = SHUNT_ACL_ALLOW;
	filter_table_array_set(t, &acl, sizeof(acl));
	ip4(&fr, "10.0.0.1", "10.1.2.3", 6, 1000, 22, 0, 0);
	EXPECT(f, fi, &fr, SHUNT_PASS, "tcp4 :22 after the rule changed");

	filter_inst_stats_read(fi, &st);
	CHECK(st.counters[0] == 8 && st.counters[SHUNT_ACL_CNT_RULE6] == 4,
	      "acl counters v4 rule0 %llu v6 rule0 %llu",
	      (unsigned long long)st.counters[0],
	      (unsigned long long)st.counters[SHUNT_ACL_CNT_RULE6]);
	CHECK(strcmp(filter_counter_name(f, SHUNT_ACL_CNT_RULE6), "v6_rule0") == 0,
	      "counter name %s", filter_counter_name(f, SHUNT_ACL_CNT_RULE6));
	filter_inst_put(fi);
	filter_table_put(t);
	filter_put(f);
}

static void test_policer(void)
{
	struct filter *f = load("policer", 0);
	struct filter_inst *fi;
	char err[256];
	struct frame fr;
	uint64_t v[2][5];

	if (f == NULL)
		return;
	CHECK(filter_inst_create(f, &fi, err, sizeof(err)) == 0, "inst: %s", err);
	ip4(&fr, "10.0.0.1", "10.0.0.2", 17, 1, 2, 0, 0);
	fr.len = 400;
	/* 1 byte/s, burst 1000: two 400-byte frames pass, the third not */
	for (int mode = 0; mode < 2; mode++) {
		uint8_t w[SHUNT_WINDOW];

		filter_inst_bucket_set(fi, 0, 1, 1000);
		for (int i = 0; i < 5; i++) {
			struct shunt_ctx c = ctx_of(&fr, w);

			v[mode][i] = filter_exec(f, fi, 0, &c, mode == 0);
			n_vectors++;
		}
	}
	for (int i = 0; i < 5; i++) {
		uint64_t want = i < 2 ? SHUNT_PASS : SHUNT_DROP_REASON(1);

		CHECK(v[0][i] == want && v[1][i] == want,
		      "policer frame %d: JIT %#llx interpreter %#llx, expected %#llx",
		      i, (unsigned long long)v[0][i], (unsigned long long)v[1][i],
		      (unsigned long long)want);
	}
	/* unconfigured: passes */
	filter_inst_bucket_set(fi, 0, 0, 0);
	EXPECT(f, fi, &fr, SHUNT_PASS, "unlimited bucket");
	filter_inst_put(fi);
	filter_put(f);
}

static struct rte_mbuf *mbuf_of(const struct frame *fr)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);

	if (m == NULL)
		return NULL;
	memcpy(rte_pktmbuf_append(m, (uint16_t)fr->len), fr->b, fr->len);
	return m;
}

static void test_observe(void)
{
	struct filter *f = load("observe", 0), *ex = load("example", 0);
	struct filter_inst *fi, *exi, *insts[2];
	struct filter_chain *c = NULL;
	struct filter_inst_stats st;
	struct filter_sample s[8];
	unsigned int flags[2] = { 0, FILTER_ELEM_WATCH_DROPS };
	struct filter_chain_meta meta = { .port = 7, .dir = SHUNT_DIR_TO_POD };
	struct rte_mbuf *pk[4];
	uint32_t verdicts[4];
	char err[256];
	struct frame fr;
	unsigned int ns;

	if (f == NULL || ex == NULL)
		return;
	filter_inst_create(f, &fi, err, sizeof(err));
	filter_inst_create(ex, &exi, err, sizeof(err));
	ip4(&fr, "10.0.0.1", "10.0.0.2", 6, 1, 2, 0, 0);
	EXPECT(f, fi, &fr, SHUNT_PASS, "tcp4");
	ip6(&fr, "2001:db8::1", "2001:db8::2", 58, 0, 0, NULL, 0, 0);
	EXPECT(f, fi, &fr, SHUNT_PASS, "icmp6");
	fr.len = 30;
	EXPECT(f, fi, &fr, SHUNT_DROP_REASON(1), "ipv6 cut");
	filter_inst_stats_read(fi, &st);
	/* each vector ran twice (JIT, interpreter) */
	CHECK(st.counters[0] == 2 && st.counters[1] == 2 && st.counters[3] == 2 &&
	      st.counters[6] == 2 && st.counters[9] == 2,
	      "observe counters ipv4 %llu ipv6 %llu tcp %llu icmp6 %llu malformed %llu",
	      (unsigned long long)st.counters[0], (unsigned long long)st.counters[1],
	      (unsigned long long)st.counters[3], (unsigned long long)st.counters[6],
	      (unsigned long long)st.counters[9]);
	ns = filter_inst_samples_read(fi, s, 8);
	CHECK(ns == 2 && s[0].len == 30 && s[0].verdict == SHUNT_DROP_REASON(1),
	      "samples of the malformed frame: %u", ns);

	/* in a chain after example, watching drops: sees the UDP/9 drop */
	insts[0] = exi;
	insts[1] = fi;
	CHECK(filter_chain_build(insts, flags, 2, &meta, &c, err, sizeof(err)) == 0,
	      "chain: %s", err);
	ip4(&fr, "10.0.0.1", "10.0.0.2", 17, 1, 9, 0, 0);
	pk[0] = mbuf_of(&fr);
	ip4(&fr, "10.0.0.1", "10.0.0.2", 17, 1, 10, 0, 0);
	pk[1] = mbuf_of(&fr);
	CHECK(filter_chain_run(c, 0, pk, 2, verdicts, NULL) == 1 &&
	      verdicts[0] == (FILTER_VERDICT_DROP | 0 << 8 | 1) && verdicts[1] == 0,
	      "chain verdicts %#x %#x", verdicts[0], verdicts[1]);
	ns = filter_inst_samples_read(fi, s, 8);
	CHECK(ns == 1 && s[0].port == 7 && s[0].dir == SHUNT_DIR_TO_POD &&
	      s[0].verdict == SHUNT_DROP_REASON(1) && s[0].data[37] == 9,
	      "sample of the dropped frame: %u", ns);
	rte_pktmbuf_free(pk[0]);
	rte_pktmbuf_free(pk[1]);
	filter_chain_free(c);
	filter_inst_put(fi);
	filter_inst_put(exi);
	filter_put(f);
	filter_put(ex);
}

static uint32_t mark_of(struct filter *f, struct filter_inst *fi,
			const struct frame *fr, bool jit)
{
	uint8_t w[SHUNT_WINDOW];
	struct shunt_ctx c = ctx_of(fr, w);

	filter_exec(f, fi, 0, &c, jit);
	return c.mark;
}

static void test_tables(void)
{
	struct filter *f = load("tables", 0);
	struct filter_table *ex, *l4, *l6;
	struct filter_inst *fi;
	char err[256];
	struct frame fr;
	uint8_t k;
	const struct { const char *what; int fam; const char *dst; uint8_t proto;
		       uint32_t want; } v[] = {
		{ "udp4 to 10.1.2.3", 4, "10.1.2.3", 17, 0x000a00 | 0x11 },
		{ "tcp4 to 10.1.2.3 (no tcp key)", 4, "10.1.2.3", 6, 0x000aff },
		{ "udp4 to 10.9.0.1 (/16 beats /8)", 4, "10.9.0.1", 17, 0x000b11 },
		{ "udp4 to 192.0.2.1 (miss)", 4, "192.0.2.1", 17, 0xffffff11 },
		{ "udp6 to 2001:db8::5", 6, "2001:db8::5", 17, 0x000c11 },
		{ "udp6 to 2001:db8:0:1::5 (/64)", 6, "2001:db8:0:1::5", 17, 0x000d11 },
		{ "udp6 to 2001:db9:: (miss)", 6, "2001:db9::", 17, 0xffffff11 },
	};

	if (f == NULL)
		return;
	CHECK(filter_table_create("proto", FILTER_TABLE_EXACT, 1, 64, qsbr, &ex,
				  err, sizeof(err)) == 0, "exact: %s", err);
	CHECK(filter_table_create("dst4", FILTER_TABLE_LPM4, 0, 64, qsbr, &l4,
				  err, sizeof(err)) == 0, "lpm4: %s", err);
	CHECK(filter_table_create("dst6", FILTER_TABLE_LPM6, 0, 64, qsbr, &l6,
				  err, sizeof(err)) == 0, "lpm6: %s", err);
	filter_inst_create(f, &fi, err, sizeof(err));
	filter_inst_bind(fi, 0, ex, qsbr);
	filter_inst_bind(fi, 1, l4, qsbr);
	filter_inst_bind(fi, 2, l6, qsbr);
	k = 17;
	CHECK(filter_table_set(ex, &k, 1, 0x11) == 0, "exact set");
	CHECK(filter_table_set(ex, &k, 1, SHUNT_MISS) == -EINVAL, "miss value");
	CHECK(filter_table_prefix_set(l4, "10.0.0.0/8", 0x0a, err, sizeof(err)) == 0, "%s", err);
	CHECK(filter_table_prefix_set(l4, "10.9.0.0/16", 0x0b, err, sizeof(err)) == 0, "%s", err);
	CHECK(filter_table_prefix_set(l6, "2001:db8::/32", 0x0c, err, sizeof(err)) == 0, "%s", err);
	CHECK(filter_table_prefix_set(l6, "2001:db8:0:1::/64", 0x0d, err, sizeof(err)) == 0, "%s", err);
	CHECK(filter_table_prefix_set(l4, "10.0.0.0/33", 1, err, sizeof(err)) == -EINVAL &&
	      strstr(err, "10.0.0.0/33"), "bad prefix: %s", err);
	CHECK(filter_table_prefix_set(l6, "10.0.0.0/8", 1, err, sizeof(err)) == -EINVAL,
	      "v4 prefix in a v6 table");
	for (unsigned int i = 0; i < RTE_DIM(v); i++) {
		uint32_t mj, mi;

		if (v[i].fam == 4)
			ip4(&fr, "10.0.0.1", v[i].dst, v[i].proto, 1, 2, 0, 0);
		else
			ip6(&fr, "2001:db8::1", v[i].dst, v[i].proto, 1, 2, NULL, 0, 0);
		mj = mark_of(f, fi, &fr, true);
		mi = mark_of(f, fi, &fr, false);
		CHECK(mj == v[i].want && mi == v[i].want,
		      "tables %s: JIT %#x interpreter %#x, expected %#x",
		      v[i].what, mj, mi, v[i].want);
		n_vectors++;
	}
	/* changes show without a reload */
	CHECK(filter_table_del(ex, &k, 1) == 0, "exact del");
	CHECK(filter_table_prefix_del(l4, "10.9.0.0/16", err, sizeof(err)) == 0, "%s", err);
	ip4(&fr, "10.0.0.1", "10.9.0.1", 17, 1, 2, 0, 0);
	CHECK(mark_of(f, fi, &fr, true) == 0x000aff, "after deletes: %#x",
	      mark_of(f, fi, &fr, true));
	filter_inst_put(fi);
	filter_table_put(ex);
	filter_table_put(l4);
	filter_table_put(l6);
	filter_put(f);
}

/* filter_chain_apply over more than one internal round: compaction keeps
 * order, drops come back for the caller to free. */
static void test_apply(void)
{
	struct filter *f = load("example", 0);
	struct filter_inst *fi;
	struct filter_chain *c;
	struct filter_inst_stats st;
	struct rte_mbuf *pk[100], *orig[100], *drops[100];
	struct frame fr;
	char err[256];
	uint16_t pass, nd = 0;
	int ok = 1;

	if (f == NULL)
		return;
	filter_inst_create(f, &fi, err, sizeof(err));
	filter_chain_build(&fi, NULL, 1, NULL, &c, err, sizeof(err));
	for (int i = 0; i < 100; i++) {
		ip4(&fr, "10.0.0.1", "10.0.0.2", 17, (uint16_t)i, i % 3 ? 10 : 9,
		    0, 0);
		pk[i] = orig[i] = mbuf_of(&fr);
	}
	pass = filter_chain_apply(c, 1, pk, 100, drops, &nd);
	CHECK(pass == 66 && nd == 34, "apply: %u pass, %u dropped", pass, nd);
	for (int i = 0, p = 0, d = 0; i < 100; i++) {
		if (i % 3)
			ok &= pk[p++] == orig[i];
		else
			ok &= drops[d++] == orig[i];
	}
	CHECK(ok, "apply: order not kept");
	filter_inst_stats_read(fi, &st);
	CHECK(st.runs == 100 && st.drops[1] == 34 && st.counters[0] == 100,
	      "apply stats: runs %llu drops %llu", (unsigned long long)st.runs,
	      (unsigned long long)st.drops[1]);
	for (int i = 0; i < 100; i++)
		rte_pktmbuf_free(orig[i]);
	filter_chain_free(c);
	filter_inst_put(fi);
	filter_put(f);
}

/* ---- verdict cache ------------------------------------------------------ */

/* Frame i of the cache test's traffic: 1,500 flows (so several share a
 * cache slot), IPv4 and IPv6, TCP/UDP/ICMP, ports the ACL and flowmark
 * treat differently, later fragments, and frames the cache must not
 * keep (malformed, ARP). */
static void cache_frame(struct frame *fr, unsigned int i)
{
	static const uint16_t ports[] = { 22, 7, 80, 99, 443, 53, 8080 };
	unsigned int flow = (i * 7919u) % 1500;
	uint8_t proto = flow % 5 == 4 ? 1 : flow % 2 ? 17 : 6;
	uint16_t dport = flow % 3 ? ports[flow % RTE_DIM(ports)] :
		(uint16_t)(1000 + flow);
	char src[64];

	if (flow % 11 == 10) {
		snprintf(src, sizeof(src), "2001:db8:1::%x", flow);
		ip6(fr, src, flow % 4 ? "2001:db8::2" : "2001:db9::2", proto,
		    (uint16_t)flow, dport, NULL, 0, 0);
	} else {
		snprintf(src, sizeof(src), "%s.%u.%u",
			 flow % 7 == 6 ? "192.168" : "10.0", flow / 256,
			 flow % 256);
		ip4(fr, src, flow % 4 ? "10.1.2.3" : "11.1.2.3", proto,
		    (uint16_t)flow, dport, 0, flow % 13 == 12 ? 0x0020 : 0);
	}
	if (i % 97 == 96)
		fr->len = 14 + 20 + 2;     /* cut: malformed */
	if (i % 89 == 88) {
		eth(fr, 0x0806);
		fr->len = 42;
	}
}

static bool stats_equal(const struct filter_inst *a, const struct filter_inst *b,
			const char *what)
{
	struct filter_inst_stats x, y;

	filter_inst_stats_read(a, &x);
	filter_inst_stats_read(b, &y);
	CHECK(x.runs == y.runs, "%s: runs cached %llu, uncached %llu", what,
	      (unsigned long long)x.runs, (unsigned long long)y.runs);
	for (int r = 0; r <= SHUNT_MAX_REASONS; r++)
		CHECK(x.drops[r] == y.drops[r], "%s: drops[%d] cached %llu, "
		      "uncached %llu", what, r, (unsigned long long)x.drops[r],
		      (unsigned long long)y.drops[r]);
	for (int k = 0; k < SHUNT_MAX_COUNTERS; k++)
		CHECK(x.counters[k] == y.counters[k], "%s: counter %d cached "
		      "%llu, uncached %llu", what, k,
		      (unsigned long long)x.counters[k],
		      (unsigned long long)y.counters[k]);
	return memcmp(&x, &y, sizeof(x)) == 0 && x.runs > 0;
}

/* One frame through chain c on worker w: its verdict (and mark). */
static uint32_t run1(const struct filter_chain *c, const struct frame *fr,
		     uint32_t *mark)
{
	struct rte_mbuf *m = mbuf_of(fr);
	uint32_t v, mk;

	filter_chain_run(c, 2, &m, 1, &v, &mk);
	rte_pktmbuf_free(m);
	if (mark != NULL)
		*mark = mk;
	return v;
}

static void test_cache(void)
{
	struct filter *acl = load("acl", 0), *fm = load("flowmark", 0);
	struct filter_table *t, *t2;
	struct filter_inst *a1, *a2, *a3, *m1, *m2;
	struct filter_chain *cc, *cu, *c3;
	struct filter_cache_stats s0, s1;
	struct shunt_acl rules, open_rules;
	struct frame fr;
	char err[256];
	unsigned int n = 4500, bad = 0;
	uint32_t drop22;

	if (acl == NULL || fm == NULL)
		return;
	CHECK(filter_is_cacheable(acl) && filter_is_cacheable(fm),
	      "acl and flowmark not seen as cacheable");
	filter_table_create("cache_rules", FILTER_TABLE_ARRAY, 0, 0, qsbr, &t,
			    err, sizeof(err));
	filter_table_create("cache_open", FILTER_TABLE_ARRAY, 0, 0, qsbr, &t2,
			    err, sizeof(err));
	filter_acl_init(&rules, "deny", "deny", err, sizeof(err));
	acl_rule(&rules, 4, 6, "0.0.0.0", 0, "10.0.0.0", 8, 22, 22, SHUNT_ACL_DENY);
	acl_rule(&rules, 4, 17, "0.0.0.0", 0, "0.0.0.0", 0, -1, -1, SHUNT_ACL_ALLOW);
	acl_rule(&rules, 6, 6, "::", 0, "2001:db8::", 32, 80, 443, SHUNT_ACL_ALLOW);
	acl_rule(&rules, 4, 0, "192.168.0.0", 16, "10.0.0.0", 8, -1, -1,
		 SHUNT_ACL_ALLOW);
	acl_rule(&rules, 4, 6, "10.0.0.0", 8, "10.1.2.3", 32, 1000, 1400,
		 SHUNT_ACL_ALLOW);
	filter_table_array_set(t, &rules, sizeof(rules));
	filter_acl_init(&open_rules, "allow", "allow", err, sizeof(err));
	filter_table_array_set(t2, &open_rules, sizeof(open_rules));
	filter_inst_create(acl, &a1, err, sizeof(err));
	filter_inst_create(acl, &a2, err, sizeof(err));
	filter_inst_create(acl, &a3, err, sizeof(err));
	filter_inst_create(fm, &m1, err, sizeof(err));
	filter_inst_create(fm, &m2, err, sizeof(err));
	filter_inst_bind(a1, SHUNT_ACL_SLOT, t, qsbr);
	filter_inst_bind(a2, SHUNT_ACL_SLOT, t, qsbr);
	filter_inst_bind(a3, SHUNT_ACL_SLOT, t2, qsbr);

	/* the same chain, cached and not */
	struct filter_inst *ic[2] = { m1, a1 }, *iu[2] = { m2, a2 };
	CHECK(filter_chain_build(ic, NULL, 2, NULL, &cc, err, sizeof(err)) == 0,
	      "%s", err);
	filter_cache_enable(false);
	CHECK(filter_chain_build(iu, NULL, 2, NULL, &cu, err, sizeof(err)) == 0,
	      "%s", err);
	filter_cache_enable(true);
	CHECK(filter_chain_build(&a3, NULL, 1, NULL, &c3, err, sizeof(err)) == 0,
	      "%s", err);

	filter_cache_stats_read(&s0);
	/* the traffic five times over, in bursts of 32: frames of different
	 * flows, runs of a flow, whole bursts of a flow (as a bulk transfer's
	 * are) */
	for (unsigned int round = 0; round < 5; round++) {
		for (unsigned int i = 0; i < n; i += 32) {
			struct rte_mbuf *pc[32], *pu[32];
			uint32_t vc[32], vu[32], mc[32], mu[32];
			unsigned int k = RTE_MIN(32u, n - i);

			for (unsigned int j = 0; j < k; j++) {
				/* round 1: runs of four frames of one flow;
				 * rounds 3, 4: bursts of one flow */
				cache_frame(&fr, round == 1 ? (i + j) / 4 :
					    round >= 3 ? (i + j) / 32 : i + j);
				pc[j] = mbuf_of(&fr);
				pu[j] = mbuf_of(&fr);
			}
			filter_chain_run(cc, 2, pc, (uint16_t)k, vc, mc);
			filter_chain_run(cu, 2, pu, (uint16_t)k, vu, mu);
			for (unsigned int j = 0; j < k; j++) {
				if (vc[j] != vu[j] || mc[j] != mu[j]) {
					if (bad++ < 5)
						CHECK(0, "frame %u: cached verdict "
						      "%#x mark %#x, uncached %#x "
						      "%#x", i + j, vc[j], mc[j],
						      vu[j], mu[j]);
				}
				rte_pktmbuf_free(pc[j]);
				rte_pktmbuf_free(pu[j]);
			}
		}
	}
	CHECK(bad == 0, "%u of %u frames differ with the cache", bad, 5 * n);
	CHECK(stats_equal(m1, m2, "flowmark") && stats_equal(a1, a2, "acl"),
	      "stats differ with the cache");
	filter_cache_stats_read(&s1);
	printf("  cache: %llu hits, %llu misses, %llu uncached over %u frames\n",
	       (unsigned long long)(s1.hits - s0.hits),
	       (unsigned long long)(s1.misses - s0.misses),
	       (unsigned long long)(s1.uncached - s0.uncached), 5 * n);
	CHECK(s1.hits - s0.hits > n && s1.misses - s0.misses >= 1500 &&
	      s1.uncached - s0.uncached > 0 && s1.workers >= 1,
	      "cache barely used: %llu hits %llu misses %llu uncached",
	      (unsigned long long)(s1.hits - s0.hits),
	      (unsigned long long)(s1.misses - s0.misses),
	      (unsigned long long)(s1.uncached - s0.uncached));

	/* more flows than the cache holds, cycled through: the chain skips
	 * the cache (verdicts unchanged), and takes it up again once its
	 * flows fit */
	filter_cache_stats_read(&s0);
	for (unsigned int round = 0; round < 3; round++) {
		for (unsigned int i = 0; i < 20000; i += 32) {
			struct rte_mbuf *pc[32], *pu[32];
			uint32_t vc[32], vu[32], mc[32], mu[32];

			for (unsigned int j = 0; j < 32; j++) {
				char src[32];
				unsigned int f = i + j;

				snprintf(src, sizeof(src), "10.%u.%u.%u", f >> 16,
					 (f >> 8) & 0xff, f & 0xff);
				ip4(&fr, src, "10.1.2.3", 6, 1000,
				    (uint16_t)(f % 5 ? 1200 : 22), 0, 0);
				pc[j] = mbuf_of(&fr);
				pu[j] = mbuf_of(&fr);
			}
			filter_chain_run(cc, 2, pc, 32, vc, mc);
			filter_chain_run(cu, 2, pu, 32, vu, mu);
			for (unsigned int j = 0; j < 32; j++) {
				if ((vc[j] != vu[j] || mc[j] != mu[j]) && bad++ < 5)
					CHECK(0, "many flows, frame %u: cached "
					      "%#x/%#x, uncached %#x/%#x", i + j,
					      vc[j], mc[j], vu[j], mu[j]);
				rte_pktmbuf_free(pc[j]);
				rte_pktmbuf_free(pu[j]);
			}
		}
	}
	filter_cache_stats_read(&s1);
	printf("  60,000 frames of 20,000 flows: %llu hits, %llu misses, "
	       "%llu bypassed\n", (unsigned long long)(s1.hits - s0.hits),
	       (unsigned long long)(s1.misses - s0.misses),
	       (unsigned long long)(s1.bypassed - s0.bypassed));
	CHECK(s1.bypassed - s0.bypassed > 30000,
	      "a thrashing chain kept using the cache (%llu bypassed)",
	      (unsigned long long)(s1.bypassed - s0.bypassed));
	CHECK(stats_equal(m1, m2, "flowmark") && stats_equal(a1, a2, "acl"),
	      "stats differ with the cache skipped");
	s0 = s1;
	for (unsigned int r = 0; r < 3000; r++) {
		struct rte_mbuf *pc[32];
		uint32_t vc[32];

		ip4(&fr, "10.0.0.1", "10.1.2.3", 6, 1000, 1200, 0, 0);
		for (unsigned int j = 0; j < 32; j++)
			pc[j] = mbuf_of(&fr);
		filter_chain_run(cc, 2, pc, 32, vc, NULL);
		for (unsigned int j = 0; j < 32; j++)
			rte_pktmbuf_free(pc[j]);
	}
	filter_cache_stats_read(&s1);
	CHECK(s1.hits - s0.hits > 32 * 1000, "one flow after the thrashing: "
	      "%llu hits, %llu bypassed", (unsigned long long)(s1.hits - s0.hits),
	      (unsigned long long)(s1.bypassed - s0.bypassed));

	/* 1,024 flows (FILTER_CACHE_ENTRIES / 4), counted up in the last
	 * bits of the destination as testpmd's flowgen makes them, then
	 * scattered, cycled through twice: the second time, the counted-up
	 * ones all hit (CRC spreads them over distinct buckets), scattered
	 * ones but those in buckets of three or more (~9% at this load with
	 * two ways; one way loses ~22%, a poor index function more) */
	for (int rnd = 0; rnd < 2; rnd++) {
		struct filter_chain *c4;
		uint64_t hits;

		CHECK(filter_chain_build(ic, NULL, 2, NULL, &c4, err,
					 sizeof(err)) == 0, "%s", err);
		for (int pass = 0; pass < 2; pass++) {
			filter_cache_stats_read(&s0);
			for (unsigned int i = 0; i < 1024; i += 32) {
				struct rte_mbuf *pc[32];
				uint32_t vc[32];

				for (unsigned int j = 0; j < 32; j++) {
					char dst[32];
					uint32_t f = i + j;

					if (rnd)  /* a fixed scramble of f */
						f = (f * 2654435761u) ^ (f >> 3);
					snprintf(dst, sizeof(dst), "10.%u.%u.%u",
						 (f >> 16) & 0xff, (f >> 8) & 0xff,
						 f & 0xff);
					ip4(&fr, "10.254.0.0", dst, 17, 1000,
					    1001, 0, 0);
					pc[j] = mbuf_of(&fr);
				}
				filter_chain_run(c4, 2, pc, 32, vc, NULL);
				for (unsigned int j = 0; j < 32; j++)
					rte_pktmbuf_free(pc[j]);
			}
			filter_cache_stats_read(&s1);
		}
		hits = s1.hits - s0.hits;
		printf("  1,024 %s flows, second pass: %llu hits, %llu misses, "
		       "%llu bypassed\n", rnd ? "scattered" : "counted-up",
		       (unsigned long long)hits,
		       (unsigned long long)(s1.misses - s0.misses),
		       (unsigned long long)(s1.bypassed - s0.bypassed));
		CHECK(hits >= (rnd ? 1024 * 85 / 100 : 1024), "1,024 %s flows: %llu of 1,024 "
		      "hits the second time", rnd ? "scattered" : "counted-up",
		      (unsigned long long)hits);
		filter_chain_free(c4);
	}

	/* a burst of one flow but for one frame, which differs in one of the
	 * fields the key is made of (or is not IP, or is cut): that frame
	 * gets its own verdict, the others the flow's */
	for (unsigned int var = 0; var < 9; var++) {
		for (unsigned int pos = 0; pos < 32; pos += 31) {
			struct rte_mbuf *pc[32], *pu[32];
			uint32_t vc[32], vu[32], mc[32], mu[32];

			for (unsigned int j = 0; j < 32; j++) {
				const char *src = "10.0.0.1";
				uint16_t frag = 0, dport = 80;
				uint8_t proto = 6;
				unsigned int opt = 0;

				if (j == pos && var == 0) frag = 0x2000;  /* first fragment */
				if (j == pos && var == 1) frag = 0x0020;  /* later one */
				if (j == pos && var == 2) opt = 4;
				if (j == pos && var == 3) dport = 81;
				if (j == pos && var == 4) src = "10.0.0.9";
				if (j == pos && var == 5) proto = 17;
				if (j == pos && var == 6) frag = 0x4000;  /* DF: same flow */
				ip4(&fr, src, "10.1.2.3", proto, 1000, dport, opt, frag);
				if (j == pos && var == 7)
					fr.len = 14 + 20 + 3;
				if (j == pos && var == 8)
					fr.b[12] = 0x86;  /* claims IPv6 */
				pc[j] = mbuf_of(&fr);
				pu[j] = mbuf_of(&fr);
			}
			for (int twice = 0; twice < 2; twice++)
				filter_chain_run(cc, 2, pc, 32, vc, mc);
			filter_chain_run(cu, 2, pu, 32, vu, mu);
			for (unsigned int j = 0; j < 32; j++) {
				CHECK(vc[j] == vu[j] && mc[j] == mu[j],
				      "one-flow burst, variant %u at %u, frame "
				      "%u: cached %#x/%#x, uncached %#x/%#x",
				      var, pos, j, vc[j], mc[j], vu[j], mu[j]);
				rte_pktmbuf_free(pc[j]);
				rte_pktmbuf_free(pu[j]);
			}
		}
	}

	/* a rule change shows at once for a flow the cache holds */
	ip4(&fr, "10.0.0.1", "10.1.2.3", 6, 1000, 22, 0, 0);
	drop22 = FILTER_VERDICT_DROP | 1 << 8 | SHUNT_ACL_REASON_DENY;
	CHECK(run1(cc, &fr, NULL) == drop22 && run1(cc, &fr, NULL) == drop22,
	      "tcp :22 not denied");
	rules.rule4[0].action = SHUNT_ACL_ALLOW;
	filter_table_array_set(t, &rules, sizeof(rules));
	CHECK(run1(cc, &fr, NULL) == 0, "tcp :22 denied after the rule allowed it");
	rules.rule4[0].action = SHUNT_ACL_DENY;
	filter_table_array_set(t, &rules, sizeof(rules));
	CHECK(run1(cc, &fr, NULL) == drop22, "tcp :22 allowed after the rule "
	      "denied it again");
	/* so does binding another table */
	filter_inst_bind(a1, SHUNT_ACL_SLOT, t2, qsbr);
	CHECK(run1(cc, &fr, NULL) == 0, "tcp :22 denied by an unbound table");
	filter_inst_bind(a1, SHUNT_ACL_SLOT, t, qsbr);
	CHECK(run1(cc, &fr, NULL) == drop22, "tcp :22 not denied when rebound");
	/* another chain on the same worker: its own verdict */
	CHECK(run1(c3, &fr, NULL) == 0 && run1(c3, &fr, NULL) == 0 &&
	      run1(cc, &fr, NULL) == drop22, "chains share cached verdicts");

	filter_chain_free(cc);
	filter_chain_free(cu);
	filter_chain_free(c3);
	filter_inst_put(a1);
	filter_inst_put(a2);
	filter_inst_put(a3);
	filter_inst_put(m1);
	filter_inst_put(m2);
	filter_table_put(t);
	filter_table_put(t2);
	filter_put(acl);
	filter_put(fm);
}

/* ---- refusals ----------------------------------------------------------- */

static void expect_refused(const char *path, int want_rc, const char *want_msg)
{
	char err[1024];
	struct filter *f = NULL;
	int rc = filter_load(path, "bad", 0, &f, err, sizeof(err));

	CHECK(rc == want_rc && strstr(err, want_msg) != NULL,
	      "load %s: rc %d (want %d), message \"%s\" (want \"%s\")", path,
	      rc, want_rc, err, want_msg);
	printf("  refused %s: %s\n", strrchr(path, '/') + 1, err);
	if (rc == 0)
		filter_put(f);
}

static void test_refusals(void)
{
	char path[512], tmp[] = "/tmp/shunt_test_filterXXXXXX", err[1024];
	struct filter *f;
	int fd;
	/* r0 = 0; loop: r0 += 1; if r0 < 10 goto loop; exit */
	const struct ebpf_insn loop[] = {
		{ .code = EBPF_ALU64 | EBPF_MOV | BPF_K, .dst_reg = 0, .imm = 0 },
		{ .code = EBPF_ALU64 | BPF_ADD | BPF_K, .dst_reg = 0, .imm = 1 },
		{ .code = BPF_JMP | EBPF_JLT | BPF_K, .dst_reg = 0, .imm = 10,
		  .off = -2 },
		{ .code = BPF_JMP | EBPF_EXIT },
	};

	snprintf(path, sizeof(path), "%s/bad_oob.o", dir);
	expect_refused(path, -EINVAL, "memory boundary violation");
	snprintf(path, sizeof(path), "%s/bad_loop.o", dir);
	expect_refused(path, -EINVAL, "loop");
	snprintf(path, sizeof(path), "%s/bad_helper.o", dir);
	expect_refused(path, -EINVAL, "shunt_no_such_helper");
	snprintf(path, sizeof(path), "%s/bad_global.o", dir);
	expect_refused(path, -EINVAL, "no global or static data");
	snprintf(path, sizeof(path), "%s/abi_v2.o", dir);
	expect_refused(path, -EPROTO, "ABI version 2");
	snprintf(path, sizeof(path), "%s/bad_cacheable.o", dir);
	expect_refused(path, -EINVAL, "SHUNT_FLOW_CACHEABLE but calls shunt_now_ns");
	expect_refused("/nonexistent/f.o", -ENOENT, "No such file");

	fd = mkstemp(tmp);
	CHECK(fd >= 0, "mkstemp");
	CHECK(write(fd, "not an ELF file\n", 16) == 16, "write");
	expect_refused(tmp, -ENOEXEC, "not an ELF64 object");
	CHECK(ftruncate(fd, FILTER_FILE_MAX + 1) == 0, "truncate");
	expect_refused(tmp, -EFBIG, "limit");
	close(fd);
	unlink(tmp);

	CHECK(filter_load_raw(loop, RTE_DIM(loop), "loop", 0, &f, err,
			      sizeof(err)) == -EINVAL && strstr(err, "loop"),
	      "raw loop: %s", err);
	printf("  refused raw loop: %s\n", err);
}

/* ---- replace under traffic ---------------------------------------------- */

static struct filter_chain *live_chain;
static volatile int stop;
static uint64_t worker_pkts, worker_bad, worker_none;

static void *worker(void *arg)
{
	struct rte_mbuf **pk = arg;
	uint32_t verdicts[32], marks[32];

	rte_rcu_qsbr_thread_register(qsbr, 0);
	rte_rcu_qsbr_thread_online(qsbr, 0);
	while (!stop) {
		const struct filter_chain *c =
			__atomic_load_n(&live_chain, __ATOMIC_ACQUIRE);

		if (c == NULL) {
			worker_none++;
		} else {
			/* chain i has tenant i + 1 and pair i & 1 */
			uint32_t t = filter_chain_meta(c)->tenant;
			uint32_t want = ((t - 1) & 1 ? 12 : 3) | t << 8;

			filter_chain_run(c, 0, pk, 32, verdicts, marks);
			for (int i = 0; i < 32; i++)
				if (verdicts[i] != 0 || marks[i] != want)
					worker_bad++;
			worker_pkts += 32;
		}
		rte_rcu_qsbr_quiescent(qsbr, 0);
	}
	rte_rcu_qsbr_thread_offline(qsbr, 0);
	rte_rcu_qsbr_thread_unregister(qsbr, 0);
	return NULL;
}

/* cached: the flow-cacheable build of the mark filters, so the verdict
 * cache serves every frame but the first of each chain. */
static void test_replace(bool cached)
{
	struct filter *mk[4];
	struct filter_inst *fi[4];
	struct rte_mbuf *pk[32];
	struct frame fr;
	pthread_t th;
	char err[256];
	int i;

	stop = 0;
	worker_pkts = worker_bad = worker_none = 0;
	for (i = 0; i < 4; i++) {
		char n[12];

		snprintf(n, sizeof(n), "%smark%d", cached ? "c" : "", 1 << i);
		mk[i] = load(n, 0);
		if (mk[i] == NULL)
			return;
		filter_inst_create(mk[i], &fi[i], err, sizeof(err));
	}
	ip4(&fr, "10.0.0.1", "10.0.0.2", 17, 1, 2, 0, 0);
	for (i = 0; i < 32; i++)
		pk[i] = mbuf_of(&fr);
	pthread_create(&th, NULL, worker, pk);
	for (i = 0; i < 1000; i++) {
		struct filter_chain *c;
		/* {1,2} then {4,8}: one filter of a chain is never seen alone */
		struct filter_inst *pair[2] = { fi[(i & 1) * 2], fi[(i & 1) * 2 + 1] };

		struct filter_chain_meta meta = { .tenant = (uint32_t)i + 1 };

		CHECK(filter_chain_build(pair, NULL, 2, &meta, &c, err,
					 sizeof(err)) == 0, "build: %s", err);
		CHECK(filter_chain_n_cached(c) == (cached ? 2u : 0u),
		      "chain caches %u elements", filter_chain_n_cached(c));
		filter_chain_publish(&live_chain, c, qsbr);
	}
	while (worker_pkts < 32 * 100)
		usleep(1000);
	stop = 1;
	pthread_join(th, NULL);
	filter_chain_publish(&live_chain, NULL, qsbr);
	printf("  1000 replacements%s: worker ran %llu packets, %llu with a "
	       "verdict from a partial chain or another chain\n",
	       cached ? " (cacheable filters)" : "",
	       (unsigned long long)worker_pkts, (unsigned long long)worker_bad);
	CHECK(worker_bad == 0, "%llu packets saw half a chain or another's "
	      "result", (unsigned long long)worker_bad);
	CHECK(worker_pkts > 0, "worker ran nothing");
	for (i = 0; i < 32; i++)
		rte_pktmbuf_free(pk[i]);
	for (i = 0; i < 4; i++) {
		filter_inst_put(fi[i]);
		filter_put(mk[i]);
	}
}

int main(int argc, char **argv)
{
	char prefix[64];
	char *eal[] = { argv[0], "--no-huge", "--no-shconf", "-m", "256",
			"--file-prefix", prefix, "--log-level=5", "--no-pci",
			"-l", "0" };
	size_t sz;

	(void)argc;
	dir = getenv("SHUNT_FILTER_DIR");
	if (dir == NULL) {
		printf("SHUNT_FILTER_DIR not set: run through meson test\n");
		return 77;
	}
	snprintf(prefix, sizeof(prefix), "shunt_test_filter_%d", getpid());
	if (rte_eal_init(RTE_DIM(eal), eal) < 0) {
		printf("EAL init failed: %s\n", rte_strerror(rte_errno));
		return 77;
	}
	pool = rte_pktmbuf_pool_create("tf_pool", 1023, 0, 0,
				       RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	sz = rte_rcu_qsbr_get_memsize(4);
	qsbr = rte_zmalloc("tf_qsbr", sz, RTE_CACHE_LINE_SIZE);
	rte_rcu_qsbr_init(qsbr, 4);

	test_example();
	test_acl();
	test_policer();
	test_observe();
	test_tables();
	test_acl_rules();
	test_apply();
	test_cache();
	printf("%d vectors, JIT and interpreter agreeing on each\n", n_vectors);
	test_refusals();
	test_replace(false);
	test_replace(true);
	filter_cache_free();
	rte_eal_cleanup();
	printf("%s: %d failures\n", failures ? "FAIL" : "PASS", failures);
	return failures ? 1 : 0;
}
