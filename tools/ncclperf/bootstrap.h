/* SPDX-License-Identifier: BSD-3-Clause */
/* Out-of-band bootstrap: rank 0 listens on the root address, every other
 * rank connects to it (a star over TCP). It carries the few small
 * exchanges a run needs (transport addresses, times, error counts) and is
 * how a rank learns that another one died: EOF on a rank's connection
 * makes the root broadcast an abort naming it, EOF on the root's
 * connection tells the others that rank 0 is gone. */
#ifndef NCCLPERF_BOOTSTRAP_H
#define NCCLPERF_BOOTSTRAP_H

#include <stddef.h>
#include <sys/socket.h>

struct bootstrap;

/* Parses "ADDR:PORT", "[ADDR6]:PORT" or "HOST:PORT" into ss. 0 or -EINVAL. */
int bootstrap_addr_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len);

/* Rank 0 binds root and waits for nranks-1 ranks, the others connect to
 * it (retrying while it is not up yet); both within timeout_ms.
 * Returns 0 or -errno with a message in err. */
int bootstrap_open(struct bootstrap **bsp, int rank, int nranks, const char *root,
                   int timeout_ms, char *err, size_t errlen);

/* Every rank contributes len bytes; all receives nranks*len, rank order.
 * Returns 0, or -errno with bootstrap_error() saying which rank failed. */
int bootstrap_allgather(struct bootstrap *bs, const void *mine, void *all, size_t len);
/* Returns 0 once every rank called it, or -errno as above. */
int bootstrap_barrier(struct bootstrap *bs);
/* Tells the others (through the root) that this run is over because of
 * rank culprit (may be our own rank). Best effort, never blocks long. */
void bootstrap_abort(struct bootstrap *bs, int culprit, const char *why);

/* The address this rank used to reach the root (the root: its own). */
const struct sockaddr_storage *bootstrap_local_addr(struct bootstrap *bs);
const char *bootstrap_error(const struct bootstrap *bs);
int bootstrap_rank(const struct bootstrap *bs);
int bootstrap_nranks(const struct bootstrap *bs);
void bootstrap_close(struct bootstrap *bs);

/* Connects fd to addr within timeout_ms (fd blocking again afterwards).
 * Returns 0 or -errno. Shared with the socket transport. */
int bootstrap_connect_timeout(int fd, const struct sockaddr *sa, socklen_t len, int timeout_ms);
/* Whole-buffer blocking I/O on fd with a deadline (ms, -1 none).
 * Returns 0, -EPIPE on EOF, -ETIMEDOUT or -errno. */
int bootstrap_send_all(int fd, const void *buf, size_t len, int timeout_ms);
int bootstrap_recv_all(int fd, void *buf, size_t len, int timeout_ms);
/* "ADDR:PORT" of sa into buf. */
void bootstrap_addr_str(const struct sockaddr_storage *sa, char *buf, size_t len);

#endif
