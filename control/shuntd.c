/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * shuntd, the node agent: options, start-up (state, recovery, sockets) and
 * the one poll loop that serves the API, keeps the data plane connection
 * and runs reconciliation between requests.
 *
 *   shuntd [--socket PATH] [--group NAME] [--state-dir DIR]
 *          [--dataplane PATH] [--veth-mode MODE] [--log-level LEVEL]
 *          [--metrics ADDR:PORT]
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <shunt/agent_api.h>
#include <shunt/dp_api.h>
#include "agent.h"
#include "log.h"
#include "metrics.h"
#include "podnet.h"

#define MAX_PFD (AGENT_API_MAX_CLIENTS + 8)
#define DP_CALL_TIMEOUT_MS 10000

static struct agent ag;
static struct metrics *metrics;   /* NULL without --metrics */

uint64_t agent_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int agent_dp_error(int rc, int dp_code, const char *msg, const char *what,
		   struct jsonl_error *e)
{
	if (rc == -EREMOTEIO && dp_code == DP_E_PARAMS)
		jsonl_fail(e, AGENT_E_PARAMS, "%s: %s", what, msg);
	else if (rc == -EREMOTEIO && dp_code == DP_E_NOT_FOUND)
		jsonl_fail(e, AGENT_E_NOT_FOUND, "%s: %s", what, msg);
	else
		jsonl_fail(e, AGENT_E_DATAPLANE, "%s: %s", what, msg);
	return rc;
}

static bool peer_in_group(const struct jsonl_peer *p, gid_t g)
{
	if (p->gid == g)
		return true;
	for (int i = 0; i < p->ngroups; i++)
		if (p->groups[i] == g)
			return true;
	return false;
}

/* The socket's mode already keeps others out; this is the second lock,
 * and the one that says why. Root and the group may call everything. */
static int agent_peer_check(void *ctx, const struct jsonl_peer *p,
			    const struct jsonl_method *m, struct jsonl_error *e)
{
	struct agent *a = ctx;

	if (p->uid == 0 || peer_in_group(p, a->group))
		return 0;
	jsonl_fail(e, AGENT_E_PERM, "permission denied: %s %sneeds uid 0 or "
		   "group '%s' (caller uid %d gid %d)", m->name,
		   (m->flags & JSONL_MUTATES) ? "changes state and " : "",
		   a->group_name, (int)p->uid, (int)p->gid);
	return -EACCES;
}

static void agent_srv_log(void *ctx, enum jsonl_log_level lvl, const char *fmt,
			  va_list ap)
{
	(void)ctx;
	log_vmsg(lvl == JSONL_LOG_WARN ? LOG_LVL_WARN : LOG_LVL_DEBUG, fmt, ap);
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: shuntd [options]\n"
"  --socket PATH      API socket (default " AGENT_API_DEFAULT_SOCKET ")\n"
"  --group NAME       group that may use the API besides root (default root)\n"
"  --state-dir DIR    persisted state (default " AGENT_DEFAULT_STATE_DIR ")\n"
"  --dataplane PATH   data plane control socket (default " DP_API_DEFAULT_SOCKET ")\n"
"  --veth-mode MODE   data plane veth ports: auto, af_xdp, af_packet (default auto)\n"
"  --log-level LEVEL  error, warn, info, debug (default info)\n"
"  --metrics ADDR:PORT  serve Prometheus metrics on http://ADDR:PORT/metrics\n"
"                     (numeric, e.g. 127.0.0.1:9464 or [::1]:9464; off by default)\n"
"  -h, --help         this text\n");
}

/* The socket's directory (/run/shunt), if missing: traversable by all,
 * the socket's own mode decides. */
static int make_parent(const char *path)
{
	char dir[4096];

	snprintf(dir, sizeof(dir), "%s", path);
	if (mkdir(dirname(dir), 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static void loop(int sfd)
{
	static struct pollfd pfd[MAX_PFD];

	for (;;) {
		int n = 0, nsrv, ndp, nmx, timeout, rc, mt;

		pfd[n++] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		nsrv = jsonl_server_fds(ag.srv, pfd + n, MAX_PFD - n - 2);
		n += nsrv;
		ndp = dp_client_fds(ag.dp, pfd + n, MAX_PFD - n);
		n += ndp;
		nmx = metrics_fds(metrics, pfd + n, MAX_PFD - n);
		n += nmx;
		timeout = dp_client_timeout_ms(ag.dp);
		if (timeout < 0 || timeout > 1000)
			timeout = 1000;  /* idle connections are reaped on time */
		mt = metrics_timeout_ms(metrics);
		if (mt >= 0 && mt < timeout)
			timeout = mt;
		if (reconcile_busy(&ag))
			timeout = 0;
		rc = poll(pfd, (nfds_t)n, timeout);
		if (rc < 0 && errno != EINTR) {
			log_err("poll: %s", strerror(errno));
			return;
		}
		if (pfd[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				log_info("stopping (signal %u); pods keep running",
					 si.ssi_signo);
				return;
			}
		}
		jsonl_server_handle(ag.srv, pfd + 1, nsrv);
		if (dp_client_handle(ag.dp, pfd + 1 + nsrv, ndp) == 1 &&
		    reconcile_start(&ag) < 0)
			log_warn("reconcile: could not start; retried on the next "
				 "connection");
		/* Also without events: MHD's own timeouts are due. A scrape
		 * is served here, between API requests, from the live state. */
		if (metrics != NULL)
			metrics_handle(metrics);
		if (reconcile_busy(&ag))
			reconcile_step(&ag);
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "group", required_argument, NULL, 'g' },
		{ "state-dir", required_argument, NULL, 'd' },
		{ "dataplane", required_argument, NULL, 'p' },
		{ "veth-mode", required_argument, NULL, 'v' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "metrics", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sock = AGENT_API_DEFAULT_SOCKET, *dir = AGENT_DEFAULT_STATE_DIR;
	const char *dp_path = DP_API_DEFAULT_SOCKET, *group = "root";
	const char *metrics_addr = NULL;
	struct jsonl_server_config srv_cfg;
	enum log_level lvl;
	struct group *gr;
	char err[1024];
	sigset_t mask;
	int c, rc, sfd;

	snprintf(ag.veth_mode, sizeof(ag.veth_mode), "auto");
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's': sock = optarg; break;
		case 'g': group = optarg; break;
		case 'd': dir = optarg; break;
		case 'p': dp_path = optarg; break;
		case 'v':
			if (strcmp(optarg, "auto") && strcmp(optarg, "af_xdp") &&
			    strcmp(optarg, "af_packet")) {
				fprintf(stderr, "shuntd: --veth-mode '%s': expected "
					"auto, af_xdp or af_packet\n", optarg);
				return 2;
			}
			snprintf(ag.veth_mode, sizeof(ag.veth_mode), "%s", optarg);
			break;
		case 'l':
			if (log_level_parse(optarg, &lvl) < 0) {
				fprintf(stderr, "shuntd: --log-level '%s': expected "
					"error, warn, info or debug\n", optarg);
				return 2;
			}
			log_set_level(lvl);
			break;
		case 'm': metrics_addr = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	gr = getgrnam(group);
	if (gr == NULL) {
		log_err("--group %s: no such group", group);
		return 1;
	}
	ag.group = gr->gr_gid;
	snprintf(ag.group_name, sizeof(ag.group_name), "%s", group);
	ag.started_ms = agent_now_ms();
	signal(SIGPIPE, SIG_IGN);

	rc = state_open(dir, &ag.st, err, sizeof(err));
	if (rc < 0) {
		log_err("%s", err);
		return 1;
	}
	rc = podnet_init(err, sizeof(err));
	if (rc < 0) {
		log_err("netlink: %s", err);
		return 1;
	}
	/* Before serving anything: finish what a crash interrupted. */
	rc = attach_recover(&ag, err, sizeof(err));
	if (rc < 0) {
		log_err("recovery: %s", err);
		return 1;
	}
	log_info("state %s: %u network(s), %u attachment(s)%s", dir, ag.st.n_nets,
		 ag.st.n_atts, rc > 0 ? " after rolling back interrupted ones" : "");
	rc = dp_client_new(dp_path, DP_CALL_TIMEOUT_MS, &ag.dp);
	if (rc < 0) {
		log_err("data plane client: %s", strerror(-rc));
		return 1;
	}
	srv_cfg = (struct jsonl_server_config){
		.path = sock, .mode = 0660, .gid = ag.group,
		.max_request = AGENT_API_MAX_REQUEST,
		.max_clients = AGENT_API_MAX_CLIENTS,
		.idle_timeout_ms = AGENT_API_IDLE_TIMEOUT_MS,
		.max_output = 16u << 20, .limit_code = AGENT_E_LIMIT,
		.methods = agent_methods, .n_methods = agent_n_methods,
		.peer_check = agent_peer_check, .log = agent_srv_log, .ctx = &ag,
	};
	rc = make_parent(sock);
	if (rc == 0)
		rc = jsonl_server_open(&srv_cfg, &ag.srv);
	if (rc < 0) {
		log_err("API socket %s: %s", sock, rc == -EADDRINUSE ?
			"another shuntd is listening there" : strerror(-rc));
		return 1;
	}
	if (metrics_addr != NULL) {
		rc = metrics_open(&ag, metrics_addr, &metrics, err, sizeof(err));
		if (rc < 0) {
			log_err("%s", err);
			jsonl_server_close(ag.srv);
			return 1;
		}
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		log_err("signalfd: %s", strerror(errno));
		return 1;
	}
	log_info("ready: API %s (group %s), data plane %s, veth mode %s%s%s", sock,
		 group, dp_path, ag.veth_mode, metrics ? ", metrics http://" : "",
		 metrics ? metrics_addr : "");
	loop(sfd);
	metrics_close(metrics);
	jsonl_server_close(ag.srv);
	dp_client_free(ag.dp);
	podnet_fini();
	state_close(&ag.st);
	close(sfd);
	return 0;
}
