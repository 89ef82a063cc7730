/* SPDX-License-Identifier: BSD-3-Clause */
/* Network configuration: decode, check versions, validate every key. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <shunt/agent_api.h>
#include "cni.h"

const char *const cni_versions[] = { "0.3.0", "0.3.1", "0.4.0", "1.0.0",
				     "1.1.0", NULL };

int cni_fail(struct cni_err *e, int code, const char *fmt, ...)
{
	va_list ap;

	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -code;
}

int cni_version_index(const char *v)
{
	for (int i = 0; v != NULL && cni_versions[i]; i++)
		if (strcmp(cni_versions[i], v) == 0)
			return i;
	return -1;
}

static int opt_string(json_t *o, const char *key, const char **out,
		      struct cni_err *e)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL)
		return 0;
	if (!json_is_string(v) || json_string_length(v) == 0)
		return cni_fail(e, CNI_E_CONFIG, "'%s' must be a non-empty string", key);
	*out = json_string_value(v);
	return 1;
}

/*
 * Rate limits: 'rateLimit' in the configuration, overridden by the
 * runtime's 'runtimeConfig.bandwidth' (the "bandwidth" capability that
 * Kubernetes fills from the pod's annotations). Both use the bandwidth
 * plugin's fields: ingressRate/egressRate in bits/s with their bursts in
 * bits. Debian's bandwidth plugin shapes the host veth with tc, which the
 * data plane's AF_XDP socket bypasses; here they become the data plane's
 * policer filter, egress on the pod's from_pod chain, ingress on to_pod.
 */
static int rate_pair(json_t *o, const char *where, const char *rate_key,
		     const char *burst_key, json_int_t *rate, json_int_t *burst,
		     struct cni_err *e)
{
	json_t *r = json_object_get(o, rate_key), *b = json_object_get(o, burst_key);

	if (r == NULL && b == NULL)
		return 0;
	if (!json_is_integer(r) || json_integer_value(r) <= 0)
		return cni_fail(e, CNI_E_CONFIG, "'%s.%s' must be a positive integer "
				"(bits/s)", where, rate_key);
	if (!json_is_integer(b) || json_integer_value(b) <= 0)
		return cni_fail(e, CNI_E_CONFIG, "'%s.%s' must be a positive integer "
				"(bits) when '%s' is set", where, burst_key, rate_key);
	*rate = json_integer_value(r);
	*burst = json_integer_value(b);
	return 1;
}

static int rate_chain_add(struct cni_conf *c, const char *dir, json_int_t rate,
			  json_int_t burst)
{
	json_t *el = json_pack("{s:s, s:{s:I, s:I}}", "filter", CNI_POLICER,
			       "rate", "bytes_per_s", rate / 8 ? rate / 8 : 1,
			       "burst", burst / 8 ? burst / 8 : 1), *v;
	size_t i;

	if (c->filters == NULL)
		c->filters = json_array();
	json_array_foreach(c->filters, i, v)
		if (strcmp(json_string_value(json_object_get(v, "dir")) ?: "", dir) == 0 &&
		    json_is_array(json_object_get(v, "filters")))
			return json_array_append_new(json_object_get(v, "filters"), el);
	return json_array_append_new(c->filters, json_pack("{s:s, s:[o]}", "dir", dir,
							    "filters", el));
}

static int rate_limits(struct cni_conf *c, struct cni_err *e)
{
	json_t *rl = json_object_get(c->raw, "rateLimit");
	json_t *bw = json_object_get(json_object_get(c->raw, "runtimeConfig"), "bandwidth");
	const char *where = "rateLimit";
	json_int_t ir = 0, ib = 0, er = 0, eb = 0;
	int in, out;

	if (rl != NULL && !json_is_object(rl))
		return cni_fail(e, CNI_E_CONFIG, "'rateLimit' must be an object");
	if (bw != NULL && !json_is_object(bw))
		return cni_fail(e, CNI_E_CONFIG, "'runtimeConfig.bandwidth' must be "
				"an object");
	if (bw != NULL) {
		rl = bw;
		where = "runtimeConfig.bandwidth";
	}
	if (rl == NULL)
		return 0;
	in = rate_pair(rl, where, "ingressRate", "ingressBurst", &ir, &ib, e);
	if (in < 0)
		return in;
	out = rate_pair(rl, where, "egressRate", "egressBurst", &er, &eb, e);
	if (out < 0)
		return out;
	if ((in && rate_chain_add(c, "to_pod", ir, ib) < 0) ||
	    (out && rate_chain_add(c, "from_pod", er, eb) < 0))
		return cni_fail(e, CNI_E_CONFIG, "rate limits: out of memory");
	return 0;
}

int cni_conf_parse(const char *text, size_t len, bool need_name,
		   struct cni_conf *c, struct cni_err *e)
{
	json_error_t jerr;
	json_t *ipam, *v;
	int rc;

	memset(c, 0, sizeof(*c));
	c->raw = json_loadb(text, len, 0, &jerr);
	if (c->raw == NULL || !json_is_object(c->raw))
		return cni_fail(e, CNI_E_DECODE, "network configuration is not a JSON "
				"object: %s (line %d, column %d)",
				c->raw ? "not an object" : jerr.text, jerr.line, jerr.column);
	if ((rc = opt_string(c->raw, "cniVersion", &c->version, e)) <= 0)
		return rc < 0 ? rc : cni_fail(e, CNI_E_CONFIG, "'cniVersion' is required");
	if (cni_version_index(c->version) < 0)
		return cni_fail(e, CNI_E_VERSION, "cniVersion '%s' is not supported "
				"(0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0)", c->version);
	if ((rc = opt_string(c->raw, "name", &c->name, e)) < 0)
		return rc;
	if (need_name && c->name == NULL)
		return cni_fail(e, CNI_E_CONFIG, "'name' is required");
	if ((rc = opt_string(c->raw, "type", &c->mode, e)) < 0)
		return rc;
	if (need_name && (c->mode == NULL || strcmp(c->mode, "shunt") != 0))
		return cni_fail(e, CNI_E_CONFIG, "'type' is '%s', not 'shunt'",
				c->mode ? c->mode : "");
	c->mode = NULL;
	if ((rc = opt_string(c->raw, "mode", &c->mode, e)) < 0)
		return rc;
	if (c->mode != NULL && strcmp(c->mode, AGENT_MODE_VETH) &&
	    strcmp(c->mode, AGENT_MODE_MEMIF) && strcmp(c->mode, AGENT_MODE_VETH_MEMIF))
		return cni_fail(e, CNI_E_CONFIG, "'mode' is '%s': expected veth, "
				"memif or veth+memif", c->mode);
	c->socket = AGENT_API_DEFAULT_SOCKET;
	if ((rc = opt_string(c->raw, "socket", &c->socket, e)) < 0)
		return rc;
	if (c->socket[0] != '/')
		return cni_fail(e, CNI_E_CONFIG, "'socket' is '%s': expected an "
				"absolute path", c->socket);
	v = json_object_get(c->raw, "mtu");
	if (v != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 576 ||
		    json_integer_value(v) > 65535)
			return cni_fail(e, CNI_E_CONFIG, "'mtu' must be an integer "
					"from 576 to 65535");
		c->mtu = (int)json_integer_value(v);
	}
	ipam = json_object_get(c->raw, "ipam");
	if (ipam != NULL && !json_is_object(ipam))
		return cni_fail(e, CNI_E_CONFIG, "'ipam' must be an object");
	if (ipam != NULL && json_object_size(ipam) != 0) {
		if ((rc = opt_string(ipam, "type", &c->ipam_type, e)) < 0)
			return rc;
		if (c->ipam_type == NULL)
			return cni_fail(e, CNI_E_CONFIG, "'ipam.type' is required");
		if (strchr(c->ipam_type, '/') != NULL)
			return cni_fail(e, CNI_E_CONFIG, "'ipam.type' '%s' must be a "
					"plugin name, not a path", c->ipam_type);
	}
	c->prev_result = json_object_get(c->raw, "prevResult");
	if (c->prev_result != NULL && !json_is_object(c->prev_result))
		return cni_fail(e, CNI_E_CONFIG, "'prevResult' must be an object");
	c->dns = json_object_get(c->raw, "dns");
	if (c->dns != NULL && !json_is_object(c->dns))
		return cni_fail(e, CNI_E_CONFIG, "'dns' must be an object");
	v = json_object_get(c->raw, "filters");
	if (v != NULL && !json_is_array(v))
		return cni_fail(e, CNI_E_CONFIG, "'filters' must be an array");
	c->filters = v ? json_deep_copy(v) : NULL;
	return rate_limits(c, e);
}

void cni_conf_free(struct cni_conf *c)
{
	json_decref(c->filters);
	c->filters = NULL;
	json_decref(c->raw);
	c->raw = NULL;
}
