/* SPDX-License-Identifier: BSD-3-Clause */
/* The benchmark loop, as nccl-tests runs it: a warm-up over the sizes,
 * then per size an out-of-place and an in-place measurement, each timed
 * over -n iterations and checked -c times against the serial reference.
 * Times are averaged over ranks (-a), wrong elements summed over ranks. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bootstrap.h"
#include "report.h"

struct bench {
	const struct np_opts *o;
	struct bootstrap *bs;
	struct coll_ctx cc;
	struct report *rep;            /* rank 0 */
	char *sendbuf, *recvbuf, *expect;
	size_t buflen;
	unsigned int seed;
	int corrupt_rank;              /* test hook, see README */
	int wrong_rows;                /* rows where this rank saw wrong data */
	double bw_sum;
	int bw_count;
};

/* Element counts of one row, NCCL's way (nccl-tests' getCollByteCount):
 * param is the count passed to the collective; in place, the input or
 * output sits at an offset in the other buffer. */
struct shape {
	size_t send, recv, param, send_off, recv_off;
};

static void shape_of(const struct bench *b, size_t count, size_t es, int exact, struct shape *s)
{
	size_t n = (size_t)b->o->nranks, r = (size_t)b->o->rank;
	/* nccl-tests keeps per-rank blocks 16-byte aligned; --counts does not */
	size_t base = exact ? count / n : (count / n) & ~(16 / es - 1);

	memset(s, 0, sizeof(*s));
	switch (b->o->coll) {
	case COLL_ALL_GATHER:
		*s = (struct shape){ base, base * n, base, r * base, 0 };
		break;
	case COLL_REDUCE_SCATTER:
		*s = (struct shape){ base * n, base, base, 0, r * base };
		break;
	case COLL_ALLTOALL:
		*s = (struct shape){ base * n, base * n, base, 0, 0 };
		break;
	default:
		*s = (struct shape){ count, count, count, 0, 0 };
		break;
	}
}

static double now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int bench_fail(struct bench *b, int rc, const char *what)
{
	const char *why = rc == -ENOMEM ? "out of memory" : b->cc.x->err;

	fprintf(stderr, "ncclperf: rank %d: %s: %s\n", b->o->rank, what,
	        why[0] ? why : bootstrap_error(b->bs));
	return rc;
}

/* Everyone's value of v, combined as -a says (0 rank 0, 1 mean, 2 min, 3 max). */
static int bench_combine(struct bench *b, double *v, int how)
{
	double *all = malloc(sizeof(double) * (size_t)b->o->nranks), res;
	int rc;

	if (!all)
		return -ENOMEM;
	rc = bootstrap_allgather(b->bs, v, all, sizeof(*v));
	res = all[0];
	for (int i = 1; rc == 0 && i < b->o->nranks; i++) {
		if (how == 1 || how == 4)
			res += all[i];
		else if (how == 2)
			res = all[i] < res ? all[i] : res;
		else if (how == 3)
			res = all[i] > res ? all[i] : res;
	}
	if (how == 1)
		res /= b->o->nranks;
	*v = res;
	free(all);
	return rc;
}

static void ptrs(struct bench *b, const struct shape *s, size_t es, int in_place,
                 char **in, char **out)
{
	if (in_place) {
		*in = b->recvbuf + s->send_off * es;
		*out = b->recvbuf + s->recv_off * es;
	} else {
		*in = b->sendbuf;
		*out = b->recvbuf;
	}
}

/* Expected output of this rank for inputs filled with seed. */
static int bench_expect(struct bench *b, const struct shape *s, enum dtype t, enum redop op, int root)
{
	int n = b->o->nranks, r = b->o->rank;
	size_t es = dtype_size(t);

	switch (b->o->coll) {
	case COLL_ALL_REDUCE:
		dtype_ref_reduce(t, op, b->expect, s->recv, n, 0, b->seed);
		return 1;
	case COLL_ALL_GATHER:
		for (int k = 0; k < n; k++)
			dtype_fill(t, b->expect + (size_t)k * s->param * es, s->param, k, 0, b->seed);
		return 1;
	case COLL_REDUCE_SCATTER:
		dtype_ref_reduce(t, op, b->expect, s->recv, n, (size_t)r * s->param, b->seed);
		return 1;
	case COLL_ALLTOALL:
		for (int p = 0; p < n; p++)
			dtype_fill(t, b->expect + (size_t)p * s->param * es, s->param, p,
			           (size_t)r * s->param, b->seed);
		return 1;
	case COLL_SENDRECV:
		dtype_fill(t, b->expect, s->recv, (r + n - 1) % n, 0, b->seed);
		return 1;
	case COLL_BROADCAST:
		dtype_fill(t, b->expect, s->recv, root, 0, b->seed);
		return 1;
	default:
		if (r != root)
			return 0;      /* reduce: only the root's output is defined */
		dtype_ref_reduce(t, op, b->expect, s->recv, n, 0, b->seed);
		return 1;
	}
}

/* One checked run: fresh inputs, a poisoned output, compare. Returns the
 * wrong elements on this rank or -errno. */
static long long bench_check_once(struct bench *b, const struct shape *s, enum dtype t,
                                  enum redop op, int root, int in_place)
{
	size_t es = dtype_size(t);
	char *in, *out;
	long long wrong = 0;
	int rc;

	b->seed++;
	ptrs(b, s, es, in_place, &in, &out);
	memset(out, 0xa5, s->recv * es);
	dtype_fill(t, in, s->send, b->o->rank, 0, b->seed);
	rc = coll_run(&b->cc, b->o->coll, in, out, s->param, t, op, root);
	if (rc < 0)
		return bench_fail(b, rc, "collective");
	if (b->corrupt_rank == b->o->rank && s->recv)
		out[0] ^= 0x40;          /* test hook: one wrong element */
	if (bench_expect(b, s, t, op, root))
		wrong = (long long)dtype_count_wrong(t, out, b->expect, s->recv);
	return wrong;
}

static int bench_time(struct bench *b, const struct shape *s, enum dtype t, enum redop op,
                      int root, int in_place)
{
	const struct np_opts *o = b->o;
	size_t es = dtype_size(t);
	char *in, *out;
	double t0, sec, algbw, busbw, n = o->nranks, base;
	long long wrong = 0;
	int rc;

	ptrs(b, s, es, in_place, &in, &out);
	if ((rc = bootstrap_barrier(b->bs)) < 0)
		return bench_fail(b, rc, "barrier");
	t0 = now_sec();
	for (int i = 0; i < o->iters * o->agg_iters; i++)
		if ((rc = coll_run(&b->cc, o->coll, in, out, s->param, t, op, root)) < 0)
			return bench_fail(b, rc, "collective");
	sec = (now_sec() - t0) / (o->iters * o->agg_iters);
	if ((rc = bench_combine(b, &sec, o->average)) < 0)
		return bench_fail(b, rc, "exchanging times");

	/* nccl-tests' bandwidths: algbw = bytes the user moved / time, busbw
	 * scales it to what each link carried in the ring */
	switch (o->coll) {
	case COLL_ALL_REDUCE:
		base = (double)s->param * es;
		busbw = 2 * (n - 1) / n;
		break;
	case COLL_ALL_GATHER:
	case COLL_REDUCE_SCATTER:
	case COLL_ALLTOALL:
		base = (double)s->param * es * n;
		busbw = (n - 1) / n;
		break;
	default:
		base = (double)s->param * es;
		busbw = 1;
		break;
	}
	algbw = sec > 0 ? base / 1e9 / sec : 0;
	busbw *= algbw;

	for (int c = 0; c < o->check; c++) {
		long long w = bench_check_once(b, s, t, op, root, in_place);
		double wd;

		if (w < 0)
			return (int)w;
		if (w > 0)
			b->wrong_rows++;
		wd = (double)w;
		if ((rc = bench_combine(b, &wd, 4)) < 0)
			return bench_fail(b, rc, "exchanging error counts");
		wrong = (long long)wd;
		if (wrong)
			break;
	}
	if (b->rep)
		report_row_body(b->rep, sec * 1e6, algbw, busbw, wrong, o->check > 0, in_place);
	b->bw_sum += busbw;
	b->bw_count++;
	return 0;
}

static size_t next_size(const struct np_opts *o, size_t size)
{
	return o->step_factor > 1 ? size * o->step_factor : size + o->step_bytes;
}

/* Warm-up and every row of one (type, op, root). */
static int bench_sweep(struct bench *b, enum dtype t, enum redop op, int root)
{
	const struct np_opts *o = b->o;
	size_t es = dtype_size(t);
	struct shape s;
	int rc, exact = o->ncounts > 0;
	unsigned int nrows = exact ? o->ncounts : 0;

	if ((rc = bootstrap_barrier(b->bs)) < 0)
		return bench_fail(b, rc, "barrier");
	for (size_t size = o->min_bytes; !exact && size <= o->max_bytes && size; size *= 2) {
		shape_of(b, size / es, es, 0, &s);
		for (int i = 0; i < o->warmup; i++)
			if ((rc = coll_run(&b->cc, o->coll, b->sendbuf, b->recvbuf, s.param, t, op, root)) < 0)
				return bench_fail(b, rc, "collective");
	}
	for (size_t size = o->min_bytes, i = 0; exact ? i < nrows : size <= o->max_bytes; i++) {
		size_t count = exact ? o->counts[i] : size / es;

		shape_of(b, count, es, exact, &s);
		if (b->rep)
			report_row_begin(b->rep, (s.send > s.recv ? s.send : s.recv) * es, s.param,
			                 dtype_name(t), o->coll == COLL_ALL_GATHER || o->coll == COLL_ALLTOALL ||
			                 o->coll == COLL_BROADCAST ? "none" : redop_name(op), root);
		if ((rc = bench_time(b, &s, t, op, root, 0)) < 0 ||
		    (rc = bench_time(b, &s, t, op, root, 1)) < 0)
			return rc;
		if (b->rep)
			report_row_end(b->rep);
		if (!exact) {
			size_t nx = next_size(o, size);

			if (nx <= size)
				break;
			size = nx;
		}
	}
	return 0;
}

/* The largest buffer any row needs, in bytes. */
static size_t bench_buflen(const struct bench *b)
{
	const struct np_opts *o = b->o;
	size_t maxc = o->max_bytes, len;
	struct shape s;

	for (unsigned int i = 0; i < o->ncounts; i++)
		if (o->counts[i] * 8 > maxc)
			maxc = o->counts[i] * 8;
	shape_of(b, maxc, 1, 1, &s);
	len = s.send > s.recv ? s.send : s.recv;
	/* exact counts can round base*n up to count + n elements */
	return len + 8 * (size_t)o->nranks + 64;
}

static void bench_devinfo(struct bench *b, struct report_dev *d)
{
	char link[64] = "";
	ssize_t n;

	memset(d, 0, sizeof(*d));
	d->rank = b->o->rank;
	d->pid = (int)getpid();
	gethostname(d->host, sizeof(d->host) - 1);
	if (b->o->netns) {
		snprintf(d->netns, sizeof(d->netns), "netns %s", b->o->netns);
	} else if ((n = readlink("/proc/self/ns/net", link, sizeof(link) - 1)) > 0) {
		/* "net:[4026531840]": brackets would end the device field */
		link[n] = '\0';
		snprintf(d->netns, sizeof(d->netns), "netns ino %s",
		         link + strcspn(link, "0123456789"));
		d->netns[strcspn(d->netns, "]")] = '\0';
	}
	snprintf(d->info, sizeof(d->info), "host memory, %.100s", b->cc.x->desc);
}

int bench_run(const struct np_opts *o, struct bootstrap *bs, struct xport *x)
{
	struct bench b = { .o = o, .bs = bs, .corrupt_rank = -1 };
	const char *hook = getenv("NCCLPERF_TEST_CORRUPT");
	struct report_dev me, *devs = calloc((size_t)o->nranks, sizeof(*devs));
	int rc = 0, first_t = o->dtype == DT_COUNT ? 0 : o->dtype;
	int last_t = o->dtype == DT_COUNT ? DT_COUNT - 1 : o->dtype;
	int first_op = o->op == OP_COUNT ? 0 : o->op, last_op = o->op == OP_COUNT ? OP_COUNT - 1 : o->op;
	/* sendrecv loops over -o like nccl-tests, though no op applies */
	int reduces = o->coll == COLL_ALL_REDUCE || o->coll == COLL_REDUCE_SCATTER ||
	              o->coll == COLL_REDUCE || o->coll == COLL_SENDRECV;
	int rooted = o->coll == COLL_BROADCAST || o->coll == COLL_REDUCE;
	int first_root = -1, last_root = -1;
	double errs;

	if (hook && *hook)
		b.corrupt_rank = atoi(hook);
	if (!reduces)
		first_op = last_op = OP_SUM;
	coll_ctx_init(&b.cc, x, o->slice_bytes);
	b.buflen = bench_buflen(&b);
	b.sendbuf = malloc(b.buflen);
	b.recvbuf = malloc(b.buflen);
	b.expect = malloc(b.buflen);
	if (!devs || !b.sendbuf || !b.recvbuf || !b.expect) {
		fprintf(stderr, "ncclperf: rank %d: cannot allocate 3 x %zu bytes\n", o->rank, b.buflen);
		rc = -ENOMEM;
		goto out;
	}
	/* touch every page before timing anything */
	memset(b.sendbuf, 1, b.buflen);
	memset(b.recvbuf, 2, b.buflen);
	memset(b.expect, 3, b.buflen);
	bench_devinfo(&b, &me);
	if ((rc = bootstrap_allgather(bs, &me, devs, sizeof(me))) < 0) {
		rc = bench_fail(&b, rc, "exchanging device info");
		goto out;
	}
	if (o->rank == 0) {
		if (!(b.rep = report_open(o))) {
			rc = -ENOMEM;
			goto out;
		}
		report_header(b.rep, devs, o->nranks);
	}
	/* nccl-tests' order: types, then ops, then roots (-r -1: each rank) */
	if (rooted) {
		first_root = o->root < 0 ? 0 : o->root;
		last_root = o->root < 0 ? o->nranks - 1 : o->root;
	}
	for (int t = first_t; t <= last_t && rc == 0; t++)
		for (int op = first_op; op <= last_op && rc == 0; op++)
			for (int r = first_root; r <= last_root && rc == 0; r++)
				rc = bench_sweep(&b, (enum dtype)t, (enum redop)op, r);
	if (rc < 0)
		goto out;
	errs = b.wrong_rows;
	if ((rc = bench_combine(&b, &errs, 4)) < 0) {
		rc = bench_fail(&b, rc, "exchanging error counts");
		goto out;
	}
	if (b.rep)
		report_footer(b.rep, (int)errs, b.bw_count ? b.bw_sum / b.bw_count : 0);
	/* nobody closes the transport while a peer may still read from it */
	if ((rc = bootstrap_barrier(bs)) < 0) {
		rc = bench_fail(&b, rc, "final barrier");
		goto out;
	}
	rc = (int)errs;
out:
	if (b.rep && report_close(b.rep) < 0 && rc == 0)
		rc = -EIO;
	coll_ctx_fini(&b.cc);
	free(b.sendbuf);
	free(b.recvbuf);
	free(b.expect);
	free(devs);
	return rc;
}
