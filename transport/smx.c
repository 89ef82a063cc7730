/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smx: the public API (include/shunt/smx.h): endpoint setup, peers,
 * posting requests, progress and idle waiting. The protocol engine is in
 * smx_proto.c, the request queues and combine step in smx_req.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>
#include "smx_internal.h"

#define SMX_DEF_PAYLOAD		61440u		/* 60 KiB: one frame in one 64 KiB buffer */
#define SMX_DEF_BUFFER		65536u
#define SMX_DEF_LOG2_RING	8u
#define SMX_DEF_WINDOW		(4u << 20)
#define SMX_DEF_TIMEOUT_MS	10000u
#define SMX_DEF_RTO_MS		20u
#define SMX_DEF_SPIN_US		50u
#define SMX_ARP_TIMEOUT_MS	3000
#define SMX_HANDSHAKE_MS	5000
#define SMX_BUSY_RETRIES	60		/* x 50 ms */
#define SMX_LINGER_QUIET_NS	(UINT64_C(100) * 1000000)
#define SMX_LINGER_MAX_NS	(UINT64_C(1000) * 1000000)

uint64_t smx_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

static int smx_conf_check(const struct smx_conf *c, char *err, size_t errlen)
{
	if (c->socket == NULL || c->addr == NULL) {
		snprintf(err, errlen, "socket and addr are required");
		return -EINVAL;
	}
	if (c->buffer_size != 0 &&
	    (c->buffer_size < 256 || c->buffer_size % 64 != 0 ||
	     c->buffer_size > (1u << 20))) {
		snprintf(err, errlen, "buffer_size %u: 256 .. 1 MiB, a multiple of 64",
			 c->buffer_size);
		return -EINVAL;
	}
	if (c->log2_ring != 0 && (c->log2_ring < 4 || c->log2_ring > 14)) {
		snprintf(err, errlen, "log2_ring %u: 4 .. 14", c->log2_ring);
		return -EINVAL;
	}
	if (c->frame_payload != 0 &&
	    (c->frame_payload < 8 || c->frame_payload > SMX_MAX_PAYLOAD ||
	     c->frame_payload % 8 != 0)) {
		snprintf(err, errlen, "frame_payload %u: 8 .. %u, a multiple of 8",
			 c->frame_payload, SMX_MAX_PAYLOAD);
		return -EINVAL;
	}
	return 0;
}

int smx_open(const struct smx_conf *c, struct smx **out, char *err, size_t errlen)
{
	struct smx_memif_conf mc = { 0 };
	struct smx *s;
	struct in_addr a;
	uint32_t frame_slots;
	int r;

	if (errlen > 0)
		err[0] = '\0';
	if (c == NULL || out == NULL)
		return -EINVAL;
	r = smx_conf_check(c, err, errlen);
	if (r < 0)
		return r;
	if (inet_pton(AF_INET, c->addr, &a) != 1) {
		snprintf(err, errlen, "addr '%s': not an IPv4 address", c->addr);
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (s != NULL)
		s->peers = calloc(SMX_MAX_PEERS, sizeof(*s->peers));
	if (s == NULL || s->peers == NULL) {
		free(s);
		return -ENOMEM;
	}
	s->payload = c->frame_payload ? c->frame_payload : SMX_DEF_PAYLOAD;
	s->window = c->window ? c->window : SMX_DEF_WINDOW;
	if (s->window < s->payload)
		s->window = s->payload;
	s->timeout_ns = (uint64_t)(c->timeout_ms ? c->timeout_ms : SMX_DEF_TIMEOUT_MS) * 1000000;
	s->rto_ns = (uint64_t)(c->rto_ms ? c->rto_ms : SMX_DEF_RTO_MS) * 1000000;
	/* Probe a silent peer a few times before giving up on it. */
	s->probe_ns = s->timeout_ns / 8;
	s->spin_ns = (uint64_t)(c->spin_us ? c->spin_us : SMX_DEF_SPIN_US) * 1000;
	memcpy(s->tmpl.src_mac, c->mac, 6);
	s->tmpl.src_ip = a.s_addr;
	s->tmpl.src_port = c->port ? c->port : SMX_DEFAULT_PORT;
	do {
		if (getrandom(&s->session, sizeof(s->session), 0) != sizeof(s->session))
			s->session = (uint32_t)smx_now_ns() ^ (uint32_t)getpid() << 16;
	} while (s->session == 0);

	mc.socket = c->socket;
	mc.secret = c->secret;
	mc.id = c->memif_id;
	mc.buffer_size = c->buffer_size ? c->buffer_size : SMX_DEF_BUFFER;
	mc.log2_ring = c->log2_ring ? c->log2_ring : SMX_DEF_LOG2_RING;
	mc.timeout_ms = SMX_HANDSHAKE_MS;
	/* A frame must fit the ring with room to spare, and a frame may be
	 * at most SMX_MAX_CHAIN descriptors long. */
	frame_slots = (SMX_HDRS_LEN + s->payload + mc.buffer_size - 1) / mc.buffer_size;
	if (frame_slots > SMX_MAX_CHAIN || frame_slots * 2 > (1u << mc.log2_ring)) {
		snprintf(err, errlen, "frame of %u bytes needs %u buffers of %u: "
			 "more than a chain (%d) or half the ring", s->payload,
			 frame_slots, mc.buffer_size, SMX_MAX_CHAIN);
		free(s->peers);
		free(s);
		return -EINVAL;
	}
	/* The data plane may not have noticed yet that the previous client
	 * of this port left (it answers "Already connected"): retry a bit. */
	for (int tries = 0;; tries++) {
		r = smx_memif_open(&s->m, &mc, err, errlen);
		if (r != -EBUSY || tries == SMX_BUSY_RETRIES)
			break;
		poll(NULL, 0, 50);
	}
	if (r < 0) {
		free(s->peers);
		free(s);
		return r;
	}
	r = smx_proto_arp(s, SMX_ARP_TIMEOUT_MS);
	if (r < 0) {
		snprintf(err, errlen, "no ARP answer for the gateway 169.254.1.1 "
			 "from %s (MAC or address not the port's?): %s", c->addr,
			 strerror(-r));
		smx_close(s);
		return r;
	}
	*out = s;
	return 0;
}

/*
 * The last ack we owe may be lost or not sent yet, and a peer whose isend
 * waits for it would time out: keep answering until the peers have been
 * quiet for a while (TCP's TIME_WAIT, shortened).
 */
static void smx_linger(struct smx *s)
{
	uint64_t start = smx_now_ns(), quiet = start;
	uint64_t frames = s->st.rx_frames + s->st.drop_out_of_order;

	if (s->fatal || s->st.rx_frames == 0)
		return;
	while (smx_progress(s) >= 0) {
		uint64_t f = s->st.rx_frames + s->st.drop_out_of_order;

		if (f != frames) {
			frames = f;
			quiet = s->now;
		}
		if (s->now - quiet >= SMX_LINGER_QUIET_NS ||
		    s->now - start >= SMX_LINGER_MAX_NS)
			break;
		poll(NULL, 0, 1);
	}
}

void smx_close(struct smx *s)
{
	if (s == NULL)
		return;
	smx_linger(s);
	smx_memif_close(&s->m);
	free(s->peers);
	free(s);
}

int smx_peer_add(struct smx *s, const char *addr, uint16_t port)
{
	struct in_addr a;
	struct smx_peer *p;
	unsigned int i;

	if (inet_pton(AF_INET, addr, &a) != 1)
		return -EINVAL;
	if (port == 0)
		port = SMX_DEFAULT_PORT;
	for (i = 0; i < s->npeers; i++)
		if (s->peers[i].ip == a.s_addr && s->peers[i].port == port)
			return -EEXIST;
	if (s->npeers == SMX_MAX_PEERS)
		return -ENOSPC;
	p = &s->peers[s->npeers];
	memset(p, 0, sizeof(*p));
	p->ip = a.s_addr;
	p->port = port;
	p->heard_at = smx_now_ns();
	s->npeers++;
	/* All peers at once may fill half of a receiver's ring. */
	s->frames_cap = s->m.ring_size / 2 / s->npeers;
	if (s->frames_cap < 4)
		s->frames_cap = 4;
	if (s->frames_cap > SMX_MAX_FRAMES_INFLIGHT)
		s->frames_cap = SMX_MAX_FRAMES_INFLIGHT;
	return (int)s->npeers - 1;
}

static int smx_post_check(struct smx *s, int peer, struct smx_req *r)
{
	if (s == NULL || r == NULL || peer < 0 || (unsigned int)peer >= s->npeers)
		return -EINVAL;
	if (s->fatal)
		return s->fatal;
	return s->peers[peer].error;
}

/* A peer that had nothing to do starts its silence clock now. */
static void smx_peer_wake(struct smx_peer *p)
{
	if (p->sq.head == NULL && p->rq.head == NULL) {
		uint64_t now = smx_now_ns();

		p->heard_at = now;
		p->probe_at = 0;
	}
}

int smx_isend(struct smx *s, int peer, const void *buf, size_t len, struct smx_req *r)
{
	struct smx_peer *p;
	int e = smx_post_check(s, peer, r);

	if (e < 0)
		return e;
	p = &s->peers[peer];
	r->len = len;
	r->sbuf = buf;
	r->start = p->snd_end;
	r->status = 0;
	if (len == 0) {
		r->status = 1;
		return 0;
	}
	smx_peer_wake(p);
	smx_queue_push(&p->sq, r);
	p->snd_end += len;
	return 0;
}

int smx_irecv(struct smx *s, int peer, void *buf, size_t len, smx_combine_fn *fn,
	      void *arg, size_t align, struct smx_req *r)
{
	struct smx_peer *p;
	int e = smx_post_check(s, peer, r);

	if (e < 0)
		return e;
	if (align == 0)
		align = 1;
	if (align > SMX_ALIGN_MAX || (align & (align - 1)) != 0 ||
	    (fn == NULL && buf == NULL && len > 0))
		return -EINVAL;
	p = &s->peers[peer];
	r->len = len;
	r->rbuf = buf;
	r->fn = fn;
	r->arg = arg;
	r->align = (uint32_t)align;
	r->stash_len = 0;
	r->start = p->rcv_posted;
	r->status = 0;
	if (len == 0) {
		r->status = 1;
		return 0;
	}
	smx_peer_wake(p);
	smx_queue_push(&p->rq, r);
	p->rcv_posted += len;
	return 0;
}

static void smx_fail_all(struct smx *s, int err)
{
	unsigned int i;

	s->fatal = err;
	for (i = 0; i < s->npeers; i++) {
		s->peers[i].error = err;
		smx_req_fail_all(&s->peers[i], err);
	}
}

int smx_progress(struct smx *s)
{
	int n;

	if (s->fatal)
		return s->fatal;
	s->now = smx_now_ns();
	n = smx_proto_rx(s);
	smx_proto_timers(s);
	n += smx_proto_tx(s);
	/* The server only speaks to say goodbye: look now and then, and
	 * whenever there was nothing else to do. */
	if (n == 0 || ++s->checks >= 4096) {
		s->checks = 0;
		if (smx_memif_check(&s->m) < 0) {
			smx_fail_all(s, -ENOTCONN);
			return -ENOTCONN;
		}
	}
	return n;
}

int smx_test(const struct smx_req *r)
{
	return __atomic_load_n(&r->status, __ATOMIC_ACQUIRE);
}

/* 1: all done, 0: some pending; *first_err gets the first failure. */
static int smx_all_done(struct smx_req *const *r, unsigned int n, int *first_err)
{
	unsigned int i;
	int done = 1;

	for (i = 0; i < n; i++) {
		int st = smx_test(r[i]);

		if (st == 0)
			done = 0;
		else if (st < 0 && *first_err == 0)
			*first_err = st;
	}
	return done;
}

/*
 * Sleep until the data plane kicks the s2c eventfd, the control socket
 * speaks, or the next deadline. The interrupt is unmasked, then the ring
 * looked at again: a frame that arrived in between is not slept over.
 */
static void smx_sleep(struct smx *s, uint64_t until)
{
	struct pollfd pf[2] = {
		{ .fd = s->m.efd_s2c, .events = POLLIN },
		{ .fd = s->m.sock, .events = POLLIN },
	};
	uint64_t now = smx_now_ns(), ns;
	struct timespec ts;
	uint64_t ev;

	if (s->next_timer != 0 && s->next_timer < until)
		until = s->next_timer;
	/* A full c2s ring frees up without a kick: look again soon. */
	if (s->tx_blocked && now + 50000 < until)
		until = now + 50000;
	if (until <= now)
		return;
	smx_memif_rx_irq(&s->m, true);
	if (smx_memif_rx_avail(&s->m) == 0) {
		ns = until - now;
		ts.tv_sec = (time_t)(ns / 1000000000);
		ts.tv_nsec = (long)(ns % 1000000000);
		s->st.sleeps++;
		if (ppoll(pf, 2, &ts, NULL) > 0 && (pf[0].revents & POLLIN))
			s->st.wakeups++;
	}
	smx_memif_rx_irq(&s->m, false);
	while (read(s->m.efd_s2c, &ev, sizeof(ev)) == sizeof(ev))
		;
}

static inline void smx_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield");
#endif
}

int smx_wait(struct smx *s, struct smx_req *const *r, unsigned int n, int timeout_ms)
{
	uint64_t start = smx_now_ns(), spin_until = start + s->spin_ns;
	uint64_t end = timeout_ms < 0 ? UINT64_MAX :
		       start + (uint64_t)timeout_ms * 1000000;

	for (;;) {
		int err = 0, rc;

		rc = smx_progress(s);
		if (smx_all_done(r, n, &err))
			return err;
		if (rc < 0)
			return rc;
		if (s->now >= end)
			return -ETIMEDOUT;
		if (rc > 0) {
			spin_until = s->now + s->spin_ns;
			continue;
		}
		if (s->now < spin_until) {
			/* Ranks often share a CPU (with each other or the
			 * data plane): let a runnable one go first. */
			smx_cpu_relax();
			sched_yield();
			continue;
		}
		smx_sleep(s, end);
	}
}

void smx_stats_get(const struct smx *s, struct smx_stats *st)
{
	*st = s->st;
}
