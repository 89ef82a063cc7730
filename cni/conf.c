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
	c->filters = json_object_get(c->raw, "filters");
	if (c->filters != NULL && !json_is_array(c->filters))
		return cni_fail(e, CNI_E_CONFIG, "'filters' must be an array");
	v = json_object_get(c->raw, "rateLimit");
	if (v != NULL && !json_is_object(v))
		return cni_fail(e, CNI_E_CONFIG, "'rateLimit' must be an object");
	return 0;
}

void cni_conf_free(struct cni_conf *c)
{
	json_decref(c->raw);
	c->raw = NULL;
}
