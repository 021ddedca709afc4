/*
 * The study manifest (docs/studies.md): {study dir}/manifest.json, rewritten
 * atomically after every transition so a kill at any moment leaves a valid
 * file, and read back strictly for --resume.
 */
#include "study/study.h"
#include "util/util.h"
#include "llem/errors.h"

#include "build_info.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MANIFEST_SCHEMA_VERSION "1.0"

static const char *const state_names[] = {
	[MANIFEST_PENDING] = "pending",
	[MANIFEST_RUNNING] = "running",
	[MANIFEST_COMPLETED] = "completed",
	[MANIFEST_FAILED] = "failed",
	[MANIFEST_INTERRUPTED] = "interrupted",
};

const char *manifest_state_name(enum manifest_state s)
{
	if ((size_t)s < ARRAY_SIZE(state_names))
		return state_names[s];
	return "unknown";
}

static char *now_utc(void)
{
	struct strbuf sb = STRBUF_INIT;

	time_format_utc(&sb, clock_realtime_ns());
	return strbuf_detach(&sb);
}

/* Replaces *field with a copy of s (NULL clears it). */
static void set_str(char **field, const char *s)
{
	free(*field);
	*field = s ? xstrdup(s) : NULL;
}

static void entry_release(struct manifest_entry *e)
{
	free(e->config_hash);
	free(e->config_summary);
	free(e->result_file);
	free(e->error_type);
	free(e->error_message);
	free(e->started_at);
	free(e->completed_at);
}

void manifest_free(struct manifest *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->count; i++)
		entry_release(&m->entries[i]);
	free(m->entries);
	free(m->path);
	free(m->study_name);
	free(m->study_design_hash);
	free(m->llem_version);
	free(m->started_at);
	free(m->completed_at);
	free(m);
}

/* ---- writing ------------------------------------------------------------ */

void manifest_serialize(const struct manifest *m, struct strbuf *out)
{
	struct jsonw w;
	int64_t completed = 0, failed = 0, pending = 0;

	for (size_t i = 0; i < m->count; i++) {
		switch (m->entries[i].status) {
		case MANIFEST_COMPLETED:
			completed++;
			break;
		case MANIFEST_FAILED:
			failed++;
			break;
		default:
			/* As the seed counts: pending includes running (and
			 * interrupted: both still have to run). */
			pending++;
			break;
		}
	}

	jsonw_init(&w, out, JSONW_PRETTY);
	jsonw_object_begin(&w);
	jsonw_key(&w, "schema_version");
	jsonw_string(&w, MANIFEST_SCHEMA_VERSION);
	jsonw_key(&w, "study_name");
	jsonw_string(&w, m->study_name);
	jsonw_key(&w, "study_design_hash");
	jsonw_string(&w, m->study_design_hash);
	jsonw_key(&w, "llem_version");
	jsonw_string(&w, m->llem_version);
	jsonw_key(&w, "started_at");
	jsonw_string(&w, m->started_at);
	jsonw_key(&w, "completed_at");
	jsonw_string(&w, m->completed_at);
	jsonw_key(&w, "status");
	jsonw_string(&w, manifest_state_name(m->status));
	jsonw_key(&w, "total_experiments");
	jsonw_int(&w, (int64_t)m->count);
	jsonw_key(&w, "completed");
	jsonw_int(&w, completed);
	jsonw_key(&w, "failed");
	jsonw_int(&w, failed);
	jsonw_key(&w, "pending");
	jsonw_int(&w, pending);
	jsonw_key(&w, "experiments");
	jsonw_array_begin(&w);
	for (size_t i = 0; i < m->count; i++) {
		const struct manifest_entry *e = &m->entries[i];

		jsonw_object_begin(&w);
		jsonw_key(&w, "config_hash");
		jsonw_string(&w, e->config_hash);
		jsonw_key(&w, "config_summary");
		jsonw_string(&w, e->config_summary);
		jsonw_key(&w, "cycle");
		jsonw_int(&w, e->cycle);
		jsonw_key(&w, "status");
		jsonw_string(&w, manifest_state_name(e->status));
		jsonw_key(&w, "result_file");
		jsonw_string(&w, e->result_file);
		jsonw_key(&w, "error_type");
		jsonw_string(&w, e->error_type);
		jsonw_key(&w, "error_message");
		jsonw_string(&w, e->error_message);
		jsonw_key(&w, "started_at");
		jsonw_string(&w, e->started_at);
		jsonw_key(&w, "completed_at");
		jsonw_string(&w, e->completed_at);
		jsonw_object_end(&w);
	}
	jsonw_array_end(&w);
	jsonw_object_end(&w);
	strbuf_addch(out, '\n');
}

int manifest_write(const struct manifest *m)
{
	struct strbuf sb = STRBUF_INIT;
	int rc;

	if (!m->path)
		return 0;
	manifest_serialize(m, &sb);
	rc = atomic_write_file(m->path, sb.buf, sb.len);
	strbuf_release(&sb);
	return rc;
}

int manifest_create(struct manifest **out, const char *path, const char *study_name,
		    const char *study_design_hash, const char *const *point_hashes,
		    const char *const *point_summaries,
		    const struct study_run_entry *runs, size_t nruns)
{
	struct manifest *m;

	*out = NULL;
	if (!study_name || !study_design_hash ||
	    (nruns && (!runs || !point_hashes || !point_summaries)))
		return error_set(LLEM_EINVAL, "manifest: missing study name or hash");
	for (size_t i = 0; i < nruns; i++)
		if (!point_hashes[runs[i].point] || !point_summaries[runs[i].point])
			return error_set(LLEM_EINVAL,
					 "manifest: point %zu has no hash or summary",
					 runs[i].point);

	m = xcalloc(1, sizeof(*m));
	m->path = path ? xstrdup(path) : NULL;
	m->study_name = xstrdup(study_name);
	m->study_design_hash = xstrdup(study_design_hash);
	m->llem_version = xstrdup(LLEM_VERSION_STRING);
	m->started_at = now_utc();
	m->status = MANIFEST_RUNNING;
	m->entries = xcalloc(nruns ? nruns : 1, sizeof(*m->entries));
	m->count = nruns;
	for (size_t i = 0; i < nruns; i++) {
		struct manifest_entry *e = &m->entries[i];

		e->config_hash = xstrdup(point_hashes[runs[i].point]);
		e->config_summary = xstrdup(point_summaries[runs[i].point]);
		e->cycle = runs[i].cycle;
		e->status = MANIFEST_PENDING;
	}
	*out = m;
	return manifest_write(m);
}

static int check_index(const struct manifest *m, size_t index)
{
	if (index >= m->count)
		return error_set(LLEM_EINVAL, "manifest: entry %zu out of range (%zu entries)",
				 index, m->count);
	return 0;
}

int manifest_set_running(struct manifest *m, size_t index)
{
	struct manifest_entry *e;
	int rc = check_index(m, index);

	if (rc)
		return rc;
	e = &m->entries[index];
	e->status = MANIFEST_RUNNING;
	/* A rerun (--resume) starts clean: nothing of the old attempt stays. */
	set_str(&e->result_file, NULL);
	set_str(&e->error_type, NULL);
	set_str(&e->error_message, NULL);
	set_str(&e->completed_at, NULL);
	free(e->started_at);
	e->started_at = now_utc();
	return 0;
}

int manifest_set_pending(struct manifest *m, size_t index)
{
	struct manifest_entry *e;
	int rc = check_index(m, index);

	if (rc)
		return rc;
	e = &m->entries[index];
	e->status = MANIFEST_PENDING;
	set_str(&e->started_at, NULL);
	return 0;
}

int manifest_mark_running(struct manifest *m, size_t index)
{
	int rc = manifest_set_running(m, index);

	return rc ? rc : manifest_write(m);
}

int manifest_mark_completed(struct manifest *m, size_t index, const char *result_file)
{
	struct manifest_entry *e;
	int rc = check_index(m, index);

	if (rc)
		return rc;
	e = &m->entries[index];
	e->status = MANIFEST_COMPLETED;
	/* The seed records a result that could not be saved as "". */
	set_str(&e->result_file, result_file ? result_file : "");
	set_str(&e->error_type, NULL);
	set_str(&e->error_message, NULL);
	free(e->completed_at);
	e->completed_at = now_utc();
	return manifest_write(m);
}

int manifest_mark_failed(struct manifest *m, size_t index, const char *error_type,
			 const char *error_message)
{
	struct manifest_entry *e;
	int rc = check_index(m, index);

	if (rc)
		return rc;
	e = &m->entries[index];
	e->status = MANIFEST_FAILED;
	set_str(&e->result_file, NULL);
	set_str(&e->error_type, error_type ? error_type : "UnknownError");
	set_str(&e->error_message, error_message ? error_message : "");
	free(e->completed_at);
	e->completed_at = now_utc();
	return manifest_write(m);
}

int manifest_mark_interrupted(struct manifest *m, const char *message)
{
	for (size_t i = 0; i < m->count; i++) {
		struct manifest_entry *e = &m->entries[i];

		if (e->status != MANIFEST_RUNNING)
			continue;
		/* Kept, not reset to pending: the record says what was
		 * cut short; --resume reruns it like any unfinished entry. */
		e->status = MANIFEST_INTERRUPTED;
		set_str(&e->result_file, NULL);
		set_str(&e->error_type, "Interrupted");
		set_str(&e->error_message, message ? message
				: "the study was interrupted while this experiment ran");
		free(e->completed_at);
		e->completed_at = now_utc();
	}
	m->status = MANIFEST_INTERRUPTED;
	return manifest_write(m);
}

int manifest_mark_study_completed(struct manifest *m)
{
	m->status = MANIFEST_COMPLETED;
	free(m->completed_at);
	m->completed_at = now_utc();
	return manifest_write(m);
}

/* ---- strict reading ----------------------------------------------------- */

struct mreader {
	const char *path;
	char prefix[48];  /* "" or "experiments[12]." */
};

static int bad(const struct mreader *r, const char *key, const char *what)
{
	return error_set(LLEM_EINVAL, "manifest '%s': %s%s: %s", r->path, r->prefix,
			 key, what);
}

static int check_keys(const struct mreader *r, json_t *obj, const char *const *keys,
		      size_t nkeys)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v) {
		size_t i;

		for (i = 0; i < nkeys; i++)
			if (strcmp(key, keys[i]) == 0)
				break;
		if (i == nkeys)
			return bad(r, key, "unknown key");
	}
	for (size_t i = 0; i < nkeys; i++)
		if (!json_object_get(obj, keys[i]))
			return bad(r, keys[i], "missing");
	return 0;
}

static int get_str(const struct mreader *r, json_t *obj, const char *key, bool nullable,
		   char **out)
{
	json_t *v = json_object_get(obj, key);

	if (nullable && json_is_null(v)) {
		*out = NULL;
		return 0;
	}
	if (!json_is_string(v))
		return bad(r, key, nullable ? "expected a string or null" :
			   "expected a string");
	*out = xstrndup(json_string_value(v), json_string_length(v));
	return 0;
}

static int get_int(const struct mreader *r, json_t *obj, const char *key, int64_t min,
		   int64_t *out)
{
	json_t *v = json_object_get(obj, key);

	/* json_is_integer is false for reals and booleans, as wanted. */
	if (!json_is_integer(v))
		return bad(r, key, "expected an integer");
	*out = json_integer_value(v);
	if (*out < min || *out > INT32_MAX)
		return bad(r, key, "out of range");
	return 0;
}

static int get_state(const struct mreader *r, json_t *obj, const char *key,
		     const enum manifest_state *allowed, size_t nallowed,
		     enum manifest_state *out)
{
	json_t *v = json_object_get(obj, key);

	if (!json_is_string(v))
		return bad(r, key, "expected a string");
	for (size_t i = 0; i < nallowed; i++) {
		if (strcmp(json_string_value(v), state_names[allowed[i]]) == 0) {
			*out = allowed[i];
			return 0;
		}
	}
	return bad(r, key, "unknown status");
}

static const char *const top_keys[] = {
	"schema_version", "study_name", "study_design_hash", "llem_version",
	"started_at", "completed_at", "status", "total_experiments", "completed",
	"failed", "pending", "experiments",
};

static const char *const entry_keys[] = {
	"config_hash", "config_summary", "cycle", "status", "result_file",
	"error_type", "error_message", "started_at", "completed_at",
};

static const enum manifest_state study_states[] = {
	MANIFEST_RUNNING, MANIFEST_COMPLETED, MANIFEST_INTERRUPTED, MANIFEST_FAILED,
};

static const enum manifest_state entry_states[] = {
	MANIFEST_PENDING, MANIFEST_RUNNING, MANIFEST_COMPLETED, MANIFEST_FAILED,
	MANIFEST_INTERRUPTED,
};

static int load_entry(struct mreader *r, json_t *obj, size_t i, struct manifest_entry *e)
{
	int64_t cycle;
	int rc;

	snprintf(r->prefix, sizeof(r->prefix), "experiments[%zu].", i);
	if (!json_is_object(obj)) {
		snprintf(r->prefix, sizeof(r->prefix), "experiments[%zu]", i);
		return bad(r, "", "expected an object");
	}
	if ((rc = check_keys(r, obj, entry_keys, ARRAY_SIZE(entry_keys))) ||
	    (rc = get_str(r, obj, "config_hash", false, &e->config_hash)) ||
	    (rc = get_str(r, obj, "config_summary", false, &e->config_summary)) ||
	    (rc = get_int(r, obj, "cycle", 1, &cycle)) ||
	    (rc = get_state(r, obj, "status", entry_states, ARRAY_SIZE(entry_states),
			    &e->status)) ||
	    (rc = get_str(r, obj, "result_file", true, &e->result_file)) ||
	    (rc = get_str(r, obj, "error_type", true, &e->error_type)) ||
	    (rc = get_str(r, obj, "error_message", true, &e->error_message)) ||
	    (rc = get_str(r, obj, "started_at", true, &e->started_at)) ||
	    (rc = get_str(r, obj, "completed_at", true, &e->completed_at)))
		return rc;
	e->cycle = (int)cycle;
	return 0;
}

static int load_root(struct mreader *r, json_t *root, struct manifest *m)
{
	int64_t total, completed, failed, pending;
	int64_t n_completed = 0, n_failed = 0, n_pending = 0;
	char *schema = NULL;
	json_t *exps;
	int rc;

	if (!json_is_object(root))
		return error_set(LLEM_EINVAL, "manifest '%s': expected a JSON object",
				 r->path);
	if ((rc = check_keys(r, root, top_keys, ARRAY_SIZE(top_keys))) ||
	    (rc = get_str(r, root, "schema_version", false, &schema)))
		return rc;
	rc = strcmp(schema, MANIFEST_SCHEMA_VERSION) == 0 ? 0 :
	     bad(r, "schema_version", "unsupported (this llem reads \""
		 MANIFEST_SCHEMA_VERSION "\")");
	free(schema);
	if (rc ||
	    (rc = get_str(r, root, "study_name", false, &m->study_name)) ||
	    (rc = get_str(r, root, "study_design_hash", false, &m->study_design_hash)) ||
	    (rc = get_str(r, root, "llem_version", false, &m->llem_version)) ||
	    (rc = get_str(r, root, "started_at", false, &m->started_at)) ||
	    (rc = get_str(r, root, "completed_at", true, &m->completed_at)) ||
	    (rc = get_state(r, root, "status", study_states, ARRAY_SIZE(study_states),
			    &m->status)) ||
	    (rc = get_int(r, root, "total_experiments", 0, &total)) ||
	    (rc = get_int(r, root, "completed", 0, &completed)) ||
	    (rc = get_int(r, root, "failed", 0, &failed)) ||
	    (rc = get_int(r, root, "pending", 0, &pending)))
		return rc;

	exps = json_object_get(root, "experiments");
	if (!json_is_array(exps))
		return bad(r, "experiments", "expected an array");
	m->entries = xcalloc(json_array_size(exps) + 1, sizeof(*m->entries));
	for (size_t i = 0; i < json_array_size(exps); i++) {
		struct manifest_entry *e = &m->entries[i];

		/* Counted first so manifest_free releases a half-read entry. */
		m->count = i + 1;
		if ((rc = load_entry(r, json_array_get(exps, i), i, e)))
			return rc;
		if (e->status == MANIFEST_COMPLETED)
			n_completed++;
		else if (e->status == MANIFEST_FAILED)
			n_failed++;
		else
			n_pending++;
	}
	r->prefix[0] = '\0';
	/* The counters are derived; a mismatch means the file was edited. */
	if (total != (int64_t)m->count)
		return bad(r, "total_experiments", "does not match the experiments");
	if (completed != n_completed)
		return bad(r, "completed", "does not match the experiments");
	if (failed != n_failed)
		return bad(r, "failed", "does not match the experiments");
	if (pending != n_pending)
		return bad(r, "pending", "does not match the experiments");
	return 0;
}

int manifest_load(struct manifest **out, const char *path)
{
	struct mreader r = { path, "" };
	struct manifest *m;
	json_error_t jerr;
	json_t *root;
	int rc;

	*out = NULL;
	root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		if (json_error_code(&jerr) == json_error_cannot_open_file)
			return error_set(fs_exists(path) ? LLEM_EIO : LLEM_ENOTFOUND,
					 "manifest '%s': %s", path, jerr.text);
		return error_set(LLEM_EINVAL, "manifest '%s':%d:%d: %s", path, jerr.line,
				 jerr.column, jerr.text);
	}
	m = xcalloc(1, sizeof(*m));
	m->path = xstrdup(path);
	rc = load_root(&r, root, m);
	json_decref(root);
	if (rc) {
		manifest_free(m);
		return rc;
	}
	*out = m;
	return 0;
}
