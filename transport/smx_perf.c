/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smx-perf: throughput and latency between two pods over smx, with the
 * data verified. Run one in each pod (ip netns exec ...):
 *
 *   smx-perf --socket @NAME --mac MAC --addr MYIP --peer PEERIP --mode both --bytes 256M
 *
 * Modes: send, recv (one direction), both (each side sends and receives
 * --bytes), pingpong (--msg bytes there and back, --iters times; the
 * lower address starts). The stream carries a pattern (64-bit words from
 * the byte offset and the sender's address); the receiver checks it in the
 * combine callback, straight from the receive ring (--copy: into a buffer
 * first, the default combine). The last line is "result ..." (key=value);
 * the exit code is 0 on success, 1 on a data or usage error, 3 when the
 * peer timed out, 4 when the data plane went away.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "shunt/smx.h"

#define PERF_MAX_DEPTH 1024

struct perf {
	struct smx *s;
	int peer;
	uint64_t seed_tx, seed_rx;
	bool verify, copy;
	uint64_t bad;		/* words that did not match */
	uint64_t first_bad;
};

struct rmsg {
	struct perf *pf;
	uint64_t base;		/* stream offset of the message */
	uint8_t *buf;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t pat(uint64_t seed, uint64_t off)
{
	return (off / 8 + 1) * 0x9E3779B97F4A7C15ull ^ seed;
}

static void fill(uint8_t *b, size_t len, uint64_t seed, uint64_t base)
{
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		uint64_t w = pat(seed, base + i);

		memcpy(b + i, &w, 8);
	}
}

static void check_words(struct perf *pf, const uint8_t *src, size_t len,
			uint64_t at)
{
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		uint64_t w;

		memcpy(&w, src + i, 8);
		if (w != pat(pf->seed_rx, at + i)) {
			if (pf->bad++ == 0)
				pf->first_bad = at + i;
		}
	}
}

/* Combine callback: verify in place, in the receive ring's buffer. */
static void verify_cb(void *arg, size_t off, const void *src, size_t len)
{
	struct rmsg *m = arg;

	if (m->pf->verify)
		check_words(m->pf, src, len, m->base + off);
}

static int perf_err(int rc)
{
	fprintf(stderr, "smx-perf: %s\n", strerror(-rc));
	return rc == -ETIMEDOUT ? 3 : rc == -ENOTCONN ? 4 : 1;
}

static uint64_t parse_size(const char *s)
{
	char *end;
	uint64_t v = strtoull(s, &end, 0);

	switch (*end) {
	case 'G': case 'g': v <<= 10; /* fall through */
	case 'M': case 'm': v <<= 10; /* fall through */
	case 'K': case 'k': v <<= 10; break;
	default: break;
	}
	return v;
}

/* Stream --bytes each way that `tx`/`rx` say, depth messages in flight. */
static int perf_stream(struct perf *pf, uint64_t bytes, size_t msg,
		       unsigned int depth, bool tx, bool rx, double *secs)
{
	static struct smx_req sr[PERF_MAX_DEPTH], rr[PERF_MAX_DEPTH];
	static struct rmsg rm[PERF_MAX_DEPTH];
	uint8_t *sbuf[PERF_MAX_DEPTH], *rbuf[PERF_MAX_DEPTH];
	uint64_t s_post = 0, r_post = 0, s_done = 0, r_done = 0;
	unsigned int s_head = 0, r_head = 0, s_n = 0, r_n = 0, turn = 0, i;
	double t0 = now_s();
	int rc;

	for (i = 0; i < depth; i++) {
		sbuf[i] = aligned_alloc(64, (msg + 63) & ~(size_t)63);
		rbuf[i] = aligned_alloc(64, (msg + 63) & ~(size_t)63);
		if (sbuf[i] == NULL || rbuf[i] == NULL)
			return -ENOMEM;
	}
	for (;;) {
		struct smx_req *w[2];
		unsigned int nw = 0;

		while (tx && s_n < depth && s_post < bytes) {
			unsigned int k = (s_head + s_n) % depth;
			size_t len = bytes - s_post < msg ? bytes - s_post : msg;

			if (pf->verify)
				fill(sbuf[k], len, pf->seed_tx, s_post);
			rc = smx_isend(pf->s, pf->peer, sbuf[k], len, &sr[k]);
			if (rc < 0)
				return rc;
			s_post += len;
			s_n++;
		}
		while (rx && r_n < depth && r_post < bytes) {
			unsigned int k = (r_head + r_n) % depth;
			size_t len = bytes - r_post < msg ? bytes - r_post : msg;

			rm[k] = (struct rmsg){ pf, r_post, rbuf[k] };
			rc = smx_irecv(pf->s, pf->peer, rbuf[k], len,
				       pf->copy ? NULL : verify_cb, &rm[k], 8, &rr[k]);
			if (rc < 0)
				return rc;
			r_post += len;
			r_n++;
		}
		if (s_n > 0)
			w[nw++] = &sr[s_head];
		if (r_n > 0)
			w[nw++] = &rr[r_head];
		if (nw == 0)
			break;
		/* Both directions move while we wait on either: wait on
		 * each in turn for a millisecond at most. */
		turn = (turn + 1) % nw;
		rc = smx_wait(pf->s, &w[turn], 1, nw > 1 ? 1 : -1);
		if (rc < 0 && !(rc == -ETIMEDOUT && smx_test(w[turn]) == 0))
			return rc;
		/* Retire whatever is done, in order. */
		while (s_n > 0 && smx_test(&sr[s_head]) == 1) {
			s_done += sr[s_head].len;
			s_head = (s_head + 1) % depth;
			s_n--;
		}
		while (r_n > 0 && smx_test(&rr[r_head]) == 1) {
			if (pf->copy && pf->verify)
				check_words(pf, rbuf[r_head], rr[r_head].len,
					    rm[r_head].base);
			r_done += rr[r_head].len;
			r_head = (r_head + 1) % depth;
			r_n--;
		}
		for (i = 0; i < nw; i++)
			if (smx_test(w[i]) < 0)
				return smx_test(w[i]);
	}
	*secs = now_s() - t0;
	(void)s_done;
	(void)r_done;
	for (i = 0; i < depth; i++) {
		free(sbuf[i]);
		free(rbuf[i]);
	}
	return 0;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * Receives are posted one message ahead: smx sends only into posted
 * receives (the window), so a receive posted late costs a round trip.
 */
static int perf_pingpong(struct perf *pf, size_t msg, unsigned int iters,
			 bool first, double *p50, double *p99, double *avg)
{
	uint8_t *sb = calloc(1, msg + 8), *rb[2] = { calloc(1, msg + 8), calloc(1, msg + 8) };
	double *rtt = calloc(iters, sizeof(double)), sum = 0;
	unsigned int warm = iters / 10 + 10, i;
	struct smx_req sr, rr[2];
	struct rmsg rm[2];
	struct smx_req *w[2];
	int rc;

	if (sb == NULL || rb[0] == NULL || rb[1] == NULL || rtt == NULL)
		return -ENOMEM;
	for (i = 0; i < 2; i++) {
		rm[i] = (struct rmsg){ pf, (uint64_t)i * msg, rb[i] };
		rc = smx_irecv(pf->s, pf->peer, rb[i], msg, pf->copy ? NULL : verify_cb,
			       &rm[i], 8, &rr[i]);
		if (rc < 0)
			return rc;
	}
	for (i = 0; i < warm + iters; i++) {
		double t0 = now_s();
		uint64_t off = (uint64_t)i * msg;
		unsigned int k = i % 2;

		if (!first) {
			w[0] = &rr[k];
			rc = smx_wait(pf->s, w, 1, -1);
			if (rc < 0)
				return rc;
		}
		if (pf->verify)
			fill(sb, msg, pf->seed_tx, off);
		rc = smx_isend(pf->s, pf->peer, sb, msg, &sr);
		if (rc < 0)
			return rc;
		w[0] = &sr;
		w[1] = &rr[k];
		rc = smx_wait(pf->s, w, 2, -1);
		if (rc < 0)
			return rc;
		if (pf->copy && pf->verify)
			check_words(pf, rb[k], msg, off);
		/* Re-post this slot for message i + 2. */
		rm[k].base = off + 2 * msg;
		rc = smx_irecv(pf->s, pf->peer, rb[k], msg, pf->copy ? NULL : verify_cb,
			       &rm[k], 8, &rr[k]);
		if (rc < 0)
			return rc;
		if (i >= warm)
			rtt[i - warm] = (now_s() - t0) * 1e6;
	}
	qsort(rtt, iters, sizeof(double), cmp_d);
	for (i = 0; i < iters; i++)
		sum += rtt[i];
	*p50 = rtt[iters / 2];
	*p99 = rtt[(size_t)((double)iters * 0.99)];
	*avg = sum / iters;
	free(sb);
	free(rb[0]);
	free(rb[1]);
	free(rtt);
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
"usage: smx-perf --socket @NAME --mac MAC --addr IP --peer IP[:PORT]\n"
"                [--mode send|recv|both|pingpong] [--bytes N] [--msg N]\n"
"                [--iters N] [--depth N] [--port P] [--timeout-ms N]\n"
"                [--buffer-size N] [--log2-ring N] [--payload N] [--window N]\n"
"                [--secret S] [--no-verify] [--copy] [--spin-us N] [--rto-ms N]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "mac", required_argument, NULL, 'M' },
		{ "addr", required_argument, NULL, 'a' },
		{ "port", required_argument, NULL, 'p' },
		{ "peer", required_argument, NULL, 'P' },
		{ "mode", required_argument, NULL, 'm' },
		{ "bytes", required_argument, NULL, 'b' },
		{ "msg", required_argument, NULL, 'z' },
		{ "iters", required_argument, NULL, 'i' },
		{ "depth", required_argument, NULL, 'd' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "buffer-size", required_argument, NULL, 'B' },
		{ "log2-ring", required_argument, NULL, 'R' },
		{ "payload", required_argument, NULL, 'L' },
		{ "window", required_argument, NULL, 'W' },
		{ "secret", required_argument, NULL, 'S' },
		{ "no-verify", no_argument, NULL, 'n' },
		{ "copy", no_argument, NULL, 'c' },
		{ "spin-us", required_argument, NULL, 'U' },
		{ "rto-ms", required_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 },
	};
	struct smx_conf conf = { 0 };
	struct perf pf = { .verify = true };
	const char *mode = "both", *peer = NULL;
	char peer_ip[64] = "", err[256];
	uint64_t bytes = 64ull << 20;
	size_t msg = 0;
	unsigned int iters = 1000, depth = 4, mac[6];
	uint16_t peer_port = 0;
	struct in_addr me, him;
	struct smx_stats st;
	double secs = 0;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': conf.socket = optarg; break;
		case 'M':
			if (sscanf(optarg, "%x:%x:%x:%x:%x:%x", &mac[0], &mac[1], &mac[2],
				   &mac[3], &mac[4], &mac[5]) != 6) {
				fprintf(stderr, "smx-perf: bad --mac '%s'\n", optarg);
				return 1;
			}
			for (int k = 0; k < 6; k++)
				conf.mac[k] = (uint8_t)mac[k];
			break;
		case 'a': conf.addr = optarg; break;
		case 'p': conf.port = (uint16_t)atoi(optarg); break;
		case 'P': peer = optarg; break;
		case 'm': mode = optarg; break;
		case 'b': bytes = parse_size(optarg); break;
		case 'z': msg = (size_t)parse_size(optarg); break;
		case 'i': iters = (unsigned int)atoi(optarg); break;
		case 'd': depth = (unsigned int)atoi(optarg); break;
		case 't': conf.timeout_ms = (uint32_t)atoi(optarg); break;
		case 'B': conf.buffer_size = (uint32_t)parse_size(optarg); break;
		case 'R': conf.log2_ring = (uint32_t)atoi(optarg); break;
		case 'L': conf.frame_payload = (uint32_t)parse_size(optarg); break;
		case 'W': conf.window = (uint32_t)parse_size(optarg); break;
		case 'S': conf.secret = optarg; break;
		case 'n': pf.verify = false; break;
		case 'c': pf.copy = true; break;
		case 'U': conf.spin_us = (uint32_t)atoi(optarg); break;
		case 'T': conf.rto_ms = (uint32_t)atoi(optarg); break;
		default: usage(); return 1;
		}
	}
	if (conf.socket == NULL || conf.addr == NULL || peer == NULL ||
	    depth == 0 || depth > PERF_MAX_DEPTH || iters == 0) {
		usage();
		return 1;
	}
	snprintf(peer_ip, sizeof(peer_ip), "%s", peer);
	if (strchr(peer_ip, ':') != NULL) {
		peer_port = (uint16_t)atoi(strchr(peer_ip, ':') + 1);
		*strchr(peer_ip, ':') = '\0';
	}
	if (inet_pton(AF_INET, conf.addr, &me) != 1 ||
	    inet_pton(AF_INET, peer_ip, &him) != 1) {
		fprintf(stderr, "smx-perf: bad --addr or --peer\n");
		return 1;
	}
	if (msg == 0)
		msg = strcmp(mode, "pingpong") == 0 ? 8 : (size_t)4 << 20;
	if (msg % 8 != 0) {
		fprintf(stderr, "smx-perf: --msg must be a multiple of 8\n");
		return 1;
	}
	pf.seed_tx = ntohl(me.s_addr);
	pf.seed_rx = ntohl(him.s_addr);

	rc = smx_open(&conf, &pf.s, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "smx-perf: %s\n", err);
		return rc == -ETIMEDOUT ? 3 : 1;
	}
	pf.peer = smx_peer_add(pf.s, peer_ip, peer_port);
	if (pf.peer < 0)
		return perf_err(pf.peer);
	printf("smx-perf: %s, %s -> %s, ready\n", mode, conf.addr, peer);
	fflush(stdout);

	if (strcmp(mode, "pingpong") == 0) {
		double p50, p99, avg;

		rc = perf_pingpong(&pf, msg, iters, ntohl(me.s_addr) < ntohl(him.s_addr),
				   &p50, &p99, &avg);
		if (rc == 0)
			printf("result mode=pingpong msg=%zu iters=%u rtt_p50_us=%.1f "
			       "rtt_p99_us=%.1f rtt_avg_us=%.1f lat_us=%.1f",
			       msg, iters, p50, p99, avg, p50 / 2);
	} else {
		bool tx = strcmp(mode, "send") == 0 || strcmp(mode, "both") == 0;
		bool rx = strcmp(mode, "recv") == 0 || strcmp(mode, "both") == 0;

		if (!tx && !rx) {
			usage();
			return 1;
		}
		rc = perf_stream(&pf, bytes, msg, depth, tx, rx, &secs);
		if (rc == 0)
			printf("result mode=%s bytes=%" PRIu64 " secs=%.3f MBps=%.1f",
			       mode, bytes, secs, (double)bytes / secs / 1e6);
	}
	smx_stats_get(pf.s, &st);
	if (rc == 0)
		printf(" verified=%s bad_words=%" PRIu64 " tx_frames=%" PRIu64
		       " rx_frames=%" PRIu64 " retransmits=%" PRIu64 " rto=%" PRIu64
		       " fast_retransmits=%" PRIu64 " drop_ooo=%" PRIu64
		       " drop_no_recv=%" PRIu64 " tx_ring_full=%" PRIu64
		       " sleeps=%" PRIu64 " wakeups=%" PRIu64 "\n",
		       pf.verify ? "yes" : "no", pf.bad, st.tx_frames, st.rx_frames,
		       st.retransmits, st.rto, st.fast_retransmits,
		       st.drop_out_of_order, st.drop_no_recv, st.tx_ring_full,
		       st.sleeps, st.wakeups);
	smx_close(pf.s);
	if (rc < 0)
		return perf_err(rc);
	if (pf.bad != 0) {
		fprintf(stderr, "smx-perf: %" PRIu64 " words wrong, first at stream "
			"offset %" PRIu64 "\n", pf.bad, pf.first_bad);
		return 1;
	}
	return 0;
}
