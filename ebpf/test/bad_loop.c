/* SPDX-License-Identifier: BSD-3-Clause */
/* Test filter the verifier must refuse: a loop bounded only by the frame
 * (rte_bpf accepts no backward jump). */
#include "shunt_filter.h"

SHUNT_FILTER(bad_loop)
{
	uint64_t sum = 0;

#pragma nounroll
	for (uint32_t i = 0; i < ctx->len; i++)
		sum += ctx->data[i & 0x7f];
	return sum & 1;
}
