/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * JSON-lines server (jsonl_server.h). One poll loop, no threads: each
 * request is parsed, checked against the peer and dispatched in turn, and
 * answers are queued per connection so a slow reader blocks nobody.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "jsonl_server.h"

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif

struct jsonl_client {
	int fd;
	struct jsonl_peer peer;
	char *in;              /* max_request + 1 bytes */
	size_t in_len;
	char *out;
	size_t out_len, out_off;
	uint64_t last_ms;
	bool closing;          /* close once the output is drained */
};

struct jsonl_server {
	const struct jsonl_server_config *cfg;
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct jsonl_client *clients;   /* [cfg->max_clients] */
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void srv_log(struct jsonl_server *s, enum jsonl_log_level lvl,
		    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void srv_log(struct jsonl_server *s, enum jsonl_log_level lvl,
		    const char *fmt, ...)
{
	va_list ap;

	if (s->cfg->log == NULL)
		return;
	va_start(ap, fmt);
	s->cfg->log(s->cfg->ctx, lvl, fmt, ap);
	va_end(ap);
}

json_t *jsonl_fail(struct jsonl_error *e, int code, const char *fmt, ...)
{
	va_list ap;

	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	return NULL;
}

int jsonl_server_open(const struct jsonl_server_config *cfg,
		      struct jsonl_server **out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct jsonl_server *s;
	mode_t old;
	int fd, rc;

	if (strlen(cfg->path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, cfg->path);
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->clients = calloc(cfg->max_clients, sizeof(*s->clients));
	if (s->clients == NULL) {
		free(s);
		return -ENOMEM;
	}
	for (unsigned int i = 0; i < cfg->max_clients; i++)
		s->clients[i].fd = -1;
	s->cfg = cfg;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		rc = -errno;
		goto fail;
	}
	/* A stale socket from a killed predecessor is replaced, a live one
	 * (a second server on the same path) never. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		rc = -EADDRINUSE;
		goto fail;
	}
	unlink(cfg->path);
	/* Mode 0600 from bind on; group and final mode are set before
	 * listen(), so nobody else connects in between. */
	old = umask(0177);
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0) {
		rc = -errno;
		goto fail;
	}
	if ((cfg->gid != (gid_t)-1 && chown(cfg->path, (uid_t)-1, cfg->gid) < 0) ||
	    chmod(cfg->path, cfg->mode) < 0 || listen(fd, 128) < 0) {
		rc = -errno;
		unlink(cfg->path);
		goto fail;
	}
	s->fd = fd;
	strcpy(s->path, cfg->path);
	*out = s;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	free(s->clients);
	free(s);
	return rc;
}

static void client_drop(struct jsonl_client *c)
{
	close(c->fd);
	free(c->in);
	free(c->out);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

void jsonl_server_close(struct jsonl_server *s)
{
	if (s == NULL)
		return;
	for (unsigned int i = 0; i < s->cfg->max_clients; i++)
		if (s->clients[i].fd >= 0)
			client_drop(&s->clients[i]);
	close(s->fd);
	unlink(s->path);
	free(s->clients);
	free(s);
}

unsigned int jsonl_server_clients(const struct jsonl_server *s)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < s->cfg->max_clients; i++)
		n += s->clients[i].fd >= 0;
	return n;
}

static void client_send(struct jsonl_server *s, struct jsonl_client *c,
			json_t *msg)
{
	char *str = json_dumps(msg, JSON_COMPACT);
	size_t n;
	char *grown;

	if (str == NULL)
		return;
	n = strlen(str);
	if (c->out_len + n + 1 > s->cfg->max_output) {
		/* The client does not read its answers: stop serving it. */
		srv_log(s, JSONL_LOG_WARN, "closing a client (pid %d) that does "
			"not read its answers", (int)c->peer.pid);
		free(str);
		c->closing = true;
		c->in_len = 0;
		return;
	}
	grown = realloc(c->out, c->out_len + n + 1);
	if (grown == NULL) {
		free(str);
		c->closing = true;
		return;
	}
	c->out = grown;
	memcpy(c->out + c->out_len, str, n);
	c->out[c->out_len + n] = '\n';
	c->out_len += n + 1;
	free(str);
}

static void client_error(struct jsonl_server *s, struct jsonl_client *c,
			 json_t *id, int code, const char *msg)
{
	json_t *r = json_pack("{s:O?, s:{s:i, s:s}}", "id", id, "error",
			      "code", code, "message", msg);

	if (r != NULL)
		client_send(s, c, r);
	json_decref(r);
}

static const struct jsonl_method *method_find(struct jsonl_server *s,
					      const char *name)
{
	for (size_t i = 0; i < s->cfg->n_methods; i++)
		if (strcmp(s->cfg->methods[i].name, name) == 0)
			return &s->cfg->methods[i];
	return NULL;
}

static void client_call(struct jsonl_server *s, struct jsonl_client *c,
			json_t *id, const char *name, json_t *params)
{
	const struct jsonl_method *m = method_find(s, name);
	struct jsonl_error e = { .code = JSONL_E_INTERNAL };
	json_t *res, *r;

	if (m == NULL) {
		snprintf(e.message, sizeof(e.message), "unknown method '%.64s'", name);
		client_error(s, c, id, JSONL_E_METHOD, e.message);
		return;
	}
	if (s->cfg->peer_check != NULL &&
	    s->cfg->peer_check(s->cfg->ctx, &c->peer, m, &e) < 0) {
		srv_log(s, JSONL_LOG_WARN, "refused %s from uid %d pid %d: %s",
			name, (int)c->peer.uid, (int)c->peer.pid, e.message);
		client_error(s, c, id, e.code, e.message);
		return;
	}
	res = m->fn(s->cfg->ctx, params, &c->peer, &e);
	if (res == NULL) {
		if (e.message[0] == '\0')
			snprintf(e.message, sizeof(e.message), "%s failed", name);
		srv_log(s, JSONL_LOG_DEBUG, "%s: error %d: %s", name, e.code,
			e.message);
		client_error(s, c, id, e.code, e.message);
		return;
	}
	r = json_pack("{s:O?, s:o}", "id", id, "result", res);
	if (r != NULL)
		client_send(s, c, r);
	json_decref(r);
}

static void client_request(struct jsonl_server *s, struct jsonl_client *c,
			   const char *line, size_t len)
{
	json_error_t jerr;
	json_t *req, *id, *method, *params;
	char msg[256];

	req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (req == NULL) {
		snprintf(msg, sizeof(msg), "not JSON: %s at column %d", jerr.text,
			 jerr.column);
		client_error(s, c, NULL, JSONL_E_PARSE, msg);
		return;
	}
	id = json_object_get(req, "id");
	method = json_object_get(req, "method");
	params = json_object_get(req, "params");
	if (!json_is_object(req)) {
		client_error(s, c, NULL, JSONL_E_REQUEST, "a request is a JSON object");
	} else if (id != NULL && !json_is_integer(id) && !json_is_string(id)) {
		client_error(s, c, NULL, JSONL_E_REQUEST,
			     "'id' must be an integer or a string");
	} else if (!json_is_string(method)) {
		client_error(s, c, id, JSONL_E_REQUEST, "'method' must be a string");
	} else if (params != NULL && !json_is_object(params)) {
		client_error(s, c, id, JSONL_E_PARAMS, "'params' must be an object");
	} else {
		json_t *empty = params ? NULL : json_object();

		client_call(s, c, id, json_string_value(method),
			    params ? params : empty);
		json_decref(empty);
	}
	json_decref(req);
}

static void client_read(struct jsonl_server *s, struct jsonl_client *c)
{
	size_t max = s->cfg->max_request;
	ssize_t n;
	char *nl;

	n = read(c->fd, c->in + c->in_len, max + 1 - c->in_len);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		client_drop(c);
		return;
	}
	if (n < 0)
		return;
	c->in_len += (size_t)n;
	c->last_ms = now_ms();
	while (!c->closing && (nl = memchr(c->in, '\n', c->in_len)) != NULL) {
		size_t len = (size_t)(nl - c->in);

		if (len > 0)
			client_request(s, c, c->in, len);
		memmove(c->in, nl + 1, c->in_len - len - 1);
		c->in_len -= len + 1;
	}
	if (c->in_len > max) {
		char msg[128];

		snprintf(msg, sizeof(msg), "request longer than %zu bytes", max);
		client_error(s, c, NULL, JSONL_E_REQUEST, msg);
		c->closing = true;
		c->in_len = 0;
	}
}

static void client_write(struct jsonl_client *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = write(c->fd, c->out + c->out_off,
				  c->out_len - c->out_off);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			client_drop(c);
			return;
		}
		c->out_off += (size_t)n;
	}
	c->out_len = c->out_off = 0;
	if (c->closing)
		client_drop(c);
}

static void peer_get(int fd, struct jsonl_peer *p)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	/* Unknown credentials must not pass for root. */
	p->uid = (uid_t)-1;
	p->gid = (gid_t)-1;
	p->pid = 0;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
		p->pid = cred.pid;
		p->uid = cred.uid;
		p->gid = cred.gid;
	}
	len = sizeof(p->groups);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, p->groups, &len) == 0)
		p->ngroups = (int)(len / sizeof(gid_t));
	else
		p->ngroups = 0;  /* too many or unsupported: primary gid only */
}

static void server_accept(struct jsonl_server *s)
{
	unsigned int i;
	int fd;

	fd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	for (i = 0; i < s->cfg->max_clients && s->clients[i].fd >= 0; i++)
		;
	if (i == s->cfg->max_clients) {
		char msg[160];
		int n = snprintf(msg, sizeof(msg), "{\"id\":null,\"error\":{\"code\":%d,"
			"\"message\":\"too many connections (%u)\"}}\n",
			s->cfg->limit_code, s->cfg->max_clients);

		srv_log(s, JSONL_LOG_WARN, "refused a connection: %u open",
			s->cfg->max_clients);
		if (write(fd, msg, (size_t)n) < 0) { /* best effort */ }
		close(fd);
		return;
	}
	s->clients[i].in = malloc(s->cfg->max_request + 1);
	if (s->clients[i].in == NULL) {
		close(fd);
		return;
	}
	s->clients[i].fd = fd;
	s->clients[i].last_ms = now_ms();
	peer_get(fd, &s->clients[i].peer);
	srv_log(s, JSONL_LOG_DEBUG, "client connected: uid %d pid %d",
		(int)s->clients[i].peer.uid, (int)s->clients[i].peer.pid);
}

int jsonl_server_fds(struct jsonl_server *s, struct pollfd *pfd, int max)
{
	uint64_t now = now_ms();
	int n = 0;

	if (n < max)
		pfd[n++] = (struct pollfd){ .fd = s->fd, .events = POLLIN };
	for (unsigned int i = 0; i < s->cfg->max_clients && n < max; i++) {
		struct jsonl_client *c = &s->clients[i];

		if (c->fd < 0)
			continue;
		if (now - c->last_ms > s->cfg->idle_timeout_ms) {
			srv_log(s, JSONL_LOG_DEBUG, "closing an idle client (pid %d)",
				(int)c->peer.pid);
			client_drop(c);
			continue;
		}
		pfd[n++] = (struct pollfd){ .fd = c->fd,
			.events = (short)((c->closing ? 0 : POLLIN) |
					  (c->out_len ? POLLOUT : 0)) };
	}
	return n;
}

static struct jsonl_client *client_by_fd(struct jsonl_server *s, int fd)
{
	for (unsigned int i = 0; i < s->cfg->max_clients; i++)
		if (s->clients[i].fd == fd)
			return &s->clients[i];
	return NULL;
}

void jsonl_server_handle(struct jsonl_server *s, const struct pollfd *pfd,
			 int n)
{
	for (int k = 0; k < n; k++) {
		struct jsonl_client *c;

		if (pfd[k].revents == 0)
			continue;
		if (pfd[k].fd == s->fd) {
			server_accept(s);
			continue;
		}
		c = client_by_fd(s, pfd[k].fd);
		if (c == NULL)
			continue;
		if (pfd[k].revents & POLLIN)
			client_read(s, c);
		if (c->fd >= 0 && (pfd[k].revents & (POLLERR | POLLHUP)) &&
		    !(pfd[k].revents & POLLIN))
			client_drop(c);
		/* Answer right away: most clients wait for it. */
		if (c->fd >= 0 && c->out_len)
			client_write(c);
	}
}
