/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Network-policy ACL: allow or deny by source and destination prefix,
 * protocol and destination port range, first match wins, default verdict
 * configurable. The rules live in an array table (shunt_acl.h) that the
 * control plane replaces whole, so changing rules needs no reload. Frames
 * that are not IP pass (ARP/ND are the data plane's business); malformed
 * IP frames take malformed_action.
 *
 * The rule loop is unrolled by hand to SHUNT_ACL_MAX_RULES and stops at
 * the rule count: rte_bpf's verifier accepts no backward jump, and clang
 * does not unroll a loop with two exits.
 */
#include "shunt_filter.h"
#include "shunt_parse.h"
#include "shunt_acl.h"

SHUNT_REASONS("deny", "default_deny", "malformed");
/* The verdict depends on addresses, protocol, ports and the rules only. */
SHUNT_FLOW_CACHEABLE;
SHUNT_COUNTERS("v4_rule0", "v4_rule1", "v4_rule2", "v4_rule3", "v4_rule4",
	"v4_rule5", "v4_rule6", "v4_rule7", "v4_rule8", "v4_rule9",
	"v4_rule10", "v4_rule11", "v4_rule12", "v4_rule13", "v4_rule14",
	"v4_rule15", "v4_rule16", "v4_rule17", "v4_rule18", "v4_rule19",
	"v4_rule20", "v4_rule21", "v4_rule22", "v4_rule23", "v4_rule24",
	"v4_rule25", "v4_rule26", "v4_rule27", "v4_rule28", "v4_rule29",
	"v4_rule30", "v4_rule31",
	"v6_rule0", "v6_rule1", "v6_rule2", "v6_rule3", "v6_rule4",
	"v6_rule5", "v6_rule6", "v6_rule7", "v6_rule8", "v6_rule9",
	"v6_rule10", "v6_rule11", "v6_rule12", "v6_rule13", "v6_rule14",
	"v6_rule15", "v6_rule16", "v6_rule17", "v6_rule18", "v6_rule19",
	"v6_rule20", "v6_rule21", "v6_rule22", "v6_rule23", "v6_rule24",
	"v6_rule25", "v6_rule26", "v6_rule27", "v6_rule28", "v6_rule29",
	"v6_rule30", "v6_rule31");

#define ACL_VERDICT(action) ((action) == SHUNT_ACL_DENY ? \
	SHUNT_DROP_REASON(SHUNT_ACL_REASON_DENY) : SHUNT_PASS)

#define ACL_RULE(fam, i, cnt) \
	if ((i) >= n) \
		goto nomatch; \
	if (shunt_acl_diff##fam(&acl->rule##fam[i], &p) == 0) { \
		shunt_counter_add((cnt) + (i), 1); \
		return ACL_VERDICT(acl->rule##fam[i].action); \
	}
#define ACL_RULE4(fam, i, cnt) ACL_RULE(fam, i, cnt) ACL_RULE(fam, i + 1, cnt) \
	ACL_RULE(fam, i + 2, cnt) ACL_RULE(fam, i + 3, cnt)
#define ACL_RULES(fam, cnt) \
	ACL_RULE4(fam, 0, cnt) ACL_RULE4(fam, 4, cnt) ACL_RULE4(fam, 8, cnt) \
	ACL_RULE4(fam, 12, cnt) ACL_RULE4(fam, 16, cnt) ACL_RULE4(fam, 20, cnt) \
	ACL_RULE4(fam, 24, cnt) ACL_RULE4(fam, 28, cnt)
#if SHUNT_ACL_MAX_RULES != 32
#error "ACL_RULES must cover SHUNT_ACL_MAX_RULES"
#endif

SHUNT_FILTER(acl)
{
	const struct shunt_acl *acl = shunt_array(SHUNT_ACL_SLOT);
	struct shunt_pkt p;
	uint32_t n;
	int rc = shunt_parse(ctx, &p);

	if (rc == SHUNT_PARSE_NOT_IP)
		return SHUNT_PASS;
	if (rc != SHUNT_PARSE_OK)
		return acl->malformed_action == SHUNT_ACL_DENY ?
			SHUNT_DROP_REASON(SHUNT_ACL_REASON_MALFORMED) :
			SHUNT_PASS;
	if (p.family == 4) {
		n = acl->n4;
		ACL_RULES(4, 0)
	} else {
		n = acl->n6;
		ACL_RULES(6, SHUNT_ACL_CNT_RULE6)
	}
nomatch:
	return acl->default_action == SHUNT_ACL_DENY ?
		SHUNT_DROP_REASON(SHUNT_ACL_REASON_DEFAULT) : SHUNT_PASS;
}
