/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * eBPF filters in the data plane (ABI: ebpf/shunt_filter.h).
 *
 * Objects, all made and changed by the control thread only:
 *   filter        a loaded, verified, JIT-compiled program; immutable
 *   filter_table  a helper table: exact match, IPv4/IPv6 LPM, or an array
 *                 replaced whole; filled by the control path, read by
 *                 filters through helpers while they change
 *   filter_inst   an attachment of a filter: its table slots, counters,
 *                 token buckets, sample ring. One program serves many
 *                 pods, each instance with its own rules and counters
 *   filter_chain  the ordered instances run on one (port, direction);
 *                 immutable once built, published with RCU, so a packet
 *                 sees the old chain or the new one, never a mix
 * Instances, tables and programs are reference counted: a chain holds its
 * instances, an instance its program and tables. What a worker may still
 * reach is freed only after a grace period (filter_chain_publish).
 *
 * Errors: functions return >= 0 or -errno and fill err with a message
 * naming the input. Nothing is printed; log.h at debug level only.
 */
#ifndef SHUNT_FILTER_DP_H
#define SHUNT_FILTER_DP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "shunt_filter.h"

struct rte_mbuf;
struct rte_rcu_qsbr;
struct filter;
struct filter_table;
struct filter_inst;
struct filter_chain;

#define FILTER_FILE_MAX   (1u << 20)  /* bytes of an ELF file */
#define FILTER_MAX_WORKERS 16         /* worker index < this (DP_MAX_WORKERS) */
#define FILTER_CHAIN_MAX   8          /* instances in one chain */
#define FILTER_BURST       64         /* packets per internal round */
#define FILTER_NAME_LEN    SHUNT_NAME_LEN

/* ---- programs --------------------------------------------------------- */

#define FILTER_LOAD_NO_JIT 1u  /* run in the interpreter (tests, debugging) */

/*
 * Load, verify and JIT the filter in ELF file path (section
 * SHUNT_FILTER_SECTION). name is the operator's name for it.
 * Returns 0 with *out holding one reference, or:
 *   -ENOENT/-EACCES/...  the file cannot be opened
 *   -EFBIG               larger than FILTER_FILE_MAX
 *   -ENOEXEC             not an eBPF ELF object, or no "shunt/v1" section
 *   -EPROTO              built for another ABI version
 *   -EINVAL              rte_bpf refused it (unknown helper, verifier);
 *                        err carries rte_bpf's own messages
 *   -ENOMEM
 */
int filter_load(const char *path, const char *name, unsigned int flags,
		struct filter **out, char *err, size_t errlen);
/* Load raw instructions (tests: programs clang would not emit). Same
 * returns as filter_load. */
int filter_load_raw(const void *insns, uint32_t n_insns, const char *name,
		    unsigned int flags, struct filter **out, char *err,
		    size_t errlen);
void filter_get(struct filter *f);
/* Drop a reference; the program is destroyed with the last one. Instances
 * hold references, so this is safe while the filter is attached. */
void filter_put(struct filter *f);

const char *filter_name(const struct filter *f);
bool filter_is_jit(const struct filter *f);
uint32_t filter_n_insns(const struct filter *f);
/* Name of drop reason r (0: "drop"), of counter i (NULL past the last). */
const char *filter_reason_name(const struct filter *f, unsigned int r);
const char *filter_counter_name(const struct filter *f, unsigned int i);
unsigned int filter_n_counters(const struct filter *f);

/* ---- tables ----------------------------------------------------------- */

enum filter_table_kind {
	FILTER_TABLE_EXACT,  /* key (1..SHUNT_KEY_LEN bytes) -> u64 */
	FILTER_TABLE_LPM4,   /* IPv4 prefix -> value < FILTER_LPM_VALUE_MAX */
	FILTER_TABLE_LPM6,   /* IPv6 prefix -> value < FILTER_LPM_VALUE_MAX */
	FILTER_TABLE_ARRAY,  /* SHUNT_ARRAY_BYTES, replaced whole */
};
#define FILTER_LPM_VALUE_MAX ((1ull << 31) - 1)  /* rte_fib 4-byte next hops */

/*
 * Create a table. key_len: exact tables only. capacity: entries (exact:
 * keys; LPM: prefixes). qsbr: the workers' RCU variable, for freeing what a
 * change replaces. An LPM table costs 64 MiB (rte_fib's DIR24_8 / trie
 * first level) whatever its size: make few, share them.
 * Returns 0 with one reference in *out, -EINVAL, -ENOMEM, -EEXIST (name).
 */
int filter_table_create(const char *name, enum filter_table_kind kind,
			uint32_t key_len, uint32_t capacity,
			struct rte_rcu_qsbr *qsbr, struct filter_table **out,
			char *err, size_t errlen);
void filter_table_get(struct filter_table *t);
void filter_table_put(struct filter_table *t);
const char *filter_table_name(const struct filter_table *t);
enum filter_table_kind filter_table_kind(const struct filter_table *t);

/* Exact tables: add or replace / remove. value must not be SHUNT_MISS.
 * Returns 0, -EINVAL (key length, value), -ENOSPC, -ENOENT (del). */
int filter_table_set(struct filter_table *t, const void *key, size_t key_len,
		     uint64_t value);
int filter_table_del(struct filter_table *t, const void *key, size_t key_len);
/* LPM tables: prefix as text ("10.0.0.0/8", "2001:db8::/32"; no length
 * means a host route). Returns 0, -EINVAL (bad prefix or value, family of
 * the wrong kind), -ENOSPC, -ENOENT (del). */
int filter_table_prefix_set(struct filter_table *t, const char *prefix,
			    uint64_t value, char *err, size_t errlen);
int filter_table_prefix_del(struct filter_table *t, const char *prefix,
			    char *err, size_t errlen);
/* Array tables: replace the contents (len <= SHUNT_ARRAY_BYTES, the rest
 * zero). Publishes a new copy, waits a grace period, frees the old one:
 * readers see the old or the new array whole. Returns 0, -EINVAL, -ENOMEM. */
int filter_table_array_set(struct filter_table *t, const void *data,
			   size_t len);

/* ---- instances (attachments) ------------------------------------------ */

/* Create an instance of f (takes its own reference on f). Returns 0,
 * -ENOMEM. */
int filter_inst_create(struct filter *f, struct filter_inst **out,
		       char *err, size_t errlen);
void filter_inst_get(struct filter_inst *fi);
void filter_inst_put(struct filter_inst *fi);
struct filter *filter_inst_filter(const struct filter_inst *fi);
/* Bind table t (or NULL) to slot; the instance takes a reference. A
 * previous table is released after a grace period on qsbr. Returns 0 or
 * -EINVAL (slot). */
int filter_inst_bind(struct filter_inst *fi, unsigned int slot,
		     struct filter_table *t, struct rte_rcu_qsbr *qsbr);
/* Configure token bucket b: rate in bytes/s (0: unlimited), burst in
 * bytes; the bucket starts full. Returns 0 or -EINVAL. */
int filter_inst_bucket_set(struct filter_inst *fi, unsigned int b,
			   uint64_t rate_bps, uint64_t burst);

struct filter_inst_stats {
	uint64_t runs;                          /* packets given to it */
	uint64_t drops[SHUNT_MAX_REASONS + 1];  /* by reason (0: "drop") */
	uint64_t counters[SHUNT_MAX_COUNTERS];  /* shunt_counter_add */
	uint64_t samples_lost;                  /* sample ring full */
};
/* Sum over workers. Counters are read while workers add to them: each is
 * exact by itself, not a snapshot of all. */
void filter_inst_stats_read(const struct filter_inst *fi,
			    struct filter_inst_stats *s);

struct filter_sample {
	uint64_t ns;          /* shunt_now_ns() when taken */
	uint32_t verdict;     /* the reason the filter gave (a verdict) */
	uint32_t pkt_len;
	uint16_t port;
	uint8_t dir;
	uint8_t len;          /* bytes in data */
	uint8_t data[SHUNT_SAMPLE_BYTES];
};
/* Take up to max samples from the instance's ring. Returns how many. */
unsigned int filter_inst_samples_read(struct filter_inst *fi,
				      struct filter_sample *out,
				      unsigned int max);

/* ---- chains ----------------------------------------------------------- */

struct filter_chain_meta {
	uint16_t port;        /* ctx->port */
	uint8_t dir;          /* enum shunt_dir */
	uint32_t pod_index;   /* ctx->pod_index */
	uint32_t tenant;      /* ctx->tenant */
};

/* Per element of filter_chain_build. */
#define FILTER_ELEM_WATCH_DROPS 1u  /* also run on frames earlier elements
                                     * dropped (verdict ignored) */
#define FILTER_ELEM_NO_CACHE 2u     /* run on every frame even if the
                                     * filter is flow-cacheable (and so
                                     * every element after it) */

/*
 * Build a chain of n (1..FILTER_CHAIN_MAX) instances, run in order; flags
 * may be NULL. The chain takes a reference on each instance. Not visible
 * to workers until published. Returns 0, -EINVAL, -ENOMEM.
 */
int filter_chain_build(struct filter_inst *const *insts,
		       const unsigned int *flags, unsigned int n,
		       const struct filter_chain_meta *meta,
		       struct filter_chain **out, char *err, size_t errlen);
/* Free a chain that was never published. */
void filter_chain_free(struct filter_chain *c);
/*
 * Publish fresh (NULL detaches) at *slot, the pointer workers load with
 * __atomic_load_n(slot, __ATOMIC_ACQUIRE): store, wait for a grace period
 * on qsbr (every registered worker quiescent), free the old chain and drop
 * its references. Control thread only. Returns 0.
 */
int filter_chain_publish(struct filter_chain **slot, struct filter_chain *fresh,
			 struct rte_rcu_qsbr *qsbr);
unsigned int filter_chain_len(const struct filter_chain *c);
/* What c was built with (its meta). */
const struct filter_chain_meta *filter_chain_meta(const struct filter_chain *c);
/* How many of c's leading elements the verdict cache covers. */
unsigned int filter_chain_n_cached(const struct filter_chain *c);

/* ---- ACL rules (ebpf/acl.c's table, shunt_acl.h) ---------------------- */

struct shunt_acl;

/* One rule as the control channel gives it. */
struct filter_acl_rule_args {
	const char *action;   /* "allow" or "deny" */
	const char *src;      /* prefix ("10.0.0.0/8", "2001:db8::/32"), NULL: any */
	const char *dst;      /* same; src and dst of one family; both NULL:
	                       * family says which */
	int family;           /* 4 or 6 when src and dst are both NULL */
	int proto;            /* 0..255, 0: any */
	int dport_lo, dport_hi;  /* -1, -1: any port (else the frame must have
	                          * ports: TCP, UDP, SCTP, not a later fragment) */
};

/* Start an empty rule set with these default and malformed-frame actions
 * ("allow" or "deny"). Returns 0 or -EINVAL with err filled. */
int filter_acl_init(struct shunt_acl *acl, const char *default_action,
		    const char *malformed_action, char *err, size_t errlen);
/* Append a rule to acl (evaluated after those already there, in its
 * family's list). Returns 0, -EINVAL (err names the bad field), -ENOSPC
 * (SHUNT_ACL_MAX_RULES of that family already). Publish the result with
 * filter_table_array_set(table, acl, sizeof(*acl)). */
int filter_acl_rule_add(struct shunt_acl *acl,
			const struct filter_acl_rule_args *a, char *err,
			size_t errlen);

/* ---- data path -------------------------------------------------------- */

/* verdicts[] of filter_chain_run: 0 passes; otherwise a drop: */
#define FILTER_VERDICT_DROP 0x80000000u
#define FILTER_VERDICT_POS(v)    (((v) >> 8) & 0xff)  /* chain position */
#define FILTER_VERDICT_REASON(v) ((v) & 0xff)         /* filter's reason */

/*
 * Run chain c over pkts[0..n) on worker w (< FILTER_MAX_WORKERS; the
 * instance counters it adds to are per worker). The caller checks c for
 * NULL (no chain: no cost). Fills verdicts[i]; marks[i] gets ctx->mark
 * when marks is not NULL. Returns the number of packets dropped. The
 * packets are not freed or moved.
 */
uint16_t filter_chain_run(const struct filter_chain *c, unsigned int w,
			  struct rte_mbuf **pkts, uint16_t n,
			  uint32_t *verdicts, uint32_t *marks);
/*
 * Same, then compact: passing packets stay in pkts (in order) and their
 * count is returned; dropped ones go to drops[0..*n_drops) for the caller
 * to count (DROP_FILTER) and free.
 */
uint16_t filter_chain_apply(const struct filter_chain *c, unsigned int w,
			    struct rte_mbuf **pkts, uint16_t n,
			    struct rte_mbuf **drops, uint16_t *n_drops);

/* ---- verdict cache ---------------------------------------------------- */

/*
 * Filters declared SHUNT_FLOW_CACHEABLE (shunt_filter.h) at the head of a
 * chain run once per flow and worker: each worker keeps a two-way
 * set-associative table of FILTER_CACHE_ENTRIES flows (key: the chain, the frame's
 * shunt_parse() fields, the table epoch) holding the verdict, the mark,
 * how far the chain ran and up to FILTER_CACHE_FX counter adds, which a
 * hit replays, so counters and stats read the same as without the cache.
 * A new chain misses (its own id); any table change empties every cache
 * (a new epoch). Frames that are not IP or are malformed always run. A
 * chain whose lookups mostly miss (more flows than entries) skips the
 * cache for a while (exponential back-off), so the cache never costs
 * much more than it saves.
 */
#define FILTER_CACHE_ENTRIES 4096

/* On (the default) or off for chains built from now on. */
void filter_cache_enable(bool on);
bool filter_cache_enabled(void);
bool filter_is_cacheable(const struct filter *f);

struct filter_cache_stats {
	uint64_t hits;      /* frames given a cached verdict */
	uint64_t misses;    /* run, and their result stored */
	uint64_t uncached;  /* run, not storable: not IP, malformed, too
	                     * many counter adds */
	uint64_t bypassed;  /* run without a lookup: the chain's flows were
	                     * missing from the cache (under half the
	                     * lookups hit), so it skips the cache a while */
	uint64_t workers;   /* workers with a cache (FILTER_CACHE_ENTRIES
	                     * entries each) */
};
void filter_cache_stats_read(struct filter_cache_stats *s);
/* Free the workers' caches (at exit, after the workers stopped). */
void filter_cache_free(void);

/* Run f once on ctx outside any chain, in the JIT or the interpreter
 * (tests, benchmarks); helpers act on instance fi (may be NULL: tables
 * miss, counters and buckets are ignored) as worker w. */
uint64_t filter_exec(const struct filter *f, struct filter_inst *fi,
		     unsigned int w, struct shunt_ctx *ctx, bool jit);

#endif
