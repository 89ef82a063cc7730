/* SPDX-License-Identifier: BSD-3-Clause */
/* What one ncclperf run was asked for, shared by the option parser
 * (ncclperf.c), the benchmark loop (bench.c), the output (report.c) and
 * the local launcher (launch.c). */
#ifndef NCCLPERF_H
#define NCCLPERF_H

#include <stddef.h>

#include "coll.h"
#include "xport.h"

#define NCCLPERF_VERSION "0.1.0"
/* the nccl-tests release whose output layout ncclperf prints */
#define NCCLPERF_LAYOUT "2.19"

struct bootstrap;

struct np_opts {
	enum coll_kind coll;
	size_t min_bytes, max_bytes, step_bytes, step_factor;
	int iters, warmup, agg_iters, check, average, blocking;
	int dtype;                 /* enum dtype, DT_COUNT = all */
	int op;                    /* enum redop, OP_COUNT = all */
	int root;                  /* broadcast/reduce root, -1 = every rank */
	int nthreads, ngpus;       /* accepted for nccl-tests scripts; must be 1 */
	size_t *counts;            /* --counts: exact element counts instead of sizes */
	unsigned int ncounts;
	size_t slice_bytes;
	const char *json_path;

	/* this rank */
	int rank, nranks;
	const char *root_addr;
	int timeout_ms;
	const char *netns;         /* name shown in the device line (launcher) */
	const char *xport;
	struct xport_opts xo;

	/* launcher */
	char **pods;               /* --pod specs, "netns=NS[,KEY=VALUE...]" */
	unsigned int npods;
	int np;                    /* --np: ranks in this netns */

	int argc;
	char **argv;
	char program[64];          /* "all_reduce_perf" */
};

/* Runs the benchmark on this rank: rank 0 prints. Returns the number of
 * wrong-result rows summed over ranks (0 = all correct), or -errno with a
 * message already printed to stderr. */
int bench_run(const struct np_opts *o, struct bootstrap *bs, struct xport *x);

/* Local launcher: forks one rank per --pod (or --np N on this netns).
 * argv is the full command line, which every rank re-executes with
 * --rank/--nranks/--root added. Returns the exit status for main. */
int launch_run(const struct np_opts *o, int argc, char **argv);

#endif
