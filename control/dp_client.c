/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Data plane client (dp_client.h). One request in flight at a time, so an
 * answer is matched by id and anything else on the line is a protocol
 * error that closes the connection.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <shunt/dp_api.h>
#include "dp_client.h"
#include "log.h"

#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 1000
/* Well inside the data plane's idle timeout, so it never drops us. */
#define KEEPALIVE_MS 60000
#define MAX_ANSWER (16u << 20)

struct dp_client {
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char base[NAME_MAX + 1];    /* socket file name, for inotify */
	unsigned int timeout_ms;
	int fd;                     /* -1: not connected */
	int ino_fd, ino_wd;
	uint64_t retry_at_ms;       /* next connect attempt */
	unsigned int backoff_ms;
	uint64_t last_call_ms;
	json_int_t next_id;
	char *buf;                  /* bytes read past the last answer */
	size_t buf_len;
	json_t *version;
	unsigned int connects;
	bool logged_down;           /* say "unreachable" once per outage */
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void watch_dir(struct dp_client *c)
{
	char dir[sizeof(c->path)];

	if (c->ino_fd < 0 || c->ino_wd >= 0)
		return;
	strcpy(dir, c->path);
	/* The directory may not exist yet (/run/shunt before the data
	 * plane's first start): the backoff covers that case. */
	c->ino_wd = inotify_add_watch(c->ino_fd, dirname(dir),
				      IN_CREATE | IN_MOVED_TO | IN_ATTRIB);
}

int dp_client_new(const char *path, unsigned int timeout_ms,
		  struct dp_client **out)
{
	struct dp_client *c;
	char tmp[sizeof(c->path)];

	if (strlen(path) >= sizeof(c->path))
		return -ENAMETOOLONG;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	strcpy(c->path, path);
	strcpy(tmp, path);
	snprintf(c->base, sizeof(c->base), "%s", basename(tmp));
	c->timeout_ms = timeout_ms;
	c->fd = -1;
	c->ino_wd = -1;
	c->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	c->backoff_ms = BACKOFF_MIN_MS;
	c->next_id = 1;
	watch_dir(c);
	*out = c;
	return 0;
}

/* Close the connection; an established one is retried at once. */
static void conn_drop(struct dp_client *c)
{
	if (c->fd < 0)
		return;
	if (c->version != NULL) {
		log_warn("data plane %s: connection lost", c->path);
		c->backoff_ms = BACKOFF_MIN_MS;
		c->retry_at_ms = now_ms();
	}
	close(c->fd);
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
	c->buf_len = 0;
	json_decref(c->version);
	c->version = NULL;
}

void dp_client_disconnect(struct dp_client *c)
{
	conn_drop(c);
}

void dp_client_free(struct dp_client *c)
{
	if (c == NULL)
		return;
	if (c->fd >= 0)
		close(c->fd);
	if (c->ino_fd >= 0)
		close(c->ino_fd);
	free(c->buf);
	json_decref(c->version);
	free(c);
}

bool dp_client_connected(const struct dp_client *c) { return c->fd >= 0; }
const char *dp_client_path(const struct dp_client *c) { return c->path; }
json_t *dp_client_version(const struct dp_client *c) { return c->version; }
unsigned int dp_client_connects(const struct dp_client *c) { return c->connects; }

/* Wait for events on fd until deadline. Returns 0, or -ETIMEDOUT. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		uint64_t now = now_ms();
		int rc;

		if (now >= deadline)
			return -ETIMEDOUT;
		rc = poll(&p, 1, (int)(deadline - now));
		if (rc > 0)
			return 0;
		if (rc < 0 && errno != EINTR)
			return -errno;
	}
}

static int send_all(struct dp_client *c, const char *s, size_t n,
		    uint64_t deadline)
{
	while (n > 0) {
		ssize_t w = send(c->fd, s, n, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR) {
				int rc = wait_fd(c->fd, POLLOUT, deadline);

				if (rc < 0)
					return rc;
				continue;
			}
			return -EPIPE;
		}
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read one line (without the newline) into *line (malloc'd). */
static int read_line(struct dp_client *c, char **line, uint64_t deadline)
{
	for (;;) {
		char *nl = c->buf ? memchr(c->buf, '\n', c->buf_len) : NULL;
		char *grown;
		ssize_t r;
		int rc;

		if (nl != NULL) {
			size_t len = (size_t)(nl - c->buf);

			*line = strndup(c->buf, len);
			memmove(c->buf, nl + 1, c->buf_len - len - 1);
			c->buf_len -= len + 1;
			return *line ? 0 : -ENOMEM;
		}
		if (c->buf_len >= MAX_ANSWER)
			return -EPROTO;
		grown = realloc(c->buf, c->buf_len + 65536);
		if (grown == NULL)
			return -ENOMEM;
		c->buf = grown;
		r = recv(c->fd, c->buf + c->buf_len, 65536, 0);
		if (r == 0)
			return -EPIPE;
		if (r < 0) {
			if (errno != EAGAIN && errno != EINTR)
				return -EPIPE;
			rc = wait_fd(c->fd, POLLIN, deadline);
			if (rc < 0)
				return rc;
			continue;
		}
		c->buf_len += (size_t)r;
	}
}

int dp_client_call(struct dp_client *c, const char *method, json_t *params,
		   json_t **result, int *code, char *msg, size_t msglen)
{
	uint64_t deadline = now_ms() + c->timeout_ms;
	json_int_t id = c->next_id++;
	json_t *req, *ans, *v;
	json_error_t jerr;
	char *s, *line = NULL;
	int rc;

	*result = NULL;
	if (c->fd < 0) {
		snprintf(msg, msglen, "data plane not connected (%s)", c->path);
		return -ENOTCONN;
	}
	/* Always an object: the data plane refuses "params": null. */
	req = json_pack("{s:I, s:s, s:o}", "id", id, "method", method,
			"params", params ? json_incref(params) : json_object());
	s = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	if (s == NULL)
		return -ENOMEM;
	log_debug("dp <- %s", s);
	rc = send_all(c, s, strlen(s), deadline);
	if (rc == 0)
		rc = send_all(c, "\n", 1, deadline);
	free(s);
	if (rc == 0)
		rc = read_line(c, &line, deadline);
	if (rc < 0) {
		snprintf(msg, msglen, "data plane %s: %s", method,
			 rc == -ETIMEDOUT ? "no answer in time" : "connection lost");
		conn_drop(c);
		return rc == -ETIMEDOUT ? rc : -EPIPE;
	}
	c->last_call_ms = now_ms();
	log_debug("dp -> %s", line);
	ans = json_loads(line, 0, &jerr);
	free(line);
	v = json_object_get(ans, "id");
	if (ans == NULL || !json_is_integer(v) || json_integer_value(v) != id) {
		/* Also the data plane refusing us at accept (id null). */
		v = json_object_get(json_object_get(ans, "error"), "message");
		snprintf(msg, msglen, "data plane %s: unexpected answer%s%s", method,
			 json_is_string(v) ? ": " : "",
			 json_is_string(v) ? json_string_value(v) : "");
		json_decref(ans);
		conn_drop(c);
		return -EPIPE;
	}
	if ((v = json_object_get(ans, "error")) != NULL) {
		json_t *m = json_object_get(v, "message");

		*code = (int)json_integer_value(json_object_get(v, "code"));
		snprintf(msg, msglen, "%s", json_is_string(m) ?
			 json_string_value(m) : "error without a message");
		json_decref(ans);
		return -EREMOTEIO;
	}
	*result = json_incref(json_object_get(ans, "result"));
	json_decref(ans);
	return *result ? 0 : -EPROTO;
}

int dp_client_do(struct dp_client *c, const char *method, json_t *params,
		 int *code, char *msg, size_t msglen)
{
	json_t *res = NULL;
	int rc;

	*code = 0;
	rc = dp_client_call(c, method, params, &res, code, msg, msglen);
	json_decref(params);
	json_decref(res);
	return rc;
}

static int try_connect(struct dp_client *c)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char msg[256];
	json_t *ver;
	int code, rc;

	strcpy(sa.sun_path, c->path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->fd < 0)
		return -errno;
	/* Unix stream connect completes or fails at once; it does not wait
	 * for the server's accept. */
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		close(c->fd);
		c->fd = -1;
		return rc;
	}
	rc = dp_client_call(c, DP_M_VERSION, NULL, &ver, &code, msg, sizeof(msg));
	if (rc < 0) {
		log_debug("data plane %s: %s", c->path, msg);
		conn_drop(c);
		return rc;
	}
	c->version = ver;
	c->connects++;
	c->backoff_ms = BACKOFF_MIN_MS;
	c->logged_down = false;
	log_info("data plane %s: connected (version %s, api %lld)", c->path,
		 json_string_value(json_object_get(ver, "version")),
		 (long long)json_integer_value(json_object_get(ver, "api")));
	return 0;
}

int dp_client_fds(struct dp_client *c, struct pollfd *pfd, int max)
{
	int n = 0;

	watch_dir(c);
	/* Connected and idle, the socket is readable only when the data
	 * plane goes away (or says something unasked). */
	if (c->fd >= 0 && n < max)
		pfd[n++] = (struct pollfd){ .fd = c->fd, .events = POLLIN };
	if (c->ino_fd >= 0 && c->ino_wd >= 0 && n < max)
		pfd[n++] = (struct pollfd){ .fd = c->ino_fd, .events = POLLIN };
	return n;
}

int dp_client_timeout_ms(const struct dp_client *c)
{
	uint64_t now = now_ms(), at;

	at = c->fd >= 0 ? c->last_call_ms + KEEPALIVE_MS : c->retry_at_ms;
	return at <= now ? 0 : (int)(at - now);
}

static void inotify_drain(struct dp_client *c)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	while ((n = read(c->ino_fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;

			if (ev->mask & IN_IGNORED)
				c->ino_wd = -1;  /* directory removed */
			if (ev->len && strcmp(ev->name, c->base) == 0 && c->fd < 0) {
				/* The socket appeared: try now, and again soon
				 * (it is bound before it listens). */
				c->backoff_ms = BACKOFF_MIN_MS;
				c->retry_at_ms = 0;
			}
			p += sizeof(*ev) + ev->len;
		}
	}
}

int dp_client_handle(struct dp_client *c, const struct pollfd *pfd, int n)
{
	uint64_t now;

	for (int k = 0; k < n; k++) {
		if (pfd[k].revents == 0)
			continue;
		if (pfd[k].fd == c->ino_fd)
			inotify_drain(c);
		else if (pfd[k].fd == c->fd)
			conn_drop(c);  /* EOF or unasked bytes */
	}
	now = now_ms();
	if (c->fd >= 0) {
		if (now >= c->last_call_ms + KEEPALIVE_MS) {
			json_t *r;
			char msg[128];
			int code;

			if (dp_client_call(c, DP_M_VERSION, NULL, &r, &code, msg,
					   sizeof(msg)) == 0)
				json_decref(r);
		}
		return 0;
	}
	if (now < c->retry_at_ms)
		return 0;
	if (try_connect(c) == 0)
		return 1;
	if (!c->logged_down) {
		log_warn("data plane %s: unreachable; retrying", c->path);
		c->logged_down = true;
	}
	c->retry_at_ms = now_ms() + c->backoff_ms;
	c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS
							   : c->backoff_ms * 2;
	return 0;
}
