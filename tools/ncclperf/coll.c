/* SPDX-License-Identifier: BSD-3-Clause */
/* Ring, chain and pairwise collectives over struct xport. Every ring step
 * is cut in slices; a step's slice j is sent as soon as the previous
 * step's slice j has arrived, so sends and receives of consecutive slices
 * overlap (NCCL's pipelining, without its channels and protocols). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "coll.h"

static const char *const coll_names[COLL_KIND_COUNT] = {
	"all_reduce", "all_gather", "reduce_scatter", "alltoall",
	"sendrecv", "broadcast", "reduce",
};

const char *coll_name(enum coll_kind k)
{
	return coll_names[k];
}

int coll_parse(const char *s)
{
	char buf[64];
	size_t n = 0;

	/* compare without '_' and a trailing "_perf": all_reduce_perf,
	 * allreduce and all_reduce are the same */
	for (; *s && n + 1 < sizeof(buf); s++)
		if (*s != '_')
			buf[n++] = *s;
	buf[n] = '\0';
	if (n > 4 && strcasecmp(buf + n - 4, "perf") == 0)
		buf[n - 4] = '\0';
	for (int k = 0; k < COLL_KIND_COUNT; k++) {
		char nm[64];
		size_t m = 0;

		for (const char *p = coll_names[k]; *p; p++)
			if (*p != '_')
				nm[m++] = *p;
		nm[m] = '\0';
		if (strcasecmp(buf, nm) == 0)
			return k;
	}
	return -EINVAL;
}

struct comb {
	enum dtype t;
	enum redop op;
	char *dst;
	const char *local;
};

/* xport_combine_fn: dst = local op received, for one received piece */
static void coll_combine(void *arg, size_t off, const void *src, size_t len)
{
	struct comb *cb = arg;

	dtype_reduce(cb->t, cb->op, cb->dst + off, cb->local + off, src,
	             len / dtype_size(cb->t));
}

void coll_ctx_init(struct coll_ctx *c, struct xport *x, size_t slice_bytes)
{
	memset(c, 0, sizeof(*c));
	c->x = x;
	c->rank = x->rank;
	c->nranks = x->nranks;
	c->slice_bytes = slice_bytes;
}

void coll_ctx_fini(struct coll_ctx *c)
{
	free(c->req);
	free(c->reqp);
	free(c->comb);
	free(c->scratch);
	memset(c, 0, sizeof(*c));
}

static int coll_reserve(struct coll_ctx *c, size_t nreq, size_t scratch)
{
	if (nreq > c->nreq) {
		free(c->req);
		free(c->reqp);
		free(c->comb);
		c->req = calloc(nreq, sizeof(*c->req));
		c->reqp = calloc(nreq, sizeof(*c->reqp));
		c->comb = calloc(nreq, sizeof(struct comb));
		c->nreq = c->req && c->reqp && c->comb ? nreq : 0;
		if (!c->nreq)
			return -ENOMEM;
	}
	for (size_t i = 0; i < nreq; i++)
		c->reqp[i] = &c->req[i];
	if (scratch > c->scratch_len) {
		free(c->scratch);
		c->scratch = malloc(scratch);
		c->scratch_len = c->scratch ? scratch : 0;
		if (!c->scratch)
			return -ENOMEM;
	}
	return 0;
}

/* the slice size in whole elements, at least one */
static size_t slice_of(const struct coll_ctx *c, size_t es)
{
	size_t sl = c->slice_bytes / es * es;

	return sl ? sl : es;
}

static size_t nslices(size_t len, size_t slice)
{
	return (len + slice - 1) / slice;
}

/* One step of a ring: send src to next, receive dst from prev (combined
 * with local when local != NULL). dep: src is what the previous step
 * received, slice for slice. reuse >= 0: dst is what step reuse sent;
 * those sends must be done before this step receives over them (a
 * transport may re-read a send buffer until the send completes, e.g. to
 * retransmit). */
struct ring_step {
	const char *src;
	char *dst;
	const char *local;
	size_t len;            /* bytes sent */
	size_t rlen;           /* bytes received */
	int dep;
	int reuse;
};

static int ring_run(struct coll_ctx *c, struct ring_step *st, int nsteps,
                    enum dtype t, enum redop op)
{
	struct xport *x = c->x;
	int next = (c->rank + 1) % c->nranks, prev = (c->rank + c->nranks - 1) % c->nranks;
	size_t es = dtype_size(t), sl = slice_of(c, es), total = 0, k = 0;
	size_t *rbase = calloc(2 * (size_t)nsteps + 1, sizeof(size_t)), *sbase = rbase + nsteps;
	struct comb *cb;
	int rc = 0;

	if (!rbase)
		return -ENOMEM;
	for (int s = 0; s < nsteps; s++)
		total += nslices(st[s].len, sl) + nslices(st[s].rlen, sl);
	if ((rc = coll_reserve(c, total, 0)) < 0)
		goto out;
	cb = c->comb;

	for (int s = 0; s < nsteps && rc == 0; s++) {
		size_t nr = nslices(st[s].rlen, sl), ns = nslices(st[s].len, sl);

		int w = st[s].reuse;

		if (w >= 0 && w < s &&
		    (rc = x->ops->wait(x, &c->reqp[sbase[w]], (unsigned int)nslices(st[w].len, sl))) < 0)
			break;
		/* this step's receives first, so the peer never waits on us */
		rbase[s] = k;
		for (size_t j = 0; j < nr && rc == 0; j++, k++) {
			size_t off = j * sl, n = st[s].rlen - off < sl ? st[s].rlen - off : sl;

			if (st[s].local) {
				cb[k] = (struct comb){ t, op, st[s].dst + off, st[s].local + off };
				rc = x->ops->irecv(x, prev, st[s].dst + off, n, coll_combine,
				                   &cb[k], es, &c->req[k]);
			} else {
				rc = x->ops->irecv(x, prev, st[s].dst + off, n, NULL, NULL, es, &c->req[k]);
			}
		}
		sbase[s] = k;
		for (size_t j = 0; j < ns && rc == 0; j++, k++) {
			size_t off = j * sl, n = st[s].len - off < sl ? st[s].len - off : sl;

			if (st[s].dep && s > 0 && (rc = x->ops->wait(x, &c->reqp[rbase[s - 1] + j], 1)) < 0)
				break;
			rc = x->ops->isend(x, next, st[s].src + off, n, &c->req[k]);
		}
	}
	if (rc == 0)
		rc = x->ops->wait(x, c->reqp, (unsigned int)k);
out:
	free(rbase);
	return rc;
}

/* chunk k of n of count elements, balanced: [lo, hi) */
static void chunk(size_t count, int n, int k, size_t *lo, size_t *hi)
{
	*lo = count * (size_t)k / (size_t)n;
	*hi = count * (size_t)(k + 1) / (size_t)n;
}

static int mod(int a, int n)
{
	return ((a % n) + n) % n;
}

static int all_reduce(struct coll_ctx *c, const char *in, char *out, size_t count,
                      enum dtype t, enum redop op)
{
	int n = c->nranks, r = c->rank, rc;
	size_t es = dtype_size(t);
	struct ring_step *st = calloc(2 * (size_t)n, sizeof(*st));

	if (!st)
		return -ENOMEM;
	/* reduce-scatter: after n-1 steps rank r holds chunk r+1 reduced */
	for (int s = 0; s < n - 1; s++) {
		size_t slo, shi, rlo, rhi;
		int sc = mod(r - s, n), rcv = mod(r - s - 1, n);

		chunk(count, n, sc, &slo, &shi);
		chunk(count, n, rcv, &rlo, &rhi);
		st[s] = (struct ring_step){ .src = (s == 0 ? in : out) + slo * es, .len = (shi - slo) * es,
		                            .dst = out + rlo * es, .rlen = (rhi - rlo) * es,
		                            .local = in + rlo * es, .dep = s > 0, .reuse = -1 };
	}
	/* all-gather of the reduced chunks */
	for (int s = 0; s < n - 1; s++) {
		size_t slo, shi, rlo, rhi;

		chunk(count, n, mod(r + 1 - s, n), &slo, &shi);
		chunk(count, n, mod(r - s, n), &rlo, &rhi);
		/* all-gather step s lands on chunk r-s, which reduce-scatter
		 * step s sent (from out, or from in when in place) */
		st[n - 1 + s] = (struct ring_step){ .src = out + slo * es, .len = (shi - slo) * es,
		                                    .dst = out + rlo * es, .rlen = (rhi - rlo) * es,
		                                    .dep = 1, .reuse = s };
	}
	rc = ring_run(c, st, 2 * (n - 1), t, op);
	free(st);
	return rc;
}

static int all_gather(struct coll_ctx *c, const char *in, char *out, size_t count, enum dtype t)
{
	int n = c->nranks, r = c->rank, rc;
	size_t bytes = count * dtype_size(t);
	struct ring_step *st = calloc((size_t)n, sizeof(*st));

	if (!st)
		return -ENOMEM;
	if (in != out + (size_t)r * bytes)
		memcpy(out + (size_t)r * bytes, in, bytes);
	for (int s = 0; s < n - 1; s++)
		st[s] = (struct ring_step){ .src = out + (size_t)mod(r - s, n) * bytes, .len = bytes,
		                            .dst = out + (size_t)mod(r - s - 1, n) * bytes,
		                            .rlen = bytes, .dep = s > 0, .reuse = -1 };
	rc = ring_run(c, st, n - 1, t, OP_SUM);
	free(st);
	return rc;
}

static int reduce_scatter(struct coll_ctx *c, const char *in, char *out, size_t count,
                          enum dtype t, enum redop op)
{
	int n = c->nranks, r = c->rank, rc;
	size_t bytes = count * dtype_size(t);
	struct ring_step *st = calloc((size_t)n, sizeof(*st));
	char *tmp;

	if (!st)
		return -ENOMEM;
	/* partials go to scratch, chunk for chunk: the input stays intact
	 * and no slice is overwritten while a send may still read it */
	if ((rc = coll_reserve(c, 0, (size_t)n * bytes)) < 0)
		goto out;
	tmp = c->scratch;
	for (int s = 0; s < n - 1; s++) {
		int sc = mod(r - s - 1, n), rcv = mod(r - s - 2, n);

		st[s] = (struct ring_step){
			.src = (s == 0 ? in : tmp) + (size_t)sc * bytes, .len = bytes,
			.dst = s == n - 2 ? out : tmp + (size_t)rcv * bytes, .rlen = bytes,
			.local = in + (size_t)rcv * bytes, .dep = s > 0, .reuse = -1 };
	}
	rc = ring_run(c, st, n - 1, t, op);
out:
	free(st);
	return rc;
}

/* Chain from root through root+1, ...: receive slice j, pass it on. */
static int broadcast(struct coll_ctx *c, const char *in, char *out, size_t bytes,
                     enum dtype t, int root)
{
	struct xport *x = c->x;
	int n = c->nranks, pos = mod(c->rank - root, n);
	int next = (c->rank + 1) % n, prev = mod(c->rank - 1, n);
	size_t es = dtype_size(t), sl = slice_of(c, es);
	size_t ns = nslices(bytes, sl), k = 0;
	int rc;

	if (pos == 0 && in != out)
		memcpy(out, in, bytes);
	if ((rc = coll_reserve(c, 2 * ns, 0)) < 0)
		return rc;
	if (pos != 0)
		for (size_t j = 0; j < ns && rc == 0; j++)
			rc = x->ops->irecv(x, prev, out + j * sl, bytes - j * sl < sl ? bytes - j * sl : sl,
			                   NULL, NULL, es, &c->req[ns + j]);
	for (size_t j = 0; j < ns && rc == 0 && pos != n - 1; j++, k++) {
		if (pos != 0 && (rc = x->ops->wait(x, &c->reqp[ns + j], 1)) < 0)
			break;
		rc = x->ops->isend(x, next, out + j * sl, bytes - j * sl < sl ? bytes - j * sl : sl,
		                   &c->req[j]);
	}
	if (rc == 0)
		rc = x->ops->wait(x, c->reqp, (unsigned int)k);
	if (rc == 0 && pos != 0)
		rc = x->ops->wait(x, &c->reqp[ns], (unsigned int)ns);
	return rc;
}

/* Chain from root+1 to root: each rank adds its input to what arrives
 * and passes the partial on; the root's partial is the result. */
static int reduce(struct coll_ctx *c, const char *in, char *out, size_t bytes,
                  enum dtype t, enum redop op, int root)
{
	struct xport *x = c->x;
	int n = c->nranks, pos = mod(c->rank - root - 1, n);
	int next = (c->rank + 1) % n, prev = mod(c->rank - 1, n);
	size_t es = dtype_size(t), sl = slice_of(c, es);
	size_t ns = nslices(bytes, sl), k = 0;
	struct comb *cb;
	char *dst;
	int rc;

	if ((rc = coll_reserve(c, 2 * ns, pos == n - 1 ? 0 : bytes)) < 0)
		return rc;
	dst = pos == n - 1 ? out : c->scratch;
	cb = c->comb;
	if (pos != 0)
		for (size_t j = 0; j < ns && rc == 0; j++) {
			size_t len = bytes - j * sl < sl ? bytes - j * sl : sl;

			cb[ns + j] = (struct comb){ t, op, dst + j * sl, in + j * sl };
			rc = x->ops->irecv(x, prev, dst + j * sl, len, coll_combine, &cb[ns + j],
			                   es, &c->req[ns + j]);
		}
	for (size_t j = 0; j < ns && rc == 0 && pos != n - 1; j++, k++) {
		size_t len = bytes - j * sl < sl ? bytes - j * sl : sl;

		if (pos != 0 && (rc = x->ops->wait(x, &c->reqp[ns + j], 1)) < 0)
			break;
		rc = x->ops->isend(x, next, (pos == 0 ? in : dst) + j * sl, len, &c->req[j]);
	}
	if (rc == 0)
		rc = x->ops->wait(x, c->reqp, (unsigned int)k);
	if (rc == 0 && pos != 0)
		rc = x->ops->wait(x, &c->reqp[ns], (unsigned int)ns);
	return rc;
}

/* Pairwise exchange with every peer at once (NCCL: grouped send/recv).
 * In place, the input is staged first: a block may arrive before ours
 * to that peer has left. */
static int alltoall(struct coll_ctx *c, const char *in, char *out, size_t bytes)
{
	struct xport *x = c->x;
	int n = c->nranks, r = c->rank, rc;
	size_t k = 0;

	if ((rc = coll_reserve(c, 2 * (size_t)n, in == out ? (size_t)n * bytes : 0)) < 0)
		return rc;
	if (in == out) {
		memcpy(c->scratch, in, (size_t)n * bytes);
		in = c->scratch;
	}
	for (int i = 1; i < n && rc == 0; i++) {
		int to = (r + i) % n, from = mod(r - i, n);

		rc = x->ops->irecv(x, from, out + (size_t)from * bytes, bytes, NULL, NULL, 1, &c->req[k++]);
		if (rc == 0)
			rc = x->ops->isend(x, to, in + (size_t)to * bytes, bytes, &c->req[k++]);
	}
	memcpy(out + (size_t)r * bytes, in + (size_t)r * bytes, bytes);
	return rc < 0 ? rc : x->ops->wait(x, c->reqp, (unsigned int)k);
}

static int sendrecv(struct coll_ctx *c, const char *in, char *out, size_t bytes)
{
	struct xport *x = c->x;
	int n = c->nranks, rc;

	if ((rc = coll_reserve(c, 2, in == out ? bytes : 0)) < 0)
		return rc;
	if (in == out) {
		memcpy(c->scratch, in, bytes);
		in = c->scratch;
	}
	rc = x->ops->irecv(x, mod(c->rank - 1, n), out, bytes, NULL, NULL, 1, &c->req[0]);
	if (rc == 0)
		rc = x->ops->isend(x, (c->rank + 1) % n, in, bytes, &c->req[1]);
	return rc < 0 ? rc : x->ops->wait(x, c->reqp, 2);
}

int coll_run(struct coll_ctx *c, enum coll_kind k, const void *send, void *recv,
             size_t count, enum dtype t, enum redop op, int root)
{
	size_t bytes = count * dtype_size(t);
	const char *in = send;
	char *out = recv;

	if (c->nranks == 1) {
		/* every collective is a copy on one rank */
		if (in != out)
			memmove(out, in, bytes);
		return 0;
	}
	switch (k) {
	case COLL_ALL_REDUCE:     return all_reduce(c, in, out, count, t, op);
	case COLL_ALL_GATHER:     return all_gather(c, in, out, count, t);
	case COLL_REDUCE_SCATTER: return reduce_scatter(c, in, out, count, t, op);
	case COLL_ALLTOALL:       return alltoall(c, in, out, bytes);
	case COLL_SENDRECV:       return sendrecv(c, in, out, bytes);
	case COLL_BROADCAST:      return broadcast(c, in, out, bytes, t, root);
	case COLL_REDUCE:         return reduce(c, in, out, bytes, t, op, root);
	default:                  return -EINVAL;
	}
}
