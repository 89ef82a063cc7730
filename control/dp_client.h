/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * shuntd's connection to the data plane's control socket
 * (include/shunt/dp_api.h), for a single-threaded poll loop.
 *
 * Connecting never blocks the loop: while the data plane is away the
 * client retries with a backoff (50 ms doubling to 1 s), and sooner when
 * the socket file appears (inotify on its directory). Calls are
 * synchronous with a timeout: the data plane answers on its control
 * thread within milliseconds, and the caller (an API method or one
 * reconciliation step) needs the answer before it can go on.
 */
#ifndef SHUNT_DP_CLIENT_H
#define SHUNT_DP_CLIENT_H

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

struct dp_client;

/* Returns 0 with *out, or -errno. Does not connect yet. */
int dp_client_new(const char *path, unsigned int timeout_ms,
		  struct dp_client **out);
void dp_client_free(struct dp_client *c);

bool dp_client_connected(const struct dp_client *c);
const char *dp_client_path(const struct dp_client *c);
/* The data plane's version answer (borrowed), NULL when not connected. */
json_t *dp_client_version(const struct dp_client *c);
/* Connections made so far (1 after the first). */
unsigned int dp_client_connects(const struct dp_client *c);

/* Fill up to max pollfds (the connection, the directory watch). */
int dp_client_fds(struct dp_client *c, struct pollfd *pfd, int max);

/*
 * Handle what poll() reported on the pollfds dp_client_fds() filled, and
 * try to connect when a retry is due. Returns 1 when a new connection was
 * made (the caller reconciles), else 0.
 */
int dp_client_handle(struct dp_client *c, const struct pollfd *pfd, int n);

/* Milliseconds until dp_client_handle() has timed work (a retry, a
 * keepalive); -1 when none. */
int dp_client_timeout_ms(const struct dp_client *c);

/*
 * Call method with params (borrowed; NULL for none). Returns 0 with
 * *result (a new reference), -ENOTCONN when not connected, -ETIMEDOUT or
 * -EPIPE when the connection failed (it is closed and retried), or
 * -EREMOTEIO when the data plane answered with an error: *code and msg
 * hold it.
 */
int dp_client_call(struct dp_client *c, const char *method, json_t *params,
		   json_t **result, int *code, char *msg, size_t msglen);

/* dp_client_call for a call whose result is not needed; takes params
 * (the reference is consumed). *code is 0 unless the data plane
 * answered with an error. */
int dp_client_do(struct dp_client *c, const char *method, json_t *params,
		 int *code, char *msg, size_t msglen);
/* Whether rc from dp_client_call/do says the data plane is away (not
 * connected, or the connection failed), as opposed to an answer. */
static inline bool dp_client_away(int rc)
{
	return rc == -ENOTCONN || rc == -EPIPE || rc == -ETIMEDOUT;
}

/* Close the connection (as if the data plane went away). */
void dp_client_disconnect(struct dp_client *c);

#endif
