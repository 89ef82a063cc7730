/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A JSON-lines request/response server on a unix stream socket, for a
 * single-threaded poll loop: a method table, a peer-check hook that sees
 * each request's method, and limits on everything a client controls
 * (request size, connections, unread output, idle time).
 *
 * Wire format (the same as include/shunt/dp_api.h):
 *   request:  {"id": <int|string>, "method": "<name>", "params": {...}}
 *   response: {"id": <same>, "result": {...}}
 *         or  {"id": <same>, "error": {"code": <int>, "message": "<text>"}}
 *
 * The server never prints; it reports through the config's log callback.
 */
#ifndef SHUNT_JSONL_SERVER_H
#define SHUNT_JSONL_SERVER_H

#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/types.h>
#include <jansson.h>

/* JSON-RPC's numbers for protocol errors. */
#define JSONL_E_PARSE    (-32700)
#define JSONL_E_REQUEST  (-32600)
#define JSONL_E_METHOD   (-32601)
#define JSONL_E_PARAMS   (-32602)
#define JSONL_E_INTERNAL (-32603)

#define JSONL_MAX_GROUPS 64

/* Who is on the other end, from SO_PEERCRED and SO_PEERGROUPS at accept. */
struct jsonl_peer {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	int ngroups;                      /* supplementary groups known */
	gid_t groups[JSONL_MAX_GROUPS];
};

struct jsonl_error {
	int code;
	char message[512];
};

/* Fill e and return NULL, so a handler can `return jsonl_fail(e, ...)`. */
json_t *jsonl_fail(struct jsonl_error *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define JSONL_MUTATES 0x1u  /* the method changes state (for peer_check) */

struct jsonl_method {
	const char *name;
	unsigned int flags;
	/* Returns the result (a new reference) or NULL with e filled. */
	json_t *(*fn)(void *ctx, json_t *params, const struct jsonl_peer *peer,
		      struct jsonl_error *e);
};

enum jsonl_log_level { JSONL_LOG_WARN, JSONL_LOG_DEBUG };

struct jsonl_server_config {
	const char *path;
	mode_t mode;                 /* of the socket file, e.g. 0660 */
	gid_t gid;                   /* its group; (gid_t)-1 keeps ours */
	size_t max_request;          /* bytes in one request line */
	unsigned int max_clients;
	unsigned int idle_timeout_ms;
	size_t max_output;           /* unread answers before we give up */
	int limit_code;              /* error code for "too many connections" */
	const struct jsonl_method *methods;
	size_t n_methods;
	/* Before each call: 0 allows it; otherwise fill e and return < 0.
	 * NULL allows every call. */
	int (*peer_check)(void *ctx, const struct jsonl_peer *peer,
			  const struct jsonl_method *m, struct jsonl_error *e);
	void (*log)(void *ctx, enum jsonl_log_level lvl, const char *fmt,
		    va_list ap);
	void *ctx;
};

struct jsonl_server;

/*
 * Listen on cfg->path. A stale socket file (nobody listening) is
 * replaced; a live one is not. The file has cfg->mode and cfg->gid before
 * anyone but us can connect. cfg (and its method table) must outlive the
 * server. Returns 0 with *out set, -EADDRINUSE when another server
 * listens there, or another -errno.
 */
int jsonl_server_open(const struct jsonl_server_config *cfg,
		      struct jsonl_server **out);

/* Close every connection and the socket, and remove the socket file. */
void jsonl_server_close(struct jsonl_server *s);

/*
 * Fill up to max pollfds to wait on, closing connections that were idle
 * too long. Returns how many were filled.
 */
int jsonl_server_fds(struct jsonl_server *s, struct pollfd *pfd, int max);

/* Serve what poll() reported on the n pollfds jsonl_server_fds() filled. */
void jsonl_server_handle(struct jsonl_server *s, const struct pollfd *pfd,
			 int n);

/* Open connections, for status. */
unsigned int jsonl_server_clients(const struct jsonl_server *s);

#endif
