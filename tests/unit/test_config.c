/*
 * Tests for the config layer: the schema table itself, every field's
 * bounds, enums, nullability and booleans, unknown keys at each depth,
 * positions, presets, precedence, cross-field rules, study expansion
 * (including the two bugs of the original it must not repeat) and the
 * public API.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include "backends/backends.h"
#include "config/config.h"
#include "llem/llem.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *tmpdir;

static char *write_file(const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", tmpdir, name);

	test_write_text(path, text);
	return path;
}

/* Loads path (may be NULL) with overrides; no user config. */
static int load(struct loaded_config *lc, struct diag_list *dl, const char *path,
		const char *const *ov, size_t n)
{
	struct config_request req = { path, ov, n, "", backends_check_config };

	return config_load(lc, &req, dl);
}

static bool has_error(const struct diag_list *dl, const char *path, const char *needle)
{
	size_t i;

	for (i = 0; i < dl->count; i++)
		if ((!path || (dl->items[i].path && !strcmp(dl->items[i].path, path))) &&
		    strstr(dl->items[i].message, needle))
			return true;
	return false;
}

static void dump(const struct diag_list *dl)
{
	struct strbuf sb = STRBUF_INIT;
	size_t i;

	for (i = 0; i < dl->count; i++) {
		strbuf_reset(&sb);
		diag_format(&dl->items[i], &sb);
		print_message("  diag: %s\n", sb.buf);
	}
	strbuf_release(&sb);
}

/* The section a field lives in ("pytorch" for pytorch.batch_size) or NULL. */
static char *section_name(const struct field *f)
{
	const char *dot = strchr(f->path, '.');
	const struct field *s;
	char *head;

	if (!dot)
		return NULL;
	head = xstrndup(f->path, (size_t)(dot - f->path));
	s = schema_find(head);
	if (s && s->type == FT_SECTION)
		return head;
	free(head);
	return NULL;
}

/*
 * Loads model=m plus what the field needs to be valid at all (its backend,
 * a precision that backend supports, companions for cross-field rules),
 * plus "path=value". Returns the number of errors.
 */
static size_t try_value(const struct field *f, const char *value, struct diag_list *dl)
{
	const char *ov[8];
	size_t n = 0, errors;
	char *sec = section_name(f), *backend = NULL, *assign;
	struct loaded_config lc;

	ov[n++] = "model=m";
	if (sec) {
		backend = xasprintf("backend=%s", sec);
		ov[n++] = backend;
		if (!strcmp(sec, "vllm") || !strcmp(sec, "tensorrt"))
			ov[n++] = "precision=fp16";
	}
	if (!strcmp(f->path, "warmup.min_prompts"))
		ov[n++] = "warmup.max_prompts=100000";
	if (!strcmp(f->path, "decoder.min_new_tokens"))
		ov[n++] = "max_output_tokens=1048576";
	if ((!strcmp(f->path, "energy.replay_file") && strcmp(value, "null")) ||
	    (!strcmp(f->path, "energy.backend") && !strcmp(value, "replay")))
		ov[n++] = !strcmp(f->path, "energy.backend") ? "energy.replay_file=t.csv"
							     : "energy.backend=replay";
	if (!strcmp(f->path, "pytorch.torch_compile_mode") ||
	    !strcmp(f->path, "pytorch.torch_compile_backend"))
		ov[n++] = "pytorch.torch_compile=true";
	if (!strncmp(f->path, "pytorch.bnb_4bit", 16))
		ov[n++] = "pytorch.load_in_4bit=true";
	assign = xasprintf("%s=%s", f->path, value);
	ov[n++] = assign;
	load(&lc, dl, NULL, ov, n);
	errors = diag_error_count(dl);
	loaded_config_release(&lc);
	free(assign);
	free(backend);
	free(sec);
	return errors;
}

static void expect_ok(const struct field *f, const char *value)
{
	struct diag_list dl = DIAG_LIST_INIT;

	if (try_value(f, value, &dl) != 0) {
		print_message("%s=%s should be valid\n", f->path, value);
		dump(&dl);
		fail();
	}
	diag_list_release(&dl);
}

static void expect_error(const struct field *f, const char *value, const char *needle)
{
	struct diag_list dl = DIAG_LIST_INIT;

	try_value(f, value, &dl);
	if (!has_error(&dl, f->path, needle)) {
		print_message("%s=%s should fail with '%s'\n", f->path, value, needle);
		dump(&dl);
		fail();
	}
	diag_list_release(&dl);
}

static void test_schema_table_is_consistent(void **state)
{
	size_t i, j;

	(void)state;
	for (i = 0; i < FIELD_COUNT; i++) {
		const struct field *f = &schema_fields[i];
		char *sec = section_name(f);

		assert_true(strlen(f->doc) > 10);
		for (j = i + 1; j < FIELD_COUNT; j++)
			assert_string_not_equal(f->path, schema_fields[j].path);
		if (!isnan(f->min) && !isnan(f->max))
			assert_true(f->min <= f->max);
		if (f->type == FT_ENUM) {
			assert_non_null(f->values);
			if (f->def) {
				bool found = false;

				for (j = 0; f->values[j]; j++)
					found |= !strcmp(f->values[j], f->def);
				assert_true(found);
			}
		}
		if (sec) {
			/* Keys of a section name it as their backend and come after it. */
			assert_string_equal(f->backends, sec);
			assert_true(schema_id(schema_find(sec)) < i);
		}
		if (f->flags & F_REQUIRED)
			assert_null(f->def);
		free(sec);
	}
}

static void test_defaults_resolve_and_have_their_types(void **state)
{
	struct loaded_config lc;
	struct diag_list dl = DIAG_LIST_INIT;
	const char *ov[] = { "model=m" };
	size_t i;

	(void)state;
	assert_int_equal(load(&lc, &dl, NULL, ov, 1), 0);
	for (i = 0; i < FIELD_COUNT; i++) {
		const struct field *f = &schema_fields[i];
		const struct cfg_value *v = &lc.experiment.v[i];
		char *sec = section_name(f);
		bool inactive = (sec && strcmp(sec, "native")) ||
				(f->type == FT_SECTION && strcmp(f->path, "native"));

		if (f->flags & F_REQUIRED) {
			assert_int_equal(v->kind, CV_STRING);
		} else if ((f->flags & F_STUDY) || inactive ||
			   (f->def == NULL && f->type != FT_SECTION)) {
			assert_int_equal(v->kind, CV_NULL);
		} else {
			switch (f->type) {
			case FT_INT: assert_int_equal(v->kind, CV_INT); break;
			case FT_FLOAT: assert_int_equal(v->kind, CV_FLOAT); break;
			case FT_BOOL: assert_int_equal(v->kind, CV_BOOL); break;
			case FT_SECTION: assert_int_equal(v->kind, CV_SECTION); break;
			default: assert_int_equal(v->kind, CV_STRING); break;
			}
		}
		free(sec);
	}
	/* The original's defaults (docs/config-reference.md), native as our default backend. */
	assert_string_equal(cfg_str(&lc.experiment, FIELD_BACKEND), "native");
	assert_string_equal(cfg_str(&lc.experiment, FIELD_PRECISION), "bf16");
	assert_int_equal(cfg_int(&lc.experiment, FIELD_N), 100);
	assert_int_equal(cfg_int(&lc.experiment, FIELD_MAX_INPUT_TOKENS), 512);
	assert_int_equal(cfg_int(&lc.experiment, FIELD_MAX_OUTPUT_TOKENS), 128);
	assert_int_equal(cfg_int(&lc.experiment, FIELD_RANDOM_SEED), 42);
	assert_true(cfg_float(&lc.experiment, FIELD_WARMUP_CV_THRESHOLD) == 0.05);
	assert_true(cfg_float(&lc.experiment, FIELD_BASELINE_DURATION_SECONDS) == 30.0);
	loaded_config_release(&lc);
	diag_list_release(&dl);
}

static void format_bound(char *buf, size_t n, const struct field *f, double v)
{
	struct strbuf sb = STRBUF_INIT;

	if (f->type == FT_INT)
		strbuf_addf(&sb, "%.0f", v);
	else
		numfmt_double(&sb, v);
	snprintf(buf, n, "%s", sb.buf);
	strbuf_release(&sb);
}

static void test_every_bound_is_enforced(void **state)
{
	size_t i, checked = 0;
	char buf[64];

	(void)state;
	for (i = 0; i < FIELD_COUNT; i++) {
		const struct field *f = &schema_fields[i];
		double step;

		if ((f->type != FT_INT && f->type != FT_FLOAT) || (f->flags & F_STUDY))
			continue;
		if (!strcmp(f->path, "warmup.thermal_floor_seconds"))
			continue; /* 0 or >= 30: its own test */
		if (!isnan(f->min)) {
			step = f->type == FT_INT ? 1 : fmax(fabs(f->min) * 1e-9, 1e-9);
			format_bound(buf, sizeof(buf), f, f->min);
			expect_ok(f, buf);
			format_bound(buf, sizeof(buf), f, f->min - step);
			expect_error(f, buf, "must be at least");
			checked++;
		}
		if (!isnan(f->max)) {
			step = f->type == FT_INT ? 1 : fmax(fabs(f->max) * 1e-9, 1e-9);
			format_bound(buf, sizeof(buf), f, f->max);
			expect_ok(f, buf);
			format_bound(buf, sizeof(buf), f, f->max + step);
			expect_error(f, buf, "must be at most");
			checked++;
		}
		expect_error(f, "abc",
			     f->type == FT_INT ? "expected an integer" : "expected a number");
		if (f->type == FT_INT)
			expect_error(f, "2.5", "expected an integer, got 2.5");
	}
	assert_true(checked >= 40);
}

static void test_every_enum_value_and_a_wrong_one(void **state)
{
	size_t i, j;

	(void)state;
	for (i = 0; i < FIELD_COUNT; i++) {
		const struct field *f = &schema_fields[i];

		if (f->type != FT_ENUM || (f->flags & F_STUDY))
			continue;
		for (j = 0; f->values[j]; j++) {
			/* vllm/tensorrt cannot run fp32: a rule, tested below. */
			if (!strcmp(f->path, "backend") &&
			    (!strcmp(f->values[j], "vllm") || !strcmp(f->values[j], "tensorrt")))
				continue;
			expect_ok(f, f->values[j]);
		}
		expect_error(f, "bogus_value", "must be one of");
		expect_error(f, "42", "must be one of");
	}
}

static void test_booleans_and_nulls(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < FIELD_COUNT; i++) {
		const struct field *f = &schema_fields[i];

		if (f->flags & F_STUDY || f->type == FT_SECTION)
			continue;
		if (f->type == FT_BOOL) {
			expect_ok(f, "true");
			expect_ok(f, "False");
			expect_error(f, "yes", "YAML 1.1 booleans are not accepted");
			expect_error(f, "1", "expected true or false");
		}
		if (f->flags & F_NULLABLE)
			expect_ok(f, "null");
		else if (!(f->flags & F_REQUIRED))
			expect_error(f, "null", "must not be null");
	}
}

static void test_strings_must_be_text(void **state)
{
	const struct field *model = schema_find("model");

	(void)state;
	expect_error(model, "123", "expected a string, got an integer");
	expect_error(model, "true", "expected a string, got a boolean");
	expect_error(model, "''", "must not be empty");
	expect_ok(model, "'123'");
}

static void test_thermal_floor_is_zero_or_at_least_30(void **state)
{
	const struct field *f = schema_find("warmup.thermal_floor_seconds");

	(void)state;
	expect_ok(f, "0");
	expect_ok(f, "30");
	expect_error(f, "29.9", "must be 0 or at least 30");
	expect_error(f, "-1", "must be at least");
}

static void test_unknown_keys_at_every_depth(void **state)
{
	char *path = write_file("unknown.yaml", "model: m\n"
						"backend: pytorch\n"
						"modle: x\n"
						"decoder:\n  top_kk: 1\n"
						"pytorch:\n  batchsize: 2\n"
						"energy:\n  backnd: nvml\n"
						"zzzzzz: 1\n");
	struct loaded_config lc;
	struct diag_list dl = DIAG_LIST_INIT;

	(void)state;
	assert_int_equal(load(&lc, &dl, path, NULL, 0), -1);
	assert_int_equal(diag_error_count(&dl), 5);
	assert_true(has_error(&dl, "modle", "did you mean 'model'?"));
	assert_true(has_error(&dl, "decoder.top_kk", "did you mean 'decoder.top_k'?"));
	assert_true(has_error(&dl, "pytorch.batchsize", "did you mean 'pytorch.batch_size'?"));
	assert_true(has_error(&dl, "energy.backnd", "did you mean 'energy.backend'?"));
	assert_true(has_error(&dl, "zzzzzz", "unknown key"));
	assert_false(has_error(&dl, "zzzzzz", "did you mean"));
	/* Sorted by position, with exact lines and columns. */
	assert_int_equal(dl.items[0].line, 3);
	assert_int_equal(dl.items[0].col, 1);
	assert_int_equal(dl.items[1].line, 5);
	assert_int_equal(dl.items[1].col, 3);
	assert_int_equal(dl.items[4].line, 10);
	loaded_config_release(&lc);
	diag_list_release(&dl);
	free(path);
}

static void test_positions_of_values_in_block_and_flow(void **state)
{
	char *path = write_file("pos.yaml", "model: m\n"
					    "n: -5\n"
					    "decoder: {top_p: 7, temperature: 'x'}\n");
	struct loaded_config lc;
	struct diag_list dl = DIAG_LIST_INIT;

	(void)state;
	assert_int_equal(load(&lc, &dl, path, NULL, 0), -1);
	assert_int_equal(dl.count, 3);
	assert_string_equal(dl.items[0].path, "n");
	assert_int_equal(dl.items[0].line, 2);
	assert_int_equal(dl.items[0].col, 4);
	assert_string_equal(dl.items[1].path, "decoder.top_p");
	assert_int_equal(dl.items[1].line, 3);
	assert_int_equal(dl.items[1].col, 18);
	assert_string_equal(dl.items[2].path, "decoder.temperature");
	assert_int_equal(dl.items[2].col, 34); /* the opening quote */
	loaded_config_release(&lc);
	diag_list_release(&dl);
	free(path);
}

static void resolve_decoder(const char *const *ov, size_t n, double *temp, bool *sample,
			    double *top_p, double *rep)
{
	struct loaded_config lc;
	struct diag_list dl = DIAG_LIST_INIT;

	assert_int_equal(load(&lc, &dl, NULL, ov, n), 0);
	*temp = cfg_float(&lc.experiment, FIELD_DECODER_TEMPERATURE);
	*sample = cfg_bool(&lc.experiment, FIELD_DECODER_DO_SAMPLE);
	*top_p = cfg_float(&lc.experiment, FIELD_DECODER_TOP_P);
	*rep = cfg_float(&lc.experiment, FIELD_DECODER_REPETITION_PENALTY);
	loaded_config_release(&lc);
	diag_list_release(&dl);
}

static void test_presets_fill_only_unset_fields(void **state)
{
	const char *creative[] = { "model=m", "decoder.preset=creative" };
	const char *explicit[] = { "model=m", "decoder.preset=creative",
				   "decoder.temperature=0.2" };
	const char *determ[] = { "model=m", "decoder.preset=deterministic" };
	double t, p, r;
	bool s;

	(void)state;
	resolve_decoder(creative, 2, &t, &s, &p, &r);
	assert_true(t == 0.8 && s && p == 0.9 && r == 1.1);
	resolve_decoder(explicit, 3, &t, &s, &p, &r);
	assert_true(t == 0.2 && s && p == 0.9 && r == 1.1);
	resolve_decoder(determ, 2, &t, &s, &p, &r);
	assert_true(t == 0.0 && !s && p == 1.0 && r == 1.0);
}

static void test_precedence_cli_file_user_default(void **state)
{
	char *user = write_file("user.yaml", "n: 7\nmax_output_tokens: 99\nprecision: fp16\n"
					     "pytorch: {batch_size: 4}\n");
	char *file = write_file("exp.yaml", "model: m\nn: 20\nprecision: fp32\n");
	const char *ov[] = { "n=5" };
	struct config_request req = { file, ov, 1, user, backends_check_config };
	struct loaded_config lc;
	struct diag_list dl = DIAG_LIST_INIT;

	(void)state;
	assert_int_equal(config_load(&lc, &req, &dl), 0);
	assert_true(lc.user_config_loaded);
	assert_int_equal(cfg_int(&lc.experiment, FIELD_N), 5);
	assert_string_equal(cfg_str(&lc.experiment, FIELD_PRECISION), "fp32");
	assert_int_equal(cfg_int(&lc.experiment, FIELD_MAX_OUTPUT_TOKENS), 99);
	assert_int_equal(cfg_int(&lc.experiment, FIELD_MAX_INPUT_TOKENS), 512);
	/* The user's pytorch defaults do not apply to a native run. */
	assert_true(cfg_is_null(&lc.experiment, FIELD_PYTORCH_BATCH_SIZE));
	/* Origins say where each value came from. */
	assert_string_equal(lc.experiment.o[FIELD_N].source, "command line");
	assert_string_equal(lc.experiment.o[FIELD_PRECISION].source, file);
	assert_int_equal(lc.experiment.o[FIELD_PRECISION].line, 3);
	assert_string_equal(lc.experiment.o[FIELD_MAX_OUTPUT_TOKENS].source, user);
	assert_null(lc.experiment.o[FIELD_MAX_INPUT_TOKENS].source);
	loaded_config_release(&lc);
	diag_list_release(&dl);
	free(user);
	free(file);
}

static void test_section_mismatch_from_file_and_command_line(void **state)
{
	const char *ov[] = { "model=m", "pytorch.batch_size=4" };
	struct loaded_config lc;
	struct diag_list dl = DIAG_LIST_INIT;

	(void)state;
	assert_int_equal(load(&lc, &dl, NULL, ov, 2), -1);
	assert_true(has_error(&dl, "pytorch.batch_size",
			      "config section provided but backend is 'native'"));
	loaded_config_release(&lc);
	diag_list_release(&dl);
}

static void test_precision_support_per_backend(void **state)
{
	const char *bad[] = { "model=m", "backend=tensorrt", "precision=fp32" };
	const char *good[] = { "model=m", "backend=tensorrt", "precision=bf16" };
	struct loaded_config lc;
	struct diag_list dl = DIAG_LIST_INIT;

	(void)state;
	assert_int_equal(load(&lc, &dl, NULL, bad, 3), -1);
	assert_true(has_error(&dl, "precision", "fp32 is not supported by backend 'tensorrt'"));
	loaded_config_release(&lc);
	diag_list_release(&dl);
	assert_int_equal(load(&lc, &dl, NULL, good, 3), 0);
	loaded_config_release(&lc);
	diag_list_release(&dl);
}

static void load_study(struct loaded_config *lc, const char *name, const char *text)
{
	struct diag_list dl = DIAG_LIST_INIT;
	char *path = write_file(name, text);

	if (load(lc, &dl, path, NULL, 0) != 0) {
		dump(&dl);
		fail();
	}
	assert_true(lc->is_study);
	diag_list_release(&dl);
	free(path);
}

static void test_sweep_into_a_fixed_section_gives_each_point_its_value(void **state)
{
	struct loaded_config lc;

	(void)state;
	/* The original shared one dict: every point got the last value. */
	load_study(&lc, "s1.yaml",
		   "model: m\nnative: {quantization: int8}\n"
		   "sweep:\n  native.batch_size: [1, 8, 16]\n");
	assert_int_equal(lc.study.count, 3);
	assert_int_equal(cfg_int(&lc.study.points[0], FIELD_NATIVE_BATCH_SIZE), 1);
	assert_int_equal(cfg_int(&lc.study.points[1], FIELD_NATIVE_BATCH_SIZE), 8);
	assert_int_equal(cfg_int(&lc.study.points[2], FIELD_NATIVE_BATCH_SIZE), 16);
	assert_string_equal(cfg_str(&lc.study.points[2], FIELD_NATIVE_QUANTIZATION), "int8");
	assert_string_not_equal(lc.study.points[0].hash, lc.study.points[1].hash);
	loaded_config_release(&lc);
}

static void test_scoped_key_for_a_backend_not_run_is_an_error(void **state)
{
	char *path = write_file("s2.yaml", "model: m\nbackend: pytorch\n"
					   "sweep:\n  vllm.max_num_seqs: [64, 256]\n");
	struct loaded_config lc;
	struct diag_list dl = DIAG_LIST_INIT;

	(void)state;
	/* The original silently switched the study to vllm. */
	assert_int_equal(load(&lc, &dl, path, NULL, 0), -1);
	assert_true(has_error(&dl, "vllm.max_num_seqs", "the study does not run backend 'vllm'"));
	assert_int_equal(dl.items[0].line, 4);
	loaded_config_release(&lc);
	diag_list_release(&dl);
	free(path);
}

static void test_per_backend_grids_last_key_fastest(void **state)
{
	struct loaded_config lc;
	size_t i, nat = 0, pt = 0;

	(void)state;
	load_study(&lc, "s3.yaml",
		   "model: m\nbackend: [native, pytorch]\n"
		   "sweep:\n  precision: [fp16, bf16]\n"
		   "  native.batch_size: [1, 8]\n  pytorch.batch_size: [2, 4, 16]\n");
	assert_int_equal(lc.study.count, 4 + 6);
	assert_int_equal(lc.study.grid_count, 10);
	for (i = 0; i < lc.study.count; i++) {
		const struct config *c = &lc.study.points[i];

		if (!strcmp(cfg_str(c, FIELD_BACKEND), "native")) {
			assert_true(cfg_is_null(c, FIELD_PYTORCH));
			nat++;
		} else {
			assert_true(cfg_is_null(c, FIELD_NATIVE));
			pt++;
		}
	}
	assert_int_equal(nat, 4);
	assert_int_equal(pt, 6);
	assert_string_equal(lc.study.labels[0],
			    "backend=native, precision=fp16, native.batch_size=1");
	assert_string_equal(lc.study.labels[1],
			    "backend=native, precision=fp16, native.batch_size=8");
	assert_string_equal(lc.study.labels[2],
			    "backend=native, precision=bf16, native.batch_size=1");
	assert_string_equal(lc.study.labels[4],
			    "backend=pytorch, precision=fp16, pytorch.batch_size=2");
	assert_string_equal(lc.study.labels[9],
			    "backend=pytorch, precision=bf16, pytorch.batch_size=16");
	loaded_config_release(&lc);
}

static void test_invalid_points_are_skipped_with_reasons(void **state)
{
	struct loaded_config lc;

	(void)state;
	load_study(&lc, "s4.yaml",
		   "model: m\nsweep:\n  backend: [pytorch, vllm]\n  precision: [fp32, fp16]\n"
		   "experiments:\n  - {backend: tensorrt, precision: fp32}\n");
	assert_int_equal(lc.study.count, 3);
	assert_int_equal(lc.study.skipped_count, 2);
	assert_string_equal(lc.study.skipped[0].label, "backend=vllm, precision=fp32");
	assert_string_equal(lc.study.skipped[0].reason,
			    "precision: fp32 is not supported by backend 'vllm'");
	assert_string_equal(lc.study.skipped[1].label, "backend=tensorrt, precision=fp32");
	loaded_config_release(&lc);
}

static void test_base_file_is_relative_and_loses_study_keys(void **state)
{
	struct loaded_config lc;
	char *sub = xasprintf("%s/sub", tmpdir);

	(void)state;
	assert_int_equal(fs_mkdirs(sub, 0755), 0);
	free(write_file("sub/base.yaml", "model: from-base\nn: 3\nsweep: {n: [100]}\n"
					 "execution: {n_cycles: 9}\n"));
	load_study(&lc, "sub/study.yaml",
		   "base: base.yaml\nn: 4\nsweep:\n  max_output_tokens: [8, 16]\n"
		   "execution: {n_cycles: 2}\n");
	assert_int_equal(lc.study.count, 2);
	assert_string_equal(cfg_str(&lc.study.points[0], FIELD_MODEL), "from-base");
	assert_int_equal(cfg_int(&lc.study.points[0], FIELD_N), 4); /* study beats base */
	assert_int_equal(cfg_int(&lc.study.execution, FIELD_EXECUTION_N_CYCLES), 2);
	loaded_config_release(&lc);
	free(sub);
}

static void test_empty_sweep_with_a_model_is_one_experiment(void **state)
{
	struct loaded_config lc;

	(void)state;
	load_study(&lc, "s5.yaml", "model: m\nsweep: {}\n");
	assert_int_equal(lc.study.count, 1);
	assert_int_equal(cfg_int(&lc.study.execution, FIELD_EXECUTION_N_CYCLES), 3);
	assert_string_equal(cfg_str(&lc.study.execution, FIELD_EXECUTION_CYCLE_ORDER), "shuffled");
	loaded_config_release(&lc);
}

static void test_canonical_json_layout(void **state)
{
	const char *ov[] = { "model=m", "decoder.temperature=1", "decoder.top_p=5e-1",
			     "output_dir=/elsewhere" };
	struct loaded_config lc;
	struct diag_list dl = DIAG_LIST_INIT;
	const char *j;

	(void)state;
	assert_int_equal(load(&lc, &dl, NULL, ov, 4), 0);
	j = lc.experiment.canonical_json;
	assert_non_null(strstr(j, "\"temperature\": 1.0,"));
	assert_non_null(strstr(j, "\"top_p\": 0.5}"));
	assert_non_null(strstr(j, "\"pytorch\": null,"));
	assert_null(strstr(j, "output_dir"));
	assert_null(strstr(j, "execution"));
	assert_null(strstr(j, "rapl_root"));
	assert_true(!strncmp(j, "{\"backend\": \"native\", \"baseline\": {", 34));
	assert_int_equal(strlen(lc.experiment.hash), 16);
	loaded_config_release(&lc);
	diag_list_release(&dl);
}

static void test_public_api(void **state)
{
	const char *ov[] = { "model=\"m\"" };
	const char *bad[] = { "n=0", "modle=x" };
	llem_config_options opts = LLEM_CONFIG_OPTIONS_INIT;
	llem_config *cfg = NULL;

	(void)state;
	opts.overrides = ov;
	opts.overrides_count = 1;
	opts.user_config_path = "";
	assert_int_equal(llem_config_load(&cfg, NULL, &opts), 0);
	assert_int_equal(strlen(llem_config_hash(cfg)), 16);
	assert_non_null(strstr(llem_config_canonical_json(cfg), "\"model\": \"m\""));
	assert_false(llem_config_is_study(cfg));
	llem_config_free(cfg);

	opts.overrides = bad;
	opts.overrides_count = 2;
	assert_int_equal(llem_config_load(&cfg, NULL, &opts), LLEM_EINVAL);
	assert_null(cfg);
	/* Every problem, one per line. */
	assert_non_null(strstr(llem_error_last(), "command line: model: is required"));
	assert_non_null(strstr(llem_error_last(), "command line: n: must be at least 1"));
	assert_non_null(strstr(llem_error_last(), "modle: unknown key"));
	opts.version = 99;
	assert_int_equal(llem_config_load(&cfg, NULL, &opts), LLEM_EINVAL);
}

/* What a diagnostic callback saw. */
struct seen_diags {
	size_t errors, warnings;
	char text[8][256], hint[8][256];
	int line[8], col[8];
};

static void record_diag(const llem_diag *d, void *payload)
{
	struct seen_diags *seen = payload;
	size_t i = seen->errors + seen->warnings;

	if (i < 8) {
		snprintf(seen->text[i], sizeof(seen->text[i]), "%s", d->text);
		snprintf(seen->hint[i], sizeof(seen->hint[i]), "%s", d->hint ? d->hint : "");
		seen->line[i] = d->line;
		seen->col[i] = d->col;
	}
	if (d->severity == LLEM_DIAG_ERROR)
		seen->errors++;
	else
		seen->warnings++;
}

static void test_public_api_diagnostics_and_option_versions(void **state)
{
	const llem_config_options init = LLEM_CONFIG_OPTIONS_INIT;
	char *path = xasprintf("%s/bad.yaml", tmpdir);
	struct seen_diags seen = { 0 };
	llem_config_options opts;
	llem_run_options ro, ro_init = LLEM_RUN_OPTIONS_INIT;
	llem_study_options so, so_init = LLEM_STUDY_OPTIONS_INIT;
	llem_config *cfg = NULL;

	(void)state;
	/* The functions give what the macros give (for FFI callers). */
	memset(&opts, 0xa5, sizeof(opts));
	llem_config_options_init(&opts);
	assert_int_equal(opts.version, init.version);
	assert_null(opts.overrides);
	assert_int_equal(opts.overrides_count, 0);
	assert_null(opts.user_config_path);
	assert_null(opts.diagnostic);
	assert_null(opts.diagnostic_payload);
	memset(&ro, 0xa5, sizeof(ro));
	llem_run_options_init(&ro);
	assert_int_equal(ro.version, ro_init.version);
	assert_null(ro.results_dir);
	assert_int_equal(ro.write_files, ro_init.write_files);
	assert_null(ro.interrupt);
	assert_null(ro.phase);
	assert_null(ro.phase_payload);
	memset(&so, 0xa5, sizeof(so));
	llem_study_options_init(&so);
	assert_int_equal(so.version, so_init.version);
	assert_null(so.results_dir);
	assert_null(so.resume_dir);
	assert_int_equal(so.n_cycles, 0);
	assert_null(so.cycle_order);
	assert_int_equal(so.no_gaps, 0);
	assert_null(so.llem_exe);
	assert_null(so.progress);
	assert_null(so.progress_payload);
	assert_null(so.interrupt);

	/* Version 2: each problem reaches the callback with its position,
	 * in file order, and the message still holds them all. */
	test_write_text(path,
			"model: m\nn: 0\ndecoder:\n  top_pp: 1\nenergy:\n  backend: replay\n");
	opts.user_config_path = "";
	opts.diagnostic = record_diag;
	opts.diagnostic_payload = &seen;
	assert_int_equal(llem_config_load(&cfg, path, &opts), LLEM_EINVAL);
	assert_null(cfg);
	assert_int_equal(seen.errors, 3);
	assert_int_equal(seen.warnings, 0);
	assert_int_equal(seen.line[0], 2);
	assert_int_equal(seen.col[0], 4);
	assert_non_null(strstr(seen.text[0], "bad.yaml:2:4: n: must be at least 1"));
	assert_int_equal(seen.line[1], 4);
	assert_non_null(strstr(seen.text[1], "bad.yaml:4:3: decoder.top_pp: unknown key, did you "
					     "mean 'decoder.top_p'?"));
	assert_string_equal(seen.hint[1], "");
	assert_int_equal(seen.line[2], 6);
	assert_int_equal(seen.col[2], 12);
	assert_non_null(strstr(seen.text[2], "energy.backend: replay needs energy.replay_file"));
	assert_string_equal(seen.hint[2], "set energy.replay_file to a recorded trace");
	assert_non_null(strstr(llem_error_last(), "n: must be at least 1"));
	assert_non_null(strstr(llem_error_last(), "\n  hint: set energy.replay_file to a recorded "
						  "trace"));

	/* Version 1 callers (no callback fields) still load; a version from
	 * the future is refused. */
	memset(&seen, 0, sizeof(seen));
	opts.version = 1;
	assert_int_equal(llem_config_load(&cfg, path, &opts), LLEM_EINVAL);
	assert_int_equal(seen.errors, 0);
	opts.version = LLEM_CONFIG_OPTIONS_VERSION + 1;
	assert_int_equal(llem_config_load(&cfg, path, &opts), LLEM_EINVAL);
	assert_non_null(strstr(llem_error_last(), "version 3 is not supported"));
	free(path);
}

static int setup(void **state)
{
	(void)state;
	tmpdir = test_tmpdir("config");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	test_rm_rf(tmpdir);
	free(tmpdir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_schema_table_is_consistent),
		cmocka_unit_test(test_defaults_resolve_and_have_their_types),
		cmocka_unit_test(test_every_bound_is_enforced),
		cmocka_unit_test(test_every_enum_value_and_a_wrong_one),
		cmocka_unit_test(test_booleans_and_nulls),
		cmocka_unit_test(test_strings_must_be_text),
		cmocka_unit_test(test_thermal_floor_is_zero_or_at_least_30),
		cmocka_unit_test(test_unknown_keys_at_every_depth),
		cmocka_unit_test(test_positions_of_values_in_block_and_flow),
		cmocka_unit_test(test_presets_fill_only_unset_fields),
		cmocka_unit_test(test_precedence_cli_file_user_default),
		cmocka_unit_test(test_section_mismatch_from_file_and_command_line),
		cmocka_unit_test(test_precision_support_per_backend),
		cmocka_unit_test(test_sweep_into_a_fixed_section_gives_each_point_its_value),
		cmocka_unit_test(test_scoped_key_for_a_backend_not_run_is_an_error),
		cmocka_unit_test(test_per_backend_grids_last_key_fastest),
		cmocka_unit_test(test_invalid_points_are_skipped_with_reasons),
		cmocka_unit_test(test_base_file_is_relative_and_loses_study_keys),
		cmocka_unit_test(test_empty_sweep_with_a_model_is_one_experiment),
		cmocka_unit_test(test_canonical_json_layout),
		cmocka_unit_test(test_public_api),
		cmocka_unit_test(test_public_api_diagnostics_and_option_versions),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
