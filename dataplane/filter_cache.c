/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The verdict cache: filters declared SHUNT_FLOW_CACHEABLE at the head of a
 * chain run once per flow, and their result is replayed on the flow's later
 * frames (filter.h says what is kept; shunt_filter.h what a filter
 * promises by declaring it).
 *
 * One direct-mapped table per worker, written by that worker only, so no
 * locks and no atomics but the epoch's load. An entry is keyed by
 *   - the chain's id: chains are immutable and every build gets a new id,
 *     so a replaced chain's entries are never hit again;
 *   - the table epoch: every table change bumps it after the change is
 *     visible. A worker reads the epoch before it runs anything, and tags
 *     what it stores with that epoch: a result computed from tables older
 *     than the epoch cannot be stored under a newer one;
 *   - what shunt_parse() makes of the frame, l4_off aside.
 * A colliding flow replaces the entry (as OVS's exact-match cache does):
 * at worst a flow runs its filters every time, never with another's
 * result, because the whole key is compared.
 */
#include <string.h>
#include <rte_byteorder.h>
#include <rte_hash_crc.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_prefetch.h>
#include "filter_internal.h"
#include "shunt_parse.h"

_Static_assert((FILTER_CACHE_ENTRIES & (FILTER_CACHE_ENTRIES - 1)) == 0,
	       "a power of two");
_Static_assert(FILTER_CHAIN_MAX < 255, "reached fits a byte");

/*
 * A key is six words, built in registers (no byte stores into a word that
 * is then read whole):
 *   w[0]  chain id | family << 32 | proto << 40 | frag << 48 | has_ports << 56
 *   w[1]  sport | dport << 16 (host order) | epoch << 32
 *   w[2]  IPv4: source | destination << 32 as in the frame;
 *         IPv6: source bytes 0-7
 *   w[3..5] IPv6: source bytes 8-15, destination; IPv4: 0
 * so an IPv4 key is told by w[0] and decided by three words.
 */
#define FC_KEY_WORDS 6
struct fc_key {
	uint64_t w[FC_KEY_WORDS];
};

static inline uint64_t key_w0(uint32_t chain, uint8_t family, uint8_t proto,
			      uint8_t frag, uint8_t has_ports)
{
	return (uint64_t)chain | (uint64_t)family << 32 |
	       (uint64_t)proto << 40 | (uint64_t)frag << 48 |
	       (uint64_t)has_ports << 56;
}

static inline bool key_is6(const struct fc_key *k)
{
	return (uint8_t)(k->w[0] >> 32) == 6;
}

struct fc_entry {
	struct fc_key key;        /* chain 0: empty (ids start at 1) */
	uint32_t verdict;         /* as filter_chain_run's verdicts[] */
	uint32_t mark;
	uint8_t reached;          /* elements that ran */
	uint8_t n_fx;
	uint8_t pad[6];
	struct filter_fx fx[FILTER_CACHE_FX];
} __rte_aligned(64);
_Static_assert(sizeof(struct fc_entry) == 128, "two cache lines");

struct fc_worker {
	struct fc_entry *tab;
	bool failed;              /* no memory: stop trying */
	uint64_t hits, misses, uncached, bypassed;
} __rte_cache_aligned;

static struct fc_worker fcw[FILTER_MAX_WORKERS];
static bool cache_on = true;
uint32_t filter_epoch;

void filter_cache_enable(bool on)
{
	cache_on = on;
}

bool filter_cache_enabled(void)
{
	return cache_on;
}

bool filter_is_cacheable(const struct filter *f)
{
	return f->cacheable;
}

void filter_cache_stats_read(struct filter_cache_stats *s)
{
	memset(s, 0, sizeof(*s));
	for (unsigned int w = 0; w < FILTER_MAX_WORKERS; w++) {
		const struct fc_worker *fw = &fcw[w];

		s->hits += __atomic_load_n(&fw->hits, __ATOMIC_RELAXED);
		s->misses += __atomic_load_n(&fw->misses, __ATOMIC_RELAXED);
		s->uncached += __atomic_load_n(&fw->uncached, __ATOMIC_RELAXED);
		s->bypassed += __atomic_load_n(&fw->bypassed, __ATOMIC_RELAXED);
		s->workers += __atomic_load_n(&fw->tab, __ATOMIC_RELAXED) != NULL;
	}
}

void filter_cache_free(void)
{
	for (unsigned int w = 0; w < FILTER_MAX_WORKERS; w++) {
		rte_free(fcw[w].tab);
		fcw[w].tab = NULL;
		fcw[w].failed = false;
	}
}

/* The first cached run on a worker makes its table (once; rte_malloc is
 * thread-safe). */
static struct fc_entry *table_of(struct fc_worker *fw)
{
	struct fc_entry *t;

	if (likely(fw->tab != NULL) || fw->failed)
		return fw->tab;
	t = rte_zmalloc_socket("shunt_fcache",
			       FILTER_CACHE_ENTRIES * sizeof(struct fc_entry),
			       RTE_CACHE_LINE_SIZE, (int)rte_socket_id());
	if (t == NULL)
		t = rte_zmalloc("shunt_fcache", FILTER_CACHE_ENTRIES *
				sizeof(struct fc_entry), RTE_CACHE_LINE_SIZE);
	fw->failed = t == NULL;
	__atomic_store_n(&fw->tab, t, __ATOMIC_RELEASE);
	return t;
}

/* The key of a frame shunt_parse() finds IPv4 without options, not a
 * fragment, with TCP/UDP/SCTP ports: most frames, read without the general
 * parser. The fields are what shunt_parse() would give. Returns 0, or -1
 * for any other frame. */
static inline int key_fast4(const uint8_t *d, uint32_t len, uint64_t w0,
			    uint64_t epoch, struct fc_key *k)
{
	uint64_t addrs;
	uint32_t ports;
	uint8_t proto;

	if (unlikely(len < 14 + 20 + 4) ||
	    *(const uint16_t *)(d + 12) != rte_cpu_to_be_16(0x0800) ||
	    d[14] != 0x45 || (*(const uint16_t *)(d + 20) &
			      rte_cpu_to_be_16(0x3fff)) != 0)
		return -1;
	proto = d[23];
	if (unlikely(proto != 6 && proto != 17 && proto != 132))
		return -1;
	memcpy(&addrs, d + 26, 8);
	memcpy(&ports, d + 34, 4);
	ports = rte_be_to_cpu_32(ports);   /* sport << 16 | dport */
	k->w[0] = w0 | key_w0(0, 4, proto, SHUNT_FRAG_NONE, 1);
	k->w[1] = (uint64_t)(ports >> 16) | (uint64_t)(ports & 0xffff) << 16 |
		  epoch << 32;
	k->w[2] = addrs;
	k->w[3] = k->w[4] = k->w[5] = 0;
	return 0;
}

/* Any other frame, from its context. Returns -1 when shunt_parse() finds
 * it not IP or malformed. */
static inline int key_parse(const struct shunt_ctx *x, uint64_t w0,
			    uint64_t epoch, struct fc_key *k)
{
	struct shunt_pkt p;

	if (shunt_parse(x, &p) != SHUNT_PARSE_OK)
		return -1;
	k->w[0] = w0 | key_w0(0, p.family, p.proto, p.frag, p.has_ports);
	k->w[1] = (uint64_t)p.sport | (uint64_t)p.dport << 16 | epoch << 32;
	if (p.family == 4) {
		k->w[2] = (uint64_t)p.src4 | (uint64_t)p.dst4 << 32;
		k->w[3] = k->w[4] = k->w[5] = 0;
	} else {
		memcpy(&k->w[2], p.src6, 16);
		memcpy(&k->w[4], p.dst6, 16);
	}
	return 0;
}

static inline uint32_t key_hash(const struct fc_key *k)
{
	uint32_t h = rte_hash_crc_8byte(k->w[0], 0);

	h = rte_hash_crc_8byte(k->w[1], h);
	h = rte_hash_crc_8byte(k->w[2], h);
	if (unlikely(key_is6(k))) {
		h = rte_hash_crc_8byte(k->w[3], h);
		h = rte_hash_crc_8byte(k->w[4], h);
		h = rte_hash_crc_8byte(k->w[5], h);
	}
	return h;
}

/* An IPv4 key's w[3..5] are 0, and w[0] says the family. */
static inline bool key_eq(const struct fc_key *a, const struct fc_key *b)
{
	uint64_t d = (a->w[0] ^ b->w[0]) | (a->w[1] ^ b->w[1]) |
		     (a->w[2] ^ b->w[2]);

	if (likely(d != 0) || likely(!key_is6(a)))
		return d == 0;
	return ((a->w[3] ^ b->w[3]) | (a->w[4] ^ b->w[4]) |
		(a->w[5] ^ b->w[5])) == 0;
}

/*
 * What makes two frames key_fast4() accepts the same flow, as bytes: the
 * Ethernet type and IPv4 version/IHL (12-14), the fragment field (20-21),
 * the protocol (23), addresses and ports (26-37). A frame whose bytes
 * there equal an accepted frame's (and as long) is accepted too, with the
 * same key: a round of one flow is told by four loads a frame.
 */
struct fc_sig {
	uint64_t a, b, c;
	uint32_t d;
};

static inline void sig_of(const uint8_t *d, struct fc_sig *s)
{
	uint16_t dport;

	memcpy(&s->a, d + 12, 8);
	memcpy(&s->b, d + 20, 8);
	memcpy(&s->c, d + 28, 8);
	memcpy(&dport, d + 36, 2);
	/* little-endian words: byte i of the word is bits 8i..8i+7 */
	s->a &= 0x0000000000ffffffull;   /* 12, 13, 14 */
	s->b &= 0xffff0000ff00ffffull;   /* 20, 21, 23, 26, 27 */
	s->d = dport;
}

/* Whether the live frames of the round are all frame live[0]'s flow,
 * which key_fast4() accepted. */
static inline bool one_flow(struct rte_mbuf **pkts, const uint8_t *live,
			    uint16_t n)
{
	struct fc_sig s0, s;

	sig_of(rte_pktmbuf_mtod(pkts[live[0]], const uint8_t *), &s0);
	for (uint16_t j = 1; j < n; j++) {
		struct rte_mbuf *m = pkts[live[j]];

		if (unlikely(rte_pktmbuf_data_len(m) < 14 + 20 + 4))
			return false;
		sig_of(rte_pktmbuf_mtod(m, const uint8_t *), &s);
		if (((s.a ^ s0.a) | (s.b ^ s0.b) | (s.c ^ s0.c) |
		     (uint64_t)(s.d ^ s0.d)) != 0)
			return false;
	}
	return true;
}

/* Run elements [0, c->n_cache) on one frame, as the uncached runner would,
 * recording counter adds into rec when not NULL. Returns the verdict. */
static uint32_t run_prefix(const struct filter_chain *c, unsigned int w,
			   struct shunt_ctx *x, struct filter_rec *rec,
			   uint8_t *reached)
{
	uint32_t v = 0;
	unsigned int k;

	filter_cur.rec = rec;
	for (k = 0; k < c->n_cache; k++) {
		const struct filter_chain_elem *el = &c->e[k];
		struct filter_inst_worker *ws = &el->fi->ws[w];
		uint64_t r;
		uint32_t why;

		filter_cur.fi = el->fi;
		filter_cur.ws = ws;
		r = filter_run_one(el, x);
		ws->runs++;
		if (likely(SHUNT_VERDICT_ACTION(r) == 0))
			continue;
		why = SHUNT_VERDICT_REASON(r);
		if (why > SHUNT_MAX_REASONS)
			why = 0;
		ws->drops[why]++;
		v = FILTER_VERDICT_DROP | k << 8 | why;
		k++;
		break;
	}
	filter_cur.rec = NULL;
	*reached = (uint8_t)k;
	return v;
}

/* Replay entry e's drop count and counter adds (runs: by the caller). */
static inline void replay(const struct filter_chain *c, unsigned int w,
			  const struct fc_entry *e)
{
	if (unlikely(e->verdict != 0))
		c->e[FILTER_VERDICT_POS(e->verdict)].fi->ws[w]
			.drops[FILTER_VERDICT_REASON(e->verdict)]++;
	for (unsigned int j = 0; j < e->n_fx; j++)
		*e->fx[j].counter += e->fx[j].val;
}

/*
 * Account lookups and hits to the chain on this worker; every
 * CACHE_WINDOW lookups, a window with fewer than half hits makes the chain
 * skip the cache for a number of rounds, doubled (up to CACHE_SKIP_MAX)
 * while windows keep missing. A miss costs a lookup and a store on top of
 * the filters; under half hits the cache costs more than it saves.
 */
#define CACHE_WINDOW 256
#define CACHE_SKIP_MIN 16
#define CACHE_SKIP_MAX 65536
static inline void cache_paid(struct filter_chain_ws *cw, uint32_t lookups,
			      uint32_t hits)
{
	cw->lookups += lookups;
	cw->hits += hits;
	if (likely(cw->lookups < CACHE_WINDOW))
		return;
	if (cw->hits * 2 < cw->lookups) {
		cw->backoff = cw->backoff == 0 ? CACHE_SKIP_MIN :
			RTE_MIN(cw->backoff * 2, (uint32_t)CACHE_SKIP_MAX);
		cw->skip = cw->backoff;
	} else {
		cw->backoff = 0;
	}
	cw->lookups = 0;
	cw->hits = 0;
}

/* The same, for n frames of e's flow, runs included. */
static inline void replay_n(const struct filter_chain *c, unsigned int w,
			    const struct fc_entry *e, uint32_t n)
{
	for (unsigned int k = 0; k < e->reached; k++)
		c->e[k].fi->ws[w].runs += n;
	if (e->verdict != 0)
		c->e[FILTER_VERDICT_POS(e->verdict)].fi->ws[w]
			.drops[FILTER_VERDICT_REASON(e->verdict)] += n;
	for (unsigned int j = 0; j < e->n_fx; j++)
		*e->fx[j].counter += e->fx[j].val * n;
}

int filter_cache_run(const struct filter_chain *c, unsigned int w,
		     struct rte_mbuf **pkts, struct shunt_ctx *ctx,
		     uint32_t *verdicts, uint8_t *live, uint16_t *nlive,
		     uint8_t *dead, uint16_t *ndead, bool want_marks)
{
	struct fc_worker *fw = &fcw[w];
	struct fc_entry *tab = table_of(fw);
	/* the chain's per-worker area: this worker's to write */
	struct filter_chain_ws *cw = (struct filter_chain_ws *)&c->ws[w];
	struct fc_key key[FILTER_BURST];
	struct fc_entry *slot[FILTER_BURST], *held = NULL;
	bool same[FILTER_BURST];  /* frame j is frame j - 1's flow */
	/* hits by how far the chain ran: runs counted once a round */
	uint32_t reached_n[FILTER_CHAIN_MAX + 1] = { 0 };
	bool full = c->n_cache < c->n;  /* later elements need contexts */
	uint64_t w0, epoch;
	uint16_t out = 0, n = *nlive;
	uint32_t hits = 0, misses = 0, uncached = 0, hits_all = 0;

	if (unlikely(tab == NULL))
		return -1;
	if (unlikely(cw->skip != 0)) {
		cw->skip--;
		__atomic_store_n(&fw->bypassed, fw->bypassed + n,
				 __ATOMIC_RELAXED);
		return -1;
	}
	epoch = __atomic_load_n(&filter_epoch, __ATOMIC_ACQUIRE);
	w0 = key_w0(c->id, 0, 0, 0, 0);
	/* a round of one flow the cache holds (a bulk transfer's bursts):
	 * one lookup, and its effects replayed n times at once */
	if (n > 1 && key_fast4(rte_pktmbuf_mtod(pkts[live[0]], const uint8_t *),
			       rte_pktmbuf_data_len(pkts[live[0]]), w0, epoch,
			       &key[0]) == 0) {
		struct fc_entry *e =
			&tab[key_hash(&key[0]) & (FILTER_CACHE_ENTRIES - 1)];

		if (key_eq(&e->key, &key[0]) && one_flow(pkts, live, n)) {
			replay_n(c, w, e, n);
			for (uint16_t j = 0; (full || want_marks ||
					      e->verdict != 0) && j < n; j++) {
				uint8_t i = live[j];

				if (full)
					filter_ctx_fill(c, pkts[i], ctx, i);
				ctx[i].mark = e->mark;
				if (e->verdict != 0) {
					verdicts[i] = e->verdict;
					dead[(*ndead)++] = i;
				}
			}
			if (e->verdict != 0)
				*nlive = 0;
			__atomic_store_n(&fw->hits, fw->hits + n,
					 __ATOMIC_RELAXED);
			cache_paid(cw, n, n);
			return 0;
		}
	}
	/* keys first, and the entries they map to on their way to the cache */
	for (uint16_t j = 0; j < n; j++) {
		uint8_t i = live[j];
		struct rte_mbuf *m = pkts[i];

		if (likely(key_fast4(rte_pktmbuf_mtod(m, const uint8_t *),
				     rte_pktmbuf_data_len(m), w0, epoch,
				     &key[j]) == 0)) {
			if (full)
				filter_ctx_fill(c, m, ctx, i);
		} else {
			filter_ctx_fill(c, m, ctx, i);
			if (key_parse(&ctx[i], w0, epoch, &key[j]) < 0) {
				slot[j] = NULL;
				same[j] = false;
				continue;
			}
		}
		/* a burst is often one flow: its frames share the slot */
		same[j] = j > 0 && slot[j - 1] != NULL &&
			  key_eq(&key[j], &key[j - 1]);
		if (same[j]) {
			slot[j] = slot[j - 1];
			continue;
		}
		slot[j] = &tab[key_hash(&key[j]) & (FILTER_CACHE_ENTRIES - 1)];
		rte_prefetch0(slot[j]);
	}
	for (uint16_t j = 0; j < n; j++) {
		uint8_t i = live[j];
		struct shunt_ctx *x = &ctx[i];
		struct fc_entry *e = slot[j];
		struct filter_rec rec;
		uint32_t v;
		uint8_t reached;

		if (unlikely(e == NULL)) {
			/* not IP or malformed: ctx filled above */
			v = run_prefix(c, w, x, NULL, &reached);
			uncached++;
			held = NULL;
		} else if (e == held || likely(key_eq(&e->key, &key[j]))) {
			/* held: the previous frame's flow, which e holds */
			if (likely(e->reached == c->n_cache))
				hits_all++;
			else
				reached_n[e->reached]++;
			replay(c, w, e);
			x->mark = e->mark;
			v = e->verdict;
			hits++;
			held = e;
		} else {
			if (!full)
				filter_ctx_fill(c, pkts[i], ctx, i);
			rec.n = 0;
			rec.bad = 0;
			v = run_prefix(c, w, x, &rec, &reached);
			held = NULL;
			if (likely(!rec.bad)) {
				e->key = key[j];
				e->verdict = v;
				e->mark = x->mark;
				e->reached = reached;
				e->n_fx = rec.n;
				memcpy(e->fx, rec.fx, rec.n * sizeof(rec.fx[0]));
				misses++;
				held = e;
			} else {
				uncached++;
			}
		}
		/* the next frame may share e only when it is the same flow */
		if (j + 1 < n && slot[j + 1] == e && !same[j + 1])
			held = NULL;
		if (likely(v == 0)) {
			live[out++] = i;
		} else {
			verdicts[i] = v;
			dead[(*ndead)++] = i;
		}
	}
	*nlive = out;
	if (hits != 0) {
		uint32_t past = 0;  /* hits that ran element k or further */

		reached_n[c->n_cache] += hits_all;
		for (unsigned int k = c->n_cache; k-- > 0;) {
			past += reached_n[k + 1];
			c->e[k].fi->ws[w].runs += past;
		}
	}
	cache_paid(cw, hits + misses, hits);
	/* counters read by the control thread: whole stores */
	__atomic_store_n(&fw->hits, fw->hits + hits, __ATOMIC_RELAXED);
	__atomic_store_n(&fw->misses, fw->misses + misses, __ATOMIC_RELAXED);
	__atomic_store_n(&fw->uncached, fw->uncached + uncached,
			 __ATOMIC_RELAXED);
	return 0;
}
