/* SPDX-License-Identifier: BSD-3-Clause */
/* Test filter built for a future ABI version: the loader must refuse it. */
#include "shunt_filter.h"

__attribute__((section("shunt/v2"), used))
unsigned long long future(struct shunt_ctx *ctx)
{
	return ctx->len > 0 ? SHUNT_PASS : SHUNT_DROP;
}
