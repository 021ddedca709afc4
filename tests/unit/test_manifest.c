/*
 * Tests for the study manifest: create/transition/reload round trips,
 * derived counters, strict loading, a failed write that keeps the old file,
 * and SIGKILL at random moments never leaving a partial manifest.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include "llem/errors.h"
#include "study/study.h"
#include "util/util.h"

#include <dirent.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NPOINTS 3
#define NCYCLES 4

static const char *const hashes[NPOINTS] = {
	"0123456789abcdef",
	"fedcba9876543210",
	"00000000ffffffff",
};
static const char *const summaries[NPOINTS] = {
	"native / synthetic-smollm-135m / bf16 / batch 8",
	"native / synthetic-smollm-135m / fp32 / batch 1",
	"native / \"quoted\" \xc3\xa9 / fp16",
};

/* A manifest over the interleaved runs; path NULL keeps it in memory. */
static struct manifest *new_manifest(const char *path)
{
	struct study_run_entry *runs;
	size_t n = study_order_runs(&runs, NPOINTS, NCYCLES, STUDY_INTERLEAVED, 0);
	struct manifest *m;

	assert_int_equal(manifest_create(&m, path, "my-study", "abcdef0123456789", hashes,
					 summaries, runs, n),
			 0);
	free(runs);
	return m;
}

static bool str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Equal apart from timestamps, whose presence must still agree. */
static bool same_state(const struct manifest *a, const struct manifest *b)
{
	if (a->count != b->count || a->status != b->status ||
	    !str_eq(a->study_name, b->study_name) ||
	    !str_eq(a->study_design_hash, b->study_design_hash) ||
	    !str_eq(a->llem_version, b->llem_version) || !a->started_at != !b->started_at ||
	    !a->completed_at != !b->completed_at)
		return false;
	for (size_t i = 0; i < a->count; i++) {
		const struct manifest_entry *x = &a->entries[i], *y = &b->entries[i];

		if (!str_eq(x->config_hash, y->config_hash) ||
		    !str_eq(x->config_summary, y->config_summary) || x->cycle != y->cycle ||
		    x->status != y->status || !str_eq(x->result_file, y->result_file) ||
		    !str_eq(x->error_type, y->error_type) ||
		    !str_eq(x->error_message, y->error_message) ||
		    !x->started_at != !y->started_at || !x->completed_at != !y->completed_at)
			return false;
	}
	return true;
}

static json_int_t json_count(const char *path, const char *key)
{
	json_error_t err;
	json_t *root = json_load_file(path, 0, &err);
	json_int_t v;

	assert_non_null(root);
	assert_true(json_is_integer(json_object_get(root, key)));
	v = json_integer_value(json_object_get(root, key));
	json_decref(root);
	return v;
}

static void test_round_trip(void **state)
{
	char *dir = test_tmpdir("manifest");
	char *path = fs_join(dir, "manifest.json");
	struct manifest *m = new_manifest(path), *r;

	(void)state;
	assert_int_equal(m->count, NPOINTS * NCYCLES);
	assert_int_equal(m->status, MANIFEST_RUNNING);
	assert_non_null(m->started_at);
	assert_true(str_ends_with(m->started_at, "Z"));
	assert_string_equal(m->entries[4].config_hash, hashes[1]);
	assert_int_equal(m->entries[4].cycle, 2);

	assert_int_equal(manifest_load(&r, path), 0);
	assert_true(same_state(m, r));
	assert_string_equal(r->started_at, m->started_at);
	assert_string_equal(r->path, path);
	manifest_free(r);

	assert_int_equal(manifest_mark_running(m, 0), 0);
	assert_int_equal(manifest_mark_completed(m, 0, "results/a.json"), 0);
	assert_int_equal(manifest_mark_running(m, 1), 0);
	assert_int_equal(
		manifest_mark_failed(m, 1, "TimeoutError",
				     "Experiment exceeded timeout of 600s and was killed."),
		0);
	assert_int_equal(manifest_mark_running(m, 2), 0);
	assert_int_equal(manifest_mark_completed(m, 2, NULL), 0);
	assert_int_equal(manifest_load(&r, path), 0);
	assert_true(same_state(m, r));
	assert_int_equal(r->entries[0].status, MANIFEST_COMPLETED);
	assert_string_equal(r->entries[0].result_file, "results/a.json");
	assert_string_equal(r->entries[1].error_type, "TimeoutError");
	assert_null(r->entries[1].result_file);
	assert_string_equal(r->entries[2].result_file, "");
	assert_string_equal(r->entries[0].started_at, m->entries[0].started_at);
	assert_string_equal(r->entries[0].completed_at, m->entries[0].completed_at);
	manifest_free(r);

	/* Counters are derived on every write. */
	assert_int_equal(json_count(path, "total_experiments"), 12);
	assert_int_equal(json_count(path, "completed"), 2);
	assert_int_equal(json_count(path, "failed"), 1);
	assert_int_equal(json_count(path, "pending"), 9);

	/* A rerun of a failed entry clears the old error. */
	assert_int_equal(manifest_mark_running(m, 1), 0);
	assert_null(m->entries[1].error_type);
	assert_int_equal(json_count(path, "failed"), 0);
	assert_int_equal(json_count(path, "pending"), 10); /* running counts */

	/* Interrupted: the running entry is recorded as interrupted, with why,
	 * and still counts as pending (--resume runs it again). */
	assert_int_equal(manifest_mark_interrupted(m, "stopped by an interrupt (SIGTERM)"), 0);
	assert_int_equal(manifest_load(&r, path), 0);
	assert_int_equal(r->status, MANIFEST_INTERRUPTED);
	assert_int_equal(r->entries[1].status, MANIFEST_INTERRUPTED);
	assert_string_equal(r->entries[1].error_type, "Interrupted");
	assert_string_equal(r->entries[1].error_message, "stopped by an interrupt (SIGTERM)");
	assert_non_null(r->entries[1].started_at);
	assert_non_null(r->entries[1].completed_at);
	assert_null(r->entries[1].result_file);
	assert_int_equal(r->entries[2].status, MANIFEST_COMPLETED);
	assert_int_equal(r->entries[3].status, MANIFEST_PENDING);
	assert_null(r->completed_at);
	manifest_free(r);
	assert_int_equal(json_count(path, "pending"), 10);

	assert_int_equal(manifest_mark_study_completed(m), 0);
	assert_int_equal(manifest_load(&r, path), 0);
	assert_int_equal(r->status, MANIFEST_COMPLETED);
	assert_non_null(r->completed_at);
	assert_true(same_state(m, r));
	manifest_free(r);

	assert_true(manifest_mark_running(m, 12) == LLEM_EINVAL);
	manifest_free(m);
	test_rm_rf(dir);
	free(path);
	free(dir);
}

static void assert_file_is(const char *path, const char *want, size_t want_len)
{
	char *data;
	size_t len;

	assert_int_equal(fs_read_file(path, &data, &len), 0);
	assert_int_equal(len, want_len);
	assert_memory_equal(data, want, want_len);
	free(data);
}

/*
 * A write that fails keeps the old file and reports the error. The suite
 * may run as root, which writes into a read-only directory anyway, so the
 * failure is forced with RLIMIT_FSIZE (SIGXFSZ ignored: write gets EFBIG);
 * the read-only directory is tried as well when not root.
 */
static void test_failed_write_keeps_old_file(void **state)
{
	char *dir = test_tmpdir("manifest");
	char *path = fs_join(dir, "manifest.json");
	struct manifest *m = new_manifest(path);
	struct rlimit old_lim, lim;
	void (*old_handler)(int);
	char *before;
	size_t before_len;
	int rc;

	(void)state;
	assert_int_equal(fs_read_file(path, &before, &before_len), 0);

	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old_lim), 0);
	lim = old_lim;
	lim.rlim_cur = 64;
	old_handler = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	rc = manifest_mark_running(m, 0);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old_lim), 0);
	signal(SIGXFSZ, old_handler);
	assert_true(rc < 0);
	assert_non_null(strstr(error_last(), "manifest.json"));
	assert_int_equal(m->entries[0].status, MANIFEST_RUNNING);
	assert_file_is(path, before, before_len);

	if (geteuid() != 0) {
		assert_int_equal(chmod(dir, 0555), 0);
		rc = manifest_mark_completed(m, 0, "r.json");
		assert_int_equal(chmod(dir, 0755), 0);
		assert_true(rc < 0);
		assert_file_is(path, before, before_len);
	}

	/* The next write succeeds and carries both changes. */
	assert_int_equal(manifest_mark_completed(m, 0, "r.json"), 0);
	assert_int_equal(json_count(path, "completed"), 1);

	manifest_free(m);
	free(before);
	test_rm_rf(dir);
	free(path);
	free(dir);
}

/* Writes m's JSON with one substitution and expects a load error naming key. */
static void expect_load_error(const char *dir, const char *from, const char *to, const char *key)
{
	struct manifest *m = new_manifest(NULL), *r = (void *)1;
	struct strbuf sb = STRBUF_INIT, edited = STRBUF_INIT;
	char *path = fs_join(dir, "bad.json");
	const char *at;

	manifest_serialize(m, &sb);
	at = strstr(sb.buf, from);
	assert_non_null(at);
	strbuf_add(&edited, sb.buf, (size_t)(at - sb.buf));
	strbuf_adds(&edited, to);
	strbuf_adds(&edited, at + strlen(from));
	test_write_text(path, edited.buf);
	assert_int_equal(manifest_load(&r, path), LLEM_EINVAL);
	assert_null(r);
	if (!strstr(error_last(), key))
		fail_msg("error '%s' does not name '%s'", error_last(), key);
	manifest_free(m);
	strbuf_release(&sb);
	strbuf_release(&edited);
	free(path);
}

/* One edit of a valid manifest and what the load error must say. */
static const struct {
	const char *from, *to, *says;
} load_errors[] = {
	{ "\"study_name\"", "\"extra\": 1, \"study_name\"", "': extra: unknown key" },
	{ "\"cycle\": 1", "\"cycle\": \"1\"",
	  "': experiments[0].cycle: expected a positive integer, got a string" },
	{ "\"cycle\": 1", "\"cycle\": 1.0",
	  "': experiments[0].cycle: expected a positive integer, got a number" },
	{ "\"cycle\": 1", "\"cycle\": 0",
	  "': experiments[0].cycle: must be between 1 and 2147483647, got 0" },
	{ "\"pending\": 12", "\"pending\": 11", "': pending: does not match the experiments" },
	{ "\"total_experiments\": 12", "\"total_experiments\": true",
	  "': total_experiments: expected a non-negative integer, got a boolean" },
	/* A study as a whole is never pending. */
	{ "\"status\": \"running\"", "\"status\": \"pending\"",
	  "': status: must be one of \"running\", \"completed\", \"failed\", "
	  "\"interrupted\", got \"pending\"" },
	{ "\"status\": \"pending\"", "\"status\": \"skipped\"",
	  "': experiments[0].status: must be one of \"pending\", \"running\", "
	  "\"completed\", \"failed\", \"interrupted\", got \"skipped\"" },
	{ "\"schema_version\": \"1.0\"", "\"schema_version\": \"2.0\"",
	  "': schema_version: unsupported (this llem reads \"1.0\")" },
	{ "\"study_name\": \"my-study\"", "\"study_name\": null",
	  "': study_name: expected a string, got null" },
	{ "\"config_hash\": \"0123456789abcdef\",", "",
	  "': experiments[0].config_hash: missing key" },
	{ "\"error_type\": null", "\"error_type\": null, \"x\": 2",
	  "': experiments[0].x: unknown key" },
	{ "\"study_name\": \"my-study\"", "\"study_name\": \"a\", \"study_name\": \"b\"",
	  "duplicate" },
	{ "\"experiments\": [", "\"experiments\": [3, ",
	  "': experiments[0]: expected an object, got an integer" },
};

static void test_load_strict(void **state)
{
	char *dir = test_tmpdir("manifest");
	char *path = fs_join(dir, "manifest.json");
	struct manifest *r = (void *)1;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(load_errors); i++)
		expect_load_error(dir, load_errors[i].from, load_errors[i].to, load_errors[i].says);

	/* Not JSON at all, and a missing file. */
	test_write_text(path, "{\"schema_version\": \"1.0\",");
	assert_int_equal(manifest_load(&r, path), LLEM_EINVAL);
	assert_null(r);
	test_rm_rf(dir);
	assert_int_equal(manifest_load(&r, path), LLEM_ENOTFOUND);
	free(path);
	free(dir);
}

/* ---- SIGKILL at random moments ---- */

#define KILL_STEPS 4000
#define KILL_ROUNDS 50

/* Step s of the child's loop: one transition, tagged with s where it can be. */
static int apply_step(struct manifest *m, long s)
{
	size_t i = (size_t)(s / 2) % m->count;
	char *text;
	int rc;

	if (s % 2 == 0)
		return manifest_mark_running(m, i);
	if ((s / 2) % 3 == 0) {
		text = xasprintf("step %ld", s);
		rc = manifest_mark_failed(m, i, "TimeoutError", text);
	} else {
		text = xasprintf("step-%ld.json", s);
		rc = manifest_mark_completed(m, i, text);
	}
	free(text);
	return rc;
}

/* Only the manifest and stale temps of it may be in dir. */
static void check_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	bool found = false;

	assert_non_null(d);
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (strcmp(de->d_name, "manifest.json") == 0)
			found = true;
		else
			assert_true(str_starts_with(de->d_name, ".manifest.json."));
	}
	closedir(d);
	assert_true(found);
}

static void test_sigkill_leaves_valid_manifest(void **state)
{
	uint64_t rng = 0x9e3779b97f4a7c15ull;
	long min_step = KILL_STEPS, max_step = -1;

	(void)state;
	for (int round = 0; round < KILL_ROUNDS; round++) {
		char *dir = test_tmpdir("manifest-kill");
		char *path = fs_join(dir, "manifest.json");
		struct manifest *m = new_manifest(path), *loaded, *expect;
		struct timespec ts;
		long delay_us, s;
		int status;
		pid_t pid;

		rng = rng * 6364136223846793005ull + 1442695040888963407ull;
		/*
		 * Up to 120 ms: each write costs two fsyncs, so the child gets
		 * through some dozens of transitions and most kills land inside
		 * a write (temp written, fsync, rename or the dir fsync).
		 */
		delay_us = (long)((rng >> 33) % 120000);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			for (s = 0; s < KILL_STEPS; s++)
				if (apply_step(m, s))
					_exit(1);
			_exit(0);
		}
		ts.tv_sec = 0;
		ts.tv_nsec = delay_us * 1000;
		nanosleep(&ts, NULL);
		assert_int_equal(kill(pid, SIGKILL), 0);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) ||
			    (WIFEXITED(status) && WEXITSTATUS(status) == 0));

		check_dir(dir);
		if (manifest_load(&loaded, path) != 0)
			fail_msg("round %d: %s", round, error_last());
		/* Replay in memory until the loaded state turns up. */
		expect = new_manifest(NULL);
		for (s = -1; s < KILL_STEPS; s++) {
			if (s >= 0)
				assert_int_equal(apply_step(expect, s), 0);
			if (same_state(expect, loaded))
				break;
		}
		if (s == KILL_STEPS)
			fail_msg("round %d: the manifest matches no state written", round);
		if (s < min_step)
			min_step = s;
		if (s > max_step)
			max_step = s;

		manifest_free(expect);
		manifest_free(loaded);
		manifest_free(m);
		test_rm_rf(dir);
		free(path);
		free(dir);
	}
	/* The kills must have landed inside the loop, not only around it. */
	print_message("kill points: steps %ld..%ld\n", min_step, max_step);
	assert_true(max_step > 1);
	assert_true(min_step < KILL_STEPS - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_failed_write_keeps_old_file),
		cmocka_unit_test(test_load_strict),
		cmocka_unit_test(test_sigkill_leaves_valid_manifest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
