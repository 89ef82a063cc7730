/* SPDX-License-Identifier: BSD-3-Clause */
/* Bootstrap star over TCP (see bootstrap.h). Messages are a type and a
 * length in network order, then the payload. Hand-written because the
 * exchange is tiny and MPI/PMIx would be a large dependency for it. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
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

#define BS_MAGIC 0x6e63636cu   /* "nccl" */

enum bs_type { BS_HELLO = 1, BS_DATA = 2, BS_ABORT = 3 };

struct bs_hdr {
	uint32_t type;
	uint32_t len;
};

struct bootstrap {
	int rank, nranks;
	int *fd;               /* root: fd[r] for r >= 1; others: fd[0] = root */
	int listen_fd;
	struct sockaddr_storage local;
	int culprit;           /* rank named by the last abort received */
	char why[200];         /* and its reason */
	char err[256];
};

static int64_t bs_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int bs_left(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return -1;
	left = deadline - bs_now_ms();
	return left > 0 ? (int)left : 0;
}

static int bs_poll1(int fd, short events, int64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	int rc;

	do
		rc = poll(&p, 1, bs_left(deadline));
	while (rc < 0 && errno == EINTR);
	if (rc < 0)
		return -errno;
	return rc == 0 ? -ETIMEDOUT : 0;
}

int bootstrap_send_all(int fd, const void *buf, size_t len, int timeout_ms)
{
	int64_t deadline = timeout_ms < 0 ? -1 : bs_now_ms() + timeout_ms;
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int rc = bs_poll1(fd, POLLOUT, deadline);

			if (rc < 0)
				return rc;
			continue;
		}
		if (n < 0)
			return errno == ECONNRESET ? -EPIPE : -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int bootstrap_recv_all(int fd, void *buf, size_t len, int timeout_ms)
{
	int64_t deadline = timeout_ms < 0 ? -1 : bs_now_ms() + timeout_ms;
	char *p = buf;

	while (len) {
		ssize_t n = recv(fd, p, len, MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int rc = bs_poll1(fd, POLLIN, deadline);

			if (rc < 0)
				return rc;
			continue;
		}
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return -EPIPE;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int bootstrap_connect_timeout(int fd, const struct sockaddr *sa, socklen_t len, int timeout_ms)
{
	int fl = fcntl(fd, F_GETFL);
	int rc = 0, soerr = 0;
	socklen_t sl = sizeof(soerr);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	if (connect(fd, sa, len) < 0) {
		if (errno != EINPROGRESS)
			rc = -errno;
		else if ((rc = bs_poll1(fd, POLLOUT, bs_now_ms() + timeout_ms)) == 0) {
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
				rc = -errno;
			else if (soerr)
				rc = -soerr;
		}
	}
	if (fcntl(fd, F_SETFL, fl) < 0 && rc == 0)
		rc = -errno;
	return rc;
}

void bootstrap_addr_str(const struct sockaddr_storage *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (sa->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(in->sin_port));
	} else if (sa->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else {
		snprintf(buf, len, "?");
	}
}

int bootstrap_addr_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[256];
	const char *port;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	size_t hl;

	if (s[0] == '[') {
		const char *e = strchr(s, ']');

		if (!e || e[1] != ':')
			return -EINVAL;
		hl = (size_t)(e - s - 1);
		s++;
		port = e + 2;
	} else {
		port = strrchr(s, ':');
		if (!port)
			return -EINVAL;
		hl = (size_t)(port - s);
		port++;
	}
	if (hl == 0 || hl >= sizeof(host) || !*port)
		return -EINVAL;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (getaddrinfo(host, port, &hints, &ai) != 0)
		return -EINVAL;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

/* Header and payload in one write: two small writes would wait for the
 * peer's delayed ACK (Nagle) on a socket without TCP_NODELAY. */
static int bs_msg_send(int fd, uint32_t type, const void *p, size_t len)
{
	struct bs_hdr h = { htonl(type), htonl((uint32_t)len) };
	char *buf = malloc(sizeof(h) + len);
	int rc;

	if (!buf)
		return -ENOMEM;
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), p, len);
	rc = bootstrap_send_all(fd, buf, sizeof(h) + len, -1);
	free(buf);
	return rc;
}

static void bs_fail(struct bootstrap *bs, const char *fmt, int a, const char *s)
{
	snprintf(bs->err, sizeof(bs->err), fmt, a, s);
}

/* Reads one message from rank peer's fd (or the root's). ABORT and EOF
 * become errors naming the rank to blame. */
static int bs_msg_recv(struct bootstrap *bs, int fd, int peer, void *buf, size_t len)
{
	struct bs_hdr h;
	int rc = bootstrap_recv_all(fd, &h, sizeof(h), -1);

	if (rc == -EPIPE) {
		if (peer == 0)
			bs_fail(bs, "rank %d (the bootstrap root) exited%s", 0, "");
		else
			bs_fail(bs, "rank %d exited (its bootstrap connection closed)%s", peer, "");
		return -ECONNRESET;
	}
	if (rc < 0)
		return rc;
	h.type = ntohl(h.type);
	h.len = ntohl(h.len);
	if (h.type == BS_ABORT && h.len >= 4 && h.len < 4 + 200) {
		char msg[4 + 200] = "";
		int32_t culprit;

		if ((rc = bootstrap_recv_all(fd, msg, h.len, 5000)) < 0)
			return rc;
		memcpy(&culprit, msg, 4);
		msg[h.len] = '\0';
		bs->culprit = (int)ntohl((uint32_t)culprit);
		snprintf(bs->why, sizeof(bs->why), "%s", msg + 4);
		bs_fail(bs, "aborted because of rank %d: %s", bs->culprit, msg + 4);
		return -ECONNABORTED;
	}
	if (h.type != BS_DATA || h.len != len) {
		bs_fail(bs, "rank %d sent an unexpected bootstrap message%s", peer, "");
		return -EPROTO;
	}
	return bootstrap_recv_all(fd, buf, len, -1);
}

static void bs_abort_send(int fd, int culprit, const char *why)
{
	char msg[4 + 200];
	struct bs_hdr h;
	uint32_t c = htonl((uint32_t)culprit);
	size_t wl = strnlen(why, 199);

	memcpy(msg, &c, 4);
	memcpy(msg + 4, why, wl);
	h.type = htonl(BS_ABORT);
	h.len = htonl((uint32_t)(4 + wl));
	/* best effort: a full socket buffer means that rank is not reading */
	(void)!send(fd, &h, sizeof(h), MSG_NOSIGNAL | MSG_DONTWAIT);
	(void)!send(fd, msg, 4 + wl, MSG_NOSIGNAL | MSG_DONTWAIT);
}

void bootstrap_abort(struct bootstrap *bs, int culprit, const char *why)
{
	if (bs->rank != 0) {
		bs_abort_send(bs->fd[0], culprit, why);
		return;
	}
	for (int r = 1; r < bs->nranks; r++)
		if (bs->fd[r] >= 0 && r != culprit)
			bs_abort_send(bs->fd[r], culprit, why);
}

int bootstrap_allgather(struct bootstrap *bs, const void *mine, void *all, size_t len)
{
	char *out = all;
	int rc;

	memcpy(out + (size_t)bs->rank * len, mine, len);
	if (bs->nranks == 1)
		return 0;
	if (bs->rank != 0) {
		if ((rc = bs_msg_send(bs->fd[0], BS_DATA, mine, len)) < 0) {
			bs_fail(bs, "rank %d (the bootstrap root) exited%s", 0, "");
			return rc;
		}
		return bs_msg_recv(bs, bs->fd[0], 0, all, len * (size_t)bs->nranks);
	}

	/* root: take contributions in any order so that a dead rank is
	 * noticed whichever one it is */
	int left = bs->nranks - 1;
	struct pollfd *p = calloc((size_t)bs->nranks, sizeof(*p));
	char *got = calloc((size_t)bs->nranks, 1);

	if (!p || !got) {
		free(p);
		free(got);
		return -ENOMEM;
	}
	rc = 0;
	while (left > 0 && rc == 0) {
		for (int r = 1; r < bs->nranks; r++)
			p[r] = (struct pollfd){ .fd = got[r] ? -1 : bs->fd[r], .events = POLLIN };
		if (poll(p + 1, (nfds_t)(bs->nranks - 1), -1) < 0) {
			if (errno != EINTR)
				rc = -errno;
			continue;
		}
		for (int r = 1; r < bs->nranks && rc == 0; r++) {
			if (got[r] || !p[r].revents)
				continue;
			rc = bs_msg_recv(bs, bs->fd[r], r, out + (size_t)r * len, len);
			if (rc == -ECONNABORTED)
				bootstrap_abort(bs, bs->culprit, bs->why);   /* pass it on */
			else if (rc < 0)
				bootstrap_abort(bs, r, "exited (its bootstrap connection closed)");
			got[r] = 1;
			left--;
		}
	}
	free(p);
	free(got);
	if (rc < 0)
		return rc;
	for (int r = 1; r < bs->nranks; r++) {
		if ((rc = bs_msg_send(bs->fd[r], BS_DATA, all, len * (size_t)bs->nranks)) < 0) {
			bs_fail(bs, "rank %d exited (its bootstrap connection closed)%s", r, "");
			bootstrap_abort(bs, r, "exited (its bootstrap connection closed)");
			return rc;
		}
	}
	return 0;
}

int bootstrap_barrier(struct bootstrap *bs)
{
	char one = 1, *all = malloc((size_t)bs->nranks);
	int rc;

	if (!all)
		return -ENOMEM;
	rc = bootstrap_allgather(bs, &one, all, 1);
	free(all);
	return rc;
}

static int bs_root_accept(struct bootstrap *bs, int timeout_ms)
{
	int64_t deadline = bs_now_ms() + timeout_ms;
	int left = bs->nranks - 1;

	while (left > 0) {
		uint32_t hello[3];
		struct bs_hdr h;
		int fd, rc, r;

		if ((rc = bs_poll1(bs->listen_fd, POLLIN, deadline)) < 0) {
			snprintf(bs->err, sizeof(bs->err),
			         "bootstrap: %d of %d ranks did not connect within %d ms",
			         left, bs->nranks - 1, timeout_ms);
			return rc;
		}
		fd = accept4(bs->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		rc = bootstrap_recv_all(fd, &h, sizeof(h), bs_left(deadline));
		if (rc == 0 && (ntohl(h.type) != BS_HELLO || ntohl(h.len) != sizeof(hello)))
			rc = -EPROTO;
		if (rc == 0)
			rc = bootstrap_recv_all(fd, hello, sizeof(hello), bs_left(deadline));
		r = (int)ntohl(hello[1]);
		if (rc == 0 && (ntohl(hello[0]) != BS_MAGIC || r < 1 || r >= bs->nranks ||
		                (int)ntohl(hello[2]) != bs->nranks || bs->fd[r] >= 0)) {
			snprintf(bs->err, sizeof(bs->err),
			         "bootstrap: refused a rank claiming %d of %d (expected ranks 1..%d of %d, each once)",
			         r, (int)ntohl(hello[2]), bs->nranks - 1, bs->nranks);
			close(fd);
			return -EPROTO;
		}
		if (rc < 0) {
			close(fd);     /* a stray connection; keep waiting */
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
		bs->fd[r] = fd;
		left--;
	}
	return 0;
}

static int bs_open_root(struct bootstrap *bs, const struct sockaddr_storage *ss,
                        socklen_t sl, int timeout_ms)
{
	int one = 1;
	socklen_t ll = sizeof(bs->local);

	bs->listen_fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (bs->listen_fd < 0)
		return -errno;
	setsockopt(bs->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(bs->listen_fd, (const struct sockaddr *)ss, sl) < 0 ||
	    listen(bs->listen_fd, bs->nranks) < 0) {
		int rc = -errno;
		char a[80];

		bootstrap_addr_str(ss, a, sizeof(a));
		snprintf(bs->err, sizeof(bs->err), "bootstrap: cannot listen on %s: %s", a, strerror(-rc));
		return rc;
	}
	getsockname(bs->listen_fd, (struct sockaddr *)&bs->local, &ll);
	return bs_root_accept(bs, timeout_ms);
}

static int bs_open_rank(struct bootstrap *bs, const struct sockaddr_storage *ss,
                        socklen_t sl, int timeout_ms)
{
	int64_t deadline = bs_now_ms() + timeout_ms;
	uint32_t hello[3] = { htonl(BS_MAGIC), htonl((uint32_t)bs->rank), htonl((uint32_t)bs->nranks) };
	socklen_t ll = sizeof(bs->local);
	int rc, fd, one = 1;

	/* the root may start after us: retry until the deadline */
	for (;;) {
		fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		rc = bootstrap_connect_timeout(fd, (const struct sockaddr *)ss, sl,
		                               bs_left(deadline) ? bs_left(deadline) : 1);
		if (rc == 0)
			break;
		close(fd);
		if (bs_left(deadline) == 0) {
			char a[80];

			bootstrap_addr_str(ss, a, sizeof(a));
			snprintf(bs->err, sizeof(bs->err),
			         "bootstrap: cannot reach the root %s within %d ms: %s",
			         a, timeout_ms, strerror(-rc));
			return -ETIMEDOUT;
		}
		usleep(50 * 1000);
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	bs->fd[0] = fd;
	getsockname(fd, (struct sockaddr *)&bs->local, &ll);
	rc = bs_msg_send(fd, BS_HELLO, hello, sizeof(hello));
	if (rc < 0)
		snprintf(bs->err, sizeof(bs->err), "bootstrap: the root closed the connection");
	return rc;
}

int bootstrap_open(struct bootstrap **bsp, int rank, int nranks, const char *root,
                   int timeout_ms, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	struct bootstrap *bs;
	int rc;

	if (bootstrap_addr_parse(root, &ss, &sl) < 0) {
		snprintf(err, errlen, "bootstrap: bad root address '%s' (want ADDR:PORT)", root);
		return -EINVAL;
	}
	bs = calloc(1, sizeof(*bs));
	if (!bs || !(bs->fd = malloc(sizeof(int) * (size_t)nranks))) {
		free(bs);
		return -ENOMEM;
	}
	bs->rank = rank;
	bs->nranks = nranks;
	bs->listen_fd = -1;
	for (int r = 0; r < nranks; r++)
		bs->fd[r] = -1;
	if (nranks == 1)
		rc = 0;
	else if (rank == 0)
		rc = bs_open_root(bs, &ss, sl, timeout_ms);
	else
		rc = bs_open_rank(bs, &ss, sl, timeout_ms);
	if (nranks == 1)
		memcpy(&bs->local, &ss, sizeof(ss));
	if (rc < 0) {
		snprintf(err, errlen, "%s", bs->err[0] ? bs->err : strerror(-rc));
		bootstrap_close(bs);
		return rc;
	}
	*bsp = bs;
	return 0;
}

const struct sockaddr_storage *bootstrap_local_addr(struct bootstrap *bs)
{
	return &bs->local;
}

const char *bootstrap_error(const struct bootstrap *bs)
{
	return bs->err;
}

int bootstrap_rank(const struct bootstrap *bs)
{
	return bs->rank;
}

int bootstrap_nranks(const struct bootstrap *bs)
{
	return bs->nranks;
}

void bootstrap_close(struct bootstrap *bs)
{
	if (!bs)
		return;
	for (int r = 0; r < bs->nranks; r++)
		if (bs->fd[r] >= 0)
			close(bs->fd[r]);
	if (bs->listen_fd >= 0)
		close(bs->listen_fd);
	free(bs->fd);
	free(bs);
}
