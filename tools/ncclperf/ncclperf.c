/* SPDX-License-Identifier: BSD-3-Clause */
/* ncclperf: nccl-tests-style collective benchmarks between pods, on host
 * memory, one process per rank. Entry point and option parsing; see
 * README.md for usage. */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bootstrap.h"
#include "ncclperf.h"

enum {
	OPT_RANK = 256, OPT_NRANKS, OPT_ROOT, OPT_TIMEOUT, OPT_XOPT, OPT_SLICE,
	OPT_COUNTS, OPT_NETNS, OPT_POD, OPT_NP,
};

static const struct option longopts[] = {
	/* nccl-tests */
	{ "nthreads", required_argument, 0, 't' },
	{ "ngpus", required_argument, 0, 'g' },
	{ "minbytes", required_argument, 0, 'b' },
	{ "maxbytes", required_argument, 0, 'e' },
	{ "stepbytes", required_argument, 0, 'i' },
	{ "stepfactor", required_argument, 0, 'f' },
	{ "iters", required_argument, 0, 'n' },
	{ "agg_iters", required_argument, 0, 'm' },
	{ "warmup_iters", required_argument, 0, 'w' },
	{ "check", required_argument, 0, 'c' },
	{ "op", required_argument, 0, 'o' },
	{ "datatype", required_argument, 0, 'd' },
	{ "average", required_argument, 0, 'a' },
	{ "blocking", required_argument, 0, 'z' },
	{ "output_file", required_argument, 0, 'J' },
	{ "help", no_argument, 0, 'h' },
	/* ncclperf */
	{ "transport", required_argument, 0, 'T' },
	{ "xport-opt", required_argument, 0, OPT_XOPT },
	/* Transport options (memif=SOCK, ip=, mac= for memif) come as
	 * --xport-opt KEY=VALUE, or in the launcher's --pod. */
	{ "rank", required_argument, 0, OPT_RANK },
	{ "nranks", required_argument, 0, OPT_NRANKS },
	{ "root", required_argument, 0, OPT_ROOT },
	{ "timeout", required_argument, 0, OPT_TIMEOUT },
	{ "slice", required_argument, 0, OPT_SLICE },
	{ "counts", required_argument, 0, OPT_COUNTS },
	{ "netns-name", required_argument, 0, OPT_NETNS },
	{ "pod", required_argument, 0, OPT_POD },
	{ "np", required_argument, 0, OPT_NP },
	{ 0 }
};

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
"usage: %s COLLECTIVE [options]      (or as COLLECTIVE_perf, e.g. all_reduce_perf)\n"
"collectives: all_reduce all_gather reduce_scatter alltoall sendrecv broadcast reduce\n"
"\n"
"nccl-tests options:\n"
"  -b,--minbytes SIZE  -e,--maxbytes SIZE   sizes (K, M, G suffixes; default 32M)\n"
"  -f,--stepfactor N   -i,--stepbytes SIZE  size step (default: factor 1, 1M bytes)\n"
"  -n,--iters N (20)   -w,--warmup_iters N (1)   -m,--agg_iters N (1)\n"
"  -c,--check N        checked runs per row (default 1, 0 = no check)\n"
"  -d,--datatype T     int8 uint8 int32 uint32 int64 uint64 float double, or all\n"
"  -o,--op OP          sum prod max min, or all\n"
"  -r ROOT             broadcast/reduce root rank, -1 = every rank (default 0)\n"
"  -a,--average N      time over ranks: 0 rank 0, 1 mean (default), 2 min, 3 max\n"
"  -J,--output_file F  JSON results to F\n"
"  -t,--nthreads 1  -g,--ngpus 1  -z,--blocking 0   accepted; one rank per process\n"
"\n"
"ranks and transport:\n"
"  --rank R --nranks N --root ADDR:PORT   this process is rank R of N; rank 0\n"
"                      listens on ADDR:PORT, the others connect to it\n"
"  --np N              launch N ranks here (127.0.0.1)\n"
"  --pod netns=NS[,KEY=VAL...]   launch one rank in netns NS per --pod; KEY=VAL\n"
"                      pass to that rank's transport (--xport-opt)\n"
"  -T,--transport NAME  (socket)   --xport-opt KEY=VAL\n"
"  --timeout SEC       bootstrap/connect timeout, and the longest a rank waits\n"
"                      with no data moving (default 60)\n"
"  --slice SIZE        pipeline slice of ring/chain steps (default: the\n"
"                      transport's, 512K for socket, 8K for memif)\n"
"  --counts N,N,...    exact element counts instead of -b/-e (no 16-byte rounding)\n"
"transports:\n", prog);
	for (const struct xport_type *const *t = xport_types(); *t; t++)
		fprintf(f, "  %-10s %s\n", (*t)->name, (*t)->help);
}

/* nccl-tests' size syntax: a number with an optional K, M or G. */
static int parse_size(const char *s, size_t *out)
{
	char *end;
	double v = strtod(s, &end);
	double unit = 1;

	if (end == s || v < 0)
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': unit = 1024; end++; break;
	case 'm': case 'M': unit = 1024.0 * 1024; end++; break;
	case 'g': case 'G': unit = 1024.0 * 1024 * 1024; end++; break;
	default: break;
	}
	if (*end)
		return -EINVAL;
	*out = (size_t)(v * unit);
	return 0;
}

static int parse_int(const char *s, int *out)
{
	char *end;
	long v = strtol(s, &end, 0);

	if (end == s || *end || v < -1000000000L || v > 1000000000L)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

static int parse_counts(struct np_opts *o, const char *arg)
{
	/* a copy: the launcher passes argv on to the ranks unchanged */
	char *s = strdup(arg), *save = NULL;

	if (!s)
		return -ENOMEM;
	for (char *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		size_t *c = realloc(o->counts, sizeof(*c) * (o->ncounts + 1));
		char *end;

		if (!c)
			return -ENOMEM;
		o->counts = c;
		c[o->ncounts] = strtoull(tok, &end, 0);
		if (end == tok || *end)
			return -EINVAL;
		o->ncounts++;
	}
	free(s);
	return o->ncounts ? 0 : -EINVAL;
}

static int bad(const char *opt, const char *val)
{
	fprintf(stderr, "ncclperf: bad value '%s' for %s (see --help)\n", val, opt);
	return -EINVAL;
}

/* Returns 0, 1 for --help, or -EINVAL (message printed). */
static int parse(struct np_opts *o, int argc, char **argv)
{
	int c, v, rc;

	while ((c = getopt_long(argc, argv, "t:g:b:e:i:f:n:m:w:c:o:d:r:a:z:J:T:h", longopts, NULL)) != -1) {
		switch (c) {
		case 't': if (parse_int(optarg, &o->nthreads) || o->nthreads != 1) return bad("-t (one rank per process)", optarg); break;
		case 'g': if (parse_int(optarg, &o->ngpus) || o->ngpus != 1) return bad("-g (one rank per process)", optarg); break;
		case 'b': if (parse_size(optarg, &o->min_bytes)) return bad("-b", optarg); break;
		case 'e': if (parse_size(optarg, &o->max_bytes)) return bad("-e", optarg); break;
		case 'i': if (parse_size(optarg, &o->step_bytes)) return bad("-i", optarg); break;
		case 'f': if (parse_int(optarg, &v) || v < 1) return bad("-f", optarg);
			o->step_factor = (size_t)v; break;
		case 'n': if (parse_int(optarg, &o->iters) || o->iters < 1) return bad("-n", optarg); break;
		case 'm': if (parse_int(optarg, &o->agg_iters) || o->agg_iters < 1) return bad("-m", optarg); break;
		case 'w': if (parse_int(optarg, &o->warmup) || o->warmup < 0) return bad("-w", optarg); break;
		case 'c': if (parse_int(optarg, &o->check) || o->check < 0) return bad("-c", optarg); break;
		case 'a': if (parse_int(optarg, &o->average) || o->average < 0 || o->average > 3) return bad("-a", optarg); break;
		case 'z': if (parse_int(optarg, &o->blocking) || o->blocking != 0) return bad("-z (collectives always complete before the next)", optarg); break;
		case 'r': if (parse_int(optarg, &o->root) || o->root < -1) return bad("-r", optarg); break;
		case 'o': if ((o->op = redop_parse(optarg)) < 0) return bad("-o", optarg); break;
		case 'd': if ((o->dtype = dtype_parse(optarg)) < 0) return bad("-d", optarg); break;
		case 'J': o->json_path = optarg; break;
		case 'T': if (!xport_type_find(optarg)) return bad("-T", optarg);
			o->xport = optarg; break;
		case OPT_XOPT: if (xport_opts_add(&o->xo, optarg) < 0) return bad("--xport-opt", optarg); break;
		case OPT_RANK: if (parse_int(optarg, &o->rank) || o->rank < 0) return bad("--rank", optarg); break;
		case OPT_NRANKS: if (parse_int(optarg, &o->nranks) || o->nranks < 1) return bad("--nranks", optarg); break;
		case OPT_ROOT:
			/* nccl-tests' --root is the root rank; ADDR:PORT is ours */
			if (strchr(optarg, ':'))
				o->root_addr = optarg;
			else if (parse_int(optarg, &o->root) || o->root < -1)
				return bad("--root", optarg);
			break;
		case OPT_TIMEOUT: if (parse_int(optarg, &v) || v < 0) return bad("--timeout", optarg);
			o->timeout_ms = v * 1000; break;
		case OPT_SLICE: if (parse_size(optarg, &o->slice_bytes) || !o->slice_bytes) return bad("--slice", optarg); break;
		case OPT_COUNTS: if ((rc = parse_counts(o, optarg)) < 0) return bad("--counts", optarg); break;
		case OPT_NETNS: o->netns = optarg; break;
		case OPT_POD: {
			char **p = realloc(o->pods, sizeof(*p) * (o->npods + 1));

			if (!p)
				return -ENOMEM;
			o->pods = p;
			p[o->npods++] = optarg;
			break;
		}
		case OPT_NP: if (parse_int(optarg, &o->np) || o->np < 1) return bad("--np", optarg); break;
		case 'h': return 1;
		default: return -EINVAL;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "ncclperf: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (o->min_bytes > o->max_bytes) {
		fprintf(stderr, "ncclperf: -b %zu is larger than -e %zu\n", o->min_bytes, o->max_bytes);
		return -EINVAL;
	}
	if (o->rank >= o->nranks) {
		fprintf(stderr, "ncclperf: --rank %d is not below --nranks %d\n", o->rank, o->nranks);
		return -EINVAL;
	}
	if (o->root >= o->nranks && !o->npods && !o->np) {
		fprintf(stderr, "ncclperf: root rank %d is not below the %d ranks\n", o->root, o->nranks);
		return -EINVAL;
	}
	if (o->nranks > 1 && !o->root_addr) {
		fprintf(stderr, "ncclperf: --nranks %d needs --root ADDR:PORT\n", o->nranks);
		return -EINVAL;
	}
	if (o->npods && o->np) {
		fprintf(stderr, "ncclperf: --pod and --np do not mix\n");
		return -EINVAL;
	}
	return 0;
}

static void defaults(struct np_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->min_bytes = o->max_bytes = 32 << 20;
	o->step_bytes = 1 << 20;
	o->step_factor = 1;
	o->iters = 20;
	o->warmup = 1;
	o->agg_iters = 1;
	o->check = 1;
	o->average = 1;
	o->nthreads = o->ngpus = 1;
	o->nranks = 1;
	o->dtype = DT_FLOAT;
	o->op = OP_SUM;
	o->timeout_ms = 60000;
	o->slice_bytes = 0;		/* the transport's (xport_type.slice) */
	o->xport = "socket";
}

/* One rank: bootstrap, transport, benchmark. */
static int run_rank(struct np_opts *o)
{
	if (o->slice_bytes == 0) {
		const struct xport_type *t = xport_type_find(o->xport);

		o->slice_bytes = t && t->slice ? t->slice : 512 * 1024;
	}
	struct bootstrap *bs = NULL;
	struct xport x;
	char err[256];
	int rc;

	o->xo.timeout_ms = o->timeout_ms;
	rc = bootstrap_open(&bs, o->rank, o->nranks, o->root_addr ? o->root_addr : "127.0.0.1:0",
	                    o->timeout_ms, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "ncclperf: rank %d: %s\n", o->rank, err);
		return 2;
	}
	rc = xport_open(&x, o->xport, o->rank, o->nranks, bs, &o->xo);
	if (rc < 0) {
		fprintf(stderr, "ncclperf: rank %d: transport %s: %s\n", o->rank, o->xport, x.err);
		bootstrap_abort(bs, o->rank, "its transport failed to connect");
		bootstrap_close(bs);
		return 2;
	}
	rc = bench_run(o, bs, &x);
	if (rc < 0 && x.err[0]) {
		/* a transport failure: tell the others through the root before
		 * our sockets close (bootstrap failures were told by the root) */
		bootstrap_abort(bs, x.err_rank >= 0 ? x.err_rank : o->rank, x.err);
		/* and when another rank hung up, stay a moment: a rank still
		 * moving data with us should notice that rank's hang-up, not
		 * ours, and name the right one */
		if (x.err_rank >= 0)
			usleep(1000 * 1000);
	}
	x.ops->close(&x);
	bootstrap_close(bs);
	if (rc < 0)
		return 2;
	return rc > 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct np_opts o;
	char *prog = basename(argv[0]);
	int kind = coll_parse(prog), rc, first = 1;

	defaults(&o);
	o.argc = argc;
	o.argv = argv;
	/* all_reduce_perf (a symlink) or `ncclperf all_reduce` */
	if (kind < 0 && argc > 1 && argv[1][0] != '-') {
		kind = coll_parse(argv[1]);
		first = 2;
		if (kind < 0) {
			fprintf(stderr, "ncclperf: unknown collective '%s' (see --help)\n", argv[1]);
			return 2;
		}
	}
	rc = parse(&o, argc - first + 1, argv + first - 1);
	if (rc == 1 || (rc == 0 && kind < 0)) {
		usage(rc == 1 ? stdout : stderr, prog);
		return rc == 1 ? 0 : 2;
	}
	if (rc < 0)
		return 2;
	o.coll = (enum coll_kind)kind;
	snprintf(o.program, sizeof(o.program), "%s_perf", coll_name(o.coll));
	signal(SIGPIPE, SIG_IGN);
	rc = o.npods || o.np ? launch_run(&o, argc, argv) : run_rank(&o);
	free(o.counts);
	free(o.pods);
	return rc;
}
