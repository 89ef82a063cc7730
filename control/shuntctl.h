/* SPDX-License-Identifier: BSD-3-Clause */
/* What shuntctl's command files share (private to control/). */
#ifndef SHUNT_SHUNTCTL_H
#define SHUNT_SHUNTCTL_H

#include <stdbool.h>
#include <jansson.h>

/* -j: print the API's JSON instead of tables. */
extern bool ctl_json_out;

/* Call shuntd (params is consumed; NULL for none). Returns the result (a
 * new reference), or NULL after printing the error to stderr. */
json_t *ctl_call(const char *method, json_t *params);

/* Pretty-print r on stdout. */
void ctl_print_json(json_t *r);

/* Print r as JSON under -j; either way, consume it. Returns 0 (the exit
 * status). */
int ctl_done(json_t *r);

/* shuntctl_stats.c: "stats [--watch SECONDS [--count N]] [CID IFNAME]".
 * Returns the exit status (0, 1 on an API error, 2 on bad usage). */
int ctl_stats_cmd(int argc, char **argv);

/* shuntctl_filter.c: "filter VERB ..." (ARGS after the verb). Each
 * returns the exit status (0, 1 on an API error, 2 on bad usage). */
int ctl_filter_load(int argc, char **argv);
int ctl_filter_unload(int argc, char **argv);
int ctl_filter_attach(int argc, char **argv);
int ctl_filter_detach(int argc, char **argv);
int ctl_filter_rules(int argc, char **argv);
int ctl_filter_list(int argc, char **argv);
int ctl_filter_stats(int argc, char **argv);

/* shuntctl_peer.c: "uplink set|del|list", "peer add|del|list" (ARGS after
 * the verb). Each returns the exit status (0, 1, 2 as above). */
int ctl_uplink_set(int argc, char **argv);
int ctl_uplink_del(int argc, char **argv);
int ctl_uplink_list(int argc, char **argv);
int ctl_peer_add(int argc, char **argv);
int ctl_peer_del(int argc, char **argv);
int ctl_peer_list(int argc, char **argv);

#endif
