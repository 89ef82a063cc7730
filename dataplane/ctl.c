/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control channel's transport: control/jsonl_server.c (shared with
 * shuntd) on a unix socket of mode 0600, with the limits of
 * include/shunt/dp_api.h. Peers must be root or the data plane's own uid.
 * Runs on the control thread only.
 */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>
#include <shunt/dp_api.h>
#include "jsonl_server.h"
#include "dp.h"
#include "log.h"

#define CTL_MAX_OUTPUT (16u << 20)

static struct jsonl_server *srv;

static int ctl_peer_check(void *ctx, const struct jsonl_peer *p,
			  const struct jsonl_method *m, struct jsonl_error *e)
{
	(void)ctx;
	(void)m;
	if (p->uid == 0 || p->uid == geteuid())
		return 0;
	jsonl_fail(e, DP_E_PERM, "permission denied: uid %d may not use the "
		   "data plane's control socket", (int)p->uid);
	return -EPERM;
}

static void ctl_log(void *ctx, enum jsonl_log_level lvl, const char *fmt,
		    va_list ap)
{
	char msg[512];

	(void)ctx;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (lvl == JSONL_LOG_WARN)
		log_warn("ctl: %s", msg);
	else
		log_debug("ctl: %s", msg);
}

int ctl_open(const char *path)
{
	size_t n;
	const struct jsonl_method *methods = ctl_methods(&n);
	struct jsonl_server_config cfg = {
		.path = path,
		.mode = 0600,
		.gid = (gid_t)-1,
		.max_request = DP_API_MAX_REQUEST,
		.max_clients = DP_API_MAX_CLIENTS,
		.idle_timeout_ms = DP_API_IDLE_TIMEOUT_MS,
		.max_output = CTL_MAX_OUTPUT,
		.limit_code = DP_E_LIMIT,
		.methods = methods,
		.n_methods = n,
		.peer_check = ctl_peer_check,
		.log = ctl_log,
	};
	static struct jsonl_server_config keep;  /* the server keeps a pointer */

	keep = cfg;
	return jsonl_server_open(&keep, &srv);
}

int ctl_fds(struct pollfd *pfd, int max)
{
	return srv != NULL ? jsonl_server_fds(srv, pfd, max) : 0;
}

void ctl_handle(struct pollfd *pfd, int n)
{
	if (srv != NULL)
		jsonl_server_handle(srv, pfd, n);
}

void ctl_close(void)
{
	if (srv != NULL)
		jsonl_server_close(srv);
	srv = NULL;
}
