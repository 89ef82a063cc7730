/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Talking to shuntd, with a deadline well under the kubelet's; and the DEL
 * queue: a DEL while shuntd is down is written to disk (bounded) and
 * replayed by the next invocation that reaches shuntd, so the runtime's
 * DEL succeeds and nothing leaks.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>
#include <shunt/agent_api.h>
#include "jsonl_client.h"
#include "cni.h"

#define DELQ_MAX 4096

int cni_agent_call(const char *socket, const char *method, json_t *params,
		   json_t **result, struct cni_err *e)
{
	struct jsonl_client *cl;
	char msg[512];
	int rc, code = 0;

	*result = NULL;
	rc = jsonl_client_open(socket, CNI_AGENT_TIMEOUT_MS, &cl);
	if (rc < 0)
		return cni_fail(e, CNI_E_AGAIN, "shuntd at %s is not reachable: %s",
				socket, strerror(-rc));
	rc = jsonl_client_call(cl, method, params, result, &code, msg, sizeof(msg));
	jsonl_client_close(cl);
	if (rc == -EREMOTEIO) {
		cni_fail(e, CNI_E_AGENT, "shuntd %s: %s", method, msg);
		snprintf(e->details, sizeof(e->details), "shuntd error code %d", code);
		return -CNI_E_AGENT;
	}
	if (rc < 0)
		return cni_fail(e, CNI_E_AGAIN, "shuntd %s: %s", method, msg);
	return 0;
}

static int delq_name(const char *dir, const char *cid, const char *ifname,
		     char *out, size_t len)
{
	/* Container ids and interface names are [A-Za-z0-9_.-] in practice;
	 * anything else would make a path: refuse it. */
	for (const char *s = cid; *s; s++)
		if (*s == '/')
			return -EINVAL;
	for (const char *s = ifname; *s; s++)
		if (*s == '/')
			return -EINVAL;
	if ((size_t)snprintf(out, len, "%s/%s@%s.json", dir, cid, ifname) >= len)
		return -ENAMETOOLONG;
	return 0;
}

int cni_delq_push(const char *dir, const struct cni_env *env,
		  const struct cni_conf *c, struct cni_err *e)
{
	char path[4096], tmp[4200];
	json_t *entry;
	DIR *d;
	int n = 0, fd;

	mkdir(dir, 0700);
	d = opendir(dir);
	if (d == NULL)
		return cni_fail(e, CNI_E_IO, "DEL queue %s: %s", dir, strerror(errno));
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	if (n > DELQ_MAX)
		return cni_fail(e, CNI_E_AGAIN, "DEL queue %s is full (%d entries) "
				"and shuntd is down", dir, DELQ_MAX);
	if (delq_name(dir, env->container_id, env->ifname, path, sizeof(path)) < 0)
		return cni_fail(e, CNI_E_ENV, "CNI_CONTAINERID/CNI_IFNAME contain '/'");
	entry = json_pack("{s:s, s:s, s:s, s:s}", "container_id", env->container_id,
			  "ifname", env->ifname, "netns", env->netns ? env->netns : "",
			  "socket", c->socket);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || json_dumpfd(entry, fd, JSON_COMPACT) < 0 || fsync(fd) < 0 ||
	    rename(tmp, path) < 0) {
		int err = errno;

		if (fd >= 0)
			close(fd);
		json_decref(entry);
		return cni_fail(e, CNI_E_IO, "DEL queue %s: %s", path, strerror(err));
	}
	close(fd);
	json_decref(entry);
	syslog(LOG_NOTICE, "shuntd down: DEL of %s/%s queued in %s",
	       env->container_id, env->ifname, dir);
	return 0;
}

void cni_delq_replay(const char *dir, const char *socket)
{
	struct cni_err e;
	struct dirent *de;
	DIR *d = opendir(dir);

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		char path[4096];
		json_t *entry, *res;
		size_t n = strlen(de->d_name);

		if (n < 6 || strcmp(de->d_name + n - 5, ".json") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		entry = json_load_file(path, 0, NULL);
		if (!json_is_object(entry)) {
			syslog(LOG_WARNING, "DEL queue: %s is not JSON; removed", path);
			unlink(path);
			json_decref(entry);
			continue;
		}
		json_object_del(entry, "socket");
		if (json_string_length(json_object_get(entry, "netns")) == 0)
			json_object_del(entry, "netns");
		if (cni_agent_call(socket, AGENT_M_DETACH, entry, &res, &e) == 0) {
			syslog(LOG_NOTICE, "DEL queue: replayed %s", de->d_name);
			unlink(path);
			json_decref(res);
		} else if (e.code == CNI_E_AGAIN) {
			json_decref(entry);
			break;  /* still down: try again next time */
		} else {
			syslog(LOG_WARNING, "DEL queue: %s: %s; dropped", de->d_name, e.msg);
			unlink(path);
		}
		json_decref(entry);
	}
	closedir(d);
}
