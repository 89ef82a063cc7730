/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * shunt filter ABI, version 1: the one header an eBPF filter includes.
 *
 * A filter is a C function built with
 *     clang -O2 -target bpf -mcpu=v2 -c f.c -o f.o
 * and run by DPDK's rte_bpf (JIT on x86_64) inside shunt-dataplane, once per
 * packet, on the ports and in the directions it is attached to. It returns
 * a verdict. rte_bpf has no maps, no tail calls, no loops (its verifier
 * rejects any backward jump: unroll with `#pragma unroll`), no global or
 * static data referenced from code (no .data/.rodata relocations: keep
 * constants in code, not in tables), and no calls between functions (mark
 * every function `static __always_inline`). State lives in the data plane
 * and is reached through the helpers below.
 *
 * The ABI version is in the code section's name (SHUNT_FILTER puts the
 * function in "shunt/v<N>"): the data plane refuses a file whose section
 * names another version, with a message naming both versions. The data
 * plane also reads two optional sections, never referenced by code, that
 * name the filter's drop reasons and counters for stats (SHUNT_REASONS,
 * SHUNT_COUNTERS).
 *
 * This header is also compiled into the data plane (with a hosted C
 * compiler) so both sides share one definition of the context.
 */
#ifndef SHUNT_FILTER_H
#define SHUNT_FILTER_H

#ifdef __bpf__
typedef __UINT8_TYPE__ uint8_t;
typedef __UINT16_TYPE__ uint16_t;
typedef __UINT32_TYPE__ uint32_t;
typedef __UINT64_TYPE__ uint64_t;
typedef __INT32_TYPE__ int32_t;
typedef __INT64_TYPE__ int64_t;
#else
#include <stdint.h>
#endif

#define SHUNT_FILTER_ABI_VERSION 1
#define SHUNT__STR2(x) #x
#define SHUNT__STR(x) SHUNT__STR2(x)
/* Code section name; the loader looks for exactly this one. */
#define SHUNT_FILTER_SECTION "shunt/v" SHUNT__STR(SHUNT_FILTER_ABI_VERSION)
#define SHUNT_FILTER_SECTION_PREFIX "shunt/v"
#define SHUNT_REASONS_SECTION "shunt/reasons"
#define SHUNT_COUNTERS_SECTION "shunt/counters"
#define SHUNT_CACHEABLE_SECTION "shunt/flow_cacheable"

/*
 * Bytes from ctx->data on that a filter may read without faulting, whatever
 * the frame's length: the verifier proves every access stays below it, the
 * data plane guarantees the memory is there (it copies a short frame whose
 * buffer ends sooner). Bytes at or past ctx->len are not the frame's: a
 * filter checks its offsets against ctx->len itself.
 */
#define SHUNT_WINDOW 512

enum shunt_dir {
	SHUNT_DIR_FROM_POD = 0, /* the pod sent it (before routing) */
	SHUNT_DIR_TO_POD = 1,   /* on its way into the pod (after routing) */
};

/*
 * The filter's only argument. The layout is fixed by the ABI version.
 * Offsets 16..17 are reserved for good: the data plane describes this
 * struct to rte_bpf's verifier as an mbuf (the only argument type whose
 * pointer fields the verifier lets a program follow: offset 0 is its data
 * pointer), and the verifier treats a load at 16 as a constant.
 */
struct shunt_ctx {
	const uint8_t *data;   /*  0: the frame, from its Ethernet header */
	uint32_t len;          /*  8: bytes of the frame contiguous at data */
	uint32_t pkt_len;      /* 12: the whole frame's length */
	uint16_t reserved0;    /* 16: never use (see above) */
	uint16_t port;         /* 18: data plane port id */
	uint8_t dir;           /* 20: enum shunt_dir */
	uint8_t reserved1[3];  /* 21 */
	uint32_t pod_index;    /* 24: the pod's index on this node (0: none) */
	uint32_t tenant;       /* 28: the pod's tenant id (0: none) */
	uint32_t mark;         /* 32: read-write, 0 at chain start, passed along
	                        *     the chain; the data plane may use it later */
	uint32_t drop_verdict; /* 36: 0, but for an attachment that watches
	                        *     drops (filter_chain_build's flag): the
	                        *     verdict an earlier filter dropped it with;
	                        *     its own verdict is then ignored */
	uint64_t reserved3;    /* 40 */
};

/*
 * Verdicts: the low byte is the action, the next byte a drop reason.
 * Reason 0 is "drop"; reason i (1..SHUNT_MAX_REASONS) is the i-th name of
 * the filter's SHUNT_REASONS list. Any action other than PASS drops.
 */
#define SHUNT_PASS 0ULL
#define SHUNT_DROP 1ULL
#define SHUNT_DROP_REASON(r) (SHUNT_DROP | ((uint64_t)(r) & 0xff) << 8)
#define SHUNT_VERDICT_ACTION(v) ((uint32_t)(v) & 0xff)
#define SHUNT_VERDICT_REASON(v) (((uint32_t)(v) >> 8) & 0xff)
#define SHUNT_MAX_REASONS 15

/* Limits of the helpers. */
#define SHUNT_KEY_LEN 16        /* exact-match keys: pad shorter keys with 0 */
#define SHUNT_MAX_SLOTS 8       /* table slots an attachment binds */
#define SHUNT_MAX_COUNTERS 64   /* counters per attachment */
#define SHUNT_MAX_BUCKETS 16    /* token buckets per attachment */
#define SHUNT_ARRAY_BYTES 4096  /* an array table, read in place */
#define SHUNT_SAMPLE_BYTES 64   /* bytes of a frame shunt_sample copies */
#define SHUNT_MISS (~0ULL)      /* lookup found nothing */
#define SHUNT_NAME_LEN 32

/*
 * Helpers, resolved by name when the data plane loads the filter. Tables
 * are named by slot (0..SHUNT_MAX_SLOTS-1): the control plane binds a
 * table to each slot of an attachment, so one program serves many pods
 * with their own rules, and tables change without reloading the program.
 * A slot with no table, or of another kind, misses.
 */
#ifdef __bpf__
/* Exact match: key is SHUNT_KEY_LEN bytes (the table compares its own
 * key length, at most 16). Returns the value or SHUNT_MISS. */
extern uint64_t shunt_lookup(uint32_t slot, const void *key);
/* Longest prefix match; addr4 in host order, addr6 16 bytes network order.
 * Returns the value or SHUNT_MISS. */
extern uint64_t shunt_lpm4(uint32_t slot, uint32_t addr4);
extern uint64_t shunt_lpm6(uint32_t slot, const void *addr6);
/* An array table: SHUNT_ARRAY_BYTES bytes the control plane replaces
 * whole (never NULL: all zero when unbound). Read-only. */
extern const void *shunt_array(uint32_t slot);
/* Add val to this attachment's counter idx (per worker, summed on read). */
extern uint64_t shunt_counter_add(uint32_t idx, uint64_t val);
/* This attachment's counters on the calling worker, to add to in place:
 * one call per packet instead of one per counter (never NULL; valid until
 * the filter returns). */
extern uint64_t *shunt_counters(void);
/* Monotonic clock in nanoseconds. */
extern uint64_t shunt_now_ns(void);
/* Token bucket `bucket` of this attachment: 1 when `bytes` may pass (and
 * are taken from the bucket), 0 when over the rate. An unconfigured
 * bucket passes everything. */
extern uint64_t shunt_rate_allow(uint32_t bucket, uint32_t bytes);
/* Copy the first SHUNT_SAMPLE_BYTES bytes of the frame, with reason, into
 * this attachment's sample ring, which the control plane drains. Returns
 * 1 if queued, 0 if the ring was full. */
extern uint64_t shunt_sample(const struct shunt_ctx *ctx, uint32_t reason);

#define SHUNT_FILTER(fn) \
	__attribute__((section(SHUNT_FILTER_SECTION), used)) \
	uint64_t fn(struct shunt_ctx *ctx)

/* Names of drop reasons 1.. and counters 0..: read by the loader only. */
#define SHUNT_REASONS(...) \
	__attribute__((section(SHUNT_REASONS_SECTION), used)) \
	static const char shunt_reason_names[][SHUNT_NAME_LEN] = { __VA_ARGS__ }
#define SHUNT_COUNTERS(...) \
	__attribute__((section(SHUNT_COUNTERS_SECTION), used)) \
	static const char shunt_counter_names[][SHUNT_NAME_LEN] = { __VA_ARGS__ }

/*
 * A filter whose effects are a function of the flow declares it with
 * SHUNT_FLOW_CACHEABLE; the data plane then runs it once per flow and
 * replays its verdict, mark and counter adds on the flow's later frames
 * (a per-worker verdict cache, invalidated by any table change and by a
 * new chain). The promise: for a frame shunt_parse() returns
 * SHUNT_PARSE_OK for, what the filter returns, the mark it leaves and the
 * shunt_counter_add() calls it makes depend only on the fields of struct
 * shunt_pkt other than l4_off (family, protocol, fragment state, ports,
 * addresses), on ctx's port, dir, pod_index and tenant, and on its tables;
 * not on the frame's length, other header fields or payload. The loader
 * refuses such a filter if it calls shunt_counters, shunt_now_ns,
 * shunt_rate_allow or shunt_sample. Other frames (not IP, malformed) run
 * the filter every time. Optional: a data plane that predates it ignores
 * the section, so the ABI version is unchanged.
 */
#define SHUNT_FLOW_CACHEABLE \
	__attribute__((section(SHUNT_CACHEABLE_SECTION), used)) \
	static const char shunt_flow_cacheable = 1

#endif /* __bpf__ */

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif
/* Unroll the next loop fully (filters have no loops once built); the
 * header is also compiled by gcc, for the data plane and benchmarks. */
#if defined(__clang__)
#define SHUNT_UNROLL _Pragma("unroll")
#else
#define SHUNT_UNROLL _Pragma("GCC unroll 32")
#endif

#endif
