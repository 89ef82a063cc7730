/* SPDX-License-Identifier: BSD-3-Clause */
/* The transport interface between ncclperf's collectives (coll.c) and the
 * wire. Collectives call only xport->ops: a transport posts ordered
 * point-to-point sends and receives and progresses them in wait(), the way
 * NCCL's net plugins and memif-style libraries do (isend/irecv/progress).
 *
 * Adding a transport: write xport_<name>.c with one `const struct
 * xport_type xport_<name>_type`, declare it below and add it to the table in
 * xport.c. Nothing in coll.c or bench.c changes. */
#ifndef NCCLPERF_XPORT_H
#define NCCLPERF_XPORT_H

#include <stddef.h>

struct xport;
struct bootstrap;

typedef void xport_combine_fn(void *arg, size_t off, const void *src, size_t len);

struct xport_req { unsigned char opaque[256] __attribute__((aligned(16))); };   /* transport-owned state */

struct xport_ops {
	const char *name;
	/* post a send / receive of len bytes to/from peer rank; ordered per peer */
	int (*isend)(struct xport *x, int peer, const void *buf, size_t len, struct xport_req *r);
	/* fn NULL: copy into buf; else fn(arg, off, src, n) for each received piece,
	 * pieces multiples of align bytes except the message's end */
	int (*irecv)(struct xport *x, int peer, void *buf, size_t len,
	             xport_combine_fn *fn, void *arg, size_t align, struct xport_req *r);
	/* progress until all n requests are done; < 0 (-errno) with x->err set on failure */
	int (*wait)(struct xport *x, struct xport_req *const *r, unsigned int n);
	void (*close)(struct xport *x);
};

struct xport {
	const struct xport_ops *ops;
	int rank, nranks;
	char err[256];
	void *priv;
	/* One line for the "# Using devices" table: what this rank talks
	 * over, e.g. "socket 10.0.0.1:41234". Set by open. */
	char desc[128];
	/* With err: the peer rank to blame (it hung up), or -1. The failing
	 * rank names it in the abort it sends to the others. */
	int err_rank;
};

/* Per-transport options, gathered as key=value pairs so that the command
 * line and the launcher pass them without knowing what they mean:
 * `--xport-opt KEY=VALUE` on a rank, `--pod netns=NS,KEY=VALUE,...` on the
 * launcher (every key but netns becomes a --xport-opt of that pod's rank).
 * memif is expected to read keys "memif" (socket), "ip", "mac". */
#define XPORT_OPTS_MAX 16
struct xport_opts {
	unsigned int n;
	const char *key[XPORT_OPTS_MAX];
	const char *val[XPORT_OPTS_MAX];
	int timeout_ms;        /* connection setup */
};

/* Returns the value of key, or NULL when not given. */
const char *xport_opts_get(const struct xport_opts *o, const char *key);
/* Adds "KEY=VALUE" (copied; kept for the process's life).
 * Returns 0, -EINVAL (no '='), -E2BIG or -ENOMEM. */
int xport_opts_add(struct xport_opts *o, const char *kv);

struct xport_type {
	const char *name;
	const char *help;   /* one line for --help */
	/* Default pipeline slice (0: 512K). memif wants small ones: a slice
	 * is a frame, and small frames stay in cache from the sender's
	 * copy through the data plane's to the receiver's reduction. */
	size_t slice;
	/* Connect this rank to every other one, using bs for the exchange of
	 * addresses. Fills x (ops, desc, priv). 0 or -errno with x->err set. */
	int (*open)(struct xport *x, struct bootstrap *bs, const struct xport_opts *o);
};

extern const struct xport_type xport_socket_type;
extern const struct xport_type xport_memif_type;    /* xport_memif.c */

/* The transport called name, or NULL. */
const struct xport_type *xport_type_find(const char *name);
/* Every registered transport, NULL-terminated (for --help). */
const struct xport_type *const *xport_types(void);

/* Opens transport name for rank/nranks. 0 or -errno with x->err set. */
int xport_open(struct xport *x, const char *name, int rank, int nranks,
               struct bootstrap *bs, const struct xport_opts *o);

#endif
