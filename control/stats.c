/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Counters: the data plane's per-port stats, each port joined with the
 * attachment that owns it, and summed per attachment (pod). Both the
 * "stats" API method and the metrics endpoint (metrics.c) read them from
 * here, so the two never disagree on what a pod's counter is.
 *
 * The data plane's counters start at zero when a port is added, so they
 * restart after a data plane restart or a re-added port; readers that
 * compute rates treat a counter going down as such a restart.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <shunt/agent_api.h>
#include <shunt/dp_api.h>
#include "agent.h"

static const char *const counter_keys[] = {
	"rx_pkts", "rx_bytes", "tx_pkts", "tx_bytes", "neigh_replies", "dropped",
	NULL,
};

/* dst[key] += src[key] for each counter and each drop reason. */
static void counters_add(json_t *dst, json_t *src)
{
	json_t *dd = json_object_get(dst, "drops"), *v;
	const char *key;

	for (const char *const *k = counter_keys; *k; k++)
		json_object_set_new(dst, *k, json_integer(
			json_integer_value(json_object_get(dst, *k)) +
			json_integer_value(json_object_get(src, *k))));
	json_object_foreach(json_object_get(src, "drops"), key, v)
		json_object_set_new(dd, key, json_integer(
			json_integer_value(json_object_get(dd, key)) +
			json_integer_value(v)));
}

static json_t *pod_new(const struct attachment *a)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:[], s:{}}",
		"container_id", a->container_id, "ifname", a->ifname,
		"network", a->network, "mode", a->mode, "ports", "drops");

	for (const char *const *k = counter_keys; *k; k++)
		json_object_set_new(o, *k, json_integer(0));
	return o;
}

json_t *stats_get(struct agent *ag, const struct attachment *only,
		  struct jsonl_error *e)
{
	json_t *r = NULL, *pods, *pod, *p, *ports, *workers, *cache;
	const char *key;
	char msg[256];
	int code = 0, rc;
	size_t i;

	rc = dp_client_call(ag->dp, DP_M_STATS, NULL, &r, &code, msg, sizeof(msg));
	if (rc < 0) {
		agent_dp_error(rc, code, msg, DP_M_STATS, e);
		return NULL;
	}
	/* One entry per attachment, also one whose ports are not (yet) in
	 * the data plane: its "ports" is empty and its counters zero. */
	pods = json_object();
	for (unsigned int k = 0; k < ag->st.n_atts; k++) {
		const struct attachment *a = ag->st.atts[k];
		char owner[STATE_CID_LEN + IF_NAMESIZE + 2];

		if (only != NULL && a != only)
			continue;
		snprintf(owner, sizeof(owner), "%s/%s", a->container_id, a->ifname);
		json_object_set_new(pods, owner, pod_new(a));
	}
	ports = json_array();
	json_array_foreach(json_object_get(r, "ports"), i, p) {
		const char *name = json_string_value(json_object_get(p, "name"));
		struct attachment *a = name ? attach_by_port(ag, name) : NULL;
		char owner[STATE_CID_LEN + IF_NAMESIZE + 2];

		if (only != NULL && a != only)
			continue;
		if (a != NULL) {
			snprintf(owner, sizeof(owner), "%s/%s", a->container_id,
				 a->ifname);
			json_object_set_new(p, "owner", json_string(owner));
			json_object_set_new(p, "container_id",
					    json_string(a->container_id));
			json_object_set_new(p, "ifname", json_string(a->ifname));
			json_object_set_new(p, "kind", json_string(
				strcmp(name, a->veth_port) == 0 ? DP_PORT_VETH :
				DP_PORT_MEMIF));
			pod = json_object_get(pods, owner);
			if (pod != NULL) {
				json_array_append_new(json_object_get(pod, "ports"),
						      json_string(name));
				counters_add(pod, p);
			}
		}
		json_array_append(ports, p);
	}
	workers = only == NULL ? json_incref(json_object_get(r, "workers")) : NULL;
	cache = only == NULL ? json_incref(json_object_get(r, "filter_cache")) : NULL;
	json_decref(r);
	r = json_pack("{s:I, s:[], s:o}", "time_ms", (json_int_t)agent_now_ms(),
		      "pods", "ports", ports);
	if (workers != NULL)
		json_object_set_new(r, "workers", workers);
	if (cache != NULL)
		json_object_set_new(r, "filter_cache", cache);
	/* jansson iterates in insertion order: the state's order. */
	json_object_foreach(pods, key, pod)
		json_array_append(json_object_get(r, "pods"), pod);
	json_decref(pods);
	return r;
}
