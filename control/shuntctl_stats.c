/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * shuntctl stats: counters per pod, per data plane port and per drop
 * reason, with rates computed from two samples of shuntd's "stats"
 * (include/shunt/agent_api.h) taken an interval apart:
 *
 *   shuntctl [-j] stats [--watch SECONDS [--count N]] [CONTAINER_ID IFNAME]
 *
 * Without --watch the interval is one second and one table is printed;
 * with it, a table every SECONDS (N of them, or until interrupted). -j
 * prints the API's result with a "rates" object in each entry; under
 * --watch, one compact JSON object per line, for scripts that follow it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <shunt/agent_api.h>
#include "shuntctl.h"
#include "table.h"

#define WATCH_MAX_S 86400.0

static void sleep_s(double s)
{
	struct timespec ts = { .tv_sec = (time_t)s,
			       .tv_nsec = (long)((s - (double)(time_t)s) * 1e9) };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static json_int_t jget(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

/* The entry of prev matching cur by key (pods: owner key; ports: name). */
static json_t *find_prev(json_t *prev, const char *array, json_t *cur)
{
	const char *name = json_string_value(json_object_get(cur, "name"));
	const char *cid = json_string_value(json_object_get(cur, "container_id"));
	const char *ifn = json_string_value(json_object_get(cur, "ifname"));
	json_t *o;
	size_t i;

	json_array_foreach(json_object_get(prev, array), i, o) {
		const char *n2 = json_string_value(json_object_get(o, "name"));

		if (name != NULL) {
			if (n2 != NULL && strcmp(name, n2) == 0)
				return o;
		} else if (cid && ifn &&
			   !strcmp(cid, json_string_value(json_object_get(o, "container_id"))) &&
			   !strcmp(ifn, json_string_value(json_object_get(o, "ifname")))) {
			return o;
		}
	}
	return NULL;
}

/* Per second over dt. A counter below its previous value was restarted
 * (data plane restart, port re-added): everything it holds is new. An
 * entry with no previous sample appeared within the interval. */
static double rate(json_int_t cur, json_int_t prev, bool has_prev, double dt)
{
	json_int_t d = !has_prev || cur < prev ? cur : cur - prev;

	return dt > 0 ? (double)d / dt : 0;
}

/* Add "rates" to each entry of cur[array]. */
static void rates_add(json_t *cur, json_t *prev, const char *array, double dt)
{
	json_t *o, *v;
	const char *key;
	size_t i;

	json_array_foreach(json_object_get(cur, array), i, o) {
		json_t *p = find_prev(prev, array, o), *drops = json_object();
		bool hp = p != NULL;

		json_object_foreach(json_object_get(o, "drops"), key, v)
			json_object_set_new(drops, key, json_real(rate(
				json_integer_value(v),
				jget(json_object_get(p, "drops"), key), hp, dt)));
		json_object_set_new(o, "rates", json_pack("{s:f, s:f, s:f, s:f, s:f, s:o}",
			"rx_pps", rate(jget(o, "rx_pkts"), jget(p, "rx_pkts"), hp, dt),
			"rx_bps", 8 * rate(jget(o, "rx_bytes"), jget(p, "rx_bytes"), hp, dt),
			"tx_pps", rate(jget(o, "tx_pkts"), jget(p, "tx_pkts"), hp, dt),
			"tx_bps", 8 * rate(jget(o, "tx_bytes"), jget(p, "tx_bytes"), hp, dt),
			"drops_ps", rate(jget(o, "dropped"), jget(p, "dropped"), hp, dt),
			"drops", drops));
	}
}

/* 1234567 -> "1.2M": rates for people; -j has the exact figures. */
static const char *human(double v, char *buf, size_t len)
{
	static const char sfx[] = " kMGTP";
	int k = 0;

	while (v >= 1000 && k < 5) {
		v /= 1000;
		k++;
	}
	if (k == 0)
		snprintf(buf, len, "%.1f", v);
	else
		snprintf(buf, len, "%.1f%c", v, sfx[k]);
	return buf;
}

static const char *num(json_int_t v, char *buf, size_t len)
{
	snprintf(buf, len, "%lld", (long long)v);
	return buf;
}

static double rget(json_t *o, const char *key)
{
	return json_real_value(json_object_get(json_object_get(o, "rates"), key));
}

static void print_tables(json_t *cur)
{
	static const char *const pod_hdr[] = { "POD", "PORTS", "RX-PKTS", "RX-PPS",
		"RX-BIT/S", "TX-PKTS", "TX-PPS", "TX-BIT/S", "DROPS", "DROPS/S", NULL };
	static const char *const port_hdr[] = { "PORT", "KIND", "OWNER", "RX-PKTS",
		"RX-PPS", "RX-BIT/S", "TX-PKTS", "TX-PPS", "TX-BIT/S", "DROPS",
		"DROPS/S", NULL };
	static const char *const drop_hdr[] = { "PORT", "OWNER", "REASON", "DROPS",
		"DROPS/S", NULL };
	char c[10][32], owner[320], ports[256];
	struct table *t;
	json_t *o, *v;
	const char *key;
	size_t i, k;
	bool any = false;

	t = table_new(pod_hdr);
	json_array_foreach(json_object_get(cur, "pods"), i, o) {
		size_t used = 0;

		snprintf(owner, sizeof(owner), "%s/%s",
			 json_string_value(json_object_get(o, "container_id")),
			 json_string_value(json_object_get(o, "ifname")));
		ports[0] = '\0';
		json_array_foreach(json_object_get(o, "ports"), k, v)
			if (used < sizeof(ports))
				used += (size_t)snprintf(ports + used, sizeof(ports) - used,
					"%s%s", k ? "," : "", json_string_value(v));
		{
			const char *row[] = { owner, ports,
				num(jget(o, "rx_pkts"), c[0], 32), human(rget(o, "rx_pps"), c[1], 32),
				human(rget(o, "rx_bps"), c[2], 32),
				num(jget(o, "tx_pkts"), c[3], 32), human(rget(o, "tx_pps"), c[4], 32),
				human(rget(o, "tx_bps"), c[5], 32),
				num(jget(o, "dropped"), c[6], 32), human(rget(o, "drops_ps"), c[7], 32) };

			table_row(t, row);
		}
	}
	table_print(t, stdout);
	putchar('\n');
	t = table_new(port_hdr);
	json_array_foreach(json_object_get(cur, "ports"), i, o) {
		const char *row[] = { json_string_value(json_object_get(o, "name")),
			json_string_value(json_object_get(o, "kind")),
			json_string_value(json_object_get(o, "owner")),
			num(jget(o, "rx_pkts"), c[0], 32), human(rget(o, "rx_pps"), c[1], 32),
			human(rget(o, "rx_bps"), c[2], 32),
			num(jget(o, "tx_pkts"), c[3], 32), human(rget(o, "tx_pps"), c[4], 32),
			human(rget(o, "tx_bps"), c[5], 32),
			num(jget(o, "dropped"), c[6], 32), human(rget(o, "drops_ps"), c[7], 32) };

		table_row(t, row);
	}
	table_print(t, stdout);
	/* Only the reasons that counted something: twelve zero rows per
	 * port would hide the one that matters. */
	t = table_new(drop_hdr);
	json_array_foreach(json_object_get(cur, "ports"), i, o)
		json_object_foreach(json_object_get(o, "drops"), key, v) {
			json_t *r = json_object_get(json_object_get(o, "rates"), "drops");
			const char *row[] = { json_string_value(json_object_get(o, "name")),
				json_string_value(json_object_get(o, "owner")), key,
				num(json_integer_value(v), c[0], 32),
				human(json_real_value(json_object_get(r, key)), c[1], 32) };

			if (json_integer_value(v) == 0)
				continue;
			if (!any)
				putchar('\n');
			any = true;
			table_row(t, row);
		}
	if (any)
		table_print(t, stdout);
	else
		table_free(t);
}

static void print_sample(json_t *cur, json_t *prev, bool watching)
{
	double dt = (double)(jget(cur, "time_ms") - jget(prev, "time_ms")) / 1000;

	rates_add(cur, prev, "pods", dt);
	rates_add(cur, prev, "ports", dt);
	json_object_set_new(cur, "interval_ms", json_integer(jget(cur, "time_ms") -
							     jget(prev, "time_ms")));
	if (ctl_json_out && watching) {
		char *s = json_dumps(cur, JSON_COMPACT | JSON_PRESERVE_ORDER);

		if (s != NULL)
			puts(s);
		free(s);
	} else if (ctl_json_out) {
		ctl_print_json(cur);
	} else {
		time_t now = time(NULL);
		char when[16];

		strftime(when, sizeof(when), "%H:%M:%S", localtime(&now));
		printf("%s# %s, rates over %.2f s\n", watching ? "\n" : "", when, dt);
		print_tables(cur);
	}
	fflush(stdout);
}

static int usage_err(const char *what, const char *arg)
{
	if (what != NULL)
		fprintf(stderr, "shuntctl: stats: %s '%s'\n", what, arg);
	fprintf(stderr, "usage: shuntctl stats [--watch SECONDS [--count N]] "
		"[CONTAINER_ID IFNAME]\n");
	return 2;
}

int ctl_stats_cmd(int argc, char **argv)
{
	double watch = 0;
	long count = -1;
	const char *pos[2];
	int npos = 0;
	json_t *params, *prev, *cur;

	for (int i = 0; i < argc; i++) {
		char *end;

		if (strcmp(argv[i], "--watch") == 0 || strcmp(argv[i], "--count") == 0) {
			if (i + 1 >= argc)
				return usage_err("missing value after", argv[i]);
			if (argv[i][2] == 'w') {
				watch = strtod(argv[++i], &end);
				if (*end != '\0' || end == argv[i] || !(watch > 0) ||
				    watch > WATCH_MAX_S)
					return usage_err("--watch: expected seconds in "
							 "(0, 86400], not", argv[i]);
			} else {
				count = strtol(argv[++i], &end, 10);
				if (*end != '\0' || end == argv[i] || count < 1)
					return usage_err("--count: expected a number >= 1, "
							 "not", argv[i]);
			}
		} else if (argv[i][0] == '-') {
			return usage_err("unknown option", argv[i]);
		} else if (npos < 2) {
			pos[npos++] = argv[i];
		} else {
			return usage_err("unexpected argument", argv[i]);
		}
	}
	if (npos == 1)
		return usage_err("IFNAME missing after CONTAINER_ID", pos[0]);
	if (count > 0 && watch == 0) {
		fprintf(stderr, "shuntctl: stats: --count needs --watch\n");
		return usage_err(NULL, NULL);
	}
	params = npos ? json_pack("{s:s, s:s}", "container_id", pos[0],
				  "ifname", pos[1]) : NULL;
	prev = ctl_call(AGENT_M_STATS, json_incref(params));
	if (prev == NULL) {
		json_decref(params);
		return 1;
	}
	for (long n = 0; count < 0 || n < count; n++) {
		sleep_s(watch > 0 ? watch : 1.0);
		cur = ctl_call(AGENT_M_STATS, json_incref(params));
		if (cur == NULL) {
			json_decref(prev);
			json_decref(params);
			return 1;
		}
		print_sample(cur, prev, watch > 0);
		json_decref(prev);
		prev = cur;
		if (watch == 0)
			break;
	}
	json_decref(prev);
	json_decref(params);
	return 0;
}
