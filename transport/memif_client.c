/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smx_memif: memif client handshake and ring bookkeeping (see
 * memif_client.h; protocol in include/shunt/memif_proto.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include "memif_client.h"

#define SMX_MEMIF_ALIGN 64

static size_t smx_memif_ring_bytes(uint32_t log2)
{
	size_t b = MEMIF_PROTO_RING_HDR_SIZE +
		   sizeof(struct memif_proto_desc) * ((size_t)1 << log2);

	return (b + SMX_MEMIF_ALIGN - 1) & ~(size_t)(SMX_MEMIF_ALIGN - 1);
}

static int smx_memif_connect(const char *name, char *err, size_t errlen)
{
	struct sockaddr_un un;
	socklen_t len;
	size_t n = strlen(name);
	int fd;

	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	if (name[0] == '@') {
		/* Abstract: the address length covers the name only. */
		if (n - 1 > sizeof(un.sun_path) - 1 || n < 2) {
			snprintf(err, errlen, "socket '%s': bad name", name);
			return -EINVAL;
		}
		memcpy(un.sun_path + 1, name + 1, n - 1);
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	} else {
		if (n == 0 || n >= sizeof(un.sun_path)) {
			snprintf(err, errlen, "socket '%s': bad path", name);
			return -EINVAL;
		}
		memcpy(un.sun_path, name, n);
		len = (socklen_t)sizeof(un);
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&un, len) < 0) {
		int e = -errno;

		snprintf(err, errlen, "memif socket '%s': %s", name, strerror(-e));
		close(fd);
		return e;
	}
	return fd;
}

static int smx_memif_send(int sock, uint16_t type, const void *body,
			  size_t len, int fd)
{
	struct memif_proto_msg msg;
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = &msg, .iov_len = sizeof(msg) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	memset(&msg, 0, sizeof(msg));
	msg.type = type;
	if (len > 0)
		memcpy(msg.raw, body, len < sizeof(msg.raw) ? len : sizeof(msg.raw));
	if (fd >= 0) {
		struct cmsghdr *cm;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	if (n < 0)
		return -errno;
	return n == (ssize_t)sizeof(msg) ? 0 : -EIO;
}

/* Wait for one message of type `want`; a DISCONNECT becomes the error. */
static int smx_memif_expect(int sock, uint16_t want, struct memif_proto_msg *msg,
			    int timeout_ms, char *err, size_t errlen)
{
	struct pollfd p = { .fd = sock, .events = POLLIN };
	ssize_t n;
	int r;

	r = poll(&p, 1, timeout_ms);
	if (r == 0) {
		snprintf(err, errlen, "memif handshake: no answer in %d ms", timeout_ms);
		return -ETIMEDOUT;
	}
	if (r < 0)
		return -errno;
	/* The server sends no fds; any that came are closed by the kernel
	 * with the message since we pass no control buffer. */
	n = recv(sock, msg, sizeof(*msg), 0);
	if (n <= 0) {
		snprintf(err, errlen, "memif handshake: server closed the connection");
		return -ECONNRESET;
	}
	if (n != (ssize_t)sizeof(*msg)) {
		snprintf(err, errlen, "memif handshake: short message (%zd bytes)", n);
		return -EPROTO;
	}
	if (msg->type == MEMIF_PROTO_MSG_DISCONNECT) {
		char why[MEMIF_PROTO_DISC_SZ + 1];

		memcpy(why, msg->disconnect.string, MEMIF_PROTO_DISC_SZ);
		why[MEMIF_PROTO_DISC_SZ] = '\0';
		snprintf(err, errlen, "memif server refused: %s", why);
		return msg->disconnect.code ? -(int)msg->disconnect.code : -EPROTO;
	}
	if (msg->type != want) {
		snprintf(err, errlen, "memif handshake: got message %u, expected %u",
			 msg->type, want);
		return -EPROTO;
	}
	return 0;
}

static int smx_memif_region(struct smx_memif *m, const struct smx_memif_conf *c)
{
	size_t rb = smx_memif_ring_bytes(c->log2_ring);
	size_t bufs = (size_t)c->buffer_size << c->log2_ring;
	uint16_t i;
	int fd;

	m->ring_size = (uint16_t)(1u << c->log2_ring);
	m->mask = (uint16_t)(m->ring_size - 1);
	m->buf_size = c->buffer_size;
	m->c2s_buf_off = (uint32_t)(2 * rb);
	m->s2c_buf_off = (uint32_t)(2 * rb + bufs);
	m->size = 2 * rb + 2 * bufs;
	if (m->size > UINT32_MAX)
		return -E2BIG;
	fd = memfd_create("smx-memif", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	/* The server maps only memfds sealed against shrinking: then no
	 * access inside its mapping can fault whatever we do later. */
	if (ftruncate(fd, (off_t)m->size) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	m->base = mmap(NULL, m->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m->base == MAP_FAILED) {
		int e = -errno;

		m->base = NULL;
		close(fd);
		return e;
	}
	m->c2s = (struct memif_proto_ring *)m->base;
	m->s2c = (struct memif_proto_ring *)(m->base + rb);
	m->c2s->cookie = MEMIF_PROTO_COOKIE;
	m->s2c->cookie = MEMIF_PROTO_COOKIE;
	/* We poll until smx_wait decides to sleep. */
	m->s2c->flags = MEMIF_PROTO_RING_FLAG_MASK_INT;
	for (i = 0; i < m->ring_size; i++) {
		struct memif_proto_desc *d = &m->s2c->desc[i];

		d->region = 0;
		d->offset = m->s2c_buf_off + (uint32_t)i * m->buf_size;
		d->length = m->buf_size;
		d->flags = 0;
	}
	/* Every receive buffer is offered from the start. */
	m->rx_head = m->ring_size;
	__atomic_store_n(&m->s2c->head, m->rx_head, __ATOMIC_RELEASE);
	return fd;
}

int smx_memif_open(struct smx_memif *m, const struct smx_memif_conf *c,
		   char *err, size_t errlen)
{
	struct memif_proto_msg msg;
	struct memif_proto_init in;
	struct memif_proto_add_region ar;
	struct memif_proto_add_ring ring;
	struct memif_proto_connect cn;
	int memfd = -1, r;

	memset(m, 0, sizeof(*m));
	m->sock = m->efd_c2s = m->efd_s2c = -1;
	r = smx_memif_connect(c->socket, err, errlen);
	if (r < 0)
		return r;
	m->sock = r;
	r = smx_memif_expect(m->sock, MEMIF_PROTO_MSG_HELLO, &msg, c->timeout_ms,
			     err, errlen);
	if (r < 0)
		goto fail;
	if (msg.hello.min_version > MEMIF_PROTO_VERSION ||
	    msg.hello.max_version < MEMIF_PROTO_VERSION ||
	    msg.hello.max_log2_ring_size < c->log2_ring) {
		snprintf(err, errlen, "memif server: version %#x..%#x, rings up to 2^%u "
			 "(we need %#x, 2^%u)", msg.hello.min_version,
			 msg.hello.max_version, msg.hello.max_log2_ring_size,
			 MEMIF_PROTO_VERSION, c->log2_ring);
		r = -EPROTONOSUPPORT;
		goto fail;
	}

	memset(&in, 0, sizeof(in));
	in.version = MEMIF_PROTO_VERSION;
	in.id = c->id;
	in.mode = MEMIF_PROTO_MODE_ETHERNET;
	if (c->secret != NULL)
		strncpy((char *)in.secret, c->secret, sizeof(in.secret) - 1);
	snprintf((char *)in.name, sizeof(in.name), "smx");
	r = smx_memif_send(m->sock, MEMIF_PROTO_MSG_INIT, &in, sizeof(in), -1);
	if (r == 0)
		r = smx_memif_expect(m->sock, MEMIF_PROTO_MSG_ACK, &msg,
				     c->timeout_ms, err, errlen);
	if (r < 0)
		goto fail;

	memfd = smx_memif_region(m, c);
	if (memfd < 0) {
		r = memfd;
		snprintf(err, errlen, "memif region of %zu bytes: %s", m->size,
			 strerror(-r));
		goto fail;
	}
	memset(&ar, 0, sizeof(ar));
	ar.index = 0;
	ar.size = m->size;
	r = smx_memif_send(m->sock, MEMIF_PROTO_MSG_ADD_REGION, &ar, sizeof(ar), memfd);
	close(memfd);	/* the mapping keeps the memory */
	if (r == 0)
		r = smx_memif_expect(m->sock, MEMIF_PROTO_MSG_ACK, &msg,
				     c->timeout_ms, err, errlen);
	if (r < 0)
		goto fail;

	m->efd_c2s = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	m->efd_s2c = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (m->efd_c2s < 0 || m->efd_s2c < 0) {
		r = -errno;
		goto fail;
	}
	for (int dir = 0; dir < 2; dir++) {
		memset(&ring, 0, sizeof(ring));
		ring.flags = dir == 0 ? MEMIF_PROTO_RING_FLAG_C2S : 0;
		ring.index = 0;
		ring.region = 0;
		ring.offset = (uint32_t)((uint8_t *)(dir == 0 ? m->c2s : m->s2c) - m->base);
		ring.log2_ring_size = (uint8_t)c->log2_ring;
		r = smx_memif_send(m->sock, MEMIF_PROTO_MSG_ADD_RING, &ring,
				   sizeof(ring), dir == 0 ? m->efd_c2s : m->efd_s2c);
		if (r == 0)
			r = smx_memif_expect(m->sock, MEMIF_PROTO_MSG_ACK, &msg,
					     c->timeout_ms, err, errlen);
		if (r < 0)
			goto fail;
	}

	memset(&cn, 0, sizeof(cn));
	snprintf((char *)cn.if_name, sizeof(cn.if_name), "smx0");
	r = smx_memif_send(m->sock, MEMIF_PROTO_MSG_CONNECT, &cn, sizeof(cn), -1);
	if (r == 0)
		r = smx_memif_expect(m->sock, MEMIF_PROTO_MSG_CONNECTED, &msg,
				     c->timeout_ms, err, errlen);
	if (r < 0)
		goto fail;
	fcntl(m->sock, F_SETFL, fcntl(m->sock, F_GETFL) | O_NONBLOCK);
	return 0;
fail:
	if (err[0] == '\0')
		snprintf(err, errlen, "memif handshake: %s", strerror(-r));
	smx_memif_close(m);
	return r;
}

void smx_memif_close(struct smx_memif *m)
{
	if (m->sock >= 0)
		close(m->sock);
	if (m->efd_c2s >= 0)
		close(m->efd_c2s);
	if (m->efd_s2c >= 0)
		close(m->efd_s2c);
	if (m->base != NULL)
		munmap(m->base, m->size);
	m->sock = m->efd_c2s = m->efd_s2c = -1;
	m->base = NULL;
}

int smx_memif_check(struct smx_memif *m)
{
	struct memif_proto_msg msg;
	ssize_t n;

	if (m->down)
		return -ENOTCONN;
	n = recv(m->sock, &msg, sizeof(msg), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	/* EOF, an error, DISCONNECT or anything else: the server speaks
	 * only during the handshake, so the connection is over. */
	m->down = true;
	return -ENOTCONN;
}

void smx_memif_tx_publish(struct smx_memif *m)
{
	/* Descriptors and buffers before head are complete. */
	__atomic_store_n(&m->c2s->head, m->tx_head, __ATOMIC_RELEASE);
	/* The data plane polls c2s and masks its interrupt; kick only a
	 * server that asked for it. */
	if (!(__atomic_load_n(&m->c2s->flags, __ATOMIC_RELAXED) &
	      MEMIF_PROTO_RING_FLAG_MASK_INT)) {
		uint64_t one = 1;
		ssize_t r = write(m->efd_c2s, &one, sizeof(one));

		(void)r;
	}
}

void smx_memif_rx_release(struct smx_memif *m)
{
	while (m->rx_head != (uint16_t)(m->rx_next + m->ring_size)) {
		struct memif_proto_desc *d = &m->s2c->desc[m->rx_head & m->mask];

		d->region = 0;
		d->offset = m->s2c_buf_off + (uint32_t)(m->rx_head & m->mask) * m->buf_size;
		d->length = m->buf_size;
		d->flags = 0;
		m->rx_head++;
	}
	/* Our reads of the released buffers are done. */
	__atomic_store_n(&m->s2c->head, m->rx_head, __ATOMIC_RELEASE);
}

void smx_memif_rx_irq(struct smx_memif *m, bool on)
{
	__atomic_store_n(&m->s2c->flags, on ? 0 : MEMIF_PROTO_RING_FLAG_MASK_INT,
			 __ATOMIC_RELAXED);
	/* Pairs with the server's fence between its tail store and its
	 * flags load: one of us sees the other's store. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}
