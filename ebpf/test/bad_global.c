/* SPDX-License-Identifier: BSD-3-Clause */
/* Test filter the loader must refuse: uses global data, which rte_bpf
 * cannot load. */
#include "shunt_filter.h"

uint32_t seen;

SHUNT_FILTER(bad_global)
{
	seen++;
	return SHUNT_PASS;
}
