/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The ADD result, in the format of the configuration's cniVersion: 0.3.x
 * and 0.4.0 tag each IP with "version"; 1.x drops it; 1.1.0 adds
 * "socketPath" on interfaces (memif) and "mtu". Chained after another
 * plugin, the result extends that plugin's prevResult.
 */
#include <stdio.h>
#include <string.h>
#include <shunt/agent_api.h>
#include "cni.h"

static bool has_veth(const char *mode)
{
	return strcmp(mode, AGENT_MODE_MEMIF) != 0;
}

json_t *cni_result_build(const struct cni_conf *c, const struct cni_env *env,
			 json_t *ipam, json_t *att)
{
	int vi = cni_version_index(c->version);
	bool v1 = vi >= cni_version_index("1.0.0");
	bool v11 = vi >= cni_version_index("1.1.0");
	json_t *r = c->prev_result ? json_deep_copy(c->prev_result) : json_object();
	json_t *ifs = json_object_get(r, "interfaces"), *ips = json_object_get(r, "ips");
	json_t *routes = json_object_get(r, "routes"), *v;
	const char *mode = json_string_value(json_object_get(att, "mode"));
	size_t i, pod_if, n_pod;
	int memif_if = -1;
	json_t *all;
	const char *mac;
	bool four = false, six = false;

	if (!json_is_array(ifs))
		json_object_set_new(r, "interfaces", ifs = json_array());
	if (!json_is_array(ips))
		json_object_set_new(r, "ips", ips = json_array());
	if (!json_is_array(routes))
		json_object_set_new(r, "routes", routes = json_array());
	json_object_set_new(r, "cniVersion", json_string(c->version));
	if (mode == NULL)
		mode = AGENT_MODE_VETH;

	if (has_veth(mode))
		json_array_append_new(ifs, json_pack("{s:O}", "name",
			json_object_get(att, "host_if")));
	pod_if = json_array_size(ifs);
	if (has_veth(mode)) {
		json_t *o = json_pack("{s:s, s:O, s:s}", "name", env->ifname,
			"mac", json_object_get(att, "mac"), "sandbox", env->netns);

		if (v11)
			json_object_set(o, "mtu", json_object_get(att, "mtu"));
		json_array_append_new(ifs, o);
	}
	if (strcmp(mode, AGENT_MODE_VETH) != 0) {
		char name[64], sock[128];
		json_t *o;

		snprintf(name, sizeof(name), "%s-memif", env->ifname);
		snprintf(sock, sizeof(sock), "@%s",
			 json_string_value(json_object_get(att, "memif_socket")));
		o = json_pack("{s:s, s:s}", "name", name, "sandbox", env->netns);
		mac = json_string_value(json_object_get(att, "memif_mac"));
		if (mac == NULL || mac[0] == '\0')
			mac = json_string_value(json_object_get(att, "mac"));
		if (mac != NULL && mac[0])
			json_object_set_new(o, "mac", json_string(mac));
		if (v11)
			json_object_set_new(o, "socketPath", json_string(sock));
		if (!has_veth(mode))
			pod_if = json_array_size(ifs);
		else
			memif_if = (int)json_array_size(ifs);
		json_array_append_new(ifs, o);
	}
	/* The pod's addresses as configured: /32 and /128, routed model. */
	n_pod = json_array_size(json_object_get(att, "ips"));
	all = json_deep_copy(json_object_get(att, "ips") ?: json_array());
	if (memif_if >= 0)
		json_array_extend(all, json_object_get(att, "memif_ips"));
	json_array_foreach(all, i, v) {
		const char *a = json_string_value(v);
		bool is6 = a != NULL && strchr(a, ':') != NULL;
		json_t *o = json_pack("{s:s?, s:s, s:i}", "address", a,
			"gateway", is6 ? AGENT_GW6 : AGENT_GW4,
			"interface", i < n_pod ? (int)pod_if : memif_if);

		if (a == NULL) {
			json_decref(o);
			continue;
		}
		if (!v1)
			json_object_set_new(o, "version", json_string(is6 ? "6" : "4"));
		json_array_append_new(ips, o);
		four |= !is6;
		six |= is6;
	}
	json_decref(all);
	if (four)
		json_array_append_new(routes, json_pack("{s:s, s:s}", "dst",
			"0.0.0.0/0", "gw", AGENT_GW4));
	if (six)
		json_array_append_new(routes, json_pack("{s:s, s:s}", "dst", "::/0",
			"gw", AGENT_GW6));
	/* DNS: the configuration's, else what IPAM said, else the chain's. */
	if (c->dns != NULL)
		json_object_set(r, "dns", c->dns);
	else if (json_is_object(json_object_get(ipam, "dns")))
		json_object_set(r, "dns", json_object_get(ipam, "dns"));
	else if (json_object_get(r, "dns") == NULL)
		json_object_set_new(r, "dns", json_object());
	return r;
}
