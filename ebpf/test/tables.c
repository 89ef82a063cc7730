/* SPDX-License-Identifier: BSD-3-Clause */
/* Test filter for the table helpers: ctx->mark = exact(slot 0, {proto}) in
 * bits 0..7 | lpm(slot 1 for IPv4, slot 2 for IPv6, destination) << 8,
 * each 0xff / 0xffffff on a miss. Passes everything. */
#include "shunt_filter.h"
#include "shunt_parse.h"

SHUNT_FILTER(tables)
{
	struct shunt_pkt p;
	uint8_t key[SHUNT_KEY_LEN] = { 0 };
	uint64_t e, l;

	if (shunt_parse(ctx, &p) != SHUNT_PARSE_OK)
		return SHUNT_PASS;
	key[0] = p.proto;
	e = shunt_lookup(0, key);
	if (p.family == 4)
		l = shunt_lpm4(1, __builtin_bswap32(p.dst4));
	else
		l = shunt_lpm6(2, p.dst6);
	ctx->mark = (uint32_t)((e == SHUNT_MISS ? 0xff : e & 0xff) |
			       (l == SHUNT_MISS ? 0xffffff : l & 0xffffff) << 8);
	return SHUNT_PASS;
}
