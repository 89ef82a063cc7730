/* SPDX-License-Identifier: BSD-3-Clause */
/* Text and JSON output in nccl-tests' layout: same lines, column widths
 * and units, so that scripts written for nccl-tests read ncclperf. The
 * column layout is restated in README.md and checked by
 * tests/test_ncclperf.py. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report.h"

struct report {
	const struct np_opts *o;
	json_t *root, *results, *row;
};

void report_float(char *buf, int width, double v)
{
	static const char *const fmt[] = { "%*.2f", "%*.1f", "%*.0f" };

	for (unsigned int i = 0; i < 3; i++)
		if (snprintf(buf, (size_t)width + 1, fmt[i], width, v) <= width)
			return;
	snprintf(buf, (size_t)width + 1, width >= 7 ? "%*.1e" : "%*.0e", width, v);
}

static void now_str(char *buf, size_t len)
{
	time_t t = time(NULL);
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

struct report *report_open(const struct np_opts *o)
{
	struct report *r = calloc(1, sizeof(*r));
	char ts[64];
	json_t *args;

	if (!r)
		return NULL;
	r->o = o;
	if (!o->json_path)
		return r;
	printf("# Writing JSON output to %s\n", o->json_path);
	now_str(ts, sizeof(ts));
	args = json_array();
	for (int i = 0; i < o->argc; i++)
		json_array_append_new(args, json_string(o->argv[i]));
	/* no "env": a pod's environment may hold secrets */
	r->root = json_pack("{s:i, s:s, s:s, s:s, s:o}", "version", 3,
	                    "tool", "ncclperf " NCCLPERF_VERSION, "layout", "nccl-tests " NCCLPERF_LAYOUT,
	                    "start_time", ts, "args", args);
	r->results = json_array();
	if (!r->root || !r->results) {
		json_decref(r->root);
		json_decref(r->results);
		free(r);
		return NULL;
	}
	return r;
}

void report_header(struct report *r, const struct report_dev *dev, int nranks)
{
	const struct np_opts *o = r->o;
	size_t step = o->step_factor > 1 ? o->step_factor : o->step_bytes;
	const char *stepkind = o->step_factor > 1 ? "factor" : "bytes";
	json_t *devs = json_array(), *cfg;

	printf("# ncclperf %s (shunt): nccl-tests %s output layout, collectives on host memory, "
	       "no GPU or NCCL library\n", NCCLPERF_VERSION, NCCLPERF_LAYOUT);
	printf("# Collective test starting: %s\n", o->program);
	printf("# nThread %d nGpus %d minBytes %zu maxBytes %zu step: %zu(%s) warmup iters: %d "
	       "iters: %d agg iters: %d validation: %d graph: %d unalign: %d\n",
	       o->nthreads, o->ngpus, o->min_bytes, o->max_bytes, step, stepkind,
	       o->warmup, o->iters, o->agg_iters, o->check, 0, 0);
	printf("#\n# Using devices\n");
	for (int i = 0; i < nranks; i++) {
		const struct report_dev *d = &dev[i];

		printf("#  Rank %2d Group %2d Pid %6d on %10s device %2d [%s] %s\n",
		       d->rank, 0, d->pid, d->host, -1, d->netns, d->info);
		json_array_append_new(devs, json_pack("{s:i, s:i, s:i, s:s, s:i, s:s, s:s}",
			"rank", d->rank, "group", 0, "pid", d->pid, "hostname", d->host,
			"device", -1, "device_hex", d->netns, "device_info", d->info));
	}
	printf("#\n");
	printf("# %10s  %12s  %8s  %6s  %6s           out-of-place                       in-place          \n",
	       "", "", "", "", "");
	printf("# %10s  %12s  %8s  %6s  %6s  %7s  %6s  %6s  %6s  %7s  %6s  %6s  %6s \n",
	       "size", "count", "type", "redop", "root",
	       "time", "algbw", "busbw", "#wrong", "time", "algbw", "busbw", "#wrong");
	printf("# %10s  %12s  %8s  %6s  %6s  %7s  %6s  %6s  %6s  %7s  %6s  %6s  %6s \n",
	       "(B)", "(elements)", "", "", "",
	       "(us)", "(GB/s)", "(GB/s)", "", "(us)", "(GB/s)", "(GB/s)", "");
	fflush(stdout);
	if (!r->root) {
		json_decref(devs);
		return;
	}
	cfg = json_pack("{s:i, s:i, s:I, s:I, s:I, s:i, s:i, s:i, s:i, s:i, s:b, s:s, s:i, s:s, s:o}",
		"nthreads", o->nthreads, "ngpus", o->ngpus,
		"minimum_bytes", (json_int_t)o->min_bytes, "maximum_bytes", (json_int_t)o->max_bytes,
		o->step_factor > 1 ? "step_factor" : "step_bytes", (json_int_t)step,
		"warmup_iters", o->warmup, "iterations", o->iters,
		"aggregated_iterations", o->agg_iters, "validation", o->check, "graph", 0,
		"blocking_collectives", 0, "collective", coll_name(o->coll), "nranks", nranks,
		"transport", o->xport, "devices", devs);
	json_object_set_new(r->root, "config", cfg);
}

void report_row_begin(struct report *r, size_t bytes, size_t count, const char *type,
                      const char *op, int root)
{
	char rootstr[16];

	snprintf(rootstr, sizeof(rootstr), "%6d", root);
	printf("%12zu  %12zu  %8s  %6s  %6s", bytes, count, type, op, rootstr);
	if (r->root)
		/* root as nccl-tests writes it: the padded text of the column */
		r->row = json_pack("{s:I, s:I, s:s, s:s, s:s}", "size", (json_int_t)bytes,
		                   "count", (json_int_t)count, "type", type, "redop", op,
		                   "root", rootstr);
}

void report_row_body(struct report *r, double usec, double algbw, double busbw,
                     long long wrong, int checked, int in_place)
{
	char t[16], a[16], b[16];

	report_float(t, 7, usec);
	report_float(a, 6, algbw);
	report_float(b, 6, busbw);
	if (checked)
		printf("  %7s  %6s  %6s  %6g", t, a, b, (double)wrong);
	else
		printf("  %7s  %6s  %6s    N/A", t, a, b);
	if (r->row)
		json_object_set_new(r->row, in_place ? "in_place" : "out_of_place",
			json_pack("{s:f, s:f, s:f, s:o}", "time", usec, "alg_bw", algbw,
			          "bus_bw", busbw, "nwrong",
			          checked ? json_real((double)wrong) : json_null()));
}

void report_row_end(struct report *r)
{
	printf("\n");
	fflush(stdout);
	if (r->row) {
		json_object_set_new(r->row, "actual_iterations", json_integer(r->o->iters));
		json_object_set_new(r->row, "experiment_name", json_string(""));
		json_array_append_new(r->results, r->row);
		r->row = NULL;
	}
}

void report_footer(struct report *r, int errors, double avg_busbw)
{
	printf("# %-20s : %d %s\n", "Out of bounds values", errors, errors ? "FAILED" : "OK");
	printf("# %-20s : %g %s\n", "Avg bus bandwidth", avg_busbw, "");
	printf("#\n# Collective test concluded: %s\n#\n\n", r->o->program);
	fflush(stdout);
	if (!r->root)
		return;
	json_object_set_new(r->root, "results", r->results);
	r->results = NULL;
	json_object_set_new(r->root, "out_of_bounds",
	                    json_pack("{s:i, s:b}", "count", errors, "okay", errors == 0));
	json_object_set_new(r->root, "average_bus_bandwidth",
	                    json_pack("{s:f, s:s}", "bandwidth", avg_busbw, "okay", "unchecked"));
	json_object_set_new(r->root, "errors", json_array());
}

int report_close(struct report *r)
{
	int rc = 0;

	if (r->root) {
		char ts[64];

		now_str(ts, sizeof(ts));
		json_object_set_new(r->root, "end_time", json_string(ts));
		if (json_dump_file(r->root, r->o->json_path, JSON_INDENT(1)) < 0) {
			fprintf(stderr, "ncclperf: cannot write %s\n", r->o->json_path);
			rc = -EIO;
		}
	}
	json_decref(r->root);
	json_decref(r->results);
	json_decref(r->row);
	free(r);
	return rc;
}
