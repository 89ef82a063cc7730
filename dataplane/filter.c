/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * eBPF filters: loading (with the loader's and verifier's messages carried
 * back as the error), instances, chains published with RCU, and the burst
 * runner the workers call. Tables and helpers: filter_table.c.
 *
 * How a filter reaches the packet: rte_bpf's verifier lets a program follow
 * a pointer it loads only from an mbuf argument (buf_addr, at offset 0,
 * becomes a pointer to buf_size bytes). So the context is declared to
 * rte_bpf as RTE_BPF_ARG_PTR_MBUF of sizeof(struct shunt_ctx) with
 * buf_size SHUNT_WINDOW, and struct shunt_ctx keeps its data pointer at
 * offset 0 and nothing at the offsets the verifier treats specially
 * (checked below). The runner guarantees SHUNT_WINDOW readable bytes
 * behind ctx->data.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <rte_bpf.h>
#include <rte_errno.h>
#include <rte_log.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring_elem.h>
#include "filter_internal.h"
#include "log.h"

_Static_assert(offsetof(struct shunt_ctx, data) ==
	       offsetof(struct rte_mbuf, buf_addr), "data where buf_addr is");
_Static_assert(offsetof(struct shunt_ctx, reserved0) ==
	       offsetof(struct rte_mbuf, data_off), "data_off kept reserved");
_Static_assert(sizeof(struct shunt_ctx) <= offsetof(struct rte_mbuf, next),
	       "context ends before mbuf.next");
_Static_assert(offsetof(struct shunt_ctx, mark) == 32 &&
	       sizeof(struct shunt_ctx) == 48, "ABI v1 layout");
_Static_assert(sizeof(struct filter_sample) % 4 == 0, "ring element size");

#define SAMPLE_RING 256

static uint32_t inst_seq;  /* unique ring names */
static uint32_t chain_seq; /* chain ids (control thread only) */

/* ---- loading ------------------------------------------------------------ */

/* Copy a names section (SHUNT_NAME_LEN-byte entries) into names[]. */
static int names_read(Elf_Data *d, char (*names)[SHUNT_NAME_LEN],
		      unsigned int max, unsigned int *n)
{
	size_t cnt = d->d_size / SHUNT_NAME_LEN;

	if (d->d_size % SHUNT_NAME_LEN != 0 || cnt > max)
		return -1;
	for (size_t i = 0; i < cnt; i++) {
		memcpy(names[i], (const char *)d->d_buf + i * SHUNT_NAME_LEN,
		       SHUNT_NAME_LEN);
		names[i][SHUNT_NAME_LEN - 1] = '\0';
	}
	*n = (unsigned int)cnt;
	return 0;
}

/* Helpers a SHUNT_FLOW_CACHEABLE filter may call: their results depend on
 * the tables only (covered by the cache's epoch), or they are counter adds
 * the cache records and replays. */
static bool helper_is_pure(const char *name)
{
	static const char *const pure[] = {
		"shunt_lookup", "shunt_lpm4", "shunt_lpm6", "shunt_array",
		"shunt_counter_add",
	};

	for (unsigned int i = 0; i < RTE_DIM(pure); i++)
		if (strcmp(name, pure[i]) == 0)
			return true;
	return false;
}

/*
 * Look at the ELF before rte_bpf does, for messages it cannot give: which
 * ABI version the file was built for, which section is missing, which
 * helper is unknown, and to read the names sections.
 */
static int elf_check(const char *path, int fd, struct filter *f, char *err,
		     size_t errlen)
{
	Elf *elf;
	GElf_Ehdr eh;
	Elf_Scn *scn = NULL, *code = NULL;
	size_t shstrndx, code_idx = 0;
	char others[128] = "", sections[256] = "";
	int rc = 0;

	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ, NULL);
	if (elf == NULL || elf_kind(elf) != ELF_K_ELF ||
	    gelf_getehdr(elf, &eh) == NULL || eh.e_ident[EI_CLASS] != ELFCLASS64) {
		snprintf(err, errlen, "%s: not an ELF64 object", path);
		rc = -ENOEXEC;
		goto out;
	}
	if (eh.e_machine != EM_BPF || eh.e_type != ET_REL) {
		snprintf(err, errlen, "%s: not an eBPF object (machine %u, type %u);"
			 " build it with clang -O2 -target bpf -mcpu=v2 -c",
			 path, eh.e_machine, eh.e_type);
		rc = -ENOEXEC;
		goto out;
	}
	if (elf_getshdrstrndx(elf, &shstrndx) != 0) {
		snprintf(err, errlen, "%s: no section names", path);
		rc = -ENOEXEC;
		goto out;
	}
	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		GElf_Shdr sh;
		const char *sn;

		if (gelf_getshdr(scn, &sh) == NULL)
			continue;
		sn = elf_strptr(elf, shstrndx, sh.sh_name);
		if (sn == NULL)
			continue;
		if (sh.sh_type == SHT_PROGBITS && sn[0] != '\0' &&
		    strlen(sections) + strlen(sn) + 3 < sizeof(sections))
			snprintf(sections + strlen(sections),
				 sizeof(sections) - strlen(sections), "%s%s",
				 sections[0] ? ", " : "", sn);
		if (strcmp(sn, SHUNT_FILTER_SECTION) == 0 &&
		    sh.sh_type == SHT_PROGBITS) {
			code = scn;
			code_idx = elf_ndxscn(scn);
			f->n_insns = (uint32_t)(sh.sh_size / 8);
		} else if (strncmp(sn, SHUNT_FILTER_SECTION_PREFIX,
				   strlen(SHUNT_FILTER_SECTION_PREFIX)) == 0 &&
			   strlen(others) + strlen(sn) + 3 < sizeof(others)) {
			snprintf(others + strlen(others),
				 sizeof(others) - strlen(others), "%s%s",
				 others[0] ? ", " : "",
				 sn + strlen(SHUNT_FILTER_SECTION_PREFIX));
		} else if (strcmp(sn, SHUNT_CACHEABLE_SECTION) == 0) {
			f->cacheable = true;
		} else if (strcmp(sn, SHUNT_REASONS_SECTION) == 0 ||
			   strcmp(sn, SHUNT_COUNTERS_SECTION) == 0) {
			Elf_Data *d = elf_getdata(scn, NULL);
			int reasons = sn[6] == 'r';

			if (d == NULL ||
			    (reasons ? names_read(d, f->reasons + 1,
						  SHUNT_MAX_REASONS, &f->n_reasons)
				     : names_read(d, f->counters,
						  SHUNT_MAX_COUNTERS,
						  &f->n_counters)) < 0) {
				snprintf(err, errlen, "%s: section %s: over %d "
					 "names of %d bytes", path, sn,
					 reasons ? SHUNT_MAX_REASONS :
					 SHUNT_MAX_COUNTERS, SHUNT_NAME_LEN);
				rc = -EINVAL;
				goto out;
			}
		}
	}
	if (code == NULL && others[0] != '\0') {
		snprintf(err, errlen, "%s: built for shunt filter ABI version %s; "
			 "this data plane accepts version %d (rebuild it "
			 "against shunt_filter.h version %d)", path, others,
			 SHUNT_FILTER_ABI_VERSION, SHUNT_FILTER_ABI_VERSION);
		rc = -EPROTO;
		goto out;
	}
	if (code == NULL) {
		snprintf(err, errlen, "%s: no section \"%s\" (sections: %s); "
			 "declare the filter with SHUNT_FILTER()", path,
			 SHUNT_FILTER_SECTION, sections[0] ? sections : "none");
		rc = -ENOEXEC;
		goto out;
	}
	/* Every relocation of the code must name a helper: rte_bpf cannot
	 * load global data, and says only "error code: -2" about it. */
	scn = NULL;
	while ((scn = elf_nextscn(elf, scn)) != NULL) {
		GElf_Shdr sh;
		Elf_Data *d, *symd;
		Elf_Scn *syms;
		GElf_Shdr symsh;

		if (gelf_getshdr(scn, &sh) == NULL || sh.sh_type != SHT_REL ||
		    sh.sh_info != code_idx)
			continue;
		d = elf_getdata(scn, NULL);
		syms = elf_getscn(elf, sh.sh_link);
		symd = syms ? elf_getdata(syms, NULL) : NULL;
		if (d == NULL || symd == NULL || gelf_getshdr(syms, &symsh) == NULL)
			continue;
		for (size_t i = 0; i < d->d_size / sizeof(Elf64_Rel); i++) {
			GElf_Rel rel;
			GElf_Sym sym;
			const char *name;
			unsigned int k;

			if (gelf_getrel(d, (int)i, &rel) == NULL ||
			    gelf_getsym(symd, (int)GELF_R_SYM(rel.r_info), &sym) == NULL)
				continue;
			name = elf_strptr(elf, symsh.sh_link, sym.st_name);
			/* a defined symbol is data in this file; only an
			 * undefined one can be a helper */
			if (name == NULL || name[0] == '\0' ||
			    GELF_ST_TYPE(sym.st_info) == STT_SECTION ||
			    sym.st_shndx != SHN_UNDEF) {
				GElf_Shdr ts;
				Elf_Scn *target = elf_getscn(elf, sym.st_shndx);

				name = target && gelf_getshdr(target, &ts) ?
					elf_strptr(elf, shstrndx, ts.sh_name) : "?";
				snprintf(err, errlen, "%s: the code refers to "
					 "%s%s%s in section %s, which rte_bpf "
					 "cannot load (no global or static "
					 "data; keep constants in code)", path,
					 sym.st_name ? "\"" : "",
					 sym.st_name ? elf_strptr(elf, symsh.sh_link,
								  sym.st_name) : "data",
					 sym.st_name ? "\"" : "",
					 name ? name : "?");
				rc = -EINVAL;
				goto out;
			}
			for (k = 0; k < filter_n_xsym; k++)
				if (strcmp(name, filter_xsym[k].name) == 0)
					break;
			if (k == filter_n_xsym) {
				snprintf(err, errlen, "%s: calls or uses \"%s\", "
					 "which is not a shunt helper", path, name);
				rc = -EINVAL;
				goto out;
			}
			if (f->cacheable && !helper_is_pure(name)) {
				snprintf(err, errlen, "%s: declares "
					 "SHUNT_FLOW_CACHEABLE but calls %s, "
					 "whose effect is not a function of the "
					 "flow (drop the declaration or the call)",
					 path, name);
				rc = -EINVAL;
				goto out;
			}
		}
	}
out:
	if (elf != NULL)
		elf_end(elf);
	return rc;
}

/* Turn what rte_bpf logged during a failed load into one line. */
static void log_text_append(char *err, size_t errlen, char *text)
{
	size_t l = strlen(err);

	for (char *save, *line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		size_t ll = strlen(line);

		/* DPDK ends its lines with ';' */
		while (ll > 0 && (line[ll - 1] == ';' || line[ll - 1] == ' '))
			line[--ll] = '\0';
		if (ll == 0)
			continue;
		if (l + 3 >= errlen)
			break;
		l += (size_t)snprintf(err + l, errlen - l, "%s%s",
				      l && err[l - 1] != ' ' ? "; " : "", line);
		if (l >= errlen)
			break;
	}
}

static const struct rte_bpf_prm base_prm = {
	.xsym = filter_xsym,
	/* the context, described as an mbuf (see the top of this file) */
	.prog_arg = { .type = RTE_BPF_ARG_PTR_MBUF,
		      .size = sizeof(struct shunt_ctx),
		      .buf_size = SHUNT_WINDOW },
};

/*
 * Run the load with DPDK's log going to a memory stream, so the verifier's
 * and ELF loader's messages end up in err. The stream is global: a message
 * another thread logs meanwhile lands there too, which only makes the
 * error longer; the control thread is the only one that loads.
 */
static struct rte_bpf *bpf_load_logged(const char *path,
				       const struct ebpf_insn *ins,
				       uint32_t n_ins, char *err,
				       size_t errlen)
{
	struct rte_bpf_prm prm = base_prm;
	FILE *old = rte_log_get_stream(), *ms;
	char *text = NULL;
	size_t tlen = 0;
	struct rte_bpf *bpf;
	int e;

	prm.nb_xsym = filter_n_xsym;
	prm.ins = ins;
	prm.nb_ins = n_ins;
	ms = open_memstream(&text, &tlen);
	if (ms != NULL)
		rte_openlog_stream(ms);
	bpf = path ? rte_bpf_elf_load(&prm, path, SHUNT_FILTER_SECTION)
		   : rte_bpf_load(&prm);
	e = rte_errno;
	if (ms != NULL) {
		rte_openlog_stream(old);
		fclose(ms);
	}
	if (bpf == NULL) {
		snprintf(err, errlen, "%s: rejected by rte_bpf (%s): ",
			 path ? path : "program", rte_strerror(e));
		if (text != NULL && tlen > 0)
			log_text_append(err, errlen, text);
		else
			snprintf(err + strlen(err), errlen - strlen(err),
				 "no message (raise the lib.bpf log level)");
	}
	free(text);
	return bpf;
}

static int filter_finish(struct filter *f, struct rte_bpf *bpf,
			 const char *name, unsigned int flags)
{
	struct rte_bpf_jit jit = { 0 };

	f->bpf = bpf;
	f->refcnt = 1;
	snprintf(f->name, sizeof(f->name), "%s", name ? name : "");
	snprintf(f->reasons[0], SHUNT_NAME_LEN, "drop");
	if (!(flags & FILTER_LOAD_NO_JIT) && rte_bpf_get_jit(bpf, &jit) == 0)
		f->jit = jit.func;
	if (f->jit == NULL)
		log_debug("filter %s: no JIT code, running in the interpreter",
			  f->name);
	else
		log_debug("filter %s: JIT, %zu bytes of code", f->name, jit.sz);
	return 0;
}

int filter_load(const char *path, const char *name, unsigned int flags,
		struct filter **out, char *err, size_t errlen)
{
	struct filter *f;
	struct rte_bpf *bpf;
	struct stat st;
	int fd, rc;

	err[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(err, errlen, "%s: not a regular file", path);
		return -EINVAL;
	}
	if (st.st_size > FILTER_FILE_MAX) {
		close(fd);
		snprintf(err, errlen, "%s: %lld bytes, over the %u byte limit",
			 path, (long long)st.st_size, FILTER_FILE_MAX);
		return -EFBIG;
	}
	f = calloc(1, sizeof(*f));
	if (f == NULL) {
		close(fd);
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	rc = elf_check(path, fd, f, err, errlen);
	close(fd);
	if (rc < 0) {
		free(f);
		return rc;
	}
	/* rte_bpf opens the file again by name: a file replaced between the
	 * two opens is checked by rte_bpf's own loader and verifier. */
	bpf = bpf_load_logged(path, NULL, 0, err, errlen);
	if (bpf == NULL) {
		free(f);
		return -EINVAL;
	}
	filter_finish(f, bpf, name ? name : path, flags);
	*out = f;
	return 0;
}

int filter_load_raw(const void *insns, uint32_t n_insns, const char *name,
		    unsigned int flags, struct filter **out, char *err,
		    size_t errlen)
{
	struct filter *f = calloc(1, sizeof(*f));
	struct rte_bpf *bpf;

	err[0] = '\0';
	if (f == NULL)
		return -ENOMEM;
	bpf = bpf_load_logged(NULL, insns, n_insns, err, errlen);
	if (bpf == NULL) {
		free(f);
		return -EINVAL;
	}
	filter_finish(f, bpf, name, flags);
	f->n_insns = n_insns;
	*out = f;
	return 0;
}

void filter_get(struct filter *f)
{
	f->refcnt++;
}

void filter_put(struct filter *f)
{
	if (f == NULL || --f->refcnt > 0)
		return;
	rte_bpf_destroy(f->bpf);
	free(f);
}

const char *filter_name(const struct filter *f) { return f->name; }
bool filter_is_jit(const struct filter *f) { return f->jit != NULL; }
uint32_t filter_n_insns(const struct filter *f) { return f->n_insns; }
unsigned int filter_n_counters(const struct filter *f) { return f->n_counters; }

const char *filter_reason_name(const struct filter *f, unsigned int r)
{
	return r <= f->n_reasons ? f->reasons[r] : NULL;
}

const char *filter_counter_name(const struct filter *f, unsigned int i)
{
	return i < f->n_counters ? f->counters[i] : NULL;
}

/* ---- instances ---------------------------------------------------------- */

int filter_inst_create(struct filter *f, struct filter_inst **out,
		       char *err, size_t errlen)
{
	struct filter_inst *fi;
	char rname[RTE_RING_NAMESIZE];

	fi = rte_zmalloc("shunt_finst", sizeof(*fi), RTE_CACHE_LINE_SIZE);
	if (fi == NULL)
		goto nomem;
	snprintf(rname, sizeof(rname), "shunt_fs%u", inst_seq++);
	/* many workers sample, the control thread drains */
	fi->samples = rte_ring_create_elem(rname, sizeof(struct filter_sample),
					   SAMPLE_RING, SOCKET_ID_ANY,
					   RING_F_SC_DEQ);
	if (fi->samples == NULL) {
		rte_free(fi);
		goto nomem;
	}
	filter_get(f);
	fi->f = f;
	fi->refcnt = 1;
	*out = fi;
	return 0;
nomem:
	snprintf(err, errlen, "filter %s: out of memory for an instance",
		 f->name);
	return -ENOMEM;
}

void filter_inst_get(struct filter_inst *fi)
{
	fi->refcnt++;
}

void filter_inst_put(struct filter_inst *fi)
{
	if (fi == NULL || --fi->refcnt > 0)
		return;
	for (unsigned int s = 0; s < SHUNT_MAX_SLOTS; s++)
		filter_table_put(fi->slot[s]);
	rte_ring_free(fi->samples);
	filter_put(fi->f);
	rte_free(fi);
}

struct filter *filter_inst_filter(const struct filter_inst *fi)
{
	return fi->f;
}

int filter_inst_bind(struct filter_inst *fi, unsigned int slot,
		     struct filter_table *t, struct rte_rcu_qsbr *qsbr)
{
	struct filter_table *old;

	if (slot >= SHUNT_MAX_SLOTS)
		return -EINVAL;
	if (t != NULL)
		filter_table_get(t);
	old = fi->slot[slot];
	__atomic_store_n(&fi->slot[slot], t, __ATOMIC_RELEASE);
	filter_epoch_bump();
	if (old != NULL) {
		if (qsbr != NULL)
			rte_rcu_qsbr_synchronize(qsbr, RTE_QSBR_THRID_INVALID);
		filter_table_put(old);
	}
	return 0;
}

int filter_inst_bucket_set(struct filter_inst *fi, unsigned int b,
			   uint64_t rate_bps, uint64_t burst)
{
	struct filter_bucket *k;

	if (b >= SHUNT_MAX_BUCKETS || burst > INT64_MAX / 2)
		return -EINVAL;
	k = &fi->bucket[b];
	/* rate last: a worker that sees it sees the rest (or an old burst,
	 * which only errs for one refill) */
	__atomic_store_n(&k->burst, burst, __ATOMIC_RELAXED);
	__atomic_store_n(&k->tokens, (int64_t)burst, __ATOMIC_RELAXED);
	__atomic_store_n(&k->last_ns, filter_now_ns(), __ATOMIC_RELAXED);
	__atomic_store_n(&k->rate, rate_bps, __ATOMIC_RELEASE);
	return 0;
}

void filter_inst_stats_read(const struct filter_inst *fi,
			    struct filter_inst_stats *s)
{
	memset(s, 0, sizeof(*s));
	for (unsigned int w = 0; w < FILTER_MAX_WORKERS; w++) {
		const struct filter_inst_worker *ws = &fi->ws[w];

		s->runs += __atomic_load_n(&ws->runs, __ATOMIC_RELAXED);
		for (unsigned int r = 0; r <= SHUNT_MAX_REASONS; r++)
			s->drops[r] += __atomic_load_n(&ws->drops[r],
						       __ATOMIC_RELAXED);
		for (unsigned int c = 0; c < SHUNT_MAX_COUNTERS; c++)
			s->counters[c] += __atomic_load_n(&ws->counters[c],
							  __ATOMIC_RELAXED);
	}
	s->samples_lost = __atomic_load_n(&fi->samples_lost, __ATOMIC_RELAXED);
}

unsigned int filter_inst_samples_read(struct filter_inst *fi,
				      struct filter_sample *out,
				      unsigned int max)
{
	return rte_ring_sc_dequeue_burst_elem(fi->samples, out,
					      sizeof(*out), max, NULL);
}

/* ---- chains ------------------------------------------------------------- */

int filter_chain_build(struct filter_inst *const *insts,
		       const unsigned int *flags, unsigned int n,
		       const struct filter_chain_meta *meta,
		       struct filter_chain **out, char *err, size_t errlen)
{
	struct filter_chain *c;

	if (n == 0 || n > FILTER_CHAIN_MAX) {
		snprintf(err, errlen, "a chain holds 1 to %d filters, not %u",
			 FILTER_CHAIN_MAX, n);
		return -EINVAL;
	}
	c = rte_zmalloc("shunt_fchain", sizeof(*c), RTE_CACHE_LINE_SIZE);
	if (c == NULL) {
		snprintf(err, errlen, "out of memory for a chain");
		return -ENOMEM;
	}
	c->n = n;
	if (++chain_seq == 0) {
		/* ids wrapped (after 4G builds): a new epoch, so no entry
		 * kept from the chain that had this id before can match */
		chain_seq = 1;  /* 0 marks an empty cache entry */
		filter_epoch_bump();
	}
	c->id = chain_seq;
	if (meta != NULL)
		c->meta = *meta;
	for (unsigned int i = 0; i < n; i++) {
		filter_inst_get(insts[i]);
		c->e[i].fi = insts[i];
		c->e[i].jit = insts[i]->f->jit;
		c->e[i].bpf = insts[i]->f->bpf;
		c->e[i].flags = flags ? flags[i] : 0;
		/* the cache covers the chain's head of cacheable filters */
		if (c->n_cache == i && filter_cache_enabled() &&
		    insts[i]->f->cacheable &&
		    !(c->e[i].flags & (FILTER_ELEM_WATCH_DROPS |
				       FILTER_ELEM_NO_CACHE)))
			c->n_cache = i + 1;
	}
	*out = c;
	return 0;
}

void filter_chain_free(struct filter_chain *c)
{
	if (c == NULL)
		return;
	for (unsigned int i = 0; i < c->n; i++)
		filter_inst_put(c->e[i].fi);
	rte_free(c);
}

int filter_chain_publish(struct filter_chain **slot, struct filter_chain *fresh,
			 struct rte_rcu_qsbr *qsbr)
{
	struct filter_chain *old = *slot;

	__atomic_store_n(slot, fresh, __ATOMIC_RELEASE);
	if (old != NULL) {
		if (qsbr != NULL)
			rte_rcu_qsbr_synchronize(qsbr, RTE_QSBR_THRID_INVALID);
		filter_chain_free(old);
	}
	return 0;
}

unsigned int filter_chain_len(const struct filter_chain *c)
{
	return c ? c->n : 0;
}

const struct filter_chain_meta *filter_chain_meta(const struct filter_chain *c)
{
	return &c->meta;
}

unsigned int filter_chain_n_cached(const struct filter_chain *c)
{
	return c ? c->n_cache : 0;
}

/* ---- data path ---------------------------------------------------------- */

__thread uint8_t filter_short_copy[FILTER_BURST][SHUNT_WINDOW];

_Static_assert(FILTER_BURST == 64, "ident[] below");

static uint16_t chain_run_part(const struct filter_chain *c, unsigned int w,
			       struct rte_mbuf **pkts, uint16_t n,
			       uint32_t *verdicts, uint32_t *marks)
{
	struct shunt_ctx ctx[FILTER_BURST];
	uint8_t live[FILTER_BURST], dead[FILTER_BURST];
	uint16_t nlive = n, ndead = 0;
	unsigned int k0 = 0;

	static const uint8_t ident[FILTER_BURST] = {
		0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17,
		18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33,
		34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49,
		50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63,
	};

	memset(verdicts, 0, n * sizeof(verdicts[0]));
	memcpy(live, ident, n);
	/* the cache fills the contexts it needs; otherwise all are */
	if (c->n_cache != 0 &&
	    filter_cache_run(c, w, pkts, ctx, verdicts, live, &nlive, dead,
			     &ndead, marks != NULL) == 0)
		k0 = c->n_cache;
	else
		for (uint16_t i = 0; i < n; i++)
			filter_ctx_fill(c, pkts[i], ctx, i);
	for (unsigned int k = k0; k < c->n; k++) {
		const struct filter_chain_elem *e = &c->e[k];
		struct filter_inst_worker *ws = &e->fi->ws[w];
		uint16_t out = 0;

		filter_cur.fi = e->fi;
		filter_cur.ws = ws;
		for (uint16_t j = 0; j < nlive; j++) {
			uint8_t i = live[j];
			uint64_t v = filter_run_one(e, &ctx[i]);
			uint32_t r;

			if (likely(SHUNT_VERDICT_ACTION(v) == 0)) {
				live[out++] = i;
				continue;
			}
			r = SHUNT_VERDICT_REASON(v);
			if (r > SHUNT_MAX_REASONS)
				r = 0;
			ws->drops[r]++;
			verdicts[i] = FILTER_VERDICT_DROP | k << 8 | r;
			dead[ndead++] = i;
		}
		ws->runs += nlive;
		if (unlikely(e->flags & FILTER_ELEM_WATCH_DROPS)) {
			/* frames dropped before this element, not by it */
			for (uint16_t j = 0; j < ndead; j++) {
				uint8_t i = dead[j];

				if (FILTER_VERDICT_POS(verdicts[i]) == k)
					continue;
				ctx[i].drop_verdict = (uint32_t)SHUNT_DROP_REASON(
					FILTER_VERDICT_REASON(verdicts[i]));
				filter_run_one(e, &ctx[i]);
			}
		}
		nlive = out;
	}
	filter_cur.fi = NULL;
	filter_cur.ws = NULL;
	if (marks != NULL)
		for (uint16_t i = 0; i < n; i++)
			marks[i] = ctx[i].mark;
	return ndead;
}

uint16_t filter_chain_run(const struct filter_chain *c, unsigned int w,
			  struct rte_mbuf **pkts, uint16_t n,
			  uint32_t *verdicts, uint32_t *marks)
{
	uint16_t drops = 0;

	for (uint16_t off = 0; off < n; off += FILTER_BURST) {
		uint16_t k = (uint16_t)RTE_MIN(n - off, FILTER_BURST);

		drops += chain_run_part(c, w, pkts + off, k, verdicts + off,
					marks ? marks + off : NULL);
	}
	return drops;
}

uint16_t filter_chain_apply(const struct filter_chain *c, unsigned int w,
			    struct rte_mbuf **pkts, uint16_t n,
			    struct rte_mbuf **drops, uint16_t *n_drops)
{
	uint32_t verdicts[FILTER_BURST];
	uint16_t pass = 0, nd = 0;

	for (uint16_t off = 0; off < n; off += FILTER_BURST) {
		uint16_t k = (uint16_t)RTE_MIN(n - off, FILTER_BURST);

		if (chain_run_part(c, w, pkts + off, k, verdicts, NULL) == 0) {
			if (pass != off)
				memmove(pkts + pass, pkts + off,
					k * sizeof(pkts[0]));
			pass += k;
			continue;
		}
		for (uint16_t i = 0; i < k; i++) {
			if (verdicts[i] == 0)
				pkts[pass++] = pkts[off + i];
			else
				drops[nd++] = pkts[off + i];
		}
	}
	*n_drops = nd;
	return pass;
}

uint64_t filter_exec(const struct filter *f, struct filter_inst *fi,
		     unsigned int w, struct shunt_ctx *ctx, bool jit)
{
	uint64_t v;

	filter_cur.fi = fi;
	filter_cur.ws = fi != NULL ? &fi->ws[w % FILTER_MAX_WORKERS] : NULL;
	v = jit && f->jit != NULL ? f->jit(ctx) : rte_bpf_exec(f->bpf, ctx);
	filter_cur.fi = NULL;
	filter_cur.ws = NULL;
	return v;
}
