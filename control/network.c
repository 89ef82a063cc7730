/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Networks: a name, the pod prefixes its addresses come from, and the
 * defaults (MTU, mode) of the attachments made in it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <shunt/agent_api.h>
#include "agent.h"
#include "log.h"

bool network_mode_ok(const char *mode)
{
	return strcmp(mode, AGENT_MODE_VETH) == 0 ||
	       strcmp(mode, AGENT_MODE_MEMIF) == 0 ||
	       strcmp(mode, AGENT_MODE_VETH_MEMIF) == 0;
}

static bool same_network(const struct network *a, const struct network *b)
{
	if (a->mtu != b->mtu || strcmp(a->mode, b->mode) != 0 ||
	    a->n_prefixes != b->n_prefixes)
		return false;
	for (unsigned int i = 0; i < a->n_prefixes; i++)
		if (!ipaddr_same_addr(&a->prefixes[i], &b->prefixes[i]) ||
		    a->prefixes[i].len != b->prefixes[i].len)
			return false;
	return true;
}

int network_create(struct agent *ag, const struct network *req,
		   struct network **out, struct jsonl_error *e)
{
	struct network *old = state_network_find(&ag->st, req->name), *n;
	char msg[512];
	int rc;

	if (!network_mode_ok(req->mode)) {
		jsonl_fail(e, AGENT_E_PARAMS, "'mode': '%s' is not veth, memif or "
			   "veth+memif", req->mode);
		return -EINVAL;
	}
	if (old != NULL) {
		if (!same_network(old, req)) {
			jsonl_fail(e, AGENT_E_EXISTS, "network '%s' exists with other "
				   "parameters", req->name);
			return -EEXIST;
		}
		*out = old;
		return 0;
	}
	/* Pod prefixes are either here or behind a peer, never both. */
	for (unsigned int i = 0; i < req->n_prefixes; i++) {
		char pfx[IPADDR_STRLEN];

		if (peer_prefix_conflict(ag, &req->prefixes[i], NULL, false, msg,
					 sizeof(msg)) < 0) {
			jsonl_fail(e, AGENT_E_EXISTS, "'prefixes[%u]': %s %s", i,
				   ipaddr_format(&req->prefixes[i], true, pfx,
						 sizeof(pfx)), msg);
			return -EEXIST;
		}
	}
	n = malloc(sizeof(*n));
	if (n == NULL)
		return -ENOMEM;
	*n = *req;
	rc = state_network_add(&ag->st, n);
	if (rc < 0) {
		free(n);
		jsonl_fail(e, AGENT_E_LIMIT, "at most %d networks", STATE_MAX_NETWORKS);
		return rc;
	}
	rc = state_save(&ag->st, msg, sizeof(msg));
	if (rc < 0) {
		state_network_remove(&ag->st, n);
		jsonl_fail(e, AGENT_E_STATE, "network.create %s: %s", req->name, msg);
		return rc;
	}
	log_info("network %s created (mtu %u, mode %s)", n->name, n->mtu, n->mode);
	*out = n;
	return 0;
}

int network_delete(struct agent *ag, const char *name, struct jsonl_error *e)
{
	struct network *n = state_network_find(&ag->st, name), saved;
	char msg[512];
	int rc;

	if (n == NULL) {
		jsonl_fail(e, AGENT_E_NOT_FOUND, "no network named '%s'", name);
		return -ENOENT;
	}
	for (unsigned int i = 0; i < ag->st.n_atts; i++)
		if (strcmp(ag->st.atts[i]->network, name) == 0) {
			jsonl_fail(e, AGENT_E_BUSY, "network '%s' is in use by %s/%s "
				   "(and maybe others)", name,
				   ag->st.atts[i]->container_id, ag->st.atts[i]->ifname);
			return -EBUSY;
		}
	saved = *n;
	state_network_remove(&ag->st, n);
	rc = state_save(&ag->st, msg, sizeof(msg));
	if (rc < 0) {
		/* Not persisted: not done. */
		n = malloc(sizeof(*n));
		if (n != NULL) {
			*n = saved;
			if (state_network_add(&ag->st, n) < 0)
				free(n);
		}
		jsonl_fail(e, AGENT_E_STATE, "network.delete %s: %s", name, msg);
		return rc;
	}
	log_info("network %s deleted", name);
	return 0;
}
