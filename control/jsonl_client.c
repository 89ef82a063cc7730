/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include "jsonl_client.h"

#define MAX_ANSWER (64u << 20)

struct jsonl_client {
	int fd;
	unsigned int timeout_ms;
	long long next_id;
	char *buf;
	size_t len;
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int jsonl_client_open(const char *path, unsigned int timeout_ms,
		      struct jsonl_client **out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct jsonl_client *c;
	int rc;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		if (c->fd >= 0)
			close(c->fd);
		free(c);
		return rc;
	}
	c->timeout_ms = timeout_ms;
	c->next_id = 1;
	*out = c;
	return 0;
}

void jsonl_client_close(struct jsonl_client *c)
{
	if (c == NULL)
		return;
	close(c->fd);
	free(c->buf);
	free(c);
}

static int wait_for(int fd, short ev, long long deadline)
{
	struct pollfd p = { .fd = fd, .events = ev };
	long long left;
	int rc;

	do {
		left = deadline - now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		rc = poll(&p, 1, (int)left);
	} while (rc < 0 && errno == EINTR);
	if (rc < 0)
		return -errno;
	return rc == 0 ? -ETIMEDOUT : 0;
}

int jsonl_client_call(struct jsonl_client *c, const char *method,
		      json_t *params, json_t **result, int *code, char *msg,
		      size_t msglen)
{
	long long deadline = now_ms() + c->timeout_ms, id = c->next_id++;
	json_t *req, *ans, *err, *v;
	char *s, *nl;
	size_t n, off = 0;
	int rc;

	*result = NULL;
	req = json_pack("{s:I, s:s, s:o}", "id", (json_int_t)id, "method", method,
			"params", params ? json_incref(params) : json_object());
	s = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	if (s == NULL)
		return -ENOMEM;
	n = strlen(s);
	s[n++] = '\n';  /* json_dumps left the NUL's room */
	while (off < n) {
		ssize_t w;

		rc = wait_for(c->fd, POLLOUT, deadline);
		if (rc < 0)
			goto fail;
		w = send(c->fd, s + off, n - off, MSG_NOSIGNAL);
		if (w < 0) {
			rc = errno == EINTR ? 0 : -EPIPE;
			if (rc < 0)
				goto fail;
			continue;
		}
		off += (size_t)w;
	}
	free(s);
	s = NULL;
	while ((nl = c->buf ? memchr(c->buf, '\n', c->len) : NULL) == NULL) {
		char *grown;
		ssize_t r;

		if (c->len >= MAX_ANSWER) {
			rc = -EPROTO;
			goto fail;
		}
		rc = wait_for(c->fd, POLLIN, deadline);
		if (rc < 0)
			goto fail;
		grown = realloc(c->buf, c->len + 65536);
		if (grown == NULL) {
			rc = -ENOMEM;
			goto fail;
		}
		c->buf = grown;
		r = recv(c->fd, c->buf + c->len, 65536, 0);
		if (r <= 0) {
			rc = -EPIPE;
			goto fail;
		}
		c->len += (size_t)r;
	}
	ans = json_loadb(c->buf, (size_t)(nl - c->buf), 0, NULL);
	c->len -= (size_t)(nl - c->buf) + 1;
	memmove(c->buf, nl + 1, c->len);
	err = json_object_get(ans, "error");
	v = json_object_get(ans, "id");
	if (err != NULL) {
		/* Also a refusal at connect (id null): it is the answer. */
		json_t *m = json_object_get(err, "message");

		*code = (int)json_integer_value(json_object_get(err, "code"));
		snprintf(msg, msglen, "%s", json_is_string(m) ? json_string_value(m)
							     : "error without a message");
		json_decref(ans);
		return -EREMOTEIO;
	}
	if (!json_is_integer(v) || json_integer_value(v) != id ||
	    (*result = json_incref(json_object_get(ans, "result"))) == NULL) {
		json_decref(ans);
		snprintf(msg, msglen, "%s: malformed answer", method);
		return -EPROTO;
	}
	json_decref(ans);
	return 0;
fail:
	free(s);
	snprintf(msg, msglen, "%s: %s", method, rc == -ETIMEDOUT ? "no answer in time"
		 : rc == -EPIPE ? "connection closed" : strerror(-rc));
	return rc;
}
