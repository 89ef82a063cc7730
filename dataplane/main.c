/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * shunt-dataplane: a DPDK primary process that forwards between pod ports
 * and the fabric uplink. The main lcore serves the control channel and is
 * the only writer of shared state; worker lcores forward (lcore.c).
 *
 *   shunt-dataplane [--ctl PATH] [--cores LIST] [...] [-- EAL-ARGS]
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>
#include <shunt/dp_api.h>
#include "dp.h"
#include "filter.h"
#include "log.h"

struct dp_state dp;
const char *const drop_reason_names[DROP_MAX] = {
#define X(id, name) [DROP_##id] = name,
	DROP_REASONS(X)
#undef X
};

static volatile sig_atomic_t stop_signal;

void dp_sync(void)
{
	rte_rcu_qsbr_synchronize(dp.qsbr, RTE_QSBR_THRID_INVALID);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void on_signal(int sig)
{
	stop_signal = sig;
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: shunt-dataplane [OPTIONS] [-- EAL-ARGS]\n"
"  --ctl PATH           control socket (default " DP_API_DEFAULT_SOCKET ")\n"
"  --cores LIST         CPUs: the first runs control, the others workers\n"
"                       (default: 0,1 on a machine with two CPUs or more)\n"
"  --burst N            packets per rx burst (default 32, at most %d)\n"
"  --idle-sleep-us N    sleep when idle this long (default 50; 0: busy-poll)\n"
"  --mbufs N            shared packet buffers (default 32767, ~70 MB;\n"
"                       AF_XDP ports have pools of their own)\n"
"  --no-filter-cache    run flow-cacheable filters on every frame (no\n"
"                       per-flow verdict cache; for comparisons)\n"
"  --log-level LEVEL    error, warn, info (default) or debug\n"
"  -h, --help\n"
"EAL-ARGS go to DPDK. Without hugepages the data plane runs with\n"
"--no-huge --no-shconf; with them, --in-memory (either unless given).\n",
		DP_MAX_BURST);
}

static bool has_arg(int argc, char **argv, const char *const *names)
{
	for (int i = 0; i < argc; i++)
		for (int k = 0; names[k]; k++)
			if (strncmp(argv[i], names[k], strlen(names[k])) == 0)
				return true;
	return false;
}

static long hugepages_free(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[128];
	long n = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "HugePages_Free: %ld", &n) == 1)
			break;
	fclose(f);
	return n;
}

/* Parse "0,1,3" into cpus[]; returns the count or -1. */
static int parse_cores(const char *s, unsigned int *cpus, int max)
{
	int n = 0;
	char *end;

	while (*s && n < max) {
		long v = strtol(s, &end, 10);

		if (end == s || v < 0 || v >= RTE_MAX_LCORE)
			return -1;
		cpus[n++] = (unsigned int)v;
		s = *end == ',' ? end + 1 : end;
		if (*end != ',' && *end != '\0')
			return -1;
	}
	return *s ? -1 : n;
}

static int eal_start(int argc, char **argv, const char *cores)
{
	static const char *const mem_opts[] = { "--no-huge", "--in-memory",
		"--file-prefix", "-m", "--socket-mem", NULL };
	static const char *const core_opts[] = { "-l", "-c", "--lcores", NULL };
	static const char *const log_opts[] = { "--log-level", NULL };
	unsigned int cpus[DP_MAX_WORKERS + 1];
	char lcores[256] = "", *eargv[64];
	int ncpu, eargc = 0, off = 0;

	ncpu = parse_cores(cores, cpus, DP_MAX_WORKERS + 1);
	if (ncpu < 1) {
		log_err("--cores '%s': expected a list of CPU numbers", cores);
		return -EINVAL;
	}
	if (ncpu == 1)  /* one CPU: control and one worker share it */
		cpus[ncpu++] = cpus[0];
	eargv[eargc++] = (char *)"shunt-dataplane";
	if (!has_arg(argc, argv, core_opts)) {
		for (int i = 0; i < ncpu; i++)
			off += snprintf(lcores + off, sizeof(lcores) - (size_t)off,
					"%s%d@%u", i ? "," : "", i, cpus[i]);
		eargv[eargc++] = (char *)"--lcores";
		eargv[eargc++] = lcores;
	}
	if (!has_arg(argc, argv, mem_opts)) {
		if (hugepages_free() > 0) {
			log_info("hugepages available: running --in-memory");
			eargv[eargc++] = (char *)"--in-memory";
		} else {
			log_info("no free hugepages: running --no-huge --no-shconf -m 2048");
			eargv[eargc++] = (char *)"--no-huge";
			eargv[eargc++] = (char *)"--no-shconf";
			eargv[eargc++] = (char *)"-m";
			eargv[eargc++] = (char *)"2048";
		}
	}
	if (!has_arg(argc, argv, log_opts))
		eargv[eargc++] = (char *)"--log-level=5";
	for (int i = 0; i < argc && eargc < (int)RTE_DIM(eargv) - 1; i++)
		eargv[eargc++] = argv[i];
	eargv[eargc] = NULL;
	if (rte_eal_init(eargc, eargv) < 0) {
		log_err("DPDK EAL init failed: %s", rte_strerror(rte_errno));
		return -rte_errno;
	}
	return 0;
}

static int dp_init(unsigned int nmbufs)
{
	char err[256];
	unsigned int lcore;
	size_t sz;
	int rc;

	RTE_LCORE_FOREACH_WORKER(lcore) {
		if (dp.n_workers == DP_MAX_WORKERS)
			break;
		dp.worker_lcore[dp.n_workers++] = lcore;
	}
	if (dp.n_workers == 0) {
		log_err("no worker lcore: give at least two lcores");
		return -EINVAL;
	}
	sz = rte_rcu_qsbr_get_memsize(dp.n_workers);
	dp.qsbr = rte_zmalloc("shunt_qsbr", sz, RTE_CACHE_LINE_SIZE);
	if (dp.qsbr == NULL || rte_rcu_qsbr_init(dp.qsbr, dp.n_workers) < 0)
		return -ENOMEM;
	dp.pool = rte_pktmbuf_pool_create("shunt_mbuf", nmbufs, 256, 0,
					  RTE_MBUF_DEFAULT_BUF_SIZE,
					  (int)rte_socket_id());
	if (dp.pool == NULL) {
		log_err("mbuf pool of %u: %s", nmbufs, rte_strerror(rte_errno));
		return -rte_errno;
	}
	for (unsigned int w = 0; w < dp.n_workers; w++) {
		dp.counters[w] = rte_zmalloc("shunt_counters",
			sizeof(struct port_counters) * DP_MAX_PORTS,
			RTE_CACHE_LINE_SIZE);
		if (dp.counters[w] == NULL)
			return -ENOMEM;
	}
	rc = route_init(err, sizeof(err));
	if (rc < 0) {
		log_err("%s", err);
		return rc;
	}
	rc = neigh_init();
	if (rc < 0)
		return rc;
	return port_publish_poll();
}

#define MAX_PFD (1 + DP_API_MAX_CLIENTS + DP_MAX_PORTS * 2)

static void control_loop(void)
{
	static struct pollfd pfd[MAX_PFD];
	static struct port *owner[MAX_PFD];
	uint64_t next_tick = 0;

	while (!stop_signal) {
		int nctl = ctl_fds(pfd, MAX_PFD), n = nctl, rc;

		for (int i = 0; i < DP_MAX_PORTS; i++) {
			struct port *p = dp.ports[i];
			int fds[4], k;

			if (p == NULL || p->ops->ctl_fds == NULL)
				continue;
			k = p->ops->ctl_fds(p, fds, (int)RTE_DIM(fds));
			for (int j = 0; j < k && n < MAX_PFD; j++) {
				owner[n] = p;
				pfd[n++] = (struct pollfd){ .fd = fds[j], .events = POLLIN };
			}
		}
		/* Short: punted ARP/ND frames wait for this loop. */
		rc = poll(pfd, (nfds_t)n, 20);
		neigh_poll();
		neigh_tick(now_ms());
		if (now_ms() >= next_tick) {
			port_ethdev_tick();
			next_tick = now_ms() + 1000;
		}
		/* Idle work waits for a whole quiet poll (20 ms), so that a
		 * request right after another (a CNI DEL after its ADD) does
		 * not queue behind it. */
		if (rc <= 0) {
			port_ethdev_idle();
			continue;
		}
		/* Port events first: a request below may delete the port. */
		for (int k = nctl; k < n; k++)
			if (pfd[k].revents)
				owner[k]->ops->ctl_handle(owner[k], pfd[k].fd);
		ctl_handle(pfd, nctl);
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ctl", required_argument, NULL, 'C' },
		{ "cores", required_argument, NULL, 'c' },
		{ "burst", required_argument, NULL, 'b' },
		{ "idle-sleep-us", required_argument, NULL, 'i' },
		{ "mbufs", required_argument, NULL, 'm' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "no-filter-cache", no_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *ctl_path = DP_API_DEFAULT_SOCKET, *cores = NULL;
	unsigned long nmbufs = 32767;
	struct sigaction sa = { .sa_handler = on_signal };
	char defcores[16];
	unsigned int lcore;
	int c, rc;

	dp.cfg = (struct dp_config){ .burst = 32, .idle_sleep_us = 50,
				     .rx_ring = 1024, .tx_ring = 1024 };
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		char *end;
		unsigned long v = 0;

		if (optarg != NULL) {
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || *end)
				v = ULONG_MAX;
		}
		switch (c) {
		case 'C': ctl_path = optarg; break;
		case 'c': cores = optarg; break;
		case 'b':
			if (v < 1 || v > DP_MAX_BURST) {
				log_err("--burst '%s': expected 1 to %d", optarg, DP_MAX_BURST);
				return 2;
			}
			dp.cfg.burst = (uint32_t)v;
			break;
		case 'i':
			if (v > 100000) {
				log_err("--idle-sleep-us '%s': expected 0 to 100000", optarg);
				return 2;
			}
			dp.cfg.idle_sleep_us = (uint32_t)v;
			break;
		case 'm':
			if (v < 1024 || v > (1u << 22)) {
				log_err("--mbufs '%s': expected 1024 to %u", optarg, 1u << 22);
				return 2;
			}
			nmbufs = v;
			break;
		case 'L':
			if (!strcmp(optarg, "error")) log_set_level(LOG_LVL_ERR);
			else if (!strcmp(optarg, "warn")) log_set_level(LOG_LVL_WARN);
			else if (!strcmp(optarg, "info")) log_set_level(LOG_LVL_INFO);
			else if (!strcmp(optarg, "debug")) log_set_level(LOG_LVL_DEBUG);
			else {
				log_err("--log-level '%s': expected error, warn, info or debug",
					optarg);
				return 2;
			}
			break;
		case 'F': filter_cache_enable(false); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (cores == NULL) {
		snprintf(defcores, sizeof(defcores), "%s",
			 sysconf(_SC_NPROCESSORS_ONLN) >= 2 ? "0,1" : "0");
		cores = defcores;
	}
	rc = eal_start(argc - optind, argv + optind, cores);
	if (rc < 0)
		return 1;
	rc = dp_init((unsigned int)nmbufs);
	if (rc < 0) {
		log_err("data plane init failed: %s", strerror(-rc));
		rte_eal_cleanup();
		return 1;
	}
	rc = ctl_open(ctl_path);
	if (rc < 0) {
		log_err("control socket %s: %s", ctl_path, strerror(-rc));
		rte_eal_cleanup();
		return 1;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	unsigned int w = 0;
	RTE_LCORE_FOREACH_WORKER(lcore) {
		if (w >= dp.n_workers)
			break;
		rte_eal_remote_launch(lcore_worker_main, (void *)(uintptr_t)w++, lcore);
	}
	log_info("ready: control socket %s, %u worker(s), burst %u, idle sleep %u us%s",
		 ctl_path, dp.n_workers, dp.cfg.burst, dp.cfg.idle_sleep_us,
		 filter_cache_enabled() ? "" : ", no filter cache");

	control_loop();

	log_info("stopping (signal %d)", (int)stop_signal);
	dp.quit = true;
	rte_eal_mp_wait_lcore();
	port_del_all();
	filter_cache_free();
	ctl_close();
	rte_eal_cleanup();
	return 0;
}
