/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * memif_server's data path: rx_burst and tx_burst, run by workers, lock
 * free. Everything in the client's regions is hostile: ring indexes are
 * read once per burst, descriptors copied before they are checked, and
 * every access bounded by our own mapping of a memfd that cannot shrink.
 */
#include "memif_server_internal.h"

/* ------------------------------------------------------------------------ */
/* Data path                                                                 */
/* ------------------------------------------------------------------------ */

/* Single writer: a plain add, published without a locked instruction. */
static inline void memif_server_count(uint64_t *ctr, uint64_t n)
{
	__atomic_store_n(ctr, *ctr + n, __ATOMIC_RELAXED);
}

/* Where a descriptor's bytes are, or NULL if it points outside the
 * client's regions. `d` is our private copy. */
static inline const uint8_t *
memif_server_desc_ptr(const struct memif_server_conn *c,
		      const struct memif_proto_desc *d)
{
	const struct memif_server_region *r;

	if (unlikely(d->region >= c->nregions))
		return NULL;
	r = &c->regions[d->region];
	if (unlikely((uint64_t)d->offset + d->length > r->size))
		return NULL;
	return r->addr + d->offset;
}

/*
 * Copy `cnt` checked descriptors (one packet) into `head` and further
 * segments taken one by one from the pool. Returns 0, or -ENOMEM with
 * `head` back to a bare single segment.
 */
static int memif_server_rx_chain(struct memif_server *s, struct rte_mbuf *head,
				 const struct memif_proto_desc *d,
				 const uint8_t *const *src, unsigned int cnt)
{
	struct rte_mbuf *m = head;
	unsigned int i;
	uint32_t off, left, n;

	for (i = 0; i < cnt; i++) {
		off = 0;
		left = d[i].length;
		while (left > 0) {
			if (m->data_len == s->room) {
				struct rte_mbuf *seg = rte_pktmbuf_alloc(s->pool);

				if (unlikely(seg == NULL)) {
					rte_pktmbuf_free(head->next);
					head->next = NULL;
					head->nb_segs = 1;
					head->data_len = 0;
					head->pkt_len = 0;
					return -ENOMEM;
				}
				m->next = seg;
				m = seg;
				head->nb_segs++;
			}
			n = RTE_MIN(left, (uint32_t)(s->room - m->data_len));
			rte_memcpy(rte_pktmbuf_mtod_offset(m, uint8_t *, m->data_len),
				   src[i] + off, n);
			m->data_len = (uint16_t)(m->data_len + n);
			head->pkt_len += n;
			off += n;
			left -= n;
		}
	}
	return 0;
}

/* What the rx slow path tells the burst loop, besides descriptors used. */
#define MEMIF_SERVER_RX_REWINDOW	(-1)	/* restart the window at this packet */
#define MEMIF_SERVER_RX_WIDEN		(-2)	/* same, with the widest window */
#define MEMIF_SERVER_RX_STOP		(-3)	/* end the burst here */

/*
 * The packet at d[i] is not one descriptor fitting one mbuf: a chain, a
 * long buffer, or garbage. Returns descriptors consumed (> 0), with *got
 * set when m now holds the packet; or a MEMIF_SERVER_RX_* code.
 */
static int memif_server_rx_slow(struct memif_server *s, uint16_t ring_size,
				struct rte_mbuf *m,
				const struct memif_proto_desc *d,
				const uint8_t *const *src, uint16_t i, uint16_t w,
				uint16_t avail, bool *got, uint64_t *bad,
				uint64_t *nombuf)
{
	uint64_t total = 0;	/* up to 64 lengths of up to 4 GiB */
	uint16_t e = i, k;

	*got = false;
	while ((d[e].flags & MEMIF_PROTO_DESC_FLAG_NEXT) &&
	       e - i + 1 < MEMIF_SERVER_MAX_CHAIN && e + 1 < w)
		e++;
	if (d[e].flags & MEMIF_PROTO_DESC_FLAG_NEXT) {
		if (e - i + 1 < MEMIF_SERVER_MAX_CHAIN) {
			/* The chain goes on past this window: look again
			 * from its start, or wait for the client to publish
			 * the rest, unless the ring is full and the rest can
			 * never come. */
			if (i > 0)
				return MEMIF_SERVER_RX_REWINDOW;
			if (w < RTE_MIN(avail, (uint16_t)MEMIF_SERVER_RX_WINDOW))
				return MEMIF_SERVER_RX_WIDEN;
			if (avail < ring_size)
				return MEMIF_SERVER_RX_STOP;
		}
		(*bad)++;		/* too long, or never complete */
		return e - i + 1;
	}
	for (k = i; k <= e; k++) {
		if (src[k] == NULL)
			break;
		total += d[k].length;
	}
	if (k <= e || total == 0 || total > MEMIF_SERVER_MAX_PKT_LEN) {
		(*bad)++;
		return e - i + 1;
	}
	if (memif_server_rx_chain(s, m, &d[i], &src[i], e - i + 1u) < 0) {
		(*nombuf)++;
		return MEMIF_SERVER_RX_STOP;	/* retried next burst */
	}
	*got = true;
	return e - i + 1;
}

/*
 * n mbufs from mp, set up as rte_pktmbuf_alloc_bulk() would but writing
 * their first cache line only: a pool's free mbufs already have next NULL,
 * nb_segs 1 and refcnt 1 (rte_mbuf_raw_free()'s contract, which every
 * free path keeps), so the second line (next, tx_offload) is not touched.
 * perf put a quarter of the receive function in those stores (a cache
 * miss per mbuf). Nothing here uses tx_offload without setting it, and
 * no pool of ours has external buffers. Returns 0 or -ENOENT.
 */
static inline int memif_server_mbufs_get(struct rte_mempool *mp,
					 struct rte_mbuf **m, unsigned int n)
{
	if (rte_mempool_get_bulk(mp, (void **)m, n) != 0)
		return -ENOENT;
	for (unsigned int i = 0; i < n; i++) {
		struct rte_mbuf *x = m[i];

		x->data_off = RTE_PKTMBUF_HEADROOM;
		x->port = RTE_MBUF_PORT_INVALID;
		x->ol_flags = 0;
		x->packet_type = 0;
		x->pkt_len = 0;
		x->data_len = 0;
		x->vlan_tci = 0;
		x->vlan_tci_outer = 0;
		RTE_ASSERT(x->next == NULL && x->nb_segs == 1);
	}
	return 0;
}

uint16_t memif_server_rx_burst(struct memif_server *s, uint16_t qid,
			       struct rte_mbuf **pkts, uint16_t n)
{
	struct memif_proto_desc d[MEMIF_SERVER_RX_WINDOW];
	const uint8_t *src[MEMIF_SERVER_RX_WINDOW];
	struct memif_server_conn *c;
	struct memif_server_queue *q;
	struct memif_server_qstats *st;
	struct memif_proto_ring *ring;
	uint16_t cur, head, avail, want, nrx = 0;
	uint64_t bad = 0, nombuf = 0;
	bool stop = false, wide = false;

	c = __atomic_load_n(&s->live, __ATOMIC_ACQUIRE);
	if (unlikely(c == NULL || qid >= c->n_c2s || n == 0))
		return 0;
	q = &c->c2s[qid];
	st = &s->rxq_stats[qid];
	ring = q->ring;
	cur = q->next;
	/* Pairs with the client's release store of head: the descriptors
	 * and buffers before head are complete once we see it. */
	head = __atomic_load_n(&ring->head, __ATOMIC_ACQUIRE);
	avail = (uint16_t)(head - cur);
	if (avail == 0)
		return 0;
	if (unlikely(avail > q->size)) {
		bad++;
		avail = q->size;
	}
	want = RTE_MIN(n, avail);
	while (unlikely(memif_server_mbufs_get(s->pool, pkts, want) != 0)) {
		nombuf++;
		want /= 2;	/* a nearly empty pool still serves a few */
		if (want == 0)
			goto out;
	}

	while (avail > 0 && nrx < want && !stop) {
		/* Look at as many descriptors as packets still wanted (the
		 * common case: one each); widen only for a chain. */
		uint16_t lim = wide ? MEMIF_SERVER_RX_WINDOW :
			       RTE_MIN((uint16_t)(want - nrx),
				       (uint16_t)MEMIF_SERVER_RX_WINDOW);
		uint16_t w = RTE_MIN(avail, lim);
		uint16_t slot = cur & q->mask;
		uint16_t first = RTE_MIN(w, (uint16_t)(q->size - slot));
		uint16_t i = 0, k;
		bool widen = false;

		/* Private copy first: the client may rewrite the ring while
		 * we look at it; our checks must hold for what we use. */
		memcpy(d, &ring->desc[slot], first * sizeof(d[0]));
		if (first < w)
			memcpy(&d[first], &ring->desc[0], (w - first) * sizeof(d[0]));
		for (k = 0; k < w; k++) {
			src[k] = memif_server_desc_ptr(c, &d[k]);
			if (src[k] != NULL)
				rte_prefetch0(src[k]);
		}

		while (i < w && nrx < want) {
			struct rte_mbuf *m = pkts[nrx];
			bool got;
			int used;

			if (likely(!(d[i].flags & MEMIF_PROTO_DESC_FLAG_NEXT) &&
				   src[i] != NULL && d[i].length != 0 &&
				   d[i].length <= s->room)) {
				if (nrx + 1 < want)
					rte_prefetch0(rte_pktmbuf_mtod(pkts[nrx + 1], void *));
				rte_memcpy(rte_pktmbuf_mtod(m, void *), src[i],
					   d[i].length);
				m->data_len = (uint16_t)d[i].length;
				m->pkt_len = d[i].length;
				nrx++;
				i++;
				continue;
			}
			used = memif_server_rx_slow(s, q->size, m, d, src, i, w,
						    avail, &got, &bad, &nombuf);
			if (used == MEMIF_SERVER_RX_REWINDOW)
				break;
			if (used == MEMIF_SERVER_RX_WIDEN) {
				wide = widen = true;
				break;
			}
			if (used == MEMIF_SERVER_RX_STOP) {
				stop = true;
				break;
			}
			nrx += got;
			i = (uint16_t)(i + used);
		}
		cur = (uint16_t)(cur + i);
		avail = (uint16_t)(avail - i);
		if (i == 0 && !widen)
			break;
	}

	if (cur != q->next) {
		q->next = cur;
		/* Hands the buffers back; our reads of them are done. */
		__atomic_store_n(&ring->tail, cur, __ATOMIC_RELEASE);
	}
	if (nrx < want)
		rte_pktmbuf_free_bulk(&pkts[nrx], want - nrx);
out:
	if (unlikely(bad))
		memif_server_count(&st->bad_desc, bad);
	if (unlikely(nombuf))
		memif_server_count(&st->rx_nombuf, nombuf);
	return nrx;
}

/*
 * Copy one mbuf chain into the client's offered buffers starting at
 * `slot`. Returns descriptors used (> 0); 0 when the free descriptors do
 * not hold it (ring full); -E2BIG when it can never fit. Nothing in shared
 * memory is written unless it fits, so the client's offered lengths stay
 * intact for the next try.
 */
static int memif_server_tx_chain(const struct memif_server_conn *c,
				 struct memif_proto_ring *ring, uint16_t mask,
				 uint16_t slot, uint16_t nfree, uint16_t size,
				 struct rte_mbuf *m, uint64_t *bad)
{
	struct memif_proto_desc d[MEMIF_SERVER_MAX_CHAIN];
	uint8_t *dst[MEMIF_SERVER_MAX_CHAIN];
	uint64_t cap = 0;
	uint32_t need = 0, off, left, n, rest;
	uint16_t cnt = 0, nbad = 0, i;
	const struct rte_mbuf *seg;
	const uint8_t *p;

	/* Sized from the segments we copy, not from pkt_len. */
	for (seg = m; seg != NULL; seg = seg->next)
		need += seg->data_len;
	while (cap < need || cnt == 0) {
		if (cnt == nfree || cnt == MEMIF_SERVER_MAX_CHAIN) {
			if (cnt < MEMIF_SERVER_MAX_CHAIN && nfree < size)
				return 0;	/* may fit once the client frees more */
			*bad += nbad;
			return -E2BIG;
		}
		memcpy(&d[cnt], &ring->desc[(uint16_t)(slot + cnt) & mask],
		       sizeof(d[0]));
		p = memif_server_desc_ptr(c, &d[cnt]);
		if (p == NULL) {
			/* Unusable buffer: goes back empty, inside the chain. */
			nbad++;
			d[cnt].length = 0;
		}
		dst[cnt] = (uint8_t *)(uintptr_t)p;
		cap += d[cnt].length;
		cnt++;
	}

	i = 0;
	off = 0;
	for (; m != NULL; m = m->next) {
		const uint8_t *from = rte_pktmbuf_mtod(m, const uint8_t *);

		left = m->data_len;
		while (left > 0) {
			while (off == d[i].length) {
				i++;
				off = 0;
			}
			n = RTE_MIN(left, d[i].length - off);
			rte_memcpy(dst[i] + off, from, n);
			from += n;
			off += n;
			left -= n;
		}
	}
	/* The copy above filled the buffers in order. */
	*bad += nbad;
	rest = need;
	for (i = 0; i < cnt; i++) {
		struct memif_proto_desc *sd = &ring->desc[(uint16_t)(slot + i) & mask];
		uint32_t used = RTE_MIN(rest, d[i].length);

		rest -= used;
		sd->length = used;
		sd->flags = (i + 1 < cnt) ? MEMIF_PROTO_DESC_FLAG_NEXT : 0;
	}
	return cnt;
}

uint16_t memif_server_tx_burst(struct memif_server *s, uint16_t qid,
			       struct rte_mbuf **pkts, uint16_t n)
{
	struct memif_server_conn *c;
	struct memif_server_queue *q;
	struct memif_server_qstats *st;
	struct memif_proto_ring *ring;
	uint16_t slot, head, nfree, i, sent = 0;
	uint64_t bad = 0, too_big = 0;

	c = __atomic_load_n(&s->live, __ATOMIC_ACQUIRE);
	if (unlikely(c == NULL || qid >= c->n_s2c || n == 0))
		return 0;
	q = &c->s2c[qid];
	st = &s->txq_stats[qid];
	ring = q->ring;
	slot = q->next;
	/* Pairs with the client's release of head: the lengths it wrote
	 * into the offered descriptors are visible. */
	head = __atomic_load_n(&ring->head, __ATOMIC_ACQUIRE);
	nfree = (uint16_t)(head - slot);
	if (unlikely(nfree > q->size)) {
		bad++;
		nfree = q->size;
	}

	for (i = 0; i < n && nfree > 0; i++) {
		struct rte_mbuf *m = pkts[i];
		struct memif_proto_desc *sd = &ring->desc[slot & q->mask];
		struct memif_proto_desc ld;
		int used;

		if (i + 1 < n)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void *));
		if (likely(m->nb_segs == 1)) {
			const uint8_t *p;

			memcpy(&ld, sd, sizeof(ld));
			p = memif_server_desc_ptr(c, &ld);
			if (likely(p != NULL && m->data_len <= ld.length &&
				   m->data_len != 0)) {
				rte_memcpy((uint8_t *)(uintptr_t)p,
					   rte_pktmbuf_mtod(m, void *),
					   m->data_len);
				sd->length = m->data_len;
				sd->flags = 0;
				slot++;
				nfree--;
				sent++;
				continue;
			}
		}
		used = memif_server_tx_chain(c, ring, q->mask, slot, nfree,
					     q->size, m, &bad);
		if (used == 0)
			break;		/* ring full: the rest stays with the caller */
		if (used < 0) {
			too_big++;	/* never fits: dropped, counts as consumed */
		} else {
			slot = (uint16_t)(slot + used);
			nfree = (uint16_t)(nfree - used);
		}
		sent++;
	}

	if (slot != q->next) {
		q->next = slot;
		/* Publishes the copied bytes and descriptors to the client. */
		__atomic_store_n(&ring->tail, slot, __ATOMIC_RELEASE);
		/* Interrupt kick, one per burst, for a client that sleeps on
		 * the ring's eventfd (it clears MASK_INT, re-reads tail, then
		 * sleeps). The full fence orders our tail store before the
		 * flags load: without it the load may pass the store and both
		 * sides miss each other (client sees the old tail, we see the
		 * old flags). The eventfd stays open while we may be in here:
		 * it is closed only after the connection is unpublished and an
		 * RCU grace period has passed (memif_server_conn_close). */
		if (q->int_fd >= 0) {
			rte_atomic_thread_fence(__ATOMIC_SEQ_CST);
			if (!(__atomic_load_n(&ring->flags, __ATOMIC_RELAXED) &
			      MEMIF_PROTO_RING_FLAG_MASK_INT)) {
				uint64_t one = 1;
				ssize_t r = write(q->int_fd, &one, sizeof(one));

				RTE_SET_USED(r);	/* EAGAIN: a wakeup is pending anyway */
			}
		}
	}
	if (sent > 0)
		rte_pktmbuf_free_bulk(pkts, sent);
	if (unlikely(sent < n))
		memif_server_count(&st->tx_full, n - sent);
	if (unlikely(bad))
		memif_server_count(&st->bad_desc, bad);
	if (unlikely(too_big))
		memif_server_count(&st->tx_too_big, too_big);
	return sent;
}
