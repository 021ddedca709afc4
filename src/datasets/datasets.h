/*
 * datasets: the prompts a workload runs. A dataset is a built-in name
 * ("aienergyscore") or a path to a JSONL file with one prompt per record.
 * Built-in files ship with llem and are found at run time, never downloaded.
 *
 * Ownership: dataset_load fills a caller-owned struct prompt_set that is
 * released with prompt_set_release; dataset_resolve returns a path the
 * caller frees. Errors are negative LLEM_E* codes with error_last() set.
 */
#ifndef LLEM_DATASETS_H
#define LLEM_DATASETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct strbuf;

struct prompt_set {
	char *name;       /* as asked for: built-in name or the path given */
	char *path;       /* the file the prompts came from */
	char **prompts;   /* count prompts, UTF-8 exactly as in the file */
	size_t count;     /* prompts loaded (the n asked for, or all) */
	size_t available; /* prompts in the file, even when count is smaller */
	char *provenance; /* compact JSON of the first "_" header record, or NULL */
};
#define PROMPT_SET_INIT { NULL, NULL, NULL, 0, 0, NULL }

/*
 * Loads the first n prompts (n == 0: all) of a built-in dataset or JSONL
 * file. The whole file is validated, so available is exact. Errors:
 * LLEM_ENOTFOUND (unknown built-in, missing file), LLEM_EIO (unreadable),
 * LLEM_EINVAL (a bad record, named "file:line: ...", or more prompts asked
 * for than the file has). On error *out is left empty (PROMPT_SET_INIT).
 */
int dataset_load(struct prompt_set *out, const char *name_or_path, size_t n);
void prompt_set_release(struct prompt_set *ps);

/*
 * What a full validation of a dataset file found, so that a later load of
 * the same, unchanged file may skip validating it again: a study checks
 * each dataset once and its worker processes then parse only the prompts
 * they run (the built-in file is 1.7 MB of JSON, ~30 ms per full parse).
 * The file is identified by its resolved path, device, inode, size and
 * modification time, so an edited or replaced file is validated anew.
 */
struct dataset_stamp {
	char *path; /* the resolved file */
	uint64_t dev, ino;
	int64_t size; /* bytes */
	int64_t mtime_ns;
	size_t available; /* prompts in the file */
};
#define DATASET_STAMP_INIT { NULL, 0, 0, 0, 0, 0 }

/* Validates the whole file behind name_or_path (as dataset_load with n 0)
 * and fills *out. Errors as dataset_load; *out is then empty. */
int dataset_stamp_take(struct dataset_stamp *out, const char *name_or_path);
void dataset_stamp_release(struct dataset_stamp *s);
/* One line of text ("dev:ino:size:mtime_ns:available:path") and back;
 * parse returns 0 or LLEM_EINVAL. */
void dataset_stamp_format(const struct dataset_stamp *s, struct strbuf *out);
int dataset_stamp_parse(struct dataset_stamp *out, const char *text);

/*
 * dataset_load, trusting stamp (may be NULL) when it describes the file
 * name_or_path resolves to, unchanged: then only the lines up to the n-th
 * prompt are parsed (n > 0), available is the stamp's, and provenance is
 * the first header among those lines. Otherwise exactly dataset_load.
 */
int dataset_load_stamped(struct prompt_set *out, const char *name_or_path, size_t n,
			 const struct dataset_stamp *stamp);

/*
 * The file behind a dataset name, newly allocated. A path (a name ending in
 * ".jsonl" or holding a '/') is returned as given once it exists. A built-in
 * is searched for in order: $LLEM_DATA_DIR/datasets/, <exe dir>/../share/
 * llem/datasets/, the compile-time install datadir, the source tree.
 * Errors: LLEM_ENOTFOUND, with the places searched or a did-you-mean.
 */
int dataset_resolve(char **out_path, const char *name);

/* True when name is treated as a file path rather than a built-in name. */
bool dataset_name_is_path(const char *name);

/* The built-in dataset names (static storage); returns how many. */
size_t dataset_builtin_names(const char *const **out);

#endif
