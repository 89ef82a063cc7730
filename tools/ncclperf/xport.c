/* SPDX-License-Identifier: BSD-3-Clause */
/* Transport registry: selection by name and the key=value option bag. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xport.h"

/* One line per transport. */
static const struct xport_type *const xport_table[] = {
	&xport_socket_type,
	&xport_memif_type,
	NULL
};

const struct xport_type *const *xport_types(void)
{
	return xport_table;
}

const struct xport_type *xport_type_find(const char *name)
{
	for (unsigned int i = 0; xport_table[i]; i++)
		if (strcmp(xport_table[i]->name, name) == 0)
			return xport_table[i];
	return NULL;
}

const char *xport_opts_get(const struct xport_opts *o, const char *key)
{
	for (unsigned int i = 0; i < o->n; i++)
		if (strcmp(o->key[i], key) == 0)
			return o->val[i];
	return NULL;
}

int xport_opts_add(struct xport_opts *o, const char *arg)
{
	const char *e = strchr(arg, '=');
	char *kv, *eq;

	if (!e || e == arg)
		return -EINVAL;
	if (o->n >= XPORT_OPTS_MAX)
		return -E2BIG;
	/* a copy: the launcher passes argv on to the ranks unchanged */
	if (!(kv = strdup(arg)))
		return -ENOMEM;
	eq = kv + (e - arg);
	*eq = '\0';
	o->key[o->n] = kv;
	o->val[o->n] = eq + 1;
	o->n++;
	return 0;
}

int xport_open(struct xport *x, const char *name, int rank, int nranks,
               struct bootstrap *bs, const struct xport_opts *o)
{
	const struct xport_type *t = xport_type_find(name);

	memset(x, 0, sizeof(*x));
	x->rank = rank;
	x->nranks = nranks;
	x->err_rank = -1;
	if (!t) {
		snprintf(x->err, sizeof(x->err), "unknown transport '%s'", name);
		return -ENOENT;
	}
	return t->open(x, bs, o);
}
