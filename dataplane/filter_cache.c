/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The verdict cache: filters declared SHUNT_FLOW_CACHEABLE at the head of a
 * chain run once per flow, and their result is replayed on the flow's later
 * frames (filter.h says what is kept; shunt_filter.h what a filter
 * promises by declaring it).
 *
 * One two-way set-associative table per worker, written by that worker
 * only, so no
 * locks and no atomics but the epoch's load. An entry is keyed by
 *   - the chain's id: chains are immutable and every build gets a new id,
 *     so a replaced chain's entries are never hit again;
 *   - the table epoch: every table change bumps it after the change is
 *     visible. A worker reads the epoch before it runs anything, and tags
 *     what it stores with that epoch: a result computed from tables older
 *     than the epoch cannot be stored under a newer one;
 *   - what shunt_parse() makes of the frame, l4_off aside.
 * A third flow in a bucket replaces one of the two (an entry of an older
 * epoch first, else in turn): at worst a flow runs its filters every
 * time, never with another's result, because the whole key is compared.
 */
#include <string.h>
#include <rte_byteorder.h>
#include <rte_hash_crc.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include "filter_internal.h"
#include "shunt_parse.h"

_Static_assert((FILTER_CACHE_ENTRIES & (FILTER_CACHE_ENTRIES - 1)) == 0,
	       "a power of two");
_Static_assert(FILTER_CHAIN_MAX < 255, "reached fits a byte");

/*
 * A key is six words, built in registers (no byte stores into a word that
 * is then read whole):
 *   w[0]  chain id | family << 32 | proto << 40 | frag << 48 | has_ports << 56
 *   w[1]  ports (source, destination) as in the frame | epoch << 32
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
	uint8_t next;             /* way 0 only: the way a miss replaces */
	uint8_t pad[5];
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
	k->w[0] = w0 | key_w0(0, 4, proto, SHUNT_FRAG_NONE, 1);
	k->w[1] = (uint64_t)ports | epoch << 32;
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
	k->w[1] = (uint64_t)rte_cpu_to_be_16(p.sport) |
		  (uint64_t)rte_cpu_to_be_16(p.dport) << 16 | epoch << 32;
	if (p.family == 4) {
		k->w[2] = (uint64_t)p.src4 | (uint64_t)p.dst4 << 32;
		k->w[3] = k->w[4] = k->w[5] = 0;
	} else {
		memcpy(&k->w[2], p.src6, 16);
		memcpy(&k->w[4], p.dst6, 16);
	}
	return 0;
}

/* CRC32-C of the key's words (one instruction a word with SSE4.2): a
 * linear code, so flows that differ in a few bits (addresses or ports
 * counted up) land in distinct buckets, and others spread as random. */
static inline uint32_t crc_word(uint64_t w, uint32_t h)
{
#if defined(RTE_ARCH_X86_64) && defined(__SSE4_2__)
	return crc32c_sse42_u64(w, h);   /* no run-time CPU check */
#else
	return rte_hash_crc_8byte(w, h);
#endif
}

/* The bucket of a key: FILTER_CACHE_ENTRIES / FC_WAYS of them. */
#define FC_WAYS 2
static inline uint32_t key_bucket(const struct fc_key *k)
{
	uint32_t h = crc_word(k->w[0], 0);

	h = crc_word(k->w[1], h);
	h = crc_word(k->w[2], h);
	if (unlikely(key_is6(k))) {
		h = crc_word(k->w[3], h);
		h = crc_word(k->w[4], h);
		h = crc_word(k->w[5], h);
	}
	return h & (FILTER_CACHE_ENTRIES / FC_WAYS - 1);
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
 * same key: a round of one flow is told by two 16-byte loads a frame.
 */
typedef uint8_t fc_v16 __attribute__((vector_size(16)));

/* Bytes 12-27 and 22-37 of a frame (unaligned loads), and the masks of
 * what counts in them. */
static inline fc_v16 ld16(const uint8_t *p)
{
	fc_v16 v;

	memcpy(&v, p, 16);
	return v;
}

static const fc_v16 sig_mask1 = {   /* bytes 12..27 */
	0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0xff, 0, 0, 0xff, 0xff,
};
static const fc_v16 sig_mask2 = {   /* bytes 22..37 */
	0, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff,
};

/* Whether the live frames of the round are all frame live[0]'s flow,
 * which key_fast4() accepted. */
static inline bool one_flow(struct rte_mbuf **pkts, const uint8_t *live,
			    uint16_t n)
{
	const uint8_t *d0 = rte_pktmbuf_mtod(pkts[live[0]], const uint8_t *);
	fc_v16 a0 = ld16(d0 + 12), b0 = ld16(d0 + 22);

	for (uint16_t j = 1; j < n; j++) {
		struct rte_mbuf *m = pkts[live[j]];
		const uint8_t *d = rte_pktmbuf_mtod(m, const uint8_t *);
		fc_v16 x;
		uint64_t w[2];

		if (unlikely(rte_pktmbuf_data_len(m) < 14 + 20 + 4))
			return false;
		x = ((ld16(d + 12) ^ a0) & sig_mask1) |
		    ((ld16(d + 22) ^ b0) & sig_mask2);
		memcpy(w, &x, 16);
		if ((w[0] | w[1]) != 0)
			return false;
	}
	return true;
}

/* The entry holding k, or NULL with *victim set to the way of k's
 * bucket a miss should take: an entry of an older epoch (useless) if
 * there is one, else the ways in turn. */
static __rte_always_inline struct fc_entry *lookup(struct fc_entry *tab,
				      const struct fc_key *k, uint64_t epoch,
				      struct fc_entry **victim)
{
	struct fc_entry *b = &tab[key_bucket(k) * FC_WAYS];

	if (key_eq(&b[0].key, k))
		return &b[0];
	if (key_eq(&b[1].key, k))
		return &b[1];
	if (b[0].key.w[1] >> 32 != epoch)
		*victim = &b[0];
	else if (b[1].key.w[1] >> 32 != epoch)
		*victim = &b[1];
	else
		*victim = &b[b[0].next ^= 1];
	return NULL;
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

/* Replay entry e's drop count and counter adds for n frames of its flow
 * (runs: by the caller, which counts them a round at a time). */
static inline void replay(const struct filter_chain *c, unsigned int w,
			  const struct fc_entry *e, uint32_t n)
{
	if (unlikely(e->verdict != 0))
		c->e[FILTER_VERDICT_POS(e->verdict)].fi->ws[w]
			.drops[FILTER_VERDICT_REASON(e->verdict)] += n;
	for (unsigned int j = 0; j < e->n_fx; j++)
		*e->fx[j].counter += e->fx[j].val * n;
}

/*
 * Account lookups, hits and evictions to the chain on this worker. Every
 * CACHE_WINDOW lookups, a window with fewer than half hits in which over
 * a quarter of the lookups pushed out a current entry of the same chain
 * (thrashing: more flows than the cache holds, in rotation) makes the
 * chain skip the cache
 * for a number of rounds, doubled (up to CACHE_SKIP_MAX) while windows
 * keep thrashing. A miss costs a lookup and a store on top of the
 * filters: under half hits the cache costs more than it saves. Misses
 * that fill free or outdated entries or other chains' (a new chain, new
 * rules, new flows) are not this chain thrashing: those entries will hit.
 */
#define CACHE_WINDOW 256
#define CACHE_SKIP_MIN 16
#define CACHE_SKIP_MAX 65536
static inline void cache_paid(struct filter_chain_ws *cw, uint32_t lookups,
			      uint32_t hits, uint32_t evictions)
{
	cw->lookups += lookups;
	cw->hits += hits;
	cw->evictions += evictions;
	if (likely(cw->lookups < CACHE_WINDOW))
		return;
	if (cw->hits * 2 < cw->lookups && cw->evictions * 4 > cw->lookups) {
		cw->backoff = cw->backoff == 0 ? CACHE_SKIP_MIN :
			RTE_MIN(cw->backoff * 2, (uint32_t)CACHE_SKIP_MAX);
		cw->skip = cw->backoff;
	} else {
		cw->backoff = 0;
	}
	cw->lookups = 0;
	cw->hits = 0;
	cw->evictions = 0;
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
	struct fc_key key0;
	/* hits by how far the chain ran: runs counted once a round */
	uint32_t reached_n[FILTER_CHAIN_MAX + 1] = { 0 };
	bool full = c->n_cache < c->n;  /* later elements need contexts */
	uint64_t w0, epoch;
	uint16_t out = 0, n = *nlive;
	uint32_t hits = 0, misses = 0, uncached = 0, hits_all = 0;
	uint32_t evictions = 0;

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
			       &key0) == 0) {
		struct fc_entry *victim, *e = lookup(tab, &key0, epoch, &victim);

		if (e != NULL && one_flow(pkts, live, n)) {
			for (unsigned int k = 0; k < e->reached; k++)
				c->e[k].fi->ws[w].runs += n;
			replay(c, w, e, n);
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
			cache_paid(cw, n, n, 0);
			return 0;
		}
	}
	for (uint16_t j = 0; j < n; j++) {
		uint8_t i = live[j];
		struct rte_mbuf *m = pkts[i];
		struct shunt_ctx *x = &ctx[i];
		struct fc_key k;
		struct fc_entry *e, *victim;
		struct filter_rec rec;
		uint32_t v;
		uint8_t reached;

		if (likely(key_fast4(rte_pktmbuf_mtod(m, const uint8_t *),
				     rte_pktmbuf_data_len(m), w0, epoch, &k) == 0)) {
			if (full)
				filter_ctx_fill(c, m, ctx, i);
		} else {
			filter_ctx_fill(c, m, ctx, i);
			if (key_parse(x, w0, epoch, &k) < 0) {
				/* not IP or malformed */
				v = run_prefix(c, w, x, NULL, &reached);
				uncached++;
				goto verdict;
			}
		}
		e = lookup(tab, &k, epoch, &victim);
		if (e == NULL) {
			e = victim;
			if (!full)
				filter_ctx_fill(c, m, ctx, i);
			rec.n = 0;
			rec.bad = 0;
			v = run_prefix(c, w, x, &rec, &reached);
			if (likely(!rec.bad)) {
				/* one of this chain's current flows */
				evictions += (uint32_t)e->key.w[0] == c->id &&
					     e->key.w[1] >> 32 == epoch;
				e->key = k;
				e->verdict = v;
				e->mark = x->mark;
				e->reached = reached;
				e->n_fx = rec.n;
				memcpy(e->fx, rec.fx, rec.n * sizeof(rec.fx[0]));
				misses++;
			} else {
				uncached++;
			}
			goto verdict;
		}
		if (likely(e->reached == c->n_cache))
			hits_all++;
		else
			reached_n[e->reached]++;
		replay(c, w, e, 1);
		x->mark = e->mark;
		v = e->verdict;
		hits++;
verdict:
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
	cache_paid(cw, hits + misses, hits, evictions);
	/* counters read by the control thread: whole stores */
	__atomic_store_n(&fw->hits, fw->hits + hits, __ATOMIC_RELAXED);
	__atomic_store_n(&fw->misses, fw->misses + misses, __ATOMIC_RELAXED);
	__atomic_store_n(&fw->uncached, fw->uncached + uncached,
			 __ATOMIC_RELAXED);
	return 0;
}
