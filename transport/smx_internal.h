/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smx internals shared by smx.c (API, waiting), smx_proto.c (frames in and
 * out, acks, timers) and smx_req.c (request queues, combine pieces).
 * Private to transport/.
 */
#ifndef SMX_INTERNAL_H
#define SMX_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include "shunt/smx.h"
#include "frame.h"
#include "memif_client.h"

#define SMX_MAX_PEERS		256
#define SMX_ACK_EVERY		4	/* in-order frames between acks */
#define SMX_RTO_MAX_NS		(UINT64_C(500) * 1000000)
#define SMX_MAX_CHAIN		64	/* descriptors of one received frame, at most */

struct smx_queue {
	struct smx_req *head, *tail;
};

/* Frames in flight per peer, at most (and half the ring over all peers). */
#define SMX_MAX_FRAMES_INFLIGHT 128

struct smx_peer {
	uint32_t ip;			/* network order */
	uint16_t port;
	uint32_t session;		/* its incarnation (0: not heard yet) */
	int error;			/* != 0: failed, every request gets it */

	/* sending: stream offsets */
	struct smx_queue sq;		/* isends, oldest (partly unacked) first */
	uint64_t snd_end;		/* after the last byte queued */
	uint64_t snd_una;		/* acked up to here */
	uint64_t snd_nxt;		/* next byte to send (goes back on loss) */
	uint64_t snd_max;		/* highest byte ever sent */
	uint64_t peer_wnd;		/* it has posted receives up to here */
	struct smx_req *snd_cur;	/* the isend holding snd_nxt (cache) */
	bool recovering;		/* went back for a gap; until snd_una moves */
	uint64_t rto_at;		/* retransmission deadline (0: none) */
	unsigned int backoff;
	bool rto_resend;		/* timeout: resend the first unacked frame */
	uint64_t rto_probe_end;		/* end of that resent frame (0: none) */
	/* Ends of the frames sent in [snd_una, snd_nxt), oldest first: the
	 * bytes window does not bound frames, and every frame takes one
	 * slot of the receiver's ring however small (smx_tx_peer). */
	uint64_t fr_end[SMX_MAX_FRAMES_INFLIGHT];
	unsigned int fr_head, fr_n;

	/* receiving */
	struct smx_queue rq;		/* irecvs, oldest first */
	uint64_t rcv_nxt;		/* next byte expected */
	uint64_t rcv_posted;		/* end of the posted receives */
	uint64_t ack_sent;		/* rcv_nxt / rcv_posted last told */
	uint64_t wnd_sent;
	unsigned int unacked;		/* in-order frames since the last ack */
	bool ack_now;
	bool gap;			/* saw a frame past rcv_nxt since the last ack */
	bool probe_now;

	/* liveness */
	uint64_t heard_at;		/* last valid frame from it */
	uint64_t probe_at;		/* next liveness probe */
};

struct smx {
	struct smx_memif m;
	struct smx_frame_addr tmpl;	/* our side filled; dst per peer */
	uint32_t session;
	uint32_t payload;		/* per frame */
	uint32_t window;		/* bytes in flight per peer */
	uint64_t timeout_ns;
	uint64_t rto_ns;
	uint64_t probe_ns;
	uint64_t spin_ns;
	uint64_t now;			/* ns, refreshed per progress */
	uint64_t next_timer;		/* earliest peer deadline (ns) */
	bool tx_blocked;		/* c2s ring was full */
	int fatal;			/* -ENOTCONN once the server left */
	unsigned int checks;		/* progress calls since the socket check */
	unsigned int npeers;
	unsigned int frames_cap;	/* frames in flight per peer (smx_peer_add) */
	struct smx_peer *peers;		/* [SMX_MAX_PEERS] */
	struct smx_stats st;
};

uint64_t smx_now_ns(void);

/* smx_req.c */
void smx_queue_push(struct smx_queue *q, struct smx_req *r);
/* Hand n bytes at src, at stream position p->rcv_nxt, to the receives. */
void smx_req_deliver(struct smx_peer *p, const uint8_t *src, uint32_t n);
/* The combine step of one receive, with stitching (exposed for tests). */
void smx_req_piece(struct smx_req *r, size_t off, const uint8_t *src, size_t n);
/* Complete every send acked up to p->snd_una. */
void smx_req_acked(struct smx_peer *p);
/* Fail every request of p with err. */
void smx_req_fail_all(struct smx_peer *p, int err);

/* smx_proto.c */
int smx_proto_rx(struct smx *s);
int smx_proto_tx(struct smx *s);
void smx_proto_timers(struct smx *s);
/* Send ARP for the gateway and wait up to timeout_ms for the reply. */
int smx_proto_arp(struct smx *s, int timeout_ms);

#endif
