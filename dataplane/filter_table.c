/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Helper tables of the filters and the helpers filters call (the xsym
 * table given to rte_bpf). Tables: rte_hash in lock-free read mode for
 * exact match (deleted slots recycled through its RCU hook), rte_fib /
 * rte_fib6 for longest-prefix match (preallocated, so a lookup racing a
 * change reads the old or new value: see route.c), and arrays replaced
 * whole behind an atomic pointer.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_fib.h>
#include <rte_fib6.h>
#include <rte_hash.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring_elem.h>
#include "filter_internal.h"
#include "log.h"

__thread struct filter_cur filter_cur;

static uint32_t table_seq;  /* unique DPDK object names */

/* What an unbound array slot reads: all zero. */
static const uint8_t zero_array[SHUNT_ARRAY_BYTES] __rte_cache_aligned;

static uint32_t tbl8_count(uint32_t want, uint32_t lo, uint32_t hi)
{
	return want < lo ? lo : want > hi ? hi : want;
}

static void table_free(struct filter_table *t)
{
	rte_hash_free(t->hash);
	rte_fib_free(t->fib4);
	rte_fib6_free(t->fib6);
	rte_free(t->array);
	rte_free(t);
}

int filter_table_create(const char *name, enum filter_table_kind kind,
			uint32_t key_len, uint32_t capacity,
			struct rte_rcu_qsbr *qsbr, struct filter_table **out,
			char *err, size_t errlen)
{
	struct filter_table *t;
	char dname[RTE_HASH_NAMESIZE];

	if (name == NULL || strlen(name) >= FILTER_NAME_LEN) {
		snprintf(err, errlen, "table name missing or over %d bytes",
			 FILTER_NAME_LEN - 1);
		return -EINVAL;
	}
	if (kind == FILTER_TABLE_EXACT &&
	    (key_len == 0 || key_len > SHUNT_KEY_LEN)) {
		snprintf(err, errlen, "table %s: key length %u not in 1..%d",
			 name, key_len, SHUNT_KEY_LEN);
		return -EINVAL;
	}
	if (kind != FILTER_TABLE_ARRAY && (capacity == 0 || capacity > (1u << 24))) {
		snprintf(err, errlen, "table %s: capacity %u not in 1..%u",
			 name, capacity, 1u << 24);
		return -EINVAL;
	}
	t = rte_zmalloc("shunt_ftable", sizeof(*t), RTE_CACHE_LINE_SIZE);
	if (t == NULL)
		goto nomem;
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->kind = kind;
	t->key_len = key_len;
	t->qsbr = qsbr;
	t->refcnt = 1;
	snprintf(dname, sizeof(dname), "shunt_ft%u", table_seq++);

	switch (kind) {
	case FILTER_TABLE_EXACT: {
		struct rte_hash_parameters hp = {
			.name = dname,
			.entries = RTE_MAX(capacity, 8u),
			.key_len = key_len,
			.socket_id = SOCKET_ID_ANY,
			/* lock-free readers: workers look up while the
			 * control thread adds and deletes */
			.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF,
		};

		t->hash = rte_hash_create(&hp);
		if (t->hash == NULL)
			goto dpdk_err;
		if (qsbr != NULL) {
			struct rte_hash_rcu_config rc = {
				.v = qsbr,
				.mode = RTE_HASH_QSBR_MODE_SYNC,
			};

			if (rte_hash_rcu_qsbr_add(t->hash, &rc) != 0)
				goto dpdk_err;
		}
		break;
	}
	case FILTER_TABLE_LPM4: {
		struct rte_fib_conf fc = {
			.type = RTE_FIB_DIR24_8,
			.default_nh = FILTER_LPM_VALUE_MAX,
			.max_routes = (int)capacity,
			.dir24_8 = { .nh_sz = RTE_FIB_DIR24_8_4B,
				     .num_tbl8 = tbl8_count(capacity, 64u, 1u << 15) },
		};

		t->fib4 = rte_fib_create(dname, SOCKET_ID_ANY, &fc);
		if (t->fib4 == NULL)
			goto dpdk_err;
		break;
	}
	case FILTER_TABLE_LPM6: {
		struct rte_fib6_conf fc = {
			.type = RTE_FIB6_TRIE,
			.default_nh = FILTER_LPM_VALUE_MAX,
			.max_routes = (int)capacity,
			.trie = { .nh_sz = RTE_FIB6_TRIE_4B,
				  .num_tbl8 = tbl8_count(capacity * 8, 256u, 1u << 16) },
		};

		t->fib6 = rte_fib6_create(dname, SOCKET_ID_ANY, &fc);
		if (t->fib6 == NULL)
			goto dpdk_err;
		break;
	}
	case FILTER_TABLE_ARRAY:
		t->array = rte_zmalloc("shunt_farray", SHUNT_ARRAY_BYTES,
				       RTE_CACHE_LINE_SIZE);
		if (t->array == NULL)
			goto nomem;
		break;
	default:
		rte_free(t);
		snprintf(err, errlen, "table %s: unknown kind %d", name, kind);
		return -EINVAL;
	}
	log_debug("filter table %s created (kind %d)", name, kind);
	*out = t;
	return 0;
dpdk_err:
	snprintf(err, errlen, "table %s: %s", name, rte_strerror(rte_errno));
	table_free(t);
	return rte_errno == ENOMEM || rte_errno == ENOSPC ? -ENOMEM : -EINVAL;
nomem:
	if (t != NULL)
		table_free(t);
	snprintf(err, errlen, "table %s: out of memory", name);
	return -ENOMEM;
}

void filter_table_get(struct filter_table *t)
{
	t->refcnt++;
}

void filter_table_put(struct filter_table *t)
{
	if (t != NULL && --t->refcnt == 0)
		table_free(t);
}

const char *filter_table_name(const struct filter_table *t)
{
	return t->name;
}

enum filter_table_kind filter_table_kind(const struct filter_table *t)
{
	return t->kind;
}

static int key_pad(const struct filter_table *t, const void *key,
		   size_t key_len, uint8_t *k)
{
	if (t->kind != FILTER_TABLE_EXACT || key_len == 0 ||
	    key_len > t->key_len)
		return -EINVAL;
	memset(k, 0, SHUNT_KEY_LEN);
	memcpy(k, key, key_len);
	return 0;
}

int filter_table_set(struct filter_table *t, const void *key, size_t key_len,
		     uint64_t value)
{
	uint8_t k[SHUNT_KEY_LEN];
	int rc;

	if (value == SHUNT_MISS || key_pad(t, key, key_len, k) < 0)
		return -EINVAL;
	rc = rte_hash_add_key_data(t->hash, k, (void *)(uintptr_t)value);
	filter_epoch_bump();
	return rc < 0 ? rc : 0;
}

int filter_table_del(struct filter_table *t, const void *key, size_t key_len)
{
	uint8_t k[SHUNT_KEY_LEN];
	int32_t pos;

	if (key_pad(t, key, key_len, k) < 0)
		return -EINVAL;
	pos = rte_hash_del_key(t->hash, k);
	if (pos < 0)
		return pos;
	filter_epoch_bump();
	/* Without an RCU hook, lock-free mode keeps the slot: free it now
	 * (the caller said no worker reads this table). */
	if (t->qsbr == NULL)
		rte_hash_free_key_with_position(t->hash, pos);
	return 0;
}

static int prefix_parse(const struct filter_table *t, const char *prefix,
			uint8_t *addr, uint8_t *depth, char *err,
			size_t errlen)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash, *end;
	int v6 = t->kind == FILTER_TABLE_LPM6, max = v6 ? 128 : 32;
	long d = max;

	if (t->kind != FILTER_TABLE_LPM4 && t->kind != FILTER_TABLE_LPM6) {
		snprintf(err, errlen, "table %s is not a prefix table", t->name);
		return -EINVAL;
	}
	if (prefix == NULL || strlen(prefix) >= sizeof(buf))
		goto bad;
	strcpy(buf, prefix);
	slash = strchr(buf, '/');
	if (slash != NULL) {
		*slash = '\0';
		d = strtol(slash + 1, &end, 10);
		if (slash[1] == '\0' || *end != '\0' || d < 0 || d > max)
			goto bad;
	}
	if (inet_pton(v6 ? AF_INET6 : AF_INET, buf, addr) != 1)
		goto bad;
	*depth = (uint8_t)d;
	return 0;
bad:
	snprintf(err, errlen, "table %s: \"%s\" is not an IPv%d prefix",
		 t->name, prefix ? prefix : "", v6 ? 6 : 4);
	return -EINVAL;
}

int filter_table_prefix_set(struct filter_table *t, const char *prefix,
			    uint64_t value, char *err, size_t errlen)
{
	uint8_t a[16], depth;
	int rc = prefix_parse(t, prefix, a, &depth, err, errlen);

	if (rc < 0)
		return rc;
	if (value >= FILTER_LPM_VALUE_MAX) {
		snprintf(err, errlen, "table %s: value %llu over %llu", t->name,
			 (unsigned long long)value,
			 (unsigned long long)FILTER_LPM_VALUE_MAX - 1);
		return -EINVAL;
	}
	if (t->kind == FILTER_TABLE_LPM4) {
		uint32_t ip;

		memcpy(&ip, a, 4);
		rc = rte_fib_add(t->fib4, ntohl(ip), depth, value);
	} else {
		rc = rte_fib6_add(t->fib6, a, depth, value);
	}
	filter_epoch_bump();
	if (rc < 0)
		snprintf(err, errlen, "table %s: adding %s: %s", t->name,
			 prefix, strerror(-rc));
	return rc < 0 ? rc : 0;
}

int filter_table_prefix_del(struct filter_table *t, const char *prefix,
			    char *err, size_t errlen)
{
	uint8_t a[16], depth;
	int rc = prefix_parse(t, prefix, a, &depth, err, errlen);

	if (rc < 0)
		return rc;
	if (t->kind == FILTER_TABLE_LPM4) {
		uint32_t ip;

		memcpy(&ip, a, 4);
		rc = rte_fib_delete(t->fib4, ntohl(ip), depth);
	} else {
		rc = rte_fib6_delete(t->fib6, a, depth);
	}
	filter_epoch_bump();
	if (rc < 0)
		snprintf(err, errlen, "table %s: deleting %s: %s", t->name,
			 prefix, strerror(-rc));
	return rc < 0 ? rc : 0;
}

int filter_table_array_set(struct filter_table *t, const void *data,
			   size_t len)
{
	void *fresh, *old;

	if (t->kind != FILTER_TABLE_ARRAY || len > SHUNT_ARRAY_BYTES)
		return -EINVAL;
	fresh = rte_zmalloc("shunt_farray", SHUNT_ARRAY_BYTES,
			    RTE_CACHE_LINE_SIZE);
	if (fresh == NULL)
		return -ENOMEM;
	memcpy(fresh, data, len);
	old = t->array;
	__atomic_store_n(&t->array, fresh, __ATOMIC_RELEASE);
	filter_epoch_bump();
	if (t->qsbr != NULL)
		rte_rcu_qsbr_synchronize(t->qsbr, RTE_QSBR_THRID_INVALID);
	rte_free(old);
	return 0;
}

/* ---- helpers: data path, called by filters through rte_bpf -------------- */

static inline const struct filter_table *cur_table(uint64_t slot,
						   enum filter_table_kind kind)
{
	const struct filter_table *t;

	if (filter_cur.fi == NULL || slot >= SHUNT_MAX_SLOTS)
		return NULL;
	t = __atomic_load_n(&filter_cur.fi->slot[slot], __ATOMIC_ACQUIRE);
	return t != NULL && t->kind == kind ? t : NULL;
}

static uint64_t h_lookup(uint64_t slot, uint64_t key, uint64_t a3,
			 uint64_t a4, uint64_t a5)
{
	const struct filter_table *t = cur_table(slot, FILTER_TABLE_EXACT);
	void *data;

	RTE_SET_USED(a3); RTE_SET_USED(a4); RTE_SET_USED(a5);
	if (t == NULL ||
	    rte_hash_lookup_data(t->hash, (const void *)(uintptr_t)key,
				 &data) < 0)
		return SHUNT_MISS;
	return (uint64_t)(uintptr_t)data;
}

static uint64_t h_lpm4(uint64_t slot, uint64_t addr, uint64_t a3,
		       uint64_t a4, uint64_t a5)
{
	const struct filter_table *t = cur_table(slot, FILTER_TABLE_LPM4);
	uint32_t ip = (uint32_t)addr;
	uint64_t nh;

	RTE_SET_USED(a3); RTE_SET_USED(a4); RTE_SET_USED(a5);
	if (t == NULL)
		return SHUNT_MISS;
	rte_fib_lookup_bulk(t->fib4, &ip, &nh, 1);
	return nh == FILTER_LPM_VALUE_MAX ? SHUNT_MISS : nh;
}

static uint64_t h_lpm6(uint64_t slot, uint64_t addr, uint64_t a3,
		       uint64_t a4, uint64_t a5)
{
	const struct filter_table *t = cur_table(slot, FILTER_TABLE_LPM6);
	uint8_t ip[1][16];
	uint64_t nh;

	RTE_SET_USED(a3); RTE_SET_USED(a4); RTE_SET_USED(a5);
	if (t == NULL)
		return SHUNT_MISS;
	memcpy(ip[0], (const void *)(uintptr_t)addr, 16);
	rte_fib6_lookup_bulk(t->fib6, ip, &nh, 1);
	return nh == FILTER_LPM_VALUE_MAX ? SHUNT_MISS : nh;
}

static uint64_t h_array(uint64_t slot, uint64_t a2, uint64_t a3,
			uint64_t a4, uint64_t a5)
{
	const struct filter_table *t = cur_table(slot, FILTER_TABLE_ARRAY);

	RTE_SET_USED(a2); RTE_SET_USED(a3); RTE_SET_USED(a4); RTE_SET_USED(a5);
	if (t == NULL)
		return (uint64_t)(uintptr_t)zero_array;
	return (uint64_t)(uintptr_t)__atomic_load_n(&t->array, __ATOMIC_ACQUIRE);
}

static uint64_t h_counter_add(uint64_t idx, uint64_t val, uint64_t a3,
			      uint64_t a4, uint64_t a5)
{
	RTE_SET_USED(a3); RTE_SET_USED(a4); RTE_SET_USED(a5);
	if (filter_cur.ws == NULL || idx >= SHUNT_MAX_COUNTERS)
		return 0;
	filter_cur.ws->counters[idx] += val;
	if (unlikely(filter_cur.rec != NULL)) {
		struct filter_rec *r = filter_cur.rec;

		if (r->n == FILTER_CACHE_FX)
			r->bad = 1;
		else
			r->fx[r->n++] = (struct filter_fx){
				.counter = &filter_cur.ws->counters[idx],
				.val = val };
	}
	return 0;
}

/* Where counters go when no instance runs the filter (filter_exec). */
static __thread uint64_t scratch_counters[SHUNT_MAX_COUNTERS];

static uint64_t h_counters(uint64_t a1, uint64_t a2, uint64_t a3,
			   uint64_t a4, uint64_t a5)
{
	RTE_SET_USED(a1); RTE_SET_USED(a2); RTE_SET_USED(a3);
	RTE_SET_USED(a4); RTE_SET_USED(a5);
	return (uint64_t)(uintptr_t)(filter_cur.ws != NULL ?
				     filter_cur.ws->counters : scratch_counters);
}

/* TSC to ns with a 32.32 fixed-point factor: no division per call. */
static uint64_t tsc_mult;

uint64_t filter_now_ns(void)
{
	if (unlikely(tsc_mult == 0))
		tsc_mult = (uint64_t)(((unsigned __int128)NS_PER_S << 32) /
				      rte_get_tsc_hz());
	return (uint64_t)(((unsigned __int128)rte_get_tsc_cycles() *
			   tsc_mult) >> 32);
}

static uint64_t h_now_ns(uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
			 uint64_t a5)
{
	RTE_SET_USED(a1); RTE_SET_USED(a2); RTE_SET_USED(a3);
	RTE_SET_USED(a4); RTE_SET_USED(a5);
	return filter_now_ns();
}

/*
 * Token bucket shared by the workers that run this instance: refill by
 * whoever moves last_ns forward (compare-and-swap, so time is credited
 * once), then take bytes with a compare-and-swap on tokens. Written by hand:
 * DPDK's rte_meter is per-caller state, not shared between lcores.
 */
static uint64_t h_rate_allow(uint64_t b, uint64_t bytes, uint64_t a3,
			     uint64_t a4, uint64_t a5)
{
	struct filter_bucket *k;
	uint64_t rate, burst, now, last;
	int64_t tok;

	RTE_SET_USED(a3); RTE_SET_USED(a4); RTE_SET_USED(a5);
	if (filter_cur.fi == NULL || b >= SHUNT_MAX_BUCKETS)
		return 1;
	k = &filter_cur.fi->bucket[b];
	rate = __atomic_load_n(&k->rate, __ATOMIC_RELAXED);
	if (rate == 0)
		return 1;
	burst = __atomic_load_n(&k->burst, __ATOMIC_RELAXED);
	now = filter_now_ns();
	last = __atomic_load_n(&k->last_ns, __ATOMIC_RELAXED);
	if (now > last && __atomic_compare_exchange_n(&k->last_ns, &last, now,
			false, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
		uint64_t add = (uint64_t)((unsigned __int128)(now - last) *
					  rate / NS_PER_S);

		tok = __atomic_add_fetch(&k->tokens, (int64_t)RTE_MIN(add, burst),
					 __ATOMIC_RELAXED);
		while (tok > (int64_t)burst &&
		       !__atomic_compare_exchange_n(&k->tokens, &tok,
				(int64_t)burst, false, __ATOMIC_RELAXED,
				__ATOMIC_RELAXED))
			;
	}
	tok = __atomic_load_n(&k->tokens, __ATOMIC_RELAXED);
	do {
		if (tok < (int64_t)bytes)
			return 0;
	} while (!__atomic_compare_exchange_n(&k->tokens, &tok,
			tok - (int64_t)bytes, false, __ATOMIC_RELAXED,
			__ATOMIC_RELAXED));
	return 1;
}

static uint64_t h_sample(uint64_t ctxp, uint64_t verdict, uint64_t a3,
			 uint64_t a4, uint64_t a5)
{
	const struct shunt_ctx *ctx = (const struct shunt_ctx *)(uintptr_t)ctxp;
	struct filter_inst *fi = filter_cur.fi;
	struct filter_sample s;

	RTE_SET_USED(a3); RTE_SET_USED(a4); RTE_SET_USED(a5);
	if (fi == NULL || fi->samples == NULL)
		return 0;
	s.ns = filter_now_ns();
	s.verdict = (uint32_t)verdict;
	s.pkt_len = ctx->pkt_len;
	s.port = ctx->port;
	s.dir = ctx->dir;
	s.len = (uint8_t)RTE_MIN(ctx->len, (uint32_t)SHUNT_SAMPLE_BYTES);
	memcpy(s.data, ctx->data, s.len);
	memset(s.data + s.len, 0, SHUNT_SAMPLE_BYTES - s.len);
	if (rte_ring_mp_enqueue_elem(fi->samples, &s, sizeof(s)) != 0) {
		__atomic_add_fetch(&fi->samples_lost, 1, __ATOMIC_RELAXED);
		return 0;
	}
	return 1;
}

#define RAW(sz) { .type = RTE_BPF_ARG_RAW, .size = (sz) }
#define PTR(sz) { .type = RTE_BPF_ARG_PTR, .size = (sz) }
#define FUNC(n, fn, nargs, r, ...) { .name = (n), .type = RTE_BPF_XTYPE_FUNC, \
	.func = { .val = (fn), .nb_args = (nargs), .args = { __VA_ARGS__ }, \
		  .ret = r } }

/* The helper ABI (shunt_filter.h): argument kinds let the verifier check
 * that pointer arguments reach far enough. */
const struct rte_bpf_xsym filter_xsym[] = {
	FUNC("shunt_lookup", h_lookup, 2, RAW(8), RAW(4), PTR(SHUNT_KEY_LEN)),
	FUNC("shunt_lpm4", h_lpm4, 2, RAW(8), RAW(4), RAW(4)),
	FUNC("shunt_lpm6", h_lpm6, 2, RAW(8), RAW(4), PTR(16)),
	FUNC("shunt_array", h_array, 1, PTR(SHUNT_ARRAY_BYTES), RAW(4)),
	FUNC("shunt_counter_add", h_counter_add, 2, RAW(8), RAW(4), RAW(8)),
	FUNC("shunt_counters", h_counters, 0,
	     PTR(SHUNT_MAX_COUNTERS * sizeof(uint64_t))),
	FUNC("shunt_now_ns", h_now_ns, 0, RAW(8)),
	FUNC("shunt_rate_allow", h_rate_allow, 2, RAW(8), RAW(4), RAW(4)),
	/* the context: only the program's argument has the mbuf type */
	FUNC("shunt_sample", h_sample, 2, RAW(8),
	     { .type = RTE_BPF_ARG_PTR_MBUF, .size = sizeof(struct shunt_ctx),
	       .buf_size = SHUNT_WINDOW }, RAW(4)),
};
const unsigned int filter_n_xsym = RTE_DIM(filter_xsym);
