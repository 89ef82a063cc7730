/* SPDX-License-Identifier: BSD-3-Clause */
/* memif transport: kernel bypass. Each rank talks to shunt-dataplane
 * through its pod's memif interface with the smx library (transport/):
 * reliable, ordered streams per peer in UDP frames of up to ~60 KiB that
 * the data plane routes like any pod packet. Sends are copied once, from
 * the caller's buffer into memif buffers; reductions read straight from
 * the receive ring (smx hands the pieces to the combine callback).
 *
 * Options (--xport-opt, or in the launcher's --pod): memif=SOCKET (e.g.
 * @/shunt/sm0123456789, the CNI result's socketPath), ip=ADDR and
 * mac=MAC (the memif interface's, from the CNI result), and optionally
 * port=N (UDP, default 7470), secret=S, window=BYTES, frame=BYTES,
 * ring=LOG2, peer_timeout=MS (a silent peer fails the run, default 10000). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <shunt/smx.h>

#include "bootstrap.h"
#include "xport.h"

struct memif_req {
	struct smx_req r;
	int peer;                       /* rank */
};
_Static_assert(sizeof(struct memif_req) <= sizeof(struct xport_req),
	       "memif_req too big for xport_req");
_Static_assert(offsetof(struct memif_req, r) == 0, "smx_req first");

/* What a rank tells the others: where its endpoint listens. */
struct memif_addr {
	char ip[16];
	uint16_t port;
};

struct memif_priv {
	struct smx *s;
	int *peer;                      /* rank -> smx peer id (-1: self) */
};

static int memif_isend(struct xport *x, int peer, const void *buf, size_t len,
		       struct xport_req *xr)
{
	struct memif_priv *p = x->priv;
	struct memif_req *q = (struct memif_req *)xr;
	int rc;

	q->peer = peer;
	rc = smx_isend(p->s, p->peer[peer], buf, len, &q->r);
	if (rc < 0)
		snprintf(x->err, sizeof(x->err), "memif send to rank %d: %s", peer,
			 strerror(-rc));
	return rc;
}

static int memif_irecv(struct xport *x, int peer, void *buf, size_t len,
		       xport_combine_fn *fn, void *arg, size_t align,
		       struct xport_req *xr)
{
	struct memif_priv *p = x->priv;
	struct memif_req *q = (struct memif_req *)xr;
	int rc;

	q->peer = peer;
	/* xport_combine_fn and smx_combine_fn are the same type. */
	rc = smx_irecv(p->s, p->peer[peer], buf, len, fn, arg,
		       align > SMX_ALIGN_MAX ? SMX_ALIGN_MAX : align, &q->r);
	if (rc < 0)
		snprintf(x->err, sizeof(x->err), "memif receive from rank %d: %s",
			 peer, strerror(-rc));
	return rc;
}

static int memif_wait(struct xport *x, struct xport_req *const *r, unsigned int n)
{
	struct memif_priv *p = x->priv;
	struct smx_req *q[64];
	unsigned int done = 0;
	int rc = 0;

	/* smx_wait takes its own array; in slices for long lists. */
	while (done < n && rc == 0) {
		unsigned int k = n - done < 64 ? n - done : 64;

		for (unsigned int i = 0; i < k; i++)
			q[i] = &((struct memif_req *)r[done + i])->r;
		rc = smx_wait(p->s, q, k, -1);
		done += k;
	}
	if (rc == 0)
		return 0;
	for (unsigned int i = 0; i < n; i++) {
		const struct memif_req *m = (const struct memif_req *)r[i];

		if (smx_test(&m->r) < 0) {
			/* A silent or restarted peer is the one to blame. */
			if (rc == -ETIMEDOUT || rc == -ECONNRESET)
				x->err_rank = m->peer;
			snprintf(x->err, sizeof(x->err), rc == -ETIMEDOUT ?
				 "rank %d stopped answering over memif (exited?)" :
				 "memif with rank %d: %s", m->peer, strerror(-rc));
			return rc;
		}
	}
	snprintf(x->err, sizeof(x->err), "memif: %s%s", strerror(-rc),
		 rc == -ENOTCONN ? " (the data plane closed the memif connection)" : "");
	return rc;
}

static void memif_close(struct xport *x)
{
	struct memif_priv *p = x->priv;

	if (p == NULL)
		return;
	if (p->s != NULL)
		smx_close(p->s);
	free(p->peer);
	free(p);
	x->priv = NULL;
}

static const struct xport_ops memif_ops = {
	.name = "memif",
	.isend = memif_isend,
	.irecv = memif_irecv,
	.wait = memif_wait,
	.close = memif_close,
};

static int mac_parse(const char *s, uint8_t mac[6])
{
	unsigned int b[6];
	char tail;

	if (s == NULL || sscanf(s, "%x:%x:%x:%x:%x:%x%c", &b[0], &b[1], &b[2], &b[3],
				&b[4], &b[5], &tail) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		if (b[i] > 0xff)
			return -EINVAL;
		mac[i] = (uint8_t)b[i];
	}
	return 0;
}

static int opt_u32(const struct xport_opts *o, const char *key, uint32_t *out,
		   struct xport *x)
{
	const char *v = xport_opts_get(o, key);
	char *end;
	unsigned long n;

	if (v == NULL)
		return 0;
	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || end == v || *end || n > UINT32_MAX) {
		snprintf(x->err, sizeof(x->err), "memif option %s=%s: not a number", key, v);
		return -EINVAL;
	}
	*out = (uint32_t)n;
	return 0;
}

static int memif_open(struct xport *x, struct bootstrap *bs, const struct xport_opts *o)
{
	struct smx_conf c = { 0 };
	struct memif_priv *p;
	struct memif_addr me = { 0 }, *all;
	uint32_t port = 0;
	char err[200];
	int rc;

	c.socket = xport_opts_get(o, "memif");
	c.addr = xport_opts_get(o, "ip");
	if (c.socket == NULL || c.addr == NULL ||
	    mac_parse(xport_opts_get(o, "mac"), c.mac) < 0) {
		snprintf(x->err, sizeof(x->err), "memif transport needs memif=SOCKET, "
			 "ip=ADDR and mac=MAC (the pod's memif interface, from its "
			 "CNI result)%s", xport_opts_get(o, "mac") ? ": bad mac" : "");
		return -EINVAL;
	}
	if (strlen(c.addr) >= sizeof(me.ip)) {
		snprintf(x->err, sizeof(x->err), "memif ip=%s: not an IPv4 address", c.addr);
		return -EINVAL;
	}
	c.secret = xport_opts_get(o, "secret");
	if ((rc = opt_u32(o, "port", &port, x)) < 0 ||
	    (rc = opt_u32(o, "window", &c.window, x)) < 0 ||
	    (rc = opt_u32(o, "frame", &c.frame_payload, x)) < 0 ||
	    (rc = opt_u32(o, "ring", &c.log2_ring, x)) < 0 ||
	    (rc = opt_u32(o, "peer_timeout", &c.timeout_ms, x)) < 0)
		return rc;
	if (port > UINT16_MAX) {
		snprintf(x->err, sizeof(x->err), "memif port=%u: not a UDP port", port);
		return -EINVAL;
	}
	c.port = (uint16_t)port;
	p = calloc(1, sizeof(*p));
	all = calloc((size_t)x->nranks, sizeof(*all));
	if (p)
		p->peer = calloc((size_t)x->nranks, sizeof(*p->peer));
	if (p == NULL || all == NULL || p->peer == NULL) {
		free(all);
		if (p)
			free(p->peer);
		free(p);
		snprintf(x->err, sizeof(x->err), "memif: out of memory");
		return -ENOMEM;
	}
	x->priv = p;
	x->ops = &memif_ops;
	rc = smx_open(&c, &p->s, err, sizeof(err));
	if (rc < 0) {
		snprintf(x->err, sizeof(x->err), "memif %s: %s", c.socket, err);
		goto fail;
	}
	snprintf(me.ip, sizeof(me.ip), "%s", c.addr);
	me.port = c.port ? c.port : SMX_DEFAULT_PORT;
	rc = bootstrap_allgather(bs, &me, all, sizeof(me));
	if (rc < 0) {
		snprintf(x->err, sizeof(x->err), "memif address exchange: %s",
			 bootstrap_error(bs));
		goto fail;
	}
	for (int i = 0; i < x->nranks; i++) {
		if (i == x->rank) {
			p->peer[i] = -1;
			continue;
		}
		all[i].ip[sizeof(all[i].ip) - 1] = '\0';
		rc = smx_peer_add(p->s, all[i].ip, all[i].port);
		if (rc < 0) {
			snprintf(x->err, sizeof(x->err), "memif peer rank %d (%s:%u): %s",
				 i, all[i].ip, all[i].port, strerror(-rc));
			goto fail;
		}
		p->peer[i] = rc;
	}
	snprintf(x->desc, sizeof(x->desc), "memif %s %s:%u", c.socket, me.ip, me.port);
	free(all);
	return 0;
fail:
	free(all);
	memif_close(x);
	x->ops = NULL;
	return rc;
}

const struct xport_type xport_memif_type = {
	.name = "memif",
	.help = "kernel bypass through the pod's memif interface to shunt-dataplane "
		"(options memif=SOCKET ip=ADDR mac=MAC [port= window= frame= ring= "
		"peer_timeout=])",
	.open = memif_open,
	.slice = 8 * 1024,
};
