/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * memif_server: the memif protocol's server side, written for shunt so that
 * the data plane owns the lifetime of a client's shared memory (see
 * memif_server.h for why DPDK's PMD is not used, memif_proto.h for the wire
 * format).
 *
 * Objects and who touches them:
 *  - struct memif_server: config and counters (control path), the
 *    published connection pointer `live` (written by the control path with
 *    release, read by workers with acquire), per-queue drop counters
 *    (each written only by the worker that owns the queue).
 *  - struct memif_server_conn: one accepted client. The control path builds
 *    it during the handshake; from publication until it is unpublished and
 *    a grace period has passed, everything but the queues' private ring
 *    indexes is read-only, and those belong to the queue's worker.
 *
 * Everything in the client's regions is written by a process we do not
 * trust: the data path reads ring indexes once per burst, copies
 * descriptors before checking them, and bounds every access by the mapping
 * we made from a memfd that cannot shrink.
 */
#include "memif_server_internal.h"

/* ------------------------------------------------------------------------ */
/* Control path helpers                                                      */
/* ------------------------------------------------------------------------ */

static uint64_t memif_server_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

static void *memif_server_zalloc(size_t size)
{
	size_t len = RTE_ALIGN_CEIL(size, RTE_CACHE_LINE_SIZE);
	void *p = aligned_alloc(RTE_CACHE_LINE_SIZE, len);

	if (p != NULL)
		memset(p, 0, len);
	return p;
}

/* Fill the abstract address "\0name"; the length covers the name only,
 * as DPDK's and libmemif's clients compute it. */
static socklen_t memif_server_addr(const char *name, struct sockaddr_un *un)
{
	size_t len = strlen(name);

	memset(un, 0, sizeof(*un));
	un->sun_family = AF_UNIX;
	memcpy(un->sun_path + 1, name, len);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len);
}

static int memif_server_send(int fd, uint16_t type, const void *body,
			     size_t len)
{
	struct memif_proto_msg msg;
	ssize_t n;

	memset(&msg, 0, sizeof(msg));
	msg.type = type;
	if (len > 0)
		memcpy(msg.raw, body, RTE_MIN(len, sizeof(msg.raw)));
	/* The peer reads one answer per message it sends: our socket buffer
	 * cannot fill unless it misbehaves, and then it is dropped. */
	n = send(fd, &msg, sizeof(msg), MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0)
		return -errno;
	return n == (ssize_t)sizeof(msg) ? 0 : -EIO;
}

static void memif_server_send_disconnect(int fd, int err, const char *reason)
{
	struct memif_proto_disconnect d;

	memset(&d, 0, sizeof(d));
	d.code = (uint32_t)(err < 0 ? -err : err);
	snprintf((char *)d.string, sizeof(d.string), "%s", reason);
	/* Best effort: the peer may already be gone. */
	(void)memif_server_send(fd, MEMIF_PROTO_MSG_DISCONNECT, &d, sizeof(d));
}

/*
 * Receive one message and at most one fd. Returns 0, -EAGAIN (nothing
 * queued), -ECONNRESET (peer closed or failed), or -EPROTO (wrong size,
 * more than one fd, truncated control data). Received fds are closed on
 * every error.
 */
static int memif_server_recv(int fd, struct memif_proto_msg *msg, int *afd)
{
	union {
		char buf[CMSG_SPACE(4 * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = msg, .iov_len = sizeof(*msg) };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
	};
	struct cmsghdr *cm;
	int fds[4], nfds = 0, i;
	ssize_t n;

	*afd = -1;
	n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return -EAGAIN;
		return -ECONNRESET;
	}
	for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
		size_t cnt;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		cnt = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t k = 0; k < cnt && nfds < 4; k++)
			memcpy(&fds[nfds++], CMSG_DATA(cm) + k * sizeof(int),
			       sizeof(int));
	}
	if (n == 0) {
		for (i = 0; i < nfds; i++)
			close(fds[i]);
		return -ECONNRESET;
	}
	if (n != (ssize_t)sizeof(*msg) || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
	    nfds > 1) {
		for (i = 0; i < nfds; i++)
			close(fds[i]);
		return -EPROTO;
	}
	if (nfds == 1)
		*afd = fds[0];
	return 0;
}

static void memif_server_conn_free(struct memif_server *s,
				   struct memif_server_conn *c)
{
	uint16_t i;

	for (i = 0; i < MEMIF_SERVER_MAX_REGIONS; i++)
		if (c->regions[i].addr != NULL)
			munmap(c->regions[i].addr, c->regions[i].size);
	for (i = 0; i < s->max_queues; i++) {
		if (c->c2s[i].int_fd >= 0)
			close(c->c2s[i].int_fd);
		if (c->s2c[i].int_fd >= 0)
			close(c->s2c[i].int_fd);
	}
	if (c->sock >= 0)
		close(c->sock);
	free(c->c2s);
	free(c->s2c);
	free(c);
}

static struct memif_server_conn *memif_server_conn_new(struct memif_server *s,
						       int sock)
{
	struct memif_server_conn *c = memif_server_zalloc(sizeof(*c));
	uint16_t i;

	if (c == NULL)
		return NULL;
	c->c2s = memif_server_zalloc(sizeof(*c->c2s) * s->max_queues);
	c->s2c = memif_server_zalloc(sizeof(*c->s2c) * s->max_queues);
	if (c->c2s == NULL || c->s2c == NULL) {
		free(c->c2s);
		free(c->s2c);
		free(c);
		return NULL;
	}
	for (i = 0; i < s->max_queues; i++) {
		c->c2s[i].int_fd = -1;
		c->s2c[i].int_fd = -1;
	}
	c->sock = sock;
	c->state = MEMIF_SERVER_ST_INIT;
	c->accepted_ns = memif_server_now_ns();
	return c;
}

/*
 * Drop the current client. A published connection is unpublished first and
 * its memory unmapped only after every worker has passed a quiescent
 * point: a worker still inside a burst keeps reading the old rings safely.
 * `reason` != NULL sends a DISCONNECT first; `refuse` counts a handshake
 * we turned down.
 */
static void memif_server_conn_close(struct memif_server *s, int err,
				    const char *reason, bool refuse)
{
	struct memif_server_conn *c = s->cc;

	if (c == NULL)
		return;
	s->cc = NULL;
	if (c->state == MEMIF_SERVER_ST_CONNECTED) {
		__atomic_store_n(&s->live, NULL, __ATOMIC_RELEASE);
		rte_rcu_qsbr_synchronize(s->qsbr, RTE_QSBR_THRID_INVALID);
		s->disconnects++;
	} else if (refuse) {
		s->refused++;
	}
	if (reason != NULL) {
		log_debug("memif %s: dropping client '%s': %s (%d)", s->name,
			  c->peer_name, reason, err);
		memif_server_send_disconnect(c->sock, err, reason);
	}
	memif_server_conn_free(s, c);
}

/* ------------------------------------------------------------------------ */
/* Handshake                                                                 */
/* ------------------------------------------------------------------------ */

/* Reason for the peer when a handshake step fails. */
struct memif_server_err {
	int err;
	const char *reason;
};

#define MEMIF_SERVER_FAIL(e, code, text) \
	do { (e)->err = (code); (e)->reason = (text); return (code); } while (0)

/* Constant-time compare with strncmp semantics over the 24-byte field
 * (DPDK's server compares with strncmp; clients NUL-pad the field). */
static bool memif_server_secret_ok(const struct memif_server *s,
				   const uint8_t *got)
{
	uint8_t norm[MEMIF_PROTO_SECRET_SZ] = { 0 };
	uint8_t diff = 0;
	size_t i;

	for (i = 0; i < MEMIF_PROTO_SECRET_SZ && got[i] != '\0'; i++)
		norm[i] = got[i];
	for (i = 0; i < MEMIF_PROTO_SECRET_SZ; i++)
		diff |= norm[i] ^ s->secret[i];
	return diff == 0;
}

static int memif_server_on_init(struct memif_server *s,
				struct memif_server_conn *c,
				const struct memif_proto_init *in,
				struct memif_server_err *e)
{
	if (in->version != MEMIF_PROTO_VERSION)
		MEMIF_SERVER_FAIL(e, -EPROTONOSUPPORT, "Incompatible memif version");
	if (in->id != s->id)
		MEMIF_SERVER_FAIL(e, -ENOENT, "ID not found");
	if (in->mode != MEMIF_PROTO_MODE_ETHERNET)
		MEMIF_SERVER_FAIL(e, -EPROTONOSUPPORT, "Only ethernet mode supported");
	if (s->has_secret) {
		if (in->secret[0] == '\0')
			MEMIF_SERVER_FAIL(e, -EACCES, "Secret required");
		if (!memif_server_secret_ok(s, in->secret))
			MEMIF_SERVER_FAIL(e, -EACCES, "Incorrect secret");
	}
	memcpy(c->peer_name, in->name, sizeof(c->peer_name) - 1);
	c->peer_name[sizeof(c->peer_name) - 1] = '\0';
	c->state = MEMIF_SERVER_ST_CONFIG;
	return 0;
}

/*
 * A region must be a shmem memfd sealed against shrinking, at least as
 * large as declared: then no access inside our mapping can SIGBUS,
 * whatever the client does to the file later. hugetlbfs memfds are refused
 * because hole punching could still take pages from under the mapping.
 */
static int memif_server_on_add_region(struct memif_server_conn *c,
				      const struct memif_proto_add_region *ar,
				      int fd, struct memif_server_err *e)
{
	struct stat st;
	struct statfs sf;
	void *addr;
	int seals;

	if (fd < 0)
		MEMIF_SERVER_FAIL(e, -EINVAL, "Missing region fd");
	if (ar->index >= MEMIF_SERVER_MAX_REGIONS)
		MEMIF_SERVER_FAIL(e, -E2BIG, "Too many regions");
	if (ar->index != c->nregions)
		MEMIF_SERVER_FAIL(e, -EINVAL, "Invalid region index");
	if (ar->size == 0 || ar->size > MEMIF_SERVER_MAX_REGION_SIZE)
		MEMIF_SERVER_FAIL(e, -EINVAL, "Invalid region size");
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0)
		MEMIF_SERVER_FAIL(e, -EINVAL, "Region fd is not a memfd");
	if (!(seals & F_SEAL_SHRINK))
		MEMIF_SERVER_FAIL(e, -EPERM, "Region memfd lacks F_SEAL_SHRINK");
	if (fstatfs(fd, &sf) < 0 || sf.f_type != TMPFS_MAGIC)
		MEMIF_SERVER_FAIL(e, -EINVAL, "Region memfd is not shmem");
	if (fstat(fd, &st) < 0 || st.st_size < 0 ||
	    (uint64_t)st.st_size < ar->size)
		MEMIF_SERVER_FAIL(e, -EINVAL, "Region smaller than declared");
	addr = mmap(NULL, ar->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (addr == MAP_FAILED)
		MEMIF_SERVER_FAIL(e, -errno, "Failed to map region");
	c->regions[c->nregions].addr = addr;
	c->regions[c->nregions].size = ar->size;
	c->nregions++;
	return 0;
}

/* The data path writes to a ring's fd; only an eventfd is safe to write to
 * without blocking, SIGPIPE or side effects. */
static bool memif_server_is_eventfd(int fd)
{
	char path[64], link[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return false;
	link[n] = '\0';
	return strcmp(link, "anon_inode:[eventfd]") == 0;
}

static int memif_server_on_add_ring(struct memif_server *s,
				    struct memif_server_conn *c,
				    const struct memif_proto_add_ring *ar,
				    int fd, struct memif_server_err *e)
{
	struct memif_server_queue *q;
	uint64_t end;
	int fl;

	if (fd < 0)
		MEMIF_SERVER_FAIL(e, -EINVAL, "Missing interrupt fd");
	if (!memif_server_is_eventfd(fd))
		MEMIF_SERVER_FAIL(e, -EINVAL, "Interrupt fd is not an eventfd");
	if (ar->flags & ~MEMIF_PROTO_RING_FLAG_C2S)
		MEMIF_SERVER_FAIL(e, -EINVAL, "Unknown ring flags");
	if (ar->index >= s->max_queues)
		MEMIF_SERVER_FAIL(e, -E2BIG, "Too many rings");
	q = (ar->flags & MEMIF_PROTO_RING_FLAG_C2S) ? &c->c2s[ar->index] :
						      &c->s2c[ar->index];
	if (q->set)
		MEMIF_SERVER_FAIL(e, -EINVAL, "Ring added twice");
	if (ar->region >= c->nregions)
		MEMIF_SERVER_FAIL(e, -EINVAL, "Invalid ring region");
	if (ar->log2_ring_size > s->max_log2_ring)
		MEMIF_SERVER_FAIL(e, -E2BIG, "Ring too large");
	if (ar->private_hdr_size != 0)
		MEMIF_SERVER_FAIL(e, -EINVAL, "Private header not supported");
	/* Head, tail and descriptors are accessed as naturally aligned words. */
	if (ar->offset % sizeof(struct memif_proto_desc) != 0)
		MEMIF_SERVER_FAIL(e, -EINVAL, "Misaligned ring");
	end = (uint64_t)ar->offset + MEMIF_PROTO_RING_HDR_SIZE +
	      (sizeof(struct memif_proto_desc) << ar->log2_ring_size);
	if (end > c->regions[ar->region].size)
		MEMIF_SERVER_FAIL(e, -EINVAL, "Ring outside its region");
	/* The data path must never block on it. Shared with the client's
	 * open file description; both clients create it non-blocking. */
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		MEMIF_SERVER_FAIL(e, -errno, "Cannot use interrupt fd");
	q->set = true;
	q->region = ar->region;
	q->offset = ar->offset;
	q->log2 = ar->log2_ring_size;
	q->int_fd = fd;
	return 0;
}

/* Count rings 0..n-1 of one direction; a gap means a broken client. */
static int memif_server_count_rings(const struct memif_server *s,
				    const struct memif_server_queue *qs)
{
	uint16_t n = 0, i;

	while (n < s->max_queues && qs[n].set)
		n++;
	for (i = n; i < s->max_queues; i++)
		if (qs[i].set)
			return -1;
	return n;
}

static int memif_server_ring_attach(struct memif_server_conn *c,
				    struct memif_server_queue *q, bool c2s)
{
	struct memif_proto_ring *r;

	r = (struct memif_proto_ring *)(c->regions[q->region].addr + q->offset);
	if (__atomic_load_n(&r->cookie, __ATOMIC_RELAXED) != MEMIF_PROTO_COOKIE)
		return -EINVAL;
	q->ring = r;
	q->size = (uint16_t)(1u << q->log2);
	q->mask = (uint16_t)(q->size - 1);
	q->next = 0;
	/* We own tail on both directions. On C2S we are the receiver and
	 * poll: tell the client not to signal us (as DPDK's server does). */
	__atomic_store_n(&r->tail, 0, __ATOMIC_RELAXED);
	if (c2s)
		__atomic_store_n(&r->flags, MEMIF_PROTO_RING_FLAG_MASK_INT,
				 __ATOMIC_RELAXED);
	return 0;
}

static int memif_server_on_connect(struct memif_server *s,
				   struct memif_server_conn *c,
				   struct memif_server_err *e)
{
	struct memif_proto_connect ours;
	int n_c2s, n_s2c, i, ret;

	n_c2s = memif_server_count_rings(s, c->c2s);
	n_s2c = memif_server_count_rings(s, c->s2c);
	if (n_c2s < 0 || n_s2c < 0)
		MEMIF_SERVER_FAIL(e, -EINVAL, "Ring indexes not contiguous");
	if (n_c2s + n_s2c == 0)
		MEMIF_SERVER_FAIL(e, -EINVAL, "No rings");
	for (i = 0; i < n_c2s; i++)
		if (memif_server_ring_attach(c, &c->c2s[i], true) < 0)
			MEMIF_SERVER_FAIL(e, -EINVAL, "Wrong ring cookie");
	for (i = 0; i < n_s2c; i++)
		if (memif_server_ring_attach(c, &c->s2c[i], false) < 0)
			MEMIF_SERVER_FAIL(e, -EINVAL, "Wrong ring cookie");
	c->n_c2s = (uint16_t)n_c2s;
	c->n_s2c = (uint16_t)n_s2c;

	memset(&ours, 0, sizeof(ours));
	memcpy(ours.if_name, s->if_name, sizeof(ours.if_name));
	ret = memif_server_send(c->sock, MEMIF_PROTO_MSG_CONNECTED, &ours,
				sizeof(ours));
	if (ret < 0)
		MEMIF_SERVER_FAIL(e, ret, "Failed to send CONNECTED");
	/* Publish after the rings are set up (release pairs with the
	 * workers' acquire load). */
	c->state = MEMIF_SERVER_ST_CONNECTED;
	__atomic_store_n(&s->live, c, __ATOMIC_RELEASE);
	s->connects++;
	log_debug("memif %s: client '%s' connected, %d c2s / %d s2c rings, "
		  "%u regions", s->name, c->peer_name, n_c2s, n_s2c,
		  c->nregions);
	return 0;
}

/*
 * One message from the current client. *fd is the fd that came with it
 * (-1: none); a handler that keeps it sets *fd = -1, the caller closes
 * what is left. Returns 0, 1 when the client sent DISCONNECT, or -errno
 * with *e set when the connection must end.
 */
static int memif_server_dispatch(struct memif_server *s,
				 struct memif_server_conn *c,
				 const struct memif_proto_msg *msg, int *fd,
				 struct memif_server_err *e)
{
	int ret;

	if (msg->type == MEMIF_PROTO_MSG_DISCONNECT)
		return 1;
	/* Only ADD_REGION and ADD_RING carry an fd. */
	if (*fd >= 0 && msg->type != MEMIF_PROTO_MSG_ADD_REGION &&
	    msg->type != MEMIF_PROTO_MSG_ADD_RING)
		MEMIF_SERVER_FAIL(e, -EPROTO, "Unexpected fd");

	switch (c->state) {
	case MEMIF_SERVER_ST_INIT:
		if (msg->type != MEMIF_PROTO_MSG_INIT)
			MEMIF_SERVER_FAIL(e, -EPROTO, "Unexpected message");
		ret = memif_server_on_init(s, c, &msg->init, e);
		break;
	case MEMIF_SERVER_ST_CONFIG:
		switch (msg->type) {
		case MEMIF_PROTO_MSG_ADD_REGION:
			/* The mapping keeps the memory; the fd is not kept. */
			ret = memif_server_on_add_region(c, &msg->add_region,
							 *fd, e);
			break;
		case MEMIF_PROTO_MSG_ADD_RING:
			ret = memif_server_on_add_ring(s, c, &msg->add_ring,
						       *fd, e);
			if (ret == 0)
				*fd = -1;	/* now the ring's eventfd */
			break;
		case MEMIF_PROTO_MSG_CONNECT:
			return memif_server_on_connect(s, c, e);
		default:
			MEMIF_SERVER_FAIL(e, -EPROTO, "Unexpected message");
		}
		break;
	default:
		/* Nothing but DISCONNECT is expected once connected. */
		MEMIF_SERVER_FAIL(e, -EPROTO, "Unexpected message");
	}
	if (ret < 0)
		return ret;
	ret = memif_server_send(c->sock, MEMIF_PROTO_MSG_ACK, NULL, 0);
	if (ret < 0)
		MEMIF_SERVER_FAIL(e, ret, "Failed to send ACK");
	return 0;
}

static int memif_server_conn_handle(struct memif_server *s)
{
	struct memif_server_conn *c = s->cc;
	struct memif_server_err e = { 0, NULL };
	struct memif_proto_msg msg;
	int fd, ret;

	ret = memif_server_recv(c->sock, &msg, &fd);
	if (ret == -EAGAIN)
		return 0;
	if (ret == -ECONNRESET) {
		log_debug("memif %s: client '%s' left", s->name, c->peer_name);
		memif_server_conn_close(s, 0, NULL, false);
		return ret;
	}
	if (ret < 0) {
		memif_server_conn_close(s, ret, "Invalid message", true);
		return ret;
	}
	ret = memif_server_dispatch(s, c, &msg, &fd, &e);
	if (fd >= 0)
		close(fd);
	if (ret == 1) {
		char why[MEMIF_PROTO_DISC_SZ + 1];

		memcpy(why, msg.disconnect.string, MEMIF_PROTO_DISC_SZ);
		why[MEMIF_PROTO_DISC_SZ] = '\0';
		log_debug("memif %s: client '%s' disconnected: %s", s->name,
			  c->peer_name, why);
		memif_server_conn_close(s, 0, NULL, false);
		return 0;
	}
	if (ret < 0) {
		memif_server_conn_close(s, e.err, e.reason, true);
		return ret;
	}
	return 0;
}

static int memif_server_accept(struct memif_server *s)
{
	struct memif_proto_hello h;
	int fd, ret;

	fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return (errno == EAGAIN || errno == EINTR ||
			errno == ECONNABORTED) ? 0 : -errno;

	if (s->cc != NULL) {
		/* A handshake that stalls does no harm until someone else
		 * wants the slot; then it has had its chance. */
		if (s->cc->state != MEMIF_SERVER_ST_CONNECTED &&
		    memif_server_now_ns() - s->cc->accepted_ns >
		    MEMIF_SERVER_HANDSHAKE_TIMEOUT_NS) {
			memif_server_conn_close(s, -ETIMEDOUT,
						"Handshake timeout", true);
		} else {
			memif_server_send_disconnect(fd, -EBUSY,
						     "Already connected");
			close(fd);
			s->refused++;
			log_debug("memif %s: refused a second client", s->name);
			return -EBUSY;
		}
	}

	s->cc = memif_server_conn_new(s, fd);
	if (s->cc == NULL) {
		close(fd);
		return -ENOMEM;
	}
	memset(&h, 0, sizeof(h));
	snprintf((char *)h.name, sizeof(h.name), "shunt");
	h.min_version = MEMIF_PROTO_VERSION;
	h.max_version = MEMIF_PROTO_VERSION;
	h.max_region = MEMIF_SERVER_MAX_REGIONS - 1;
	h.max_c2s_ring = (uint16_t)(s->max_queues - 1);
	h.max_s2c_ring = (uint16_t)(s->max_queues - 1);
	h.max_log2_ring_size = s->max_log2_ring;
	ret = memif_server_send(fd, MEMIF_PROTO_MSG_HELLO, &h, sizeof(h));
	if (ret < 0) {
		memif_server_conn_close(s, 0, NULL, false);
		return ret;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Public control path                                                       */
/* ------------------------------------------------------------------------ */

/* socket()+bind()+listen() inside netns_path (if any); the calling thread
 * is back in its own namespace on return. */
static int memif_server_listen(const char *name, const char *netns_path)
{
	struct sockaddr_un un;
	socklen_t len = memif_server_addr(name, &un);
	int orig = -1, ns = -1, fd = -1, ret = 0;

	if (netns_path != NULL) {
		ns = open(netns_path, O_RDONLY | O_CLOEXEC);
		if (ns < 0)
			return -errno;
		/* thread-self: other threads of the process stay where they are. */
		orig = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
		if (orig < 0) {
			ret = -errno;
			close(ns);
			return ret;
		}
		if (setns(ns, CLONE_NEWNET) < 0) {
			ret = -errno;
			goto out;
		}
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		ret = -errno;
	else if (bind(fd, (struct sockaddr *)&un, len) < 0 || listen(fd, 8) < 0)
		ret = -errno;
	if (netns_path != NULL && setns(orig, CLONE_NEWNET) < 0) {
		/* The thread would go on in the pod's namespace, and every
		 * later socket it opens would land there. No way to recover. */
		log_err("memif %s: cannot return to the original netns: %s",
			name, strerror(errno));
		abort();
	}
out:
	if (ns >= 0)
		close(ns);
	if (orig >= 0)
		close(orig);
	if (ret < 0) {
		if (fd >= 0)
			close(fd);
		return ret;
	}
	return fd;
}

int memif_server_create(const struct memif_server_config *cfg,
			struct memif_server **out)
{
	struct memif_server *s;
	size_t len;
	uint16_t room;
	int fd;

	if (cfg == NULL || out == NULL || cfg->socket_name == NULL ||
	    cfg->pool == NULL || cfg->qsbr == NULL)
		return -EINVAL;
	len = strlen(cfg->socket_name);
	if (len == 0 || len > MEMIF_SERVER_NAME_MAX)
		return -EINVAL;
	/* Clients copy the secret with strlcpy into the 24-byte field, so
	 * they send at most 23 bytes: a longer one could never match. */
	if (cfg->secret != NULL && strlen(cfg->secret) >= MEMIF_PROTO_SECRET_SZ)
		return -EINVAL;
	if (cfg->if_name != NULL && strlen(cfg->if_name) >= MEMIF_PROTO_NAME_SZ)
		return -EINVAL;
	if (cfg->max_queues == 0 || cfg->max_queues > MEMIF_SERVER_MAX_QUEUES ||
	    cfg->max_log2_ring == 0 ||
	    cfg->max_log2_ring > MEMIF_SERVER_MAX_LOG2_RING)
		return -EINVAL;
	if (rte_pktmbuf_data_room_size(cfg->pool) <= RTE_PKTMBUF_HEADROOM)
		return -EINVAL;
	room = (uint16_t)(rte_pktmbuf_data_room_size(cfg->pool) -
			  RTE_PKTMBUF_HEADROOM);

	s = memif_server_zalloc(sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->rxq_stats = memif_server_zalloc(sizeof(*s->rxq_stats) * cfg->max_queues);
	s->txq_stats = memif_server_zalloc(sizeof(*s->txq_stats) * cfg->max_queues);
	if (s->rxq_stats == NULL || s->txq_stats == NULL) {
		free(s->rxq_stats);
		free(s->txq_stats);
		free(s);
		return -ENOMEM;
	}
	s->pool = cfg->pool;
	s->room = room;
	s->qsbr = cfg->qsbr;
	s->id = cfg->id;
	s->max_queues = cfg->max_queues;
	s->max_log2_ring = cfg->max_log2_ring;
	if (cfg->secret != NULL && cfg->secret[0] != '\0') {
		s->has_secret = true;
		memcpy(s->secret, cfg->secret, strlen(cfg->secret));
	}
	snprintf(s->if_name, sizeof(s->if_name), "%s",
		 cfg->if_name != NULL ? cfg->if_name : "shunt");
	memcpy(s->name, cfg->socket_name, len + 1);

	fd = memif_server_listen(cfg->socket_name, cfg->netns_path);
	if (fd < 0) {
		log_debug("memif %s: cannot listen: %s", cfg->socket_name,
			  strerror(-fd));
		free(s->rxq_stats);
		free(s->txq_stats);
		free(s);
		return fd;
	}
	s->listen_fd = fd;
	*out = s;
	return 0;
}

void memif_server_destroy(struct memif_server *s)
{
	if (s == NULL)
		return;
	memif_server_conn_close(s, -ESHUTDOWN, "Server shutting down", false);
	close(s->listen_fd);
	free(s->rxq_stats);
	free(s->txq_stats);
	free(s);
}

int memif_server_fds(const struct memif_server *s, int *fds, int max)
{
	int n = 0;

	if (n < max)
		fds[n++] = s->listen_fd;
	if (s->cc != NULL && n < max)
		fds[n++] = s->cc->sock;
	return n;
}

/*
 * Returns 0; -ECONNRESET when the client went away (EOF or socket error);
 * -EPROTO/-EACCES/-ENOENT/-EINVAL/... when we refused or dropped it (the
 * code of the DISCONNECT we sent); -EBUSY when a second client was turned
 * away; -EBADF for an fd that is not ours.
 */
int memif_server_handle(struct memif_server *s, int fd)
{
	if (fd == s->listen_fd)
		return memif_server_accept(s);
	if (s->cc != NULL && fd == s->cc->sock)
		return memif_server_conn_handle(s);
	return -EBADF;
}

bool memif_server_connected(const struct memif_server *s)
{
	return __atomic_load_n(&s->live, __ATOMIC_ACQUIRE) != NULL;
}

/* The larger of the two directions' counts: a caller polling that many
 * queues misses none; bursts on a queue the client lacks return 0. */
uint16_t memif_server_queues(const struct memif_server *s)
{
	const struct memif_server_conn *c =
		__atomic_load_n(&s->live, __ATOMIC_ACQUIRE);

	if (c == NULL)
		return 0;
	return RTE_MAX(c->n_c2s, c->n_s2c);
}

void memif_server_stats_get(const struct memif_server *s,
			    struct memif_server_stats *st)
{
	uint16_t i;

	memset(st, 0, sizeof(*st));
	st->connects = s->connects;
	st->disconnects = s->disconnects;
	st->refused = s->refused;
	for (i = 0; i < s->max_queues; i++) {
		const struct memif_server_qstats *r = &s->rxq_stats[i];
		const struct memif_server_qstats *t = &s->txq_stats[i];

		st->bad_desc += __atomic_load_n(&r->bad_desc, __ATOMIC_RELAXED) +
				__atomic_load_n(&t->bad_desc, __ATOMIC_RELAXED);
		st->rx_nombuf += __atomic_load_n(&r->rx_nombuf, __ATOMIC_RELAXED);
		st->tx_full += __atomic_load_n(&t->tx_full, __ATOMIC_RELAXED);
		st->tx_too_big += __atomic_load_n(&t->tx_too_big, __ATOMIC_RELAXED);
	}
}
