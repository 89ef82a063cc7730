/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smx protocol engine: frames in (acks, in-order delivery), frames out
 * (data within the peer's window and the in-flight cap, acks), timers
 * (retransmission, probes, peer timeout).
 *
 * Reliability is go-back-N over byte offsets: the receiver accepts only
 * the frame at rcv_nxt (one data plane path does not reorder; loss happens
 * when a ring or the mbuf pool is full), acks cumulatively, and the sender
 * restarts at snd_una when an ack says a later frame came first (SMX_F_GAP:
 * without reordering one such ack proves the loss, no need to count
 * duplicates) or on a timeout. Frames
 * are re-cut from the caller's buffer on every (re)send, so nothing is kept
 * per frame.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include "smx_internal.h"

/* ------------------------------------------------------------------------ */
/* Receive                                                                   */
/* ------------------------------------------------------------------------ */

static struct smx_peer *smx_peer_find(struct smx *s, uint32_t ip, uint16_t port)
{
	unsigned int i;

	for (i = 0; i < s->npeers; i++)
		if (s->peers[i].ip == ip && s->peers[i].port == port)
			return &s->peers[i];
	return NULL;
}

/* A new incarnation of the peer: what we had with the old one is void. */
static void smx_peer_reset(struct smx *s, struct smx_peer *p, uint32_t session)
{
	smx_req_fail_all(p, -ECONNRESET);
	p->snd_end = p->snd_una = p->snd_nxt = p->snd_max = p->peer_wnd = 0;
	p->fr_head = p->fr_n = 0;
	p->rcv_nxt = p->rcv_posted = p->ack_sent = p->wnd_sent = 0;
	p->recovering = false;
	p->rto_resend = false;
	p->rto_probe_end = 0;
	p->rto_at = 0;
	p->backoff = 0;
	p->unacked = 0;
	p->error = 0;
	p->session = session;
	s->st.peer_resets++;
}

static void smx_rx_ack(struct smx *s, struct smx_peer *p,
		       const struct smx_frame_info *fi)
{
	uint64_t ack = fi->h.ack;

	if (fi->h.wnd > p->peer_wnd)
		p->peer_wnd = fi->h.wnd;
	if (ack > p->snd_una && ack <= p->snd_max) {
		p->snd_una = ack;
		/* The ack of the frame resent on a timeout comes after the
		 * acks of every original that arrived (one FIFO path). If it
		 * covers only the resent frame, what followed was lost too:
		 * go back. If it covers more, the peer was only slow. */
		if (p->rto_probe_end != 0 && ack >= p->rto_probe_end) {
			if (ack == p->rto_probe_end && ack < p->snd_max) {
				p->snd_nxt = ack;
				p->snd_cur = NULL;
			}
			p->rto_probe_end = 0;
		}
		if (p->snd_nxt < ack)
			p->snd_nxt = ack;
		p->recovering = false;
		p->backoff = 0;
		p->rto_at = p->snd_una < p->snd_max ? s->now + s->rto_ns : 0;
		s->st.rx_acks++;
		smx_req_acked(p);
		return;
	}
	/* A gap at the frame we sent first: go back, once per loss (the
	 * frames still in flight behind it each bring another gap ack). */
	if (ack == p->snd_una && p->snd_una < p->snd_max &&
	    (fi->h.flags & SMX_F_GAP) && !p->recovering) {
		p->snd_nxt = p->snd_una;
		p->snd_cur = NULL;
		p->recovering = true;
		p->rto_resend = false;
		p->rto_probe_end = 0;
		s->st.fast_retransmits++;
	}
}

static void smx_rx_data(struct smx *s, struct smx_peer *p,
			const struct smx_frame_info *fi, const uint8_t **ptr,
			const uint32_t *len, unsigned int n)
{
	uint64_t seq = fi->h.seq;
	uint32_t plen = fi->payload_len;
	unsigned int i;

	if (seq != p->rcv_nxt) {
		/* Lost before it (seq ahead) or a needless resend (behind):
		 * either way tell the sender where we are. */
		s->st.drop_out_of_order++;
		p->ack_now = true;
		if (seq > p->rcv_nxt)
			p->gap = true;
		return;
	}
	if (seq + plen > p->rcv_posted) {
		s->st.drop_no_recv++;
		p->ack_now = true;
		return;
	}
	for (i = 0; i < n && plen > 0; i++) {
		uint32_t k = len[i] < plen ? len[i] : plen;

		smx_req_deliver(p, ptr[i], k);
		plen -= k;
	}
	s->st.rx_frames++;
	s->st.rx_bytes += fi->payload_len;
	if (++p->unacked >= SMX_ACK_EVERY)
		p->ack_now = true;
}

/* One frame of n descriptors. */
static void smx_rx_frame(struct smx *s, const uint8_t **ptr,
			 uint32_t *len, unsigned int n, uint32_t total)
{
	struct smx_frame_info fi;
	struct smx_peer *p;
	int r;

	r = smx_frame_parse(ptr[0], len[0], total, &fi);
	if (r < 0 || (r == 0 && fi.payload_len > total - SMX_HDRS_LEN)) {
		s->st.drop_malformed++;
		return;
	}
	if (r > 0 || fi.dst_port != s->tmpl.src_port ||
	    fi.dst_ip != s->tmpl.src_ip) {
		s->st.drop_other++;
		return;
	}
	p = smx_peer_find(s, fi.src_ip, fi.src_port);
	if (p == NULL) {
		s->st.drop_unknown_peer++;
		return;
	}
	if (fi.h.dst_session != 0 && fi.h.dst_session != s->session) {
		s->st.drop_stale++;
		return;
	}
	if (p->session != fi.h.src_session) {
		if (p->session != 0)
			smx_peer_reset(s, p, fi.h.src_session);
		p->session = fi.h.src_session;
	}
	p->heard_at = s->now;
	if (p->error != 0)
		return;
	smx_rx_ack(s, p, &fi);
	if (fi.h.flags & SMX_F_PROBE)
		p->ack_now = true;
	if (fi.h.type == SMX_T_DATA && fi.payload_len > 0) {
		/* The payload starts after the headers in the first buffer. */
		len[0] -= SMX_HDRS_LEN;
		ptr[0] += SMX_HDRS_LEN;
		smx_rx_data(s, p, &fi, ptr, len, n);
	}
}

int smx_proto_rx(struct smx *s)
{
	struct smx_memif *m = &s->m;
	const uint8_t *ptr[SMX_MAX_CHAIN];
	uint32_t len[SMX_MAX_CHAIN];
	uint16_t avail = smx_memif_rx_avail(m), flags;
	unsigned int frames = 0;

	while (avail > 0) {
		unsigned int n = 0;
		uint32_t total = 0;
		bool more;

		do {
			ptr[n] = smx_memif_rx_ptr(m, (uint16_t)(m->rx_next + n),
						  &len[n], &flags);
			total += len[n];
			more = flags & MEMIF_PROTO_DESC_FLAG_NEXT;
			n++;
		} while (more && n < avail && n < SMX_MAX_CHAIN);
		if (more && n == avail && n < SMX_MAX_CHAIN)
			break;		/* the rest of the chain is not there yet */
		if (more)
			s->st.drop_malformed++;	/* longer than any frame */
		else
			smx_rx_frame(s, ptr, len, n, total);
		m->rx_next = (uint16_t)(m->rx_next + n);
		avail = (uint16_t)(avail - n);
		frames++;
	}
	if (frames > 0)
		smx_memif_rx_release(m);
	return (int)frames;
}

/* ------------------------------------------------------------------------ */
/* Send                                                                      */
/* ------------------------------------------------------------------------ */

static void smx_hdr_fill(struct smx *s, struct smx_peer *p,
			 struct smx_frame_hdr *h, uint8_t type, uint8_t flags)
{
	h->type = type;
	h->flags = flags;
	h->src_session = s->session;
	h->dst_session = p->session;
	h->ack = p->rcv_nxt;
	h->wnd = p->rcv_posted;
	p->ack_sent = p->rcv_nxt;
	p->wnd_sent = p->rcv_posted;
	p->unacked = 0;
	p->ack_now = false;
	if (p->gap)
		h->flags |= SMX_F_GAP;
	p->gap = false;
}

static int smx_tx_ack(struct smx *s, struct smx_peer *p, uint8_t flags)
{
	struct smx_memif *m = &s->m;
	struct smx_frame_hdr h;
	uint8_t *b;

	if (smx_memif_tx_free(m) == 0) {
		s->tx_blocked = true;
		s->st.tx_ring_full++;
		return 0;
	}
	b = smx_memif_tx_buf(m, m->tx_head);
	smx_hdr_fill(s, p, &h, SMX_T_ACK, flags);
	h.seq = p->snd_nxt;
	s->tmpl.dst_ip = p->ip;
	s->tmpl.dst_port = p->port;
	smx_frame_build(b, &s->tmpl, &h, 0);
	smx_memif_tx_desc(m, m->tx_head, SMX_HDRS_LEN, false);
	m->tx_head++;
	s->st.tx_acks++;
	return 1;
}

/* The isend holding stream offset off (snd_cur normally). */
static struct smx_req *smx_tx_req(struct smx_peer *p, uint64_t off)
{
	struct smx_req *r = p->snd_cur;

	if (r == NULL || off < r->start)
		r = p->sq.head;
	while (r != NULL && off >= r->start + r->len)
		r = r->next;
	p->snd_cur = r;
	return r;
}

/* One data frame of len bytes from r at stream offset off. */
static bool smx_tx_frame(struct smx *s, struct smx_peer *p, struct smx_req *r,
			 uint64_t off, uint32_t len)
{
	struct smx_memif *m = &s->m;
	const uint8_t *src = (const uint8_t *)r->sbuf + (off - r->start);
	uint32_t bs = m->buf_size, left = len, room, k;
	uint32_t need = (SMX_HDRS_LEN + len + bs - 1) / bs;
	struct smx_frame_hdr h;
	uint16_t slot = m->tx_head;
	uint8_t *b;

	if (smx_memif_tx_free(m) < need) {
		s->tx_blocked = true;
		s->st.tx_ring_full++;
		return false;
	}
	b = smx_memif_tx_buf(m, slot);
	smx_hdr_fill(s, p, &h, SMX_T_DATA, 0);
	h.seq = off;
	s->tmpl.dst_ip = p->ip;
	s->tmpl.dst_port = p->port;
	smx_frame_build(b, &s->tmpl, &h, len);
	/* The only copy on the send side: user buffer -> memif buffer. */
	room = bs - SMX_HDRS_LEN;
	k = left < room ? left : room;
	memcpy(b + SMX_HDRS_LEN, src, k);
	smx_memif_tx_desc(m, slot, SMX_HDRS_LEN + k, left > k);
	src += k;
	left -= k;
	while (left > 0) {
		slot++;
		b = smx_memif_tx_buf(m, slot);
		k = left < bs ? left : bs;
		memcpy(b, src, k);
		smx_memif_tx_desc(m, slot, k, left > k);
		src += k;
		left -= k;
	}
	m->tx_head = (uint16_t)(slot + 1);
	if (off < p->snd_max)
		s->st.retransmits++;
	if (p->rto_at == 0)
		p->rto_at = s->now + (s->rto_ns << p->backoff);
	s->st.tx_frames++;
	s->st.tx_bytes += len;
	return true;
}

static int smx_tx_peer(struct smx *s, struct smx_peer *p)
{
	int sent = 0;

	if (p->error != 0)
		return 0;
	if (p->rto_resend) {
		struct smx_req *r = smx_tx_req(p, p->snd_una);

		if (r != NULL) {
			uint64_t left = r->start + r->len - p->snd_una;
			uint32_t len = left < s->payload ? (uint32_t)left : s->payload;

			if (p->snd_max - p->snd_una < len)
				len = (uint32_t)(p->snd_max - p->snd_una);
			if (smx_tx_frame(s, p, r, p->snd_una, len)) {
				p->rto_resend = false;
				p->rto_probe_end = p->snd_una + len;
				sent++;
			}
		}
	}
	/* Frames acked, or to be sent again after a go-back: not in flight. */
	while (p->fr_n > 0 && p->fr_end[p->fr_head] <= p->snd_una) {
		p->fr_head = (p->fr_head + 1) % SMX_MAX_FRAMES_INFLIGHT;
		p->fr_n--;
	}
	while (p->fr_n > 0 &&
	       p->fr_end[(p->fr_head + p->fr_n - 1) % SMX_MAX_FRAMES_INFLIGHT] > p->snd_nxt)
		p->fr_n--;
	/* Nothing new until the resent frame's ack tells lost from slow. */
	for (; p->rto_probe_end == 0;) {
		uint64_t cap = p->snd_una + s->window;
		uint64_t lim = p->snd_end;
		struct smx_req *r;
		uint64_t msg_left;
		uint32_t len;

		/* Small messages make small frames, each a slot of the
		 * receiver's ring (of our size, as every rank's default):
		 * the data plane drops what finds the ring full. */
		if (p->fr_n >= s->frames_cap)
			break;

		if (p->peer_wnd < lim)
			lim = p->peer_wnd;
		if (cap < lim)
			lim = cap;
		if (p->snd_nxt >= lim)
			break;
		r = smx_tx_req(p, p->snd_nxt);
		if (r == NULL)
			break;
		msg_left = r->start + r->len - p->snd_nxt;
		len = msg_left < s->payload ? (uint32_t)msg_left : s->payload;
		if (p->snd_nxt + len > lim) {
			/* The cap binds: wait for acks rather than send a
			 * runt. The peer's window binds: send what it has
			 * room for, a multiple of 8 where possible. */
			if (lim == cap && lim < p->peer_wnd)
				break;
			len = (uint32_t)(lim - p->snd_nxt);
			if (len > 8)
				len &= ~7u;
		}
		if (!smx_tx_frame(s, p, r, p->snd_nxt, len))
			break;
		p->snd_nxt += len;
		if (p->snd_nxt > p->snd_max)
			p->snd_max = p->snd_nxt;
		p->fr_end[(p->fr_head + p->fr_n) % SMX_MAX_FRAMES_INFLIGHT] = p->snd_nxt;
		p->fr_n++;
		sent++;
	}
	if (p->ack_now || p->probe_now || p->rcv_posted > p->wnd_sent ||
	    p->rcv_nxt > p->ack_sent) {
		uint8_t fl = p->probe_now ? SMX_F_PROBE : 0;

		if (smx_tx_ack(s, p, fl)) {
			p->probe_now = false;
			sent++;
		}
	}
	return sent;
}

int smx_proto_tx(struct smx *s)
{
	unsigned int i;
	int n = 0;

	s->tx_blocked = false;
	for (i = 0; i < s->npeers; i++)
		n += smx_tx_peer(s, &s->peers[i]);
	if (n > 0)
		smx_memif_tx_publish(&s->m);
	return n;
}

/* ------------------------------------------------------------------------ */
/* Timers                                                                    */
/* ------------------------------------------------------------------------ */

static void smx_deadline(struct smx *s, uint64_t t)
{
	if (t != 0 && (s->next_timer == 0 || t < s->next_timer))
		s->next_timer = t;
}

void smx_proto_timers(struct smx *s)
{
	unsigned int i;

	s->next_timer = 0;
	for (i = 0; i < s->npeers; i++) {
		struct smx_peer *p = &s->peers[i];
		bool busy = p->sq.head != NULL || p->rq.head != NULL;

		if (p->error != 0 || !busy) {
			p->rto_at = 0;
			continue;
		}
		if (s->now - p->heard_at >= s->timeout_ns) {
			p->error = -ETIMEDOUT;
			smx_req_fail_all(p, -ETIMEDOUT);
			s->st.peer_timeouts++;
			continue;
		}
		if (p->rto_at != 0 && s->now >= p->rto_at) {
			if (p->snd_una < p->snd_max) {
				/* Resend the first frame only: on a shared
				 * CPU a timeout is often a descheduled peer,
				 * not a loss (see smx_rx_ack). */
				p->rto_resend = true;
				s->st.rto++;
			}
			if (p->backoff < 10 && (s->rto_ns << (p->backoff + 1)) <= SMX_RTO_MAX_NS)
				p->backoff++;
			p->rto_at = 0;	/* re-armed by the resend */
			if (p->snd_una >= p->snd_max)
				p->probe_now = true;	/* zero window: ask */
		}
		/* Waiting on a silent peer: make it answer, so that a live
		 * one is told apart from a dead one. */
		if (s->now - p->heard_at >= s->probe_ns && s->now >= p->probe_at) {
			p->probe_now = true;
			p->probe_at = s->now + s->probe_ns;
		}
		if (p->snd_una >= p->snd_max && p->snd_nxt >= p->peer_wnd &&
		    p->snd_end > p->snd_nxt && p->rto_at == 0)
			p->rto_at = s->now + (s->rto_ns << p->backoff);
		smx_deadline(s, p->rto_at);
		smx_deadline(s, p->heard_at + s->timeout_ns);
		smx_deadline(s, p->heard_at + s->probe_ns > p->probe_at ?
			     p->heard_at + s->probe_ns : p->probe_at);
	}
}

/* ------------------------------------------------------------------------ */
/* Gateway MAC                                                               */
/* ------------------------------------------------------------------------ */

int smx_proto_arp(struct smx *s, int timeout_ms)
{
	struct smx_memif *m = &s->m;
	uint64_t end = smx_now_ns() + (uint64_t)timeout_ms * 1000000;
	uint32_t gw = htonl(0xa9fe0101);	/* 169.254.1.1 */

	while (smx_now_ns() < end) {
		uint64_t retry = smx_now_ns() + 200 * 1000000;

		if (smx_memif_tx_free(m) > 0) {
			uint8_t *b = smx_memif_tx_buf(m, m->tx_head);
			uint32_t n = smx_frame_arp_request(b, s->tmpl.src_mac,
							   s->tmpl.src_ip, gw);

			smx_memif_tx_desc(m, m->tx_head, n, false);
			m->tx_head++;
			smx_memif_tx_publish(m);
		}
		while (smx_now_ns() < retry) {
			uint16_t avail = smx_memif_rx_avail(m), flags;
			bool found = false;

			while (avail-- > 0) {
				uint32_t len;
				const uint8_t *p = smx_memif_rx_ptr(m, m->rx_next, &len, &flags);

				if (smx_frame_arp_reply(p, len, gw, s->tmpl.dst_mac))
					found = true;
				m->rx_next++;
			}
			smx_memif_rx_release(m);
			if (found)
				return 0;
			if (smx_memif_check(m) < 0)
				return -ENOTCONN;
			poll(NULL, 0, 1);
		}
	}
	return -ETIMEDOUT;
}
