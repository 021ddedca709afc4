/*
 * The study's flat table and summary. Config columns come from the schema
 * table (one per measurement field, named by its dotted path), so the CSV
 * and Parquet columns never drift from what a config can say.
 */
#include "study/outputs.h"
#include "llem/errors.h"
#include "results/results.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct col_buf {
	double *d;
	int64_t *i;
	bool *b;
	const char **s;
	bool *present;
};

static bool table_field(const struct field *f)
{
	return f->type != FT_SECTION && !(f->flags & F_STUDY);
}

static int write_tables(const char *dir, const struct study *s, const struct run_row *rows,
			size_t n)
{
	enum { NMETRIC = 12 };
	static const char *const metric_names[NMETRIC] = { "duration_s",
							   "input_tokens",
							   "output_tokens",
							   "output_tokens_per_s",
							   "total_tokens_per_s",
							   "total_energy_j",
							   "energy_per_output_token_j",
							   "energy_adjusted_j",
							   "ttft_ms_mean",
							   "itl_ms_mean",
							   "error_type",
							   "result_file" };
	size_t ncfg = 0, f, r, c, ncols;
	struct table_column *cols;
	struct col_buf *bufs;
	int64_t *cycle = xcalloc(n + 1, sizeof(int64_t));
	const char **hash = xcalloc(n + 1, sizeof(char *)),
		   **status = xcalloc(n + 1, sizeof(char *));
	char *path;
	int rc;

	for (f = 0; f < FIELD_COUNT; f++)
		ncfg += table_field(&schema_fields[f]);
	ncols = 3 + ncfg + NMETRIC;
	cols = xcalloc(ncols, sizeof(*cols));
	bufs = xcalloc(ncols, sizeof(*bufs));
	for (r = 0; r < n; r++) {
		cycle[r] = rows[r].cycle;
		hash[r] = s->points[rows[r].point].hash;
		status[r] = rows[r].status;
	}
	cols[0] = (struct table_column){ "cycle", TABLE_INT64, cycle, NULL };
	cols[1] = (struct table_column){ "config_hash", TABLE_STRING, hash, NULL };
	cols[2] = (struct table_column){ "status", TABLE_STRING, status, NULL };
	c = 3;
	for (f = 0; f < FIELD_COUNT; f++) {
		const struct field *fd = &schema_fields[f];
		struct col_buf *b = &bufs[c];
		enum table_type t;

		if (!table_field(fd))
			continue;
		b->present = xcalloc(n + 1, sizeof(bool));
		t = fd->type == FT_INT     ? TABLE_INT64
		    : fd->type == FT_FLOAT ? TABLE_DOUBLE
		    : fd->type == FT_BOOL  ? TABLE_BOOL
					   : TABLE_STRING;
		if (t == TABLE_INT64)
			b->i = xcalloc(n + 1, sizeof(int64_t));
		else if (t == TABLE_DOUBLE)
			b->d = xcalloc(n + 1, sizeof(double));
		else if (t == TABLE_BOOL)
			b->b = xcalloc(n + 1, sizeof(bool));
		else
			b->s = xcalloc(n + 1, sizeof(char *));
		for (r = 0; r < n; r++) {
			const struct cfg_value *v = &s->points[rows[r].point].v[f];

			b->present[r] = v->kind != CV_NULL;
			if (v->kind == CV_INT)
				b->i[r] = v->i;
			else if (v->kind == CV_FLOAT)
				b->d[r] = v->f;
			else if (v->kind == CV_BOOL)
				b->b[r] = v->b;
			else if (v->kind == CV_STRING)
				b->s[r] = v->s;
		}
		cols[c] = (struct table_column){ fd->path, t,
						 t == TABLE_INT64    ? (const void *)b->i
						 : t == TABLE_DOUBLE ? (const void *)b->d
						 : t == TABLE_BOOL   ? (const void *)b->b
								     : (const void *)b->s,
						 b->present };
		c++;
	}
	for (f = 0; f < NMETRIC; f++, c++) {
		struct col_buf *b = &bufs[c];
		bool is_int = f == 1 || f == 2, is_str = f >= 10;

		b->present = xcalloc(n + 1, sizeof(bool));
		if (is_int)
			b->i = xcalloc(n + 1, sizeof(int64_t));
		else if (is_str)
			b->s = xcalloc(n + 1, sizeof(char *));
		else
			b->d = xcalloc(n + 1, sizeof(double));
		for (r = 0; r < n; r++) {
			const struct run_row *w = &rows[r];
			double d[NMETRIC] = { w->duration_s,
					      0,
					      0,
					      w->out_tok_s,
					      w->total_tok_s,
					      w->energy_j,
					      w->energy_per_token_j,
					      w->adjusted_j,
					      w->ttft_ms,
					      w->itl_ms,
					      0,
					      0 };

			if (is_int) {
				b->i[r] = f == 1 ? w->input_tokens : w->output_tokens;
				b->present[r] = w->has_result;
			} else if (is_str) {
				b->s[r] = f == 10 ? w->error_type : w->result_file;
				b->present[r] = b->s[r] != NULL;
			} else {
				b->d[r] = d[f];
				b->present[r] = w->has_result && !isnan(d[f]);
			}
		}
		cols[c] = (struct table_column){ metric_names[f],
						 is_int   ? TABLE_INT64
						 : is_str ? TABLE_STRING
							  : TABLE_DOUBLE,
						 is_int   ? (const void *)b->i
						 : is_str ? (const void *)b->s
							  : (const void *)b->d,
						 b->present };
	}
	path = xasprintf("%s/results.csv", dir);
	rc = table_write_csv(path, cols, ncols, n);
	free(path);
	if (!rc) {
		const struct table_kv meta[] = { { "llem.study_design_hash", s->design_hash } };

		path = xasprintf("%s/results.parquet", dir);
		rc = table_write_parquet(path, cols, ncols, n, meta, 1);
		free(path);
	}
	for (c = 0; c < ncols; c++) {
		free(bufs[c].d);
		free(bufs[c].i);
		free(bufs[c].b);
		free(bufs[c].s);
		free(bufs[c].present);
	}
	free(bufs);
	free(cols);
	free(cycle);
	free(hash);
	free(status);
	return rc;
}

static int write_study_json(const char *dir, const struct study *s,
			    const struct study_execution *ex, const struct manifest *m,
			    const struct run_row *rows, size_t n, double wall_s)
{
	struct strbuf sb = STRBUF_INIT;
	struct jsonw w;
	double energy = 0;
	size_t r, done = 0, failed = 0;
	bool any_energy = false;
	char *path;
	int rc;

	for (r = 0; r < n; r++) {
		done += rows[r].has_result;
		failed += rows[r].error_type != NULL && !rows[r].has_result &&
			  strcmp(rows[r].status, "interrupted") != 0;
		if (rows[r].has_result && !isnan(rows[r].energy_j)) {
			energy += rows[r].energy_j;
			any_energy = true;
		}
	}
	jsonw_init(&w, &sb, JSONW_PRETTY);
	jsonw_object_begin(&w);
	jsonw_key(&w, "schema_version");
	jsonw_string(&w, "1.0");
	jsonw_key(&w, "study_name");
	jsonw_string(&w, s->name);
	jsonw_key(&w, "study_design_hash");
	jsonw_string(&w, s->design_hash);
	jsonw_key(&w, "status");
	jsonw_string(&w, manifest_state_name(m->status));
	jsonw_key(&w, "measurement_protocol");
	jsonw_object_begin(&w);
	jsonw_key(&w, "n_cycles");
	jsonw_int(&w, ex->n_cycles);
	jsonw_key(&w, "cycle_order");
	jsonw_string(&w, study_order_name(ex->order));
	jsonw_key(&w, "experiment_gap_seconds");
	jsonw_double(&w, ex->experiment_gap_s);
	jsonw_key(&w, "cycle_gap_seconds");
	jsonw_double(&w, ex->cycle_gap_s);
	jsonw_key(&w, "shuffle_seed");
	if (ex->seed_given)
		jsonw_int(&w, ex->seed);
	else
		jsonw_null(&w);
	jsonw_object_end(&w);
	jsonw_key(&w, "summary");
	jsonw_object_begin(&w);
	jsonw_key(&w, "total_experiments");
	jsonw_int(&w, (int64_t)m->count);
	jsonw_key(&w, "completed");
	jsonw_int(&w, (int64_t)done);
	jsonw_key(&w, "failed");
	jsonw_int(&w, (int64_t)failed);
	jsonw_key(&w, "total_wall_time_s");
	jsonw_double(&w, wall_s);
	jsonw_key(&w, "total_energy_j");
	jsonw_double(&w, any_energy ? energy : NAN);
	jsonw_object_end(&w);
	jsonw_key(&w, "failures");
	jsonw_array_begin(&w);
	for (r = 0; r < n; r++) {
		if (rows[r].has_result || !rows[r].error_type)
			continue;
		jsonw_object_begin(&w);
		jsonw_key(&w, "config_hash");
		jsonw_string(&w, s->points[rows[r].point].hash);
		jsonw_key(&w, "cycle");
		jsonw_int(&w, rows[r].cycle);
		jsonw_key(&w, "error_type");
		jsonw_string(&w, rows[r].error_type);
		jsonw_key(&w, "error_message");
		jsonw_string(&w, rows[r].error_message);
		jsonw_object_end(&w);
	}
	jsonw_array_end(&w);
	jsonw_object_end(&w);
	strbuf_addch(&sb, '\n');
	path = xasprintf("%s/study.json", dir);
	rc = atomic_write_file(path, sb.buf, sb.len);
	free(path);
	strbuf_release(&sb);
	return rc;
}

int study_write_outputs(const char *dir, const struct study *s, const struct study_execution *ex,
			const struct manifest *m, const struct run_row *rows, size_t nrows,
			double wall_s)
{
	int rc = write_tables(dir, s, rows, nrows);

	if (!rc)
		rc = write_study_json(dir, s, ex, m, rows, nrows, wall_s);
	return rc;
}
