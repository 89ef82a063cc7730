/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smx: a reliable, ordered transport for pod apps (ML ranks) over the pod's
 * memif interface to shunt-dataplane (transport/README.md).
 *
 * One endpoint (struct smx) owns one memif connection. Per peer there is one
 * ordered byte stream in each direction; isend/irecv to a peer are matched
 * in posting order (like MPI to one peer), any number may be outstanding.
 *
 * Copies: isend copies the caller's buffer straight into memif buffers
 * (headers written in place); irecv hands the pieces in the receive ring's
 * buffers to a combine callback. Retransmissions re-read the caller's send
 * buffer, so it must stay untouched until the isend is done.
 *
 * Threads: an endpoint is not thread-safe; call everything on it from one
 * thread (or serialise). Nothing here prints; errors are returned, and
 * smx_open fills an error string for the user.
 */
#ifndef SHUNT_SMX_H
#define SHUNT_SMX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SMX_DEFAULT_PORT	7470
#define SMX_ALIGN_MAX		64	/* largest irecv align */

struct smx;

struct smx_conf {
	const char *socket;        /* "@name": abstract socket in this netns; else a path */
	const char *secret;        /* optional memif secret (<= 23 bytes) */
	uint32_t memif_id;         /* memif interface id (0 = the data plane's default) */
	uint8_t mac[6];            /* this memif interface's MAC (the data plane checks it) */
	const char *addr;          /* this interface's IPv4 address */
	uint16_t port;             /* UDP port of this endpoint (0 = 7470) */
	uint32_t frame_payload;    /* payload bytes per frame (0 = 61440) */
	uint32_t buffer_size;      /* memif buffer size (0 = 65536) */
	uint32_t log2_ring;        /* memif ring size, log2 (0 = 8: 256 buffers) */
	uint32_t window;           /* max unacked bytes per peer (0 = 4 MiB) */
	uint32_t timeout_ms;       /* a peer silent this long fails its requests (0 = 10 s) */
	uint32_t rto_ms;           /* first retransmission timeout (0 = 20 ms) */
	uint32_t spin_us;          /* smx_wait: spin this long before sleeping (0 = 50 us) */
};

/*
 * Completion callback of irecv: `len` bytes at `src` belong at offset `off`
 * of the receive buffer. `src` points into the receive ring (read it, do
 * not keep it). `off` and `len` are multiples of the irecv's align, except
 * for the piece that ends the message.
 */
typedef void smx_combine_fn(void *arg, size_t off, const void *src, size_t len);

/* Caller-allocated request; it must stay valid (and unmoved) until done. */
struct smx_req {
	int status;                /* 0 pending, 1 done, < 0 -errno (read with smx_test) */
	size_t len;                /* bytes of this request */
	/* private to smx */
	struct smx_req *next;
	uint64_t start;            /* stream offset of the first byte */
	const void *sbuf;
	void *rbuf;
	smx_combine_fn *fn;
	void *arg;
	uint32_t align;
	uint32_t stash_len;        /* bytes held back to make a whole align unit */
	uint8_t stash[SMX_ALIGN_MAX];
};

/* Counters, cumulative since smx_open. */
struct smx_stats {
	uint64_t tx_frames;        /* DATA frames sent, retransmissions included */
	uint64_t tx_bytes;         /* payload bytes sent, retransmissions included */
	uint64_t rx_frames;        /* DATA frames accepted in order */
	uint64_t rx_bytes;         /* payload bytes delivered */
	uint64_t tx_acks;          /* pure ACK frames sent */
	uint64_t rx_acks;          /* frames whose ack moved the send window */
	uint64_t retransmits;      /* DATA frames sent again */
	uint64_t rto;              /* retransmission timeouts */
	uint64_t fast_retransmits; /* go-back-N started by duplicate acks */
	uint64_t tx_ring_full;     /* sends held back: no free c2s descriptors */
	uint64_t sleeps;           /* smx_wait slept on the eventfd */
	uint64_t wakeups;          /* ... and was woken by the data plane's kick */
	/* receive drops, by reason */
	uint64_t drop_malformed;   /* not Ethernet/IPv4/UDP/smx, bad lengths */
	uint64_t drop_unknown_peer;/* smx frame from an address no peer has */
	uint64_t drop_stale;       /* for an older incarnation of this endpoint */
	uint64_t drop_out_of_order;/* seq is not the next expected (lost before it) */
	uint64_t drop_no_recv;     /* beyond the posted receives (window) */
	uint64_t drop_other;       /* other traffic (ARP not for us, other protocols) */
	uint64_t peer_timeouts;    /* peers failed with -ETIMEDOUT */
	uint64_t peer_resets;      /* peers that restarted (new session) */
};

/*
 * Connect to the memif socket, run the handshake, resolve the gateway's MAC
 * by ARP (169.254.1.1). Returns 0 and sets *out, or -errno with a message
 * in err: -EINVAL bad conf, -ECONNREFUSED/-ENOENT no server on that socket,
 * -EPROTO/-EACCES handshake refused (reason in err), -EBUSY the port still
 * had another client after 3 s of retries, -ETIMEDOUT no answer (handshake
 * or ARP: a MAC or address that is not the port's gets no ARP answer),
 * -ENOMEM.
 */
int smx_open(const struct smx_conf *conf, struct smx **out, char *err, size_t errlen);

/*
 * Add a peer (IPv4 address string, UDP port; 0 = 7470). Returns the peer id
 * (>= 0, dense from 0), -EINVAL for a bad address, -EEXIST if already
 * added, -ENOSPC past 256 peers.
 */
int smx_peer_add(struct smx *s, const char *addr, uint16_t port);

/*
 * Queue `len` bytes of buf to peer. The buffer must not change until r is
 * done (retransmissions re-read it). Returns 0 (r pending, or done at once
 * when len is 0), -EINVAL (bad peer or request), or the error that already
 * failed the peer (-ETIMEDOUT, -ECONNRESET, -ENOTCONN).
 */
int smx_isend(struct smx *s, int peer, const void *buf, size_t len, struct smx_req *r);

/*
 * Receive the next len bytes of peer's stream. fn NULL: copy into buf;
 * else fn(arg, off, src, n) for each piece (buf is then unused by smx).
 * align: 1..SMX_ALIGN_MAX, a power of two; pieces are multiples of it
 * except the one that ends the message. Returns 0 or -errno as smx_isend.
 */
int smx_irecv(struct smx *s, int peer, void *buf, size_t len, smx_combine_fn *fn,
	      void *arg, size_t align, struct smx_req *r);

/*
 * Receive, send, retransmit, time out, once, without blocking. Returns the
 * number of events handled (>= 0: 0 means nothing to do), or a fatal error:
 * -ENOTCONN once the data plane closed the memif connection (every pending
 * request then fails with -ENOTCONN).
 */
int smx_progress(struct smx *s);

/* 0 pending, 1 done, < 0 the -errno it failed with. */
int smx_test(const struct smx_req *r);

/*
 * Progress until all n requests are done, spinning briefly, then sleeping
 * on the memif interrupt (and the next retransmission deadline).
 * timeout_ms < 0: no limit. Returns 0 when all succeeded, the first
 * request's error if any failed, -ETIMEDOUT if timeout_ms passed first
 * (requests stay pending), -ENOTCONN if the data plane went away.
 */
int smx_wait(struct smx *s, struct smx_req *const *r, unsigned int n, int timeout_ms);

void smx_stats_get(const struct smx *s, struct smx_stats *st);

/* Disconnect and free. Pending requests are abandoned (never completed). */
void smx_close(struct smx *s);

#ifdef __cplusplus
}
#endif
#endif
