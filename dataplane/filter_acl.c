/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Building the ACL filter's rule table (ebpf/shunt_acl.h) from rules as the
 * control channel states them. Prefixes become the masked address and mask
 * words the filter compares with what it loads from the frame.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include "filter.h"
#include "shunt_acl.h"

static int action_parse(const char *s, uint32_t *out)
{
	if (s != NULL && strcmp(s, "allow") == 0)
		*out = SHUNT_ACL_ALLOW;
	else if (s != NULL && strcmp(s, "deny") == 0)
		*out = SHUNT_ACL_DENY;
	else
		return -EINVAL;
	return 0;
}

int filter_acl_init(struct shunt_acl *acl, const char *default_action,
		    const char *malformed_action, char *err, size_t errlen)
{
	memset(acl, 0, sizeof(*acl));
	if (action_parse(default_action, &acl->default_action) < 0 ||
	    action_parse(malformed_action, &acl->malformed_action) < 0) {
		snprintf(err, errlen, "ACL actions are \"allow\" or \"deny\"");
		return -EINVAL;
	}
	return 0;
}

/* Parse prefix (NULL: any of family *fam, 0 if not yet known) into
 * address and mask words. */
static int prefix_words(const char *prefix, int *fam, uint32_t addr[4],
			uint32_t mask[4])
{
	char buf[INET6_ADDRSTRLEN + 8], *slash, *end;
	uint8_t a[16] = { 0 }, m[16] = { 0 };
	int f, max;
	long len;

	memset(addr, 0, 16);
	memset(mask, 0, 16);
	if (prefix == NULL)
		return 0;
	if (strlen(prefix) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, prefix);
	f = strchr(buf, ':') ? 6 : 4;
	if (*fam != 0 && *fam != f)
		return -EINVAL;
	max = f == 4 ? 32 : 128;
	len = max;
	slash = strchr(buf, '/');
	if (slash != NULL) {
		*slash = '\0';
		len = strtol(slash + 1, &end, 10);
		if (slash[1] == '\0' || *end != '\0' || len < 0 || len > max)
			return -EINVAL;
	}
	if (inet_pton(f == 4 ? AF_INET : AF_INET6, buf, a) != 1)
		return -EINVAL;
	for (long i = 0; i < len; i++)
		m[i / 8] |= (uint8_t)(0x80 >> (i % 8));
	for (int i = 0; i < 16; i++)
		a[i] &= m[i];
	memcpy(addr, a, 16);
	memcpy(mask, m, 16);
	*fam = f;
	return 0;
}

int filter_acl_rule_add(struct shunt_acl *acl,
			const struct filter_acl_rule_args *a, char *err,
			size_t errlen)
{
	uint32_t sa[4], sm[4], da[4], dm[4], action;
	int fam = a->src == NULL && a->dst == NULL ? a->family : 0;
	bool any_port = a->dport_lo < 0 && a->dport_hi < 0;
	uint16_t lo = any_port ? 0 : (uint16_t)a->dport_lo;
	uint16_t hi = any_port ? 65535 : (uint16_t)a->dport_hi;

	if (action_parse(a->action, &action) < 0) {
		snprintf(err, errlen, "rule action \"%s\": allow or deny",
			 a->action ? a->action : "");
		return -EINVAL;
	}
	if (prefix_words(a->src, &fam, sa, sm) < 0 ||
	    prefix_words(a->dst, &fam, da, dm) < 0 || (fam != 4 && fam != 6)) {
		snprintf(err, errlen, "rule src \"%s\" dst \"%s\": not prefixes "
			 "of one family (or, with neither, family not 4 or 6)",
			 a->src ? a->src : "any", a->dst ? a->dst : "any");
		return -EINVAL;
	}
	if (a->proto < 0 || a->proto > 255) {
		snprintf(err, errlen, "rule protocol %d not in 0..255", a->proto);
		return -EINVAL;
	}
	if (!any_port && (a->dport_lo < 0 || a->dport_hi > 65535 ||
			  a->dport_lo > a->dport_hi)) {
		snprintf(err, errlen, "rule port range %d-%d not within 0-65535",
			 a->dport_lo, a->dport_hi);
		return -EINVAL;
	}
	if ((fam == 4 ? acl->n4 : acl->n6) >= SHUNT_ACL_MAX_RULES) {
		snprintf(err, errlen, "already %d IPv%d rules", SHUNT_ACL_MAX_RULES,
			 fam);
		return -ENOSPC;
	}
	if (fam == 4) {
		struct shunt_acl_rule4 *r = &acl->rule4[acl->n4++];

		*r = (struct shunt_acl_rule4){
			.src = sa[0], .src_mask = sm[0],
			.dst = da[0], .dst_mask = dm[0],
			.dport_lo = lo, .dport_hi = hi,
			.proto = (uint8_t)a->proto,
			.proto_mask = a->proto ? 0xff : 0,
			.need_ports = !any_port, .action = (uint8_t)action,
		};
	} else {
		struct shunt_acl_rule6 *r = &acl->rule6[acl->n6++];

		memcpy(r->src, sa, 16);
		memcpy(r->src_mask, sm, 16);
		memcpy(r->dst, da, 16);
		memcpy(r->dst_mask, dm, 16);
		r->dport_lo = lo;
		r->dport_hi = hi;
		r->proto = (uint8_t)a->proto;
		r->proto_mask = a->proto ? 0xff : 0;
		r->need_ports = !any_port;
		r->action = (uint8_t)action;
	}
	return 0;
}
