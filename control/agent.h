/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * shuntd's shared context and its mutators (private to control/). The API
 * handlers (methods.c) parse a request into arguments and call one of
 * these; reconciliation (reconcile.c) and start-up recovery call the same
 * ones, so there is one way to make each change.
 *
 * All of it runs on the one thread of the poll loop.
 */
#ifndef SHUNT_AGENT_H
#define SHUNT_AGENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>
#include "dp_client.h"
#include "jsonl_server.h"
#include "state.h"

#define AGENT_VERSION "0.1.0"

struct reconcile_action;

struct reconcile {
	struct reconcile_action *plan;   /* NULL: nothing to do */
	unsigned int n, next;
	uint64_t started_ms;
	/* last completed run, for status */
	unsigned int runs;
	unsigned int added, deleted, failed;
	uint64_t last_ms;                /* its duration */
};

struct agent {
	struct state st;
	struct dp_client *dp;
	struct jsonl_server *srv;
	gid_t group;
	char group_name[64];
	char veth_mode[12];              /* data plane's veth port mode */
	uint64_t started_ms;
	struct reconcile rec;
};

/* attach.c ---------------------------------------------------------------- */

/*
 * Attach a pod. req holds what the client asked (container_id, ifname,
 * netns, network, mode/mtu or empty/0 for the network's defaults, ips,
 * memif_ips, mac if has_mac, chains (borrowed) if has_filters);
 * everything else is derived here. Chains are applied to the ports
 * before the answer. Idempotent.
 * Returns 0 with *out (owned by the state), or -errno with e filled (the
 * message names the failed step; everything done was undone).
 */
int attach_add(struct agent *ag, const struct attachment *req, bool has_mac,
	       bool has_filters, struct attachment **out, struct jsonl_error *e);

/* Detach (container_id, ifname). 0 also when it does not exist. */
int attach_del(struct agent *ag, const char *cid, const char *ifname,
	       struct jsonl_error *e);

/* Returns 0 when every recorded object is there, or -ENOENT with e
 * naming each one that is missing. */
int attach_check(struct agent *ag, struct attachment *a, struct jsonl_error *e);

/* Undo attachments left "pending" or "detaching" by a crash. Data plane
 * ports are left to reconciliation. Returns how many, or -errno. */
int attach_recover(struct agent *ag, char *err, size_t errlen);

/* port.add parameters for an attachment's veth or memif port. */
json_t *attach_port_params(const struct agent *ag, const struct attachment *a,
			   bool memif);

/* The attachment owning data plane port name (any state), or NULL. */
struct attachment *attach_by_port(struct agent *ag, const char *name);

/* The API's view of an attachment (a new reference). */
json_t *attach_to_json(const struct attachment *a);

/* reconcile.c ------------------------------------------------------------- */

/* Compare the data plane with the state and plan the changes. Returns 0
 * or -errno (the connection failed; it is retried). */
int reconcile_start(struct agent *ag);
bool reconcile_busy(const struct agent *ag);
/* Carry out the plan for a slice of time, so API calls are served
 * between slices. */
void reconcile_step(struct agent *ag);
json_t *reconcile_status(const struct agent *ag);

/* network.c --------------------------------------------------------------- */

/* Create (idempotent: the same again is fine) or delete a network. */
int network_create(struct agent *ag, const struct network *req,
		   struct network **out, struct jsonl_error *e);
int network_delete(struct agent *ag, const char *name, struct jsonl_error *e);
/* Validate a mode name: veth, memif, veth+memif. */
bool network_mode_ok(const char *mode);

/* peer.c ------------------------------------------------------------------ */

/* Set (create, or replace: the port is re-added with its peers' routes)
 * or delete an uplink; -EBUSY while a peer uses it. 0 or -errno with e
 * filled (the data plane's refusal quoted). */
int uplink_set(struct agent *ag, const struct uplink *req, struct jsonl_error *e);
int uplink_del(struct agent *ag, const char *name, struct jsonl_error *e);
/* uplink.list's result: the state with the data plane's view (new ref). */
json_t *uplink_list(struct agent *ag);
/* Add (idempotent for the same parameters) or delete a peer and its
 * routes. Prefixes overlapping another peer's or a network's, or not of
 * the address's family, are refused naming the field. 0 or -errno. */
int peer_add(struct agent *ag, const struct peer *req, struct jsonl_error *e);
int peer_del(struct agent *ag, const char *name, struct jsonl_error *e);
/* peer.list's result: per prefix whether the route is in the data plane
 * and installed, and the next hop's neighbour state (new ref). */
json_t *peer_list(struct agent *ag);
/* port.add / route.add parameters (new references). */
json_t *uplink_port_params(const struct uplink *u);
json_t *peer_route_params(const struct peer *p, const struct ip_prefix *pfx);
/* A route.list element routes to p as the state says (port and via, or
 * port and peer on an ib uplink). */
bool peer_route_matches(const struct peer *p, json_t *rt);
/* route.add of one peer prefix, replacing a route of that prefix.
 * dp_client_call's returns, with *code and msg. */
int peer_route_push(struct agent *ag, const struct peer *p,
		    const struct ip_prefix *pfx, int *code, char *msg, size_t len);
/* -EEXIST with msg ("overlaps 10.0.0.0/8 of peer 'x'") when pfx overlaps a
 * prefix of a peer other than self, or (networks) of a network; else 0. */
int peer_prefix_conflict(struct agent *ag, const struct ip_prefix *pfx,
			 const char *self, bool networks, char *msg, size_t len);

/* tune.c ------------------------------------------------------------------ */

/* The data plane's config (a new reference) or NULL with e filled. */
json_t *tune_get(struct agent *ag, struct jsonl_error *e);
/* Validate, apply to the data plane, persist the scalar keys. */
json_t *tune_set(struct agent *ag, json_t *params, struct jsonl_error *e);

/* filter.c ---------------------------------------------------------------- */

/* Load a filter (absolute path to an eBPF ELF file) into the data plane
 * and record it. Idempotent for the same name and path. 0 or -errno with
 * e filled. */
int filter_load(struct agent *ag, const struct filter_def *d,
		struct jsonl_error *e);
/* Unload a filter; -EBUSY (AGENT_E_BUSY) while a chain uses it. */
int filter_unload(struct agent *ag, const char *name, struct jsonl_error *e);
/* Loaded filters and every attachment's chains, joined with the data
 * plane's filter.list by port (a new reference), or NULL with e. */
json_t *filter_list(struct agent *ag, struct jsonl_error *e);

/*
 * Check a chain from the API ("filters" of filter.attach, or of one
 * attach "filters" entry): 1 to STATE_CHAIN_MAX objects with only the
 * keys filter, rules, rate, watch_drops, each naming a loaded filter.
 * field prefixes the field names in errors. Returns 0 or -EINVAL.
 */
int filter_chain_check(struct agent *ag, json_t *chain, const char *field,
		       struct jsonl_error *e);
/* Parse attach's "filters" ([{dir, filters}]) into chains[2] (new
 * references). 0 or -EINVAL with e naming the field. */
int filter_chains_parse(struct agent *ag, json_t *arr, json_t *chains[2],
			struct jsonl_error *e);

/* Replace (chain != NULL) or remove the chain of one direction on
 * an attachment, applied to its ports, then persisted. */
int filter_attach(struct agent *ag, struct attachment *a, enum filter_dir d,
		  json_t *chain, struct jsonl_error *e);
/* Replace the rules of element index of a chain without a reload. */
int filter_rules(struct agent *ag, struct attachment *a, enum filter_dir d,
		 unsigned int index, json_t *rules, struct jsonl_error *e);

/* Push an attachment's chains to one of its data plane ports (attach,
 * reconciliation); detach directions without one when clear is set.
 * Returns 0, or -errno with msg naming the direction and the data
 * plane's message. */
int filter_port_apply(struct agent *ag, const struct attachment *a,
		      const char *port, bool clear, char *msg, size_t len);

/* stats.c ----------------------------------------------------------------- */

/*
 * The data plane's per-port counters joined with their owners, and summed
 * per attachment (AGENT_M_STATS's result, a new reference); only one
 * attachment's when only is not NULL. NULL with e filled when the data
 * plane cannot be asked.
 */
json_t *stats_get(struct agent *ag, const struct attachment *only,
		  struct jsonl_error *e);

/* methods.c --------------------------------------------------------------- */

extern const struct jsonl_method agent_methods[];
extern const size_t agent_n_methods;

/* shuntd.c ---------------------------------------------------------------- */

uint64_t agent_now_ms(void);

/* Map a data plane call's failure (dp_client_call) to an API error. */
int agent_dp_error(int rc, int dp_code, const char *msg, const char *what,
		   struct jsonl_error *e);

#endif
