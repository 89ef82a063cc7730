/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The kernel side of a pod attachment, with libnl-route-3 (no `ip`): the
 * veth pair, the pod end's MAC, MTU, addresses and routes in the pod's
 * network namespace, the host end's settings. Routed model (DESIGN.md):
 * the pod's addresses are /32 and /128, its default routes point at
 * 169.254.1.1 (on-link) and fe80::1, which the data plane answers for.
 *
 * Work in a pod's namespace goes through a netlink socket opened inside
 * it (setns there and straight back), so the process itself stays in the
 * host namespace between calls. Single-threaded use only.
 *
 * Every function returns >= 0 on success or -errno; err (when given) gets
 * a sentence for the user.
 */
#ifndef SHUNT_PODNET_H
#define SHUNT_PODNET_H

#include <stddef.h>
#include <stdint.h>
#include "ipaddr.h"

/* Open the host's netlink socket and remember the host namespace. */
int podnet_init(char *err, size_t errlen);
void podnet_fini(void);

/* Open a network namespace file (e.g. /run/netns/x, /proc/PID/ns/net).
 * Returns an fd, -ENOENT when it is gone, -EINVAL when it is not a
 * network namespace. */
int podnet_netns_open(const char *path);

/* Create the veth pair: host_if in the host namespace, pod_if directly in
 * the namespace nsfd with mac; both with mtu. -EEXIST names which end. */
int podnet_veth_create(const char *host_if, int nsfd, const char *pod_if,
		       const uint8_t mac[6], uint32_t mtu, char *err,
		       size_t errlen);

/* Host end: IPv6 off (no link-local, no MLD/ND chatter toward the data
 * plane), then up. */
int podnet_host_setup(const char *host_if, char *err, size_t errlen);

/* Pod end: up, addresses as /32 and /128 (IPv6 without DAD: the data
 * plane guarantees uniqueness), the on-link gateway and default routes
 * of each family present in ips. */
int podnet_pod_setup(int nsfd, const char *pod_if, const struct ip_prefix *ips,
		     unsigned int n_ips, char *err, size_t errlen);

/* Delete a host link (and so its veth peer). 0 also when it is gone. */
int podnet_link_del(const char *host_if);

/* 1 when host_if exists in the host namespace, 0 when not, or -errno. */
int podnet_host_exists(const char *host_if);

/*
 * Check the pod end as podnet_veth_create and podnet_pod_setup left it.
 * Appends "; "-separated findings to missing (each names the object) and
 * returns how many there were, or -errno.
 */
int podnet_pod_check(int nsfd, const char *pod_if, const uint8_t mac[6],
		     const struct ip_prefix *ips, unsigned int n_ips,
		     char *missing, size_t len);

#endif
