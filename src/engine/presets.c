/*
 * Synthetic presets: real architectures' shapes by name, from
 * data/synthetic-presets.json compiled into the library (CMake generates
 * engine_presets_json from it). Each preset is a config.json, parsed by
 * the same code as a model directory's.
 */
#include "engine/engine.h"
#include "llem/errors.h"
#include "util/util.h"

#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Generated (cmake/presets.c.in): the JSON's bytes, NUL-terminated. */
extern const unsigned char engine_presets_json[];
#define PRESETS_TEXT ((const char *)engine_presets_json)

/* Names in file order, filled once and kept for the process's lifetime. */
static pthread_once_t names_once = PTHREAD_ONCE_INIT;
static const char **names;
static size_t nnames;

static void names_load(void)
{
	json_t *root = json_loads(PRESETS_TEXT, 0, NULL);
	const char *key;
	json_t *v;
	size_t cap = 0;

	/* An unreadable table leaves no names; engine_preset_find then says
	 * so. The unit tests parse every preset, so it cannot ship broken. */
	if (!json_is_object(root)) {
		json_decref(root);
		return;
	}
	json_object_foreach(root, key, v)
	{
		GROW(names, cap, nnames + 1);
		names[nnames++] = xstrdup(key);
	}
	json_decref(root);
}

size_t engine_preset_names(const char *const **out)
{
	if (pthread_once(&names_once, names_load))
		abort(); /* fails only on a bad once_control: our bug */
	*out = names;
	return nnames;
}

static int not_found(const char *name)
{
	const char *const *known;
	size_t n = engine_preset_names(&known), i;
	const char *guess = did_you_mean(name, known, n, 3);
	struct strbuf sb = STRBUF_INIT;
	int rc;

	for (i = 0; i < n; i++)
		strbuf_addf(&sb, "%s%s", i ? ", " : "", known[i]);
	/* Worded like unknown datasets (datasets/builtin.c). */
	if (guess)
		rc = error_set(
			LLEM_ENOTFOUND,
			"unknown synthetic preset '%s' (did you mean '%s'?); known presets: %s",
			name, guess, strbuf_str(&sb));
	else
		rc = error_set(LLEM_ENOTFOUND, "unknown synthetic preset '%s'; known presets: %s",
			       name, strbuf_str(&sb));
	strbuf_release(&sb);
	return rc;
}

int engine_preset_config_json(char **out, const char *name)
{
	json_error_t jerr;
	json_t *root, *preset;

	*out = NULL;
	root = json_loads(PRESETS_TEXT, 0, &jerr);
	if (!json_is_object(root)) {
		json_decref(root);
		return error_set(LLEM_ERROR, "built-in synthetic-presets.json is unreadable: %s",
				 jerr.text);
	}
	preset = json_object_get(root, name);
	if (!json_is_object(preset)) {
		json_decref(root);
		return not_found(name);
	}
	*out = json_dumps(preset, JSON_COMPACT);
	json_decref(root);
	if (!*out)
		return error_set(LLEM_ERROR, "synthetic preset '%s': out of memory", name);
	return 0;
}

int engine_preset_find(struct engine_arch *out, const char *name)
{
	char *text, *source;
	int rc;

	memset(out, 0, sizeof(*out));
	/* Through the text form so presets and config.json files share one
	 * parser, defaults and error messages. */
	rc = engine_preset_config_json(&text, name);
	if (rc)
		return rc;
	source = xasprintf("synthetic preset '%s'", name);
	rc = engine_arch_from_json(out, text, source);
	free(source);
	free(text);
	return rc;
}
