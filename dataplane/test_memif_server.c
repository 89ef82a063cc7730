/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Integration test of memif_server against DPDK's own memif client
 * (dpdk-testpmd with net_memif role=client) and against raw clients
 * written here, some of them hostile.
 *
 * Needs root (network namespaces, and testpmd's EAL); exits 77 otherwise.
 * Threads: main = control loop (poll on memif_server_fds + handle) and
 * the test logic; one worker thread registered with the RCU QSBR variable
 * runs the data path. The raw "flood" client of the kill test runs as this
 * same binary re-executed with argv[1] == "raw-flood", so the child does
 * not inherit a forked DPDK process.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>

#include "log.h"
#include "shunt/memif_proto.h"
#include "memif_server.h"

#define TEST_ID		7
#define TEST_SECRET	"s3cr3t-shunt"
#define TEST_MAX_QUEUES	4
#define TEST_MAX_LOG2	14
#define BURST		32
#define KILL_ITERS	50

/* ------------------------------------------------------------------------ */
/* Bookkeeping                                                               */
/* ------------------------------------------------------------------------ */

#include "unit/check.h"

static char g_tag[64];			/* unique per run: names, prefixes */
static unsigned int g_seq;
static struct rte_mempool *g_pool;
static struct rte_rcu_qsbr *g_qsbr;
static char g_self[4096];		/* this binary, for re-exec */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;	/* the DIR's own fd */
}

static int count_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	int c, n = 0;

	if (f == NULL)
		return -1;
	while ((c = fgetc(f)) != EOF)
		if (c == '\n')
			n++;
	fclose(f);
	return n;
}

static struct memif_server_stats stats(const struct memif_server *s)
{
	struct memif_server_stats st;

	memif_server_stats_get(s, &st);
	return st;
}

/* One round of the control loop. */
static void pump(struct memif_server *s, int ms)
{
	struct pollfd p[4];
	int fds[4], n, i;

	n = memif_server_fds(s, fds, 4);
	for (i = 0; i < n; i++) {
		p[i].fd = fds[i];
		p[i].events = POLLIN;
		p[i].revents = 0;
	}
	if (poll(p, (nfds_t)n, ms) <= 0)
		return;
	for (i = 0; i < n; i++)
		if (p[i].revents)
			memif_server_handle(s, p[i].fd);
}

/* Run the control loop until cond holds or ms pass; yields cond. */
#define PUMP_UNTIL(s, ms, cond) ({					\
	uint64_t end_ = now_ms() + (ms);				\
	bool ok_;							\
	while (!(ok_ = (cond)) && now_ms() < end_)			\
		pump((s), 10);						\
	ok_; })

static void pump_for(struct memif_server *s, int ms)
{
	uint64_t end = now_ms() + (uint64_t)ms;

	while (now_ms() < end)
		pump(s, 10);
}

static struct memif_server *server_new(const char *name, const char *netns,
				       const char *secret, int *err)
{
	struct memif_server_config cfg = {
		.socket_name = name,
		.netns_path = netns,
		.secret = secret,
		.if_name = "shunt-test",
		.id = TEST_ID,
		.max_log2_ring = TEST_MAX_LOG2,
		.max_queues = TEST_MAX_QUEUES,
		.pool = g_pool,
		.qsbr = g_qsbr,
	};
	struct memif_server *s = NULL;
	int ret = memif_server_create(&cfg, &s);

	if (err != NULL)
		*err = ret;
	return ret == 0 ? s : NULL;
}

/* ------------------------------------------------------------------------ */
/* Test packets                                                              */
/* ------------------------------------------------------------------------ */

#define PKT_MAGIC	0x544e4853u	/* "SHNT" */
#define PKT_HDR		26

static uint8_t pat(uint32_t seq, uint32_t i)
{
	return (uint8_t)(seq * 7u + i);
}

static void pkt_fill(uint8_t *b, uint32_t len, uint32_t seq)
{
	static const uint8_t mac[12] = { 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1 };
	uint32_t i;

	memcpy(b, mac, 12);
	b[12] = 0x88;
	b[13] = 0xb5;
	memcpy(b + 14, &(uint32_t){ PKT_MAGIC }, 4);
	memcpy(b + 18, &seq, 4);
	memcpy(b + 22, &len, 4);
	for (i = PKT_HDR; i < len; i++)
		b[i] = pat(seq, i);
}

/* 1: a test packet, intact; 0: not ours; -1: ours but corrupted. */
static int pkt_verify(const uint8_t *b, uint32_t len)
{
	uint32_t magic, seq, l, i;

	if (len < PKT_HDR)
		return 0;
	memcpy(&magic, b + 14, 4);
	if (magic != PKT_MAGIC)
		return 0;
	memcpy(&seq, b + 18, 4);
	memcpy(&l, b + 22, 4);
	if (l != len)
		return -1;
	for (i = PKT_HDR; i < len; i++)
		if (b[i] != pat(seq, i))
			return -1;
	return 1;
}

/* A test packet as an mbuf chain (segments of at most seg bytes). */
static struct rte_mbuf *mk_pkt(uint32_t len, uint32_t seq, uint16_t seg)
{
	uint8_t buf[16384];
	struct rte_mbuf *head = NULL, *last = NULL;
	uint32_t off = 0;

	pkt_fill(buf, len, seq);
	while (off < len) {
		struct rte_mbuf *m = rte_pktmbuf_alloc(g_pool);
		uint16_t n = (uint16_t)RTE_MIN(len - off, (uint32_t)seg);

		if (m == NULL) {
			rte_pktmbuf_free(head);
			return NULL;
		}
		memcpy(rte_pktmbuf_append(m, n), buf + off, n);
		off += n;
		if (head == NULL) {
			head = m;
		} else {
			last->next = m;
			head->nb_segs++;
			head->pkt_len += n;
		}
		last = m;
	}
	return head;
}

static int mbuf_verify(struct rte_mbuf *m)
{
	uint8_t buf[16384];
	const uint8_t *p;

	if (m->pkt_len > sizeof(buf))
		return -1;
	p = rte_pktmbuf_read(m, 0, m->pkt_len, buf);
	return p == NULL ? -1 : pkt_verify(p, m->pkt_len);
}

/* ------------------------------------------------------------------------ */
/* Worker: the data path, on its own thread, reporting to the QSBR          */
/* ------------------------------------------------------------------------ */

enum {
	W_ECHO = 1,		/* send what arrives back to the client */
	W_INJECT = 2,		/* send fresh test packets every loop */
	W_INJECT_IDLE = 4,	/* ... only in loops that received nothing */
	W_BIG = 8,		/* inject 3000-byte packets instead of 64 */
	W_FAST = 16,		/* rate runs: no per-packet checks, template tx */
};

struct worker {
	pthread_t tid;
	struct memif_server *srv;	/* polled server; NULL: idle */
	int mode;
	bool stop;
	/* written by the worker only */
	uint64_t loops, rx, rx_64_ipv4, rx_ok, rx_bad, rx_multiseg, tx;
	uint32_t seq;
};

static struct worker g_w;

static void wadd(uint64_t *c, uint64_t n)
{
	__atomic_store_n(c, *c + n, __ATOMIC_RELAXED);
}

static uint64_t wget(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

static void worker_inject(struct worker *w, struct memif_server *s,
			  uint16_t q)
{
	static uint8_t tmpl[64];
	struct rte_mbuf *pk[BURST];
	uint16_t n = 0, sent, i;

	if (w->mode & W_FAST) {
		/* As a forwarding app would: bulk mbufs, 64-byte frames. */
		if (tmpl[12] == 0)
			pkt_fill(tmpl, 64, 0);
		if (rte_pktmbuf_alloc_bulk(g_pool, pk, BURST) != 0)
			return;
		for (i = 0; i < BURST; i++)
			rte_memcpy(rte_pktmbuf_append(pk[i], 64), tmpl, 64);
		n = BURST;
	}
	while (n < BURST) {
		pk[n] = mk_pkt((w->mode & W_BIG) ? 3000 : 64, w->seq, 1500);
		if (pk[n] == NULL)
			break;
		w->seq++;
		n++;
	}
	sent = memif_server_tx_burst(s, q, pk, n);
	if (sent < n)
		rte_pktmbuf_free_bulk(&pk[sent], n - sent);
	wadd(&w->tx, sent);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct rte_mbuf *pk[BURST];
	unsigned int idle = 0;

	/* An lcore id gives the worker a mempool cache, as in production. */
	rte_thread_register();
	rte_rcu_qsbr_thread_register(g_qsbr, 0);
	rte_rcu_qsbr_thread_online(g_qsbr, 0);
	while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
		struct memif_server *s = __atomic_load_n(&w->srv, __ATOMIC_ACQUIRE);
		int mode = __atomic_load_n(&w->mode, __ATOMIC_RELAXED);
		uint16_t nq = s != NULL ? memif_server_queues(s) : 0, q, i, n;
		bool busy = false;

		for (q = 0; q < nq; q++) {
			uint64_t ok = 0, bad = 0, ip = 0, ms = 0;

			n = memif_server_rx_burst(s, q, pk, BURST);
			if (mode & W_FAST) {
				if (n > 0) {
					busy = true;
					wadd(&w->rx, n);
					rte_pktmbuf_free_bulk(pk, n);
				}
				if (mode & W_INJECT)
					worker_inject(w, s, q);
				continue;
			}
			for (i = 0; i < n; i++) {
				int v = mbuf_verify(pk[i]);

				ok += v > 0;
				bad += v < 0;
				ms += pk[i]->nb_segs > 1;
				ip += pk[i]->pkt_len == 64 &&
				      rte_pktmbuf_mtod(pk[i], uint8_t *)[12] == 0x08 &&
				      rte_pktmbuf_mtod(pk[i], uint8_t *)[13] == 0x00;
			}
			if (n > 0) {
				busy = true;
				wadd(&w->rx, n);
				wadd(&w->rx_ok, ok);
				wadd(&w->rx_bad, bad);
				wadd(&w->rx_64_ipv4, ip);
				wadd(&w->rx_multiseg, ms);
			}
			if ((mode & W_ECHO) && n > 0) {
				uint16_t sent = memif_server_tx_burst(s, q, pk, n);

				wadd(&w->tx, sent);
				if (sent < n)
					rte_pktmbuf_free_bulk(&pk[sent], n - sent);
			} else if (n > 0) {
				rte_pktmbuf_free_bulk(pk, n);
			}
			if ((mode & W_INJECT) ||
			    ((mode & W_INJECT_IDLE) && n == 0)) {
				worker_inject(w, s, q);
				busy = true;
			}
		}
		wadd(&w->loops, 1);
		rte_rcu_qsbr_quiescent(g_qsbr, 0);
		if (nq == 0 || (!busy && ++idle > 10000)) {
			/* Idle: step out of the grace-period accounting. */
			rte_rcu_qsbr_thread_offline(g_qsbr, 0);
			usleep(nq == 0 ? 200 : 20);
			rte_rcu_qsbr_thread_online(g_qsbr, 0);
			idle = 0;
		} else if (busy) {
			idle = 0;
		}
	}
	rte_rcu_qsbr_thread_offline(g_qsbr, 0);
	rte_rcu_qsbr_thread_unregister(g_qsbr, 0);
	rte_thread_unregister();
	return NULL;
}

static void worker_attach(struct memif_server *s, int mode)
{
	__atomic_store_n(&g_w.mode, mode, __ATOMIC_RELAXED);
	__atomic_store_n(&g_w.srv, s, __ATOMIC_RELEASE);
}

/* After return the worker no longer touches the old server. */
static void worker_detach(void)
{
	__atomic_store_n(&g_w.srv, NULL, __ATOMIC_RELEASE);
	rte_rcu_qsbr_synchronize(g_qsbr, RTE_QSBR_THRID_INVALID);
}

/* ------------------------------------------------------------------------ */
/* dpdk-testpmd as a real memif client                                       */
/* ------------------------------------------------------------------------ */

static void child_all_cpus(void)
{
	cpu_set_t set;
	long i, n = sysconf(_SC_NPROCESSORS_ONLN);

	CPU_ZERO(&set);
	for (i = 0; i < n && i < CPU_SETSIZE; i++)
		CPU_SET(i, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static pid_t testpmd_start(const char *netns, const char *sock,
			   const char *secret, const char *fwd,
			   const char *out)
{
	char vdev[256], prefix[96], fm[64];
	const char *argv[48];
	int a = 0;
	pid_t pid;

	snprintf(vdev, sizeof(vdev), "net_memif0,role=client,id=%u,socket=%s%s%s",
		 TEST_ID, sock, secret ? ",secret=" : "", secret ? secret : "");
	snprintf(prefix, sizeof(prefix), "%s-tp%u", g_tag, g_seq++);
	snprintf(fm, sizeof(fm), "--forward-mode=%s", fwd);
	if (netns != NULL) {
		argv[a++] = "ip";
		argv[a++] = "netns";
		argv[a++] = "exec";
		argv[a++] = netns;
	}
	/* Line-buffered, so its periodic port stats reach the file. */
	argv[a++] = "stdbuf";
	argv[a++] = "-oL";
	argv[a++] = "dpdk-testpmd";
	argv[a++] = "--no-huge";
	argv[a++] = "--no-shconf";
	argv[a++] = "-m";
	argv[a++] = "256";
	argv[a++] = "--file-prefix";
	argv[a++] = prefix;
	argv[a++] = "--lcores=0@1,1@1";
	argv[a++] = "--no-pci";
	argv[a++] = "--no-telemetry";
	argv[a++] = getenv("MEMIF_TEST_DEBUG") != NULL ?
		    "--log-level=pmd.net.memif:debug" : "--log-level=6";
	argv[a++] = "--vdev";
	argv[a++] = vdev;
	argv[a++] = "--";
	argv[a++] = fm;
	argv[a++] = "--auto-start";
	argv[a++] = "--stats-period=1";
	argv[a++] = "--txpkts=64";
	argv[a++] = "--total-num-mbufs=8192";
	argv[a++] = "--port-topology=loop";
	/* testpmd mlockall()s by default; with --no-huge that populated
	 * and locked so much here that starting (and, once killed,
	 * exiting) took minutes. */
	argv[a++] = "--no-mlockall";
	argv[a++] = NULL;

	pid = fork();
	if (pid == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		child_all_cpus();
		if (fd < 0 || nul < 0)
			_exit(126);
		dup2(nul, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid;
}

static void child_kill(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* Largest "<key> N" in the file (testpmd's stats lines), or -1. */
static long long file_max_counter(const char *path, const char *key)
{
	FILE *f = fopen(path, "re");
	char line[512];
	long long best = -1;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		const char *p = strstr(line, key);

		if (p != NULL) {
			long long v = strtoll(p + strlen(key), NULL, 10);

			if (v > best)
				best = v;
		}
	}
	fclose(f);
	return best;
}

static void dump_file(const char *path)
{
	FILE *f = fopen(path, "re");
	char line[512];
	int n = 0;

	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL && n++ < 60)
		fprintf(stderr, "  | %s", line);
	fclose(f);
}

/* ------------------------------------------------------------------------ */
/* Raw client: the protocol by hand, for hostile cases and the kill test     */
/* ------------------------------------------------------------------------ */

enum { C2S = 0, S2C = 1 };

struct raw {
	int sock;
	int memfd;
	int efd[2];
	uint8_t *mem;
	uint64_t size;
	uint8_t log2;
	uint32_t bsize;
	uint32_t ring_off[2];
	uint32_t buf_off;
	struct memif_proto_ring *ring[2];
	uint16_t c2s_head;		/* produced */
	uint16_t s2c_next;		/* consumed */
	uint16_t s2c_head;		/* offered */
	struct memif_proto_hello hello;
	char disc[MEMIF_PROTO_DISC_SZ + 1];
};

static int raw_connect(const char *name)
{
	struct sockaddr_un un;
	size_t len = strlen(name);
	int fd, e;

	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	memcpy(un.sun_path + 1, name, len);
	if (connect(fd, (struct sockaddr *)&un,
		    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len)) < 0) {
		e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

static uint32_t raw_buf(const struct raw *r, int dir, uint32_t slot)
{
	return r->buf_off + ((uint32_t)dir * (1u << r->log2) + slot) * r->bsize;
}

/* Client memory like DPDK's copy-mode client lays it out: both rings,
 * then the buffers, in one memfd. */
static int raw_mem(struct raw *r, uint8_t log2, uint32_t bsize, bool seal)
{
	uint32_t rs = MEMIF_PROTO_RING_HDR_SIZE +
		      (uint32_t)sizeof(struct memif_proto_desc) * (1u << log2);
	int dir;
	uint32_t j;

	r->log2 = log2;
	r->bsize = bsize;
	r->ring_off[C2S] = 0;
	r->ring_off[S2C] = rs;
	r->buf_off = RTE_ALIGN_CEIL(2 * rs, 64);
	r->size = r->buf_off + 2ull * (1u << log2) * bsize;
	r->memfd = memfd_create("raw-region", MFD_CLOEXEC |
				(seal ? MFD_ALLOW_SEALING : 0));
	if (r->memfd < 0)
		return -errno;
	if (seal && fcntl(r->memfd, F_ADD_SEALS, F_SEAL_SHRINK) < 0)
		return -errno;
	if (ftruncate(r->memfd, (off_t)r->size) < 0)
		return -errno;
	r->mem = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      r->memfd, 0);
	if (r->mem == MAP_FAILED) {
		r->mem = NULL;
		return -errno;
	}
	for (dir = 0; dir < 2; dir++) {
		struct memif_proto_ring *ring =
			(struct memif_proto_ring *)(r->mem + r->ring_off[dir]);

		r->ring[dir] = ring;
		ring->cookie = MEMIF_PROTO_COOKIE;
		ring->flags = 0;
		ring->head = 0;
		ring->tail = 0;
		for (j = 0; j < (1u << log2); j++) {
			ring->desc[j].flags = 0;
			ring->desc[j].region = 0;
			ring->desc[j].length = bsize;
			ring->desc[j].offset = raw_buf(r, dir, j);
		}
		r->efd[dir] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (r->efd[dir] < 0)
			return -errno;
	}
	return 0;
}

static void raw_init(struct raw *r)
{
	memset(r, 0, sizeof(*r));
	r->sock = r->memfd = r->efd[0] = r->efd[1] = -1;
}

static void raw_close(struct raw *r)
{
	if (r->sock >= 0)
		close(r->sock);
	if (r->mem != NULL)
		munmap(r->mem, r->size);
	if (r->memfd >= 0)
		close(r->memfd);
	if (r->efd[0] >= 0)
		close(r->efd[0]);
	if (r->efd[1] >= 0)
		close(r->efd[1]);
	raw_init(r);
}

static int raw_send(int sock, uint16_t type, const void *body, size_t len,
		    int fd1, int fd2)
{
	struct memif_proto_msg m;
	union {
		char buf[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = &m, .iov_len = sizeof(m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	int fds[2], nfds = 0;

	memset(&m, 0, sizeof(m));
	m.type = type;
	if (len > 0)
		memcpy(m.raw, body, len);
	if (fd1 >= 0)
		fds[nfds++] = fd1;
	if (fd2 >= 0)
		fds[nfds++] = fd2;
	if (nfds > 0) {
		struct cmsghdr *cm;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
	}
	return sendmsg(sock, &mh, MSG_NOSIGNAL) == (ssize_t)sizeof(m) ? 0 : -errno;
}

/* Wait for a message; pumps the in-process server s (NULL: server is in
 * another process). */
static int raw_recv(int sock, struct memif_server *s,
		    struct memif_proto_msg *m, int ms)
{
	uint64_t end = now_ms() + (uint64_t)ms;

	for (;;) {
		ssize_t n = recv(sock, m, sizeof(*m), MSG_DONTWAIT);

		if (n == (ssize_t)sizeof(*m))
			return 0;
		if (n == 0)
			return -ECONNRESET;
		if (n > 0)
			return -EPROTO;
		if (errno != EAGAIN)
			return -errno;
		if (now_ms() >= end)
			return -ETIMEDOUT;
		if (s != NULL) {
			pump(s, 5);
		} else {
			struct pollfd p = { .fd = sock, .events = POLLIN };

			poll(&p, 1, 10);
		}
	}
}

static int raw_expect(struct raw *r, struct memif_server *s, uint16_t type)
{
	struct memif_proto_msg m;
	int ret = raw_recv(r->sock, s, &m, 3000);

	if (ret < 0)
		return ret;
	if (m.type == MEMIF_PROTO_MSG_DISCONNECT) {
		memcpy(r->disc, m.disconnect.string, MEMIF_PROTO_DISC_SZ);
		return -ECONNREFUSED;
	}
	if (m.type != type)
		return -EPROTO;
	if (type == MEMIF_PROTO_MSG_HELLO)
		r->hello = m.hello;
	return 0;
}

enum hs_stage { HS_HELLO, HS_INIT, HS_REGION, HS_RINGS, HS_ALL };

static int raw_send_init(struct raw *r, uint32_t id, const char *secret,
			 uint8_t mode, int fd)
{
	struct memif_proto_init in;

	memset(&in, 0, sizeof(in));
	in.version = MEMIF_PROTO_VERSION;
	in.id = id;
	in.mode = mode;
	if (secret != NULL)
		memcpy(in.secret, secret, strlen(secret));
	memcpy(in.name, "raw-client", 10);
	return raw_send(r->sock, MEMIF_PROTO_MSG_INIT, &in, sizeof(in), fd, -1);
}

static int raw_send_region(struct raw *r, uint16_t index, uint64_t size,
			   int fd)
{
	struct memif_proto_add_region ar = { .index = index, .size = size };

	return raw_send(r->sock, MEMIF_PROTO_MSG_ADD_REGION, &ar, sizeof(ar),
			fd, -1);
}

static int raw_send_ring(struct raw *r, int dir, uint16_t index,
			 uint16_t region, uint32_t offset, uint8_t log2, int fd)
{
	struct memif_proto_add_ring ar = {
		.flags = dir == C2S ? MEMIF_PROTO_RING_FLAG_C2S : 0,
		.index = index, .region = region, .offset = offset,
		.log2_ring_size = log2, .private_hdr_size = 0,
	};

	return raw_send(r->sock, MEMIF_PROTO_MSG_ADD_RING, &ar, sizeof(ar),
			fd, -1);
}

/* The good handshake, up to and including stage `upto`. */
static int raw_handshake(struct raw *r, struct memif_server *s,
			 const char *secret, enum hs_stage upto)
{
	struct memif_proto_connect cn;
	int ret, dir;

	ret = raw_expect(r, s, MEMIF_PROTO_MSG_HELLO);
	if (ret < 0 || upto == HS_HELLO)
		return ret;
	ret = raw_send_init(r, TEST_ID, secret, MEMIF_PROTO_MODE_ETHERNET, -1);
	if (ret == 0)
		ret = raw_expect(r, s, MEMIF_PROTO_MSG_ACK);
	if (ret < 0 || upto == HS_INIT)
		return ret;
	ret = raw_send_region(r, 0, r->size, r->memfd);
	if (ret == 0)
		ret = raw_expect(r, s, MEMIF_PROTO_MSG_ACK);
	if (ret < 0 || upto == HS_REGION)
		return ret;
	for (dir = 0; dir < 2; dir++) {
		ret = raw_send_ring(r, dir, 0, 0, r->ring_off[dir], r->log2,
				    r->efd[dir]);
		if (ret == 0)
			ret = raw_expect(r, s, MEMIF_PROTO_MSG_ACK);
		if (ret < 0)
			return ret;
	}
	if (upto == HS_RINGS)
		return 0;
	memset(&cn, 0, sizeof(cn));
	memcpy(cn.if_name, "raw0", 4);
	ret = raw_send(r->sock, MEMIF_PROTO_MSG_CONNECT, &cn, sizeof(cn), -1, -1);
	if (ret == 0)
		ret = raw_expect(r, s, MEMIF_PROTO_MSG_CONNECTED);
	return ret;
}

/* Connect, lay out memory, handshake up to `upto`. */
static int raw_open(struct raw *r, struct memif_server *s, const char *name,
		    uint8_t log2, uint32_t bsize, bool seal, enum hs_stage upto)
{
	int ret;

	raw_init(r);
	ret = raw_mem(r, log2, bsize, seal);
	if (ret < 0)
		return ret;
	r->sock = raw_connect(name);
	if (r->sock < 0)
		return r->sock;
	return raw_handshake(r, s, TEST_SECRET, upto);
}

/* True when the server ends this client's connection: its socket reaches
 * EOF (possibly after a DISCONNECT, whose reason lands in r->disc). */
static bool raw_dropped(struct raw *r, struct memif_server *s)
{
	struct memif_proto_msg m;

	for (;;) {
		int ret = raw_recv(r->sock, s, &m, 2000);

		if (ret == -ECONNRESET)
			return true;
		if (ret < 0)
			return false;
		if (m.type == MEMIF_PROTO_MSG_DISCONNECT)
			memcpy(r->disc, m.disconnect.string, MEMIF_PROTO_DISC_SZ);
	}
}

/* Client side of the data path. */
static void raw_c2s_put(struct raw *r, uint16_t flags, uint16_t region,
			uint32_t offset, uint32_t len, const uint8_t *data)
{
	struct memif_proto_desc *d =
		&r->ring[C2S]->desc[r->c2s_head & ((1u << r->log2) - 1)];

	if (data != NULL)
		memcpy(r->mem + offset, data, len);
	d->flags = flags;
	d->region = region;
	d->offset = offset;
	d->length = len;
	r->c2s_head++;
}

/* A well-formed packet in the slot's own buffer. */
static void raw_c2s_pkt(struct raw *r, uint16_t flags, uint32_t len,
			uint32_t seq)
{
	uint32_t off = raw_buf(r, C2S, r->c2s_head & ((1u << r->log2) - 1));

	pkt_fill(r->mem + off, len, seq);
	raw_c2s_put(r, flags, 0, off, len, NULL);
}

static void raw_c2s_publish(struct raw *r)
{
	__atomic_store_n(&r->ring[C2S]->head, r->c2s_head, __ATOMIC_RELEASE);
}

static void raw_s2c_offer(struct raw *r, uint16_t n, uint32_t len)
{
	uint16_t mask = (uint16_t)((1u << r->log2) - 1);

	while (n-- > 0) {
		struct memif_proto_desc *d = &r->ring[S2C]->desc[r->s2c_head & mask];

		d->region = 0;
		d->offset = raw_buf(r, S2C, r->s2c_head & mask);
		d->length = len;
		r->s2c_head++;
	}
	__atomic_store_n(&r->ring[S2C]->head, r->s2c_head, __ATOMIC_RELEASE);
}

/* One packet the server sent (following NEXT); length, or -1 if none. */
static long raw_s2c_take(struct raw *r, uint8_t *out, size_t max,
			 unsigned int *ndesc)
{
	uint16_t mask = (uint16_t)((1u << r->log2) - 1);
	uint16_t tail = __atomic_load_n(&r->ring[S2C]->tail, __ATOMIC_ACQUIRE);
	size_t len = 0;

	*ndesc = 0;
	if (tail == r->s2c_next)
		return -1;
	for (;;) {
		struct memif_proto_desc d = r->ring[S2C]->desc[r->s2c_next & mask];

		r->s2c_next++;
		(*ndesc)++;
		if (len + d.length <= max && d.region == 0 &&
		    d.offset + (uint64_t)d.length <= r->size)
			memcpy(out + len, r->mem + d.offset, d.length);
		len += d.length;
		if (!(d.flags & MEMIF_PROTO_DESC_FLAG_NEXT) || r->s2c_next == tail)
			break;
	}
	return (long)len;
}

/* ------------------------------------------------------------------------ */
/* The raw flood client (child process of the kill test)                     */
/* ------------------------------------------------------------------------ */

/*
 * Keeps both rings as busy as it can. Big mode: 64000-byte packets (four
 * chained 16000-byte buffers), so the worker spends most of its time
 * copying inside a burst, where a premature unmap would hurt. Small mode:
 * 64-byte packets, descriptors only (the payload stays what it was), to
 * see how fast the server side can receive.
 */
static int raw_flood_main(const char *name, bool small)
{
	uint16_t per_pkt = small ? 1 : 4, size, mask;
	uint32_t len = small ? 64 : 16000;
	struct raw r;

	if (raw_open(&r, NULL, name, small ? 10 : 8, small ? 2048 : 16384, true,
		     HS_ALL) < 0)
		return 2;
	size = (uint16_t)(1u << r.log2);
	mask = (uint16_t)(size - 1);
	if (small)
		for (uint32_t j = 0; j < size; j++)
			pkt_fill(r.mem + raw_buf(&r, C2S, j), 64, j);
	for (;;) {
		uint16_t tail = __atomic_load_n(&r.ring[C2S]->tail, __ATOMIC_ACQUIRE);
		uint16_t free_slots = (uint16_t)(size - (uint16_t)(r.c2s_head - tail));

		while (free_slots >= per_pkt) {
			for (uint16_t k = 0; k < per_pkt; k++) {
				uint32_t off = raw_buf(&r, C2S, r.c2s_head & mask);

				raw_c2s_put(&r, k + 1 < per_pkt ?
					    MEMIF_PROTO_DESC_FLAG_NEXT : 0,
					    0, off, len, NULL);
			}
			free_slots = (uint16_t)(free_slots - per_pkt);
		}
		raw_c2s_publish(&r);
		r.s2c_next = __atomic_load_n(&r.ring[S2C]->tail, __ATOMIC_ACQUIRE);
		raw_s2c_offer(&r, (uint16_t)(size - (uint16_t)(r.s2c_head - r.s2c_next)),
			      r.bsize);
	}
	return 0;
}

static pid_t raw_flood_start(const char *name, bool small)
{
	pid_t pid = fork();

	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		child_all_cpus();
		execl(g_self, g_self, "raw-flood", name, small ? "small" : "big",
		      (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* ------------------------------------------------------------------------ */
/* 1. Interop with DPDK's memif client                                       */
/* ------------------------------------------------------------------------ */

static void echo_phase(struct memif_server *s, const char *name,
		       const char *out, int mode, const char *what)
{
	uint64_t ok0 = wget(&g_w.rx_ok), bad0 = wget(&g_w.rx_bad);
	uint64_t ms0 = wget(&g_w.rx_multiseg);
	pid_t pid;

	worker_attach(s, mode);
	pid = testpmd_start(NULL, name, TEST_SECRET, "io", out);
	CHECK(PUMP_UNTIL(s, 10000, memif_server_connected(s)),
	      "echo %s: DPDK client (io) connects", what);
	pump_for(s, 1500);
	CHECK(wget(&g_w.rx_ok) - ok0 > 10000,
	      "echo %s: %" PRIu64 " of our packets came back intact", what,
	      wget(&g_w.rx_ok) - ok0);
	CHECK(wget(&g_w.rx_bad) == bad0, "echo %s: %" PRIu64
	      " came back corrupted", what, wget(&g_w.rx_bad) - bad0);
	if (mode & W_BIG)
		CHECK(wget(&g_w.rx_multiseg) - ms0 > 1000,
		      "echo %s: %" PRIu64 " multi-segment packets came back",
		      what, wget(&g_w.rx_multiseg) - ms0);
	worker_attach(s, 0);
	child_kill(pid);
	CHECK(PUMP_UNTIL(s, 5000, !memif_server_connected(s)),
	      "echo %s: client gone", what);
}

static void test_interop(void)
{
	char name[96], out[128];
	struct memif_server *s;
	struct memif_server_stats st0, st;
	uint64_t rx0, rx1, tx0, tx1, t0, t1, ok0;
	int fail0 = n_fail;
	long long tp;
	pid_t pid;

	snprintf(name, sizeof(name), "%s-interop", g_tag);
	snprintf(out, sizeof(out), "/tmp/%s-testpmd.log", g_tag);
	s = server_new(name, NULL, TEST_SECRET, NULL);
	CHECK(s != NULL, "create server %s", name);
	if (s == NULL)
		return;
	worker_attach(s, 0);

	/* a. testpmd txonly -> server rx */
	st0 = stats(s);
	pid = testpmd_start(NULL, name, TEST_SECRET, "txonly", out);
	CHECK(PUMP_UNTIL(s, 10000, memif_server_connected(s)),
	      "DPDK client (txonly) connects");
	st = stats(s);
	CHECK(st.connects == st0.connects + 1, "connects %" PRIu64, st.connects);
	CHECK(memif_server_queues(s) == 1, "1 queue pair, got %u",
	      memif_server_queues(s));
	pump_for(s, 500);
	rx0 = wget(&g_w.rx);
	ok0 = wget(&g_w.rx_64_ipv4);
	pump_for(s, 1000);
	rx1 = wget(&g_w.rx);
	CHECK(rx1 - rx0 > 10000, "server received %" PRIu64 " packets in 1 s",
	      rx1 - rx0);
	CHECK((wget(&g_w.rx_64_ipv4) - ok0) * 10 >= (rx1 - rx0) * 9,
	      "testpmd's packets arrive as 64-byte IPv4 frames (%" PRIu64
	      " of %" PRIu64 ")", wget(&g_w.rx_64_ipv4) - ok0, rx1 - rx0);
	worker_attach(s, W_FAST);
	pump_for(s, 200);
	rx0 = wget(&g_w.rx);
	t0 = now_ms();
	pump_for(s, 2000);
	rx1 = wget(&g_w.rx);
	t1 = now_ms();
	printf("rate: DPDK client txonly -> memif_server rx: %.2f Mpps (64 B)\n",
	       (double)(rx1 - rx0) / (double)(t1 - t0) / 1000.0);
	child_kill(pid);
	CHECK(PUMP_UNTIL(s, 5000, stats(s).disconnects == st0.disconnects + 1),
	      "disconnect seen after the client died");
	CHECK(!memif_server_connected(s), "not connected after client death");
	if (n_fail > fail0)
		dump_file(out);

	/* b. server tx -> testpmd rxonly: testpmd's own port counters */
	worker_attach(s, W_INJECT | W_FAST);
	pid = testpmd_start(NULL, name, TEST_SECRET, "rxonly", out);
	CHECK(PUMP_UNTIL(s, 10000, memif_server_connected(s)),
	      "DPDK client (rxonly) connects");
	pump_for(s, 500);
	tx0 = wget(&g_w.tx);
	t0 = now_ms();
	pump_for(s, 2000);
	tx1 = wget(&g_w.tx);
	t1 = now_ms();
	printf("rate: memif_server tx -> DPDK client rxonly: %.2f Mpps (64 B)\n",
	       (double)(tx1 - tx0) / (double)(t1 - t0) / 1000.0);
	pump_for(s, 1200);	/* one more stats period */
	tp = file_max_counter(out, "RX-packets:");
	CHECK(tp > 10000, "testpmd counted %lld received packets", tp);
	CHECK(tx1 - tx0 > 10000, "server sent %" PRIu64 " packets in 2 s",
	      tx1 - tx0);
	if (tp <= 10000)
		dump_file(out);
	worker_attach(s, 0);
	child_kill(pid);
	CHECK(PUMP_UNTIL(s, 5000, !memif_server_connected(s)),
	      "rxonly client gone");

	/* c. echo through testpmd (io forwarding): our packets come back
	 *    intact. d. the same with 3000-byte packets only: chained
	 *    descriptors on both rings, multi-segment mbufs.
	 * Not mixed in one connection: DPDK 22.11's client tx ORs NEXT into
	 * a descriptor's flags and never clears it on a packet's first
	 * descriptor (fixed upstream in v26.03, "net/memif: fix descriptor
	 * Tx flags corruption"), so once a slot carried a chain, a later
	 * one-descriptor packet in it is glued to the next packet. Uniform
	 * sizes keep every slot in the same role. */
	echo_phase(s, name, out, W_ECHO | W_INJECT_IDLE, "64 B");
	echo_phase(s, name, out, W_ECHO | W_INJECT_IDLE | W_BIG, "3000 B");
	/* e. receive rate without testpmd's packet building in the way: a
	 *    raw client that only rewrites descriptors. */
	worker_attach(s, W_FAST);
	pid = raw_flood_start(name, true);
	CHECK(PUMP_UNTIL(s, 5000, memif_server_connected(s)), "raw flood connects");
	pump_for(s, 300);
	rx0 = wget(&g_w.rx);
	t0 = now_ms();
	pump_for(s, 2000);
	rx1 = wget(&g_w.rx);
	t1 = now_ms();
	printf("rate: raw client (64 B, descriptors only) -> memif_server rx: "
	       "%.2f Mpps\n", (double)(rx1 - rx0) / (double)(t1 - t0) / 1000.0);
	worker_attach(s, 0);
	child_kill(pid);
	CHECK(PUMP_UNTIL(s, 5000, !memif_server_connected(s)), "raw flood gone");

	st = stats(s);
	CHECK(st.bad_desc == 0, "no bad descriptors from DPDK (%" PRIu64 ")",
	      st.bad_desc);
	printf("interop: connects %" PRIu64 " disconnects %" PRIu64
	       " tx_full %" PRIu64 " rx_nombuf %" PRIu64 "\n", st.connects,
	       st.disconnects, st.tx_full, st.rx_nombuf);
	worker_detach();
	memif_server_destroy(s);
	unlink(out);
}

/* ------------------------------------------------------------------------ */
/* 2. Refusals: id, secret, mode                                             */
/* ------------------------------------------------------------------------ */

static void test_refusals(void)
{
	static const struct {
		const char *what;
		uint32_t id;
		const char *secret;
		uint8_t mode;
	} cases[] = {
		{ "wrong id", TEST_ID + 1, TEST_SECRET, MEMIF_PROTO_MODE_ETHERNET },
		{ "wrong secret", TEST_ID, "not-the-secret", MEMIF_PROTO_MODE_ETHERNET },
		{ "secret prefix", TEST_ID, "s3cr3t", MEMIF_PROTO_MODE_ETHERNET },
		{ "no secret", TEST_ID, NULL, MEMIF_PROTO_MODE_ETHERNET },
		{ "mode ip", TEST_ID, TEST_SECRET, MEMIF_PROTO_MODE_IP },
	};
	char name[96], out[128];
	struct memif_server *s;
	struct memif_server_stats st0;
	struct raw r;
	size_t i;
	pid_t pid;

	snprintf(name, sizeof(name), "%s-refuse", g_tag);
	snprintf(out, sizeof(out), "/tmp/%s-testpmd-refuse.log", g_tag);
	s = server_new(name, NULL, TEST_SECRET, NULL);
	CHECK(s != NULL, "create server");
	if (s == NULL)
		return;
	for (i = 0; i < RTE_DIM(cases); i++) {
		st0 = stats(s);
		raw_init(&r);
		r.sock = raw_connect(name);
		CHECK(r.sock >= 0 && raw_expect(&r, s, MEMIF_PROTO_MSG_HELLO) == 0,
		      "%s: HELLO", cases[i].what);
		raw_send_init(&r, cases[i].id, cases[i].secret, cases[i].mode, -1);
		CHECK(raw_dropped(&r, s), "%s: dropped", cases[i].what);
		CHECK(stats(s).refused == st0.refused + 1, "%s: refused counted",
		      cases[i].what);
		CHECK(stats(s).connects == st0.connects && !memif_server_connected(s),
		      "%s: no connection", cases[i].what);
		CHECK(r.disc[0] != '\0', "%s: DISCONNECT with a reason",
		      cases[i].what);
		raw_close(&r);
	}

	/* A real DPDK client with the wrong secret. */
	st0 = stats(s);
	pid = testpmd_start(NULL, name, "wrong-secret", "rxonly", out);
	CHECK(PUMP_UNTIL(s, 10000, stats(s).refused == st0.refused + 1),
	      "DPDK client with a wrong secret refused");
	pump_for(s, 500);
	CHECK(stats(s).connects == st0.connects && !memif_server_connected(s),
	      "DPDK client with a wrong secret not connected");
	child_kill(pid);
	pump_for(s, 100);
	memif_server_destroy(s);
	unlink(out);
}

/* ------------------------------------------------------------------------ */
/* 3. Hostile raw clients: handshake and data path                           */
/* ------------------------------------------------------------------------ */

enum hostile {
	H_SHORT_MSG, H_UNKNOWN_TYPE, H_REGION_BEFORE_INIT, H_BAD_VERSION,
	H_INIT_WITH_FD, H_CONNECT_NO_RINGS, H_UNSEALED, H_NOT_MEMFD,
	H_REGION_TOO_SMALL, H_REGION_NO_FD, H_REGION_INDEX_GAP,
	H_TOO_MANY_REGIONS, H_RING_OUTSIDE, H_RING_TOO_BIG, H_RING_PIPE_FD,
	H_TWO_FDS, H_RING_INDEX_HIGH, H_RING_GAP, H_BAD_COOKIE, H_COUNT
};

static const char *const hostile_names[H_COUNT] = {
	"short message", "unknown type", "region before init", "bad version",
	"init with fd", "connect without rings", "unsealed memfd",
	"region not a memfd", "region smaller than declared",
	"region without fd", "region index gap", "too many regions",
	"ring outside region", "ring log2 too big", "ring fd is a pipe",
	"two fds in one message", "ring index too high", "ring index gap",
	"bad ring cookie",
};

/* Run one hostile handshake; returns true if the server dropped it. */
static bool hostile_run(struct memif_server *s, const char *name,
			enum hostile h)
{
	static const enum hs_stage stage[H_COUNT] = {
		[H_SHORT_MSG] = HS_HELLO, [H_UNKNOWN_TYPE] = HS_HELLO,
		[H_REGION_BEFORE_INIT] = HS_HELLO, [H_BAD_VERSION] = HS_HELLO,
		[H_INIT_WITH_FD] = HS_HELLO, [H_CONNECT_NO_RINGS] = HS_INIT,
		[H_UNSEALED] = HS_INIT, [H_NOT_MEMFD] = HS_INIT,
		[H_REGION_TOO_SMALL] = HS_INIT, [H_REGION_NO_FD] = HS_INIT,
		[H_REGION_INDEX_GAP] = HS_INIT, [H_TOO_MANY_REGIONS] = HS_INIT,
		[H_RING_OUTSIDE] = HS_REGION, [H_RING_TOO_BIG] = HS_REGION,
		[H_RING_PIPE_FD] = HS_REGION, [H_TWO_FDS] = HS_INIT,
		[H_RING_INDEX_HIGH] = HS_REGION, [H_RING_GAP] = HS_REGION,
		[H_BAD_COOKIE] = HS_RINGS,
	};
	struct memif_proto_init in;
	struct memif_proto_connect cn = { { 0 } };
	struct raw r;
	bool dropped;
	int ret, p[2], i;

	ret = raw_open(&r, s, name, 6, 2048, h != H_UNSEALED, stage[h]);
	if (ret < 0) {
		fprintf(stderr, "hostile %s: setup failed: %d (%s)\n",
			hostile_names[h], ret, r.disc);
		raw_close(&r);
		return false;
	}
	switch (h) {
	case H_SHORT_MSG:
		send(r.sock, "garbage!!!", 10, MSG_NOSIGNAL);
		break;
	case H_UNKNOWN_TYPE:
		raw_send(r.sock, 99, NULL, 0, -1, -1);
		break;
	case H_REGION_BEFORE_INIT:
		raw_send_region(&r, 0, r.size, r.memfd);
		break;
	case H_BAD_VERSION:
		memset(&in, 0, sizeof(in));
		in.version = 0x0100;
		in.id = TEST_ID;
		memcpy(in.secret, TEST_SECRET, strlen(TEST_SECRET));
		raw_send(r.sock, MEMIF_PROTO_MSG_INIT, &in, sizeof(in), -1, -1);
		break;
	case H_INIT_WITH_FD:
		raw_send_init(&r, TEST_ID, TEST_SECRET, 0, r.efd[0]);
		break;
	case H_CONNECT_NO_RINGS:
		raw_send(r.sock, MEMIF_PROTO_MSG_CONNECT, &cn, sizeof(cn), -1, -1);
		break;
	case H_UNSEALED:
		raw_send_region(&r, 0, r.size, r.memfd);
		break;
	case H_NOT_MEMFD:
		i = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
		raw_send_region(&r, 0, 4096, i);
		close(i);
		break;
	case H_REGION_TOO_SMALL:
		raw_send_region(&r, 0, r.size + 4096, r.memfd);
		break;
	case H_REGION_NO_FD:
		raw_send_region(&r, 0, r.size, -1);
		break;
	case H_REGION_INDEX_GAP:
		raw_send_region(&r, 1, r.size, r.memfd);
		break;
	case H_TOO_MANY_REGIONS:
		/* HELLO said how many are allowed; every one of those is
		 * ACKed, the next one is refused. */
		for (i = 0; i <= r.hello.max_region; i++) {
			raw_send_region(&r, (uint16_t)i, r.size, r.memfd);
			if (raw_expect(&r, s, MEMIF_PROTO_MSG_ACK) < 0) {
				fprintf(stderr, "region %d of %u not ACKed\n", i,
					r.hello.max_region + 1);
				raw_close(&r);
				return false;
			}
		}
		raw_send_region(&r, (uint16_t)i, r.size, r.memfd);
		break;
	case H_RING_OUTSIDE:
		raw_send_ring(&r, C2S, 0, 0, (uint32_t)r.size - 64, r.log2,
			      r.efd[0]);
		break;
	case H_RING_TOO_BIG:
		raw_send_ring(&r, C2S, 0, 0, 0,
			      (uint8_t)(r.hello.max_log2_ring_size + 1), r.efd[0]);
		break;
	case H_RING_PIPE_FD:
		if (pipe2(p, O_CLOEXEC) == 0) {
			raw_send_ring(&r, C2S, 0, 0, 0, r.log2, p[1]);
			close(p[0]);
			close(p[1]);
		}
		break;
	case H_TWO_FDS: {
		struct memif_proto_add_region ar = { .index = 0, .size = r.size };

		raw_send(r.sock, MEMIF_PROTO_MSG_ADD_REGION, &ar, sizeof(ar),
			 r.memfd, r.memfd);
		break;
	}
	case H_RING_INDEX_HIGH:
		raw_send_ring(&r, C2S, (uint16_t)(r.hello.max_c2s_ring + 1), 0,
			      r.ring_off[C2S], r.log2, r.efd[0]);
		break;
	case H_RING_GAP:
		raw_send_ring(&r, C2S, 1, 0, r.ring_off[C2S], r.log2, r.efd[0]);
		if (raw_expect(&r, s, MEMIF_PROTO_MSG_ACK) < 0)
			break;	/* refused already: fine too */
		raw_send(r.sock, MEMIF_PROTO_MSG_CONNECT, &cn, sizeof(cn), -1, -1);
		break;
	case H_BAD_COOKIE:
		r.ring[S2C]->cookie = 0xdead;
		raw_send(r.sock, MEMIF_PROTO_MSG_CONNECT, &cn, sizeof(cn), -1, -1);
		break;
	default:
		break;
	}
	dropped = raw_dropped(&r, s);
	if (!dropped)
		fprintf(stderr, "hostile %s: not dropped\n", hostile_names[h]);
	raw_close(&r);
	return dropped;
}

static uint16_t rx_some(struct memif_server *s, struct rte_mbuf **pk)
{
	return memif_server_rx_burst(s, 0, pk, BURST);
}

static void test_data_path(struct memif_server *s, const char *name)
{
	struct rte_mbuf *pk[BURST];
	uint8_t buf[16384];
	struct memif_server_stats st0;
	struct raw r, r2;
	unsigned int nd;
	uint64_t cnt;
	uint16_t n, i;
	long len;
	int ret;

	/* Ring of 128: room for the long-chain case. */
	ret = raw_open(&r, s, name, 7, 2048, true, HS_ALL);
	CHECK(ret == 0, "good raw client connects (%d, %s)", ret, r.disc);
	if (ret != 0) {
		raw_close(&r);
		return;
	}
	CHECK(memif_server_connected(s), "connected");
	CHECK(r.ring[C2S]->flags & MEMIF_PROTO_RING_FLAG_MASK_INT,
	      "server masks interrupts on its receive ring");

	/* D1: well-formed packets arrive intact. */
	raw_c2s_pkt(&r, 0, 60, 1);
	raw_c2s_pkt(&r, 0, 100, 2);
	raw_c2s_pkt(&r, 0, 1500, 3);
	raw_c2s_publish(&r);
	n = rx_some(s, pk);
	CHECK(n == 3, "D1: 3 packets, got %u", n);
	for (i = 0; i < n; i++)
		CHECK(mbuf_verify(pk[i]) == 1, "D1: packet %u intact", i);
	CHECK(__atomic_load_n(&r.ring[C2S]->tail, __ATOMIC_ACQUIRE) == r.c2s_head,
	      "D1: tail released");
	rte_pktmbuf_free_bulk(pk, n);

	/* D2-D5: descriptors pointing outside the client's memory. */
	st0 = stats(s);
	raw_c2s_put(&r, 0, 5, 0, 64, NULL);			/* region */
	raw_c2s_put(&r, 0, 0, (uint32_t)r.size - 10, 64, NULL);	/* offset+len */
	raw_c2s_put(&r, 0, 0, 0xfffffff0u, 0x20, NULL);		/* wrap */
	raw_c2s_put(&r, 0, 0, 0, 0, NULL);			/* empty */
	raw_c2s_put(&r, 0, 0, 0, 0xffffffffu, NULL);		/* huge */
	raw_c2s_pkt(&r, 0, 64, 4);
	raw_c2s_publish(&r);
	n = rx_some(s, pk);
	CHECK(n == 1 && mbuf_verify(pk[0]) == 1,
	      "D2-5: only the good packet delivered (%u)", n);
	CHECK(stats(s).bad_desc == st0.bad_desc + 5, "D2-5: 5 bad_desc, got %" PRIu64,
	      stats(s).bad_desc - st0.bad_desc);
	rte_pktmbuf_free_bulk(pk, n);

	/* D6: a chain of three descriptors, longer than one mbuf. */
	raw_c2s_pkt(&r, 0, 64, 5);	/* keep slot math simple: own buffers */
	{
		uint8_t p[2500];
		uint32_t o0 = raw_buf(&r, C2S, r.c2s_head & 127);

		pkt_fill(p, 2500, 6);
		raw_c2s_put(&r, MEMIF_PROTO_DESC_FLAG_NEXT, 0, o0, 1000, p);
		raw_c2s_put(&r, MEMIF_PROTO_DESC_FLAG_NEXT, 0,
			    raw_buf(&r, C2S, r.c2s_head & 127), 1000, p + 1000);
		raw_c2s_put(&r, 0, 0, raw_buf(&r, C2S, r.c2s_head & 127), 500,
			    p + 2000);
	}
	raw_c2s_publish(&r);
	n = rx_some(s, pk);
	CHECK(n == 2, "D6: 2 packets, got %u", n);
	if (n == 2) {
		CHECK(pk[1]->pkt_len == 2500 && pk[1]->nb_segs == 2,
		      "D6: chained packet is 2500 B in 2 segments (%u, %u)",
		      pk[1]->pkt_len, pk[1]->nb_segs);
		CHECK(mbuf_verify(pk[1]) == 1, "D6: chained packet intact");
	}
	rte_pktmbuf_free_bulk(pk, n);

	/* D7: incomplete chain waits, then completes. */
	st0 = stats(s);
	{
		uint8_t p[300];

		pkt_fill(p, 300, 7);
		raw_c2s_put(&r, MEMIF_PROTO_DESC_FLAG_NEXT, 0,
			    raw_buf(&r, C2S, r.c2s_head & 127), 200, p);
		raw_c2s_publish(&r);
		n = rx_some(s, pk);
		CHECK(n == 0 && stats(s).bad_desc == st0.bad_desc,
		      "D7: half-published chain waits (%u)", n);
		raw_c2s_put(&r, 0, 0, raw_buf(&r, C2S, r.c2s_head & 127), 100,
			    p + 200);
		raw_c2s_publish(&r);
		n = rx_some(s, pk);
		CHECK(n == 1 && pk[0]->pkt_len == 300 && mbuf_verify(pk[0]) == 1,
		      "D7: completed chain delivered (%u)", n);
		rte_pktmbuf_free_bulk(pk, n);
	}

	/* D8: a chain longer than the server follows. */
	st0 = stats(s);
	for (i = 0; i < 70; i++)
		raw_c2s_put(&r, MEMIF_PROTO_DESC_FLAG_NEXT, 0,
			    raw_buf(&r, C2S, r.c2s_head & 127), 16, NULL);
	raw_c2s_put(&r, 0, 0, raw_buf(&r, C2S, r.c2s_head & 127), 16, NULL);
	raw_c2s_publish(&r);
	cnt = 0;
	do {
		n = rx_some(s, pk);
		cnt += n;
		rte_pktmbuf_free_bulk(pk, n);
	} while (n > 0);
	CHECK(stats(s).bad_desc > st0.bad_desc, "D8: over-long chain rejected");
	CHECK(__atomic_load_n(&r.ring[C2S]->tail, __ATOMIC_ACQUIRE) == r.c2s_head,
	      "D8: ring drained (tail %u head %u)", r.ring[C2S]->tail, r.c2s_head);

	/* D9: head far beyond tail. */
	st0 = stats(s);
	__atomic_store_n(&r.ring[C2S]->head, (uint16_t)(r.c2s_head + 40000),
			 __ATOMIC_RELEASE);
	cnt = 0;
	for (i = 0; i < 10; i++) {
		n = memif_server_rx_burst(s, 0, pk, BURST);
		cnt += n;
		rte_pktmbuf_free_bulk(pk, n);
	}
	CHECK(stats(s).bad_desc > st0.bad_desc, "D9: runaway head counted");
	CHECK(cnt <= 10 * BURST, "D9: bounded (%" PRIu64 ")", cnt);
	/* Resynchronise the client with where the server is. */
	r.c2s_head = __atomic_load_n(&r.ring[C2S]->tail, __ATOMIC_ACQUIRE);
	raw_c2s_publish(&r);
	raw_c2s_pkt(&r, 0, 64, 9);
	raw_c2s_publish(&r);
	n = rx_some(s, pk);
	CHECK(n == 1 && mbuf_verify(pk[0]) == 1, "D9: ring usable again");
	rte_pktmbuf_free_bulk(pk, n);

	/* T1: server -> client, including a 3000 B packet over two of the
	 * client's 2048 B buffers. The client wants interrupts (flags 0). */
	{
		struct rte_mbuf *t[3] = { mk_pkt(64, 11, 2048),
					  mk_pkt(1500, 12, 2048),
					  mk_pkt(3000, 13, 1000) };
		uint64_t ev = 0;

		raw_s2c_offer(&r, 4, 2048);
		n = memif_server_tx_burst(s, 0, t, 3);
		CHECK(n == 3, "T1: 3 sent, got %u", n);
		len = raw_s2c_take(&r, buf, sizeof(buf), &nd);
		CHECK(len == 64 && nd == 1 && pkt_verify(buf, 64) == 1, "T1: 64 B");
		len = raw_s2c_take(&r, buf, sizeof(buf), &nd);
		CHECK(len == 1500 && nd == 1 && pkt_verify(buf, 1500) == 1,
		      "T1: 1500 B");
		len = raw_s2c_take(&r, buf, sizeof(buf), &nd);
		CHECK(len == 3000 && nd == 2 && pkt_verify(buf, 3000) == 1,
		      "T1: 3000 B over 2 buffers (len %ld, %u descs)", len, nd);
		/* One kick per burst, not one per packet: the eventfd
		 * counts writes. */
		CHECK(read(r.efd[S2C], &ev, 8) == 8 && ev == 1,
		      "T1: client that asked for interrupts got one kick for "
		      "a burst of 3 (counter %" PRIu64 ")", ev);
	}

	/* T2: no offered buffers -> nothing consumed, counted full. */
	st0 = stats(s);
	{
		struct rte_mbuf *t = mk_pkt(64, 14, 2048);
		uint64_t ev;

		n = memif_server_tx_burst(s, 0, &t, 1);
		CHECK(n == 0 && stats(s).tx_full == st0.tx_full + 1,
		      "T2: ring full: not consumed, counted");
		CHECK(read(r.efd[S2C], &ev, 8) < 0,
		      "T2: no kick when nothing was published");
		rte_pktmbuf_free(t);
	}

	/* T3: a bad offered descriptor is skipped: it goes back as an empty
	 * first segment of the packet's chain. Also: a client that masks
	 * interrupts gets none. */
	st0 = stats(s);
	{
		struct rte_mbuf *t = mk_pkt(64, 15, 2048);
		uint16_t mask = 127;
		uint64_t ev;

		r.ring[S2C]->flags = MEMIF_PROTO_RING_FLAG_MASK_INT;
		raw_s2c_offer(&r, 2, 2048);
		r.ring[S2C]->desc[(uint16_t)(r.s2c_head - 2) & mask].region = 9;
		n = memif_server_tx_burst(s, 0, &t, 1);
		CHECK(n == 1 && stats(s).bad_desc == st0.bad_desc + 1,
		      "T3: sent around the bad buffer, counted");
		CHECK(r.ring[S2C]->desc[(uint16_t)(r.s2c_head - 2) & mask].length == 0,
		      "T3: bad buffer came back empty");
		len = raw_s2c_take(&r, buf, sizeof(buf), &nd);
		CHECK(len == 64 && nd == 2 && pkt_verify(buf, 64) == 1,
		      "T3: packet in the next buffer (len %ld, %u descs)", len, nd);
		CHECK(read(r.efd[S2C], &ev, 8) < 0, "T3: no interrupt when masked");
	}

	/* T4: too big for any chain the client's buffers allow: dropped. */
	st0 = stats(s);
	{
		struct rte_mbuf *t = mk_pkt(9000, 16, 2048);
		uint16_t tail0 = r.ring[S2C]->tail;

		raw_s2c_offer(&r, 100, 100);
		n = memif_server_tx_burst(s, 0, &t, 1);
		CHECK(n == 1 && stats(s).tx_too_big == st0.tx_too_big + 1,
		      "T4: too big: consumed and counted");
		CHECK(r.ring[S2C]->tail == tail0, "T4: nothing published");
	}

	/* A second client while one is connected: turned away. */
	st0 = stats(s);
	raw_init(&r2);
	r2.sock = raw_connect(name);
	CHECK(raw_dropped(&r2, s) && strstr(r2.disc, "connected") != NULL,
	      "second client turned away (%s)", r2.disc);
	CHECK(stats(s).refused == st0.refused + 1 && memif_server_connected(s),
	      "second client counted, first still connected");
	raw_close(&r2);

	/* Garbage once connected: the connection ends. */
	st0 = stats(s);
	raw_send(r.sock, MEMIF_PROTO_MSG_ADD_REGION, NULL, 0, -1, -1);
	CHECK(raw_dropped(&r, s), "garbage after connect: dropped");
	CHECK(!memif_server_connected(s) &&
	      stats(s).disconnects == st0.disconnects + 1,
	      "garbage after connect: disconnected");
	CHECK(memif_server_rx_burst(s, 0, pk, BURST) == 0 &&
	      memif_server_tx_burst(s, 0, pk, 0) == 0,
	      "bursts after disconnect return 0");
	raw_close(&r);
}

static void test_hostile(void)
{
	char name[96];
	struct memif_server *s;
	struct memif_server_stats st0;
	struct raw r, r2;
	int h, fds0, maps0;

	snprintf(name, sizeof(name), "%s-hostile", g_tag);
	s = server_new(name, NULL, TEST_SECRET, NULL);
	CHECK(s != NULL, "create server");
	if (s == NULL)
		return;
	fds0 = count_fds();
	maps0 = count_maps();
	for (h = 0; h < H_COUNT; h++) {
		st0 = stats(s);
		CHECK(hostile_run(s, name, (enum hostile)h), "%s: dropped",
		      hostile_names[h]);
		CHECK(stats(s).refused == st0.refused + 1 &&
		      stats(s).connects == st0.connects,
		      "%s: refused, no connection", hostile_names[h]);
	}
	CHECK(count_fds() == fds0, "hostile handshakes leak no fds (%d -> %d)",
	      fds0, count_fds());
	CHECK(count_maps() == maps0, "hostile handshakes leak no mappings (%d -> %d)",
	      maps0, count_maps());

	test_data_path(s, name);

	/* A stalled handshake keeps its slot for a while, then yields it. */
	st0 = stats(s);
	raw_init(&r);
	r.sock = raw_connect(name);
	CHECK(raw_expect(&r, s, MEMIF_PROTO_MSG_HELLO) == 0, "staller: HELLO");
	raw_init(&r2);
	r2.sock = raw_connect(name);
	CHECK(raw_dropped(&r2, s), "client behind a fresh staller: turned away");
	raw_close(&r2);
	pump_for(s, 5200);
	CHECK(raw_open(&r2, s, name, 6, 2048, true, HS_ALL) == 0,
	      "client behind a stale staller: connects");
	CHECK(raw_dropped(&r, s), "stale staller dropped");
	CHECK(stats(s).connects == st0.connects + 1, "connected after staller");
	raw_close(&r);
	raw_close(&r2);
	CHECK(PUMP_UNTIL(s, 2000, !memif_server_connected(s)), "closed client gone");

	/* And a good client still works after all that. */
	CHECK(raw_open(&r, s, name, 6, 2048, true, HS_ALL) == 0,
	      "good client after hostile ones connects");
	raw_close(&r);
	CHECK(PUMP_UNTIL(s, 2000, !memif_server_connected(s)), "good client gone");
	memif_server_destroy(s);
	CHECK(count_fds() == fds0 - 1, "server destroy closes all fds (%d -> %d)",
	      fds0, count_fds());
}

/* ------------------------------------------------------------------------ */
/* 4. Kill under load                                                        */
/* ------------------------------------------------------------------------ */

static void kill_loop(struct memif_server *s, const char *name, bool testpmd,
		      int iters, unsigned int *seed, int max_delay_ms)
{
	struct memif_server_stats st0 = stats(s), st;
	char out[128];
	int i, fds0 = -1, maps0 = -1, warm = 1;
	uint64_t loops0;

	snprintf(out, sizeof(out), "/tmp/%s-testpmd-kill.log", g_tag);
	for (i = -warm; i < iters; i++) {
		const char *fwd = (i & 1) ? "io" : "txonly";
		pid_t pid;
		int delay;

		if (i == 0) {
			/* After one warm-up round: lazily created state
			 * (allocator arenas, ...) exists before we count. */
			st0 = stats(s);
			fds0 = count_fds();
			maps0 = count_maps();
		}
		pid = testpmd ? testpmd_start(NULL, name, TEST_SECRET, fwd, out) :
				raw_flood_start(name, false);
		if (!PUMP_UNTIL(s, 10000, memif_server_connected(s))) {
			CHECK(false, "iteration %d: client never connected", i);
			if (testpmd)
				dump_file(out);
			child_kill(pid);
			break;
		}
		delay = (int)(rand_r(seed) % (unsigned int)(max_delay_ms + 1));
		loops0 = wget(&g_w.loops);
		pump_for(s, delay);
		child_kill(pid);
		if (!PUMP_UNTIL(s, 5000, !memif_server_connected(s))) {
			CHECK(false, "iteration %d: disconnect not seen", i);
			break;
		}
		CHECK(delay < 50 || wget(&g_w.loops) > loops0,
		      "iteration %d: worker kept running", i);
	}
	st = stats(s);
	printf("kill (%s): %d iterations, connects %" PRIu64 " disconnects %"
	       PRIu64 " bad_desc %" PRIu64 " rx %" PRIu64 " tx %" PRIu64 "\n",
	       testpmd ? "testpmd" : "raw flood", iters, st.connects - st0.connects,
	       st.disconnects - st0.disconnects, st.bad_desc, wget(&g_w.rx),
	       wget(&g_w.tx));
	CHECK(st.connects - st0.connects == (uint64_t)iters,
	      "connects == iterations (%" PRIu64 ")", st.connects - st0.connects);
	CHECK(st.disconnects - st0.disconnects == (uint64_t)iters,
	      "disconnects == iterations (%" PRIu64 ")",
	      st.disconnects - st0.disconnects);
	CHECK(count_fds() == fds0, "no fd leak (%d -> %d)", fds0, count_fds());
	CHECK(count_maps() == maps0, "no mapping leak (%d -> %d)", maps0,
	      count_maps());
	unlink(out);
}

static void test_kill(void)
{
	char name[96];
	struct memif_server *s;
	unsigned int seed = (unsigned int)time(NULL) ^ (unsigned int)getpid();
	uint64_t rx0;

	printf("kill test seed %u\n", seed);
	snprintf(name, sizeof(name), "%s-kill", g_tag);
	s = server_new(name, NULL, TEST_SECRET, NULL);
	CHECK(s != NULL, "create server");
	if (s == NULL)
		return;
	/* Echo what arrives and keep packets in flight: with io forwarding
	 * the rings carry traffic both ways when the client dies. */
	worker_attach(s, W_ECHO | W_INJECT_IDLE);
	rx0 = wget(&g_w.rx);
	kill_loop(s, name, true, KILL_ITERS, &seed, 400);
	CHECK(wget(&g_w.rx) - rx0 > 100000, "traffic flowed during the kills (%"
	      PRIu64 ")", wget(&g_w.rx) - rx0);
	/* The raw flood client: long bursts (64000 B packets), so most kills
	 * land while the worker is inside rx_burst/tx_burst. */
	rx0 = wget(&g_w.rx);
	kill_loop(s, name, false, KILL_ITERS, &seed, 60);
	CHECK(wget(&g_w.rx) - rx0 > 1000, "raw flood traffic flowed (%" PRIu64 ")",
	      wget(&g_w.rx) - rx0);
	worker_detach();
	memif_server_destroy(s);
}

/* ------------------------------------------------------------------------ */
/* 5. Names and namespaces                                                   */
/* ------------------------------------------------------------------------ */

static int run(const char *cmd)
{
	int ret = system(cmd);

	return (ret == -1 || !WIFEXITED(ret)) ? -1 : WEXITSTATUS(ret);
}

static ino_t netns_ino(void)
{
	struct stat st;

	return stat("/proc/thread-self/ns/net", &st) == 0 ? st.st_ino : 0;
}

static void test_names(void)
{
	char name[96], ns[64], path[128], cmd[256], out[128];
	struct memif_server *s, *s2;
	int err, fail0 = n_fail;
	ino_t ino;
	pid_t pid;

	/* create / destroy / create: the name is free right away. */
	snprintf(name, sizeof(name), "%s-names", g_tag);
	s = server_new(name, NULL, NULL, &err);
	CHECK(s != NULL, "create %s (%d)", name, err);
	s2 = server_new(name, NULL, NULL, &err);
	CHECK(s2 == NULL && err == -EADDRINUSE, "same name twice: EADDRINUSE (%d)",
	      err);
	memif_server_destroy(s2);
	memif_server_destroy(s);
	s = server_new(name, NULL, NULL, &err);
	CHECK(s != NULL, "re-create after destroy (%d)", err);
	memif_server_destroy(s);
	CHECK(raw_connect(name) == -ECONNREFUSED, "nothing listens after destroy");
	s = server_new(name, "/run/netns/shunt-no-such-ns", NULL, &err);
	CHECK(s == NULL && err == -ENOENT, "missing netns: ENOENT (%d)", err);

	/* netns: the listener lives in the pod's namespace. */
	snprintf(ns, sizeof(ns), "%s", g_tag);
	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	snprintf(cmd, sizeof(cmd), "ip netns add %s", ns);
	if (run(cmd) != 0) {
		CHECK(false, "ip netns add %s", ns);
		return;
	}
	ino = netns_ino();
	s = server_new(name, path, TEST_SECRET, &err);
	CHECK(s != NULL, "create in netns (%d)", err);
	CHECK(netns_ino() == ino, "calling thread back in its own netns");
	if (s != NULL) {
		int fd = raw_connect(name);

		CHECK(fd == -ECONNREFUSED,
		      "host-namespace client: ECONNREFUSED (%d)", fd);
		if (fd >= 0)
			close(fd);
		/* Same name in the host namespace: a different socket. */
		s2 = server_new(name, NULL, NULL, &err);
		CHECK(s2 != NULL, "same name in the host netns (%d)", err);
		memif_server_destroy(s2);

		snprintf(out, sizeof(out), "/tmp/%s-testpmd-ns.log", g_tag);
		worker_attach(s, 0);
		pid = testpmd_start(ns, name, TEST_SECRET, "txonly", out);
		CHECK(PUMP_UNTIL(s, 10000, memif_server_connected(s)),
		      "testpmd in the pod's netns connects");
		{
			uint64_t rx0 = wget(&g_w.rx);

			pump_for(s, 1000);
			CHECK(wget(&g_w.rx) - rx0 > 10000,
			      "traffic from the netns client (%" PRIu64 ")",
			      wget(&g_w.rx) - rx0);
		}
		child_kill(pid);
		CHECK(PUMP_UNTIL(s, 5000, !memif_server_connected(s)),
		      "netns client gone");
		worker_detach();
		if (n_fail > fail0)
			dump_file(out);
		unlink(out);
		memif_server_destroy(s);
	}
	/* Destroy freed the name in the pod's namespace too. */
	s = server_new(name, path, NULL, &err);
	CHECK(s != NULL, "re-create in netns after destroy (%d)", err);
	memif_server_destroy(s);
	snprintf(cmd, sizeof(cmd), "ip netns del %s", ns);
	run(cmd);
}

/* ------------------------------------------------------------------------ */

static int init_dpdk(const char *argv0)
{
	char prefix[96];
	char *eal[] = {
		(char *)argv0, "--no-huge", "--no-shconf", "-l", "0", "-m", "256",
		"--log-level=5", "--no-pci", "--no-telemetry", "--file-prefix",
		prefix, NULL,
	};
	size_t sz;

	snprintf(prefix, sizeof(prefix), "%s-eal", g_tag);
	if (rte_eal_init((int)RTE_DIM(eal) - 1, eal) < 0)
		return -1;
	g_pool = rte_pktmbuf_pool_create("memif_test", 16383, 256, 0,
					 RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	sz = rte_rcu_qsbr_get_memsize(4);
	g_qsbr = rte_zmalloc("memif_test_qsbr", sz, RTE_CACHE_LINE_SIZE);
	if (g_pool == NULL || g_qsbr == NULL || rte_rcu_qsbr_init(g_qsbr, 4) != 0)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	const char *only;
	ssize_t n;

	if (argc >= 4 && strcmp(argv[1], "raw-flood") == 0)
		return raw_flood_main(argv[2], strcmp(argv[3], "small") == 0);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (geteuid() != 0) {
		printf("SKIP: needs root (netns, dpdk-testpmd)\n");
		return 77;
	}
	if (run("command -v dpdk-testpmd >/dev/null && command -v stdbuf >/dev/null"
		" && command -v ip >/dev/null") != 0) {
		printf("SKIP: needs dpdk-testpmd, stdbuf and ip\n");
		return 77;
	}
	n = readlink("/proc/self/exe", g_self, sizeof(g_self) - 1);
	if (n < 0)
		return 1;
	g_self[n] = '\0';
	snprintf(g_tag, sizeof(g_tag), "shunt-mt%d", (int)getpid());
	signal(SIGPIPE, SIG_IGN);
	if (getenv("MEMIF_TEST_DEBUG") != NULL)
		log_set_level(LOG_LVL_DEBUG);
	if (init_dpdk(argv[0]) < 0) {
		fprintf(stderr, "EAL/mempool/qsbr init failed\n");
		return 1;
	}
	if (pthread_create(&g_w.tid, NULL, worker_main, &g_w) != 0)
		return 1;

	/* MEMIF_TEST_ONLY=134 runs parts 1, 3 and 4 (for debugging). */
	only = getenv("MEMIF_TEST_ONLY");
	if (only == NULL || strchr(only, '1')) {
		printf("== 1. interop with dpdk-testpmd (net_memif role=client)\n");
		test_interop();
	}
	if (only == NULL || strchr(only, '2')) {
		printf("== 2. refusals\n");
		test_refusals();
	}
	if (only == NULL || strchr(only, '3')) {
		printf("== 3. hostile raw clients\n");
		test_hostile();
	}
	if (only == NULL || strchr(only, '4')) {
		printf("== 4. kill under load\n");
		test_kill();
	}
	if (only == NULL || strchr(only, '5')) {
		printf("== 5. names and network namespaces\n");
		test_names();
	}

	__atomic_store_n(&g_w.stop, true, __ATOMIC_RELEASE);
	pthread_join(g_w.tid, NULL);
	rte_eal_cleanup();
	printf("%d passed, %d failed\n", n_pass, n_fail);
	return n_fail == 0 ? 0 : 1;
}
