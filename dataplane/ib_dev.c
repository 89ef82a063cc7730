/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ib uplinks: RDMA devices (opened once, with their receive pool and the
 * memory registrations every port of the device uses) and the devargs
 * syntax. Control path.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/timerfd.h>
#include <rte_errno.h>
#include <rte_mempool.h>
#include "ib_internal.h"
#include "log.h"

static struct ib_dev ib_devs[IB_MAX_DEVS];

static int ib_mr_add(struct ib_dev *d, void *addr, size_t len, char *err,
		     size_t errlen)
{
	struct ibv_mr *mr;

	if (d->n_mr == IB_MAX_MR) {
		snprintf(err, errlen, "%s: more than %d memory chunks to register",
			 d->name, IB_MAX_MR);
		return -ENOSPC;
	}
	mr = ibv_reg_mr(d->pd, addr, len, IBV_ACCESS_LOCAL_WRITE);
	if (mr == NULL) {
		int e = errno ? errno : ENOMEM;

		snprintf(err, errlen, "%s: ibv_reg_mr of %zu bytes: %s", d->name,
			 len, strerror(e));
		return -e;
	}
	d->mr[d->n_mr].start = (uintptr_t)addr;
	d->mr[d->n_mr].end = (uintptr_t)addr + len;
	d->mr[d->n_mr].lkey = mr->lkey;
	d->mr[d->n_mr].mr = mr;
	d->n_mr++;
	return 0;
}

struct ib_mr_walk {
	struct ib_dev *d;
	char *err;
	size_t errlen;
	int rc;
};

static void ib_mr_chunk(struct rte_mempool *mp, void *opaque,
			struct rte_mempool_memhdr *memhdr, unsigned int idx)
{
	struct ib_mr_walk *w = opaque;

	(void)mp; (void)idx;
	if (w->rc == 0)
		w->rc = ib_mr_add(w->d, memhdr->addr, memhdr->len, w->err, w->errlen);
}

static int ib_mr_pool(struct ib_dev *d, struct rte_mempool *mp, char *err,
		      size_t errlen)
{
	struct ib_mr_walk w = { d, err, errlen, 0 };

	rte_mempool_mem_iter(mp, ib_mr_chunk, &w);
	return w.rc;
}

static void ib_dev_release(struct ib_dev *d)
{
	for (unsigned int i = 0; i < d->n_mr; i++)
		ibv_dereg_mr(d->mr[i].mr);
	d->n_mr = 0;
	if (d->tfd > 0)
		close(d->tfd);
	d->tfd = -1;
	if (d->pd != NULL)
		ibv_dealloc_pd(d->pd);
	if (d->ctx != NULL)
		ibv_close_device(d->ctx);
	d->pd = NULL;
	d->ctx = NULL;
	/* The pool (if made) stays: mempools cannot be looked up again
	 * by a new device of the same name otherwise. */
}

/* Open device name once for the process. */
struct ib_dev *ib_dev_get(const char *name, char *err, size_t errlen)
{
	struct ibv_device **list;
	struct ib_dev *d = NULL;
	char pname[RTE_MEMPOOL_NAMESIZE];

	int n = 0, i, rc;

	for (i = 0; i < IB_MAX_DEVS; i++)
		if (ib_devs[i].ctx != NULL && strcmp(ib_devs[i].name, name) == 0)
			return &ib_devs[i];
	errno = 0;
	list = ibv_get_device_list(&n);
	if (list == NULL) {
		snprintf(err, errlen, "no RDMA devices: ibv_get_device_list: %s "
			 "(no RDMA support in this kernel, or rdma-core's providers "
			 "are missing)", strerror(errno ? errno : ENODEV));
		return NULL;
	}
	for (i = 0; i < n && strcmp(ibv_get_device_name(list[i]), name) != 0; i++)
		;
	if (i == n) {
		char names[256] = "";

		for (int k = 0; k < n; k++) {
			size_t l = strlen(names);

			snprintf(names + l, sizeof(names) - l, "%s%s", k ? ", " : "",
				 ibv_get_device_name(list[k]));
		}
		snprintf(err, errlen, "no RDMA device '%s' (have: %s)", name,
			 n ? names : "none");
		ibv_free_device_list(list);
		return NULL;
	}
	for (int k = 0; k < IB_MAX_DEVS && d == NULL; k++)
		if (ib_devs[k].ctx == NULL)
			d = &ib_devs[k];
	if (d == NULL) {
		snprintf(err, errlen, "more than %d RDMA devices in use", IB_MAX_DEVS);
		ibv_free_device_list(list);
		return NULL;
	}
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->ctx = ibv_open_device(list[i]);
	ibv_free_device_list(list);
	if (d->ctx == NULL) {
		snprintf(err, errlen, "ibv_open_device %s: %s", name,
			 strerror(errno ? errno : ENODEV));
		return NULL;
	}
	d->pd = ibv_alloc_pd(d->ctx);
	if (d->pd == NULL) {
		snprintf(err, errlen, "ibv_alloc_pd %s: %s", name,
			 strerror(errno ? errno : ENOMEM));
		goto fail;
	}
	d->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (d->tfd >= 0) {
		struct itimerspec its = { { 1, 0 }, { 1, 0 } };

		timerfd_settime(d->tfd, 0, &its, NULL);
	}
	snprintf(pname, sizeof(pname), "shunt_ib_%.16s", name);
	if (d->pool == NULL)
		d->pool = rte_mempool_lookup(pname);
	if (d->pool == NULL)
		d->pool = rte_pktmbuf_pool_create(pname, IB_POOL_MBUFS, 256, 0,
			RTE_PKTMBUF_HEADROOM + RTE_ETHER_HDR_LEN + 4096,
			(int)rte_socket_id());
	if (d->pool == NULL) {
		snprintf(err, errlen, "receive pool for %s: %s", name,
			 rte_strerror(rte_errno));
		goto fail;
	}
	rc = ib_mr_pool(d, d->pool, err, errlen);
	if (rc == 0)
		rc = ib_mr_pool(d, dp.pool, err, errlen);
	if (rc < 0)
		goto fail;
	log_info("ib: %s opened, %u memory region(s) registered", name, d->n_mr);
	return d;
fail:
	ib_dev_release(d);
	return NULL;
}

static int ib_num(const char *s, unsigned long max, unsigned long *v)
{
	char *end;

	errno = 0;
	*v = strtoul(s, &end, 0);
	return errno || end == s || *end || *s == '-' || *v > max ? -1 : 0;
}

static int ib_net_parse(const char *s, struct ib_nets *n)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash;
	unsigned long d;
	uint8_t a[16];

	snprintf(buf, sizeof(buf), "%s", s);
	slash = strchr(buf, '/');
	if (slash == NULL)
		return -1;
	*slash = '\0';
	if (inet_pton(AF_INET, buf, a) == 1) {
		uint32_t addr, mask;

		if (ib_num(slash + 1, 32, &d) < 0 || n->n4 == IB_MAX_NETS)
			return -1;
		memcpy(&addr, a, 4);
		addr = ntohl(addr);
		mask = d == 0 ? 0 : ~0u << (32 - d);
		if (addr & ~mask)
			return -1;
		n->v4[n->n4].addr = addr;
		n->v4[n->n4++].mask = mask;
		return 0;
	}
	if (inet_pton(AF_INET6, buf, a) != 1 || ib_num(slash + 1, 128, &d) < 0 ||
	    n->n6 == IB_MAX_NETS)
		return -1;
	for (unsigned long bit = d; bit < 128; bit++)
		if (a[bit / 8] & (0x80 >> (bit % 8)))
			return -1;
	memcpy(n->v6[n->n6].addr, a, 16);
	n->v6[n->n6++].depth = (uint8_t)d;
	return 0;
}

/* "DEVICE:PORT[,gid_index=N][,pkey=P][,qkey=Q][,net=PREFIX]..." */
int ib_conf_parse(const char *s, struct ib_conf *c, char *err,
			 size_t errlen)
{
	char buf[512], opt[128] = "", *tok, *save = NULL, *colon;
	unsigned long v;

	*c = (struct ib_conf){ .port = 1, .gid_index = -1, .pkey = 0xffff };
	snprintf(buf, sizeof(buf), "%s", s);
	tok = strtok_r(buf, ",", &save);
	if (tok == NULL)
		goto bad;
	colon = strchr(tok, ':');
	if (colon != NULL) {
		*colon = '\0';
		if (ib_num(colon + 1, 255, &v) < 0 || v == 0)
			goto bad;
		c->port = (unsigned int)v;
	}
	if (*tok == '\0' || strlen(tok) >= sizeof(c->dev))
		goto bad;
	snprintf(c->dev, sizeof(c->dev), "%s", tok);
	while ((tok = strtok_r(NULL, ",", &save)) != NULL) {
		char *eq = strchr(tok, '=');

		snprintf(opt, sizeof(opt), "%s", tok);
		if (eq == NULL)
			goto badopt;
		*eq++ = '\0';
		if (strcmp(tok, "gid_index") == 0 && ib_num(eq, 255, &v) == 0)
			c->gid_index = (int)v;
		else if (strcmp(tok, "pkey") == 0 && ib_num(eq, 0xffff, &v) == 0 &&
			 (v & 0x7fff) != 0)
			c->pkey = (uint32_t)v;
		else if (strcmp(tok, "qkey") == 0 && ib_num(eq, 0x7fffffff, &v) == 0) {
			c->qkey = (uint32_t)v;
			c->has_qkey = true;
		} else if (strcmp(tok, "net") == 0) {
			if (ib_net_parse(eq, &c->nets) < 0) {
				snprintf(err, errlen, "devargs '%s': net '%s' is not "
					 "ADDRESS/LENGTH with zero host bits (at most %d "
					 "per family)", s, eq, IB_MAX_NETS);
				return -EINVAL;
			}
		} else {
			goto badopt;
		}
	}
	if (!c->has_qkey)
		c->qkey = IB_DEF_QKEY | (c->pkey & 0x7fff);
	return 0;
badopt:
	snprintf(err, errlen, "devargs '%s': bad option '%s' (gid_index=0..255, "
		 "pkey=1..0xffff but not 0x8000, qkey=0..0x7fffffff: the high bit "
		 "marks controlled Q_Keys)", s, opt);
	return -EINVAL;
bad:
	snprintf(err, errlen, "devargs '%s': expected DEVICE:PORT[,gid_index=N]"
		 "[,pkey=P][,qkey=Q][,net=PREFIX]..., e.g. mlx5_0:1 or "
		 "rxe0:1,gid_index=1", s);
	return -EINVAL;
}

