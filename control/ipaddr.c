/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include "ipaddr.h"

int ipaddr_parse(const char *s, bool need_len, struct ip_prefix *p)
{
	char buf[IPADDR_STRLEN], *slash, *end;
	long len;
	int max;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash != NULL)
		*slash = '\0';
	else if (need_len)
		return -EINVAL;
	memset(p, 0, sizeof(*p));
	if (strchr(buf, ':') == NULL && inet_pton(AF_INET, buf, p->addr) == 1) {
		p->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, p->addr) == 1) {
		p->family = AF_INET6;
		max = 128;
	} else {
		return -EINVAL;
	}
	if (slash == NULL) {
		p->len = (uint8_t)max;
		return 0;
	}
	errno = 0;
	len = strtol(slash + 1, &end, 10);
	if (errno != 0 || end == slash + 1 || *end != '\0' || len < 0 || len > max)
		return -EINVAL;
	p->len = (uint8_t)len;
	return 0;
}

static bool bit_set(const uint8_t *a, int bit)
{
	return a[bit / 8] & (0x80 >> (bit % 8));
}

bool ipaddr_is_network(const struct ip_prefix *p)
{
	int max = p->family == AF_INET ? 32 : 128;

	for (int bit = p->len; bit < max; bit++)
		if (bit_set(p->addr, bit))
			return false;
	return true;
}

bool ipaddr_contains(const struct ip_prefix *net, const struct ip_prefix *p)
{
	if (net->family != p->family)
		return false;
	for (int bit = 0; bit < net->len; bit++)
		if (bit_set(net->addr, bit) != bit_set(p->addr, bit))
			return false;
	return true;
}

bool ipaddr_same_addr(const struct ip_prefix *a, const struct ip_prefix *b)
{
	return a->family == b->family && memcmp(a->addr, b->addr, 16) == 0;
}

char *ipaddr_format(const struct ip_prefix *p, bool with_len, char *buf,
		    size_t len)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(p->family, p->addr, a, sizeof(a));
	if (with_len)
		snprintf(buf, len, "%s/%u", a, p->len);
	else
		snprintf(buf, len, "%s", a);
	return buf;
}
