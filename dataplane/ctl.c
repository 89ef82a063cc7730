/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control channel's transport: a unix stream socket, one JSON object
 * per line (include/shunt/dp_api.h). Runs on the control thread only.
 * Limits every client-controlled resource: request size, connections,
 * pending output, idle time. Peers must be root or our own uid.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <shunt/dp_api.h>
#include "dp.h"
#include "log.h"

#define CTL_MAX_OUTPUT (16u << 20)

struct ctl_client {
	int fd;
	size_t in_len;
	char *in;              /* DP_API_MAX_REQUEST + 1 */
	char *out;
	size_t out_len, out_off;
	uint64_t last_ms;
	bool closing;          /* close once output drained */
};

static int listen_fd = -1;
static char listen_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static struct ctl_client clients[DP_API_MAX_CLIENTS];

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int ctl_open(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	mode_t old;
	int fd, rc;

	for (int i = 0; i < DP_API_MAX_CLIENTS; i++)
		clients[i].fd = -1;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* A stale socket from a killed predecessor: replace it, but never a
	 * live one (a second data plane on the same path). */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		close(fd);
		return -EADDRINUSE;
	}
	unlink(path);
	old = umask(0177);  /* mode 0600 from the start, no chmod race */
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0 || listen(fd, 64) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	listen_fd = fd;
	strcpy(listen_path, path);
	return 0;
}

void ctl_close(void)
{
	for (int i = 0; i < DP_API_MAX_CLIENTS; i++)
		if (clients[i].fd >= 0) {
			close(clients[i].fd);
			free(clients[i].in);
			free(clients[i].out);
			clients[i].fd = -1;
		}
	if (listen_fd >= 0) {
		close(listen_fd);
		unlink(listen_path);
		listen_fd = -1;
	}
}

static void client_drop(struct ctl_client *c)
{
	close(c->fd);
	free(c->in);
	free(c->out);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

static void client_send(struct ctl_client *c, json_t *msg)
{
	char *s = json_dumps(msg, JSON_COMPACT);
	size_t n;

	if (s == NULL)
		return;
	n = strlen(s);
	if (c->out_len + n + 1 > CTL_MAX_OUTPUT) {
		/* The client does not read its answers: stop serving it. */
		free(s);
		c->closing = true;
		c->in_len = 0;
		return;
	}
	c->out = realloc(c->out, c->out_len + n + 1);
	memcpy(c->out + c->out_len, s, n);
	c->out[c->out_len + n] = '\n';
	c->out_len += n + 1;
	free(s);
}

static void client_error(struct ctl_client *c, json_t *id, int code,
			 const char *msg)
{
	json_t *r = json_pack("{s:O?, s:{s:i, s:s}}", "id", id, "error",
			      "code", code, "message", msg);

	client_send(c, r);
	json_decref(r);
}

static void client_request(struct ctl_client *c, const char *line, size_t len)
{
	json_error_t jerr;
	json_t *req, *id, *method, *params, *res;
	char err[512] = "", msg[600];
	int code = 0;

	req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (req == NULL) {
		snprintf(msg, sizeof(msg), "not JSON: %s at column %d", jerr.text,
			 jerr.column);
		return client_error(c, NULL, DP_E_PARSE, msg);
	}
	id = json_object_get(req, "id");
	method = json_object_get(req, "method");
	params = json_object_get(req, "params");
	if (!json_is_object(req)) {
		client_error(c, NULL, DP_E_REQUEST, "a request is a JSON object");
	} else if (id != NULL && !json_is_integer(id) && !json_is_string(id)) {
		client_error(c, NULL, DP_E_REQUEST, "'id' must be an integer or a string");
	} else if (!json_is_string(method)) {
		client_error(c, id, DP_E_REQUEST, "'method' must be a string");
	} else if (params != NULL && !json_is_object(params)) {
		client_error(c, id, DP_E_PARAMS, "'params' must be an object");
	} else {
		json_t *empty = json_object();

		res = ctl_dispatch(json_string_value(method),
				   params ? params : empty, &code, err,
				   sizeof(err));
		json_decref(empty);
		if (res == NULL) {
			log_debug("ctl: %s: %s", json_string_value(method), err);
			client_error(c, id, code, err);
		} else {
			json_t *r = json_pack("{s:O?, s:o}", "id", id, "result", res);

			client_send(c, r);
			json_decref(r);
		}
	}
	json_decref(req);
}

static void client_read(struct ctl_client *c)
{
	ssize_t n;
	char *nl;

	n = read(c->fd, c->in + c->in_len, DP_API_MAX_REQUEST + 1 - c->in_len);
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
			client_request(c, c->in, len);
		memmove(c->in, nl + 1, c->in_len - len - 1);
		c->in_len -= len + 1;
	}
	if (c->in_len > DP_API_MAX_REQUEST) {
		char msg[128];

		snprintf(msg, sizeof(msg), "request longer than %d bytes",
			 DP_API_MAX_REQUEST);
		client_error(c, NULL, DP_E_REQUEST, msg);
		c->closing = true;
		c->in_len = 0;
	}
}

static void client_write(struct ctl_client *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);

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

static void ctl_accept(void)
{
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	int fd, i;

	fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 ||
	    (cred.uid != 0 && cred.uid != geteuid())) {
		static const char msg[] = "{\"id\":null,\"error\":{\"code\":5,"
			"\"message\":\"permission denied: uid not allowed\"}}\n";

		log_warn("ctl: refused a client with uid %d", (int)cred.uid);
		if (write(fd, msg, sizeof(msg) - 1) < 0) { /* best effort */ }
		close(fd);
		return;
	}
	for (i = 0; i < DP_API_MAX_CLIENTS && clients[i].fd >= 0; i++)
		;
	if (i == DP_API_MAX_CLIENTS) {
		static const char msg[] = "{\"id\":null,\"error\":{\"code\":3,"
			"\"message\":\"too many control connections\"}}\n";

		if (write(fd, msg, sizeof(msg) - 1) < 0) { /* best effort */ }
		close(fd);
		return;
	}
	clients[i].in = malloc(DP_API_MAX_REQUEST + 1);
	if (clients[i].in == NULL) {
		close(fd);
		return;
	}
	clients[i].fd = fd;
	clients[i].last_ms = now_ms();
}

int ctl_fds(struct pollfd *pfd, int max)
{
	int n = 0;
	uint64_t now = now_ms();

	if (listen_fd >= 0 && n < max)
		pfd[n++] = (struct pollfd){ .fd = listen_fd, .events = POLLIN };
	for (int i = 0; i < DP_API_MAX_CLIENTS && n < max; i++) {
		struct ctl_client *c = &clients[i];

		if (c->fd < 0)
			continue;
		if (now - c->last_ms > DP_API_IDLE_TIMEOUT_MS) {
			client_drop(c);
			continue;
		}
		pfd[n++] = (struct pollfd){ .fd = c->fd,
			.events = (short)((c->closing ? 0 : POLLIN) |
					  (c->out_len ? POLLOUT : 0)) };
	}
	return n;
}

void ctl_handle(struct pollfd *pfd, int n)
{
	for (int k = 0; k < n; k++) {
		if (pfd[k].revents == 0)
			continue;
		if (pfd[k].fd == listen_fd) {
			ctl_accept();
			continue;
		}
		for (int i = 0; i < DP_API_MAX_CLIENTS; i++) {
			struct ctl_client *c = &clients[i];

			if (c->fd != pfd[k].fd)
				continue;
			if (pfd[k].revents & POLLIN)
				client_read(c);
			if (c->fd >= 0 && (pfd[k].revents & (POLLERR | POLLHUP)) &&
			    !(pfd[k].revents & POLLIN))
				client_drop(c);
			if (c->fd >= 0 && c->out_len)
				client_write(c);
			break;
		}
	}
}
