/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The Prometheus endpoint (metrics.h). libmicrohttpd does the HTTP; this
 * file only picks the address, plugs MHD's epoll fd into shuntd's poll
 * loop and writes the exposition text from stats_get() (stats.c), so the
 * figures are the same as `shuntctl stats`.
 *
 * Families: agent-level gauges, then per pod and per port counters, each
 * as shunt_{pod,port}_{rx,tx}_{packets,bytes}_total and
 * shunt_{pod,port}_drops_total{reason}. Counters restart at zero with the
 * data plane (Prometheus' rate() handles such resets).
 */
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <microhttpd.h>
#include "agent.h"
#include "log.h"
#include "metrics.h"

#define METRICS_MAX_CLIENTS 16
#define METRICS_CLIENT_TIMEOUT_S 10
#define METRICS_PATH "/metrics"
#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct metrics {
	struct agent *ag;
	struct MHD_Daemon *d;
	int epoll_fd;
	char addr[128];
};

/* One counter per (pod or port, field): the API field it reads. */
static const struct family {
	const char *name, *field, *help;
} families[] = {
	{ "rx_packets_total", "rx_pkts", "packets received from" },
	{ "rx_bytes_total", "rx_bytes", "bytes received from" },
	{ "tx_packets_total", "tx_pkts", "packets sent to" },
	{ "tx_bytes_total", "tx_bytes", "bytes sent to" },
	{ "neigh_replies_total", "neigh_replies", "ARP/ND answers the data plane sent to" },
};

/* Label values: backslash, double quote and newline escaped (the text
 * format's rule). ifname may hold the first two. */
static void put_label(FILE *f, const char *name, const char *v, bool first)
{
	fprintf(f, "%s%s=\"", first ? "" : ",", name);
	for (; v && *v; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', f);
		if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
	fputc('"', f);
}

static const char *jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

/* A pod's labels: container_id, ifname, network. A port's: port, kind,
 * and its owner's container_id and ifname ("" when unowned). */
static void put_labels(FILE *f, json_t *o, bool pod, const char *reason)
{
	fputc('{', f);
	if (pod) {
		put_label(f, "container_id", jstr(o, "container_id"), true);
		put_label(f, "ifname", jstr(o, "ifname"), false);
		put_label(f, "network", jstr(o, "network"), false);
	} else {
		put_label(f, "port", jstr(o, "name"), true);
		put_label(f, "kind", jstr(o, "kind"), false);
		put_label(f, "container_id", jstr(o, "container_id"), false);
		put_label(f, "ifname", jstr(o, "ifname"), false);
	}
	if (reason != NULL)
		put_label(f, "reason", reason, false);
	fputc('}', f);
}

static void put_entries(FILE *f, json_t *st, bool pod)
{
	const char *what = pod ? "pod" : "port", *key;
	json_t *arr = json_object_get(st, pod ? "pods" : "ports"), *o, *v;
	size_t i;

	for (size_t k = 0; k < sizeof(families) / sizeof(families[0]); k++) {
		const struct family *fa = &families[k];

		fprintf(f, "# HELP shunt_%s_%s Data plane %s the %s%s.\n", what,
			fa->name, fa->help, what, pod ? " (sum over its ports)" : "");
		fprintf(f, "# TYPE shunt_%s_%s counter\n", what, fa->name);
		json_array_foreach(arr, i, o) {
			fprintf(f, "shunt_%s_%s", what, fa->name);
			put_labels(f, o, pod, NULL);
			fprintf(f, " %lld\n", (long long)json_integer_value(
				json_object_get(o, fa->field)));
		}
	}
	fprintf(f, "# HELP shunt_%s_drops_total Packets from or to the %s that "
		"the data plane dropped, by reason.\n", what, what);
	fprintf(f, "# TYPE shunt_%s_drops_total counter\n", what);
	json_array_foreach(arr, i, o)
		json_object_foreach(json_object_get(o, "drops"), key, v) {
			fprintf(f, "shunt_%s_drops_total", what);
			put_labels(f, o, pod, key);
			fprintf(f, " %lld\n", (long long)json_integer_value(v));
		}
}

static void put_gauge(FILE *f, const char *name, const char *help,
		      const char *type, double v)
{
	fprintf(f, "# HELP shunt_%s %s\n# TYPE shunt_%s %s\nshunt_%s %.15g\n", name,
		help, name, type, name, v);
}

/* The data plane's workers: polling rounds and the time spent in rounds
 * that received frames (rate() of it is the worker's load, 1 = saturated). */
static void put_workers(FILE *f, json_t *ws)
{
	json_t *w;
	size_t i;

	if (json_array_size(ws) == 0)
		return;
	fprintf(f, "# HELP shunt_worker_rounds_total Polling rounds of a data plane "
		"worker.\n# TYPE shunt_worker_rounds_total counter\n");
	json_array_foreach(ws, i, w)
		fprintf(f, "shunt_worker_rounds_total{worker=\"%lld\"} %lld\n",
			(long long)json_integer_value(json_object_get(w, "worker")),
			(long long)json_integer_value(json_object_get(w, "rounds")));
	fprintf(f, "# HELP shunt_worker_busy_seconds_total Time a data plane worker "
		"spent in rounds that received frames.\n"
		"# TYPE shunt_worker_busy_seconds_total counter\n");
	json_array_foreach(ws, i, w) {
		double hz = (double)json_integer_value(json_object_get(w, "tsc_hz"));

		fprintf(f, "shunt_worker_busy_seconds_total{worker=\"%lld\"} %.9g\n",
			(long long)json_integer_value(json_object_get(w, "worker")),
			hz > 0 ? (double)json_integer_value(json_object_get(w,
				"busy_tsc")) / hz : 0.0);
	}
}

/* The data plane's verdict cache for flow-cacheable filters (from its
 * stats). */
static void put_cache(FILE *f, json_t *c)
{
	static const char *const what[][2] = {
		{ "hits", "Frames given a cached filter verdict." },
		{ "misses", "Frames whose filters ran and whose result was cached." },
		{ "uncached", "Frames of cacheable filters run uncached (not IP, "
			      "malformed, too many counter adds)." },
		{ "bypassed", "Frames run past the cache while their chain "
			      "thrashed it." },
	};

	for (size_t i = 0; json_is_object(c) && i < sizeof(what) / sizeof(what[0]); i++)
		fprintf(f, "# HELP shunt_filter_cache_%s_total %s\n"
			"# TYPE shunt_filter_cache_%s_total counter\n"
			"shunt_filter_cache_%s_total %lld\n", what[i][0],
			what[i][1], what[i][0], what[i][0],
			(long long)json_integer_value(json_object_get(c, what[i][0])));
}

/* The page, malloc'd, or NULL on no memory. */
static char *page_build(struct metrics *m, size_t *len)
{
	struct agent *ag = m->ag;
	struct jsonl_error e;
	unsigned int count[3] = { 0, 0, 0 };
	json_t *st = stats_get(ag, NULL, &e);
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);

	if (f == NULL) {
		json_decref(st);
		return NULL;
	}
	for (unsigned int i = 0; i < ag->st.n_atts; i++)
		count[ag->st.atts[i]->state]++;
	put_gauge(f, "dataplane_connected", "1 when shuntd is connected to the data "
		  "plane (per pod and port counters need it).", "gauge",
		  dp_client_connected(ag->dp));
	put_gauge(f, "dataplane_connects_total", "Connections made to the data "
		  "plane (a restart adds one).", "counter",
		  dp_client_connects(ag->dp));
	put_gauge(f, "reconcile_runs_total", "Reconciliations completed.", "counter",
		  ag->rec.runs);
	put_gauge(f, "reconcile_last_seconds", "Duration of the last "
		  "reconciliation.", "gauge", (double)ag->rec.last_ms / 1000);
	fprintf(f, "# HELP shunt_attachments Attachments in shuntd's state, by "
		"state.\n# TYPE shunt_attachments gauge\n");
	for (int s = 0; s < 3; s++)
		fprintf(f, "shunt_attachments{state=\"%s\"} %u\n",
			state_att_state_name((enum att_state)s), count[s]);
	if (st != NULL) {
		put_entries(f, st, true);
		put_entries(f, st, false);
		put_workers(f, json_object_get(st, "workers"));
		put_cache(f, json_object_get(st, "filter_cache"));
	}
	json_decref(st);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static enum MHD_Result respond(struct MHD_Connection *c, unsigned int status,
			       char *body, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body,
		MHD_RESPMEM_MUST_FREE);
	enum MHD_Result rc;

	if (r == NULL) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, CONTENT_TYPE);
	rc = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_len, void **req_cls)
{
	struct metrics *m = cls;
	char *body;
	size_t len;

	(void)version; (void)upload; (void)upload_len; (void)req_cls;
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
		body = strdup("only GET " METRICS_PATH "\n");
		return respond(c, MHD_HTTP_METHOD_NOT_ALLOWED, body, body ? strlen(body) : 0);
	}
	if (strcmp(url, METRICS_PATH) != 0) {
		int n = asprintf(&body, "no page %.200s: try " METRICS_PATH "\n", url);

		if (n < 0)
			return MHD_NO;
		return respond(c, MHD_HTTP_NOT_FOUND, body, (size_t)n);
	}
	body = page_build(m, &len);
	if (body == NULL)
		return MHD_NO;
	return respond(c, MHD_HTTP_OK, body, len);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	log_vmsg(LOG_LVL_DEBUG, fmt, ap);
}

/* "1.2.3.4:9464" or "[::1]:9464" into sa. */
static int addr_parse(const char *s, struct sockaddr_storage *sa, bool *v6)
{
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
				  .ai_socktype = SOCK_STREAM }, *ai;
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon = strrchr(s, ':');
	size_t hl;

	if (colon == NULL || colon[1] == '\0')
		return -EINVAL;
	hl = (size_t)(colon - s);
	if (s[0] == '[') {
		if (hl < 3 || s[hl - 1] != ']')
			return -EINVAL;
		s++;
		hl -= 2;
	}
	if (hl == 0 || hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
		return -EINVAL;
	memcpy(sa, ai->ai_addr, ai->ai_addrlen);
	*v6 = ai->ai_family == AF_INET6;
	freeaddrinfo(ai);
	return 0;
}

int metrics_open(struct agent *ag, const char *addr, struct metrics **out,
		 char *err, size_t errlen)
{
	struct sockaddr_storage sa = { 0 };
	const union MHD_DaemonInfo *info;
	struct metrics *m;
	bool v6 = false;

	if (addr_parse(addr, &sa, &v6) < 0) {
		snprintf(err, errlen, "--metrics '%s': expected a numeric IPv4:PORT "
			 "or [IPv6]:PORT, e.g. 127.0.0.1:9464", addr);
		return -EINVAL;
	}
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return -ENOMEM;
	m->ag = ag;
	snprintf(m->addr, sizeof(m->addr), "%s", addr);
	errno = 0;
	/* No MHD_USE_INTERNAL_POLLING_THREAD: MHD runs only inside
	 * MHD_run(), called from our loop. */
	m->d = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
				(v6 ? MHD_USE_IPv6 : 0), 0, NULL, NULL,
				on_request, m,
				MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned int)METRICS_MAX_CLIENTS,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)METRICS_CLIENT_TIMEOUT_S,
				MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				MHD_OPTION_END);
	if (m->d == NULL) {
		/* MHD does not say why; errno is what bind/listen left. */
		int rc = errno ? -errno : -EADDRNOTAVAIL;

		snprintf(err, errlen, "--metrics %s: cannot listen: %s", addr,
			 strerror(-rc));
		free(m);
		return rc;
	}
	info = MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_EPOLL_FD);
	m->epoll_fd = info ? info->epoll_fd : -1;
	if (m->epoll_fd < 0) {
		snprintf(err, errlen, "--metrics %s: libmicrohttpd has no epoll fd", addr);
		MHD_stop_daemon(m->d);
		free(m);
		return -ENOTSUP;
	}
	*out = m;
	return 0;
}

void metrics_close(struct metrics *m)
{
	if (m == NULL)
		return;
	MHD_stop_daemon(m->d);
	free(m);
}

int metrics_fds(struct metrics *m, struct pollfd *pfd, int max)
{
	if (m == NULL || max < 1)
		return 0;
	pfd[0] = (struct pollfd){ .fd = m->epoll_fd, .events = POLLIN };
	return 1;
}

int metrics_timeout_ms(struct metrics *m)
{
	MHD_UNSIGNED_LONG_LONG t;

	if (m == NULL || MHD_get_timeout(m->d, &t) != MHD_YES)
		return -1;
	return t > 1000 ? 1000 : (int)t;
}

void metrics_handle(struct metrics *m)
{
	if (m != NULL)
		MHD_run(m->d);
}
