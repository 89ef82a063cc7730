/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Ports backed by a DPDK ethdev: "veth" pod ports (the host end of a veth
 * through net_af_xdp, else net_af_packet) and "eth" uplinks (any device
 * given by devargs).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <net/if.h>
#include <arpa/inet.h>
#include <rte_bus_vdev.h>
#include <rte_dev.h>
#include <rte_ethdev.h>
#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include "dp.h"
#include "log.h"

static int ethdev_setup(struct port *p, uint16_t nq, char *err, size_t errlen)
{
	struct rte_eth_conf conf = { 0 };
	struct rte_eth_dev_info info;
	uint16_t port = p->eth_port, nrx, ntx;
	uint16_t nb_rxd = (uint16_t)dp.cfg.rx_ring, nb_txd = (uint16_t)dp.cfg.tx_ring;
	int rc;

	rc = rte_eth_dev_info_get(port, &info);
	if (rc < 0)
		goto fail;
	nrx = RTE_MIN(nq, info.max_rx_queues);
	ntx = (uint16_t)(dp.n_workers < DP_MAX_QUEUES ? dp.n_workers : DP_MAX_QUEUES);
	ntx = RTE_MIN(ntx, info.max_tx_queues);
	if (nrx == 0 || ntx == 0) {
		rc = -ENOTSUP;
		goto fail;
	}
	rc = rte_eth_dev_configure(port, nrx, ntx, &conf);
	if (rc < 0)
		goto fail;
	rc = rte_eth_dev_adjust_nb_rx_tx_desc(port, &nb_rxd, &nb_txd);
	if (rc < 0)
		goto fail;
	for (uint16_t q = 0; q < nrx; q++) {
		rc = rte_eth_rx_queue_setup(port, q, nb_rxd,
			rte_eth_dev_socket_id(port), NULL,
			p->pool != NULL ? p->pool : dp.pool);
		if (rc < 0)
			goto fail;
	}
	for (uint16_t q = 0; q < ntx; q++) {
		rc = rte_eth_tx_queue_setup(port, q, nb_txd,
			rte_eth_dev_socket_id(port), NULL);
		if (rc < 0)
			goto fail;
	}
	rc = rte_eth_dev_start(port);
	if (rc < 0)
		goto fail;
	/* Pods and peers address frames to our MAC; promiscuous mode is
	 * only a courtesy for drivers that filter before us. */
	rte_eth_promiscuous_enable(port);
	rte_eth_macaddr_get(port, &p->mac);
	p->n_rxq = nrx;
	p->n_txq = ntx;
	return 0;
fail:
	snprintf(err, errlen, "setting up %s: %s", p->devname, rte_strerror(-rc));
	return rc;
}

/* Every veth or eth port is one ethdev; Debian's DPDK has 32 of them. */
static int ethdev_slot_check(char *err, size_t errlen)
{
	if (rte_eth_dev_count_total() < RTE_MAX_ETHPORTS)
		return 0;
	snprintf(err, errlen, "no ethdev left: this DPDK build has %d "
		 "(RTE_MAX_ETHPORTS); use memif pod ports beyond that",
		 RTE_MAX_ETHPORTS);
	return -ENOSPC;
}

/*
 * An AF_XDP port receives into its own pool: the PMD registers the pool's
 * memory as the socket's UMEM and fills its rings from it up front, so a
 * small pool per port registers fast (the shared pool is hundreds of MB)
 * and one port can never starve the others.
 */
static unsigned int xdp_pool_size(void)
{
	return 2 * dp.cfg.rx_ring + dp.cfg.tx_ring + 2048;
}

static struct rte_mempool *xdp_pool_make(void)
{
	static unsigned int seq;
	char name[RTE_MEMPOOL_NAMESIZE];

	snprintf(name, sizeof(name), "shunt_xdp%u", ++seq);
	return rte_pktmbuf_pool_create(name, xdp_pool_size(), 128, 0,
				       RTE_MBUF_DEFAULT_BUF_SIZE,
				       (int)rte_socket_id());
}

/*
 * One pool made ahead of time: allocating and touching a pool took about
 * 16 ms of every AF_XDP port.add (half of it). Once a node has used
 * AF_XDP, the control loop keeps a spare ready, made when it has nothing
 * else to do (port_ethdev_idle), for ~12 MB of memory.
 */
static struct rte_mempool *xdp_spare;
static bool xdp_used;

static int xdp_pool_create(struct port *p, char *err, size_t errlen)
{
	xdp_used = true;
	if (xdp_spare != NULL && xdp_spare->size == xdp_pool_size()) {
		p->pool = xdp_spare;
		xdp_spare = NULL;
		return 0;
	}
	p->pool = xdp_pool_make();
	if (p->pool == NULL) {
		snprintf(err, errlen, "AF_XDP pool of %u mbufs: %s", xdp_pool_size(),
			 rte_strerror(rte_errno));
		return -ENOMEM;
	}
	return 0;
}

bool port_ethdev_idle_pending(void)
{
	return xdp_used && (xdp_spare == NULL || xdp_spare->size != xdp_pool_size());
}

void port_ethdev_idle(void)
{
	if (!port_ethdev_idle_pending())
		return;
	/* Ring sizes changed since it was made: it would not fit. */
	if (xdp_spare != NULL)
		rte_mempool_free(xdp_spare);
	xdp_spare = xdp_pool_make();
	if (xdp_spare == NULL) {
		/* Tried again after the next AF_XDP port.add, not every loop. */
		log_debug("spare AF_XDP pool: %s", rte_strerror(rte_errno));
		xdp_used = false;
	}
}

/*
 * Closed AF_XDP ports' pools wait here before they are freed. DPDK 22.11's
 * af_xdp PMD never returns the buffers it gave its fill ring (2048 seen on
 * every close), so a pool is never "full" again; freeing it whole is what
 * gets them back. Buffers the port received may still sit in another
 * device's tx ring for a moment, so a pool is freed only once its in-use
 * count has not moved for XDP_POOL_QUIET_S seconds.
 */
#define XDP_POOL_GRAVE 64
#define XDP_POOL_QUIET_S 3

static struct {
	struct rte_mempool *pool;
	unsigned int in_use;
	unsigned int quiet;     /* seconds without change */
} grave[XDP_POOL_GRAVE];

static void xdp_pool_free(struct port *p)
{
	int i;

	if (p->pool == NULL)
		return;
	for (i = 0; i < XDP_POOL_GRAVE && grave[i].pool != NULL; i++)
		;
	if (i == XDP_POOL_GRAVE) {
		log_warn("port %s: too many AF_XDP pools waiting to be freed; "
			 "this one is kept", p->args.name);
	} else {
		grave[i].pool = p->pool;
		grave[i].in_use = rte_mempool_in_use_count(p->pool);
		grave[i].quiet = 0;
	}
	p->pool = NULL;
}

void port_ethdev_tick(void)
{
	for (int i = 0; i < XDP_POOL_GRAVE; i++) {
		unsigned int n;

		if (grave[i].pool == NULL)
			continue;
		n = rte_mempool_in_use_count(grave[i].pool);
		if (n != grave[i].in_use) {
			grave[i].in_use = n;
			grave[i].quiet = 0;
			continue;
		}
		if (n != 0 && ++grave[i].quiet < XDP_POOL_QUIET_S)
			continue;
		log_debug("freeing AF_XDP pool %s (%u buffers the PMD kept)",
			  grave[i].pool->name, n);
		rte_mempool_free(grave[i].pool);
		grave[i].pool = NULL;
	}
}

static int vdev_open(struct port *p, const char *drv, const char *args,
		     uint16_t nq, char *err, size_t errlen)
{
	int rc;

	snprintf(p->devname, sizeof(p->devname), "%s_%s", drv, p->args.name);
	if (strcmp(drv, "net_af_xdp") == 0) {
		rc = xdp_pool_create(p, err, errlen);
		if (rc < 0)
			return rc;
	}
	rc = rte_vdev_init(p->devname, args);
	if (rc < 0) {
		snprintf(err, errlen, "%s on %s: %s", drv, p->args.ifname,
			 rte_strerror(-rc));
		xdp_pool_free(p);
		return rc;
	}
	rc = rte_eth_dev_get_port_by_name(p->devname, &p->eth_port);
	if (rc == 0)
		rc = ethdev_setup(p, nq, err, errlen);
	if (rc < 0) {
		rte_eth_dev_close(p->eth_port);
		rte_vdev_uninit(p->devname);
		xdp_pool_free(p);
		return rc;
	}
	snprintf(p->driver, sizeof(p->driver), "%s", drv + 4);
	return 0;
}

static int veth_open(struct port *p, char *err, size_t errlen)
{
	const char *mode = p->args.veth_mode[0] ? p->args.veth_mode : "auto";
	char args[128];
	uint16_t nq;
	int rc = -EINVAL;

	if (strcmp(mode, "auto") != 0 && strcmp(mode, "af_xdp") != 0 &&
	    strcmp(mode, "af_packet") != 0) {
		snprintf(err, errlen, "veth mode '%s': expected auto, af_xdp or af_packet",
			 mode);
		return -EINVAL;
	}
	if (if_nametoindex(p->args.ifname) == 0) {
		snprintf(err, errlen, "no interface '%s'", p->args.ifname);
		return -ENODEV;
	}
	rc = ethdev_slot_check(err, errlen);
	if (rc < 0)
		return rc;
	if (strcmp(mode, "af_packet") != 0) {
		snprintf(args, sizeof(args), "iface=%s,start_queue=0,queue_count=1",
			 p->args.ifname);
		rc = vdev_open(p, "net_af_xdp", args, 1, err, errlen);
		if (rc == 0 || strcmp(mode, "af_xdp") == 0)
			return rc;
		log_warn("port %s: AF_XDP unavailable (%s); using AF_PACKET",
			 p->args.name, err);
	}
	/* One queue pair per worker: every worker may transmit to a pod. The
	 * kernel fans received frames out over all of them (PACKET_FANOUT),
	 * so all are polled. */
	nq = (uint16_t)(dp.n_workers < DP_MAX_QUEUES ? dp.n_workers : DP_MAX_QUEUES);
	snprintf(args, sizeof(args), "iface=%s,qpairs=%u", p->args.ifname, nq);
	return vdev_open(p, "net_af_packet", args, nq, err, errlen);
}

static void ethdev_stop(struct port *p)
{
	rte_eth_dev_stop(p->eth_port);
	rte_eth_dev_close(p->eth_port);
}

static void veth_close(struct port *p)
{
	ethdev_stop(p);
	rte_vdev_uninit(p->devname);
	xdp_pool_free(p);
}

static struct rte_device *eth_device(uint16_t port)
{
	struct rte_eth_dev_info info;

	return rte_eth_dev_info_get(port, &info) == 0 ? info.device : NULL;
}

static int eth_open(struct port *p, char *err, size_t errlen)
{
	const char *da = p->args.devargs;
	size_t n = strcspn(da, ",");
	int rc;

	if (n == 0 || n >= sizeof(p->devname)) {
		snprintf(err, errlen, "devargs '%s': no device name", da);
		return -EINVAL;
	}
	memcpy(p->devname, da, n);
	p->devname[n] = '\0';
	rc = ethdev_slot_check(err, errlen);
	if (rc < 0)
		return rc;
	rc = rte_dev_probe(da);
	if (rc < 0) {
		snprintf(err, errlen, "probing '%s': %s", da, rte_strerror(-rc));
		return rc;
	}
	rc = rte_eth_dev_get_port_by_name(p->devname, &p->eth_port);
	if (rc < 0) {
		snprintf(err, errlen, "'%s' is not an ethernet device", p->devname);
		return rc;
	}
	rc = ethdev_setup(p, 1, err, errlen);
	if (rc < 0) {
		struct rte_device *dev = eth_device(p->eth_port);

		rte_eth_dev_close(p->eth_port);
		if (dev != NULL)
			rte_dev_remove(dev);
		return rc;
	}
	struct rte_eth_dev_info info;
	if (rte_eth_dev_info_get(p->eth_port, &info) == 0)
		snprintf(p->driver, sizeof(p->driver), "%s", info.driver_name);
	return 0;
}

static void eth_close(struct port *p)
{
	struct rte_device *dev = eth_device(p->eth_port);

	ethdev_stop(p);
	if (dev != NULL)
		rte_dev_remove(dev);
}

static uint16_t ethdev_rx(struct port *p, uint16_t q, struct rte_mbuf **pkts,
			  uint16_t n)
{
	return rte_eth_rx_burst(p->eth_port, q, pkts, n);
}

static uint16_t ethdev_tx(struct port *p, uint16_t q, struct rte_mbuf **pkts,
			  uint16_t n)
{
	return rte_eth_tx_burst(p->eth_port, q, pkts, n);
}

static bool ethdev_is_up(struct port *p)
{
	struct rte_eth_link link;

	return rte_eth_link_get_nowait(p->eth_port, &link) == 0 &&
	       link.link_status == RTE_ETH_LINK_UP;
}

static void veth_info(struct port *p, json_t *o)
{
	json_object_set_new(o, "ifname", json_string(p->args.ifname));
}

static void eth_info(struct port *p, json_t *o)
{
	char a[INET6_ADDRSTRLEN];
	json_t *ips = json_array();

	json_object_set_new(o, "devargs", json_string(p->args.devargs));
	for (unsigned int i = 0; i < p->args.local.n4; i++)
		json_array_append_new(ips, json_string(inet_ntop(AF_INET,
			&p->args.local.ip4[i], a, sizeof(a))));
	for (unsigned int i = 0; i < p->args.local.n6; i++)
		json_array_append_new(ips, json_string(inet_ntop(AF_INET6,
			p->args.local.ip6[i], a, sizeof(a))));
	json_object_set_new(o, "ips", ips);
}

const struct port_ops port_veth_ops = {
	.kind = "veth",
	.open = veth_open,
	.close = veth_close,
	.rx = ethdev_rx,
	.tx = ethdev_tx,
	.is_up = ethdev_is_up,
	.info = veth_info,
};

const struct port_ops port_eth_ops = {
	.kind = "eth",
	.open = eth_open,
	.close = eth_close,
	.rx = ethdev_rx,
	.tx = ethdev_tx,
	.is_up = ethdev_is_up,
	.info = eth_info,
};
