/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A blocking JSON-lines client for short-lived tools (shuntctl, the CNI
 * plugin): connect, call, close. Every call has a deadline, so a stuck
 * server never hangs the tool. Wire format: jsonl_server.h.
 */
#ifndef SHUNT_JSONL_CLIENT_H
#define SHUNT_JSONL_CLIENT_H

#include <stddef.h>
#include <jansson.h>

struct jsonl_client;

/* Connect to path. Returns 0 with *out, or -errno (-ENOENT: no socket,
 * -ECONNREFUSED: nobody listening, -EACCES: the socket's mode). */
int jsonl_client_open(const char *path, unsigned int timeout_ms,
		      struct jsonl_client **out);
void jsonl_client_close(struct jsonl_client *c);

/*
 * Call method with params (borrowed; NULL for {}). Returns 0 with *result
 * (a new reference); -EREMOTEIO when the server answered an error (*code
 * and msg hold it); -ETIMEDOUT, -EPIPE or -EPROTO when the exchange
 * failed (msg says how).
 */
int jsonl_client_call(struct jsonl_client *c, const char *method,
		      json_t *params, json_t **result, int *code, char *msg,
		      size_t msglen);

#endif
