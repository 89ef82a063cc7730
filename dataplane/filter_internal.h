/* SPDX-License-Identifier: BSD-3-Clause */
/* Private to filter.c and filter_table.c: object layouts and the helpers. */
#ifndef SHUNT_FILTER_INTERNAL_H
#define SHUNT_FILTER_INTERNAL_H

#include <rte_bpf.h>
#include <rte_common.h>
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

struct filter_chain {
	unsigned int n;
	struct filter_chain_meta meta;
	struct filter_chain_elem e[FILTER_CHAIN_MAX];
};

/* What the running filter's helpers act on: set by the runner before it
 * calls a program, so helpers need no argument a filter could forge. */
struct filter_cur {
	struct filter_inst *fi;          /* NULL: tables miss, nothing counted */
	struct filter_inst_worker *ws;
};
extern __thread struct filter_cur filter_cur;

/* The helpers (filter_table.c), for rte_bpf_prm.xsym. */
extern const struct rte_bpf_xsym filter_xsym[];
extern const unsigned int filter_n_xsym;
uint64_t filter_now_ns(void);

#endif
