/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * shuntctl filter VERB: eBPF filters through shuntd (agent_api.h's
 * AGENT_M_FILTER_*). Rule sets are JSON files in the API's own form, so
 * what a user writes is what the API, the CNI config and the data plane
 * take.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <shunt/agent_api.h>
#include "shuntctl.h"
#include "table.h"

static int usage(const char *verb, const char *args)
{
	fprintf(stderr, "usage: shuntctl filter %s %s\n", verb, args);
	return 2;
}

static json_t *rules_load(const char *file)
{
	json_error_t jerr;
	json_t *r = json_load_file(file, JSON_REJECT_DUPLICATES, &jerr);

	if (r == NULL)
		fprintf(stderr, "shuntctl: --rules %s: %s (line %d)\n", file, jerr.text,
			jerr.line);
	else if (!json_is_object(r)) {
		fprintf(stderr, "shuntctl: --rules %s: not a JSON object {default, "
			"rules: [...]}\n", file);
		json_decref(r);
		r = NULL;
	}
	return r;
}

int ctl_filter_load(int argc, char **argv)
{
	char path[PATH_MAX];
	json_t *r;

	if (argc != 2)
		return usage("load", "NAME PATH");
	/* shuntd reloads it after a data plane restart, from its own
	 * working directory: the path it records must be absolute. */
	if (realpath(argv[1], path) == NULL) {
		fprintf(stderr, "shuntctl: PATH %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	r = ctl_call(AGENT_M_FILTER_LOAD, json_pack("{s:s, s:s}", "name", argv[0],
		     "path", path));
	return r ? ctl_done(r) : 1;
}

int ctl_filter_unload(int argc, char **argv)
{
	json_t *r;

	if (argc != 1)
		return usage("unload", "NAME");
	r = ctl_call(AGENT_M_FILTER_UNLOAD, json_pack("{s:s}", "name", argv[0]));
	return r ? ctl_done(r) : 1;
}

static int parse_rate(const char *s, json_t **out)
{
	unsigned long long rate, burst = 0;
	char *end;

	errno = 0;
	rate = strtoull(s, &end, 10);
	if (*end == ':')
		burst = strtoull(end + 1, &end, 10);
	if (errno || *end != '\0' || s[0] == '-' || end == s || (burst == 0 && strchr(s, ':'))) {
		fprintf(stderr, "shuntctl: --rate '%s' is not BYTES_PER_S[:BURST]\n", s);
		return -EINVAL;
	}
	*out = json_pack("{s:I}", "bytes_per_s", (json_int_t)rate);
	if (burst)
		json_object_set_new(*out, "burst", json_integer((json_int_t)burst));
	return 0;
}

int ctl_filter_attach(int argc, char **argv)
{
	static const char *const args = "CONTAINER_ID IFNAME DIR FILTER[,FILTER...] "
		"[--rules FILE.json] [--rate BYTES_PER_S[:BURST]]";
	json_t *rules = NULL, *rate = NULL, *chain, *r;
	char *names, *tok, *save = NULL;
	int i, rc = 2;

	if (argc < 4)
		return usage("attach", args);
	for (i = 4; i < argc; i++) {
		if (strcmp(argv[i], "--rules") == 0 && i + 1 < argc && rules == NULL) {
			rules = rules_load(argv[++i]);
			if (rules == NULL)
				goto out;
		} else if (strcmp(argv[i], "--rate") == 0 && i + 1 < argc && rate == NULL) {
			if (parse_rate(argv[++i], &rate) < 0)
				goto out;
		} else {
			fprintf(stderr, "shuntctl: filter attach: unexpected '%s'\n", argv[i]);
			usage("attach", args);
			goto out;
		}
	}
	/* --rules goes to the first element (the ACL, first so that what it
	 * denies costs nothing further), --rate to the last (a policer
	 * after it); with one filter, both go to it. */
	chain = json_array();
	names = strdup(argv[3]);
	for (tok = strtok_r(names, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		json_array_append_new(chain, json_pack("{s:s}", "filter", tok));
	if (rules)
		json_object_set_new(json_array_get(chain, 0), "rules", rules);
	if (rate)
		json_object_set_new(json_array_get(chain, json_array_size(chain) - 1),
				    "rate", rate);
	rules = rate = NULL;
	free(names);
	if (json_array_size(chain) == 0) {
		fprintf(stderr, "shuntctl: FILTER: '%s' names no filter\n", argv[3]);
		json_decref(chain);
		goto out;
	}
	r = ctl_call(AGENT_M_FILTER_ATTACH, json_pack("{s:s, s:s, s:s, s:o}",
		     "container_id", argv[0], "ifname", argv[1], "dir", argv[2],
		     "filters", chain));
	rc = r ? ctl_done(r) : 1;
out:
	json_decref(rules);
	json_decref(rate);
	return rc;
}

int ctl_filter_detach(int argc, char **argv)
{
	json_t *r;

	if (argc != 3)
		return usage("detach", "CONTAINER_ID IFNAME DIR");
	r = ctl_call(AGENT_M_FILTER_DETACH, json_pack("{s:s, s:s, s:s}",
		     "container_id", argv[0], "ifname", argv[1], "dir", argv[2]));
	return r ? ctl_done(r) : 1;
}

int ctl_filter_rules(int argc, char **argv)
{
	json_t *rules, *params, *r;
	char *end;
	long idx;

	if (argc != 4 && !(argc == 6 && strcmp(argv[4], "--index") == 0))
		return usage("rules", "CONTAINER_ID IFNAME DIR FILE.json [--index N]");
	rules = rules_load(argv[3]);
	if (rules == NULL)
		return 2;
	params = json_pack("{s:s, s:s, s:s, s:o}", "container_id", argv[0],
			   "ifname", argv[1], "dir", argv[2], "rules", rules);
	if (argc == 6) {
		idx = strtol(argv[5], &end, 10);
		if (*end != '\0' || idx < 0) {
			fprintf(stderr, "shuntctl: --index '%s' is not a number\n", argv[5]);
			json_decref(params);
			return 2;
		}
		json_object_set_new(params, "index", json_integer(idx));
	}
	r = ctl_call(AGENT_M_FILTER_RULES, params);
	return r ? ctl_done(r) : 1;
}

static json_t *list_call(int argc, const char *verb)
{
	if (argc != 0) {
		usage(verb, "");
		return NULL;
	}
	return ctl_call(AGENT_M_FILTER_LIST, NULL);
}

int ctl_filter_list(int argc, char **argv)
{
	static const char *const lh[] = { "FILTER", "JIT", "INSNS", "LOADED",
		"CHAINS", "PATH", NULL };
	static const char *const ah[] = { "CONTAINER", "IFNAME", "DIR", "CHAIN",
		"PORTS", NULL };
	json_t *r = list_call(argc, "list"), *o, *el;
	struct table *t;
	size_t i, k;

	(void)argv;
	if (r == NULL)
		return argc ? 2 : 1;
	if (ctl_json_out)
		return ctl_done(r);
	t = table_new(lh);
	json_array_foreach(json_object_get(r, "loaded"), i, o) {
		char jit[8], insns[16], in[8], n[16];
		const char *row[] = { table_jstr(o, "name"), table_jint(o, "jit", jit, sizeof(jit)),
			table_jint(o, "insns", insns, sizeof(insns)),
			table_jint(o, "in_dataplane", in, sizeof(in)),
			table_jint(o, "attached", n, sizeof(n)), table_jstr(o, "path") };

		table_row(t, row);
	}
	table_print(t, stdout);
	if (json_array_size(json_object_get(r, "attached")) == 0) {
		printf("\nno chains attached\n");
		return ctl_done(r);
	}
	printf("\n");
	t = table_new(ah);
	json_array_foreach(json_object_get(r, "attached"), i, o) {
		char chain[256] = "", ports[128] = "";
		size_t used = 0, pu = 0;

		json_array_foreach(json_object_get(o, "filters"), k, el)
			if (used < sizeof(chain))
				used += (size_t)snprintf(chain + used, sizeof(chain) - used,
					"%s%s%s%s", k ? "," : "", table_jstr(el, "filter"),
					json_object_get(el, "rules") ? "+rules" : "",
					json_object_get(el, "rate") ? "+rate" : "");
		json_array_foreach(json_object_get(o, "ports"), k, el)
			if (pu < sizeof(ports))
				pu += (size_t)snprintf(ports + pu, sizeof(ports) - pu,
					"%s%s%s", k ? "," : "", table_jstr(el, "port"),
					json_is_null(json_object_get(el, "chain")) ?
					"(absent)" : "");
		{
			const char *row[] = { table_jstr(o, "container_id"), table_jstr(o, "ifname"),
				table_jstr(o, "dir"), chain, ports };

			table_row(t, row);
		}
	}
	table_print(t, stdout);
	return ctl_done(r);
}

/* The data plane's verdict cache in one line (ebpf/README.md). */
static void cache_summary(json_t *c)
{
	long long hits = json_integer_value(json_object_get(c, "hits")),
		  misses = json_integer_value(json_object_get(c, "misses"));

	if (!json_is_object(c))
		return;
	if (!json_is_true(json_object_get(c, "enabled"))) {
		printf("verdict cache: off (shunt-dataplane --no-filter-cache)\n");
		return;
	}
	printf("verdict cache: %lld hits, %lld misses (%.1f%% hits), %lld not "
	       "cacheable frames, %lld run past a thrashing cache\n", hits,
	       misses, hits + misses ? 100.0 * (double)hits / (double)(hits + misses) : 0.0,
	       (long long)json_integer_value(json_object_get(c, "uncached")),
	       (long long)json_integer_value(json_object_get(c, "bypassed")));
}

/* One row per chain element and port: runs and drops (by reason). */
int ctl_filter_stats(int argc, char **argv)
{
	static const char *const h[] = { "CONTAINER", "IFNAME", "DIR", "PORT", "#",
		"FILTER", "CACHED", "RUNS", "DROPS", "BY-REASON", NULL };
	json_t *r = list_call(argc, "stats"), *o, *p, *el, *v;
	struct table *t;
	size_t i, k, n;

	(void)argv;
	if (r == NULL)
		return argc ? 2 : 1;
	if (ctl_json_out)
		return ctl_done(r);
	if (!json_is_true(json_object_get(r, "dataplane")))
		printf("data plane not connected: no counters\n");
	t = table_new(h);
	json_array_foreach(json_object_get(r, "attached"), i, o)
		json_array_foreach(json_object_get(o, "ports"), k, p)
			json_array_foreach(json_object_get(p, "chain"), n, el) {
				char idx[24], runs[24], drops[24], by[256] = "";
				const char *reason;
				long long sum = 0;
				size_t used = 0;

				json_object_foreach(json_object_get(el, "drops"), reason, v) {
					sum += json_integer_value(v);
					if (used < sizeof(by))
						used += (size_t)snprintf(by + used, sizeof(by) - used,
							"%s%s=%lld", used ? "," : "", reason,
							(long long)json_integer_value(v));
				}
				snprintf(idx, sizeof(idx), "%zu", n);
				snprintf(drops, sizeof(drops), "%lld", sum);
				{
					const char *row[] = { table_jstr(o, "container_id"),
						table_jstr(o, "ifname"), table_jstr(o, "dir"),
						table_jstr(p, "port"), idx, table_jstr(el, "filter"),
						json_is_true(json_object_get(el, "flow_cached")) ?
							"yes" : "no",
						table_jint(el, "runs", runs, sizeof(runs)), drops,
						by[0] ? by : "-" };

					table_row(t, row);
				}
			}
	table_print(t, stdout);
	cache_summary(json_object_get(r, "cache"));
	return ctl_done(r);
}
