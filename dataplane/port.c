/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The port table: add and remove ports at run time, and publish what each
 * worker polls. Every change builds new objects, publishes them, waits for
 * a grace period, then frees the old ones.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <rte_malloc.h>
#include "dp.h"
#include "log.h"

static const struct port_ops *const port_kinds[] = {
	&port_memif_ops, &port_veth_ops, &port_eth_ops, &port_ib_ops,
};

struct port *port_find(const char *name)
{
	for (int i = 0; i < DP_MAX_PORTS; i++)
		if (dp.ports[i] != NULL && strcmp(dp.ports[i]->args.name, name) == 0)
			return dp.ports[i];
	return NULL;
}

void port_counters_sum(const struct port *p, struct port_counters *sum)
{
	memset(sum, 0, sizeof(*sum));
	for (unsigned int w = 0; w < dp.n_workers; w++) {
		const struct port_counters *c = &dp.counters[w][p->id];

		sum->rx_pkts += c->rx_pkts;
		sum->rx_bytes += c->rx_bytes;
		sum->tx_pkts += c->tx_pkts;
		sum->tx_bytes += c->tx_bytes;
		sum->neigh_replies += c->neigh_replies;
		for (int r = 0; r < DROP_MAX; r++)
			sum->drops[r] += c->drops[r];
	}
}

/* Build and publish every worker's poll list from the port table. */
int port_publish_poll(void)
{
	struct poll_list *fresh[DP_MAX_WORKERS] = { 0 }, *old[DP_MAX_WORKERS];
	unsigned int w;

	for (w = 0; w < dp.n_workers; w++) {
		uint16_t n = 0;

		fresh[w] = rte_zmalloc("shunt_poll", sizeof(struct poll_list) +
			DP_MAX_PORTS * DP_MAX_QUEUES * sizeof(fresh[w]->e[0]),
			RTE_CACHE_LINE_SIZE);
		if (fresh[w] == NULL)
			goto nomem;
		for (int i = 0; i < DP_MAX_PORTS; i++) {
			struct port *p = dp.ports[i];

			if (p == NULL || p->worker != (int)w)
				continue;
			for (uint16_t q = 0; q < p->n_rxq; q++) {
				fresh[w]->e[n].port = p;
				fresh[w]->e[n].q = q;
				n++;
			}
		}
		fresh[w]->n = n;
	}
	for (w = 0; w < dp.n_workers; w++) {
		old[w] = dp.poll[w];
		__atomic_store_n(&dp.poll[w], fresh[w], __ATOMIC_RELEASE);
	}
	dp_sync();
	for (w = 0; w < dp.n_workers; w++)
		rte_free(old[w]);
	return 0;
nomem:
	for (w = 0; w < dp.n_workers; w++)
		rte_free(fresh[w]);
	return -ENOMEM;
}

/* The least loaded worker, by polled queues. */
static int port_pick_worker(void)
{
	unsigned int load[DP_MAX_WORKERS] = { 0 }, best = 0;

	for (int i = 0; i < DP_MAX_PORTS; i++)
		if (dp.ports[i] != NULL && dp.ports[i]->worker >= 0)
			load[dp.ports[i]->worker] += dp.ports[i]->n_rxq;
	for (unsigned int w = 1; w < dp.n_workers; w++)
		if (load[w] < load[best])
			best = w;
	return (int)best;
}

static const struct port_ops *port_kind(const char *kind)
{
	for (size_t i = 0; i < RTE_DIM(port_kinds); i++)
		if (strcmp(port_kinds[i]->kind, kind) == 0)
			return port_kinds[i];
	return NULL;
}

static void port_free(struct port *p)
{
	rte_free(p->pod);
	rte_free(p);
}

int port_add(const struct port_args *a, struct port **out, char *err,
	     size_t errlen)
{
	char pfx[INET6_ADDRSTRLEN + 8], addr[INET6_ADDRSTRLEN];
	struct port *p;
	int id, rc;

	if (port_find(a->name) != NULL) {
		snprintf(err, errlen, "port '%s' exists", a->name);
		return -EEXIST;
	}
	for (id = 0; id < DP_MAX_PORTS && dp.ports[id] != NULL; id++)
		;
	if (id == DP_MAX_PORTS) {
		snprintf(err, errlen, "port table full (%d ports)", DP_MAX_PORTS);
		return -ENOSPC;
	}
	p = rte_zmalloc("shunt_port", sizeof(*p), RTE_CACHE_LINE_SIZE);
	if (p == NULL) {
		snprintf(err, errlen, "no memory for port '%s'", a->name);
		return -ENOMEM;
	}
	p->ops = port_kind(a->kind);
	if (p->ops == NULL) {
		rte_free(p);
		snprintf(err, errlen, "unknown port kind '%s'", a->kind);
		return -EINVAL;
	}
	p->args = *a;
	p->id = (uint16_t)id;
	p->worker = -1;
	for (int q = 0; q < DP_MAX_QUEUES; q++)
		rte_spinlock_init(&p->txq_lock[q]);
	if (a->pod) {
		p->pod = rte_zmalloc("shunt_pod", sizeof(*p->pod), 0);
		if (p->pod == NULL) {
			rte_free(p);
			snprintf(err, errlen, "no memory for port '%s'", a->name);
			return -ENOMEM;
		}
		*p->pod = a->id;
	}
	rc = p->ops->open(p, err, errlen);
	if (rc < 0) {
		port_free(p);
		return rc;
	}
	p->tx_shared = p->n_txq < dp.n_workers;
	p->worker = port_pick_worker();
	/* Counters of a reused id start from where the last user left them. */
	port_counters_sum(p, &p->base);
	__atomic_store_n(&dp.ports[id], p, __ATOMIC_RELEASE);

	/* A pod's own addresses route to it. */
	for (unsigned int i = 0; a->pod && i < a->id.n4 + a->id.n6; i++) {
		bool v4 = i < a->id.n4;

		inet_ntop(v4 ? AF_INET : AF_INET6,
			  v4 ? (const void *)&a->id.ip4[i]
			     : (const void *)a->id.ip6[i - a->id.n4],
			  addr, sizeof(addr));
		snprintf(pfx, sizeof(pfx), "%s/%d", addr, v4 ? 32 : 128);
		rc = route_add(pfx, a->name, NULL, NULL, true, err, errlen);
		if (rc < 0)
			goto undo;
	}
	rc = port_publish_poll();
	if (rc < 0) {
		snprintf(err, errlen, "no memory for poll lists");
		goto undo;
	}
	log_info("port %s (%s, %s) added as %d, polled by worker %d",
		 a->name, a->kind, p->driver, id, p->worker);
	if (out != NULL)
		*out = p;
	return 0;
undo:
	port_del(a->name);
	return rc;
}

int port_del(const char *name)
{
	struct port *p = port_find(name);

	if (p == NULL)
		return -ENOENT;
	/* Unpublish: routes first (no new traffic to it), then polling. */
	route_del_port(p->id);
	neigh_del_port(p->id);
	p->worker = -1;
	port_publish_poll();
	__atomic_store_n(&dp.ports[p->id], NULL, __ATOMIC_RELEASE);
	dp_sync();
	filter_port_detach(p, 0);
	filter_port_detach(p, 1);
	p->ops->close(p);
	log_info("port %s removed", name);
	port_free(p);
	return 0;
}

void port_del_all(void)
{
	for (int i = 0; i < DP_MAX_PORTS; i++)
		if (dp.ports[i] != NULL)
			port_del(dp.ports[i]->args.name);
}

int port_set_worker(struct port *p, int worker)
{
	if (worker < 0 || (unsigned int)worker >= dp.n_workers)
		return -EINVAL;
	p->worker = worker;
	return port_publish_poll();
}

void port_to_json(struct port *p, json_t *o)
{
	char mac[32], addr[INET6_ADDRSTRLEN];

	rte_ether_format_addr(mac, sizeof(mac), &p->mac);
	json_object_set_new(o, "name", json_string(p->args.name));
	json_object_set_new(o, "id", json_integer(p->id));
	json_object_set_new(o, "kind", json_string(p->args.kind));
	json_object_set_new(o, "driver", json_string(p->driver));
	json_object_set_new(o, "mac", json_string(mac));
	json_object_set_new(o, "up", json_boolean(p->ops->is_up(p)));
	json_object_set_new(o, "worker", json_integer(p->worker));
	json_object_set_new(o, "lcore",
		json_integer(p->worker >= 0 ? (int)dp.worker_lcore[p->worker] : -1));
	if (p->pod != NULL) {
		json_t *ips = json_array();

		rte_ether_format_addr(mac, sizeof(mac), &p->pod->mac);
		json_object_set_new(o, "pod_mac", json_string(mac));
		for (unsigned int i = 0; i < p->pod->n4; i++)
			json_array_append_new(ips, json_string(inet_ntop(AF_INET,
				&p->pod->ip4[i], addr, sizeof(addr))));
		for (unsigned int i = 0; i < p->pod->n6; i++)
			json_array_append_new(ips, json_string(inet_ntop(AF_INET6,
				p->pod->ip6[i], addr, sizeof(addr))));
		json_object_set_new(o, "ips", ips);
	}
	if (p->ops->info != NULL)
		p->ops->info(p, o);
}
