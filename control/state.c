/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Desired state in memory and on disk (state.h). The file is small (a few
 * hundred bytes per attachment), so every save writes all of it: one
 * code path, and the file on disk is always one complete version.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <shunt/agent_api.h>
#include "state.h"

#define STATE_MAX_FILE (64u << 20)

static const char *const att_state_names[] = {
	[ATT_PENDING] = AGENT_STATE_PENDING,
	[ATT_READY] = AGENT_STATE_READY,
	[ATT_DETACHING] = AGENT_STATE_DETACHING,
};

const char *state_att_state_name(enum att_state s)
{
	return att_state_names[s];
}

char *state_mac_format(const uint8_t *m, char *buf)
{
	sprintf(buf, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3],
		m[4], m[5]);
	return buf;
}

int state_mac_parse(const char *s, uint8_t *mac)
{
	unsigned int b[6];
	char end;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3],
		   &b[4], &b[5], &end) != 6 || strlen(s) != 17)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	if ((mac[0] & 1) || (mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]) == 0)
		return -EINVAL;
	return 0;
}

/* --- JSON form ------------------------------------------------------------ */

static const char *const dir_names[2] = { "from_pod", "to_pod" };

const char *state_dir_name(enum filter_dir d)
{
	return dir_names[d];
}

int state_dir_parse(const char *s)
{
	for (int i = 0; s != NULL && i < 2; i++)
		if (strcmp(s, dir_names[i]) == 0)
			return i;
	return -EINVAL;
}

json_t *state_chains_to_json(const struct attachment *a)
{
	json_t *arr = json_array();

	for (int d = 0; d < 2; d++)
		if (a->chains[d] != NULL)
			json_array_append_new(arr, json_pack("{s:s, s:O}", "dir",
				dir_names[d], "filters", a->chains[d]));
	return arr;
}

static json_t *prefixes_to_json(const struct ip_prefix *p, unsigned int n,
				bool with_len)
{
	json_t *a = json_array();
	char buf[IPADDR_STRLEN];

	for (unsigned int i = 0; i < n; i++)
		json_array_append_new(a, json_string(ipaddr_format(&p[i], with_len,
						     buf, sizeof(buf))));
	return a;
}

json_t *state_network_to_json(const struct network *n)
{
	return json_pack("{s:s, s:o, s:i, s:s}", "name", n->name,
			 "prefixes", prefixes_to_json(n->prefixes, n->n_prefixes, true),
			 "mtu", (int)n->mtu, "mode", n->mode);
}

json_t *state_attachment_to_json(const struct attachment *a)
{
	char mac[18], mmac[18];

	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:s, s:s, s:i,"
			 " s:s, s:s, s:s, s:s, s:s, s:o}",
		"container_id", a->container_id, "ifname", a->ifname,
		"netns", a->netns, "network", a->network, "mode", a->mode,
		"ips", prefixes_to_json(a->ips, a->n_ips, true),
		"memif_ips", prefixes_to_json(a->memif_ips, a->n_memif_ips, true),
		"mac", state_mac_format(a->mac, mac),
		"memif_mac", a->n_memif_ips ? state_mac_format(a->memif_mac, mmac) : "",
		"mtu", (int)a->mtu, "host_if", a->host_if,
		"veth_port", a->veth_port, "memif_port", a->memif_port,
		"memif_socket", a->memif_socket,
		"state", state_att_state_name(a->state),
		"filters", state_chains_to_json(a));
}

bool state_uplink_is_ib(const struct uplink *u)
{
	return strcmp(u->kind, STATE_UPLINK_IB) == 0;
}

json_t *state_uplink_to_json(const struct uplink *u)
{
	json_t *o = json_pack("{s:s, s:s, s:o}", "name", u->name, "devargs",
			      u->devargs, "ips", prefixes_to_json(u->ips, u->n_ips,
			      false));

	/* Only ib is written: files with eth uplinks stay as they were. */
	if (state_uplink_is_ib(u)) {
		json_object_set_new(o, "kind", json_string(STATE_UPLINK_IB));
		json_object_set_new(o, "prefixes", prefixes_to_json(u->nets,
				    u->n_nets, true));
	}
	return o;
}

json_t *state_peer_to_json(const struct peer *p)
{
	char addr[IPADDR_STRLEN], gid[INET6_ADDRSTRLEN];
	json_t *o = json_pack("{s:s, s:s, s:o}", "name", p->name,
		"uplink", p->uplink,
		"prefixes", prefixes_to_json(p->prefixes, p->n_prefixes, true));

	if (p->address.family != 0)
		json_object_set_new(o, "address", json_string(ipaddr_format(
			&p->address, false, addr, sizeof(addr))));

	if (p->has_fabric)
		json_object_set_new(o, "fabric", json_pack("{s:s, s:I, s:I, s:i}",
			"gid", inet_ntop(AF_INET6, p->fabric.gid, gid, sizeof(gid)),
			"qpn", (json_int_t)p->fabric.qpn,
			"qkey", (json_int_t)p->fabric.qkey, "pkey", (int)p->fabric.pkey));
	return o;
}

/* --- loading: every field checked, every error names file and field ---- */

struct loader {
	const char *file;
	char *err;
	size_t errlen;
	char where[64];     /* "attachments[3]" */
};

static int load_fail(struct loader *l, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int load_fail(struct loader *l, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(l->err, l->errlen, "state file %s: %s%s%s", l->file, l->where,
		 l->where[0] ? "." : "", what);
	return -EINVAL;
}

static int load_str(struct loader *l, json_t *o, const char *key, bool empty_ok,
		    char *buf, size_t len)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_string(v) || json_string_length(v) >= len ||
	    (!empty_ok && json_string_length(v) == 0) ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return load_fail(l, "%s: missing, or not a string of %s%zu bytes",
				 key, empty_ok ? "at most " : "1 to ", len - 1);
	memcpy(buf, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

static int load_prefixes(struct loader *l, json_t *o, const char *key,
			 bool network, struct ip_prefix *out, unsigned int max,
			 unsigned int *n)
{
	json_t *a = json_object_get(o, key), *v;
	size_t i;

	if (!json_is_array(a) || json_array_size(a) > max)
		return load_fail(l, "%s: missing, or not an array of at most %u",
				 key, max);
	json_array_foreach(a, i, v) {
		if (!json_is_string(v) ||
		    ipaddr_parse(json_string_value(v), true, &out[i]) < 0 ||
		    (network && !ipaddr_is_network(&out[i])))
			return load_fail(l, "%s[%zu]: not an address/length", key, i);
	}
	*n = (unsigned int)json_array_size(a);
	return 0;
}

static int load_uint(struct loader *l, json_t *o, const char *key,
		     json_int_t min, json_int_t max, uint32_t *out)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max)
		return load_fail(l, "%s: missing, or not an integer from %lld to %lld",
				 key, (long long)min, (long long)max);
	*out = (uint32_t)json_integer_value(v);
	return 0;
}

/* Host addresses ("addr", no length). */
static int load_addrs(struct loader *l, json_t *o, const char *key,
		      struct ip_prefix *out, unsigned int max, unsigned int *n)
{
	json_t *a = json_object_get(o, key), *v;
	size_t i;

	if (!json_is_array(a) || json_array_size(a) > max)
		return load_fail(l, "%s: missing, or not an array of at most %u",
				 key, max);
	json_array_foreach(a, i, v)
		if (!json_is_string(v) || strchr(json_string_value(v), '/') ||
		    ipaddr_parse(json_string_value(v), false, &out[i]) < 0)
			return load_fail(l, "%s[%zu]: not an address", key, i);
	*n = (unsigned int)json_array_size(a);
	return 0;
}

static int load_uplink(struct loader *l, json_t *o, struct uplink *u)
{
	if (!json_is_object(o))
		return load_fail(l, "not an object");
	if (load_str(l, o, "name", false, u->name, sizeof(u->name)) < 0 ||
	    load_str(l, o, "devargs", false, u->devargs, sizeof(u->devargs)) < 0 ||
	    load_addrs(l, o, "ips", u->ips, STATE_MAX_IPS, &u->n_ips) < 0)
		return -EINVAL;
	if (json_object_get(o, "kind") != NULL &&
	    load_str(l, o, "kind", false, u->kind, sizeof(u->kind)) < 0)
		return -EINVAL;
	if (u->kind[0] && strcmp(u->kind, STATE_UPLINK_ETH) != 0 &&
	    strcmp(u->kind, STATE_UPLINK_IB) != 0)
		return load_fail(l, "kind: '%s' is not eth or ib", u->kind);
	if (state_uplink_is_ib(u) &&
	    load_prefixes(l, o, "prefixes", true, u->nets, STATE_MAX_PREFIXES,
			  &u->n_nets) < 0)
		return -EINVAL;
	return 0;
}

static int load_peer(struct loader *l, json_t *o, struct peer *p)
{
	json_t *f;
	char buf[INET6_ADDRSTRLEN];
	uint32_t pkey;

	if (!json_is_object(o))
		return load_fail(l, "not an object");
	if (load_str(l, o, "name", false, p->name, sizeof(p->name)) < 0 ||
	    load_str(l, o, "uplink", false, p->uplink, sizeof(p->uplink)) < 0 ||
	    load_prefixes(l, o, "prefixes", true, p->prefixes, STATE_MAX_PREFIXES,
			  &p->n_prefixes) < 0)
		return -EINVAL;
	/* Peers on an ib uplink have no address (checked with the uplinks). */
	if (json_object_get(o, "address") != NULL) {
		if (load_str(l, o, "address", false, buf, sizeof(buf)) < 0)
			return -EINVAL;
		if (strchr(buf, '/') || ipaddr_parse(buf, false, &p->address) < 0)
			return load_fail(l, "address: '%s' is not an address", buf);
	}
	f = json_object_get(o, "fabric");
	if (f == NULL)
		return 0;
	if (!json_is_object(f))
		return load_fail(l, "fabric: not an object");
	p->has_fabric = true;
	if (load_str(l, f, "gid", false, buf, sizeof(buf)) < 0 ||
	    inet_pton(AF_INET6, buf, p->fabric.gid) != 1)
		return load_fail(l, "fabric.gid: not a GID (IPv6 form)");
	/* Errors then read "peers[N].fabric.qpn: ..." */
	strncat(l->where, ".fabric", sizeof(l->where) - strlen(l->where) - 1);
	if (load_uint(l, f, "qpn", 0, 0xffffff, &p->fabric.qpn) < 0 ||
	    load_uint(l, f, "qkey", 0, 0xffffffffLL, &p->fabric.qkey) < 0 ||
	    load_uint(l, f, "pkey", 0, 0xffff, &pkey) < 0)
		return -EINVAL;
	p->fabric.pkey = (uint16_t)pkey;
	return 0;
}

static int load_network(struct loader *l, json_t *o, struct network *n)
{
	if (!json_is_object(o))
		return load_fail(l, "not an object");
	if (load_str(l, o, "name", false, n->name, sizeof(n->name)) < 0 ||
	    load_prefixes(l, o, "prefixes", true, n->prefixes, STATE_MAX_PREFIXES,
			  &n->n_prefixes) < 0 ||
	    load_uint(l, o, "mtu", 68, 65535, &n->mtu) < 0 ||
	    load_str(l, o, "mode", false, n->mode, sizeof(n->mode)) < 0)
		return -EINVAL;
	return 0;
}

/* Chains are checked for shape only: the data plane checks the rest
 * when they are applied, as it did when they were first accepted. */
static int load_chains(struct loader *l, json_t *o, struct attachment *a)
{
	json_t *arr = json_object_get(o, "filters"), *c, *list, *el;
	size_t i, k;
	int d;

	if (arr == NULL)
		return 0;  /* version 1 */
	if (!json_is_array(arr) || json_array_size(arr) > 2)
		return load_fail(l, "filters: not an array of at most 2 chains");
	json_array_foreach(arr, i, c) {
		d = state_dir_parse(json_string_value(json_object_get(c, "dir")));
		list = json_object_get(c, "filters");
		if (d < 0 || a->chains[d] != NULL)
			return load_fail(l, "filters[%zu].dir: missing, repeated, or "
					 "not from_pod/to_pod", i);
		if (!json_is_array(list) || json_array_size(list) == 0 ||
		    json_array_size(list) > STATE_CHAIN_MAX)
			return load_fail(l, "filters[%zu].filters: not an array of 1 "
					 "to %d", i, STATE_CHAIN_MAX);
		json_array_foreach(list, k, el)
			if (!json_is_string(json_object_get(el, "filter")))
				return load_fail(l, "filters[%zu].filters[%zu].filter: "
						 "missing", i, k);
		a->chains[d] = json_incref(list);
	}
	return 0;
}

static int load_filter_def(struct loader *l, json_t *o, struct filter_def *d)
{
	if (!json_is_object(o))
		return load_fail(l, "not an object");
	if (load_str(l, o, "name", false, d->name, sizeof(d->name)) < 0 ||
	    load_str(l, o, "path", false, d->path, sizeof(d->path)) < 0)
		return -EINVAL;
	if (d->path[0] != '/')
		return load_fail(l, "path: '%s' is not absolute", d->path);
	return 0;
}

static int load_attachment(struct loader *l, json_t *o, struct attachment *a)
{
	char buf[32];
	size_t i;

	if (!json_is_object(o))
		return load_fail(l, "not an object");
	if (load_str(l, o, "container_id", false, a->container_id,
		     sizeof(a->container_id)) < 0 ||
	    load_str(l, o, "ifname", false, a->ifname, sizeof(a->ifname)) < 0 ||
	    load_str(l, o, "netns", false, a->netns, sizeof(a->netns)) < 0 ||
	    load_str(l, o, "network", false, a->network, sizeof(a->network)) < 0 ||
	    load_str(l, o, "mode", false, a->mode, sizeof(a->mode)) < 0 ||
	    load_prefixes(l, o, "ips", false, a->ips, STATE_MAX_IPS, &a->n_ips) < 0 ||
	    load_prefixes(l, o, "memif_ips", false, a->memif_ips, STATE_MAX_IPS,
			  &a->n_memif_ips) < 0 ||
	    load_uint(l, o, "mtu", 68, 65535, &a->mtu) < 0 ||
	    load_str(l, o, "host_if", true, a->host_if, sizeof(a->host_if)) < 0 ||
	    load_str(l, o, "veth_port", true, a->veth_port, sizeof(a->veth_port)) < 0 ||
	    load_str(l, o, "memif_port", true, a->memif_port, sizeof(a->memif_port)) < 0 ||
	    load_str(l, o, "memif_socket", true, a->memif_socket,
		     sizeof(a->memif_socket)) < 0)
		return -EINVAL;
	if (load_str(l, o, "mac", false, buf, sizeof(buf)) < 0 ||
	    state_mac_parse(buf, a->mac) < 0)
		return load_fail(l, "mac: not a unicast MAC address");
	if (load_str(l, o, "memif_mac", true, buf, sizeof(buf)) < 0 ||
	    (buf[0] && state_mac_parse(buf, a->memif_mac) < 0))
		return load_fail(l, "memif_mac: not a unicast MAC address");
	if (load_str(l, o, "state", false, buf, sizeof(buf)) < 0)
		return -EINVAL;
	for (i = 0; i < 3 && strcmp(buf, att_state_names[i]) != 0; i++)
		;
	if (i == 3)
		return load_fail(l, "state: '%s' is not pending, ready or detaching", buf);
	a->state = (enum att_state)i;
	return load_chains(l, o, a);
}

static int state_parse(struct state *st, struct loader *l, json_t *root)
{
	json_t *nets, *atts, *v;
	size_t i;
	int rc;

	if (!json_is_object(root))
		return load_fail(l, "not a JSON object");
	v = json_object_get(root, "version");
	if (!json_is_integer(v))
		return load_fail(l, "'version' is missing");
	if (json_integer_value(v) < STATE_VERSION_MIN ||
	    json_integer_value(v) > STATE_VERSION)
		return load_fail(l, "version %lld, this shuntd reads versions %d "
				 "to %d", (long long)json_integer_value(v),
				 STATE_VERSION_MIN, STATE_VERSION);
	nets = json_object_get(root, "networks");
	atts = json_object_get(root, "attachments");
	if (!json_is_array(nets) || json_array_size(nets) > STATE_MAX_NETWORKS)
		return load_fail(l, "'networks' is missing or too long");
	if (!json_is_array(atts) || json_array_size(atts) > STATE_MAX_ATTACHMENTS)
		return load_fail(l, "'attachments' is missing or too long");
	json_array_foreach(nets, i, v) {
		struct network *n = calloc(1, sizeof(*n));

		snprintf(l->where, sizeof(l->where), "networks[%zu]", i);
		if (n == NULL)
			return -ENOMEM;
		rc = load_network(l, v, n);
		if (rc == 0 && state_network_find(st, n->name) != NULL)
			rc = load_fail(l, "network '%s' listed twice", n->name);
		if (rc == 0)
			rc = state_network_add(st, n);
		if (rc < 0) {
			free(n);
			return rc;
		}
	}
	json_array_foreach(atts, i, v) {
		struct attachment *a = calloc(1, sizeof(*a));

		snprintf(l->where, sizeof(l->where), "attachments[%zu]", i);
		if (a == NULL)
			return -ENOMEM;
		rc = load_attachment(l, v, a);
		if (rc == 0 && state_attachment_find(st, a->container_id,
						     a->ifname) != NULL)
			rc = load_fail(l, "attachment %s/%s listed twice",
				       a->container_id, a->ifname);
		if (rc == 0)
			rc = state_attachment_add(st, a);
		if (rc < 0) {
			json_decref(a->chains[0]);
			json_decref(a->chains[1]);
			free(a);
			return rc;
		}
	}
	v = json_object_get(root, "filters");
	if (v != NULL && (!json_is_array(v) || json_array_size(v) > STATE_MAX_FILTERS))
		return load_fail(l, "'filters' is not an array of at most %d",
				 STATE_MAX_FILTERS);
	json_array_foreach(v, i, nets) {
		struct filter_def d = { 0 };

		snprintf(l->where, sizeof(l->where), "filters[%zu]", i);
		rc = load_filter_def(l, nets, &d);
		if (rc == 0 && state_filter_find(st, d.name) != NULL)
			rc = load_fail(l, "filter '%s' listed twice", d.name);
		if (rc == 0)
			rc = state_filter_add(st, &d);
		if (rc < 0)
			return rc;
	}
	/* Version 3. Absent in older files: no uplink, no peer. */
	v = json_object_get(root, "uplinks");
	if (v != NULL && (!json_is_array(v) || json_array_size(v) > STATE_MAX_UPLINKS))
		return load_fail(l, "'uplinks' is not an array of at most %d",
				 STATE_MAX_UPLINKS);
	json_array_foreach(v, i, nets) {
		struct uplink u = { 0 };

		snprintf(l->where, sizeof(l->where), "uplinks[%zu]", i);
		rc = load_uplink(l, nets, &u);
		if (rc == 0 && state_uplink_find(st, u.name) != NULL)
			rc = load_fail(l, "uplink '%s' listed twice", u.name);
		if (rc == 0)
			rc = state_uplink_add(st, &u);
		if (rc < 0)
			return rc;
	}
	v = json_object_get(root, "peers");
	if (v != NULL && (!json_is_array(v) || json_array_size(v) > STATE_MAX_PEERS))
		return load_fail(l, "'peers' is not an array of at most %d",
				 STATE_MAX_PEERS);
	json_array_foreach(v, i, nets) {
		struct peer p = { 0 };

		snprintf(l->where, sizeof(l->where), "peers[%zu]", i);
		rc = load_peer(l, nets, &p);
		if (rc == 0 && state_peer_find(st, p.name) != NULL)
			rc = load_fail(l, "peer '%s' listed twice", p.name);
		if (rc == 0 && state_uplink_find(st, p.uplink) == NULL)
			rc = load_fail(l, "uplink: no uplink named '%s'", p.uplink);
		if (rc == 0 && state_uplink_is_ib(state_uplink_find(st, p.uplink)) &&
		    !p.has_fabric)
			rc = load_fail(l, "fabric: required on ib uplink '%s'", p.uplink);
		if (rc == 0 && !state_uplink_is_ib(state_uplink_find(st, p.uplink)) &&
		    p.address.family == 0)
			rc = load_fail(l, "address: required on eth uplink '%s'",
				       p.uplink);
		if (rc == 0)
			rc = state_peer_add(st, &p);
		if (rc < 0)
			return rc;
	}
	l->where[0] = '\0';
	v = json_object_get(root, "tune");
	if (v != NULL && !json_is_object(v))
		return load_fail(l, "'tune' is not an object");
	st->tune = v ? json_incref(v) : json_object();
	return 0;
}

static int state_load(struct state *st, char *err, size_t errlen)
{
	char path[PATH_MAX + 16];
	struct loader l = { .file = path, .err = err, .errlen = errlen };
	json_error_t jerr;
	struct stat sb;
	json_t *root;
	char *buf;
	ssize_t n;
	int fd, rc;

	snprintf(path, sizeof(path), "%s/" STATE_FILE, st->dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		st->tune = json_object();
		return 0;  /* a new node */
	}
	if (fd < 0 || fstat(fd, &sb) < 0) {
		rc = -errno;
		snprintf(err, errlen, "state file %s: %s", path, strerror(-rc));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	if (sb.st_size == 0 || (size_t)sb.st_size > STATE_MAX_FILE) {
		close(fd);
		snprintf(err, errlen, "state file %s: %s (%lld bytes); not starting "
			 "so that nothing is lost: repair or move it away", path,
			 sb.st_size ? "too large" : "empty, truncated?",
			 (long long)sb.st_size);
		return -EINVAL;
	}
	buf = malloc((size_t)sb.st_size);
	if (buf == NULL) {
		close(fd);
		return -ENOMEM;
	}
	n = read(fd, buf, (size_t)sb.st_size);
	rc = n < 0 ? -errno : 0;
	close(fd);
	if (n != sb.st_size) {
		free(buf);
		snprintf(err, errlen, "state file %s: short read%s%s", path,
			 rc ? ": " : "", rc ? strerror(-rc) : "");
		return rc ? rc : -EIO;
	}
	root = json_loadb(buf, (size_t)n, JSON_REJECT_DUPLICATES, &jerr);
	free(buf);
	if (root == NULL) {
		snprintf(err, errlen, "state file %s is corrupt or truncated: %s at "
			 "line %d column %d; not starting so that nothing is lost: "
			 "repair or move it away", path, jerr.text, jerr.line,
			 jerr.column);
		return -EINVAL;
	}
	rc = state_parse(st, &l, root);
	json_decref(root);
	return rc;
}

static int mkdir_p(const char *dir)
{
	char buf[PATH_MAX];

	if (strlen(dir) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, dir);
	for (char *p = buf + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			if (mkdir(buf, 0755) < 0 && errno != EEXIST)
				return -errno;
			*p = '/';
		}
	if (mkdir(buf, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int state_open(const char *dir, struct state *st, char *err, size_t errlen)
{
	char path[PATH_MAX + 16];
	int rc;

	memset(st, 0, sizeof(*st));
	st->lock_fd = -1;
	if (strlen(dir) >= sizeof(st->dir)) {
		snprintf(err, errlen, "state directory name too long");
		return -ENAMETOOLONG;
	}
	strcpy(st->dir, dir);
	rc = mkdir_p(dir);
	if (rc < 0) {
		snprintf(err, errlen, "state directory %s: %s", dir, strerror(-rc));
		return rc;
	}
	snprintf(path, sizeof(path), "%s/state.lock", dir);
	st->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (st->lock_fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	/* Two agents on one state would undo each other's work. */
	if (flock(st->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
		snprintf(err, errlen, "state directory %s is in use by another "
			 "shuntd (%s is locked)", dir, path);
		close(st->lock_fd);
		st->lock_fd = -1;
		return rc;
	}
	rc = state_load(st, err, errlen);
	if (rc < 0)
		state_close(st);
	return rc;
}

void state_close(struct state *st)
{
	for (unsigned int i = 0; i < st->n_nets; i++)
		free(st->nets[i]);
	for (unsigned int i = 0; i < st->n_atts; i++) {
		json_decref(st->atts[i]->chains[0]);
		json_decref(st->atts[i]->chains[1]);
		free(st->atts[i]);
	}
	free(st->filters);
	st->filters = NULL;
	st->n_filters = 0;
	free(st->uplinks);
	st->uplinks = NULL;
	st->n_uplinks = 0;
	free(st->peers);
	st->peers = NULL;
	st->n_peers = 0;
	free(st->nets);
	free(st->atts);
	json_decref(st->tune);
	if (st->lock_fd >= 0)
		close(st->lock_fd);
	st->nets = NULL;
	st->atts = NULL;
	st->n_nets = st->n_atts = 0;
	st->tune = NULL;
	st->lock_fd = -1;
}

static int write_all(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, s, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

int state_save(struct state *st, char *err, size_t errlen)
{
	char tmp[PATH_MAX + 16], path[PATH_MAX + 16];
	json_t *root = json_object(), *nets = json_array(), *atts = json_array();
	json_t *fils = json_array(), *upl = json_array(), *peers = json_array();
	int version = 1;
	const char *step;
	char *s;
	int fd = -1, dfd = -1, rc;

	for (unsigned int i = 0; i < st->n_nets; i++)
		json_array_append_new(nets, state_network_to_json(st->nets[i]));
	for (unsigned int i = 0; i < st->n_atts; i++)
		json_array_append_new(atts, state_attachment_to_json(st->atts[i]));
	/* The oldest version that holds the content: a node that uses no
	 * filters can still go back to a shuntd that predates them, and one
	 * that does cannot (that shuntd refuses version 2 rather than drop
	 * the policy). */
	bool v2 = st->n_filters > 0;

	for (unsigned int i = 0; i < st->n_atts && !v2; i++)
		v2 = st->atts[i]->chains[0] != NULL || st->atts[i]->chains[1] != NULL;
	if (v2)
		version = 2;
	if (st->n_uplinks > 0 || st->n_peers > 0)
		version = 3;
	/* An ib uplink: a shuntd that predates them would read it as an eth
	 * device (and its peers as lacking an address); it refuses 4. */
	for (unsigned int i = 0; i < st->n_uplinks; i++)
		if (state_uplink_is_ib(&st->uplinks[i]))
			version = 4;
	json_object_set_new(root, "version", json_integer(version));
	json_object_set_new(root, "networks", nets);
	json_object_set_new(root, "attachments", atts);
	for (unsigned int i = 0; i < st->n_filters; i++)
		json_array_append_new(fils, json_pack("{s:s, s:s}", "name",
			st->filters[i].name, "path", st->filters[i].path));
	json_object_set_new(root, "filters", fils);
	/* Only in version 3, so a version 1 or 2 file looks exactly as an
	 * older shuntd wrote it. */
	for (unsigned int i = 0; i < st->n_uplinks; i++)
		json_array_append_new(upl, state_uplink_to_json(&st->uplinks[i]));
	for (unsigned int i = 0; i < st->n_peers; i++)
		json_array_append_new(peers, state_peer_to_json(&st->peers[i]));
	if (version >= 3) {
		json_object_set_new(root, "uplinks", upl);
		json_object_set_new(root, "peers", peers);
	} else {
		json_decref(upl);
		json_decref(peers);
	}
	json_object_set(root, "tune", st->tune);
	s = json_dumps(root, JSON_INDENT(1));
	json_decref(root);
	if (s == NULL) {
		snprintf(err, errlen, "state: no memory to serialize");
		return -ENOMEM;
	}
	snprintf(path, sizeof(path), "%s/" STATE_FILE, st->dir);
	snprintf(tmp, sizeof(tmp), "%s/" STATE_FILE ".tmp", st->dir);
	/* The file on disk is always one whole version: a crash leaves
	 * either the old file or the new one, never a mix. */
	step = "open";
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		goto fail_errno;
	step = "write";
	rc = write_all(fd, s, strlen(s));
	if (rc == 0)
		rc = write_all(fd, "\n", 1);
	if (rc < 0) {
		errno = -rc;
		goto fail_errno;
	}
	step = "fsync";
	if (fsync(fd) < 0)
		goto fail_errno;
	close(fd);
	fd = -1;
	step = "rename";
	if (rename(tmp, path) < 0)
		goto fail_errno;
	/* The rename is durable only once the directory is. */
	step = "fsync of the directory";
	dfd = open(st->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) < 0)
		goto fail_errno;
	close(dfd);
	free(s);
	st->saves++;
	return 0;
fail_errno:
	rc = -errno;
	snprintf(err, errlen, "saving state to %s: %s: %s", path, step,
		 strerror(errno));
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	free(s);
	return rc;
}

/* --- tables ---------------------------------------------------------------- */

struct network *state_network_find(struct state *st, const char *name)
{
	for (unsigned int i = 0; i < st->n_nets; i++)
		if (strcmp(st->nets[i]->name, name) == 0)
			return st->nets[i];
	return NULL;
}

int state_network_add(struct state *st, struct network *n)
{
	struct network **grown;

	if (st->n_nets >= STATE_MAX_NETWORKS)
		return -ENOSPC;
	grown = realloc(st->nets, (st->n_nets + 1) * sizeof(*grown));
	if (grown == NULL)
		return -ENOMEM;
	st->nets = grown;
	st->nets[st->n_nets++] = n;
	return 0;
}

void state_network_remove(struct state *st, struct network *n)
{
	for (unsigned int i = 0; i < st->n_nets; i++)
		if (st->nets[i] == n) {
			memmove(&st->nets[i], &st->nets[i + 1],
				(st->n_nets - i - 1) * sizeof(*st->nets));
			st->n_nets--;
			free(n);
			return;
		}
}

struct attachment *state_attachment_find(struct state *st, const char *cid,
					 const char *ifname)
{
	for (unsigned int i = 0; i < st->n_atts; i++)
		if (strcmp(st->atts[i]->container_id, cid) == 0 &&
		    strcmp(st->atts[i]->ifname, ifname) == 0)
			return st->atts[i];
	return NULL;
}

int state_attachment_add(struct state *st, struct attachment *a)
{
	struct attachment **grown;

	if (st->n_atts >= STATE_MAX_ATTACHMENTS)
		return -ENOSPC;
	grown = realloc(st->atts, (st->n_atts + 1) * sizeof(*grown));
	if (grown == NULL)
		return -ENOMEM;
	st->atts = grown;
	st->atts[st->n_atts++] = a;
	return 0;
}

void state_attachment_remove(struct state *st, struct attachment *a)
{
	for (unsigned int i = 0; i < st->n_atts; i++)
		if (st->atts[i] == a) {
			memmove(&st->atts[i], &st->atts[i + 1],
				(st->n_atts - i - 1) * sizeof(*st->atts));
			st->n_atts--;
			json_decref(a->chains[0]);
			json_decref(a->chains[1]);
			free(a);
			return;
		}
}

struct filter_def *state_filter_find(struct state *st, const char *name)
{
	for (unsigned int i = 0; i < st->n_filters; i++)
		if (strcmp(st->filters[i].name, name) == 0)
			return &st->filters[i];
	return NULL;
}

int state_filter_add(struct state *st, const struct filter_def *d)
{
	struct filter_def *grown;

	if (st->n_filters >= STATE_MAX_FILTERS)
		return -ENOSPC;
	grown = realloc(st->filters, (st->n_filters + 1) * sizeof(*grown));
	if (grown == NULL)
		return -ENOMEM;
	st->filters = grown;
	st->filters[st->n_filters++] = *d;
	return 0;
}

void state_filter_remove(struct state *st, const char *name)
{
	struct filter_def *d = state_filter_find(st, name);
	unsigned int i;

	if (d == NULL)
		return;
	i = (unsigned int)(d - st->filters);
	memmove(&st->filters[i], &st->filters[i + 1],
		(st->n_filters - i - 1) * sizeof(*st->filters));
	st->n_filters--;
}

/* Uplinks and peers: small arrays by value, like filters. */
struct uplink *state_uplink_find(struct state *st, const char *name)
{
	for (unsigned int i = 0; i < st->n_uplinks; i++)
		if (strcmp(st->uplinks[i].name, name) == 0)
			return &st->uplinks[i];
	return NULL;
}

int state_uplink_add(struct state *st, const struct uplink *u)
{
	struct uplink *grown;

	if (st->n_uplinks >= STATE_MAX_UPLINKS)
		return -ENOSPC;
	grown = realloc(st->uplinks, (st->n_uplinks + 1) * sizeof(*grown));
	if (grown == NULL)
		return -ENOMEM;
	st->uplinks = grown;
	st->uplinks[st->n_uplinks++] = *u;
	return 0;
}

void state_uplink_remove(struct state *st, const char *name)
{
	struct uplink *u = state_uplink_find(st, name);
	unsigned int i;

	if (u == NULL)
		return;
	i = (unsigned int)(u - st->uplinks);
	memmove(&st->uplinks[i], &st->uplinks[i + 1],
		(st->n_uplinks - i - 1) * sizeof(*st->uplinks));
	st->n_uplinks--;
}

struct peer *state_peer_find(struct state *st, const char *name)
{
	for (unsigned int i = 0; i < st->n_peers; i++)
		if (strcmp(st->peers[i].name, name) == 0)
			return &st->peers[i];
	return NULL;
}

int state_peer_add(struct state *st, const struct peer *p)
{
	struct peer *grown;

	if (st->n_peers >= STATE_MAX_PEERS)
		return -ENOSPC;
	grown = realloc(st->peers, (st->n_peers + 1) * sizeof(*grown));
	if (grown == NULL)
		return -ENOMEM;
	st->peers = grown;
	st->peers[st->n_peers++] = *p;
	return 0;
}

void state_peer_remove(struct state *st, const char *name)
{
	struct peer *p = state_peer_find(st, name);
	unsigned int i;

	if (p == NULL)
		return;
	i = (unsigned int)(p - st->peers);
	memmove(&st->peers[i], &st->peers[i + 1],
		(st->n_peers - i - 1) * sizeof(*st->peers));
	st->n_peers--;
}

struct peer *state_peer_by_prefix(struct state *st, const struct ip_prefix *pfx)
{
	for (unsigned int i = 0; i < st->n_peers; i++)
		for (unsigned int k = 0; k < st->peers[i].n_prefixes; k++)
			if (ipaddr_same_addr(&st->peers[i].prefixes[k], pfx) &&
			    st->peers[i].prefixes[k].len == pfx->len)
				return &st->peers[i];
	return NULL;
}
