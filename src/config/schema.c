/*
 * The schema table (from schema_fields.def) and lookups over it. Groups
 * such as "decoder" are implied by the dotted paths; backend sections are
 * explicit FT_SECTION fields because they may be absent.
 */
#include "config/schema.h"
#include "util/util.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static const char *const E_PRECISION[] = { "fp32", "fp16", "bf16", NULL };
static const char *const E_PRESET[] = { "deterministic", "standard", "creative", "factual", NULL };
static const char *const E_ENERGY[] = { "auto", "nvml", "rapl", "replay", NULL };
static const char *const E_NATIVE_QUANT[] = { "none", "int8", NULL };
static const char *const E_KV_DTYPE[] = { "auto", "fp32", "fp16", "bf16", "int8", NULL };
static const char *const E_TOKENIZER[] = { "auto", "byte", NULL };
static const char *const E_ATTN[] = { "sdpa", "flash_attention_2", "flash_attention_3", "eager",
				      NULL };
static const char *const E_BNB_DTYPE[] = { "float16", "bfloat16", "float32", NULL };
static const char *const E_BNB_QUANT[] = { "nf4", "fp4", NULL };
static const char *const E_CACHE_IMPL[] = { "static", "offloaded_static", "sliding_window", NULL };
static const char *const E_VLLM_QUANT[] = { "awq", "gptq", "fp8", NULL };
static const char *const E_TRT_QUANT[] = { "int8_sq", "int4_awq", "fp8", NULL };
static const char *const E_CYCLE_ORDER[] = { "sequential", "interleaved", "shuffled", NULL };

#define BACKEND(id, name, ops, precisions, summary) { name, true, precisions, summary },
#define PLANNED_BACKEND(id, name, precisions, summary) { name, false, precisions, summary },
const struct schema_backend schema_backends[BACKEND_COUNT] = {
#include "config/backend_table.def"
};
#undef BACKEND
#undef PLANNED_BACKEND

#define BACKEND(id, name, ops, precisions, summary) name,
#define PLANNED_BACKEND(id, name, precisions, summary) name,
const char *const schema_backend_names[BACKEND_COUNT + 1] = {
#include "config/backend_table.def"
	NULL
};
#undef BACKEND
#undef PLANNED_BACKEND
#define E_BACKEND schema_backend_names

const struct schema_backend *schema_backend_find(const char *name)
{
	size_t i;

	for (i = 0; name && i < BACKEND_COUNT; i++)
		if (!strcmp(schema_backends[i].name, name))
			return &schema_backends[i];
	return NULL;
}

#define FIELD(id, path, type, flags, def, min, max, values, backends, doc)                         \
	{ path, type, flags, def, min, max, values, backends, doc },
const struct field schema_fields[FIELD_COUNT] = {
#include "config/schema_fields.def"
};
#undef FIELD

const struct field *schema_find(const char *path)
{
	size_t i;

	for (i = 0; i < FIELD_COUNT; i++)
		if (strcmp(schema_fields[i].path, path) == 0)
			return &schema_fields[i];
	return NULL;
}

enum field_id schema_id(const struct field *f)
{
	return (enum field_id)(f - schema_fields);
}

bool schema_is_group(const char *prefix)
{
	size_t i, n = strlen(prefix);

	for (i = 0; i < FIELD_COUNT; i++)
		if (strncmp(schema_fields[i].path, prefix, n) == 0 &&
		    schema_fields[i].path[n] == '.')
			return true;
	return false;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

size_t schema_children(const char *prefix, char ***out)
{
	char **list = xcalloc(FIELD_COUNT, sizeof(*list));
	size_t i, j, n = 0, plen = strlen(prefix);

	for (i = 0; i < FIELD_COUNT; i++) {
		const char *p = schema_fields[i].path, *end;
		size_t len;

		if (plen) {
			if (strncmp(p, prefix, plen) != 0 || p[plen] != '.')
				continue;
			p += plen + 1;
		}
		end = strchr(p, '.');
		len = end ? (size_t)(end - p) : strlen(p);
		for (j = 0; j < n; j++)
			if (strlen(list[j]) == len && strncmp(list[j], p, len) == 0)
				break;
		if (j < n)
			continue;
		list[n++] = xstrndup(p, len);
	}
	qsort(list, n, sizeof(*list), cmp_str);
	*out = list;
	return n;
}

void schema_children_free(char **names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static int section_index[FIELD_COUNT];
static pthread_once_t section_once = PTHREAD_ONCE_INIT;

static void build_sections(void)
{
	size_t i;

	for (i = 0; i < FIELD_COUNT; i++) {
		const char *p = schema_fields[i].path, *dot = strchr(p, '.');
		const struct field *f = NULL;

		if (dot) {
			char *head = xstrndup(p, (size_t)(dot - p));

			f = schema_find(head);
			free(head);
		}
		section_index[i] = f && f->type == FT_SECTION ? (int)schema_id(f) : -1;
	}
}

int schema_section_of(enum field_id id)
{
	pthread_once(&section_once, build_sections);
	return section_index[id];
}

const char *field_type_name(enum field_type t)
{
	switch (t) {
	case FT_STRING: return "string";
	case FT_INT: return "integer";
	case FT_FLOAT: return "number";
	case FT_BOOL: return "boolean";
	case FT_ENUM: return "enum";
	case FT_SECTION: return "section";
	}
	return "?";
}
