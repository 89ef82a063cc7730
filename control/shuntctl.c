/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * shuntctl, the operator CLI over shuntd's API (include/shunt/agent_api.h),
 * in the spirit of ip and bpftool:
 *
 *   shuntctl [-j] [--socket PATH] OBJECT VERB [ARGS]
 *
 * Aligned tables for people, -j for scripts (the API's own JSON). Exits
 * 0 on success, 1 with shuntd's message on an API error, 2 on bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <shunt/agent_api.h>
#include "jsonl_client.h"
#include "shuntctl.h"
#include "table.h"

#define CALL_TIMEOUT_MS 30000

static const char *sock_path = AGENT_API_DEFAULT_SOCKET;
bool ctl_json_out;

struct cmd {
	const char *object, *verb, *args, *help;
	int (*fn)(int argc, char **argv);
};

/* --- calling shuntd ---------------------------------------------------------- */

json_t *ctl_call(const char *method, json_t *params)
{
	struct jsonl_client *c;
	json_t *r = NULL;
	char msg[1024];
	int code = 0, rc;

	rc = jsonl_client_open(sock_path, CALL_TIMEOUT_MS, &c);
	if (rc < 0) {
		fprintf(stderr, "shuntctl: %s: %s%s\n", sock_path, strerror(-rc),
			rc == -ENOENT || rc == -ECONNREFUSED ? " (is shuntd running?)" :
			rc == -EACCES ? " (root or shuntd's group needed)" : "");
		json_decref(params);
		return NULL;
	}
	rc = jsonl_client_call(c, method, params, &r, &code, msg, sizeof(msg));
	jsonl_client_close(c);
	json_decref(params);
	if (rc < 0) {
		if (rc == -EREMOTEIO)
			fprintf(stderr, "shuntctl: %s (code %d)\n", msg, code);
		else
			fprintf(stderr, "shuntctl: %s\n", msg);
		return NULL;
	}
	return r;
}

void ctl_print_json(json_t *r)
{
	char *s = json_dumps(r, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	if (s != NULL)
		puts(s);
	free(s);
}

int ctl_done(json_t *r)
{
	if (ctl_json_out)
		ctl_print_json(r);
	json_decref(r);
	return 0;
}

/* --- commands -------------------------------------------------------------- */

static int cmd_status(int argc, char **argv)
{
	json_t *r = ctl_call(AGENT_M_STATUS, NULL), *d, *rec, *a, *v;

	(void)argc; (void)argv;
	if (r == NULL)
		return 1;
	if (ctl_json_out)
		return ctl_done(r);
	d = json_object_get(r, "dataplane");
	rec = json_object_get(d, "reconcile");
	a = json_object_get(r, "attachments");
	v = json_object_get(d, "version");
	printf("agent        %s (api %lld), up %.1f s, state %s (%lld saves)\n",
	       table_jstr(r, "version"), (long long)json_integer_value(json_object_get(r, "api")),
	       (double)json_integer_value(json_object_get(r, "uptime_ms")) / 1000,
	       table_jstr(r, "state_dir"),
	       (long long)json_integer_value(json_object_get(r, "state_saves")));
	printf("data plane   %s %s", json_is_true(json_object_get(d, "connected")) ?
	       "connected" : "NOT CONNECTED", table_jstr(d, "socket"));
	if (v != NULL)
		printf(" (%s, %s)", table_jstr(v, "version"), table_jstr(v, "dpdk"));
	printf(", %lld connection(s) so far\n",
	       (long long)json_integer_value(json_object_get(d, "connects")));
	printf("reconcile    %s%lld run(s), last %lld ms: %lld added, %lld deleted, "
	       "%lld failed\n",
	       json_is_true(json_object_get(rec, "running")) ? "RUNNING, " : "",
	       (long long)json_integer_value(json_object_get(rec, "runs")),
	       (long long)json_integer_value(json_object_get(rec, "last_ms")),
	       (long long)json_integer_value(json_object_get(rec, "last_added")),
	       (long long)json_integer_value(json_object_get(rec, "last_deleted")),
	       (long long)json_integer_value(json_object_get(rec, "last_failed")));
	printf("attachments  %lld (%lld ready, %lld pending, %lld detaching) in %lld "
	       "network(s)\n",
	       (long long)json_integer_value(json_object_get(a, "total")),
	       (long long)json_integer_value(json_object_get(a, "ready")),
	       (long long)json_integer_value(json_object_get(a, "pending")),
	       (long long)json_integer_value(json_object_get(a, "detaching")),
	       (long long)json_integer_value(json_object_get(r, "networks")));
	printf("fabric       %lld uplink(s), %lld peer(s)\n",
	       (long long)json_integer_value(json_object_get(r, "uplinks")),
	       (long long)json_integer_value(json_object_get(r, "peers")));
	json_decref(r);
	return 0;
}

static int cmd_pod_list(int argc, char **argv)
{
	static const char *const hdr[] = { "CONTAINER", "IFNAME", "NETWORK", "MODE",
		"IPS", "MAC", "HOST-IF", "MEMIF", "STATE", NULL };
	json_t *r = ctl_call(AGENT_M_ATTACHMENT_LIST, NULL), *a;
	struct table *t;
	char ips[512];
	size_t i;

	(void)argc; (void)argv;
	if (r == NULL)
		return 1;
	if (ctl_json_out)
		return ctl_done(r);
	t = table_new(hdr);
	json_array_foreach(json_object_get(r, "attachments"), i, a) {
		const char *row[] = { table_jstr(a, "container_id"), table_jstr(a, "ifname"),
			table_jstr(a, "network"), table_jstr(a, "mode"),
			table_jarr(json_object_get(a, "ips"), ips, sizeof(ips)), table_jstr(a, "mac"),
			table_jstr(a, "host_if"), table_jstr(a, "memif_socket"), table_jstr(a, "state") };

		table_row(t, row);
	}
	table_print(t, stdout);
	json_decref(r);
	return 0;
}

static int cmd_pod_show(int argc, char **argv)
{
	json_t *r, *v, *p;
	const char *key;
	char buf[512];
	size_t i;

	if (argc != 2) {
		fprintf(stderr, "shuntctl: pod show CONTAINER_ID IFNAME\n");
		return 2;
	}
	r = ctl_call(AGENT_M_ATTACHMENT_SHOW, json_pack("{s:s, s:s}", "container_id",
		 argv[0], "ifname", argv[1]));
	if (r == NULL)
		return 1;
	if (ctl_json_out)
		return ctl_done(r);
	json_object_foreach(r, key, v) {
		if (strcmp(key, "ports") == 0)
			continue;
		if (json_is_array(v))
			printf("%-16s %s\n", key, table_jarr(v, buf, sizeof(buf))[0] ?
			       buf : "-");
		else if (json_is_string(v))
			printf("%-16s %s\n", key, json_string_value(v)[0] ?
			       json_string_value(v) : "-");
		else
			printf("%-16s %s\n", key, table_jint(r, key, buf, sizeof(buf)));
	}
	json_array_foreach(json_object_get(r, "ports"), i, p)
		printf("port             %s (%s, %s, %s, lcore %s)\n", table_jstr(p, "name"),
		       table_jstr(p, "kind"), table_jstr(p, "driver"),
		       json_is_true(json_object_get(p, "up")) ? "up" : "down",
		       table_jint(p, "lcore", buf, sizeof(buf)));
	if (json_array_size(json_object_get(r, "ports")) == 0)
		printf("port             none in the data plane\n");
	json_decref(r);
	return 0;
}

static int cmd_port_list(int argc, char **argv)
{
	static const char *const hdr[] = { "NAME", "KIND", "DRIVER", "UP", "LCORE",
		"MAC", "POD-MAC", "IPS", "OWNER", NULL };
	json_t *r = ctl_call(AGENT_M_PORT_LIST, NULL), *p;
	char ips[512], lc[16], up[8];
	struct table *t;
	size_t i;

	(void)argc; (void)argv;
	if (r == NULL)
		return 1;
	if (ctl_json_out)
		return ctl_done(r);
	t = table_new(hdr);
	json_array_foreach(json_object_get(r, "ports"), i, p) {
		const char *row[] = { table_jstr(p, "name"), table_jstr(p, "kind"), table_jstr(p, "driver"),
			table_jint(p, "up", up, sizeof(up)), table_jint(p, "lcore", lc, sizeof(lc)),
			table_jstr(p, "mac"), table_jstr(p, "pod_mac"), table_jarr(json_object_get(p, "ips"), ips, sizeof(ips)),
			table_jstr(p, "owner") };

		table_row(t, row);
	}
	table_print(t, stdout);
	json_decref(r);
	return 0;
}

static int cmd_route_list(int argc, char **argv)
{
	static const char *const hdr[] = { "PREFIX", "PORT", "MAC", "POD", "OWNER", NULL };
	json_t *r = ctl_call(AGENT_M_ROUTE_LIST, NULL), *p;
	struct table *t;
	char pod[8];
	size_t i;

	(void)argc; (void)argv;
	if (r == NULL)
		return 1;
	if (ctl_json_out)
		return ctl_done(r);
	t = table_new(hdr);
	json_array_foreach(json_object_get(r, "routes"), i, p) {
		const char *row[] = { table_jstr(p, "prefix"), table_jstr(p, "port"), table_jstr(p, "mac"),
			table_jint(p, "pod", pod, sizeof(pod)), table_jstr(p, "owner") };

		table_row(t, row);
	}
	table_print(t, stdout);
	json_decref(r);
	return 0;
}

static int cmd_network_list(int argc, char **argv)
{
	static const char *const hdr[] = { "NAME", "PREFIXES", "MTU", "MODE", "PODS", NULL };
	json_t *r = ctl_call(AGENT_M_NETWORK_LIST, NULL), *n;
	char pfx[512], mtu[16], pods[16];
	struct table *t;
	size_t i;

	(void)argc; (void)argv;
	if (r == NULL)
		return 1;
	if (ctl_json_out)
		return ctl_done(r);
	t = table_new(hdr);
	json_array_foreach(json_object_get(r, "networks"), i, n) {
		const char *row[] = { table_jstr(n, "name"), table_jarr(json_object_get(n, "prefixes"), pfx, sizeof(pfx)),
			table_jint(n, "mtu", mtu, sizeof(mtu)), table_jstr(n, "mode"),
			table_jint(n, "attachments", pods, sizeof(pods)) };

		table_row(t, row);
	}
	table_print(t, stdout);
	json_decref(r);
	return 0;
}

static int cmd_network_create(int argc, char **argv)
{
	json_t *params = json_object(), *pfx = json_array(), *r;
	int i;

	for (i = 1; i < argc; i++) {
		if ((strcmp(argv[i], "--mtu") == 0 || strcmp(argv[i], "--mode") == 0) &&
		    i + 1 < argc) {
			char *end;
			long v;

			if (strcmp(argv[i], "--mode") == 0) {
				json_object_set_new(params, "mode", json_string(argv[++i]));
				continue;
			}
			v = strtol(argv[++i], &end, 10);
			if (*end != '\0' || v <= 0) {
				fprintf(stderr, "shuntctl: --mtu '%s' is not a number\n", argv[i]);
				goto usage;
			}
			json_object_set_new(params, "mtu", json_integer(v));
		} else if (argv[i][0] == '-') {
			goto usage;
		} else {
			json_array_append_new(pfx, json_string(argv[i]));
		}
	}
	if (argc < 2 || json_array_size(pfx) == 0)
		goto usage;
	json_object_set_new(params, "name", json_string(argv[0]));
	json_object_set_new(params, "prefixes", pfx);
	r = ctl_call(AGENT_M_NETWORK_CREATE, params);
	if (r == NULL)
		return 1;
	if (ctl_json_out)
		ctl_print_json(r);
	json_decref(r);
	return 0;
usage:
	fprintf(stderr, "shuntctl: network create NAME PREFIX... [--mtu N] [--mode MODE]\n");
	json_decref(params);
	json_decref(pfx);
	return 2;
}

static int cmd_network_delete(int argc, char **argv)
{
	json_t *r;

	if (argc != 1) {
		fprintf(stderr, "shuntctl: network delete NAME\n");
		return 2;
	}
	r = ctl_call(AGENT_M_NETWORK_DELETE, json_pack("{s:s}", "name", argv[0]));
	if (r == NULL)
		return 1;
	if (ctl_json_out)
		ctl_print_json(r);
	json_decref(r);
	return 0;
}

static int cmd_tune_get(int argc, char **argv)
{
	json_t *r = ctl_call(AGENT_M_TUNE_GET, NULL), *v;
	const char *key;

	(void)argc; (void)argv;
	if (r == NULL)
		return 1;
	if (ctl_json_out)
		return ctl_done(r);
	json_object_foreach(r, key, v) {
		char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

		printf("%-14s %s\n", key, s ? s : "?");
		free(s);
	}
	json_decref(r);
	return 0;
}

static int cmd_tune_set(int argc, char **argv)
{
	json_t *params = json_object(), *r;

	if (argc == 0 || argc % 2 != 0) {
		fprintf(stderr, "shuntctl: tune set KEY VALUE [KEY VALUE]...\n");
		json_decref(params);
		return 2;
	}
	for (int i = 0; i < argc; i += 2) {
		/* Values are JSON: numbers as they are, poll as {"port": lcore}. */
		json_t *v = json_loads(argv[i + 1], JSON_DECODE_ANY, NULL);

		if (v == NULL) {
			fprintf(stderr, "shuntctl: %s: '%s' is not a number or JSON value\n",
				argv[i], argv[i + 1]);
			json_decref(params);
			return 2;
		}
		json_object_set_new(params, argv[i], v);
	}
	r = ctl_call(AGENT_M_TUNE_SET, params);
	if (r == NULL)
		return 1;
	if (ctl_json_out)
		ctl_print_json(r);
	json_decref(r);
	return 0;
}

static const struct cmd cmds[] = {
	{ "status", NULL, "", "agent, data plane and reconciliation at a glance", cmd_status },
	{ "pod", "list", "", "attachments: pods and their interfaces", cmd_pod_list },
	{ "pod", "show", "CONTAINER_ID IFNAME", "one attachment with its data plane ports",
	  cmd_pod_show },
	{ "port", "list", "", "the data plane's ports and who owns them", cmd_port_list },
	{ "route", "list", "", "the data plane's routes", cmd_route_list },
	{ "network", "list", "", "networks", cmd_network_list },
	{ "network", "create", "NAME PREFIX... [--mtu N] [--mode veth|memif|veth+memif]",
	  "create a network (the same again is fine)", cmd_network_create },
	{ "network", "delete", "NAME", "delete an unused network", cmd_network_delete },
	{ "stats", NULL, "[--watch SECONDS [--count N]] [CONTAINER_ID IFNAME]",
	  "counters and rates (pps, bit/s, drops/s) per pod, port and drop reason; "
	  "rates over 1 s, or every SECONDS with --watch", ctl_stats_cmd },
	{ "tune", "get", "", "the data plane's tuning", cmd_tune_get },
	{ "tune", "set", "KEY VALUE...", "burst, rx_ring, tx_ring, idle_sleep_us "
	  "(kept across data plane restarts), poll {\"port\": lcore}", cmd_tune_set },
	{ "filter", "load", "NAME PATH", "load an eBPF filter (ELF) into the data "
	  "plane; kept across restarts", ctl_filter_load },
	{ "filter", "unload", "NAME", "unload a filter that no chain uses",
	  ctl_filter_unload },
	{ "filter", "attach", "CONTAINER_ID IFNAME DIR FILTER[,FILTER...] "
	  "[--rules FILE.json] [--rate BYTES_PER_S[:BURST]]", "set a pod's chain in "
	  "DIR (from_pod|to_pod); --rules to the first filter, --rate to the last",
	  ctl_filter_attach },
	{ "filter", "detach", "CONTAINER_ID IFNAME DIR", "remove a pod's chain in DIR",
	  ctl_filter_detach },
	{ "filter", "rules", "CONTAINER_ID IFNAME DIR FILE.json [--index N]",
	  "replace the rules of a chain element (default 0) without a reload",
	  ctl_filter_rules },
	{ "filter", "list", "", "loaded filters and every pod's chains", ctl_filter_list },
	{ "filter", "stats", "", "per chain element and port: runs and drops by reason",
	  ctl_filter_stats },
	{ "uplink", "set", "NAME DEVARGS IP[,IP...] | NAME --ib DEVICE:PORT[,gid_index=N]"
	  "[,pkey=P][,qkey=Q] PREFIX[,PREFIX...]", "create or replace the node's "
	  "uplink: a DPDK device (e.g. net_af_packet0,iface=eth1) and its own "
	  "addresses, or an RDMA device port (e.g. mlx5_0:1, rxe0:1,gid_index=1) "
	  "and its partition's pod prefixes",
	  ctl_uplink_set },
	{ "uplink", "del", "NAME", "delete an uplink that no peer uses", ctl_uplink_del },
	{ "uplink", "list", "", "uplinks and their data plane ports", ctl_uplink_list },
	{ "peer", "add", "NAME UPLINK [ADDRESS] PREFIX[,PREFIX...] [--gid G --qpn N "
	  "--qkey N --pkey N]", "route another node's pod prefixes through UPLINK "
	  "to its uplink ADDRESS (eth), or to its InfiniBand UD address --gid.. "
	  "(ib uplink: no ADDRESS; see uplink list on that node)",
	  ctl_peer_add },
	{ "peer", "del", "NAME", "remove a peer and its routes", ctl_peer_del },
	{ "peer", "list", "", "peers: per prefix whether the route is installed, "
	  "and the next hop's neighbour state", ctl_peer_list },
	{ NULL, NULL, NULL, NULL, NULL },
};

static void usage(FILE *f, const char *object)
{
	if (object == NULL)
		fprintf(f, "usage: shuntctl [-j] [--socket PATH] OBJECT VERB [ARGS]\n"
			"  -j, --json       print the API's JSON\n"
			"  --socket PATH    shuntd's socket (default "
			AGENT_API_DEFAULT_SOCKET ")\n"
			"  -h, --help       this text; OBJECT --help for one object\n\n");
	for (const struct cmd *c = cmds; c->object; c++)
		if (object == NULL || strcmp(object, c->object) == 0)
			fprintf(f, "  %s%s%s%s%s\n      %s\n", c->object,
				c->verb ? " " : "", c->verb ? c->verb : "",
				c->args[0] ? " " : "", c->args, c->help);
}

static bool is_help(const char *s)
{
	return strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0 ||
	       strcmp(s, "help") == 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *object, *verb;
	int c;

	/* "+": options end at OBJECT, so VERB's own options reach it. */
	while ((c = getopt_long(argc, argv, "+jh", opts, NULL)) != -1) {
		switch (c) {
		case 'j': ctl_json_out = true; break;
		case 's': sock_path = optarg; break;
		case 'h': usage(stdout, NULL); return 0;
		default: usage(stderr, NULL); return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr, NULL);
		return 2;
	}
	object = argv[optind++];
	verb = optind < argc ? argv[optind] : NULL;
	for (const struct cmd *k = cmds; k->object; k++) {
		if (strcmp(k->object, object) != 0)
			continue;
		if (k->verb == NULL) {
			if (verb != NULL && is_help(verb)) {
				usage(stdout, object);
				return 0;
			}
			return k->fn(argc - optind, argv + optind);
		}
		if (verb == NULL || is_help(verb)) {
			usage(verb ? stdout : stderr, object);
			return verb ? 0 : 2;
		}
		if (strcmp(k->verb, verb) != 0)
			continue;
		if (optind + 1 < argc && is_help(argv[optind + 1])) {
			fprintf(stdout, "usage: shuntctl %s %s%s%s\n  %s\n", object, verb,
				k->args[0] ? " " : "", k->args, k->help);
			return 0;
		}
		return k->fn(argc - optind - 1, argv + optind + 1);
	}
	fprintf(stderr, "shuntctl: unknown command '%s%s%s'\n", object,
		verb ? " " : "", verb ? verb : "");
	usage(stderr, NULL);
	return 2;
}
