/* SPDX-License-Identifier: BSD-3-Clause */
/* Socket transport: a TCP full mesh between ranks, as NCCL's socket
 * transport. One connection per pair carries both directions; sends and
 * receives queue per peer in posting order and progress in wait() with
 * non-blocking I/O and poll(). Reductions read into a per-peer bounce
 * buffer and hand whole elements to the combine callback; plain receives
 * read straight into the destination.
 *
 * Options (--xport-opt): sockbuf=BYTES (SO_SNDBUF/SO_RCVBUF, default 4M). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bootstrap.h"
#include "xport.h"

#define SOCK_MAGIC 0x736f636bu          /* "sock" */
#define SOCK_BOUNCE (256 * 1024)

enum sock_kind { SOCK_SEND, SOCK_RECV };

struct sock_req {
	int kind, peer, done;
	char *buf;
	size_t len, off;
	xport_combine_fn *fn;
	void *arg;
	size_t align;
	struct sock_req *next;
};
_Static_assert(sizeof(struct sock_req) <= sizeof(struct xport_req), "sock_req too big");

struct sock_peer {
	int fd;
	struct sock_req *sq, *sq_tail;          /* sends, posting order */
	struct sock_req *rq, *rq_tail;          /* receives, posting order */
	char *bounce;
	size_t have;                            /* bytes held in bounce */
};

struct sock_priv {
	struct sock_peer *peer;
	struct pollfd *pfd;
	int *pfd_peer;
	int timeout_ms;                         /* no progress at all for this long */
};

static int64_t sock_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int sock_fail(struct xport *x, int peer, int rc, const char *what)
{
	x->err_rank = peer != x->rank && (rc == -EPIPE || rc == -ECONNRESET) ? peer : -1;
	if (rc == -EPIPE || rc == -ECONNRESET)
		snprintf(x->err, sizeof(x->err),
		         "rank %d closed its connection (exited?) while %s", peer, what);
	else
		snprintf(x->err, sizeof(x->err), "%s rank %d: %s", what, peer, strerror(-rc));
	return rc;
}

static void sock_enqueue(struct sock_req **h, struct sock_req **t, struct sock_req *q)
{
	q->next = NULL;
	if (*t)
		(*t)->next = q;
	else
		*h = q;
	*t = q;
}

static int sock_isend(struct xport *x, int peer, const void *buf, size_t len, struct xport_req *r)
{
	struct sock_priv *p = x->priv;
	struct sock_req *q = (struct sock_req *)r;

	if (peer < 0 || peer >= x->nranks || peer == x->rank)
		return -EINVAL;
	*q = (struct sock_req){ .kind = SOCK_SEND, .peer = peer, .buf = (char *)buf, .len = len,
	                        .done = len == 0 };
	if (len)
		sock_enqueue(&p->peer[peer].sq, &p->peer[peer].sq_tail, q);
	return 0;
}

static int sock_irecv(struct xport *x, int peer, void *buf, size_t len,
                      xport_combine_fn *fn, void *arg, size_t align, struct xport_req *r)
{
	struct sock_priv *p = x->priv;
	struct sock_req *q = (struct sock_req *)r;

	if (peer < 0 || peer >= x->nranks || peer == x->rank || (fn && (!align || align > 64)))
		return -EINVAL;
	*q = (struct sock_req){ .kind = SOCK_RECV, .peer = peer, .buf = buf, .len = len,
	                        .fn = fn, .arg = arg, .align = align ? align : 1,
	                        .done = len == 0 };
	if (len)
		sock_enqueue(&p->peer[peer].rq, &p->peer[peer].rq_tail, q);
	return 0;
}

/* Moves bytes of the head send(s). Returns bytes moved or -errno. */
static ssize_t sock_progress_send(struct sock_peer *pp)
{
	ssize_t moved = 0;

	while (pp->sq) {
		struct sock_req *q = pp->sq;
		ssize_t n = send(pp->fd, q->buf + q->off, q->len - q->off, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				break;
			return errno == ECONNRESET ? -EPIPE : -errno;
		}
		moved += n;
		q->off += (size_t)n;
		if (q->off < q->len)
			break;
		q->done = 1;
		pp->sq = q->next;
		if (!pp->sq)
			pp->sq_tail = NULL;
	}
	return moved;
}

static void sock_recv_done(struct sock_peer *pp, struct sock_req *q)
{
	q->done = 1;
	pp->rq = q->next;
	if (!pp->rq)
		pp->rq_tail = NULL;
}

/* Moves bytes into the head receive(s). Returns bytes moved or -errno
 * (-EPIPE on EOF). */
static ssize_t sock_progress_recv(struct sock_peer *pp)
{
	ssize_t moved = 0;

	while (pp->rq) {
		struct sock_req *q = pp->rq;
		size_t want = q->len - q->off - pp->have;
		ssize_t n;

		if (!q->fn) {
			n = recv(pp->fd, q->buf + q->off, want, MSG_DONTWAIT);
		} else {
			if (want > SOCK_BOUNCE - pp->have)
				want = SOCK_BOUNCE - pp->have;
			n = recv(pp->fd, pp->bounce + pp->have, want, MSG_DONTWAIT);
		}
		if (n == 0)
			return -EPIPE;
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				break;
			return errno == ECONNRESET ? -EPIPE : -errno;
		}
		moved += n;
		if (!q->fn) {
			q->off += (size_t)n;
		} else {
			size_t avail = pp->have + (size_t)n, use;

			/* whole elements only, except at the message's end */
			use = q->off + avail == q->len ? avail : avail - avail % q->align;
			if (use)
				q->fn(q->arg, q->off, pp->bounce, use);
			q->off += use;
			pp->have = avail - use;
			if (pp->have)
				memmove(pp->bounce, pp->bounce + use, pp->have);
		}
		if (q->off == q->len)
			sock_recv_done(pp, q);
	}
	return moved;
}

static int sock_all_done(struct xport_req *const *r, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		if (!((struct sock_req *)r[i])->done)
			return 0;
	return 1;
}

static int sock_wait(struct xport *x, struct xport_req *const *r, unsigned int n)
{
	struct sock_priv *p = x->priv;
	int64_t last = sock_now_ms();

	for (;;) {
		ssize_t moved = 0;
		nfds_t np = 0;
		int rc;

		for (int i = 0; i < x->nranks; i++) {
			struct sock_peer *pp = &p->peer[i];
			ssize_t m;

			if (i == x->rank)
				continue;
			if (pp->sq) {
				if ((m = sock_progress_send(pp)) < 0)
					return sock_fail(x, i, (int)m, "sending to");
				moved += m;
			}
			if (pp->rq) {
				if ((m = sock_progress_recv(pp)) < 0)
					return sock_fail(x, i, (int)m, "receiving from");
				moved += m;
			}
		}
		if (sock_all_done(r, n))
			return 0;
		if (moved > 0) {
			last = sock_now_ms();
			continue;
		}
		/* nothing moved: sleep in poll. Every peer is watched for
		 * hang-up so that a dead rank is noticed whoever we wait on. */
		for (int i = 0; i < x->nranks; i++) {
			struct sock_peer *pp = &p->peer[i];

			if (i == x->rank)
				continue;
			p->pfd[np] = (struct pollfd){ .fd = pp->fd, .events = POLLRDHUP |
				(pp->sq ? POLLOUT : 0) | (pp->rq ? POLLIN : 0) };
			p->pfd_peer[np++] = i;
		}
		rc = poll(p->pfd, np, 1000);
		if (rc < 0 && errno != EINTR)
			return sock_fail(x, x->rank, -errno, "poll for");
		for (nfds_t k = 0; rc > 0 && k < np; k++)
			if (p->pfd[k].revents & (POLLRDHUP | POLLHUP | POLLERR))
				return sock_fail(x, p->pfd_peer[k], -EPIPE, "waiting");
		if (rc == 0 && p->timeout_ms > 0 && sock_now_ms() - last > p->timeout_ms) {
			snprintf(x->err, sizeof(x->err),
			         "no data moved for %d ms (a rank stopped?)", p->timeout_ms);
			return -ETIMEDOUT;
		}
	}
}

static void sock_close(struct xport *x)
{
	struct sock_priv *p = x->priv;

	if (!p)
		return;
	for (int i = 0; p->peer && i < x->nranks; i++) {
		if (p->peer[i].fd >= 0)
			close(p->peer[i].fd);
		free(p->peer[i].bounce);
	}
	free(p->peer);
	free(p->pfd);
	free(p->pfd_peer);
	free(p);
	x->priv = NULL;
}

static const struct xport_ops sock_ops = {
	.name = "socket",
	.isend = sock_isend,
	.irecv = sock_irecv,
	.wait = sock_wait,
	.close = sock_close,
};

static void sock_tune(int fd, int bufsz)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* FORCE passes net.core.[rw]mem_max when we may (root); else the
	 * plain option gives what the sysctl allows */
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bufsz, sizeof(bufsz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bufsz, sizeof(bufsz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
}

/* Lower ranks accept, higher ranks connect: rank i connects to every j < i
 * (the listen backlog holds them until j accepts), then accepts the rest. */
static int sock_mesh(struct xport *x, struct sock_priv *p, int lfd,
                     const struct sockaddr_storage *addrs, int bufsz)
{
	int timeout = p->timeout_ms > 0 ? p->timeout_ms : 30000;

	for (int j = 0; j < x->rank; j++) {
		uint32_t hello[2] = { SOCK_MAGIC, (uint32_t)x->rank };
		int fd = socket(addrs[j].ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), rc;
		socklen_t sl = addrs[j].ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
		                                              : sizeof(struct sockaddr_in);

		if (fd < 0)
			return sock_fail(x, j, -errno, "socket for");
		p->peer[j].fd = fd;
		sock_tune(fd, bufsz);
		rc = bootstrap_connect_timeout(fd, (const struct sockaddr *)&addrs[j], sl, timeout);
		if (rc == 0)
			rc = bootstrap_send_all(fd, hello, sizeof(hello), timeout);
		if (rc < 0) {
			char a[80];

			bootstrap_addr_str(&addrs[j], a, sizeof(a));
			snprintf(x->err, sizeof(x->err), "connecting to rank %d at %s: %s",
			         j, a, strerror(-rc));
			return rc;
		}
	}
	for (int k = x->rank + 1; k < x->nranks; k++) {
		uint32_t hello[2];
		struct pollfd pf = { .fd = lfd, .events = POLLIN };
		int fd, rc;

		if (poll(&pf, 1, timeout) <= 0) {
			snprintf(x->err, sizeof(x->err),
			         "%d higher rank(s) did not connect within %d ms", x->nranks - k, timeout);
			return -ETIMEDOUT;
		}
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			return sock_fail(x, k, -errno, "accepting");
		rc = bootstrap_recv_all(fd, hello, sizeof(hello), timeout);
		if (rc < 0 || hello[0] != SOCK_MAGIC || hello[1] <= (uint32_t)x->rank ||
		    hello[1] >= (uint32_t)x->nranks || p->peer[hello[1]].fd >= 0) {
			close(fd);
			snprintf(x->err, sizeof(x->err), "a bad connection at the transport listener");
			return -EPROTO;
		}
		sock_tune(fd, bufsz);
		p->peer[hello[1]].fd = fd;
	}
	for (int i = 0; i < x->nranks; i++)
		if (i != x->rank && fcntl(p->peer[i].fd, F_SETFL, O_NONBLOCK) < 0)
			return sock_fail(x, i, -errno, "fcntl for");
	return 0;
}

static int sock_open(struct xport *x, struct bootstrap *bs, const struct xport_opts *o)
{
	struct sockaddr_storage me = *bootstrap_local_addr(bs), *addrs;
	socklen_t ml = sizeof(me);
	const char *sb = xport_opts_get(o, "sockbuf");
	int bufsz = sb ? atoi(sb) : 4 << 20;
	struct sock_priv *p;
	int lfd = -1, rc;

	x->ops = &sock_ops;
	p = calloc(1, sizeof(*p));
	addrs = calloc((size_t)x->nranks, sizeof(*addrs));
	if (!p || !addrs) {
		free(p);
		free(addrs);
		return -ENOMEM;
	}
	x->priv = p;
	p->timeout_ms = o->timeout_ms;
	p->peer = calloc((size_t)x->nranks, sizeof(*p->peer));
	p->pfd = calloc((size_t)x->nranks, sizeof(*p->pfd));
	p->pfd_peer = calloc((size_t)x->nranks, sizeof(*p->pfd_peer));
	rc = p->peer && p->pfd && p->pfd_peer ? 0 : -ENOMEM;
	for (int i = 0; rc == 0 && i < x->nranks; i++) {
		p->peer[i].fd = -1;
		if (i != x->rank && !(p->peer[i].bounce = malloc(SOCK_BOUNCE)))
			rc = -ENOMEM;
	}
	if (rc == 0 && x->nranks > 1) {
		/* listen on the address this rank reached the root from: the
		 * pod's interface, not whatever a wildcard would pick */
		if (me.ss_family == AF_INET)
			((struct sockaddr_in *)&me)->sin_port = 0;
		else
			((struct sockaddr_in6 *)&me)->sin6_port = 0;
		lfd = socket(me.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (lfd < 0 || bind(lfd, (struct sockaddr *)&me,
		                    me.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
		                                             : sizeof(struct sockaddr_in)) < 0 ||
		    listen(lfd, x->nranks) < 0 || getsockname(lfd, (struct sockaddr *)&me, &ml) < 0) {
			rc = -errno;
			snprintf(x->err, sizeof(x->err), "transport listen: %s", strerror(errno));
		}
		if (rc == 0 && (rc = bootstrap_allgather(bs, &me, addrs, sizeof(me))) < 0)
			snprintf(x->err, sizeof(x->err), "%s", bootstrap_error(bs));
		if (rc == 0)
			rc = sock_mesh(x, p, lfd, addrs, bufsz);
	}
	if (lfd >= 0)
		close(lfd);
	free(addrs);
	bootstrap_addr_str(&me, x->desc + 7, sizeof(x->desc) - 7);
	memcpy(x->desc, "socket ", 7);
	if (rc < 0)
		sock_close(x);
	return rc;
}

const struct xport_type xport_socket_type = {
	.name = "socket",
	.help = "TCP full mesh over the pod network (default); --xport-opt sockbuf=BYTES",
	.open = sock_open,
};
