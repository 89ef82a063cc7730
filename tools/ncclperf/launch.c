/* SPDX-License-Identifier: BSD-3-Clause */
/* Local launcher: one rank per --pod, each started inside its network
 * namespace (setns, then exec of this binary with --rank/--nranks/--root),
 * or --np ranks in the launcher's own namespace on 127.0.0.1. Only rank
 * 0's stdout is kept. The ranks die with the launcher (PDEATHSIG), a
 * signal to the launcher is passed to them, and once one rank fails the
 * others get a grace period to report before they are killed. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ncclperf.h"

#define LAUNCH_GRACE_MS 15000

static volatile sig_atomic_t launch_signal;

static void launch_on_signal(int sig)
{
	launch_signal = sig;
}

/* The pod spec's netns value (malloc'd), or NULL. */
static char *pod_netns(const char *spec)
{
	const char *p = strstr(spec, "netns=");
	size_t n;

	if (!p || (p != spec && p[-1] != ','))
		return NULL;
	p += 6;
	n = strcspn(p, ",");
	return n ? strndup(p, n) : NULL;
}

static int netns_enter(const char *name)
{
	char path[300];
	int fd, rc = 0;

	snprintf(path, sizeof(path), strchr(name, '/') ? "%s" : "/run/netns/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (setns(fd, CLONE_NEWNET) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

/* In the current netns: a global IPv4 address (not loopback nor
 * link-local; loopback when that is all there is) and a free port on it. */
static int free_root_addr(char *out, size_t len, int want_global)
{
	struct ifaddrs *ifa, *i;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	char host[INET_ADDRSTRLEN];
	int fd, found = 0;

	if (want_global && getifaddrs(&ifa) == 0) {
		for (i = ifa; i && !found; i = i->ifa_next) {
			struct sockaddr_in *in = (void *)i->ifa_addr;
			uint32_t a;

			if (!in || in->sin_family != AF_INET)
				continue;
			a = ntohl(in->sin_addr.s_addr);
			if ((a >> 24) == 127 || (a >> 16) == 0xa9fe)
				continue;
			sa.sin_addr = in->sin_addr;
			found = 1;
		}
		freeifaddrs(ifa);
		if (!found)
			return -EADDRNOTAVAIL;
	}
	/* bind port 0 to learn a free port; rank 0 binds it again with
	 * SO_REUSEADDR a moment later */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
		int rc = -errno;

		if (fd >= 0)
			close(fd);
		return rc;
	}
	close(fd);
	inet_ntop(AF_INET, &sa.sin_addr, host, sizeof(host));
	snprintf(out, len, "%s:%u", host, ntohs(sa.sin_port));
	return 0;
}

/* Finds the root address inside netns ns (a short-lived child, so the
 * launcher itself stays where it is). */
static int root_addr_in(const char *ns, char *out, size_t len)
{
	int p[2], st;
	pid_t pid;
	ssize_t n;

	if (pipe(p) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		char buf[80] = "";
		int rc = ns ? netns_enter(ns) : 0;

		close(p[0]);
		if (rc == 0)
			rc = free_root_addr(buf, sizeof(buf), ns != NULL);
		if (rc < 0)
			snprintf(buf, sizeof(buf), "!%s", strerror(-rc));
		(void)!write(p[1], buf, strlen(buf));
		_exit(0);
	}
	close(p[1]);
	n = read(p[0], out, len - 1);
	close(p[0]);
	waitpid(pid, &st, 0);
	if (n <= 0)
		return -EIO;
	out[n] = '\0';
	if (out[0] == '!') {
		fprintf(stderr, "ncclperf: no address for the root in netns %s: %s "
		        "(give --root ADDR:PORT)\n", ns ? ns : "(own)", out + 1);
		return -EADDRNOTAVAIL;
	}
	return 0;
}

/* argv of rank r: ours without --pod/--np, plus the rank's identity and
 * the pod's transport options. Strings leak into the exec'd child only. */
static char **rank_argv(int argc, char **argv, int r, int n, const char *root,
                        const char *ns, const char *spec)
{
	char **a = calloc((size_t)argc + 16 + 2 * XPORT_OPTS_MAX, sizeof(char *));
	char buf[32], *sp, *tok, *save;
	int k = 0;

	if (!a)
		return NULL;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--pod") == 0 || strcmp(argv[i], "--np") == 0) {
			i++;
			continue;
		}
		if (strncmp(argv[i], "--pod=", 6) == 0 || strncmp(argv[i], "--np=", 5) == 0)
			continue;
		a[k++] = argv[i];
	}
	snprintf(buf, sizeof(buf), "%d", r);
	a[k++] = "--rank";
	a[k++] = strdup(buf);
	snprintf(buf, sizeof(buf), "%d", n);
	a[k++] = "--nranks";
	a[k++] = strdup(buf);
	a[k++] = "--root";
	a[k++] = (char *)root;
	if (ns) {
		a[k++] = "--netns-name";
		a[k++] = (char *)ns;
	}
	sp = spec ? strdup(spec) : NULL;
	for (tok = sp ? strtok_r(sp, ",", &save) : NULL; tok && k < argc + 14 + 2 * XPORT_OPTS_MAX;
	     tok = strtok_r(NULL, ",", &save)) {
		if (strncmp(tok, "netns=", 6) == 0)
			continue;
		a[k++] = "--xport-opt";
		a[k++] = tok;
	}
	return a;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void kill_all(const pid_t *pid, int n, int sig)
{
	for (int r = 0; r < n; r++)
		if (pid[r] > 0)
			kill(pid[r], sig);
}

int launch_run(const struct np_opts *o, int argc, char **argv)
{
	int n = o->npods ? (int)o->npods : o->np, left, failed = 0, worst = 0;
	pid_t self = getpid(), *pid = calloc((size_t)n, sizeof(pid_t));
	char **ns = calloc((size_t)n, sizeof(char *)), root[96];
	struct sigaction sa = { .sa_handler = launch_on_signal };
	int64_t fail_at = -1;

	if (!pid || !ns)
		return 2;
	for (int r = 0; r < (int)o->npods; r++)
		if (!(ns[r] = pod_netns(o->pods[r]))) {
			fprintf(stderr, "ncclperf: --pod '%s' has no netns=NAME\n", o->pods[r]);
			return 2;
		}
	if (o->root >= n) {
		fprintf(stderr, "ncclperf: root rank %d is not below the %d ranks\n", o->root, n);
		return 2;
	}
	if (o->root_addr)
		snprintf(root, sizeof(root), "%s", o->root_addr);
	else if (root_addr_in(ns[0], root, sizeof(root)) < 0)
		return 2;

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	fflush(NULL);
	for (int r = 0; r < n; r++) {
		char **a = rank_argv(argc, argv, r, n, root, ns[r], o->npods ? o->pods[r] : NULL);

		if (!a || (pid[r] = fork()) < 0) {
			fprintf(stderr, "ncclperf: cannot start rank %d: %s\n", r, strerror(errno));
			kill_all(pid, r, SIGKILL);
			return 2;
		}
		if (pid[r] == 0) {
			int rc;

			/* the rank dies with the launcher, even by SIGKILL */
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != self)
				_exit(2);
			if (ns[r] && (rc = netns_enter(ns[r])) < 0) {
				fprintf(stderr, "ncclperf: rank %d: cannot enter netns %s: %s\n",
				        r, ns[r], strerror(-rc));
				_exit(2);
			}
			if (r != 0) {
				int fd = open("/dev/null", O_WRONLY);

				if (fd >= 0)
					dup2(fd, STDOUT_FILENO);
			}
			execv("/proc/self/exe", a);
			fprintf(stderr, "ncclperf: rank %d: exec: %s\n", r, strerror(errno));
			_exit(2);
		}
		free(a);
	}

	for (left = n; left > 0;) {
		int st;
		pid_t p = waitpid(-1, &st, WNOHANG);

		if (p > 0) {
			int r, code;

			for (r = 0; r < n && pid[r] != p; r++)
				;
			if (r == n)
				continue;
			pid[r] = 0;
			left--;
			code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
			if (code) {
				if (WIFSIGNALED(st))
					fprintf(stderr, "ncclperf: rank %d (pid %d) was killed by signal %d\n",
					        r, (int)p, WTERMSIG(st));
				else if (code != 1)
					fprintf(stderr, "ncclperf: rank %d (pid %d) failed (exit %d)\n",
					        r, (int)p, code);
				failed++;
				worst = code > worst ? code : worst;
				if (fail_at < 0)
					fail_at = now_ms();
			}
			continue;
		}
		if (launch_signal) {
			kill_all(pid, n, launch_signal == SIGINT ? SIGINT : SIGTERM);
			launch_signal = 0;
			if (fail_at < 0)
				fail_at = now_ms();
			failed++;
		}
		if (fail_at >= 0 && now_ms() - fail_at > LAUNCH_GRACE_MS) {
			fprintf(stderr, "ncclperf: killing the %d rank(s) still running %d s after a failure\n",
			        left, LAUNCH_GRACE_MS / 1000);
			kill_all(pid, n, SIGKILL);
			fail_at = now_ms();
		}
		usleep(20 * 1000);
	}
	for (int r = 0; r < n; r++)
		free(ns[r]);
	free(ns);
	free(pid);
	if (!failed)
		return 0;
	/* wrong results (1) only when nothing worse happened */
	return worst == 1 ? 1 : 2;
}
