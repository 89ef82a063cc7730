/* SPDX-License-Identifier: BSD-3-Clause */
/* Collectives on host memory with NCCL's algorithms, over any transport
 * (xport.h). Counts follow NCCL's API: all_gather takes the per-rank send
 * count, reduce_scatter the per-rank receive count, alltoall the count per
 * peer; the others the whole buffer. send == recv (or NCCL's in-place
 * offsets for all_gather / reduce_scatter) runs in place. */
#ifndef NCCLPERF_COLL_H
#define NCCLPERF_COLL_H

#include <stddef.h>

#include "dtype.h"
#include "xport.h"

enum coll_kind { COLL_ALL_REDUCE, COLL_ALL_GATHER, COLL_REDUCE_SCATTER, COLL_ALLTOALL,
                 COLL_SENDRECV, COLL_BROADCAST, COLL_REDUCE, COLL_KIND_COUNT };

struct coll_ctx {
	struct xport *x;
	int rank, nranks;
	size_t slice_bytes;        /* pipelining unit of ring/chain steps */
	/* control path: grown on demand, reused across calls */
	struct xport_req *req;
	struct xport_req **reqp;
	void *comb;
	size_t nreq;
	void *scratch;
	size_t scratch_len;
};

/* nccl-tests' name of the collective ("all_reduce", ...). */
const char *coll_name(enum coll_kind k);
/* Parses "all_reduce", "allreduce", "all_reduce_perf"... Returns the
 * kind or -EINVAL. */
int coll_parse(const char *s);

void coll_ctx_init(struct coll_ctx *c, struct xport *x, size_t slice_bytes);
void coll_ctx_fini(struct coll_ctx *c);

/* Runs one collective to completion on this rank. root is used by
 * broadcast and reduce. Returns 0 or -errno with c->x->err set. */
int coll_run(struct coll_ctx *c, enum coll_kind k, const void *send, void *recv,
             size_t count, enum dtype t, enum redop op, int root);

#endif
