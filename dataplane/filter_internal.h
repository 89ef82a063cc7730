/* SPDX-License-Identifier: BSD-3-Clause */
/* Private to filter.c and filter_table.c: object layouts and the helpers. */
#ifndef SHUNT_FILTER_INTERNAL_H
#define SHUNT_FILTER_INTERNAL_H

#include <stdbool.h>
#include <string.h>
#include <rte_bpf.h>
#include <rte_branch_prediction.h>
#include <rte_common.h>
#include <rte_mbuf.h>
#include "filter.h"

struct rte_hash;
struct rte_fib;
struct rte_fib6;
struct rte_ring;

struct filter {
	/* data path */
	uint64_t (*jit)(void *);        /* NULL: interpreter */
	struct rte_bpf *bpf;
	/* control path */
	int refcnt;
	bool cacheable;                 /* declared SHUNT_FLOW_CACHEABLE */
	uint32_t n_insns;
	unsigned int n_reasons, n_counters;
	char name[FILTER_NAME_LEN];
	char reasons[SHUNT_MAX_REASONS + 1][SHUNT_NAME_LEN];
	char counters[SHUNT_MAX_COUNTERS][SHUNT_NAME_LEN];
};

struct filter_table {
	/* data path */
	enum filter_table_kind kind;
	struct rte_hash *hash;
	struct rte_fib *fib4;
	struct rte_fib6 *fib6;
	void *array;                    /* atomic pointer, replaced whole */
	/* control path */
	int refcnt;
	uint32_t key_len;
	struct rte_rcu_qsbr *qsbr;
	char name[FILTER_NAME_LEN];
};

/* Token bucket: data path, shared by every worker running the instance,
 * so updated with atomics (no lock on the fast path). */
struct filter_bucket {
	uint64_t rate;       /* bytes/s; 0: unlimited */
	uint64_t burst;      /* bytes */
	int64_t tokens;      /* bytes */
	uint64_t last_ns;
} __rte_cache_aligned;

/* One worker's counters for one instance: written by that worker only. */
struct filter_inst_worker {
	uint64_t runs;
	uint64_t drops[SHUNT_MAX_REASONS + 1];
	uint64_t counters[SHUNT_MAX_COUNTERS];
} __rte_cache_aligned;

struct filter_inst {
	/* data path */
	struct filter *f;
	struct filter_table *slot[SHUNT_MAX_SLOTS];  /* atomic pointers */
	struct rte_ring *samples;
	uint64_t samples_lost;                        /* atomic */
	struct filter_bucket bucket[SHUNT_MAX_BUCKETS];
	struct filter_inst_worker ws[FILTER_MAX_WORKERS];
	/* control path */
	int refcnt;
};

struct filter_chain_elem {
	uint64_t (*jit)(void *);
	const struct rte_bpf *bpf;
	struct filter_inst *fi;
	unsigned int flags;
};

/* How well the verdict cache serves a chain on one worker (that worker's
 * only): a chain whose flows keep pushing each other out of the cache
 * (more flows than entries, cycled through) skips the cache for a while,
 * doubling the while each time it still does not pay off. */
struct filter_chain_ws {
	uint32_t lookups, hits;  /* in the current window */
	uint32_t evictions;      /* misses that pushed out a current entry of
	                          * this chain */
	uint32_t skip;           /* rounds left without the cache */
	uint32_t backoff;        /* the last skip */
} __rte_cache_aligned;

struct filter_chain {
	unsigned int n;
	unsigned int n_cache;   /* leading elements the verdict cache covers */
	uint32_t id;            /* unique per chain built (cache key) */
	struct filter_chain_meta meta;
	struct filter_chain_elem e[FILTER_CHAIN_MAX];
	struct filter_chain_ws ws[FILTER_MAX_WORKERS];  /* written by workers */
};

/* One counter add a cached run replays: the worker's counter itself (its
 * instance lives as long as the chain the entry is keyed by). */
struct filter_fx {
	uint64_t *counter;
	uint64_t val;
};
#define FILTER_CACHE_FX 4  /* counter adds a cached flow may replay */

/* The counter adds of a run being recorded for the verdict cache. */
struct filter_rec {
	uint8_t n;
	uint8_t bad;    /* more adds than fit */
	struct filter_fx fx[FILTER_CACHE_FX];
};

/* What the running filter's helpers act on: set by the runner before it
 * calls a program, so helpers need no argument a filter could forge. */
struct filter_cur {
	struct filter_inst *fi;          /* NULL: tables miss, nothing counted */
	struct filter_inst_worker *ws;
	struct filter_rec *rec;          /* non-NULL: record counter adds */
};
extern __thread struct filter_cur filter_cur;

/* The helpers (filter_table.c), for rte_bpf_prm.xsym. */
extern const struct rte_bpf_xsym filter_xsym[];
extern const unsigned int filter_n_xsym;
uint64_t filter_now_ns(void);

/* Bumped (release) after every change a cacheable filter could see through
 * its tables; cached verdicts of an older epoch are not used. */
extern uint32_t filter_epoch;
static inline void filter_epoch_bump(void)
{
	__atomic_fetch_add(&filter_epoch, 1, __ATOMIC_RELEASE);
}

static inline uint64_t filter_run_one(const struct filter_chain_elem *e,
				      struct shunt_ctx *ctx)
{
	if (likely(e->jit != NULL))
		return e->jit(ctx);
	return rte_bpf_exec(e->bpf, ctx);
}

/* A frame whose buffer ends before SHUNT_WINDOW bytes is copied here, so a
 * filter's in-window read never leaves memory we own. Rare: mbufs have
 * 2 KiB of room. */
extern __thread uint8_t filter_short_copy[FILTER_BURST][SHUNT_WINDOW];

/* Set up ctx[i], the context of frame m (i < FILTER_BURST), for chain c. */
static inline void filter_ctx_fill(const struct filter_chain *c,
				   struct rte_mbuf *m, struct shunt_ctx *ctx,
				   unsigned int i)
{
	struct shunt_ctx *x = &ctx[i];

	x->data = rte_pktmbuf_mtod(m, const uint8_t *);
	x->len = rte_pktmbuf_data_len(m);
	x->pkt_len = rte_pktmbuf_pkt_len(m);
	if (unlikely((uint32_t)m->buf_len - m->data_off < SHUNT_WINDOW)) {
		uint32_t l = RTE_MIN(x->len, (uint32_t)SHUNT_WINDOW);

		memcpy(filter_short_copy[i], x->data, l);
		memset(filter_short_copy[i] + l, 0, SHUNT_WINDOW - l);
		x->data = filter_short_copy[i];
	}
	x->reserved0 = 0;
	x->port = c->meta.port;
	x->dir = c->meta.dir;
	x->pod_index = c->meta.pod_index;
	x->tenant = c->meta.tenant;
	x->mark = 0;
	x->drop_verdict = 0;
}

/* The verdict cache's part of a round (filter_cache.c): runs elements
 * [0, c->n_cache) over pkts[live[0..*nlive)]; a frame they drop gets its
 * verdict in verdicts[] and moves to dead[]. Fills ctx[i] for every frame
 * when the chain goes on past the cached elements, else its mark only
 * (and not even that for a round of one flow when want_marks is false).
 * Returns 0, or -1 when the worker has no cache (nothing done: run the
 * elements uncached). */
int filter_cache_run(const struct filter_chain *c, unsigned int w,
		     struct rte_mbuf **pkts, struct shunt_ctx *ctx,
		     uint32_t *verdicts, uint8_t *live, uint16_t *nlive,
		     uint8_t *dead, uint16_t *ndead, bool want_marks);

#endif
