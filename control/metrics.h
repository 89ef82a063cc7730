/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * shuntd's optional Prometheus endpoint (--metrics ADDR:PORT): GET
 * /metrics in the text exposition format, served by libmicrohttpd in its
 * external polling mode from shuntd's own poll loop. No HTTP thread: the
 * page is built from the live state and the data plane's counters in the
 * loop's thread, like an API request, so nothing is shared or locked.
 */
#ifndef SHUNT_METRICS_H
#define SHUNT_METRICS_H

#include <poll.h>

struct agent;
struct metrics;

/*
 * Listen on addr ("IPv4:port" or "[IPv6]:port", numeric), on that address
 * only. Returns 0 with *out, -EINVAL for an address it cannot parse, or
 * another -errno (-EADDRINUSE, ...); err says which.
 */
int metrics_open(struct agent *ag, const char *addr, struct metrics **out,
		 char *err, size_t errlen);
void metrics_close(struct metrics *m);

/* Fill up to max pollfds (one: libmicrohttpd's epoll fd). */
int metrics_fds(struct metrics *m, struct pollfd *pfd, int max);
/* Milliseconds until metrics_handle() has timed work, -1 for none. */
int metrics_timeout_ms(struct metrics *m);
/* Serve what is ready; never blocks (but for the data plane call that
 * a scrape makes, bounded by its deadline). */
void metrics_handle(struct metrics *m);

#endif
