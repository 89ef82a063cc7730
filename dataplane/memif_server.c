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
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/vfs.h>

#include <rte_branch_prediction.h>
#include <rte_common.h>
#include <rte_mbuf.h>
#include <rte_memcpy.h>
#include <rte_mempool.h>
#include <rte_prefetch.h>
#include <rte_rcu_qsbr.h>

#include "log.h"
#include "memif_proto.h"
#include "memif_server.h"

/* Limits on what a client may ask of us. */
#define MEMIF_SERVER_MAX_REGIONS	16
/* Descriptor offsets are 32 bit: nothing past 4 GiB is addressable. */
#define MEMIF_SERVER_MAX_REGION_SIZE	(UINT64_C(1) << 32)
#define MEMIF_SERVER_MAX_QUEUES		1024
/* Ring indexes are 16 bit, so a ring holds at most 2^15 descriptors. */
#define MEMIF_SERVER_MAX_LOG2_RING	15
/* A handshake older than this loses its slot to the next client. */
#define MEMIF_SERVER_HANDSHAKE_TIMEOUT_NS	(UINT64_C(5) * 1000000000)

/* Data path: longest descriptor chain of one packet, largest packet. */
#define MEMIF_SERVER_MAX_CHAIN		64
#define MEMIF_SERVER_MAX_PKT_LEN	UINT16_MAX
/* Descriptors copied and checked per step of rx_burst. */
#define MEMIF_SERVER_RX_WINDOW		64
_Static_assert(MEMIF_SERVER_RX_WINDOW >= MEMIF_SERVER_MAX_CHAIN,
	       "a whole chain must fit in one rx window");

/* DPDK's net_memif clients copy at most 106 name bytes after the NUL. */
#define MEMIF_SERVER_NAME_MAX		106

enum memif_server_state {
	MEMIF_SERVER_ST_INIT,		/* HELLO sent, waiting for INIT */
	MEMIF_SERVER_ST_CONFIG,		/* INIT accepted: regions, rings, CONNECT */
	MEMIF_SERVER_ST_CONNECTED,	/* published to the data path */
};

/* Drop counters of one queue; one cache line, one writer (its worker). */
struct memif_server_qstats {
	uint64_t bad_desc;
	uint64_t rx_nombuf;
	uint64_t tx_full;
	uint64_t tx_too_big;
} __rte_cache_aligned;

struct memif_server_region {
	uint8_t *addr;			/* NULL: slot unused */
	uint64_t size;			/* mapped length == declared size */
};

struct memif_server_queue {
	/* data path */
	struct memif_proto_ring *ring;
	uint16_t next;			/* our tail: private, never read back from shm */
	uint16_t mask;
	uint16_t size;
	int int_fd;			/* client's eventfd, -1: none */
	/* control path, during the handshake */
	bool set;
	uint8_t log2;
	uint16_t region;
	uint32_t offset;
} __rte_cache_aligned;

struct memif_server_conn {
	/* data path, read-only while published */
	uint16_t nregions;
	uint16_t n_c2s;
	uint16_t n_s2c;
	struct memif_server_region regions[MEMIF_SERVER_MAX_REGIONS];
	struct memif_server_queue *c2s;	/* [max_queues] */
	struct memif_server_queue *s2c;	/* [max_queues] */
	/* control path */
	int sock;
	enum memif_server_state state;
	uint64_t accepted_ns;
	char peer_name[MEMIF_PROTO_NAME_SZ];
};

struct memif_server {
	/* data path */
	struct memif_server_conn *live;	/* RCU-published; NULL: no rings */
	struct rte_mempool *pool;
	uint16_t room;			/* mbuf data room after headroom */
	struct memif_server_qstats *rxq_stats;	/* [max_queues] */
	struct memif_server_qstats *txq_stats;	/* [max_queues] */
	/* control path: own cache lines, away from what workers read */
	int listen_fd __rte_cache_aligned;
	struct memif_server_conn *cc;	/* current client, any state */
	struct rte_rcu_qsbr *qsbr;
	uint32_t id;
	uint16_t max_queues;
	uint8_t max_log2_ring;
	bool has_secret;
	uint8_t secret[MEMIF_PROTO_SECRET_SZ];
	char if_name[MEMIF_PROTO_NAME_SZ];
	char name[MEMIF_SERVER_NAME_MAX + 1];
	uint64_t connects;
	uint64_t disconnects;
	uint64_t refused;
};

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
	while (unlikely(rte_pktmbuf_alloc_bulk(s->pool, pkts, want) != 0)) {
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
		if (q->int_fd >= 0 &&
		    !(__atomic_load_n(&ring->flags, __ATOMIC_RELAXED) &
		      MEMIF_PROTO_RING_FLAG_MASK_INT)) {
			uint64_t one = 1;
			ssize_t r = write(q->int_fd, &one, sizeof(one));

			RTE_SET_USED(r);	/* EAGAIN: a wakeup is pending anyway */
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
