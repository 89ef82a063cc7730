/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Peers of an ib uplink: other nodes' UD addresses on the uplink's
 * partition, each with its address handle, made once. Control path; the
 * workers read ib_port.peers[] (published with an atomic store, freed
 * after a grace period).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <rte_malloc.h>
#include "ib_internal.h"
#include "log.h"

const uint8_t ib_peer_mac_prefix[4] = { 0x02, 0x53, 0x49, 0x42 };

void port_ib_peer_mac(uint16_t slot, struct rte_ether_addr *mac)
{
	memcpy(mac->addr_bytes, ib_peer_mac_prefix, 4);
	mac->addr_bytes[4] = (uint8_t)(slot >> 8);
	mac->addr_bytes[5] = (uint8_t)slot;
}

static struct ib_peer *ib_peer_find(struct ib_port *ib, const char *name)
{
	for (int i = 0; i < IB_MAX_PEERS; i++)
		if (ib->peers[i] != NULL && strcmp(ib->peers[i]->name, name) == 0)
			return ib->peers[i];
	return NULL;
}

static bool ib_port_check(struct port *p, char *err, size_t errlen)
{
	if (p->ops != &port_ib_ops || p->priv == NULL) {
		snprintf(err, errlen, "port '%s' is not an ib uplink", p->args.name);
		return false;
	}
	return true;
}

int port_ib_peer_add(struct port *p, const struct ib_peer_args *a, char *err,
		     size_t errlen)
{
	struct ib_port *ib = p->priv;
	struct ibv_ah_attr aa = { 0 };
	struct ib_peer *pe, *old;
	char gs[INET6_ADDRSTRLEN];
	int slot;

	if (!ib_port_check(p, err, errlen))
		return -EINVAL;
	inet_ntop(AF_INET6, a->gid, gs, sizeof(gs));
	if (a->pkey != ib->pkey) {
		snprintf(err, errlen, "peer '%s': P_Key 0x%04x is not uplink '%s''s "
			 "0x%04x (one partition per uplink)", a->name, a->pkey,
			 p->args.name, ib->pkey);
		return -EINVAL;
	}
	if (a->qkey != ib->qkey) {
		snprintf(err, errlen, "peer '%s': Q_Key 0x%x is not uplink '%s''s "
			 "0x%x (one Q_Key per network)", a->name, a->qkey,
			 p->args.name, ib->qkey);
		return -EINVAL;
	}
	if (a->qpn < 2 || a->qpn > 0xffffff) {
		snprintf(err, errlen, "peer '%s': QPN %u is not a UD QP number (2 to "
			 "16777215)", a->name, a->qpn);
		return -EINVAL;
	}
	old = ib_peer_find(ib, a->name);
	if (old != NULL) {
		if (memcmp(old->gid, a->gid, 16) == 0 && old->qpn == a->qpn)
			return 0;
		snprintf(err, errlen, "peer '%s' exists on '%s' with another address",
			 a->name, p->args.name);
		return -EEXIST;
	}
	for (slot = 0; slot < IB_MAX_PEERS && ib->peers[slot] != NULL; slot++)
		;
	if (slot == IB_MAX_PEERS) {
		snprintf(err, errlen, "uplink '%s' has %d peers already",
			 p->args.name, IB_MAX_PEERS);
		return -ENOSPC;
	}
	pe = rte_zmalloc("shunt_ib_peer", sizeof(*pe), RTE_CACHE_LINE_SIZE);
	if (pe == NULL) {
		snprintf(err, errlen, "no memory for peer '%s'", a->name);
		return -ENOMEM;
	}
	snprintf(pe->name, sizeof(pe->name), "%s", a->name);
	memcpy(pe->gid, a->gid, 16);
	pe->qpn = a->qpn;
	pe->qkey = a->qkey;
	pe->pkey = a->pkey;
	pe->slot = (uint16_t)slot;
	aa.is_global = 1;
	memcpy(aa.grh.dgid.raw, a->gid, 16);
	aa.grh.sgid_index = (uint8_t)ib->gid_index;
	aa.grh.hop_limit = 64;
	aa.port_num = ib->port_num;
	/* On RoCE this resolves the peer's MAC (ARP/ND by the kernel). */
	pe->ah = ibv_create_ah(ib->dev->pd, &aa);
	if (pe->ah == NULL) {
		int e = errno ? errno : EHOSTUNREACH;

		snprintf(err, errlen, "peer '%s': no address handle to GID %s via %s "
			 "gid[%d]: %s", a->name, gs, ib->dev->name, ib->gid_index,
			 strerror(e));
		rte_free(pe);
		return -EHOSTUNREACH;
	}
	__atomic_store_n(&ib->peers[slot], pe, __ATOMIC_RELEASE);
	if (slot + 1 > ib->peer_hiwat)
		__atomic_store_n(&ib->peer_hiwat, (uint16_t)(slot + 1),
				 __ATOMIC_RELEASE);
	log_info("ib %s: peer %s gid %s qpn %u (slot %d)", p->args.name, a->name,
		 gs, a->qpn, slot);
	return 0;
}

int port_ib_peer_del(struct port *p, const char *name, char *err, size_t errlen)
{
	struct ib_port *ib = p->priv;
	struct ib_peer *pe;
	struct rte_ether_addr mac;

	if (!ib_port_check(p, err, errlen))
		return -EINVAL;
	pe = ib_peer_find(ib, name);
	if (pe == NULL) {
		snprintf(err, errlen, "no peer '%s' on uplink '%s'", name,
			 p->args.name);
		return -ENOENT;
	}
	/* Routes first, so no new packet names the slot; then the slot. */
	port_ib_peer_mac(pe->slot, &mac);
	route_del_nexthop(p->id, &mac);
	__atomic_store_n(&ib->peers[pe->slot], NULL, __ATOMIC_RELEASE);
	dp_sync();
	/* Sends already posted with this handle may fail: counted as
	 * send errors, never a crash (the device owns its copy). */
	ibv_destroy_ah(pe->ah);
	log_info("ib %s: peer %s removed", p->args.name, name);
	rte_free(pe);
	return 0;
}

int port_ib_peer_nexthop(struct port *p, const char *name,
			 struct rte_ether_addr *mac, char *err, size_t errlen)
{
	struct ib_peer *pe;

	if (!ib_port_check(p, err, errlen))
		return -EINVAL;
	pe = ib_peer_find(p->priv, name);
	if (pe == NULL) {
		snprintf(err, errlen, "no peer '%s' on uplink '%s' (peer.add first)",
			 name, p->args.name);
		return -ENOENT;
	}
	port_ib_peer_mac(pe->slot, mac);
	return 0;
}

const char *port_ib_peer_name(struct port *p, const struct rte_ether_addr *mac)
{
	struct ib_port *ib = p->priv;
	int slot = ib_mac_slot(mac);

	if (p->ops != &port_ib_ops || ib == NULL || slot < 0 || slot >= IB_MAX_PEERS ||
	    ib->peers[slot] == NULL)
		return NULL;
	return ib->peers[slot]->name;
}

static json_t *ib_peer_json(const struct ib_peer *pe)
{
	char gs[INET6_ADDRSTRLEN];

	return json_pack("{s:s, s:s, s:I, s:I, s:i, s:i}", "name", pe->name,
		"gid", inet_ntop(AF_INET6, pe->gid, gs, sizeof(gs)),
		"qpn", (json_int_t)pe->qpn, "qkey", (json_int_t)pe->qkey,
		"pkey", (int)pe->pkey, "slot", (int)pe->slot);
}

json_t *port_ib_peer_list(struct port *p)
{
	struct ib_port *ib = p->priv;
	json_t *a = json_array();

	for (int i = 0; ib != NULL && i < IB_MAX_PEERS; i++)
		if (ib->peers[i] != NULL)
			json_array_append_new(a, ib_peer_json(ib->peers[i]));
	return a;
}

void ib_peers_free(struct ib_port *ib)
{
	for (int i = 0; i < IB_MAX_PEERS; i++)
		if (ib->peers[i] != NULL) {
			ibv_destroy_ah(ib->peers[i]->ah);
			rte_free(ib->peers[i]);
			ib->peers[i] = NULL;
		}
}
