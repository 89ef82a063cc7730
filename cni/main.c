/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * shunt: the CNI plugin (spec 1.1.0; configurations 0.3.0 to 1.1.0).
 * Short-lived: validates, delegates IPAM, asks shuntd to attach or detach,
 * prints the result. Logs to syslog, never to stdout.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <shunt/agent_api.h>
#include "cni.h"

#define STDIN_MAX (1 << 20)
#define DELQ_DIR_DEFAULT "/var/lib/shunt/cni-del-queue"

static const char *delq_dir(void)
{
	const char *d = getenv("SHUNT_CNI_DEL_QUEUE");

	return d && *d ? d : DELQ_DIR_DEFAULT;
}

static char *read_stdin(size_t *len)
{
	char *buf = malloc(STDIN_MAX + 1);
	size_t n = 0;
	ssize_t r;

	if (buf == NULL)
		return NULL;
	while (n < STDIN_MAX && (r = read(0, buf + n, STDIN_MAX - n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
	*len = n;
	return buf;
}

static int need_env(const char *name, const char *v, struct cni_err *e)
{
	if (v == NULL || *v == '\0')
		return cni_fail(e, CNI_E_ENV, "%s is required for this command", name);
	return 0;
}

static void print_json(json_t *o)
{
	json_dumpf(o, stdout, JSON_INDENT(2));
	fputc('\n', stdout);
}

static int report(const char *version, const struct cni_err *e)
{
	json_t *o = json_pack("{s:s, s:i, s:s}", "cniVersion",
			      version && cni_version_index(version) >= 0 ? version : "1.1.0",
			      "code", e->code, "msg", e->msg);

	if (e->details[0])
		json_object_set_new(o, "details", json_string(e->details));
	syslog(LOG_ERR, "error %d: %s", e->code, e->msg);
	print_json(o);
	json_decref(o);
	return 1;
}

/* The pod's addresses as IPAM gave them ("addr/len"), for attach. */
static json_t *ipam_ips(json_t *ipam)
{
	json_t *ips = json_array(), *v;
	size_t i;

	json_array_foreach(json_object_get(ipam, "ips"), i, v) {
		json_t *a = json_object_get(v, "address");

		if (json_is_string(a))
			json_array_append(ips, a);
	}
	return ips;
}

/* A network shuntd does not know yet is made from what IPAM handed out:
 * the subnets of the addresses, the configuration's mtu and mode. */
static int network_ensure(const struct cni_conf *c, json_t *ips,
			  struct cni_err *e)
{
	json_t *prefixes = json_array(), *v, *res, *p;
	size_t i;
	int rc;

	json_array_foreach(ips, i, v) {
		char buf[128], net[INET6_ADDRSTRLEN];
		uint8_t a[16] = { 0 };
		int len = -1, fam;
		char *slash;

		snprintf(buf, sizeof(buf), "%s", json_string_value(v) ?: "");
		slash = strchr(buf, '/');
		if (slash == NULL)
			continue;
		*slash = '\0';
		len = atoi(slash + 1);
		fam = strchr(buf, ':') ? AF_INET6 : AF_INET;
		if (inet_pton(fam, buf, a) != 1 || len < 0 || len > (fam == AF_INET ? 32 : 128))
			continue;
		for (int bit = len; bit < (fam == AF_INET ? 32 : 128); bit++)
			a[bit / 8] &= (uint8_t)~(0x80 >> (bit % 8));
		inet_ntop(fam, a, net, sizeof(net));
		snprintf(buf, sizeof(buf), "%s/%d", net, len);
		json_array_append_new(prefixes, json_string(buf));
	}
	p = json_pack("{s:s, s:o}", "name", c->name, "prefixes", prefixes);
	if (c->mtu)
		json_object_set_new(p, "mtu", json_integer(c->mtu));
	if (c->mode)
		json_object_set_new(p, "mode", json_string(c->mode));
	rc = cni_agent_call(c->socket, AGENT_M_NETWORK_CREATE, p, &res, e);
	json_decref(p);
	json_decref(res);
	return rc;
}

/* veth+memif: the memif app has addresses of its own (the data plane
 * routes an address to one port), allocated by the same IPAM under the
 * interface name "<ifname>-memif", the name the result gives it. */
static bool conf_memif_own_ips(const char *mode)
{
	return mode != NULL && strcmp(mode, AGENT_MODE_VETH_MEMIF) == 0;
}

static struct cni_env memif_env(const struct cni_env *env, char *buf, size_t n)
{
	struct cni_env m = *env;

	snprintf(buf, n, "%s-memif", env->ifname);
	m.ifname = buf;
	return m;
}

/* IPAM DEL of the memif addresses; errors land in e. */
static int memif_ipam_del(const struct cni_env *env, const struct cni_conf *c,
			  const char *text, struct cni_err *e)
{
	char name[64];
	struct cni_env m = memif_env(env, name, sizeof(name));
	json_t *res = NULL;
	int rc = cni_ipam_exec(&m, c, "DEL", text, &res, e);

	json_decref(res);
	return rc;
}

static int cmd_add(const struct cni_env *env, struct cni_conf *c,
		   const char *text, struct cni_err *e)
{
	json_t *ipam = NULL, *ipam_m = NULL, *att = NULL, *p, *ips, *res;
	bool own = conf_memif_own_ips(c->mode);
	struct cni_err e2;
	int rc;

	if (need_env("CNI_CONTAINERID", env->container_id, e) ||
	    need_env("CNI_NETNS", env->netns, e) ||
	    need_env("CNI_IFNAME", env->ifname, e) ||
	    need_env("CNI_PATH", env->path, e))
		return -e->code;
	if (c->ipam_type == NULL)
		return cni_fail(e, CNI_E_CONFIG, "'ipam' is required: shunt delegates "
				"addresses to an IPAM plugin (e.g. host-local)");
	cni_delq_replay(delq_dir(), c->socket);
	/* Runtimes retry an ADD that timed out: if the attachment exists for
	 * this sandbox, answer from it instead of allocating again. */
	p = json_pack("{s:s, s:s}", "container_id", env->container_id,
		      "ifname", env->ifname);
	rc = cni_agent_call(c->socket, AGENT_M_ATTACHMENT_SHOW, p, &att, e);
	json_decref(p);
	if (rc == 0 && json_is_object(att) &&
	    strcmp(json_string_value(json_object_get(att, "netns")) ?: "", env->netns) == 0 &&
	    strcmp(json_string_value(json_object_get(att, "state")) ?: "", AGENT_STATE_READY) == 0) {
		res = cni_result_build(c, env, NULL, att);
		print_json(res);
		json_decref(res);
		json_decref(att);
		return 0;
	}
	json_decref(att);
	att = NULL;
	if (rc == -CNI_E_AGAIN)
		return rc;
	memset(e, 0, sizeof(*e));
	rc = cni_ipam_exec(env, c, "ADD", text, &ipam, e);
	if (rc < 0)
		return rc;
	if (own) {
		char name[64];
		struct cni_env m = memif_env(env, name, sizeof(name));

		rc = cni_ipam_exec(&m, c, "ADD", text, &ipam_m, e);
		if (rc < 0) {
			if (cni_ipam_exec(env, c, "DEL", text, &res, &e2) == 0)
				json_decref(res);
			json_decref(ipam);
			return rc;
		}
	}
	ips = ipam_ips(ipam);
	p = json_pack("{s:s, s:s, s:s, s:s, s:O}", "container_id", env->container_id,
		      "ifname", env->ifname, "netns", env->netns, "network", c->name,
		      "ips", ips);
	if (own)
		json_object_set_new(p, "memif_ips", ipam_ips(ipam_m));
	if (c->mode)
		json_object_set_new(p, "mode", json_string(c->mode));
	if (c->mtu)
		json_object_set_new(p, "mtu", json_integer(c->mtu));
	/* Passed as they are: shuntd checks them and names the bad field
	 * ("filters[0].filters[1].filter: ..."), one set of rules for the
	 * API and the plugin. */
	if (c->filters)
		json_object_set(p, "filters", c->filters);
	rc = cni_agent_call(c->socket, AGENT_M_ATTACH, p, &att, e);
	if (rc == -CNI_E_AGENT && strstr(e->msg, "network") != NULL &&
	    strstr(e->details, "code 2") != NULL) {
		rc = network_ensure(c, ips, e);
		if (rc == 0)
			rc = cni_agent_call(c->socket, AGENT_M_ATTACH, p, &att, e);
	}
	json_decref(p);
	json_decref(ips);
	if (rc < 0 && strstr(e->msg, "no loaded filter named '" CNI_POLICER "'") &&
	    (json_object_get(c->raw, "rateLimit") ||
	     json_object_get(json_object_get(c->raw, "runtimeConfig"), "bandwidth")))
		snprintf(e->details + strlen(e->details),
			 sizeof(e->details) - strlen(e->details), "%srate limits (rateLimit, "
			 "runtimeConfig.bandwidth) use the data plane's policer "
			 "filter; load it once per node: shuntctl filter load "
			 CNI_POLICER " %s/" CNI_POLICER ".o",
			 e->details[0] ? "; " : "", CNI_FILTER_DIR);
	if (rc < 0) {
		/* Give the addresses back: the pod will not use them. */
		if (cni_ipam_exec(env, c, "DEL", text, &res, &e2) == 0)
			json_decref(res);
		if (own)
			memif_ipam_del(env, c, text, &e2);
		json_decref(ipam);
		json_decref(ipam_m);
		return rc;
	}
	json_decref(ipam_m);
	res = cni_result_build(c, env, ipam, att);
	print_json(res);
	syslog(LOG_INFO, "ADD %s/%s on network %s", env->container_id, env->ifname,
	       c->name);
	json_decref(res);
	json_decref(att);
	json_decref(ipam);
	return 0;
}

static int cmd_del(const struct cni_env *env, struct cni_conf *c,
		   const char *text, struct cni_err *e)
{
	json_t *p, *res;
	int rc;

	if (need_env("CNI_CONTAINERID", env->container_id, e) ||
	    need_env("CNI_IFNAME", env->ifname, e) ||
	    need_env("CNI_PATH", env->path, e))
		return -e->code;
	cni_delq_replay(delq_dir(), c->socket);
	p = json_pack("{s:s, s:s}", "container_id", env->container_id,
		      "ifname", env->ifname);
	if (env->netns && *env->netns)
		json_object_set_new(p, "netns", json_string(env->netns));
	rc = cni_agent_call(c->socket, AGENT_M_DETACH, p, &res, e);
	json_decref(p);
	json_decref(res);
	if (rc == -CNI_E_AGAIN)
		rc = cni_delq_push(delq_dir(), env, c, e);
	if (rc < 0)
		return rc;
	/* DEL always releases the addresses, also when shuntd was down. */
	if (c->ipam_type != NULL) {
		rc = cni_ipam_exec(env, c, "DEL", text, &res, e);
		json_decref(res);
		if (rc == 0 && conf_memif_own_ips(c->mode))
			rc = memif_ipam_del(env, c, text, e);
		if (rc < 0)
			return rc;
	}
	syslog(LOG_INFO, "DEL %s/%s", env->container_id, env->ifname);
	return 0;
}

static int cmd_check(const struct cni_env *env, struct cni_conf *c,
		     const char *text, struct cni_err *e)
{
	json_t *p, *res;
	int rc;

	if (need_env("CNI_CONTAINERID", env->container_id, e) ||
	    need_env("CNI_NETNS", env->netns, e) ||
	    need_env("CNI_IFNAME", env->ifname, e) ||
	    need_env("CNI_PATH", env->path, e))
		return -e->code;
	if (c->prev_result == NULL)
		return cni_fail(e, CNI_E_CONFIG, "CHECK needs 'prevResult'");
	p = json_pack("{s:s, s:s}", "container_id", env->container_id,
		      "ifname", env->ifname);
	rc = cni_agent_call(c->socket, AGENT_M_CHECK, p, &res, e);
	json_decref(p);
	json_decref(res);
	if (rc < 0)
		return rc;
	if (c->ipam_type != NULL) {
		rc = cni_ipam_exec(env, c, "CHECK", text, &res, e);
		json_decref(res);
		if (rc == 0 && conf_memif_own_ips(c->mode)) {
			char name[64];
			struct cni_env m = memif_env(env, name, sizeof(name));

			rc = cni_ipam_exec(&m, c, "CHECK", text, &res, e);
			json_decref(res);
		}
	}
	return rc;
}

static int cmd_status(struct cni_conf *c, struct cni_err *e)
{
	json_t *res, *dp;
	int rc = cni_agent_call(c->socket, AGENT_M_STATUS, NULL, &res, e);

	if (rc < 0)
		return cni_fail(e, CNI_E_NOT_READY, "not ready: %s", e->msg);
	dp = json_object_get(res, "dataplane");
	if (!json_is_true(json_object_get(dp, "connected"))) {
		json_decref(res);
		/* Pods exist whose packets nobody forwards right now. */
		return cni_fail(e, CNI_E_DEGRADED, "shuntd is up but the data plane "
				"is not connected");
	}
	json_decref(res);
	cni_delq_replay(delq_dir(), c->socket);
	return 0;
}

/* GC: detach this network's attachments the runtime no longer has, and
 * release their addresses. */
static int cmd_gc(const struct cni_env *env, struct cni_conf *c,
		  const char *text, struct cni_err *e)
{
	json_t *valid = json_object_get(c->raw, "cni.dev/valid-attachments");
	json_t *list, *a, *v;
	size_t i, k;
	int rc;

	if (need_env("CNI_PATH", env->path, e))
		return -e->code;
	if (valid != NULL && !json_is_array(valid))
		return cni_fail(e, CNI_E_CONFIG, "'cni.dev/valid-attachments' must "
				"be an array");
	rc = cni_agent_call(c->socket, AGENT_M_ATTACHMENT_LIST, NULL, &list, e);
	if (rc < 0)
		return rc;
	json_array_foreach(json_object_get(list, "attachments"), i, a) {
		const char *cid = json_string_value(json_object_get(a, "container_id"));
		const char *ifn = json_string_value(json_object_get(a, "ifname"));
		bool keep = false;
		struct cni_env del = *env;
		json_t *p, *res;

		if (cid == NULL || ifn == NULL ||
		    strcmp(json_string_value(json_object_get(a, "network")) ?: "",
			   c->name) != 0)
			continue;
		json_array_foreach(valid, k, v)
			if (!strcmp(json_string_value(json_object_get(v, "containerID")) ?: "", cid) &&
			    !strcmp(json_string_value(json_object_get(v, "ifname")) ?: "", ifn))
				keep = true;
		if (keep)
			continue;
		p = json_pack("{s:s, s:s}", "container_id", cid, "ifname", ifn);
		rc = cni_agent_call(c->socket, AGENT_M_DETACH, p, &res, e);
		json_decref(p);
		json_decref(res);
		if (rc < 0)
			break;
		syslog(LOG_INFO, "GC: detached %s/%s", cid, ifn);
		if (c->ipam_type != NULL) {
			del.container_id = cid;
			del.ifname = ifn;
			if (cni_ipam_exec(&del, c, "DEL", text, &res, e) == 0)
				json_decref(res);
			if (conf_memif_own_ips(json_string_value(json_object_get(a, "mode"))))
				memif_ipam_del(&del, c, text, e);
		}
	}
	json_decref(list);
	return rc;
}

int main(void)
{
	struct cni_env env = {
		.command = getenv("CNI_COMMAND"),
		.container_id = getenv("CNI_CONTAINERID"),
		.netns = getenv("CNI_NETNS"),
		.ifname = getenv("CNI_IFNAME"),
		.args = getenv("CNI_ARGS"),
		.path = getenv("CNI_PATH"),
	};
	struct cni_conf c = { 0 };
	struct cni_err e = { 0 };
	char *text;
	size_t len = 0;
	int rc;

	openlog("shunt-cni", LOG_PID, LOG_USER);
	if (env.command == NULL || *env.command == '\0') {
		cni_fail(&e, CNI_E_ENV, "CNI_COMMAND is required");
		return report(NULL, &e);
	}
	text = read_stdin(&len);
	if (text == NULL) {
		cni_fail(&e, CNI_E_IO, "reading stdin: %s", strerror(errno));
		return report(NULL, &e);
	}
	if (strcmp(env.command, "VERSION") == 0) {
		json_t *o = json_pack("{s:s, s:[sssss]}", "cniVersion", "1.1.0",
			"supportedVersions", cni_versions[0], cni_versions[1],
			cni_versions[2], cni_versions[3], cni_versions[4]);

		print_json(o);
		json_decref(o);
		free(text);
		return 0;
	}
	rc = cni_conf_parse(text, len, strcmp(env.command, "STATUS") != 0, &c, &e);
	if (rc == 0) {
		if (strcmp(env.command, "ADD") == 0)
			rc = cmd_add(&env, &c, text, &e);
		else if (strcmp(env.command, "DEL") == 0)
			rc = cmd_del(&env, &c, text, &e);
		else if (strcmp(env.command, "CHECK") == 0)
			rc = cmd_check(&env, &c, text, &e);
		else if (strcmp(env.command, "STATUS") == 0)
			rc = cmd_status(&c, &e);
		else if (strcmp(env.command, "GC") == 0)
			rc = cmd_gc(&env, &c, text, &e);
		else
			rc = cni_fail(&e, CNI_E_ENV, "CNI_COMMAND '%s' is not ADD, DEL, "
				      "CHECK, VERSION, STATUS or GC", env.command);
	}
	free(text);
	if (rc < 0) {
		rc = report(c.version, &e);
		cni_conf_free(&c);
		return rc;
	}
	cni_conf_free(&c);
	return 0;
}
