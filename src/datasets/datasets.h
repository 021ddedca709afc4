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
