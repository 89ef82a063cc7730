/* SPDX-License-Identifier: BSD-3-Clause */
/* IPv4/IPv6 addresses with a prefix length: parse, format, compare. */
#ifndef SHUNT_IPADDR_H
#define SHUNT_IPADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ip_prefix {
	int family;        /* AF_INET or AF_INET6 */
	uint8_t addr[16];  /* network byte order; IPv4 in the first 4 */
	uint8_t len;       /* prefix length */
};

/* Longest text ipaddr_format() writes, with the NUL. */
#define IPADDR_STRLEN 50

/*
 * Parse "addr/len" (or "addr" when need_len is false: a host prefix).
 * Returns 0, or -EINVAL when s is not that.
 */
int ipaddr_parse(const char *s, bool need_len, struct ip_prefix *p);

/* True when no bit past p->len is set (a network, not an address). */
bool ipaddr_is_network(const struct ip_prefix *p);

/* True when net (a network) contains p's address. */
bool ipaddr_contains(const struct ip_prefix *net, const struct ip_prefix *p);

/* True when a and b hold the same address (lengths ignored). */
bool ipaddr_same_addr(const struct ip_prefix *a, const struct ip_prefix *b);

/* Write "addr" or "addr/len" into buf. Returns buf. */
char *ipaddr_format(const struct ip_prefix *p, bool with_len, char *buf,
		    size_t len);

#endif
