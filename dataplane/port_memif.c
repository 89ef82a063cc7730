/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * "memif" pod ports: shunt's own memif server (memif_server.c) listening on
 * an abstract socket inside the pod's network namespace.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "dp.h"
#include "log.h"
#include "memif_server.h"

static int memif_open(struct port *p, char *err, size_t errlen)
{
	struct memif_server_config c = {
		.socket_name = p->args.socket,
		.netns_path = p->args.netns[0] ? p->args.netns : NULL,
		.secret = p->args.secret[0] ? p->args.secret : NULL,
		.if_name = p->args.name,
		.id = p->args.memif_id,
		.max_log2_ring = 14,
		.max_queues = p->args.queues ? p->args.queues : 1,
		.pool = dp.pool,
		.qsbr = dp.qsbr,
	};
	struct memif_server *s;
	int rc;

	if (c.max_queues > DP_MAX_QUEUES) {
		snprintf(err, errlen, "memif queues %u: at most %d", c.max_queues,
			 DP_MAX_QUEUES);
		return -EINVAL;
	}
	rc = memif_server_create(&c, &s);
	if (rc < 0) {
		snprintf(err, errlen, "memif socket '@%s'%s%s: %s", p->args.socket,
			 c.netns_path ? " in " : "", c.netns_path ? c.netns_path : "",
			 rc == -EADDRINUSE ? "name in use" : strerror(-rc));
		return rc;
	}
	p->priv = s;
	p->n_rxq = c.max_queues;
	p->n_txq = c.max_queues;
	if (p->args.has_mac) {
		p->mac = p->args.mac;
	} else {
		/* Locally administered, unique in this data plane. */
		uint32_t seq = ++dp.mac_seq;

		p->mac = (struct rte_ether_addr){ { 0x02, 0x5e, 0x00,
			(uint8_t)(seq >> 16), (uint8_t)(seq >> 8), (uint8_t)seq } };
	}
	snprintf(p->driver, sizeof(p->driver), "memif");
	return 0;
}

static void memif_close(struct port *p)
{
	memif_server_destroy(p->priv);
}

static uint16_t memif_rx(struct port *p, uint16_t q, struct rte_mbuf **pkts,
			 uint16_t n)
{
	return memif_server_rx_burst(p->priv, q, pkts, n);
}

static uint16_t memif_tx(struct port *p, uint16_t q, struct rte_mbuf **pkts,
			 uint16_t n)
{
	return memif_server_tx_burst(p->priv, q, pkts, n);
}

static int memif_ctl_fds(struct port *p, int *fds, int max)
{
	return memif_server_fds(p->priv, fds, max);
}

static void memif_ctl_handle(struct port *p, int fd)
{
	int rc = memif_server_handle(p->priv, fd);

	if (rc < 0)
		log_debug("port %s: memif connection closed: %s", p->args.name,
			  strerror(-rc));
}

static bool memif_is_up(struct port *p)
{
	return memif_server_connected(p->priv);
}

static void memif_info(struct port *p, json_t *o)
{
	struct memif_server_stats st;

	memif_server_stats_get(p->priv, &st);
	json_object_set_new(o, "socket", json_string(p->args.socket));
	json_object_set_new(o, "netns", json_string(p->args.netns));
	json_object_set_new(o, "memif_id", json_integer(p->args.memif_id));
	json_object_set_new(o, "memif", json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
		"connects", (json_int_t)st.connects,
		"disconnects", (json_int_t)st.disconnects,
		"refused", (json_int_t)st.refused,
		"bad_desc", (json_int_t)st.bad_desc,
		"rx_nombuf", (json_int_t)st.rx_nombuf,
		"tx_full", (json_int_t)st.tx_full,
		"tx_too_big", (json_int_t)st.tx_too_big));
}

const struct port_ops port_memif_ops = {
	.kind = "memif",
	.open = memif_open,
	.close = memif_close,
	.rx = memif_rx,
	.tx = memif_tx,
	.ctl_fds = memif_ctl_fds,
	.ctl_handle = memif_ctl_handle,
	.is_up = memif_is_up,
	.info = memif_info,
};
