/*
 * safetensors files: an 8-byte little-endian header length N, N bytes of
 * JSON naming every tensor's dtype, shape and [begin, end) in the data that
 * follows. The file is mapped read-only and nothing is trusted: every
 * check that keeps a later pointer inside the mapping happens here, so a
 * malformed or truncated file gives an error naming the tensor, never a
 * read past the end.
 */
#include "engine/safetensors.h"
#include "llem/errors.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
	const char *name;
	size_t size;
} dtypes[] = {
	[ST_BOOL] = { "BOOL", 1 },       [ST_U8] = { "U8", 1 },           [ST_I8] = { "I8", 1 },
	[ST_F8_E5M2] = { "F8_E5M2", 1 }, [ST_F8_E4M3] = { "F8_E4M3", 1 }, [ST_I16] = { "I16", 2 },
	[ST_U16] = { "U16", 2 },         [ST_F16] = { "F16", 2 },         [ST_BF16] = { "BF16", 2 },
	[ST_I32] = { "I32", 4 },         [ST_U32] = { "U32", 4 },         [ST_F32] = { "F32", 4 },
	[ST_F64] = { "F64", 8 },         [ST_I64] = { "I64", 8 },         [ST_U64] = { "U64", 8 },
};

const char *safetensors_dtype_name(enum safetensors_dtype t)
{
	if ((size_t)t >= ARRAY_SIZE(dtypes))
		return "?";
	return dtypes[t].name;
}

size_t safetensors_dtype_size(enum safetensors_dtype t)
{
	if ((size_t)t >= ARRAY_SIZE(dtypes))
		return 0;
	return dtypes[t].size;
}

static int dtype_from_name(const char *s, enum safetensors_dtype *out)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(dtypes); i++) {
		if (!strcmp(s, dtypes[i].name)) {
			*out = (enum safetensors_dtype)i;
			return 0;
		}
	}
	return -1;
}

/* a * b, or -1 when it does not fit in 64 bits. */
static int mul_u64(uint64_t a, uint64_t b, uint64_t *out)
{
	if (a != 0 && b > UINT64_MAX / a)
		return -1;
	*out = a * b;
	return 0;
}

static void shape_format(struct strbuf *sb, const int64_t *shape, int ndim)
{
	int i;

	strbuf_addch(sb, '[');
	for (i = 0; i < ndim; i++)
		strbuf_addf(sb, "%s%" PRId64, i ? ", " : "", shape[i]);
	strbuf_addch(sb, ']');
}

/* A JSON integer >= 0 (jansson integers are signed 64-bit). */
static bool json_is_count(const json_t *v)
{
	return json_is_integer(v) && json_integer_value(v) >= 0;
}

/*
 * Reads one tensor entry into t (name already set) and checks that its
 * bytes lie inside the data section of data_size bytes.
 */
static int tensor_parse(struct safetensors_tensor *t, json_t *entry, uint64_t data_size,
			const char *src)
{
	json_t *dtype, *shape, *offs, *v;
	struct strbuf sb = STRBUF_INIT;
	uint64_t nbytes, begin, end;
	size_t i;
	int rc;

	if (!json_is_object(entry))
		return error_set(LLEM_EINVAL, "%s: tensor '%s': entry is not an object", src,
				 t->name);
	dtype = json_object_get(entry, "dtype");
	if (!json_is_string(dtype))
		return error_set(LLEM_EINVAL, "%s: tensor '%s': 'dtype' is missing or not a string",
				 src, t->name);
	if (dtype_from_name(json_string_value(dtype), &t->dtype))
		return error_set(LLEM_EINVAL, "%s: tensor '%s': unknown dtype '%s'", src, t->name,
				 json_string_value(dtype));

	shape = json_object_get(entry, "shape");
	if (!json_is_array(shape))
		return error_set(LLEM_EINVAL, "%s: tensor '%s': 'shape' is missing or not an array",
				 src, t->name);
	if (json_array_size(shape) > SAFETENSORS_MAX_DIMS)
		return error_set(LLEM_EINVAL,
				 "%s: tensor '%s': %zu dimensions (at most %d are supported)", src,
				 t->name, json_array_size(shape), SAFETENSORS_MAX_DIMS);
	t->ndim = (int)json_array_size(shape);
	json_array_foreach(shape, i, v)
	{
		if (!json_is_count(v))
			return error_set(
				LLEM_EINVAL,
				"%s: tensor '%s': shape[%zu] is not a non-negative integer", src,
				t->name, i);
		t->shape[i] = (int64_t)json_integer_value(v);
	}

	offs = json_object_get(entry, "data_offsets");
	if (!json_is_array(offs) || json_array_size(offs) != 2 ||
	    !json_is_count(json_array_get(offs, 0)) || !json_is_count(json_array_get(offs, 1)) ||
	    json_integer_value(json_array_get(offs, 0)) >
		    json_integer_value(json_array_get(offs, 1)))
		return error_set(
			LLEM_EINVAL,
			"%s: tensor '%s': 'data_offsets' must be [begin, end] with 0 <= begin <= end",
			src, t->name);
	begin = (uint64_t)json_integer_value(json_array_get(offs, 0));
	end = (uint64_t)json_integer_value(json_array_get(offs, 1));
	t->begin = begin;
	t->end = end;
	if (end > data_size)
		return error_set(LLEM_EINVAL,
				 "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
				 "] exceed the file's data (%" PRIu64 " bytes)",
				 src, t->name, begin, end, data_size);

	nbytes = safetensors_dtype_size(t->dtype);
	for (i = 0; i < (size_t)t->ndim; i++) {
		if (mul_u64(nbytes, (uint64_t)t->shape[i], &nbytes)) {
			shape_format(&sb, t->shape, t->ndim);
			rc = error_set(
				LLEM_EINVAL,
				"%s: tensor '%s': shape %s of %s is too large (its size overflows 64 bits)",
				src, t->name, strbuf_str(&sb), safetensors_dtype_name(t->dtype));
			strbuf_release(&sb);
			return rc;
		}
	}
	if (nbytes != end - begin) {
		shape_format(&sb, t->shape, t->ndim);
		rc = error_set(LLEM_EINVAL,
			       "%s: tensor '%s': shape %s of %s needs %" PRIu64
			       " bytes but data_offsets [%" PRIu64 ", %" PRIu64 "] hold %" PRIu64,
			       src, t->name, strbuf_str(&sb), safetensors_dtype_name(t->dtype),
			       nbytes, begin, end, end - begin);
		strbuf_release(&sb);
		return rc;
	}
	return 0;
}

static int cmp_by_offset(const void *a, const void *b)
{
	const struct safetensors_tensor *const *pa = a, *const *pb = b;
	const struct safetensors_tensor *x = *pa, *y = *pb;

	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	return 0;
}

static int cmp_by_name(const void *a, const void *b)
{
	const struct safetensors_tensor *x = a;
	const struct safetensors_tensor *y = b;

	return strcmp(x->name, y->name);
}

/* No two tensors may share a byte; empty tensors own none. */
static int check_overlap(const struct safetensors_file *f)
{
	const struct safetensors_tensor **order, *prev = NULL;
	size_t i;
	int rc = 0;

	if (f->count < 2)
		return 0;
	order = xcalloc(f->count, sizeof(*order));
	for (i = 0; i < f->count; i++)
		order[i] = &f->tensors[i];
	qsort(order, f->count, sizeof(*order), cmp_by_offset);
	for (i = 0; i < f->count; i++) {
		const struct safetensors_tensor *t = order[i];

		if (t->begin == t->end)
			continue;
		if (prev && t->begin < prev->end) {
			rc = error_set(LLEM_EINVAL,
				       "%s: tensors '%s' (data_offsets [%" PRIu64 ", %" PRIu64
				       "]) and '%s' (data_offsets [%" PRIu64 ", %" PRIu64
				       "]) overlap",
				       f->source, prev->name, prev->begin, prev->end, t->name,
				       t->begin, t->end);
			break;
		}
		if (!prev || t->end > prev->end)
			prev = t;
	}
	free(order);
	return rc;
}

/* Fills f->tensors from the header bytes; f->base and f->size are set. */
static int header_parse(struct safetensors_file *f)
{
	const char *src = f->source;
	uint64_t hlen = 0, data_size;
	json_error_t jerr;
	json_t *root, *meta, *entry;
	const char *key;
	size_t names_len = 0, n, i;
	char *p;
	int rc = 0;

	if (f->size < 8)
		return error_set(
			LLEM_EINVAL,
			"%s: too small for a safetensors file (%zu bytes; the header length alone takes 8)",
			src, f->size);
	for (i = 0; i < 8; i++)
		hlen |= (uint64_t)f->base[i] << (8 * i);
	if (hlen > SAFETENSORS_MAX_HEADER)
		return error_set(LLEM_EINVAL,
				 "%s: header length %" PRIu64 " exceeds the limit of %u bytes", src,
				 hlen, SAFETENSORS_MAX_HEADER);
	if (hlen > f->size - 8)
		return error_set(LLEM_EINVAL,
				 "%s: header length %" PRIu64
				 " exceeds the file (%zu bytes after the length field)",
				 src, hlen, f->size - 8);
	data_size = f->size - 8 - hlen;

	root = json_loadb((const char *)f->base + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return error_set(LLEM_EINVAL,
				 "%s: header is not valid JSON: %s (at byte %d of the header)", src,
				 jerr.text, jerr.position);
	if (!json_is_object(root)) {
		rc = error_set(LLEM_EINVAL, "%s: header is not a JSON object", src);
		goto out;
	}
	meta = json_object_get(root, "__metadata__");
	if (meta && !json_is_object(meta)) {
		rc = error_set(LLEM_EINVAL, "%s: '__metadata__' is not an object", src);
		goto out;
	}

	n = json_object_size(root) - (meta ? 1 : 0);
	json_object_foreach(root, key, entry)
	{
		if (strcmp(key, "__metadata__"))
			names_len += strlen(key) + 1;
	}
	f->tensors = xcalloc(n ? n : 1, sizeof(*f->tensors));
	f->names = p = xmalloc(names_len ? names_len : 1);
	json_object_foreach(root, key, entry)
	{
		struct safetensors_tensor *t;
		size_t klen = strlen(key) + 1;

		if (!strcmp(key, "__metadata__"))
			continue;
		t = &f->tensors[f->count++];
		memcpy(p, key, klen);
		t->name = p;
		p += klen;
		rc = tensor_parse(t, entry, data_size, src);
		if (rc)
			goto out;
		t->data = f->base + 8 + hlen + t->begin;
	}
	rc = check_overlap(f);
	if (rc)
		goto out;
	qsort(f->tensors, f->count, sizeof(*f->tensors), cmp_by_name);
out:
	json_decref(root);
	return rc;
}

static struct safetensors_file *file_new(const char *source)
{
	struct safetensors_file *f = xcalloc(1, sizeof(*f));

	f->source = xstrdup(source);
	return f;
}

int safetensors_parse(struct safetensors_file **out, const void *buf, size_t len,
		      const char *source)
{
	struct safetensors_file *f = file_new(source);
	int rc;

	*out = NULL;
	f->base = buf;
	f->size = len;
	rc = header_parse(f);
	if (rc) {
		safetensors_close(f);
		return rc;
	}
	*out = f;
	return 0;
}

int safetensors_open(struct safetensors_file **out, const char *path)
{
	struct safetensors_file *f;
	struct stat st;
	void *map;
	int fd, rc;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return error_set_errno(errno == ENOENT ? LLEM_ENOTFOUND : LLEM_EIO,
				       "cannot open '%s'", path);
	if (fstat(fd, &st)) {
		rc = error_set_errno(LLEM_EIO, "cannot stat '%s'", path);
		close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return error_set(LLEM_EINVAL, "%s: not a regular file", path);
	}
	if ((uint64_t)st.st_size > SIZE_MAX) {
		close(fd);
		return error_set(LLEM_EINVAL, "%s: too large to map on this machine", path);
	}
	f = file_new(path);
	f->size = (size_t)st.st_size;
	if (f->size >= 8) {
		/* MAP_PRIVATE and PROT_READ: the weights are never written,
		 * and pages stay shared with the page cache. */
		map = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map == MAP_FAILED) {
			rc = error_set_errno(LLEM_EIO, "cannot map '%s'", path);
			close(fd);
			safetensors_close(f);
			return rc;
		}
		f->base = map;
		f->mapped = true;
	}
	close(fd); /* the mapping keeps the file open */
	rc = header_parse(f);
	if (rc) {
		safetensors_close(f);
		return rc;
	}
	*out = f;
	return 0;
}

const struct safetensors_tensor *safetensors_find(const struct safetensors_file *f,
						  const char *name)
{
	struct safetensors_tensor key;

	if (!f->count)
		return NULL;
	memset(&key, 0, sizeof(key));
	key.name = name;
	return bsearch(&key, f->tensors, f->count, sizeof(*f->tensors), cmp_by_name);
}

void safetensors_close(struct safetensors_file *f)
{
	if (!f)
		return;
	if (f->mapped && munmap((void *)f->base, f->size))
		abort(); /* only EINVAL is possible: our bookkeeping broke */
	free(f->tensors);
	free(f->names);
	free(f->source);
	free(f);
}
