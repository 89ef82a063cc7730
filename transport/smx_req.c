/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smx requests: the per-peer queues of isends and irecvs, and the receive
 * side's combine step, which hands the bytes sitting in the receive ring's
 * buffers to the caller's callback with no copy in between. Only an
 * element straddling two buffers (or two frames) is stitched together in
 * the request's small stash.
 */
#include <string.h>
#include "smx_internal.h"

void smx_queue_push(struct smx_queue *q, struct smx_req *r)
{
	r->next = NULL;
	if (q->tail != NULL)
		q->tail->next = r;
	else
		q->head = r;
	q->tail = r;
}

static struct smx_req *smx_queue_pop(struct smx_queue *q)
{
	struct smx_req *r = q->head;

	if (r != NULL) {
		q->head = r->next;
		if (q->head == NULL)
			q->tail = NULL;
		r->next = NULL;
	}
	return r;
}

static void smx_req_emit(struct smx_req *r, size_t off, const uint8_t *src,
			 size_t n)
{
	if (n == 0)
		return;
	if (r->fn != NULL)
		r->fn(r->arg, off, src, n);
	else
		memcpy((uint8_t *)r->rbuf + off, src, n);
}

/*
 * Invariant: with the stash empty, `off` is a multiple of align; the stash
 * holds the first stash_len bytes of the unit at off - stash_len.
 */
void smx_req_piece(struct smx_req *r, size_t off, const uint8_t *src, size_t n)
{
	size_t a = r->align, whole;

	if (r->stash_len > 0) {
		size_t take = a - r->stash_len;

		if (take > n)
			take = n;
		memcpy(r->stash + r->stash_len, src, take);
		r->stash_len += (uint32_t)take;
		src += take;
		n -= take;
		off += take;
		if (r->stash_len == a || off == r->len) {
			smx_req_emit(r, off - r->stash_len, r->stash, r->stash_len);
			r->stash_len = 0;
		}
	}
	if (n == 0)
		return;
	whole = off + n == r->len ? n : n & ~(a - 1);
	smx_req_emit(r, off, src, whole);
	if (whole < n) {
		memcpy(r->stash, src + whole, n - whole);
		r->stash_len = (uint32_t)(n - whole);
	}
}

void smx_req_deliver(struct smx_peer *p, const uint8_t *src, uint32_t n)
{
	while (n > 0) {
		struct smx_req *r = p->rq.head;
		size_t off = (size_t)(p->rcv_nxt - r->start);
		size_t k = r->len - off;

		if (k > n)
			k = n;
		smx_req_piece(r, off, src, k);
		src += k;
		n -= (uint32_t)k;
		p->rcv_nxt += k;
		if (p->rcv_nxt == r->start + r->len) {
			smx_queue_pop(&p->rq);
			__atomic_store_n(&r->status, 1, __ATOMIC_RELEASE);
		}
	}
}

void smx_req_acked(struct smx_peer *p)
{
	struct smx_req *r;

	while ((r = p->sq.head) != NULL && r->start + r->len <= p->snd_una) {
		if (p->snd_cur == r)
			p->snd_cur = r->next;
		smx_queue_pop(&p->sq);
		__atomic_store_n(&r->status, 1, __ATOMIC_RELEASE);
	}
}

void smx_req_fail_all(struct smx_peer *p, int err)
{
	struct smx_req *r;

	while ((r = smx_queue_pop(&p->sq)) != NULL)
		r->status = err;
	while ((r = smx_queue_pop(&p->rq)) != NULL)
		r->status = err;
	p->snd_cur = NULL;
}
