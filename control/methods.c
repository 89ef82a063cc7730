/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * shuntd's API methods (contract: include/shunt/agent_api.h). Each handler
 * parses its params into an args struct, naming any bad field, and calls
 * one mutator (attach.c, network.c, tune.c).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <shunt/agent_api.h>
#include <shunt/dp_api.h>
#include "agent.h"
#include "params.h"

/* CNI: container ids are letters, digits, '_', '.', '-'. Network names
 * follow the same rule. */
static bool id_ok(const char *s)
{
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '.' && *s != '-')
			return false;
	return true;
}

/* What the kernel takes as an interface name. */
static bool ifname_ok(const char *s)
{
	if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	for (; *s; s++)
		if (*s == '/' || *s == ':' || isspace((unsigned char)*s) ||
		    !isprint((unsigned char)*s))
			return false;
	return true;
}

static int parse_key(json_t *params, char *cid, char *ifname,
		     struct jsonl_error *e)
{
	if (params_str(params, "container_id", true, cid, STATE_CID_LEN, e) < 0 ||
	    params_str(params, "ifname", true, ifname, IF_NAMESIZE, e) < 0)
		return -EINVAL;
	if (!id_ok(cid)) {
		jsonl_fail(e, AGENT_E_PARAMS, "'container_id' may hold letters, "
			   "digits, '_', '.' and '-' only");
		return -EINVAL;
	}
	if (!ifname_ok(ifname)) {
		jsonl_fail(e, AGENT_E_PARAMS, "'ifname': '%s' is not an interface "
			   "name", ifname);
		return -EINVAL;
	}
	return 0;
}

/* An array of "addr/len" (or "addr") strings. */
static int parse_ips(json_t *params, const char *key, bool required,
		     struct ip_prefix *out, unsigned int *n, bool network,
		     struct jsonl_error *e)
{
	json_t *arr = NULL, *v;
	size_t i;
	int rc;

	rc = params_str_array(params, key, required,
			      network ? STATE_MAX_PREFIXES : STATE_MAX_IPS, &arr, e);
	if (rc <= 0)
		return rc;
	json_array_foreach(arr, i, v) {
		const char *s = json_string_value(v);

		if (ipaddr_parse(s, network, &out[i]) < 0) {
			jsonl_fail(e, AGENT_E_PARAMS, "'%s[%zu]': '%.64s' is not an "
				   "%s", key, i, s, network ? "address/length" :
				   "address or address/length");
			return -EINVAL;
		}
		if (network && !ipaddr_is_network(&out[i])) {
			jsonl_fail(e, AGENT_E_PARAMS, "'%s[%zu]': '%.64s' has host "
				   "bits set", key, i, s);
			return -EINVAL;
		}
	}
	*n = (unsigned int)json_array_size(arr);
	return 1;
}

static json_t *m_attach(void *ctx, json_t *params, const struct jsonl_peer *peer,
			struct jsonl_error *e)
{
	static const char *const known[] = { "container_id", "ifname", "netns",
		"network", "mode", "ips", "memif_ips", "mac", "mtu", "filters", NULL };
	struct agent *ag = ctx;
	struct attachment req = { 0 }, *a;
	char mac[32];
	int has_mac, rc;

	(void)peer;
	if (params_only(params, known, e) < 0 ||
	    parse_key(params, req.container_id, req.ifname, e) < 0 ||
	    params_str(params, "netns", true, req.netns, sizeof(req.netns), e) < 0 ||
	    params_str(params, "network", true, req.network, sizeof(req.network), e) < 0 ||
	    params_str(params, "mode", false, req.mode, sizeof(req.mode), e) < 0 ||
	    parse_ips(params, "ips", true, req.ips, &req.n_ips, false, e) < 0 ||
	    parse_ips(params, "memif_ips", false, req.memif_ips, &req.n_memif_ips,
		      false, e) < 0 ||
	    params_uint(params, "mtu", false, 68, 65535, &req.mtu, e) < 0 ||
	    (has_mac = params_str(params, "mac", false, mac, sizeof(mac), e)) < 0)
		return NULL;
	if (req.netns[0] != '/')
		return jsonl_fail(e, AGENT_E_PARAMS, "'netns' must be an absolute path");
	if (has_mac && state_mac_parse(mac, req.mac) < 0)
		return jsonl_fail(e, AGENT_E_PARAMS, "'mac': '%s' is not a unicast "
				  "MAC address", mac);
	if (filter_chains_parse(ag, json_object_get(params, "filters"), req.chains,
				e) < 0)
		return NULL;
	rc = attach_add(ag, &req, has_mac, json_object_get(params, "filters") != NULL,
			&a, e);
	json_decref(req.chains[0]);
	json_decref(req.chains[1]);
	if (rc < 0)
		return NULL;
	/* Only recorded fields: the same request gets the same answer. */
	return state_attachment_to_json(a);
}

static json_t *m_detach(void *ctx, json_t *params, const struct jsonl_peer *peer,
			struct jsonl_error *e)
{
	static const char *const known[] = { "container_id", "ifname", "netns", NULL };
	char cid[STATE_CID_LEN], ifname[IF_NAMESIZE], netns[PATH_MAX];

	(void)peer;
	/* netns is accepted (CNI DEL passes it) but not needed: the
	 * attachment recorded it, and it may be gone anyway. */
	if (params_only(params, known, e) < 0 ||
	    parse_key(params, cid, ifname, e) < 0 ||
	    params_str(params, "netns", false, netns, sizeof(netns), e) < 0)
		return NULL;
	if (attach_del(ctx, cid, ifname, e) < 0)
		return NULL;
	return json_object();
}

static struct attachment *find_att(struct agent *ag, json_t *params,
				   struct jsonl_error *e)
{
	char cid[STATE_CID_LEN], ifname[IF_NAMESIZE];
	struct attachment *a;

	if (parse_key(params, cid, ifname, e) < 0)
		return NULL;
	a = state_attachment_find(&ag->st, cid, ifname);
	if (a == NULL)
		jsonl_fail(e, AGENT_E_NOT_FOUND, "no attachment %s/%s", cid, ifname);
	return a;
}

static json_t *m_check(void *ctx, json_t *params, const struct jsonl_peer *peer,
		       struct jsonl_error *e)
{
	struct attachment *a = find_att(ctx, params, e);

	(void)peer;
	if (a == NULL || attach_check(ctx, a, e) < 0)
		return NULL;
	return json_object();
}

static json_t *m_gc(void *ctx, json_t *params, const struct jsonl_peer *peer,
		    struct jsonl_error *e)
{
	struct agent *ag = ctx;
	json_t *valid = json_object_get(params, "valid"), *v, *removed;
	size_t i;

	(void)peer;
	if (!json_is_array(valid))
		return jsonl_fail(e, AGENT_E_PARAMS, "'valid' must be an array of "
				  "{container_id, ifname}");
	/* All of it is checked before anything is removed. */
	json_array_foreach(valid, i, v) {
		char cid[STATE_CID_LEN], ifname[IF_NAMESIZE];

		if (!json_is_object(v) || parse_key(v, cid, ifname, e) < 0) {
			char inner[sizeof(e->message) - 32];

			snprintf(inner, sizeof(inner), "%.400s", json_is_object(v) ?
				 e->message : "must be an object");
			return jsonl_fail(e, AGENT_E_PARAMS, "'valid[%zu]': %.400s", i, inner);
		}
	}
	removed = json_array();
	for (unsigned int k = ag->st.n_atts; k-- > 0;) {
		struct attachment *a = ag->st.atts[k];
		char cid[STATE_CID_LEN], ifname[IF_NAMESIZE];
		bool keep = false;

		json_array_foreach(valid, i, v)
			if (strcmp(json_string_value(json_object_get(v, "container_id")),
				   a->container_id) == 0 &&
			    strcmp(json_string_value(json_object_get(v, "ifname")),
				   a->ifname) == 0)
				keep = true;
		if (keep)
			continue;
		strcpy(cid, a->container_id);
		strcpy(ifname, a->ifname);
		if (attach_del(ag, cid, ifname, e) < 0) {
			json_decref(removed);
			return NULL;
		}
		json_array_append_new(removed, json_pack("{s:s, s:s}",
			"container_id", cid, "ifname", ifname));
	}
	return json_pack("{s:o}", "removed", removed);
}

static json_t *m_status(void *ctx, json_t *params, const struct jsonl_peer *peer,
			struct jsonl_error *e)
{
	struct agent *ag = ctx;
	unsigned int count[3] = { 0, 0, 0 };
	json_t *r;

	(void)params; (void)peer; (void)e;
	for (unsigned int i = 0; i < ag->st.n_atts; i++)
		count[ag->st.atts[i]->state]++;
	r = json_pack("{s:s, s:i, s:I, s:s, s:i, s:{s:b, s:s, s:O?, s:i, s:o},"
			 " s:{s:i, s:i, s:i, s:i}, s:i, s:i}",
		"version", AGENT_VERSION, "api", AGENT_API_VERSION,
		"uptime_ms", (json_int_t)(agent_now_ms() - ag->started_ms),
		"state_dir", ag->st.dir, "state_saves", (int)ag->st.saves,
		"dataplane",
		"connected", dp_client_connected(ag->dp),
		"socket", dp_client_path(ag->dp),
		"version", dp_client_version(ag->dp),
		"connects", (int)dp_client_connects(ag->dp),
		"reconcile", reconcile_status(ag),
		"attachments",
		"total", (int)ag->st.n_atts, "ready", (int)count[ATT_READY],
		"pending", (int)count[ATT_PENDING],
		"detaching", (int)count[ATT_DETACHING],
		"networks", (int)ag->st.n_nets,
		"clients", (int)jsonl_server_clients(ag->srv));
	json_object_set_new(r, "uplinks", json_integer(ag->st.n_uplinks));
	json_object_set_new(r, "peers", json_integer(ag->st.n_peers));
	return r;
}

static json_t *m_attachment_list(void *ctx, json_t *params,
				 const struct jsonl_peer *peer, struct jsonl_error *e)
{
	struct agent *ag = ctx;
	char net[STATE_NAME_LEN];
	json_t *a = json_array();
	int has;

	(void)peer;
	has = params_str(params, "network", false, net, sizeof(net), e);
	if (has < 0) {
		json_decref(a);
		return NULL;
	}
	for (unsigned int i = 0; i < ag->st.n_atts; i++)
		if (!has || strcmp(ag->st.atts[i]->network, net) == 0)
			json_array_append_new(a, attach_to_json(ag->st.atts[i]));
	return json_pack("{s:o}", "attachments", a);
}

static json_t *m_attachment_show(void *ctx, json_t *params,
				 const struct jsonl_peer *peer, struct jsonl_error *e)
{
	struct agent *ag = ctx;
	struct attachment *a = find_att(ag, params, e);
	json_t *o, *r = NULL, *ports, *p;
	char msg[256];
	int code;
	size_t i;

	(void)peer;
	if (a == NULL)
		return NULL;
	o = attach_to_json(a);
	ports = json_array();
	/* The live view, when there is one. */
	if (dp_client_call(ag->dp, DP_M_PORT_LIST, NULL, &r, &code, msg,
			   sizeof(msg)) == 0)
		json_array_foreach(json_object_get(r, "ports"), i, p) {
			const char *name = json_string_value(json_object_get(p, "name"));

			if (name && ((a->veth_port[0] && !strcmp(name, a->veth_port)) ||
				     (a->memif_port[0] && !strcmp(name, a->memif_port))))
				json_array_append(ports, p);
		}
	json_decref(r);
	json_object_set_new(o, "ports", ports);
	return o;
}

static json_t *m_network_create(void *ctx, json_t *params,
				const struct jsonl_peer *peer, struct jsonl_error *e)
{
	static const char *const known[] = { "name", "prefixes", "mtu", "mode", NULL };
	struct network req = { .mtu = 1500 }, *n;

	(void)peer;
	snprintf(req.mode, sizeof(req.mode), "%s", AGENT_MODE_VETH);
	if (params_only(params, known, e) < 0 ||
	    params_str(params, "name", true, req.name, sizeof(req.name), e) < 0 ||
	    parse_ips(params, "prefixes", true, req.prefixes, &req.n_prefixes, true,
		      e) < 0 ||
	    params_uint(params, "mtu", false, 68, 65535, &req.mtu, e) < 0 ||
	    params_str(params, "mode", false, req.mode, sizeof(req.mode), e) < 0)
		return NULL;
	if (!id_ok(req.name))
		return jsonl_fail(e, AGENT_E_PARAMS, "'name' may hold letters, digits, "
				  "'_', '.' and '-' only");
	if (req.n_prefixes == 0)
		return jsonl_fail(e, AGENT_E_PARAMS, "'prefixes' must list at least "
				  "one prefix");
	if (network_create(ctx, &req, &n, e) < 0)
		return NULL;
	return state_network_to_json(n);
}

static json_t *m_network_delete(void *ctx, json_t *params,
				const struct jsonl_peer *peer, struct jsonl_error *e)
{
	char name[STATE_NAME_LEN];

	(void)peer;
	if (params_str(params, "name", true, name, sizeof(name), e) < 0 ||
	    network_delete(ctx, name, e) < 0)
		return NULL;
	return json_object();
}

static json_t *m_network_list(void *ctx, json_t *params,
			      const struct jsonl_peer *peer, struct jsonl_error *e)
{
	struct agent *ag = ctx;
	json_t *a = json_array();

	(void)params; (void)peer; (void)e;
	for (unsigned int i = 0; i < ag->st.n_nets; i++) {
		json_t *o = state_network_to_json(ag->st.nets[i]);
		int n = 0;

		for (unsigned int k = 0; k < ag->st.n_atts; k++)
			n += strcmp(ag->st.atts[k]->network, ag->st.nets[i]->name) == 0;
		json_object_set_new(o, "attachments", json_integer(n));
		json_array_append_new(a, o);
	}
	return json_pack("{s:o}", "networks", a);
}

/* A data plane list, each entry with its owner: the attachment whose
 * port entry[name_key] is. */
static json_t *dp_list(struct agent *ag, const char *method, const char *key,
		       const char *name_key, struct jsonl_error *e)
{
	json_t *r = NULL, *o;
	char msg[256];
	int code = 0, rc;
	size_t i;

	rc = dp_client_call(ag->dp, method, NULL, &r, &code, msg, sizeof(msg));
	if (rc < 0) {
		agent_dp_error(rc, code, msg, method, e);
		return NULL;
	}
	json_array_foreach(json_object_get(r, key), i, o) {
		const char *name = json_string_value(json_object_get(o, name_key));
		struct attachment *a = name ? attach_by_port(ag, name) : NULL;
		char owner[STATE_CID_LEN + IF_NAMESIZE + 2];

		if (a == NULL)
			continue;
		snprintf(owner, sizeof(owner), "%s/%s", a->container_id, a->ifname);
		json_object_set_new(o, "owner", json_string(owner));
	}
	return r;
}

static json_t *m_port_list(void *ctx, json_t *params, const struct jsonl_peer *peer,
			   struct jsonl_error *e)
{
	(void)params; (void)peer;
	return dp_list(ctx, DP_M_PORT_LIST, "ports", "name", e);
}

static json_t *m_route_list(void *ctx, json_t *params, const struct jsonl_peer *peer,
			    struct jsonl_error *e)
{
	(void)params; (void)peer;
	return dp_list(ctx, DP_M_ROUTE_LIST, "routes", "port", e);
}

static json_t *m_stats(void *ctx, json_t *params, const struct jsonl_peer *peer,
		       struct jsonl_error *e)
{
	static const char *const known[] = { "container_id", "ifname", NULL };
	struct attachment *a = NULL;

	(void)peer;
	if (params_only(params, known, e) < 0)
		return NULL;
	if (json_object_size(params) > 0) {
		a = find_att(ctx, params, e);
		if (a == NULL)
			return NULL;
	}
	return stats_get(ctx, a, e);
}

static json_t *m_tune_get(void *ctx, json_t *params, const struct jsonl_peer *peer,
			  struct jsonl_error *e)
{
	(void)params; (void)peer;
	return tune_get(ctx, e);
}

static json_t *m_tune_set(void *ctx, json_t *params, const struct jsonl_peer *peer,
			  struct jsonl_error *e)
{
	(void)peer;
	return tune_set(ctx, params, e);
}

/* --- filters ---------------------------------------------------------------- */

static json_t *m_filter_load(void *ctx, json_t *params,
			     const struct jsonl_peer *peer, struct jsonl_error *e)
{
	static const char *const known[] = { "name", "path", NULL };
	struct filter_def d = { 0 };

	(void)peer;
	if (params_only(params, known, e) < 0 ||
	    params_str(params, "name", true, d.name, sizeof(d.name), e) < 0 ||
	    params_str(params, "path", true, d.path, sizeof(d.path), e) < 0)
		return NULL;
	if (!id_ok(d.name))
		return jsonl_fail(e, AGENT_E_PARAMS, "'name' may hold letters, digits, "
				  "'_', '.' and '-' only");
	if (d.path[0] != '/')
		return jsonl_fail(e, AGENT_E_PARAMS, "'path': '%.300s' is not an "
				  "absolute path", d.path);
	if (filter_load(ctx, &d, e) < 0)
		return NULL;
	return json_pack("{s:s, s:s}", "name", d.name, "path", d.path);
}

static json_t *m_filter_unload(void *ctx, json_t *params,
			       const struct jsonl_peer *peer, struct jsonl_error *e)
{
	static const char *const known[] = { "name", NULL };
	char name[STATE_PORT_LEN];

	(void)peer;
	if (params_only(params, known, e) < 0 ||
	    params_str(params, "name", true, name, sizeof(name), e) < 0 ||
	    filter_unload(ctx, name, e) < 0)
		return NULL;
	return json_object();
}

/* container_id, ifname, dir: the attachment and direction. */
static struct attachment *parse_chain_key(struct agent *ag, json_t *params,
					  const char *const *known,
					  enum filter_dir *d, struct jsonl_error *e)
{
	char dir[16];
	int rc;

	if (params_only(params, known, e) < 0 ||
	    params_str(params, "dir", true, dir, sizeof(dir), e) < 0)
		return NULL;
	rc = state_dir_parse(dir);
	if (rc < 0) {
		jsonl_fail(e, AGENT_E_PARAMS, "'dir': '%s' is not from_pod or to_pod",
			   dir);
		return NULL;
	}
	*d = (enum filter_dir)rc;
	return find_att(ag, params, e);
}

static json_t *m_filter_attach(void *ctx, json_t *params,
			       const struct jsonl_peer *peer, struct jsonl_error *e)
{
	static const char *const known[] = { "container_id", "ifname", "dir",
		"filters", NULL };
	json_t *chain;
	struct attachment *a;
	enum filter_dir d;
	int rc;

	(void)peer;
	a = parse_chain_key(ctx, params, known, &d, e);
	if (a == NULL || filter_chain_check(ctx, json_object_get(params, "filters"),
					    "filters", e) < 0)
		return NULL;
	chain = json_deep_copy(json_object_get(params, "filters"));
	rc = filter_attach(ctx, a, d, chain, e);
	json_decref(chain);
	return rc < 0 ? NULL : json_object();
}

static json_t *m_filter_detach(void *ctx, json_t *params,
			       const struct jsonl_peer *peer, struct jsonl_error *e)
{
	static const char *const known[] = { "container_id", "ifname", "dir", NULL };
	struct attachment *a;
	enum filter_dir d;

	(void)peer;
	a = parse_chain_key(ctx, params, known, &d, e);
	if (a == NULL)
		return NULL;
	if (a->chains[d] == NULL)
		return json_object();  /* idempotent */
	if (filter_attach(ctx, a, d, NULL, e) < 0)
		return NULL;
	return json_object();
}

static json_t *m_filter_rules(void *ctx, json_t *params,
			      const struct jsonl_peer *peer, struct jsonl_error *e)
{
	static const char *const known[] = { "container_id", "ifname", "dir",
		"index", "rules", NULL };
	json_t *rules = json_object_get(params, "rules");
	struct attachment *a;
	enum filter_dir d;
	uint32_t index = 0;

	(void)peer;
	a = parse_chain_key(ctx, params, known, &d, e);
	if (a == NULL ||
	    params_uint(params, "index", false, 0, STATE_CHAIN_MAX - 1, &index, e) < 0)
		return NULL;
	if (!json_is_object(rules))
		return jsonl_fail(e, AGENT_E_PARAMS, "'rules' must be an object "
				  "{default, [malformed], rules: [...]}");
	if (filter_rules(ctx, a, d, index, rules, e) < 0)
		return NULL;
	return json_object();
}

static json_t *m_filter_list(void *ctx, json_t *params,
			     const struct jsonl_peer *peer, struct jsonl_error *e)
{
	(void)params; (void)peer;
	return filter_list(ctx, e);
}

/* --- uplinks and peers ------------------------------------------------------ */

/* Names shuntd gives pod ports: an uplink may not take one. */
static bool pod_port_name(const char *s)
{
	if (strlen(s) != 12 || s[0] != 's' || (s[1] != 'h' && s[1] != 'm'))
		return false;
	for (s += 2; *s; s++)
		if (!isxdigit((unsigned char)*s) || isupper((unsigned char)*s))
			return false;
	return true;
}

static json_t *m_uplink_set(void *ctx, json_t *params,
			    const struct jsonl_peer *peer, struct jsonl_error *e)
{
	static const char *const known[] = { "name", "kind", "devargs", "ips",
		"prefixes", NULL };
	struct uplink req = { 0 };
	json_t *arr, *v;
	size_t i;
	bool ib;

	(void)peer;
	if (params_only(params, known, e) < 0 ||
	    params_str(params, "name", true, req.name, sizeof(req.name), e) < 0 ||
	    params_str(params, "kind", false, req.kind, sizeof(req.kind), e) < 0 ||
	    params_str(params, "devargs", true, req.devargs, sizeof(req.devargs), e) < 0)
		return NULL;
	if (req.kind[0] && strcmp(req.kind, STATE_UPLINK_ETH) != 0 &&
	    strcmp(req.kind, STATE_UPLINK_IB) != 0)
		return jsonl_fail(e, AGENT_E_PARAMS, "'kind': '%s' is not eth or ib",
				  req.kind);
	ib = strcmp(req.kind, STATE_UPLINK_IB) == 0;
	if (!ib)
		req.kind[0] = '\0';  /* eth is the default, stored as such */
	if (ib && json_object_get(params, "ips") != NULL)
		return jsonl_fail(e, AGENT_E_PARAMS, "'ips' does not apply to an ib "
				  "uplink (it answers no ARP/ND)");
	if (!ib && json_object_get(params, "prefixes") != NULL)
		return jsonl_fail(e, AGENT_E_PARAMS, "'prefixes' applies to ib uplinks "
				  "(the partition's address space)");
	if (ib && parse_ips(params, "prefixes", true, req.nets, &req.n_nets, true,
			    e) < 0)
		return NULL;
	if (ib && req.n_nets == 0)
		return jsonl_fail(e, AGENT_E_PARAMS, "'prefixes' must list the "
				  "partition's address space (the network's pod "
				  "prefixes on every node)");
	if (!ib && params_str_array(params, "ips", true, STATE_MAX_IPS, &arr, e) < 0)
		return NULL;
	if (!id_ok(req.name) || pod_port_name(req.name))
		return jsonl_fail(e, AGENT_E_PARAMS, "'name': '%s' must hold letters, "
				  "digits, '_', '.' and '-' only, and not be a pod "
				  "port's name (sh or sm + 10 hex digits)", req.name);
	if (ib)
		goto set;
	if (json_array_size(arr) == 0)
		return jsonl_fail(e, AGENT_E_PARAMS, "'ips' must list at least one "
				  "address (the uplink's own)");
	json_array_foreach(arr, i, v) {
		const char *s = json_string_value(v);
		unsigned int fam = 0;

		if (strchr(s, '/') != NULL || ipaddr_parse(s, false, &req.ips[i]) < 0)
			return jsonl_fail(e, AGENT_E_PARAMS, "'ips[%zu]': '%.64s' is not "
					  "an address (no /length)", i, s);
		for (size_t k = 0; k <= i; k++)
			fam += req.ips[k].family == req.ips[i].family;
		if (fam > STATE_MAX_FAMILY_IPS)
			return jsonl_fail(e, AGENT_E_PARAMS, "'ips[%zu]': at most %d "
					  "addresses per family", i, STATE_MAX_FAMILY_IPS);
	}
	req.n_ips = (unsigned int)json_array_size(arr);
set:
	if (uplink_set(ctx, &req, e) < 0)
		return NULL;
	return state_uplink_to_json(&req);
}

static json_t *m_uplink_del(void *ctx, json_t *params,
			    const struct jsonl_peer *peer, struct jsonl_error *e)
{
	static const char *const known[] = { "name", NULL };
	char name[STATE_PORT_LEN];

	(void)peer;
	if (params_only(params, known, e) < 0 ||
	    params_str(params, "name", true, name, sizeof(name), e) < 0 ||
	    uplink_del(ctx, name, e) < 0)
		return NULL;
	return json_object();
}

static json_t *m_uplink_list(void *ctx, json_t *params,
			     const struct jsonl_peer *peer, struct jsonl_error *e)
{
	(void)params; (void)peer; (void)e;
	return uplink_list(ctx);
}

static int parse_fabric(json_t *f, struct peer *p, struct jsonl_error *e)
{
	static const char *const known[] = { "gid", "qpn", "qkey", "pkey", NULL };
	char gid[INET6_ADDRSTRLEN];
	uint32_t pkey;

	if (!json_is_object(f)) {
		jsonl_fail(e, AGENT_E_PARAMS, "'fabric' must be an object {gid, qpn, "
			   "qkey, pkey}");
		return -EINVAL;
	}
	if (params_only(f, known, e) < 0 ||
	    params_str(f, "gid", true, gid, sizeof(gid), e) < 0 ||
	    params_uint(f, "qpn", true, 0, 0xffffff, &p->fabric.qpn, e) < 0 ||
	    params_uint(f, "qkey", true, 0, UINT32_MAX, &p->fabric.qkey, e) < 0 ||
	    params_uint(f, "pkey", true, 0, 0xffff, &pkey, e) < 0) {
		/* The getters name the inner field: say where it is. */
		char inner[sizeof(e->message) - 16];

		snprintf(inner, sizeof(inner), "%.400s", e->message);
		jsonl_fail(e, AGENT_E_PARAMS, "fabric: %.400s", inner);
		return -EINVAL;
	}
	if (inet_pton(AF_INET6, gid, p->fabric.gid) != 1) {
		jsonl_fail(e, AGENT_E_PARAMS, "'fabric.gid': '%s' is not a GID (16 "
			   "bytes in IPv6 form, e.g. fe80::1)", gid);
		return -EINVAL;
	}
	/* QP0 and QP1 are the subnet manager's and the GSI's. */
	if (p->fabric.qpn < 2) {
		jsonl_fail(e, AGENT_E_PARAMS, "'fabric.qpn': %u is reserved (QP0/QP1); "
			   "a UD QP number is 2 to 16777215", p->fabric.qpn);
		return -EINVAL;
	}
	/* A P_Key whose low 15 bits are 0 is the invalid partition. */
	if ((pkey & 0x7fff) == 0) {
		jsonl_fail(e, AGENT_E_PARAMS, "'fabric.pkey': 0x%04x is the invalid "
			   "P_Key", pkey);
		return -EINVAL;
	}
	p->fabric.pkey = (uint16_t)pkey;
	p->has_fabric = true;
	return 0;
}

static json_t *m_peer_add(void *ctx, json_t *params,
			  const struct jsonl_peer *peer, struct jsonl_error *e)
{
	static const char *const known[] = { "name", "uplink", "address",
		"prefixes", "fabric", NULL };
	struct peer req = { 0 };
	char addr[IPADDR_STRLEN] = "";
	json_t *f = json_object_get(params, "fabric");

	(void)peer;
	if (params_only(params, known, e) < 0 ||
	    params_str(params, "name", true, req.name, sizeof(req.name), e) < 0 ||
	    params_str(params, "uplink", true, req.uplink, sizeof(req.uplink), e) < 0 ||
	    params_str(params, "address", false, addr, sizeof(addr), e) < 0 ||
	    parse_ips(params, "prefixes", true, req.prefixes, &req.n_prefixes, true,
		      e) < 0)
		return NULL;
	if (!id_ok(req.name))
		return jsonl_fail(e, AGENT_E_PARAMS, "'name' may hold letters, digits, "
				  "'_', '.' and '-' only");
	/* Absent: a peer on an ib uplink (peer_add checks the uplink). */
	if (addr[0] && (strchr(addr, '/') != NULL ||
			ipaddr_parse(addr, false, &req.address) < 0))
		return jsonl_fail(e, AGENT_E_PARAMS, "'address': '%s' is not an IPv4 "
				  "or IPv6 address (no /length)", addr);
	if (req.n_prefixes == 0)
		return jsonl_fail(e, AGENT_E_PARAMS, "'prefixes' must list at least "
				  "one prefix");
	if (f != NULL && parse_fabric(f, &req, e) < 0)
		return NULL;
	if (peer_add(ctx, &req, e) < 0)
		return NULL;
	return state_peer_to_json(&req);
}

static json_t *m_peer_del(void *ctx, json_t *params,
			  const struct jsonl_peer *peer, struct jsonl_error *e)
{
	static const char *const known[] = { "name", NULL };
	char name[STATE_NAME_LEN];

	(void)peer;
	if (params_only(params, known, e) < 0 ||
	    params_str(params, "name", true, name, sizeof(name), e) < 0 ||
	    peer_del(ctx, name, e) < 0)
		return NULL;
	return json_object();
}

static json_t *m_peer_list(void *ctx, json_t *params,
			   const struct jsonl_peer *peer, struct jsonl_error *e)
{
	(void)params; (void)peer; (void)e;
	return peer_list(ctx);
}

const struct jsonl_method agent_methods[] = {
	{ AGENT_M_ATTACH, JSONL_MUTATES, m_attach },
	{ AGENT_M_DETACH, JSONL_MUTATES, m_detach },
	{ AGENT_M_CHECK, 0, m_check },
	{ AGENT_M_GC, JSONL_MUTATES, m_gc },
	{ AGENT_M_STATUS, 0, m_status },
	{ AGENT_M_ATTACHMENT_LIST, 0, m_attachment_list },
	{ AGENT_M_ATTACHMENT_SHOW, 0, m_attachment_show },
	{ AGENT_M_NETWORK_CREATE, JSONL_MUTATES, m_network_create },
	{ AGENT_M_NETWORK_DELETE, JSONL_MUTATES, m_network_delete },
	{ AGENT_M_NETWORK_LIST, 0, m_network_list },
	{ AGENT_M_PORT_LIST, 0, m_port_list },
	{ AGENT_M_ROUTE_LIST, 0, m_route_list },
	{ AGENT_M_STATS, 0, m_stats },
	{ AGENT_M_TUNE_GET, 0, m_tune_get },
	{ AGENT_M_TUNE_SET, JSONL_MUTATES, m_tune_set },
	{ AGENT_M_FILTER_LOAD, JSONL_MUTATES, m_filter_load },
	{ AGENT_M_FILTER_UNLOAD, JSONL_MUTATES, m_filter_unload },
	{ AGENT_M_FILTER_ATTACH, JSONL_MUTATES, m_filter_attach },
	{ AGENT_M_FILTER_DETACH, JSONL_MUTATES, m_filter_detach },
	{ AGENT_M_FILTER_RULES, JSONL_MUTATES, m_filter_rules },
	{ AGENT_M_FILTER_LIST, 0, m_filter_list },
	{ AGENT_M_UPLINK_SET, JSONL_MUTATES, m_uplink_set },
	{ AGENT_M_UPLINK_DEL, JSONL_MUTATES, m_uplink_del },
	{ AGENT_M_UPLINK_LIST, 0, m_uplink_list },
	{ AGENT_M_PEER_ADD, JSONL_MUTATES, m_peer_add },
	{ AGENT_M_PEER_DEL, JSONL_MUTATES, m_peer_del },
	{ AGENT_M_PEER_LIST, 0, m_peer_list },
};

const size_t agent_n_methods = sizeof(agent_methods) / sizeof(agent_methods[0]);
