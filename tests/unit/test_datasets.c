/*
 * Tests for the datasets module: the built-in aienergyscore set (checked
 * against hashes computed with Python's json module), the JSONL record
 * rules, error messages with file:line, and where built-ins are found.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include "build_info.h"
#include "datasets/datasets.h"
#include "llem/errors.h"
#include "util/util.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define BUILTIN_FILE LLEM_SOURCE_DIR "/datasets/aienergyscore.jsonl"
#define FIXTURES LLEM_SOURCE_DIR "/tests/data/datasets"

/*
 * SHA-256 of the prompts joined by "\n", computed independently with
 * Python: [json.loads(l)["prompt"] for l in lines[1:]].
 */
#define SHA_ALL_1000 "745c17607762bb967cb494a1ca1308a0713866494bde5b15e7ab9f01d6ab7a56"
#define SHA_FIRST_100 "601a408c79718260225cb075e2a9a1802d49704f16d86bf85786c6fbd617c702"

static void joined_sha(const struct prompt_set *ps, char hex[65])
{
	struct strbuf sb = STRBUF_INIT;
	size_t i;

	for (i = 0; i < ps->count; i++) {
		if (i)
			strbuf_addch(&sb, '\n');
		strbuf_adds(&sb, ps->prompts[i]);
	}
	sha256_hex(sb.buf, sb.len, hex, 64);
	strbuf_release(&sb);
}

static size_t longest_bytes(const struct prompt_set *ps)
{
	size_t i, max = 0;

	for (i = 0; i < ps->count; i++)
		if (strlen(ps->prompts[i]) > max)
			max = strlen(ps->prompts[i]);
	return max;
}

static void test_builtin_loads_all_prompts(void **state)
{
	struct prompt_set ps = PROMPT_SET_INIT;
	char hex[65];

	(void)state;
	unsetenv("LLEM_DATA_DIR");
	assert_int_equal(dataset_load(&ps, "aienergyscore", 0), 0);
	assert_string_equal(ps.name, "aienergyscore");
	assert_true(str_ends_with(ps.path, "/datasets/aienergyscore.jsonl"));
	assert_int_equal(ps.count, 1000);
	assert_int_equal(ps.available, 1000);
	joined_sha(&ps, hex);
	assert_string_equal(hex, SHA_ALL_1000);
	/* 85,690 characters, 85,708 bytes of UTF-8 (the original tool's dataset file). */
	assert_int_equal(longest_bytes(&ps), 85708);
	assert_string_equal(ps.provenance,
			    "{\"_provenance\":\"AIEnergyScore/text_generation\","
			    "\"_commit\":\"2dc92b2ee2cd9776a51ccf08c6c2ab04138370c3\","
			    "\"_license\":\"apache-2.0\","
			    "\"_description\":\"1000 prompts from WikiText, OSCAR, UltraChat\"}");
	prompt_set_release(&ps);
	assert_null(ps.prompts);
	assert_int_equal(ps.count, 0);
}

/* The first prompt is the second line of the file, decoded on its own. */
static void test_builtin_first_prompt_is_second_line(void **state)
{
	struct prompt_set ps = PROMPT_SET_INIT;
	FILE *f = fopen(BUILTIN_FILE, "r");
	char *line = NULL;
	size_t cap = 0;
	json_error_t err;
	json_t *rec;

	(void)state;
	assert_non_null(f);
	assert_true(getline(&line, &cap, f) > 0);
	assert_true(getline(&line, &cap, f) > 0);
	fclose(f);
	rec = json_loads(line, 0, &err);
	assert_non_null(rec);

	unsetenv("LLEM_DATA_DIR");
	assert_int_equal(dataset_load(&ps, "aienergyscore", 1), 0);
	assert_int_equal(ps.count, 1);
	assert_int_equal(ps.available, 1000);
	assert_string_equal(ps.prompts[0], json_string_value(json_object_get(rec, "prompt")));
	/* And UTF-8 is kept byte for byte: 1276 bytes by Python's count. */
	assert_int_equal(strlen(ps.prompts[0]), 1276);
	assert_true(str_starts_with(
		ps.prompts[0],
		"Du Fu 's work is notable above all for its range . Chinese "
		"critics traditionally used the term \xe9\x9b\x86\xe5\xa4\xa7\xe6\x88\x90 ( "));
	json_decref(rec);
	free(line);
	prompt_set_release(&ps);
}

static void test_builtin_first_n_in_file_order(void **state)
{
	struct prompt_set ps = PROMPT_SET_INIT;
	char hex[65];

	(void)state;
	unsetenv("LLEM_DATA_DIR");
	assert_int_equal(dataset_load(&ps, "aienergyscore", 100), 0);
	assert_int_equal(ps.count, 100);
	assert_int_equal(ps.available, 1000);
	joined_sha(&ps, hex);
	assert_string_equal(hex, SHA_FIRST_100);
	prompt_set_release(&ps);

	assert_int_equal(dataset_load(&ps, "aienergyscore", 1000), 0);
	assert_int_equal(ps.count, 1000);
	prompt_set_release(&ps);
}

static void test_builtin_too_many_requested(void **state)
{
	struct prompt_set ps = PROMPT_SET_INIT;

	(void)state;
	unsetenv("LLEM_DATA_DIR");
	assert_int_equal(dataset_load(&ps, "aienergyscore", 1001), LLEM_EINVAL);
	assert_string_equal(
		error_last(),
		"dataset 'aienergyscore' has only 1000 prompts but 1001 were requested\n"
		"hint: lower n to 1000 or fewer, or use another dataset");
	assert_null(ps.prompts);
	assert_null(ps.path);
	assert_int_equal(ps.count, 0);

	assert_int_equal(dataset_load(&ps, "aienergyscore", 2000), LLEM_EINVAL);
	assert_true(str_starts_with(
		error_last(),
		"dataset 'aienergyscore' has only 1000 prompts but 2000 were requested\n"
		"hint: "));
	prompt_set_release(&ps);
}

static void test_field_precedence_and_skips(void **state)
{
	static const char *const want[] = {
		"Q1",
		"I2",
		"N3",
		"T4",
		"P5",
		"caf\xc3\xa9 \xf0\x9f\x98\x80",
		"caf\xc3\xa9 \xf0\x9f\x98\x80 line\nbreak",
	};
	struct prompt_set ps = PROMPT_SET_INIT;
	size_t i;

	(void)state;
	assert_int_equal(dataset_load(&ps, FIXTURES "/fields.jsonl", 0), 0);
	assert_string_equal(ps.path, FIXTURES "/fields.jsonl");
	assert_string_equal(ps.name, FIXTURES "/fields.jsonl");
	assert_int_equal(ps.count, ARRAY_SIZE(want));
	assert_int_equal(ps.available, ARRAY_SIZE(want));
	for (i = 0; i < ARRAY_SIZE(want); i++)
		assert_string_equal(ps.prompts[i], want[i]);
	assert_string_equal(ps.provenance,
			    "{\"_source\":\"llem test fixture\",\"_note\":\"field precedence: "
			    "prompt, text, instruction, input, question\"}");
	prompt_set_release(&ps);

	assert_int_equal(dataset_load(&ps, FIXTURES "/fields.jsonl", 3), 0);
	assert_int_equal(ps.count, 3);
	assert_int_equal(ps.available, 7);
	assert_string_equal(ps.prompts[2], "N3");
	prompt_set_release(&ps);

	assert_int_equal(dataset_load(&ps, FIXTURES "/fields.jsonl", 8), LLEM_EINVAL);
	assert_true(str_starts_with(error_last(),
				    "dataset '" FIXTURES
				    "/fields.jsonl' has only 7 prompts but 8 were requested\n"));
}

static void test_malformed_line_names_line(void **state)
{
	struct prompt_set ps = PROMPT_SET_INIT;

	(void)state;
	/* Line 3 is blank, line 4 has a trailing comma; n=1 still checks it. */
	assert_int_equal(dataset_load(&ps, FIXTURES "/malformed.jsonl", 1), LLEM_EINVAL);
	assert_true(str_starts_with(error_last(), FIXTURES "/malformed.jsonl:4: invalid JSON: "));
	assert_true(strlen(error_last()) > strlen(FIXTURES "/malformed.jsonl:4: invalid JSON: "));
	assert_null(ps.prompts);
	assert_int_equal(ps.count, 0);
}

static void test_missing_field_names_line(void **state)
{
	struct prompt_set ps = PROMPT_SET_INIT;

	(void)state;
	assert_int_equal(dataset_load(&ps, FIXTURES "/missing_field.jsonl", 0), LLEM_EINVAL);
	assert_string_equal(error_last(), FIXTURES
			    "/missing_field.jsonl:3: record "
			    "has no prompt field (expected one of prompt, text, instruction, "
			    "input, question)");
}

static void test_non_string_prompt_names_line(void **state)
{
	struct prompt_set ps = PROMPT_SET_INIT;

	(void)state;
	assert_int_equal(dataset_load(&ps, FIXTURES "/nonstring.jsonl", 0), LLEM_EINVAL);
	assert_string_equal(error_last(), FIXTURES "/nonstring.jsonl:3: 'prompt' "
						   "must be a string, not a number");
	assert_int_equal(dataset_load(&ps, FIXTURES "/not_object.jsonl", 0), LLEM_EINVAL);
	assert_string_equal(error_last(), FIXTURES "/not_object.jsonl:2: expected "
						   "a JSON object, got an array");
}

static void test_unknown_builtin_did_you_mean(void **state)
{
	struct prompt_set ps = PROMPT_SET_INIT;
	const char *const *names;
	char *path = (char *)"untouched";

	(void)state;
	assert_int_equal(dataset_builtin_names(&names), 1);
	assert_string_equal(names[0], "aienergyscore");

	assert_int_equal(dataset_load(&ps, "aienergyscor", 10), LLEM_ENOTFOUND);
	assert_string_equal(error_last(),
			    "unknown dataset 'aienergyscor' (did you mean 'aienergyscore'?); "
			    "built-in datasets: aienergyscore\n"
			    "hint: a JSONL file is named by a path ending in '.jsonl'");
	assert_int_equal(dataset_resolve(&path, "wikitext"), LLEM_ENOTFOUND);
	assert_null(path);
	assert_true(str_starts_with(
		error_last(), "unknown dataset 'wikitext'; built-in datasets: aienergyscore\n"));
	assert_int_equal(dataset_resolve(&path, ""), LLEM_EINVAL);
}

static void test_name_is_path_rule(void **state)
{
	(void)state;
	assert_true(dataset_name_is_path("prompts.jsonl"));
	assert_true(dataset_name_is_path("./prompts"));
	assert_true(dataset_name_is_path("/data/p.txt"));
	assert_false(dataset_name_is_path("aienergyscore"));
	assert_false(dataset_name_is_path("prompts.json"));
}

static void test_path_to_file(void **state)
{
	struct prompt_set ps = PROMPT_SET_INIT;
	char *dir = test_tmpdir("datasets");
	char *txt = xasprintf("%s/prompts.txt", dir);
	char *missing = xasprintf("%s/nope.jsonl", dir);
	char *path = NULL;

	(void)state;
	/* A '/' makes it a path even without the .jsonl suffix; CRLF is fine. */
	test_write_text(txt, "{\"text\": \"a\"}\r\n\r\n{\"prompt\": \"b\"}");
	assert_int_equal(dataset_load(&ps, txt, 0), 0);
	assert_int_equal(ps.count, 2);
	assert_string_equal(ps.prompts[0], "a");
	assert_string_equal(ps.prompts[1], "b");
	assert_null(ps.provenance);
	prompt_set_release(&ps);

	assert_int_equal(dataset_load(&ps, missing, 0), LLEM_ENOTFOUND);
	assert_true(strstr(error_last(), missing) != NULL);
	assert_int_equal(dataset_resolve(&path, dir), LLEM_EINVAL);
	assert_null(path);

	/* A file of headers and blank lines has no prompts. */
	test_write_text(missing, "{\"_only\": \"header\"}\n\n");
	assert_int_equal(dataset_load(&ps, missing, 0), LLEM_EINVAL);
	assert_true(strstr(error_last(), "holds no prompts") != NULL);

	test_rm_rf(dir);
	free(missing);
	free(txt);
	free(dir);
}

static void test_data_dir_override(void **state)
{
	struct prompt_set ps = PROMPT_SET_INIT;
	char *dir = test_tmpdir("datasets");
	char *sub = xasprintf("%s/datasets", dir);
	char *file = xasprintf("%s/aienergyscore.jsonl", sub);
	char *path = NULL;

	(void)state;
	assert_int_equal(mkdir(sub, 0755), 0);
	test_write_text(file, "{\"_provenance\": \"override\"}\n{\"prompt\": \"x\"}\n"
			      "{\"prompt\": \"y\"}\n{\"prompt\": \"z\"}\n");
	assert_int_equal(setenv("LLEM_DATA_DIR", dir, 1), 0);
	assert_int_equal(dataset_resolve(&path, "aienergyscore"), 0);
	assert_string_equal(path, file);
	free(path);
	assert_int_equal(dataset_load(&ps, "aienergyscore", 0), 0);
	assert_int_equal(ps.available, 3);
	assert_string_equal(ps.prompts[2], "z");
	assert_string_equal(ps.provenance, "{\"_provenance\":\"override\"}");
	prompt_set_release(&ps);

	/* Without the file there, the search goes on to the next place. */
	assert_int_equal(unlink(file), 0);
	assert_int_equal(dataset_load(&ps, "aienergyscore", 0), 0);
	assert_int_equal(ps.available, 1000);
	assert_false(str_starts_with(ps.path, dir));
	prompt_set_release(&ps);

	unsetenv("LLEM_DATA_DIR");
	test_rm_rf(dir);
	free(file);
	free(sub);
	free(dir);
}

/* Child mode: print where the built-in was found and how many prompts. */
static int probe_builtin(void)
{
	struct prompt_set ps = PROMPT_SET_INIT;

	if (dataset_load(&ps, "aienergyscore", 0)) {
		fprintf(stderr, "%s\n", error_last());
		return 1;
	}
	printf("%zu %s\n", ps.available, ps.path);
	prompt_set_release(&ps);
	return 0;
}

/*
 * An installed layout (<prefix>/bin/llem, <prefix>/share/llem/datasets)
 * wins over the source tree: run a copy of this binary from such a tree.
 */
static void test_exe_relative_install(void **state)
{
	char *dir = test_tmpdir("datasets");
	char *bin = xasprintf("%s/bin", dir);
	char *exe = xasprintf("%s/bin/probe", dir);
	char *share = xasprintf("%s/share/llem/datasets", dir);
	char *file = xasprintf("%s/aienergyscore.jsonl", share);
	char *self = NULL, *want;
	size_t self_len;
	char out[4096];
	int pfd[2], status;
	ssize_t n;
	size_t got = 0;
	pid_t pid;

	(void)state;
	assert_int_equal(fs_read_file("/proc/self/exe", &self, &self_len), 0);
	assert_int_equal(fs_mkdirs(bin, 0755), 0);
	assert_int_equal(fs_mkdirs(share, 0755), 0);
	assert_int_equal(atomic_write_file(exe, self, self_len), 0);
	assert_int_equal(chmod(exe, 0755), 0);
	test_write_text(file, "{\"prompt\": \"installed 1\"}\n{\"prompt\": \"installed 2\"}\n");

	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		unsetenv("LLEM_DATA_DIR");
		execl(exe, exe, "--probe-builtin", (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	while ((n = read(pfd[0], out + got, sizeof(out) - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = '\0';
	close(pfd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	want = xasprintf("2 %s/bin/../share/llem/datasets/aienergyscore.jsonl\n", dir);
	assert_string_equal(out, want);

	free(want);
	test_rm_rf(dir);
	free(self);
	free(file);
	free(share);
	free(exe);
	free(bin);
	free(dir);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_builtin_loads_all_prompts),
		cmocka_unit_test(test_builtin_first_prompt_is_second_line),
		cmocka_unit_test(test_builtin_first_n_in_file_order),
		cmocka_unit_test(test_builtin_too_many_requested),
		cmocka_unit_test(test_field_precedence_and_skips),
		cmocka_unit_test(test_malformed_line_names_line),
		cmocka_unit_test(test_missing_field_names_line),
		cmocka_unit_test(test_non_string_prompt_names_line),
		cmocka_unit_test(test_unknown_builtin_did_you_mean),
		cmocka_unit_test(test_name_is_path_rule),
		cmocka_unit_test(test_path_to_file),
		cmocka_unit_test(test_data_dir_override),
		cmocka_unit_test(test_exe_relative_install),
	};
	int rc;

	if (argc > 1 && !strcmp(argv[1], "--probe-builtin"))
		return probe_builtin();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	error_clear();
	return rc;
}
