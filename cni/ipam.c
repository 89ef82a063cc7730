/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * IPAM delegation (SPEC.md, "Delegated plugins"): find the plugin named by
 * ipam.type in CNI_PATH, run it with our environment (CNI_COMMAND set to
 * the delegated command) and the same network configuration on stdin, and
 * read its result or error object from stdout.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "cni.h"

#define IPAM_TIMEOUT_MS 30000
#define IPAM_MAX_OUTPUT (1 << 20)

static int find_plugin(const char *path, const char *type, char *out,
		       size_t outlen)
{
	const char *p = path;

	while (p != NULL && *p) {
		size_t n = strcspn(p, ":");

		if (n > 0 && (size_t)snprintf(out, outlen, "%.*s/%s", (int)n, p,
					      type) < outlen &&
		    access(out, X_OK) == 0)
			return 0;
		p += n;
		if (*p == ':')
			p++;
	}
	return -ENOENT;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int ipam_run(const struct cni_env *env, const struct cni_conf *c,
		    const char *command, const char *stdin_text, json_t **result,
		    struct cni_err *e)
{
	char plugin[PATH_MAX], *out = NULL;
	int in_pipe[2], out_pipe[2], status = 0;
	size_t len = 0;
	uint64_t deadline = now_ms() + IPAM_TIMEOUT_MS;
	json_error_t jerr;
	json_t *r;
	pid_t pid;

	*result = NULL;
	if (find_plugin(env->path, c->ipam_type, plugin, sizeof(plugin)) < 0)
		return cni_fail(e, CNI_E_CONFIG, "IPAM plugin '%s' not found in "
				"CNI_PATH '%s'", c->ipam_type, env->path);
	if (pipe2(in_pipe, O_CLOEXEC) < 0)
		return cni_fail(e, CNI_E_IO, "pipe: %s", strerror(errno));
	if (pipe2(out_pipe, O_CLOEXEC) < 0) {
		close(in_pipe[0]);
		close(in_pipe[1]);
		return cni_fail(e, CNI_E_IO, "pipe: %s", strerror(errno));
	}
	pid = fork();
	if (pid == 0) {
		dup2(in_pipe[0], 0);
		dup2(out_pipe[1], 1);
		setenv("CNI_COMMAND", command, 1);
		/* GC releases other containers' addresses: their ids here. */
		if (env->container_id)
			setenv("CNI_CONTAINERID", env->container_id, 1);
		if (env->ifname)
			setenv("CNI_IFNAME", env->ifname, 1);
		execl(plugin, plugin, (char *)NULL);
		_exit(127);
	}
	close(in_pipe[0]);
	close(out_pipe[1]);
	if (pid < 0) {
		close(in_pipe[1]);
		close(out_pipe[0]);
		return cni_fail(e, CNI_E_IO, "fork: %s", strerror(errno));
	}
	/* The configuration is small: one write fits the pipe buffer. */
	signal(SIGPIPE, SIG_IGN);
	if (write(in_pipe[1], stdin_text, strlen(stdin_text)) < 0) { /* it failed; its status says */ }
	close(in_pipe[1]);
	out = malloc(IPAM_MAX_OUTPUT + 1);
	while (out != NULL && len < IPAM_MAX_OUTPUT) {
		struct pollfd pfd = { .fd = out_pipe[0], .events = POLLIN };
		int64_t left = (int64_t)(deadline - now_ms());
		ssize_t n;

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0) {
			kill(pid, SIGKILL);
			break;
		}
		n = read(out_pipe[0], out + len, IPAM_MAX_OUTPUT - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(out_pipe[0]);
	waitpid(pid, &status, 0);
	if (out == NULL)
		return cni_fail(e, CNI_E_IO, "no memory for IPAM output");
	out[len] = '\0';
	r = len ? json_loads(out, 0, &jerr) : NULL;
	free(out);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		json_t *msg = json_object_get(r, "msg");
		json_t *code = json_object_get(r, "code");

		cni_fail(e, json_is_integer(code) ? (int)json_integer_value(code)
						  : CNI_E_IPAM,
			 "IPAM plugin '%s' %s failed: %s", c->ipam_type, command,
			 json_is_string(msg) ? json_string_value(msg) :
			 WIFEXITED(status) ? "no error object" : "killed (timeout?)");
		json_decref(r);
		return -e->code;
	}
	if (strcmp(command, "ADD") == 0 && !json_is_object(r)) {
		json_decref(r);
		return cni_fail(e, CNI_E_IPAM, "IPAM plugin '%s' printed no result",
				c->ipam_type);
	}
	*result = r;
	return 0;
}

/*
 * IPAM plugins older than spec 1.1 (Debian 12's host-local speaks 1.0.0)
 * refuse a 1.1.0 configuration with code 1. The 1.0.0 result has the same
 * shape, so ask again as 1.0.0.
 */
int cni_ipam_exec(const struct cni_env *env, const struct cni_conf *c,
		  const char *command, const char *stdin_text, json_t **result,
		  struct cni_err *e)
{
	json_t *conf;
	char *text;
	int rc = ipam_run(env, c, command, stdin_text, result, e);

	if (rc != -CNI_E_VERSION || strcmp(c->version, "1.1.0") != 0)
		return rc;
	conf = json_deep_copy(c->raw);
	json_object_set_new(conf, "cniVersion", json_string("1.0.0"));
	text = json_dumps(conf, JSON_COMPACT);
	json_decref(conf);
	if (text == NULL)
		return rc;
	rc = ipam_run(env, c, command, text, result, e);
	free(text);
	if (rc == 0 && *result != NULL)
		json_object_set_new(*result, "cniVersion", json_string("1.1.0"));
	return rc;
}
