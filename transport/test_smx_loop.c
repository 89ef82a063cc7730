/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smx end to end in one process: two endpoints, each on the data plane's
 * own memif server (dataplane/memif_server.c), joined by a "switch" thread
 * that answers the gateway ARP and forwards between the two with a chosen
 * loss rate. Small memif buffers (2 KiB) make every frame a descriptor
 * chain, so payload pieces straddle buffers and are stitched.
 *
 * Covers: ordered delivery with odd message sizes and mismatched send and
 * receive boundaries, loss recovery (retransmissions counted), a silent
 * peer failing requests with -ETIMEDOUT, a restarted peer (new session)
 * resetting the old state, the server going away (-ENOTCONN, no crash).
 *
 * Needs DPDK's EAL (--no-huge); exits 77 when it cannot start.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>

#include "memif_server.h"
#include "smx_internal.h"

#include "unit/check.h"

/* ---- the switch ---- */

static struct rte_mempool *g_pool;
static struct rte_rcu_qsbr *g_qsbr;
static const uint8_t gw_mac[6] = { 0x02, 0x5e, 0, 0, 0, 0x01 };

struct sw {
	struct memif_server *srv[2];
	int loss_per_1024;		/* written by main, read by the switch */
	int kill_a;			/* main asks: destroy server 0 */
	int stop;
	uint64_t dropped;
	pthread_t tid;
};
static struct sw g_sw;

/* Turn an ARP request for the gateway into its reply, in place. */
static int sw_arp(struct rte_mbuf *m)
{
	uint8_t *b = rte_pktmbuf_mtod(m, uint8_t *), *a = b + 14;

	if (m->data_len < 42 || b[12] != 0x08 || b[13] != 0x06 || a[7] != 1 ||
	    memcmp(a + 24, "\xa9\xfe\x01\x01", 4) != 0)
		return 0;
	memcpy(b, b + 6, 6);
	memcpy(b + 6, gw_mac, 6);
	a[7] = 2;
	memcpy(a + 18, a + 8, 10);	/* target = the asker */
	memcpy(a + 8, gw_mac, 6);
	memcpy(a + 14, "\xa9\xfe\x01\x01", 4);
	return 1;
}

static void *sw_main(void *arg)
{
	struct sw *w = arg;
	struct rte_mbuf *pk[32], *fwd[32], *back[32];
	unsigned int seed = 12345;

	rte_rcu_qsbr_thread_register(g_qsbr, 0);
	rte_rcu_qsbr_thread_online(g_qsbr, 0);
	while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
		int fds[4], n, i, k;

		/* Control path: the servers synchronise on RCU, which must
		 * not wait for this thread itself. */
		rte_rcu_qsbr_thread_offline(g_qsbr, 0);
		if (__atomic_load_n(&w->kill_a, __ATOMIC_ACQUIRE) && w->srv[0] != NULL) {
			memif_server_destroy(w->srv[0]);
			w->srv[0] = NULL;
		}
		for (k = 0; k < 2; k++) {
			if (w->srv[k] == NULL)
				continue;
			n = memif_server_fds(w->srv[k], fds, 4);
			for (i = 0; i < n; i++) {
				struct pollfd p = { .fd = fds[i], .events = POLLIN };

				if (poll(&p, 1, 0) > 0)
					memif_server_handle(w->srv[k], fds[i]);
			}
		}
		rte_rcu_qsbr_thread_online(g_qsbr, 0);

		for (k = 0; k < 2; k++) {
			uint16_t nrx, nf = 0, nb = 0, sent;

			if (w->srv[k] == NULL)
				continue;
			nrx = memif_server_rx_burst(w->srv[k], 0, pk, 32);
			for (i = 0; i < nrx; i++) {
				int loss = __atomic_load_n(&w->loss_per_1024, __ATOMIC_RELAXED);

				if (sw_arp(pk[i]))
					back[nb++] = pk[i];
				else if ((int)(rand_r(&seed) & 1023) < loss ||
					 w->srv[1 - k] == NULL) {
					rte_pktmbuf_free(pk[i]);
					w->dropped++;
				} else {
					fwd[nf++] = pk[i];
				}
			}
			if (nb > 0) {
				sent = memif_server_tx_burst(w->srv[k], 0, back, nb);
				rte_pktmbuf_free_bulk(back + sent, nb - sent);
			}
			if (nf > 0) {
				sent = memif_server_tx_burst(w->srv[1 - k], 0, fwd, nf);
				w->dropped += nf - sent;
				rte_pktmbuf_free_bulk(fwd + sent, nf - sent);
			}
		}
		rte_rcu_qsbr_quiescent(g_qsbr, 0);
	}
	rte_rcu_qsbr_thread_offline(g_qsbr, 0);
	return NULL;
}

/* ---- helpers ---- */

static char g_name[2][64];

static struct smx *ep_open(int k)
{
	struct smx_conf c = {
		.mac = { 0x0a, 0x58, 0, 0, 0, (uint8_t)(k + 1) },
		.buffer_size = 2048,
		.log2_ring = 10,
		.window = 1 << 20,
		.timeout_ms = 1500,
		.rto_ms = 5,
	};
	char sock[80], err[256];
	struct smx *s = NULL;
	int r;

	snprintf(sock, sizeof(sock), "@%s", g_name[k]);
	c.socket = sock;
	c.addr = k == 0 ? "10.9.0.1" : "10.9.0.2";
	r = smx_open(&c, &s, err, sizeof(err));
	CHECK(r == 0, "open endpoint %d: %s", k, err);
	return r == 0 ? s : NULL;
}

/* Progress both endpoints until every request is done or ms pass. */
static int drive(struct smx *a, struct smx *b, struct smx_req **r, int n, int ms)
{
	uint64_t end = smx_now_ns() + (uint64_t)ms * 1000000;

	while (smx_now_ns() < end) {
		int done = 1;

		if (a != NULL)
			smx_progress(a);
		if (b != NULL)
			smx_progress(b);
		for (int i = 0; i < n; i++)
			if (smx_test(r[i]) == 0)
				done = 0;
		if (done)
			return 0;
	}
	return -ETIMEDOUT;
}

static uint8_t pat(uint64_t off, int dir)
{
	return (uint8_t)((off * 2654435761u) >> 13) ^ (uint8_t)(dir * 0x5a);
}

struct vsink {
	uint64_t base;		/* stream offset of the receive */
	int dir;
	size_t len, bad, misaligned;
};

static void vsink_fn(void *arg, size_t off, const void *src, size_t len)
{
	struct vsink *v = arg;
	const uint8_t *p = src;

	if (off % 4 != 0 || (len % 4 != 0 && off + len != v->len))
		v->misaligned++;
	for (size_t i = 0; i < len; i++)
		if (p[i] != pat(v->base + off + i, v->dir))
			v->bad++;
}

/* Stream `total` bytes each way: sends cut by scuts, receives by rcuts. */
static void transfer(struct smx *a, struct smx *b, int pa, int pb, size_t total,
		     const char *what)
{
	static const size_t scuts[] = { 1000003, 7, 4194304, 65536, 13, 333333 };
	static const size_t rcuts[] = { 99991, 1, 2097152, 64, 500009 };
	enum { MAXR = 256 };
	struct smx_req *rs = calloc(4 * MAXR, sizeof(*rs));
	struct smx_req **all = calloc(4 * MAXR, sizeof(*all));
	struct vsink *vs = calloc(2 * MAXR, sizeof(*vs));
	uint8_t *src[2];
	size_t bad = 0, mis = 0;
	int n = 0, nv = 0;

	for (int d = 0; d < 2; d++) {
		src[d] = malloc(total);
		for (size_t i = 0; i < total; i++)
			src[d][i] = pat(i, d);
	}
	for (int d = 0; d < 2; d++) {
		struct smx *tx = d == 0 ? a : b, *rx = d == 0 ? b : a;
		int ptx = d == 0 ? pa : pb, prx = d == 0 ? pb : pa;
		size_t off = 0;
		int c = 0;

		while (off < total && n < 4 * MAXR) {
			size_t len = scuts[c++ % 6];

			if (len > total - off)
				len = total - off;
			CHECK(smx_isend(tx, ptx, src[d] + off, len, &rs[n]) == 0, "isend");
			all[n] = &rs[n];
			n++;
			off += len;
		}
		for (off = 0, c = 0; off < total && n < 4 * MAXR;) {
			size_t len = rcuts[c++ % 5];

			if (len > total - off)
				len = total - off;
			vs[nv] = (struct vsink){ .base = off, .dir = d, .len = len };
			CHECK(smx_irecv(rx, prx, NULL, len, vsink_fn, &vs[nv], 4, &rs[n]) == 0,
			      "irecv");
			all[n] = &rs[n];
			n++;
			nv++;
			off += len;
		}
	}
	CHECK(drive(a, b, all, n, 30000) == 0, "%s: %d requests done", what, n);
	for (int i = 0; i < n; i++)
		CHECK(smx_test(all[i]) == 1, "%s: request %d status %d", what, i,
		      smx_test(all[i]));
	for (int i = 0; i < nv; i++) {
		bad += vs[i].bad;
		mis += vs[i].misaligned;
	}
	CHECK(bad == 0 && mis == 0, "%s: %zu bytes each way in order (%zu wrong, "
	      "%zu pieces misaligned)", what, total, bad, mis);
	free(src[0]);
	free(src[1]);
	free(rs);
	free(all);
	free(vs);
}

static int init_dpdk(const char *argv0)
{
	char prefix[64];
	char *eal[] = {
		(char *)argv0, "--no-huge", "--no-shconf", "-l", "0", "-m", "256",
		"--log-level=3", "--no-pci", "--no-telemetry", "--file-prefix",
		prefix, NULL,
	};

	snprintf(prefix, sizeof(prefix), "smx-loop-%d", (int)getpid());
	if (rte_eal_init((int)RTE_DIM(eal) - 1, eal) < 0)
		return -1;
	g_pool = rte_pktmbuf_pool_create("smx_loop", 16383, 256, 0,
					 RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	g_qsbr = rte_zmalloc("smx_qsbr", rte_rcu_qsbr_get_memsize(2), RTE_CACHE_LINE_SIZE);
	if (g_pool == NULL || g_qsbr == NULL || rte_rcu_qsbr_init(g_qsbr, 2) != 0)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	struct smx *a, *b;
	struct smx_stats sa, sb;
	struct smx_req r, r2;
	struct smx_req *rp[2] = { &r, &r2 };
	static uint8_t buf[1 << 20], rbuf[1 << 20];
	int pa, pb, rc;
	uint64_t t0;

	(void)argc;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (init_dpdk(argv[0]) < 0) {
		printf("SKIP: cannot start DPDK's EAL\n");
		return 77;
	}
	for (int k = 0; k < 2; k++) {
		struct memif_server_config c = {
			.if_name = "sw", .max_log2_ring = 14, .max_queues = 1,
			.pool = g_pool, .qsbr = g_qsbr,
		};

		snprintf(g_name[k], sizeof(g_name[k]), "smx-loop-%d-%d", (int)getpid(), k);
		c.socket_name = g_name[k];
		if (memif_server_create(&c, &g_sw.srv[k]) < 0) {
			printf("SKIP: cannot create a memif server\n");
			return 77;
		}
	}
	pthread_create(&g_sw.tid, NULL, sw_main, &g_sw);

	a = ep_open(0);
	b = ep_open(1);
	if (a == NULL || b == NULL)
		return 1;
	pa = smx_peer_add(a, "10.9.0.2", 0);
	pb = smx_peer_add(b, "10.9.0.1", 0);
	CHECK(pa == 0 && pb == 0, "peers added");
	CHECK(smx_peer_add(a, "10.9.0.2", 0) == -EEXIST, "same peer twice: -EEXIST");
	CHECK(smx_peer_add(a, "nonsense", 0) == -EINVAL, "bad address: -EINVAL");
	CHECK(smx_irecv(a, pa, buf, 8, NULL, NULL, 3, &r) == -EINVAL,
	      "align not a power of two: -EINVAL");

	printf("== lossless, chains of 2 KiB buffers\n");
	transfer(a, b, pa, pb, 12u << 20, "lossless");

	printf("== 3%% loss\n");
	smx_stats_get(a, &sa);
	__atomic_store_n(&g_sw.loss_per_1024, 31, __ATOMIC_RELAXED);
	transfer(a, b, pa, pb, 12u << 20, "3% loss");
	__atomic_store_n(&g_sw.loss_per_1024, 0, __ATOMIC_RELAXED);
	{
		uint64_t before = sa.retransmits;

		smx_stats_get(a, &sa);
		smx_stats_get(b, &sb);
		printf("   retransmits a %llu b %llu, go-back-N %llu, timeouts %llu, "
		       "switch dropped %llu\n", (unsigned long long)sa.retransmits,
		       (unsigned long long)sb.retransmits,
		       (unsigned long long)(sa.fast_retransmits + sb.fast_retransmits),
		       (unsigned long long)(sa.rto + sb.rto),
		       (unsigned long long)g_sw.dropped);
		CHECK(sa.retransmits > before && sb.retransmits > 0 &&
		      sa.drop_out_of_order + sb.drop_out_of_order > 0,
		      "loss recovered by retransmission (a %llu, b %llu; %llu go-back-N, "
		      "%llu timeouts; switch dropped %llu)",
		      (unsigned long long)sa.retransmits, (unsigned long long)sb.retransmits,
		      (unsigned long long)(sa.fast_retransmits + sb.fast_retransmits),
		      (unsigned long long)(sa.rto + sb.rto),
		      (unsigned long long)g_sw.dropped);
	}

	printf("== a silent peer\n");
	__atomic_store_n(&g_sw.loss_per_1024, 1024, __ATOMIC_RELAXED);
	CHECK(smx_isend(a, pa, buf, sizeof(buf), &r) == 0, "isend into the void");
	t0 = smx_now_ns();
	rc = smx_wait(a, rp, 1, 10000);
	CHECK(rc == -ETIMEDOUT && smx_test(&r) == -ETIMEDOUT,
	      "request failed with -ETIMEDOUT (%d) after %.1f s (timeout 1.5 s)", rc,
	      (double)(smx_now_ns() - t0) / 1e9);
	CHECK(smx_isend(a, pa, buf, 8, &r) == -ETIMEDOUT, "the peer stays failed");
	smx_stats_get(a, &sa);
	CHECK(sa.peer_timeouts == 1 && sa.sleeps > 0,
	      "counted (%llu), and the wait slept (%llu sleeps)",
	      (unsigned long long)sa.peer_timeouts, (unsigned long long)sa.sleeps);
	__atomic_store_n(&g_sw.loss_per_1024, 0, __ATOMIC_RELAXED);

	printf("== the peer restarts (new session)\n");
	smx_close(b);
	b = ep_open(1);
	if (b == NULL)
		return 1;
	pb = smx_peer_add(b, "10.9.0.1", 0);
	for (int i = 0; i < 1000; i++)
		buf[i] = (uint8_t)(i * 7);
	CHECK(smx_isend(b, pb, buf, 1000, &r2) == 0, "new incarnation sends");
	/* Its zero-window probes reach a, which resets the failed peer. */
	t0 = smx_now_ns();
	while (smx_irecv(a, pa, rbuf, 1000, NULL, NULL, 1, &r) < 0 &&
	       smx_now_ns() - t0 < 5000000000ull) {
		smx_progress(a);
		smx_progress(b);
	}
	CHECK(drive(a, b, rp, 2, 5000) == 0 && smx_test(&r) == 1 &&
	      memcmp(buf, rbuf, 1000) == 0, "a talks to the new incarnation");
	smx_stats_get(a, &sa);
	CHECK(sa.peer_resets == 1, "peer reset counted (%llu)",
	      (unsigned long long)sa.peer_resets);

	printf("== the server goes away\n");
	CHECK(smx_irecv(a, pa, rbuf, 100, NULL, NULL, 1, &r) == 0, "pending irecv");
	__atomic_store_n(&g_sw.kill_a, 1, __ATOMIC_RELEASE);
	rc = smx_wait(a, rp, 1, 5000);
	CHECK(rc == -ENOTCONN && smx_test(&r) == -ENOTCONN,
	      "wait returns -ENOTCONN (%d), request failed (%d)", rc, smx_test(&r));
	CHECK(smx_progress(a) == -ENOTCONN && smx_isend(a, pa, buf, 8, &r) == -ENOTCONN,
	      "and stays so");

	smx_close(a);
	smx_close(b);
	__atomic_store_n(&g_sw.stop, 1, __ATOMIC_RELEASE);
	pthread_join(g_sw.tid, NULL);
	if (g_sw.srv[1] != NULL)
		memif_server_destroy(g_sw.srv[1]);
	rte_eal_cleanup();
	printf("%d passed, %d failed\n", n_pass, n_fail);
	return n_fail ? 1 : 0;
}
