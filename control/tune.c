/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Data plane tuning, passed through to its config.get/config.set. The
 * scalar keys are persisted so that a restarted data plane gets them
 * again (reconcile.c); "poll" names ports and lcores of one process, so
 * it is applied, not kept.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <shunt/agent_api.h>
#include <shunt/dp_api.h>
#include "agent.h"
#include "log.h"

static const char *const scalar_keys[] = {
	DP_CFG_BURST, DP_CFG_RX_RING, DP_CFG_TX_RING, DP_CFG_IDLE_SLEEP_US, NULL
};

json_t *tune_get(struct agent *ag, struct jsonl_error *e)
{
	json_t *r = NULL;
	char msg[256];
	int code = 0, rc;

	rc = dp_client_call(ag->dp, DP_M_CONFIG_GET, NULL, &r, &code, msg, sizeof(msg));
	if (rc < 0) {
		agent_dp_error(rc, code, msg, "tune.get", e);
		return NULL;
	}
	json_object_set(r, "persisted", ag->st.tune);
	return r;
}

json_t *tune_set(struct agent *ag, json_t *params, struct jsonl_error *e)
{
	json_t *r = NULL, *v, *next;
	const char *key;
	char msg[512];
	int code = 0, rc;

	if (json_object_size(params) == 0)
		return jsonl_fail(e, AGENT_E_PARAMS, "name at least one of burst, "
				  "rx_ring, tx_ring, idle_sleep_us, poll");
	json_object_foreach(params, key, v) {
		size_t i;

		for (i = 0; scalar_keys[i] && strcmp(scalar_keys[i], key); i++)
			;
		if (scalar_keys[i] != NULL) {
			if (!json_is_integer(v) || json_integer_value(v) < 0)
				return jsonl_fail(e, AGENT_E_PARAMS, "'%s' must be a "
						  "non-negative integer", key);
		} else if (strcmp(key, DP_CFG_POLL) == 0) {
			if (!json_is_object(v))
				return jsonl_fail(e, AGENT_E_PARAMS, "'poll' must be "
						  "an object {port: lcore}");
		} else {
			return jsonl_fail(e, AGENT_E_PARAMS, "unknown tuning key "
					  "'%.64s'", key);
		}
	}
	/* The data plane validates ranges and lcores: it knows them. */
	rc = dp_client_call(ag->dp, DP_M_CONFIG_SET, params, &r, &code, msg,
			    sizeof(msg));
	if (rc < 0) {
		agent_dp_error(rc, code, msg, "tune.set", e);
		return NULL;
	}
	next = json_deep_copy(ag->st.tune);
	json_object_foreach(params, key, v)
		if (strcmp(key, DP_CFG_POLL) != 0)
			json_object_set(next, key, v);
	json_decref(ag->st.tune);
	ag->st.tune = next;
	rc = state_save(&ag->st, msg, sizeof(msg));
	if (rc < 0) {
		json_decref(r);
		return jsonl_fail(e, AGENT_E_STATE, "tune.set: applied but not "
				  "persisted: %s", msg);
	}
	log_info("tuning changed");
	return r;
}
