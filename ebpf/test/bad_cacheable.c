/* SPDX-License-Identifier: BSD-3-Clause */
/* Test filter the loader must refuse: declared cacheable, but reads the
 * clock, which no flow determines. */
#include "shunt_filter.h"

SHUNT_FLOW_CACHEABLE;

SHUNT_FILTER(bad_cacheable)
{
	return shunt_now_ns() & 1 ? SHUNT_DROP : SHUNT_PASS;
}
