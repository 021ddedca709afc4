/*
 * The study manifest (docs/studies.md): {study dir}/manifest.json, rewritten
 * atomically after every transition so a kill at any moment leaves a valid
 * file, and read back strictly for --resume.
 */
#include "study/study.h"
#include "util/jsonr.h"
#include "util/util.h"
#include "llem/errors.h"

#include "build_info.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MANIFEST_SCHEMA_VERSION "1.0"

static const char *const state_names[] = {
	[MANIFEST_PENDING] = "pending",         [MANIFEST_RUNNING] = "running",
	[MANIFEST_COMPLETED] = "completed",     [MANIFEST_FAILED] = "failed",
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
		case MANIFEST_COMPLETED: completed++; break;
		case MANIFEST_FAILED: failed++; break;
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
		    const char *const *point_summaries, const struct study_run_entry *runs,
		    size_t nruns)
{
	struct manifest *m;

	*out = NULL;
	if (!study_name || !study_design_hash ||
	    (nruns && (!runs || !point_hashes || !point_summaries)))
		return error_set(LLEM_EINVAL, "manifest: missing study name or hash");
	for (size_t i = 0; i < nruns; i++)
		if (!point_hashes[runs[i].point] || !point_summaries[runs[i].point])
			return error_set(LLEM_EINVAL, "manifest: point %zu has no hash or summary",
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
		set_str(&e->error_message,
			message ? message : "the study was interrupted while this experiment ran");
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

#define REQ JSONR_REQUIRED
#define OR_NULL (JSONR_REQUIRED | JSONR_NULLABLE)

static void load_entry(struct jsonr_node *c, struct manifest_entry *e)
{
	unsigned status;

	jsonr_strdup(c, "config_hash", REQ, &e->config_hash);
	jsonr_strdup(c, "config_summary", REQ, &e->config_summary);
	jsonr_int(c, "cycle", REQ, 1, INT32_MAX, &e->cycle);
	if (jsonr_enum(c, "status", REQ, state_names, ARRAY_SIZE(state_names), &status))
		e->status = (enum manifest_state)status;
	jsonr_strdup(c, "result_file", OR_NULL, &e->result_file);
	jsonr_strdup(c, "error_type", OR_NULL, &e->error_type);
	jsonr_strdup(c, "error_message", OR_NULL, &e->error_message);
	jsonr_strdup(c, "started_at", OR_NULL, &e->started_at);
	jsonr_strdup(c, "completed_at", OR_NULL, &e->completed_at);
}

static void load_root(struct jsonr_node *root, struct manifest *m)
{
	int64_t total = 0, completed = 0, failed = 0, pending = 0;
	int64_t n_completed = 0, n_failed = 0, n_pending = 0;
	const char *study_states[ARRAY_SIZE(state_names)];
	const char *schema;
	struct jsonr_node exps, c;
	unsigned status;

	if (jsonr_str(root, "schema_version", REQ, &schema) &&
	    strcmp(schema, MANIFEST_SCHEMA_VERSION))
		jsonr_fail(root, "schema_version", LLEM_EINVAL,
			   "unsupported (this llem reads \"" MANIFEST_SCHEMA_VERSION "\")");
	jsonr_strdup(root, "study_name", REQ, &m->study_name);
	jsonr_strdup(root, "study_design_hash", REQ, &m->study_design_hash);
	jsonr_strdup(root, "llem_version", REQ, &m->llem_version);
	jsonr_strdup(root, "started_at", REQ, &m->started_at);
	jsonr_strdup(root, "completed_at", OR_NULL, &m->completed_at);
	/* A study as a whole is never pending. */
	memcpy(study_states, state_names, sizeof(state_names));
	study_states[MANIFEST_PENDING] = NULL;
	if (jsonr_enum(root, "status", REQ, study_states, ARRAY_SIZE(study_states), &status))
		m->status = (enum manifest_state)status;
	jsonr_int64(root, "total_experiments", REQ, 0, INT32_MAX, &total);
	jsonr_int64(root, "completed", REQ, 0, INT32_MAX, &completed);
	jsonr_int64(root, "failed", REQ, 0, INT32_MAX, &failed);
	jsonr_int64(root, "pending", REQ, 0, INT32_MAX, &pending);

	if (!jsonr_enter_array(&exps, root, "experiments", REQ))
		return;
	m->entries = xcalloc(jsonr_size(&exps) + 1, sizeof(*m->entries));
	for (size_t i = 0; i < jsonr_size(&exps); i++) {
		struct manifest_entry *e = &m->entries[i];

		if (!jsonr_enter_at(&c, &exps, i))
			break;
		/* Counted first so manifest_free releases a half-read entry. */
		m->count = i + 1;
		load_entry(&c, e);
		jsonr_leave(&c);
		if (e->status == MANIFEST_COMPLETED)
			n_completed++;
		else if (e->status == MANIFEST_FAILED)
			n_failed++;
		else
			n_pending++;
	}
	jsonr_leave(&exps);
	/* The counters are derived; a mismatch means the file was edited. */
	if (total != (int64_t)m->count)
		jsonr_fail(root, "total_experiments", LLEM_EINVAL,
			   "does not match the experiments");
	if (completed != n_completed)
		jsonr_fail(root, "completed", LLEM_EINVAL, "does not match the experiments");
	if (failed != n_failed)
		jsonr_fail(root, "failed", LLEM_EINVAL, "does not match the experiments");
	if (pending != n_pending)
		jsonr_fail(root, "pending", LLEM_EINVAL, "does not match the experiments");
}

int manifest_load(struct manifest **out, const char *path)
{
	char *source = xasprintf("manifest '%s'", path), *text;
	size_t len;
	struct manifest *m = NULL;
	struct jsonr_node root;
	struct jsonr r;
	json_t *doc = NULL;
	int rc;

	*out = NULL;
	jsonr_init(&r, source, JSONR_STRICT);
	rc = fs_read_file(path, &text, &len);
	if (rc)
		goto out;
	doc = jsonr_parse(&r, text, len);
	free(text);
	m = xcalloc(1, sizeof(*m));
	m->path = xstrdup(path);
	if (jsonr_root(&root, &r, doc)) {
		load_root(&root, m);
		jsonr_leave(&root);
	}
	rc = r.rc;
	if (!rc) {
		*out = m;
		m = NULL;
	}
out:
	manifest_free(m);
	json_decref(doc);
	jsonr_release(&r);
	free(source);
	return rc;
}
