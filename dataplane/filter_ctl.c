/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Control channel methods for eBPF filters: a registry of loaded programs
 * by name, and per port and direction the chain of instances built from
 * them (filter.c). Each method parses into locals, naming any bad field,
 * then changes state; a chain is replaced whole and published with RCU.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <shunt/dp_api.h>
#include <shunt_acl.h>
#include "dp.h"
#include "filter.h"
#include "log.h"

#define FILTER_REG_MAX 64

/* What a chain is made of, kept for list/stats/rules (control path). */
struct port_filters {
	unsigned int n;
	struct filter_inst *inst[FILTER_CHAIN_MAX];
	struct filter_table *acl[FILTER_CHAIN_MAX];  /* NULL: no rules */
	char fname[FILTER_CHAIN_MAX][DP_NAME_LEN];
};

static struct {
	char name[DP_NAME_LEN];
	struct filter *f;
} reg[FILTER_REG_MAX];
static unsigned int table_seq;

static const char *const dir_names[2] = { "from_pod", "to_pod" };

#define FAIL(code_, ...) do { *code = (code_); \
	snprintf(err, errlen, __VA_ARGS__); return NULL; } while (0)

static struct filter *reg_find(const char *name)
{
	for (int i = 0; i < FILTER_REG_MAX; i++)
		if (reg[i].f != NULL && strcmp(reg[i].name, name) == 0)
			return reg[i].f;
	return NULL;
}

static const char *str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static int dir_parse(json_t *params, char *err, size_t errlen)
{
	const char *d = str(params, "dir");

	for (int i = 0; d != NULL && i < 2; i++)
		if (strcmp(d, dir_names[i]) == 0)
			return i;
	snprintf(err, errlen, "'dir' must be from_pod or to_pod");
	return -1;
}

json_t *filter_m_load(json_t *params, int *code, char *err, size_t errlen)
{
	const char *name = str(params, "name"), *path = str(params, "path");
	struct filter *f;
	int i, rc;

	if (name == NULL || strlen(name) >= DP_NAME_LEN || !*name)
		FAIL(DP_E_PARAMS, "'name' is required (at most %d bytes)", DP_NAME_LEN - 1);
	if (path == NULL)
		FAIL(DP_E_PARAMS, "'path' (an eBPF ELF file) is required");
	if (reg_find(name) != NULL)
		FAIL(DP_E_EXISTS, "a filter named '%s' is loaded", name);
	for (i = 0; i < FILTER_REG_MAX && reg[i].f != NULL; i++)
		;
	if (i == FILTER_REG_MAX)
		FAIL(DP_E_LIMIT, "%d filters loaded already", FILTER_REG_MAX);
	rc = filter_load(path, name, 0, &f, err, errlen);
	if (rc < 0) {
		*code = rc == -ENOENT ? DP_E_NOT_FOUND : DP_E_PARAMS;
		return NULL;
	}
	if (!filter_is_jit(f))
		log_info("filter %s runs in the interpreter (no JIT)", name);
	snprintf(reg[i].name, sizeof(reg[i].name), "%s", name);
	reg[i].f = f;
	return json_pack("{s:s, s:b, s:i}", "name", name, "jit", filter_is_jit(f),
			 "insns", (int)filter_n_insns(f));
}

json_t *filter_m_unload(json_t *params, int *code, char *err, size_t errlen)
{
	const char *name = str(params, "name");

	for (int i = 0; name != NULL && i < FILTER_REG_MAX; i++)
		if (reg[i].f != NULL && strcmp(reg[i].name, name) == 0) {
			/* Attached instances keep their own reference. */
			filter_put(reg[i].f);
			reg[i].f = NULL;
			return json_object();
		}
	FAIL(DP_E_NOT_FOUND, "no filter named '%s'", name ? name : "");
}

static void pf_free(struct port_filters *pf)
{
	if (pf == NULL)
		return;
	for (unsigned int i = 0; i < pf->n; i++) {
		filter_inst_put(pf->inst[i]);
		if (pf->acl[i] != NULL)
			filter_table_put(pf->acl[i]);
	}
	free(pf);
}

/* Build an ACL table from {"default", "malformed", "rules": [...]}. */
static int acl_build(json_t *spec, struct shunt_acl *acl, char *err, size_t errlen)
{
	json_t *rules = json_object_get(spec, "rules"), *r;
	size_t i;
	int rc;

	if (!json_is_object(spec)) {
		snprintf(err, errlen, "'rules' must be an object {default, rules}");
		return -EINVAL;
	}
	rc = filter_acl_init(acl, str(spec, "default") ? str(spec, "default") : "allow",
			     str(spec, "malformed") ? str(spec, "malformed") : "deny",
			     err, errlen);
	if (rc < 0)
		return rc;
	if (rules != NULL && !json_is_array(rules)) {
		snprintf(err, errlen, "'rules.rules' must be an array");
		return -EINVAL;
	}
	json_array_foreach(rules, i, r) {
		json_t *dp_ = json_object_get(r, "dport");
		struct filter_acl_rule_args a = {
			.action = str(r, "action"), .src = str(r, "src"),
			.dst = str(r, "dst"),
			.family = (int)json_integer_value(json_object_get(r, "family")),
			.proto = (int)json_integer_value(json_object_get(r, "proto")),
			.dport_lo = -1, .dport_hi = -1,
		};
		char e2[256];

		if (json_is_integer(dp_)) {
			a.dport_lo = a.dport_hi = (int)json_integer_value(dp_);
		} else if (json_is_array(dp_) && json_array_size(dp_) == 2) {
			a.dport_lo = (int)json_integer_value(json_array_get(dp_, 0));
			a.dport_hi = (int)json_integer_value(json_array_get(dp_, 1));
		} else if (dp_ != NULL) {
			snprintf(err, errlen, "rules[%zu].dport must be a port or [lo, hi]", i);
			return -EINVAL;
		}
		/* No prefixes and no family: the rule is for both. */
		if (a.src == NULL && a.dst == NULL && a.family == 0) {
			a.family = 4;
			rc = filter_acl_rule_add(acl, &a, e2, sizeof(e2));
			a.family = 6;
		}
		if (rc == 0)
			rc = filter_acl_rule_add(acl, &a, e2, sizeof(e2));
		if (rc < 0) {
			snprintf(err, errlen, "rules[%zu]: %s", i, e2);
			return rc;
		}
	}
	return 0;
}

/* One chain element from {"filter", ["rules"], ["rate"], ["watch_drops"],
 * ["flow_cache"]}. */
static int elem_build(struct port *p, int dir, size_t idx, json_t *e,
		      struct port_filters *pf, unsigned int *flags, char *err,
		      size_t errlen)
{
	const char *fname = str(e, "filter");
	json_t *rules = json_object_get(e, "rules"), *rate = json_object_get(e, "rate");
	struct filter *f = fname ? reg_find(fname) : NULL;
	unsigned int i = pf->n;
	int rc;

	if (f == NULL) {
		snprintf(err, errlen, "filters[%zu]: no loaded filter named '%s'", idx,
			 fname ? fname : "");
		return -ENOENT;
	}
	rc = filter_inst_create(f, &pf->inst[i], err, errlen);
	if (rc < 0)
		return rc;
	pf->n++;
	snprintf(pf->fname[i], sizeof(pf->fname[i]), "%s", fname);
	flags[i] = json_is_true(json_object_get(e, "watch_drops")) ?
		   FILTER_ELEM_WATCH_DROPS : 0;
	if (json_is_false(json_object_get(e, "flow_cache")))
		flags[i] |= FILTER_ELEM_NO_CACHE;
	if (rules != NULL) {
		static struct shunt_acl acl;  /* 4 KiB: not on the stack */
		char tname[64];

		rc = acl_build(rules, &acl, err, errlen);
		if (rc < 0)
			return rc;
		snprintf(tname, sizeof(tname), "acl-%s-%s-%u", p->args.name,
			 dir_names[dir], ++table_seq);
		rc = filter_table_create(tname, FILTER_TABLE_ARRAY, 0, 0, dp.qsbr,
					 &pf->acl[i], err, errlen);
		if (rc == 0)
			rc = filter_table_array_set(pf->acl[i], &acl, sizeof(acl));
		if (rc == 0)
			rc = filter_inst_bind(pf->inst[i], SHUNT_ACL_SLOT, pf->acl[i], dp.qsbr);
		if (rc < 0)
			return rc;
	}
	if (rate != NULL) {
		json_t *b = json_object_get(rate, "bytes_per_s"), *s = json_object_get(rate, "burst");

		if (!json_is_integer(b) || json_integer_value(b) < 0 ||
		    (s != NULL && (!json_is_integer(s) || json_integer_value(s) <= 0))) {
			snprintf(err, errlen, "filters[%zu].rate must be {bytes_per_s, burst}", idx);
			return -EINVAL;
		}
		rc = filter_inst_bucket_set(pf->inst[i], 0, (uint64_t)json_integer_value(b),
			s ? (uint64_t)json_integer_value(s) : (uint64_t)json_integer_value(b) / 10 + 1514);
		if (rc < 0) {
			snprintf(err, errlen, "filters[%zu].rate: invalid", idx);
			return rc;
		}
	}
	return 0;
}

json_t *filter_m_attach(json_t *params, int *code, char *err, size_t errlen)
{
	struct port *p = port_find(str(params, "port") ? str(params, "port") : "");
	json_t *list = json_object_get(params, "filters"), *e;
	unsigned int flags[FILTER_CHAIN_MAX] = { 0 };
	struct filter_chain_meta meta = { 0 };
	struct filter_chain *c = NULL;
	struct port_filters *pf;
	int dir = dir_parse(params, err, errlen), rc = 0;
	size_t i;

	if (p == NULL)
		FAIL(DP_E_NOT_FOUND, "no port named '%s'", str(params, "port") ?: "");
	if (dir < 0)
		FAIL(DP_E_PARAMS, "%s", "'dir' must be from_pod or to_pod");
	if (!json_is_array(list) || json_array_size(list) == 0 ||
	    json_array_size(list) > FILTER_CHAIN_MAX)
		FAIL(DP_E_PARAMS, "'filters' must be an array of 1 to %d elements",
		     FILTER_CHAIN_MAX);
	pf = calloc(1, sizeof(*pf));
	if (pf == NULL)
		FAIL(DP_E_INTERNAL, "no memory");
	json_array_foreach(list, i, e) {
		rc = elem_build(p, dir, i, e, pf, flags, err, errlen);
		if (rc < 0)
			break;
	}
	meta.port = p->id;
	meta.dir = (uint8_t)dir;
	meta.pod_index = p->id;
	if (rc == 0)
		rc = filter_chain_build(pf->inst, flags, pf->n, &meta, &c, err, errlen);
	if (rc < 0) {
		pf_free(pf);
		*code = rc == -ENOENT ? DP_E_NOT_FOUND : DP_E_PARAMS;
		return NULL;
	}
	/* Atomic for the data path: every packet sees the old chain or the
	 * new one; the old one is freed after a grace period. */
	filter_chain_publish(&p->filters[dir], c, dp.qsbr);
	pf_free(p->pf[dir]);
	p->pf[dir] = pf;
	log_info("port %s %s: chain of %u filter(s)", p->args.name, dir_names[dir], pf->n);
	return json_pack("{s:s, s:s, s:i}", "port", p->args.name, "dir", dir_names[dir],
			 "filters", (int)pf->n);
}

void filter_port_detach(struct port *p, int dir)
{
	if (p->pf[dir] == NULL)
		return;
	filter_chain_publish(&p->filters[dir], NULL, dp.qsbr);
	pf_free(p->pf[dir]);
	p->pf[dir] = NULL;
}

json_t *filter_m_detach(json_t *params, int *code, char *err, size_t errlen)
{
	struct port *p = port_find(str(params, "port") ? str(params, "port") : "");
	int dir = dir_parse(params, err, errlen);

	if (p == NULL)
		FAIL(DP_E_NOT_FOUND, "no port named '%s'", str(params, "port") ?: "");
	if (dir < 0)
		FAIL(DP_E_PARAMS, "%s", "'dir' must be from_pod or to_pod");
	filter_port_detach(p, dir);
	return json_object();
}

/* Rules of element 'index' replaced without reloading or rebuilding. */
json_t *filter_m_rules(json_t *params, int *code, char *err, size_t errlen)
{
	static struct shunt_acl acl;
	struct port *p = port_find(str(params, "port") ? str(params, "port") : "");
	json_t *idx = json_object_get(params, "index");
	int dir = dir_parse(params, err, errlen);
	struct port_filters *pf;
	json_int_t i;

	if (p == NULL)
		FAIL(DP_E_NOT_FOUND, "no port named '%s'", str(params, "port") ?: "");
	if (dir < 0)
		FAIL(DP_E_PARAMS, "%s", "'dir' must be from_pod or to_pod");
	pf = p->pf[dir];
	i = idx ? json_integer_value(idx) : 0;
	if (pf == NULL || i < 0 || (unsigned int)i >= pf->n || pf->acl[i] == NULL)
		FAIL(DP_E_NOT_FOUND, "port %s %s has no element %lld with rules",
		     p->args.name, dir_names[dir], (long long)i);
	if (acl_build(json_object_get(params, "rules"), &acl, err, errlen) < 0) {
		*code = DP_E_PARAMS;
		return NULL;
	}
	filter_table_array_set(pf->acl[i], &acl, sizeof(acl));
	return json_object();
}

static json_t *elem_json(const struct port *p, int dir,
			 const struct port_filters *pf, unsigned int i)
{
	const struct filter_chain *c =
		__atomic_load_n(&p->filters[dir], __ATOMIC_ACQUIRE);
	struct filter *f = filter_inst_filter(pf->inst[i]);
	struct filter_inst_stats s;
	json_t *drops = json_object(), *counters = json_object();
	const char *cn;

	filter_inst_stats_read(pf->inst[i], &s);
	for (unsigned int r = 0; r <= SHUNT_MAX_REASONS; r++)
		if (s.drops[r])
			json_object_set_new(drops, filter_reason_name(f, r) ?: "drop",
					    json_integer((json_int_t)s.drops[r]));
	for (unsigned int k = 0; (cn = filter_counter_name(f, k)) != NULL; k++)
		json_object_set_new(counters, cn, json_integer((json_int_t)s.counters[k]));
	return json_pack("{s:s, s:b, s:b, s:b, s:I, s:o, s:o}", "filter",
			 pf->fname[i], "jit", filter_is_jit(f), "rules",
			 pf->acl[i] != NULL, "flow_cached",
			 i < filter_chain_n_cached(c), "runs", (json_int_t)s.runs,
			 "drops", drops, "counters", counters);
}

json_t *filter_cache_json(void)
{
	struct filter_cache_stats cs;

	filter_cache_stats_read(&cs);
	return json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:i}",
		"enabled", filter_cache_enabled(), "hits", (json_int_t)cs.hits,
		"misses", (json_int_t)cs.misses,
		"uncached", (json_int_t)cs.uncached,
		"bypassed", (json_int_t)cs.bypassed,
		"workers", (json_int_t)cs.workers,
		"entries_per_worker", FILTER_CACHE_ENTRIES);
}

json_t *filter_m_list(json_t *params, int *code, char *err, size_t errlen)
{
	json_t *loaded = json_array(), *att = json_array();

	(void)params; (void)code; (void)err; (void)errlen;
	for (int i = 0; i < FILTER_REG_MAX; i++)
		if (reg[i].f != NULL)
			json_array_append_new(loaded, json_pack("{s:s, s:b, s:i, s:b}",
				"name", reg[i].name, "jit", filter_is_jit(reg[i].f),
				"insns", (int)filter_n_insns(reg[i].f),
				"flow_cacheable", filter_is_cacheable(reg[i].f)));
	for (int i = 0; i < DP_MAX_PORTS; i++) {
		struct port *p = dp.ports[i];

		for (int d = 0; p != NULL && d < 2; d++) {
			json_t *chain = json_array();

			if (p->pf[d] == NULL) {
				json_decref(chain);
				continue;
			}
			for (unsigned int k = 0; k < p->pf[d]->n; k++)
				json_array_append_new(chain, elem_json(p, d, p->pf[d], k));
			json_array_append_new(att, json_pack("{s:s, s:s, s:o}", "port",
				p->args.name, "dir", dir_names[d], "chain", chain));
		}
	}
	return json_pack("{s:o, s:o, s:o}", "loaded", loaded, "attached", att,
			 "cache", filter_cache_json());
}
