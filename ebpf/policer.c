/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Per-pod policer: one token bucket (bucket 0 of the attachment; the
 * control plane sets its rate in bytes/s and its burst in bytes) charged
 * with each frame's whole length. Over the rate: drop, reason "rate".
 * An unconfigured bucket passes everything.
 */
#include "shunt_filter.h"

SHUNT_REASONS("rate");
SHUNT_COUNTERS("passed_bytes", "dropped_bytes");

SHUNT_FILTER(policer)
{
	uint32_t bytes = ctx->pkt_len;

	if (shunt_rate_allow(0, bytes)) {
		shunt_counter_add(0, bytes);
		return SHUNT_PASS;
	}
	shunt_counter_add(1, bytes);
	return SHUNT_DROP_REASON(1);
}
