/*
 * util: the bottom layer. Memory helpers, growable strings, diagnostics,
 * the JSON writer, number formatting, hashing, clocks and atomic files.
 *
 * Ownership: every _init/_new has a matching _release/_free; a returned
 * `char *` is the caller's to free() unless the comment says "borrowed".
 * Allocation failure is fatal (xmalloc and friends print and abort): llem
 * cannot measure anything meaningful once the heap is exhausted, and
 * threading ENOMEM through every string operation would hide real errors.
 */
#ifndef LLEM_UTIL_H
#define LLEM_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#if defined(__GNUC__)
#define LLEM_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define LLEM_PRINTF(f, a)
#endif

/* ---- memory (alloc.c) ---- */
void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) LLEM_PRINTF(1, 2);
/* Grows *items (of *cap elements of elem_size bytes) to hold at least need. */
void grow_array(void **items, size_t *cap, size_t need, size_t elem_size);
#define GROW(items, cap, need) grow_array((void **)&(items), &(cap), (need), sizeof(*(items)))

/* ---- growable string (strbuf.c), always NUL-terminated ---- */
struct strbuf {
	char *buf;
	size_t len;
	size_t cap;
};
#define STRBUF_INIT { NULL, 0, 0 }
void strbuf_add(struct strbuf *sb, const void *data, size_t n);
void strbuf_adds(struct strbuf *sb, const char *s);
void strbuf_addch(struct strbuf *sb, char c);
void strbuf_addf(struct strbuf *sb, const char *fmt, ...) LLEM_PRINTF(2, 3);
void strbuf_vaddf(struct strbuf *sb, const char *fmt, va_list ap);
void strbuf_reset(struct strbuf *sb);
/* Returns the string (never NULL, "" when empty) and leaves sb empty. */
char *strbuf_detach(struct strbuf *sb);
/* Borrowed view, valid until the next change; "" when empty. */
const char *strbuf_str(const struct strbuf *sb);
void strbuf_release(struct strbuf *sb);

/* ---- errors (error.c): thread-local "last error" record ---- */
/* Sets the message for the calling thread and returns code (negative).
 * The arguments may include error_last(), to add context to it. */
int error_set(int code, const char *fmt, ...) LLEM_PRINTF(2, 3);
/* Like error_set, with ": strerror(errno)" appended. */
int error_set_errno(int code, const char *fmt, ...) LLEM_PRINTF(2, 3);
const char *error_last(void);
void error_clear(void);

/* ---- diagnostics (diag.c): positioned messages, collected, never printed ---- */
enum diag_severity { DIAG_ERROR, DIAG_WARNING };
struct diag {
	enum diag_severity severity;
	char *file;    /* "<command line>" etc. for non-file sources; may be NULL */
	int line, col; /* 1-based; 0 when unknown */
	char *path;    /* dotted key path, e.g. "decoder.top_p"; may be NULL */
	char *message;
	char *hint; /* may be NULL */
};
struct diag_list {
	struct diag *items;
	size_t count, cap;
};
#define DIAG_LIST_INIT { NULL, 0, 0 }
/* Longer messages and key paths keep their start and end around "...
 * [N bytes elided] ..." (a diagnostic quotes the bad value, which may be
 * megabytes long). */
#define DIAG_MESSAGE_MAX 1024
#define DIAG_PATH_MAX 256
void diag_add(struct diag_list *dl, enum diag_severity sev, const char *file, int line, int col,
	      const char *path, const char *hint, const char *fmt, ...) LLEM_PRINTF(8, 9);
size_t diag_error_count(const struct diag_list *dl);
/* Stable sort by file, line, column (insertion order breaks ties). */
void diag_sort(struct diag_list *dl);
/* "file:line:col: path: message" (parts that are unknown are left out). */
void diag_format(const struct diag *d, struct strbuf *out);
/*
 * The one text form of a list (error messages, the CLI): each diagnostic
 * (only the errors with errors_only) as diag_format writes it, followed by
 * a "  hint: ..." line when it has a hint; lines joined by '\n', no
 * trailing newline.
 */
void diag_list_format(const struct diag_list *dl, bool errors_only, struct strbuf *out);
void diag_list_release(struct diag_list *dl);

/* ---- numbers (numfmt.c) ---- */
/*
 * Shortest decimal that reads back to the same double, laid out exactly as
 * Python's repr(float) does ("1.0", "0.05", "1e-05", "1e+16"), so canonical
 * JSON can be reproduced with Python's json module. Non-finite values write
 * "NaN"/"Infinity"/"-Infinity" (callers decide whether that may appear).
 */
void numfmt_double(struct strbuf *out, double v);
/* Strict parsers: the whole string must be consumed; 0 or -1. */
int parse_int64(const char *s, int64_t *out);
int parse_double(const char *s, double *out);

/* ---- JSON writer (jsonw.c) ---- */
enum jsonw_style {
	JSONW_PRETTY, /* 2-space indent, one member per line */
	JSONW_PYTHON  /* one line, ", " and ": " separators (json.dumps) */
};
struct jsonw {
	struct strbuf *out;
	enum jsonw_style style;
	int depth;
	bool need_comma;
	bool after_key;
	bool ascii_only; /* escape non-ASCII as \uXXXX (Python ensure_ascii) */
};
void jsonw_init(struct jsonw *w, struct strbuf *out, enum jsonw_style style);
void jsonw_object_begin(struct jsonw *w);
void jsonw_object_end(struct jsonw *w);
void jsonw_array_begin(struct jsonw *w);
void jsonw_array_end(struct jsonw *w);
void jsonw_key(struct jsonw *w, const char *key);
void jsonw_string(struct jsonw *w, const char *s); /* NULL writes null */
void jsonw_int(struct jsonw *w, int64_t v);
void jsonw_double(struct jsonw *w, double v); /* non-finite -> null */
void jsonw_bool(struct jsonw *w, bool v);
void jsonw_null(struct jsonw *w);
/* A key and its value in one call. Unknown stays null, never 0: a NULL
 * string, a negative count, a non-finite double. */
void jsonw_put_string(struct jsonw *w, const char *key, const char *s);
void jsonw_put_count(struct jsonw *w, const char *key, int64_t v);
void jsonw_put_double(struct jsonw *w, const char *key, double v);
void jsonw_put_bool(struct jsonw *w, const char *key, bool v);
/* Writes pre-serialised JSON text as one value (trusted input). */
void jsonw_raw(struct jsonw *w, const char *json);
/* Appends s as a JSON string literal (with quotes). */
void json_quote(struct strbuf *out, const char *s, bool ascii_only);

/* ---- hashing (sha256.c) ---- */
void sha256(const void *data, size_t len, uint8_t digest[32]);
/* First nhex lowercase hex digits (nhex <= 64) of SHA-256 into out[nhex+1]. */
void sha256_hex(const void *data, size_t len, char *out, size_t nhex);
/* Streaming: init, any number of updates, then one final (or final_hex). */
struct sha256_ctx {
	uint32_t h[8];
	uint64_t total; /* bytes hashed so far */
	uint8_t buf[64];
	size_t fill; /* bytes waiting in buf */
	void (*blocks)(uint32_t *h, const uint8_t *p, size_t nblocks);
};
void sha256_init(struct sha256_ctx *c);
void sha256_update(struct sha256_ctx *c, const void *data, size_t len);
void sha256_final(struct sha256_ctx *c, uint8_t digest[32]);
void sha256_final_hex(struct sha256_ctx *c, char *out, size_t nhex);
/* The block function in use: "sha-ni" (x86 SHA extensions) or "portable". */
const char *sha256_impl(void);
/* Tests and benchmarks: force the portable block function for contexts
 * initialised from now on (not thread-safe; set it before hashing). */
void sha256_force_portable(bool on);

/* ---- strings (strutil.c) ---- */
size_t edit_distance(const char *a, const char *b);
/* The candidate nearest to word within max_distance, or NULL (borrowed). */
const char *did_you_mean(const char *word, const char *const *candidates, size_t n,
			 size_t max_distance);
/* did_you_mean with a distance limit scaled to the word: at most 3 and at
 * most half its length, so "foo" is not "corrected" to "n". */
const char *did_you_mean_near(const char *word, const char *const *candidates, size_t n);
bool str_starts_with(const char *s, const char *prefix);
bool str_ends_with(const char *s, const char *suffix);

/* ---- time (clock.c) ---- */
uint64_t clock_monotonic_ns(void);
/* ISO-8601 UTC with microseconds and 'Z', from a CLOCK_REALTIME reading. */
void time_format_utc(struct strbuf *out, int64_t unix_ns);
int64_t clock_realtime_ns(void);

/* ---- files (fs.c) ---- */
/* Reads a whole file; 0 or negative LLEM_E* with error_last() set. */
int fs_read_file(const char *path, char **out, size_t *out_len);
bool fs_exists(const char *path);
bool fs_is_dir(const char *path);
/* Directory part of path ("." when none), newly allocated. */
char *fs_dirname(const char *path);
/* dir + "/" + name, or name itself when it is absolute. */
char *fs_join(const char *dir, const char *name);
/* Directory holding the running executable, or NULL. */
char *fs_exe_dir(void);
/* mkdir -p; 0 or negative with error_last() set. */
int fs_mkdirs(const char *path, unsigned mode);
/* Creates a new directory base, or base_1, base_2 ... when taken (two runs
 * in one second); *out gets the path created. Parents must exist. */
int fs_mkdir_unique(char **out, const char *base);

/* ---- atomic files (atomic_file.c) ---- */
/*
 * A file that either appears complete under its final name or not at all:
 * data goes to a temp file in the same directory (".NAME.XXXXXX"), which is
 * fsync'ed, renamed over NAME, and the directory fsync'ed. A crash at any
 * point leaves the old NAME untouched (a stale temp may remain).
 */
struct atomic_file;
int atomic_file_open(struct atomic_file **out, const char *path);
int atomic_file_write(struct atomic_file *af, const void *data, size_t n);
/* Makes the file visible under its name; frees af either way. */
int atomic_file_commit(struct atomic_file *af);
/* Removes the temp file; frees af. */
void atomic_file_abort(struct atomic_file *af);
/* open + write + commit in one call. */
int atomic_write_file(const char *path, const void *data, size_t n);

#endif
