/* SPDX-License-Identifier: BSD-3-Clause */
/* The CNI plugin's private declarations (spec 1.1, with 0.3.0 to 1.0.0). */
#ifndef SHUNT_CNI_H
#define SHUNT_CNI_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

/* The spec's error codes (SPEC.md, "Error"). */
enum cni_code {
	CNI_E_VERSION = 1,     /* incompatible CNI version */
	CNI_E_FIELD = 2,       /* unsupported field in network configuration */
	CNI_E_UNKNOWN = 3,     /* container unknown or does not exist */
	CNI_E_ENV = 4,         /* invalid necessary environment variables */
	CNI_E_IO = 5,          /* I/O failure */
	CNI_E_DECODE = 6,      /* failed to decode content */
	CNI_E_CONFIG = 7,      /* invalid network config */
	CNI_E_AGAIN = 11,      /* try again later */
	CNI_E_NOT_READY = 50,  /* the plugin is not available */
	CNI_E_DEGRADED = 51,   /* not available; existing pods may be affected */
	CNI_E_AGENT = 100,     /* shuntd refused (its message follows) */
	CNI_E_IPAM = 101,      /* the IPAM plugin failed (its message follows) */
};

/* A failure to report: code, message, details. */
struct cni_err {
	int code;
	char msg[512];
	char details[1024];
};

int cni_fail(struct cni_err *e, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The runtime's environment for one call. */
struct cni_env {
	const char *command, *container_id, *netns, *ifname, *args, *path;
};

/* The network configuration, validated. */
struct cni_conf {
	json_t *raw;           /* the whole stdin object (owned) */
	const char *version;   /* cniVersion */
	const char *name;
	const char *mode;      /* veth, memif, veth+memif */
	const char *socket;    /* shuntd's socket */
	const char *ipam_type; /* NULL: no IPAM */
	int mtu;               /* 0: the network's */
	json_t *prev_result;   /* borrowed from raw, or NULL */
	json_t *dns;           /* borrowed, or NULL */
	json_t *filters;       /* owned, or NULL: 'filters' plus the rate
				* limits as policer elements */
};

/* conf.c */
/* The loaded filter that rate limits use (ebpf/policer.c). */
#define CNI_POLICER "policer"
extern const char *const cni_versions[];
int cni_version_index(const char *v);  /* -1: unsupported */
int cni_conf_parse(const char *text, size_t len, bool need_name,
		   struct cni_conf *c, struct cni_err *e);
void cni_conf_free(struct cni_conf *c);

/* ipam.c: run the IPAM plugin with the same stdin and environment. */
int cni_ipam_exec(const struct cni_env *env, const struct cni_conf *c,
		  const char *command, const char *stdin_text, json_t **result,
		  struct cni_err *e);

/* result.c */
json_t *cni_result_build(const struct cni_conf *c, const struct cni_env *env,
			 json_t *ipam, json_t *attachment);

/* agent.c: shuntd calls, and the on-disk DEL queue for when it is down. */
#define CNI_AGENT_TIMEOUT_MS 5000
int cni_agent_call(const char *socket, const char *method, json_t *params,
		   json_t **result, struct cni_err *e);
int cni_delq_push(const char *dir, const struct cni_env *env,
		  const struct cni_conf *c, struct cni_err *e);
void cni_delq_replay(const char *dir, const char *socket);

#endif
