/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * shuntctl uplink set|del|list and peer add|del|list (agent_api.h's
 * uplink.* and peer.*). Lists are tables, -j prints the API's result;
 * uplink list also prints each ib uplink's own fabric address.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <shunt/agent_api.h>
#include "shuntctl.h"
#include "table.h"

/* "a,b" -> ["a", "b"]; empty elements refused. NULL on a bad list. */
static json_t *split_list(const char *s)
{
	json_t *a = json_array();
	const char *p = s;

	for (;;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);

		if (n == 0) {
			json_decref(a);
			return NULL;
		}
		json_array_append_new(a, json_stringn(p, n));
		if (comma == NULL)
			return a;
		p = comma + 1;
	}
}

int ctl_uplink_set(int argc, char **argv)
{
	json_t *ips, *r;

	/* ib: NAME --ib DEVICE:PORT[,gid_index=N][,pkey=P][,qkey=Q] PREFIXES
	 * (the partition's address space) */
	if (argc == 4 && strcmp(argv[1], "--ib") == 0 &&
	    (ips = split_list(argv[3])) != NULL) {
		r = ctl_call(AGENT_M_UPLINK_SET, json_pack("{s:s, s:s, s:s, s:o}",
			     "name", argv[0], "kind", "ib", "devargs", argv[2],
			     "prefixes", ips));
		return r == NULL ? 1 : ctl_done(r);
	}
	if (argc != 3 || strcmp(argv[1], "--ib") == 0 ||
	    (ips = split_list(argv[2])) == NULL) {
		fprintf(stderr, "shuntctl: uplink set NAME DEVARGS IP[,IP...]\n"
			"          uplink set NAME --ib DEVICE:PORT[,gid_index=N]"
			"[,pkey=P][,qkey=Q] PREFIX[,PREFIX...]\n");
		return 2;
	}
	r = ctl_call(AGENT_M_UPLINK_SET, json_pack("{s:s, s:s, s:o}", "name", argv[0],
		     "devargs", argv[1], "ips", ips));
	return r == NULL ? 1 : ctl_done(r);
}

int ctl_uplink_del(int argc, char **argv)
{
	json_t *r;

	if (argc != 1) {
		fprintf(stderr, "shuntctl: uplink del NAME\n");
		return 2;
	}
	r = ctl_call(AGENT_M_UPLINK_DEL, json_pack("{s:s}", "name", argv[0]));
	return r == NULL ? 1 : ctl_done(r);
}

int ctl_uplink_list(int argc, char **argv)
{
	static const char *const hdr[] = { "NAME", "KIND", "DEVARGS", "IPS", "PORT",
		"MAC", "PEERS", "ERROR", NULL };
	json_t *r, *u;
	struct table *t;
	size_t i;

	(void)argv;
	if (argc != 0) {
		fprintf(stderr, "shuntctl: uplink list\n");
		return 2;
	}
	r = ctl_call(AGENT_M_UPLINK_LIST, NULL);
	if (r == NULL)
		return 1;
	if (ctl_json_out)
		return ctl_done(r);
	t = table_new(hdr);
	json_array_foreach(json_object_get(r, "uplinks"), i, u) {
		char ips[256], peers[16];
		const char *port = !json_is_true(json_object_get(u, "in_dataplane")) ?
			"absent" : json_is_true(json_object_get(u, "up")) ? "up" : "down";
		const char *row[] = { table_jstr(u, "name"), table_jstr(u, "kind"),
			table_jstr(u, "devargs"),
			json_array_size(json_object_get(u, "ips")) ?
			table_jarr(json_object_get(u, "ips"), ips, sizeof(ips)) : "-", port,
			table_jstr(u, "mac")[0] ? table_jstr(u, "mac") : "-", peers,
			table_jstr(u, "dp_error")[0] ? table_jstr(u, "dp_error") : "-" };

		snprintf(peers, sizeof(peers), "%lld",
			 (long long)json_integer_value(json_object_get(u, "peers")));
		table_row(t, row);
	}
	table_print(t, stdout);
	/* The node's own fabric address: what the other nodes' peer add takes. */
	json_array_foreach(json_object_get(r, "uplinks"), i, u) {
		json_t *f = json_object_get(u, "fabric");

		if (f == NULL)
			continue;
		printf("%s fabric address: --gid %s --qpn %lld --qkey 0x%llx --pkey "
		       "0x%04llx (mtu %lld, %s, P_Key enforced by %s)\n",
		       table_jstr(u, "name"), table_jstr(f, "gid"),
		       (long long)json_integer_value(json_object_get(f, "qpn")),
		       (long long)json_integer_value(json_object_get(f, "qkey")),
		       (long long)json_integer_value(json_object_get(f, "pkey")),
		       (long long)json_integer_value(json_object_get(f, "mtu")),
		       table_jstr(f, "device"), table_jstr(f, "pkey_enforced_by"));
	}
	if (!json_is_true(json_object_get(r, "dataplane")))
		printf("(data plane not connected: PORT unknown)\n");
	json_decref(r);
	return 0;
}

/* A number in decimal or 0x hex, within max. */
static int parse_num(const char *opt, const char *s, unsigned long long max,
		     json_int_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v > max) {
		fprintf(stderr, "shuntctl: %s '%s' is not a number from 0 to %llu\n",
			opt, s, max);
		return -EINVAL;
	}
	*out = (json_int_t)v;
	return 0;
}

int ctl_peer_add(int argc, char **argv)
{
	static const char *const fab[] = { "--gid", "--qpn", "--qkey", "--pkey" };
	static const unsigned long long fab_max[] = { 0, 0xffffff, 0xffffffffULL,
		0xffff };
	json_t *fabric = json_object(), *pfx, *params, *r;
	/* ib peers have no ADDRESS: the third word is then the prefixes. */
	int np = argc >= 3 && strchr(argv[2], '/') != NULL ? 3 : 4, i;

	if (argc < np || (pfx = split_list(argv[np - 1])) == NULL)
		goto usage;
	for (i = np; i < argc; i++) {
		int k;

		for (k = 0; k < 4 && strcmp(argv[i], fab[k]) != 0; k++)
			;
		if (k == 4 || i + 1 >= argc) {
			json_decref(pfx);
			goto usage;
		}
		i++;
		if (k == 0) {
			json_object_set_new(fabric, "gid", json_string(argv[i]));
		} else {
			json_int_t v;

			if (parse_num(fab[k], argv[i], fab_max[k], &v) < 0) {
				json_decref(pfx);
				json_decref(fabric);
				return 2;
			}
			json_object_set_new(fabric, fab[k] + 2, json_integer(v));
		}
	}
	if (json_object_size(fabric) != 0 && json_object_size(fabric) != 4) {
		fprintf(stderr, "shuntctl: --gid, --qpn, --qkey and --pkey go together\n");
		json_decref(pfx);
		json_decref(fabric);
		return 2;
	}
	params = json_pack("{s:s, s:s, s:o}", "name", argv[0], "uplink", argv[1],
			   "prefixes", pfx);
	if (np == 4)
		json_object_set_new(params, "address", json_string(argv[2]));
	if (json_object_size(fabric) == 4)
		json_object_set_new(params, "fabric", fabric);
	else
		json_decref(fabric);
	r = ctl_call(AGENT_M_PEER_ADD, params);
	return r == NULL ? 1 : ctl_done(r);
usage:
	json_decref(fabric);
	fprintf(stderr, "shuntctl: peer add NAME UPLINK ADDRESS PREFIX[,PREFIX...] "
		"[--gid G --qpn N --qkey N --pkey N]\n"
		"          peer add NAME IB_UPLINK PREFIX[,PREFIX...] --gid G --qpn N "
		"--qkey N --pkey N\n");
	return 2;
}

int ctl_peer_del(int argc, char **argv)
{
	json_t *r;

	if (argc != 1) {
		fprintf(stderr, "shuntctl: peer del NAME\n");
		return 2;
	}
	r = ctl_call(AGENT_M_PEER_DEL, json_pack("{s:s}", "name", argv[0]));
	return r == NULL ? 1 : ctl_done(r);
}

int ctl_peer_list(int argc, char **argv)
{
	static const char *const hdr[] = { "NAME", "UPLINK", "ADDRESS", "NEIGHBOUR",
		"PREFIX", "ROUTE", "FABRIC", NULL };
	json_t *r, *p, *rt;
	struct table *t;
	size_t i, k;

	(void)argv;
	if (argc != 0) {
		fprintf(stderr, "shuntctl: peer list\n");
		return 2;
	}
	r = ctl_call(AGENT_M_PEER_LIST, NULL);
	if (r == NULL)
		return 1;
	if (ctl_json_out)
		return ctl_done(r);
	t = table_new(hdr);
	/* One row per prefix: each has a route of its own. */
	json_array_foreach(json_object_get(r, "peers"), i, p) {
		json_t *n = json_object_get(p, "neighbour"), *f = json_object_get(p, "fabric");
		char neigh[64], fabric[96];

		snprintf(neigh, sizeof(neigh), "%s%s%s", table_jstr(n, "state"),
			 table_jstr(n, "mac")[0] ? " " : "", table_jstr(n, "mac"));
		if (f != NULL)
			snprintf(fabric, sizeof(fabric), "%s qpn %lld qkey 0x%llx pkey "
				 "0x%04llx", table_jstr(f, "gid"),
				 (long long)json_integer_value(json_object_get(f, "qpn")),
				 (long long)json_integer_value(json_object_get(f, "qkey")),
				 (long long)json_integer_value(json_object_get(f, "pkey")));
		else
			snprintf(fabric, sizeof(fabric), "-");
		json_array_foreach(json_object_get(p, "routes"), k, rt) {
			const char *state = json_is_true(json_object_get(rt, "installed")) ?
				"installed" : json_is_true(json_object_get(rt, "in_dataplane")) ?
				"resolving" : "absent";
			const char *row[] = { k ? "" : table_jstr(p, "name"),
				k ? "" : table_jstr(p, "uplink"), k ? "" : table_jstr(p, "address"),
				k ? "" : neigh, table_jstr(rt, "prefix"), state, k ? "" : fabric };

			table_row(t, row);
		}
	}
	table_print(t, stdout);
	if (!json_is_true(json_object_get(r, "dataplane")))
		printf("(data plane not connected: ROUTE and NEIGHBOUR unknown)\n");
	json_decref(r);
	return 0;
}
