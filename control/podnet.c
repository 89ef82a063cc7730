/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Pod networking with libnl-route-3 (podnet.h).
 */
#include <errno.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/if_addr.h>
#include <linux/magic.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/vfs.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>
#include <shunt/agent_api.h>
#include "log.h"
#include "podnet.h"

#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673
#endif

static struct nl_sock *host_sk;  /* netlink in the host namespace */
static int host_ns = -1;         /* the host namespace, to come back to */

/* libnl returns its own codes; the rest of shuntd speaks errno. */
static int nlerr(int rc)
{
	switch (-rc) {
	case 0: return 0;
	case NLE_EXIST: return -EEXIST;
	case NLE_OBJ_NOTFOUND: case NLE_NODEV: return -ENODEV;
	case NLE_PERM: return -EPERM;
	case NLE_NOMEM: return -ENOMEM;
	case NLE_INVAL: case NLE_MISSING_ATTR: return -EINVAL;
	case NLE_BUSY: return -EBUSY;
	case NLE_RANGE: return -ERANGE;
	case NLE_NOADDR: return -EADDRNOTAVAIL;
	case NLE_AF_NOSUPPORT: return -EAFNOSUPPORT;
	case NLE_OPNOTSUPP: return -EOPNOTSUPP;
	case NLE_AGAIN: return -EAGAIN;
	default: return -EIO;
	}
}

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	char what[200];
	va_list ap;

	if (err != NULL) {
		va_start(ap, fmt);
		vsnprintf(what, sizeof(what), fmt, ap);
		va_end(ap);
		snprintf(err, errlen, "%s: %s", what, strerror(-rc));
	}
	return rc;
}

int podnet_init(char *err, size_t errlen)
{
	int rc;

	host_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (host_ns < 0)
		return fail(err, errlen, -errno, "opening /proc/self/ns/net");
	host_sk = nl_socket_alloc();
	if (host_sk == NULL)
		return fail(err, errlen, -ENOMEM, "netlink socket");
	rc = nl_connect(host_sk, NETLINK_ROUTE);
	if (rc < 0)
		return fail(err, errlen, nlerr(rc), "netlink connect");
	return 0;
}

void podnet_fini(void)
{
	if (host_sk != NULL)
		nl_socket_free(host_sk);
	host_sk = NULL;
	if (host_ns >= 0)
		close(host_ns);
	host_ns = -1;
}

int podnet_netns_open(const char *path)
{
	struct statfs sfs;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return errno == ENOENT ? -ENOENT : -errno;
	/* A plain file or a stale mount point is not a namespace; setns()
	 * would say EINVAL much later. */
	if (fstatfs(fd, &sfs) < 0 || sfs.f_type != NSFS_MAGIC) {
		close(fd);
		return -EINVAL;
	}
	return fd;
}

/* A netlink socket that works inside the namespace nsfd: sockets stay in
 * the namespace they were created in. */
static int sock_in_netns(int nsfd, struct nl_sock **out)
{
	struct nl_sock *sk;
	int rc;

	if (setns(nsfd, CLONE_NEWNET) < 0)
		return -errno;
	sk = nl_socket_alloc();
	rc = sk ? nlerr(nl_connect(sk, NETLINK_ROUTE)) : -ENOMEM;
	if (setns(host_ns, CLONE_NEWNET) < 0) {
		/* Everything after this would happen in the pod's namespace:
		 * stopping is the only safe answer. */
		log_err("cannot return to the host network namespace: %s",
			strerror(errno));
		abort();
	}
	if (rc < 0) {
		if (sk)
			nl_socket_free(sk);
		return rc;
	}
	*out = sk;
	return 0;
}

static struct nl_addr *mac_addr(const uint8_t mac[6])
{
	return nl_addr_build(AF_LLC, mac, 6);
}

int podnet_veth_create(const char *host_if, int nsfd, const char *pod_if,
		       const uint8_t mac[6], uint32_t mtu, char *err,
		       size_t errlen)
{
	struct rtnl_link *host, *peer;
	struct nl_addr *a;
	int rc;

	host = rtnl_link_veth_alloc();
	if (host == NULL)
		return fail(err, errlen, -ENOMEM, "veth");
	peer = rtnl_link_veth_get_peer(host);
	a = mac_addr(mac);
	rtnl_link_set_name(host, host_if);
	rtnl_link_set_mtu(host, mtu);
	/* The pod end is born in the pod's namespace with its final name:
	 * no temporary name in the host namespace, no rename, no window in
	 * which a half-made interface is visible under the wrong name. */
	rtnl_link_set_name(peer, pod_if);
	rtnl_link_set_ns_fd(peer, nsfd);
	rtnl_link_set_mtu(peer, mtu);
	rtnl_link_set_addr(peer, a);
	rc = nlerr(rtnl_link_add(host_sk, host, NLM_F_CREATE | NLM_F_EXCL));
	nl_addr_put(a);
	rtnl_link_put(peer);
	rtnl_link_veth_release(host);
	if (rc == -EEXIST)
		return fail(err, errlen, rc, "%s", if_nametoindex(host_if) ?
			    "the host interface exists" :
			    "the interface exists in the pod's namespace");
	if (rc < 0)
		return fail(err, errlen, rc, "creating veth %s/%s", host_if, pod_if);
	return 0;
}

static int link_up(struct nl_sock *sk, const char *name)
{
	struct rtnl_link *link, *change;
	int rc;

	rc = nlerr(rtnl_link_get_kernel(sk, 0, name, &link));
	if (rc < 0)
		return rc;
	change = rtnl_link_alloc();
	if (change == NULL) {
		rtnl_link_put(link);
		return -ENOMEM;
	}
	rtnl_link_set_flags(change, IFF_UP);
	rc = nlerr(rtnl_link_change(sk, link, change, 0));
	rtnl_link_put(change);
	rtnl_link_put(link);
	return rc;
}

static int sysctl_write(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

int podnet_host_setup(const char *host_if, char *err, size_t errlen)
{
	char path[128];
	int rc;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6",
		 host_if);
	rc = sysctl_write(path, "1");
	/* No file: the kernel has no IPv6, nothing to silence. */
	if (rc < 0 && rc != -ENOENT)
		return fail(err, errlen, rc, "writing %s", path);
	rc = link_up(host_sk, host_if);
	if (rc < 0)
		return fail(err, errlen, rc, "setting %s up", host_if);
	return 0;
}

static int addr_add(struct nl_sock *sk, int ifindex, const struct ip_prefix *p)
{
	struct rtnl_addr *ra = rtnl_addr_alloc();
	struct nl_addr *local;
	int full = p->family == AF_INET ? 32 : 128, rc;

	local = nl_addr_build(p->family, p->addr, p->family == AF_INET ? 4 : 16);
	if (ra == NULL || local == NULL) {
		rtnl_addr_put(ra);
		nl_addr_put(local);
		return -ENOMEM;
	}
	nl_addr_set_prefixlen(local, full);
	rtnl_addr_set_ifindex(ra, ifindex);
	rtnl_addr_set_family(ra, p->family);
	rtnl_addr_set_local(ra, local);
	rtnl_addr_set_prefixlen(ra, full);
	if (p->family == AF_INET6)
		rtnl_addr_set_flags(ra, IFA_F_NODAD);
	rc = nlerr(rtnl_addr_add(sk, ra, 0));
	nl_addr_put(local);
	rtnl_addr_put(ra);
	return rc;
}

/* dst "addr/len" via gw (NULL: on-link) on ifindex. */
static int route_add(struct nl_sock *sk, int family, const char *dst,
		     const char *gw, int ifindex)
{
	struct rtnl_route *r = rtnl_route_alloc();
	struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
	struct nl_addr *d = NULL, *g = NULL;
	int rc;

	if (r == NULL || nh == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	rc = nlerr(nl_addr_parse(dst, family, &d));
	if (rc == 0 && gw != NULL)
		rc = nlerr(nl_addr_parse(gw, family, &g));
	if (rc < 0)
		goto out;
	rtnl_route_set_family(r, (uint8_t)family);
	rtnl_route_set_dst(r, d);
	rtnl_route_set_table(r, RT_TABLE_MAIN);
	rtnl_route_set_protocol(r, RTPROT_STATIC);
	rtnl_route_set_scope(r, gw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK);
	rtnl_route_set_type(r, RTN_UNICAST);
	rtnl_route_nh_set_ifindex(nh, ifindex);
	if (g != NULL)
		rtnl_route_nh_set_gateway(nh, g);
	rtnl_route_add_nexthop(r, nh);
	nh = NULL;  /* the route owns it */
	rc = nlerr(rtnl_route_add(sk, r, NLM_F_EXCL));
out:
	if (nh != NULL)
		rtnl_route_nh_free(nh);
	rtnl_route_put(r);
	nl_addr_put(d);
	nl_addr_put(g);
	return rc;
}

/*
 * Checksums and segmentation are done by the pod's kernel, not left to
 * "hardware": the data plane reads frames off the veth raw (AF_PACKET,
 * AF_XDP), so a frame with a checksum left for offload would reach the
 * other pod unfinished (UDP/TCP dropped there), and a TSO super-frame
 * would exceed every MTU. Turning TX checksumming off turns TSO off too.
 */
static int pod_tx_offload_off(int nsfd, const char *pod_if)
{
	struct ethtool_value ev = { .cmd = ETHTOOL_STXCSUM, .data = 0 };
	struct ifreq ifr = { 0 };
	int fd, rc = 0;

	if (setns(nsfd, CLONE_NEWNET) < 0)
		return -errno;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (setns(host_ns, CLONE_NEWNET) < 0) {
		log_err("cannot return to the host network namespace: %s",
			strerror(errno));
		abort();
	}
	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", pod_if);
	ifr.ifr_data = (void *)&ev;
	if (ioctl(fd, SIOCETHTOOL, &ifr) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

int podnet_pod_setup(int nsfd, const char *pod_if, const struct ip_prefix *ips,
		     unsigned int n_ips, char *err, size_t errlen)
{
	char buf[IPADDR_STRLEN];
	struct nl_sock *sk;
	bool v4 = false, v6 = false;
	int ifindex, rc;
	struct rtnl_link *link;

	rc = sock_in_netns(nsfd, &sk);
	if (rc < 0)
		return fail(err, errlen, rc, "entering the pod's namespace");
	rc = link_up(sk, pod_if);
	if (rc < 0) {
		fail(err, errlen, rc, "setting %s up", pod_if);
		goto out;
	}
	rc = pod_tx_offload_off(nsfd, pod_if);
	if (rc < 0) {
		fail(err, errlen, rc, "turning TX checksum offload off on %s", pod_if);
		goto out;
	}
	rc = nlerr(rtnl_link_get_kernel(sk, 0, pod_if, &link));
	if (rc < 0) {
		fail(err, errlen, rc, "finding %s", pod_if);
		goto out;
	}
	ifindex = rtnl_link_get_ifindex(link);
	rtnl_link_put(link);
	for (unsigned int i = 0; i < n_ips; i++) {
		rc = addr_add(sk, ifindex, &ips[i]);
		if (rc < 0) {
			fail(err, errlen, rc, "adding address %s to %s",
			     ipaddr_format(&ips[i], false, buf, sizeof(buf)), pod_if);
			goto out;
		}
		v4 |= ips[i].family == AF_INET;
		v6 |= ips[i].family == AF_INET6;
	}
	if (v4) {
		rc = route_add(sk, AF_INET, AGENT_GW4 "/32", NULL, ifindex);
		if (rc == 0)
			rc = route_add(sk, AF_INET, "0.0.0.0/0", AGENT_GW4, ifindex);
		if (rc < 0) {
			fail(err, errlen, rc, "adding the IPv4 routes via " AGENT_GW4);
			goto out;
		}
	}
	if (v6) {
		rc = route_add(sk, AF_INET6, "::/0", AGENT_GW6, ifindex);
		if (rc < 0) {
			fail(err, errlen, rc, "adding the IPv6 default route via "
			     AGENT_GW6);
			goto out;
		}
	}
out:
	nl_socket_free(sk);
	return rc;
}

int podnet_link_del(const char *host_if)
{
	struct rtnl_link *link = rtnl_link_alloc();
	int rc;

	if (link == NULL)
		return -ENOMEM;
	rtnl_link_set_name(link, host_if);
	rc = nlerr(rtnl_link_delete(host_sk, link));
	rtnl_link_put(link);
	return rc == -ENODEV ? 0 : rc;
}

int podnet_host_exists(const char *host_if)
{
	struct rtnl_link *link;
	int rc = nlerr(rtnl_link_get_kernel(host_sk, 0, host_if, &link));

	if (rc == -ENODEV)
		return 0;
	if (rc < 0)
		return rc;
	rtnl_link_put(link);
	return 1;
}

static void note(char *missing, size_t len, int *n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void note(char *missing, size_t len, int *n, const char *fmt, ...)
{
	size_t used = strlen(missing);
	va_list ap;

	if (used + 3 >= len)
		return;
	if (used > 0) {
		strcat(missing, "; ");
		used += 2;
	}
	va_start(ap, fmt);
	vsnprintf(missing + used, len - used, fmt, ap);
	va_end(ap);
	(*n)++;
}

struct check_ctx {
	int ifindex;
	const struct ip_prefix *want;
	bool found;
};

static void addr_match(struct nl_object *obj, void *arg)
{
	struct rtnl_addr *ra = (struct rtnl_addr *)obj;
	struct check_ctx *c = arg;
	struct nl_addr *local = rtnl_addr_get_local(ra);

	if (rtnl_addr_get_ifindex(ra) == c->ifindex && local != NULL &&
	    nl_addr_get_family(local) == c->want->family &&
	    memcmp(nl_addr_get_binary_addr(local), c->want->addr,
		   c->want->family == AF_INET ? 4 : 16) == 0)
		c->found = true;
}

static void default_route_match(struct nl_object *obj, void *arg)
{
	struct rtnl_route *r = (struct rtnl_route *)obj;
	struct check_ctx *c = arg;
	struct nl_addr *dst = rtnl_route_get_dst(r);

	if (rtnl_route_get_table(r) != RT_TABLE_MAIN ||
	    (int)rtnl_route_get_family(r) != c->want->family ||
	    (dst != NULL && nl_addr_get_prefixlen(dst) != 0))
		return;
	for (int i = 0; i < rtnl_route_get_nnexthops(r); i++)
		if (rtnl_route_nh_get_ifindex(rtnl_route_nexthop_n(r, i)) == c->ifindex)
			c->found = true;
}

int podnet_pod_check(int nsfd, const char *pod_if, const uint8_t mac[6],
		     const struct ip_prefix *ips, unsigned int n_ips,
		     char *missing, size_t len)
{
	struct nl_cache *addrs = NULL, *routes = NULL;
	struct rtnl_link *link;
	struct nl_addr *lladdr;
	char buf[IPADDR_STRLEN];
	bool fam_done[2] = { false, false };
	struct check_ctx c = { 0 };
	struct nl_sock *sk;
	int n = 0, rc;

	rc = sock_in_netns(nsfd, &sk);
	if (rc < 0)
		return rc;
	rc = nlerr(rtnl_link_get_kernel(sk, 0, pod_if, &link));
	if (rc == -ENODEV) {
		note(missing, len, &n, "interface %s missing in the pod", pod_if);
		rc = 0;
		goto out;
	}
	if (rc < 0)
		goto out;
	lladdr = rtnl_link_get_addr(link);
	if (lladdr == NULL || nl_addr_get_len(lladdr) != 6 ||
	    memcmp(nl_addr_get_binary_addr(lladdr), mac, 6) != 0)
		note(missing, len, &n, "%s has another MAC", pod_if);
	if (!(rtnl_link_get_flags(link) & IFF_UP))
		note(missing, len, &n, "%s is down", pod_if);
	c.ifindex = rtnl_link_get_ifindex(link);
	rtnl_link_put(link);
	rc = nlerr(rtnl_addr_alloc_cache(sk, &addrs));
	if (rc == 0)
		rc = nlerr(rtnl_route_alloc_cache(sk, AF_UNSPEC, 0, &routes));
	if (rc < 0)
		goto out;
	for (unsigned int i = 0; i < n_ips; i++) {
		bool *done = &fam_done[ips[i].family == AF_INET6];

		c.want = &ips[i];
		c.found = false;
		nl_cache_foreach(addrs, addr_match, &c);
		if (!c.found)
			note(missing, len, &n, "address %s missing on %s",
			     ipaddr_format(&ips[i], false, buf, sizeof(buf)), pod_if);
		if (*done)
			continue;
		*done = true;
		c.found = false;
		nl_cache_foreach(routes, default_route_match, &c);
		if (!c.found)
			note(missing, len, &n, "IPv%d default route via %s missing",
			     ips[i].family == AF_INET ? 4 : 6, pod_if);
	}
	rc = n;
out:
	if (addrs)
		nl_cache_free(addrs);
	if (routes)
		nl_cache_free(routes);
	nl_socket_free(sk);
	return rc;
}
