/*
 * Tests for llem_run_study (the public API over the study runner) on tiny
 * synthetic studies with real `llem __worker` processes: the manifest and
 * results it leaves, the execution overrides, progress events and their
 * return values, the interrupt flag, resume; finding the llem executable;
 * and the dataset stamps that let workers skip re-validating a dataset.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include "datasets/datasets.h"
#include "llem/llem.h"
#include "results/results.h"
#include "study/study.h"
#include "util/util.h"

#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* A run takes well under a second: one tiny model, two prompts, four
 * tokens, no warmup, no baseline, no energy. */
static const char study_head[] = "name: api-study\n"
				 "model: synthetic/tiny-llama\n"
				 "n: 2\n"
				 "max_input_tokens: 16\n"
				 "max_output_tokens: 4\n"
				 "decoder: {preset: deterministic, min_new_tokens: 4}\n"
				 "warmup: {enabled: false, thermal_floor_seconds: 0}\n"
				 "baseline: {enabled: false}\n"
				 "energy: {backend: null}\n";

static const char *llem_bin(void)
{
	const char *bin = getenv("LLEM_BIN");

	assert_non_null(bin); /* set by CTest */
	return bin;
}

/* Writes <dir>/study.yaml: study_head, output_dir, then extra. */
static char *write_study(const char *dir, const char *extra)
{
	char *path = fs_join(dir, "study.yaml");
	char *text = xasprintf("%soutput_dir: %s/unused\n%s", study_head, dir, extra);

	test_write_text(path, text);
	free(text);
	return path;
}

static llem_config *load(const char *path)
{
	llem_config_options co = LLEM_CONFIG_OPTIONS_INIT;
	llem_config *cfg = NULL;

	co.user_config_path = "";
	assert_int_equal(llem_config_load(&cfg, path, &co), 0);
	assert_true(llem_config_is_study(cfg));
	return cfg;
}

static struct manifest *load_manifest(const char *study_dir)
{
	char *path = fs_join(study_dir, "manifest.json");
	struct manifest *m = NULL;

	assert_int_equal(manifest_load(&m, path), 0);
	free(path);
	return m;
}

/* What the progress callback saw, and what it should answer. */
struct seen {
	int starts, ends, gaps, completed, failed, interrupted;
	double first_gap_s;
	int stop_after_end;     /* return -1 after this many RUN_ENDs (0: never) */
	int skip_gaps;          /* return 1 on GAP events */
	int interrupt_at_start; /* set *flag = 1 at this RUN_START (1-based; 0: never) */
	volatile int *flag;
	char last_label[128];
};

static int on_progress(const llem_study_event *e, void *payload)
{
	struct seen *s = payload;

	switch (e->type) {
	case LLEM_STUDY_RUN_START:
		s->starts++;
		assert_true(e->run < e->total);
		assert_true(e->cycle >= 1);
		snprintf(s->last_label, sizeof(s->last_label), "%s", e->label);
		if (s->interrupt_at_start == s->starts)
			*s->flag = 1;
		return 0;
	case LLEM_STUDY_RUN_END:
		s->ends++;
		s->completed += e->status == LLEM_STUDY_RUN_COMPLETED;
		s->failed += e->status == LLEM_STUDY_RUN_FAILED;
		s->interrupted += e->status == LLEM_STUDY_RUN_INTERRUPTED;
		if (e->status == LLEM_STUDY_RUN_COMPLETED)
			assert_null(e->error);
		else
			assert_non_null(e->error);
		return s->stop_after_end && s->ends == s->stop_after_end ? -1 : 0;
	case LLEM_STUDY_GAP:
		if (s->gaps++ == 0)
			s->first_gap_s = e->gap_remaining_s;
		assert_non_null(e->gap);
		return s->skip_gaps ? 1 : 0;
	}
	fail_msg("unknown event type %d", (int)e->type);
	return 0;
}

static json_t *load_json(const char *dir, const char *name)
{
	char *path = fs_join(dir, name);
	json_error_t err;
	json_t *root = json_load_file(path, 0, &err);

	assert_non_null(root);
	free(path);
	return root;
}

static void test_run_study_writes_manifest_and_results(void **state)
{
	char *dir = test_tmpdir("study-run");
	char *path = write_study(
		dir, "sweep:\n  native.batch_size: [1, 2]\n"
		     "execution: {n_cycles: 1, cycle_order: shuffled, experiment_gap_seconds: 60,"
		     " cycle_gap_seconds: 300}\n");
	llem_config *cfg = load(path);
	llem_study_options so = LLEM_STUDY_OPTIONS_INIT;
	llem_study_summary sum;
	struct seen seen = { 0 };
	struct manifest *m;
	char *out_dir = NULL;
	json_t *study, *proto;
	size_t i;

	(void)state;
	so.results_dir = dir;
	so.llem_exe = llem_bin();
	so.n_cycles = 2;                /* overrides 1 */
	so.cycle_order = "interleaved"; /* overrides shuffled */
	so.no_gaps = 1;                 /* overrides 60 s and 300 s */
	so.progress = on_progress;
	so.progress_payload = &seen;
	assert_int_equal(llem_run_study(&out_dir, &sum, cfg, &so), 0);
	assert_non_null(out_dir);
	assert_true(str_starts_with(out_dir, dir));
	assert_true(fs_is_dir(out_dir));
	assert_int_equal(sum.total, 4);
	assert_int_equal(sum.completed, 4);
	assert_int_equal(sum.failed, 0);
	assert_false(sum.interrupted);
	assert_true(isnan(sum.energy_j)); /* energy: null */
	assert_true(sum.wall_s > 0);
	assert_int_equal(seen.starts, 4);
	assert_int_equal(seen.ends, 4);
	assert_int_equal(seen.completed, 4);
	assert_int_equal(seen.gaps, 0);
	assert_non_null(strstr(seen.last_label, "synthetic-tiny-llama"));

	m = load_manifest(out_dir);
	assert_int_equal(m->status, MANIFEST_COMPLETED);
	assert_string_equal(m->study_name, "api-study");
	assert_string_equal(m->study_design_hash, llem_config_hash(cfg));
	assert_int_equal(m->count, 4);
	/* Interleaved: A B A B, cycles 1 1 2 2. */
	assert_string_equal(m->entries[0].config_hash, m->entries[2].config_hash);
	assert_string_equal(m->entries[1].config_hash, m->entries[3].config_hash);
	assert_string_not_equal(m->entries[0].config_hash, m->entries[1].config_hash);
	for (i = 0; i < 4; i++) {
		struct llem_result r;
		char *rp;

		assert_int_equal(m->entries[i].cycle, i < 2 ? 1 : 2);
		assert_int_equal(m->entries[i].status, MANIFEST_COMPLETED);
		assert_null(m->entries[i].error_type);
		assert_non_null(m->entries[i].started_at);
		assert_non_null(m->entries[i].completed_at);
		assert_non_null(m->entries[i].result_file);
		rp = fs_join(out_dir, m->entries[i].result_file);
		assert_int_equal(result_load(&r, rp), 0);
		assert_string_equal(r.config_hash, m->entries[i].config_hash);
		assert_int_equal(r.tokens.output_tokens, 8); /* 2 prompts x 4 tokens */
		result_release(&r);
		free(rp);
	}
	manifest_free(m);

	/* The protocol as run, overrides included. */
	study = load_json(out_dir, "study.json");
	proto = json_object_get(study, "measurement_protocol");
	assert_int_equal(json_integer_value(json_object_get(proto, "n_cycles")), 2);
	assert_string_equal(json_string_value(json_object_get(proto, "cycle_order")),
			    "interleaved");
	assert_true(json_number_value(json_object_get(proto, "experiment_gap_seconds")) == 0);
	assert_int_equal(
		json_integer_value(json_object_get(json_object_get(study, "summary"), "completed")),
		4);
	json_decref(study);
	{
		char *csv = fs_join(out_dir, "results.csv");
		char *pq = fs_join(out_dir, "results.parquet");

		assert_true(fs_exists(csv));
		assert_true(fs_exists(pq));
		free(csv);
		free(pq);
	}

	llem_free(out_dir);
	llem_config_free(cfg);
	test_rm_rf(dir);
	free(path);
	free(dir);
}

static void test_run_study_interrupt_flag_then_resume(void **state)
{
	char *dir = test_tmpdir("study-run");
	char *path = write_study(
		dir, "sweep:\n  native.batch_size: [1, 2, 3]\n"
		     "execution: {n_cycles: 1, cycle_order: sequential, experiment_gap_seconds: 0,"
		     " cycle_gap_seconds: 0}\n");
	llem_config *cfg = load(path);
	llem_study_options so = LLEM_STUDY_OPTIONS_INIT;
	llem_study_summary sum;
	volatile int flag = 0;
	struct seen seen = { 0 };
	struct manifest *m;
	char *out_dir = NULL, *first_started;
	json_t *study;

	(void)state;
	so.results_dir = dir;
	so.llem_exe = llem_bin();
	so.interrupt = &flag;
	so.progress = on_progress;
	so.progress_payload = &seen;
	/* As a SIGINT handler would, while the second run's worker starts:
	 * that worker gets SIGTERM at once and the study stops. */
	seen.interrupt_at_start = 2;
	seen.flag = &flag;
	assert_int_equal(llem_run_study(&out_dir, &sum, cfg, &so), LLEM_EINTR);
	assert_non_null(strstr(llem_error_last(), "interrupted"));
	assert_non_null(out_dir);
	assert_true(sum.interrupted);
	assert_int_equal(sum.total, 3);
	assert_int_equal(sum.completed, 1);
	assert_int_equal(sum.failed, 0);
	assert_int_equal(seen.starts, 2);
	assert_int_equal(seen.interrupted, 1);

	m = load_manifest(out_dir);
	assert_int_equal(m->status, MANIFEST_INTERRUPTED);
	assert_int_equal(m->entries[0].status, MANIFEST_COMPLETED);
	assert_int_equal(m->entries[1].status, MANIFEST_INTERRUPTED);
	assert_string_equal(m->entries[1].error_type, "Interrupted");
	assert_non_null(strstr(m->entries[1].error_message, "interrupt"));
	assert_null(m->entries[1].result_file);
	assert_int_equal(m->entries[2].status, MANIFEST_PENDING);
	assert_null(m->entries[2].started_at);
	first_started = xstrdup(m->entries[0].started_at);
	manifest_free(m);
	study = load_json(out_dir, "study.json");
	assert_string_equal(json_string_value(json_object_get(study, "status")), "interrupted");
	json_decref(study);

	/* Resume: the completed run is kept, the other two run. */
	memset(&seen, 0, sizeof(seen));
	flag = 0;
	so.resume_dir = out_dir;
	so.interrupt = NULL;
	assert_int_equal(llem_run_study(NULL, &sum, cfg, &so), 0);
	assert_int_equal(sum.completed, 3);
	assert_false(sum.interrupted);
	assert_int_equal(seen.starts, 2);
	m = load_manifest(out_dir);
	assert_int_equal(m->status, MANIFEST_COMPLETED);
	assert_int_equal(m->entries[1].status, MANIFEST_COMPLETED);
	assert_null(m->entries[1].error_type);
	assert_int_equal(m->entries[2].status, MANIFEST_COMPLETED);
	assert_string_equal(m->entries[0].started_at, first_started);
	manifest_free(m);

	free(first_started);
	llem_free(out_dir);
	llem_config_free(cfg);
	test_rm_rf(dir);
	free(path);
	free(dir);
}

/* A callback's -1 stops between runs; a run marked running ahead of its
 * start (no gap) goes back to pending. */
static void test_run_study_callback_stops(void **state)
{
	char *dir = test_tmpdir("study-run");
	char *path = write_study(
		dir, "sweep:\n  native.batch_size: [1, 2, 3]\n"
		     "execution: {n_cycles: 1, cycle_order: sequential, experiment_gap_seconds: 0,"
		     " cycle_gap_seconds: 0}\n");
	llem_config *cfg = load(path);
	llem_study_options so = LLEM_STUDY_OPTIONS_INIT;
	llem_study_summary sum;
	struct seen seen = { 0 };
	struct manifest *m;
	char *out_dir = NULL;

	(void)state;
	so.results_dir = dir;
	so.llem_exe = llem_bin();
	so.progress = on_progress;
	so.progress_payload = &seen;
	seen.stop_after_end = 1;
	assert_int_equal(llem_run_study(&out_dir, &sum, cfg, &so), LLEM_EINTR);
	assert_int_equal(seen.starts, 1);
	assert_int_equal(sum.completed, 1);
	assert_true(sum.interrupted);
	m = load_manifest(out_dir);
	assert_int_equal(m->status, MANIFEST_INTERRUPTED);
	assert_int_equal(m->entries[0].status, MANIFEST_COMPLETED);
	assert_int_equal(m->entries[1].status, MANIFEST_PENDING);
	assert_null(m->entries[1].started_at);
	assert_int_equal(m->entries[2].status, MANIFEST_PENDING);
	manifest_free(m);
	llem_free(out_dir);
	llem_config_free(cfg);
	test_rm_rf(dir);
	free(path);
	free(dir);
}

/* A positive answer to a GAP event ends that gap at once. */
static void test_run_study_callback_ends_gaps(void **state)
{
	char *dir = test_tmpdir("study-run");
	char *path = write_study(
		dir, "sweep:\n  native.batch_size: [1, 2]\n"
		     "execution: {n_cycles: 2, cycle_order: sequential, experiment_gap_seconds: 30,"
		     " cycle_gap_seconds: 60}\n");
	llem_config *cfg = load(path);
	llem_study_options so = LLEM_STUDY_OPTIONS_INIT;
	llem_study_summary sum;
	struct seen seen = { 0 };
	uint64_t t0 = clock_monotonic_ns();

	(void)state;
	so.results_dir = dir;
	so.llem_exe = llem_bin();
	so.progress = on_progress;
	so.progress_payload = &seen;
	seen.skip_gaps = 1;
	assert_int_equal(llem_run_study(NULL, &sum, cfg, &so), 0);
	assert_int_equal(sum.completed, 4);
	/* Three experiment gaps and one cycle gap, each ended at its first tick. */
	assert_int_equal(seen.gaps, 4);
	assert_true(seen.first_gap_s == 30);
	assert_true((double)(clock_monotonic_ns() - t0) * 1e-9 < 30);
	llem_config_free(cfg);
	test_rm_rf(dir);
	free(path);
	free(dir);
}

static void test_run_study_rejects_bad_options(void **state)
{
	char *dir = test_tmpdir("study-run");
	char *path = write_study(dir, "sweep:\n  native.batch_size: [1, 2]\n");
	char *single = fs_join(dir, "single.yaml");
	llem_config *cfg = load(path), *one = NULL;
	llem_config_options co = LLEM_CONFIG_OPTIONS_INIT;
	llem_study_options so = LLEM_STUDY_OPTIONS_INIT;
	llem_study_summary sum;
	char *out_dir = (char *)1;

	(void)state;
	so.llem_exe = llem_bin();
	so.version = 99;
	assert_int_equal(llem_run_study(&out_dir, &sum, cfg, &so), LLEM_EINVAL);
	assert_null(out_dir);
	so.version = LLEM_STUDY_OPTIONS_VERSION;
	so.n_cycles = 1001;
	assert_int_equal(llem_run_study(NULL, NULL, cfg, &so), LLEM_EINVAL);
	assert_non_null(strstr(llem_error_last(), "n_cycles 1001"));
	so.n_cycles = 0;
	so.cycle_order = "random";
	assert_int_equal(llem_run_study(NULL, NULL, cfg, &so), LLEM_EINVAL);
	assert_non_null(strstr(llem_error_last(), "'random'"));
	so.cycle_order = NULL;
	so.llem_exe = "/nonexistent/llem";
	assert_int_equal(llem_run_study(NULL, NULL, cfg, &so), LLEM_ENOTFOUND);
	assert_non_null(strstr(llem_error_last(), "/nonexistent/llem"));

	/* A single experiment is not a study. */
	co.user_config_path = "";
	test_write_text(single, "model: synthetic/tiny-llama\n");
	assert_int_equal(llem_config_load(&one, single, &co), 0);
	so.llem_exe = llem_bin();
	assert_int_equal(llem_run_study(NULL, NULL, one, &so), LLEM_EINVAL);
	assert_non_null(strstr(llem_error_last(), "not a study"));

	/* A resume_dir without a manifest. */
	so.resume_dir = dir;
	assert_int_equal(llem_run_study(NULL, NULL, cfg, &so), LLEM_ENOTFOUND);

	llem_config_free(one);
	llem_config_free(cfg);
	test_rm_rf(dir);
	free(single);
	free(path);
	free(dir);
}

/* ---- finding llem ------------------------------------------------------ */

static void test_find_llem_exe(void **state)
{
	char *dir = test_tmpdir("study-exe");
	char *fake = fs_join(dir, "llem");
	char *plain = fs_join(dir, "not-executable");
	char *old_path = getenv("PATH") ? xstrdup(getenv("PATH")) : NULL;
	char *exe = NULL;

	(void)state;
	test_write_text(fake, "#!/bin/sh\nexit 0\n");
	assert_int_equal(chmod(fake, 0755), 0);
	test_write_text(plain, "x\n");
	unsetenv("LLEM_EXE");

	/* Explicit: used as given, or an error; never a fallback. */
	assert_int_equal(study_find_llem_exe(&exe, llem_bin()), 0);
	assert_string_equal(exe, llem_bin());
	free(exe);
	assert_int_equal(study_find_llem_exe(&exe, plain), LLEM_ENOTFOUND);
	assert_null(exe);
	assert_non_null(strstr(llem_error_last(), "not-executable"));
	assert_non_null(strstr(llem_error_last(), "llem_exe"));
	assert_int_equal(study_find_llem_exe(&exe, dir), LLEM_ENOTFOUND); /* a directory */

	/* LLEM_EXE: the same rules. */
	setenv("LLEM_EXE", fake, 1);
	assert_int_equal(study_find_llem_exe(&exe, NULL), 0);
	assert_string_equal(exe, fake);
	free(exe);
	setenv("LLEM_EXE", plain, 1);
	assert_int_equal(study_find_llem_exe(&exe, NULL), LLEM_ENOTFOUND);
	assert_non_null(strstr(llem_error_last(), "LLEM_EXE"));
	unsetenv("LLEM_EXE");

	/* Unless an installed llem is found first, PATH is searched, and an
	 * empty PATH gives the error that names every place and the fix. */
	if (study_find_llem_exe(&exe, NULL) == 0) {
		free(exe);
		exe = NULL;
	}
	setenv("PATH", dir, 1);
	if (study_find_llem_exe(&exe, NULL) == 0) {
		assert_true(access(exe, X_OK) == 0);
		free(exe);
		exe = NULL;
	}
	setenv("PATH", "", 1);
	if (study_find_llem_exe(&exe, NULL) != 0) {
		assert_null(exe);
		assert_non_null(strstr(llem_error_last(), "cannot find the llem executable"));
		assert_non_null(strstr(llem_error_last(), "LLEM_EXE"));
	} else {
		free(exe); /* an llem next to this test or installed: fine */
	}
	if (old_path)
		setenv("PATH", old_path, 1);
	free(old_path);
	test_rm_rf(dir);
	free(fake);
	free(plain);
	free(dir);
}

/* ---- dataset stamps ---------------------------------------------------- */

static void test_dataset_stamp(void **state)
{
	char *dir = test_tmpdir("study-stamp");
	char *file = fs_join(dir, "p.jsonl");
	struct dataset_stamp st, back;
	struct prompt_set ps;
	struct strbuf sb = STRBUF_INIT;
	struct timespec later[2];

	(void)state;
	test_write_text(file, "{\"_about\": \"header\"}\n{\"prompt\": \"a\"}\n\n"
			      "{\"text\": \"b\"}\n{\"prompt\": \"c\"}\n{\"prompt\": \"d\"}\n");
	assert_int_equal(dataset_stamp_take(&st, file), 0);
	assert_int_equal(st.available, 4);
	assert_string_equal(st.path, file);
	assert_true(st.size > 0);

	dataset_stamp_format(&st, &sb);
	assert_int_equal(dataset_stamp_parse(&back, sb.buf), 0);
	assert_string_equal(back.path, st.path);
	assert_true(back.dev == st.dev && back.ino == st.ino && back.size == st.size &&
		    back.mtime_ns == st.mtime_ns && back.available == st.available);
	dataset_stamp_release(&back);
	assert_int_equal(dataset_stamp_parse(&back, "1:2:3"), LLEM_EINVAL);
	assert_int_equal(dataset_stamp_parse(&back, "1:2:3:4:x:/p"), LLEM_EINVAL);
	assert_int_equal(dataset_stamp_parse(&back, "1:2:3:4:5:"), LLEM_EINVAL);

	/* Trusted: only the first prompts are read; the count is the stamp's
	 * (forged here, to show it is used). */
	st.available = 99;
	assert_int_equal(dataset_load_stamped(&ps, file, 2, &st), 0);
	assert_int_equal(ps.count, 2);
	assert_string_equal(ps.prompts[0], "a");
	assert_string_equal(ps.prompts[1], "b");
	assert_int_equal(ps.available, 99);
	assert_non_null(ps.provenance);
	prompt_set_release(&ps);
	assert_int_equal(dataset_load_stamped(&ps, file, 100, &st), LLEM_EINVAL);
	assert_non_null(strstr(llem_error_last(), "has only 99 prompts"));

	/* n 0 (all) and no stamp always validate the whole file. */
	assert_int_equal(dataset_load_stamped(&ps, file, 0, &st), 0);
	assert_int_equal(ps.available, 4);
	prompt_set_release(&ps);
	assert_int_equal(dataset_load_stamped(&ps, file, 2, NULL), 0);
	assert_int_equal(ps.available, 4);
	prompt_set_release(&ps);

	/* A changed file is validated anew: a bad record after the prompts
	 * asked for is found although a stamp came along. */
	test_write_text(file, "{\"prompt\": \"a\"}\n{\"prompt\": \"b\"}\nnot json\n");
	clock_gettime(CLOCK_REALTIME, &later[0]);
	later[0].tv_sec += 10;
	later[1] = later[0];
	assert_int_equal(utimensat(AT_FDCWD, file, later, 0), 0);
	assert_int_equal(dataset_load_stamped(&ps, file, 1, &st), LLEM_EINVAL);
	assert_non_null(strstr(llem_error_last(), ":3: invalid JSON"));
	assert_int_equal(dataset_stamp_take(&back, file), LLEM_EINVAL);

	strbuf_release(&sb);
	dataset_stamp_release(&st);
	test_rm_rf(dir);
	free(file);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_run_study_writes_manifest_and_results),
		cmocka_unit_test(test_run_study_interrupt_flag_then_resume),
		cmocka_unit_test(test_run_study_callback_stops),
		cmocka_unit_test(test_run_study_callback_ends_gaps),
		cmocka_unit_test(test_run_study_rejects_bad_options),
		cmocka_unit_test(test_find_llem_exe),
		cmocka_unit_test(test_dataset_stamp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
