/*
 * safetensors reader: one file memory-mapped read-only, its JSON header
 * validated in full before anything points into the data. Private to
 * src/engine; the HF loader (hf_loader.c) is its user.
 *
 * Ownership: safetensors_open/_parse give a file that safetensors_close
 * frees; tensor structs and their data pointers are borrowed from it.
 */
#ifndef LLEM_ENGINE_SAFETENSORS_H
#define LLEM_ENGINE_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The header may be at most this long, as in the reference implementation. */
#define SAFETENSORS_MAX_HEADER 100000000u
/* More dimensions than any model tensor has; a header asking for more is
 * rejected rather than parsed into a variable-length array. */
#define SAFETENSORS_MAX_DIMS 8

/* Every dtype the format defines; only F32, F16 and BF16 load as weights. */
enum safetensors_dtype {
	ST_BOOL,
	ST_U8,
	ST_I8,
	ST_F8_E5M2,
	ST_F8_E4M3,
	ST_I16,
	ST_U16,
	ST_F16,
	ST_BF16,
	ST_I32,
	ST_U32,
	ST_F32,
	ST_F64,
	ST_I64,
	ST_U64
};

struct safetensors_tensor {
	const char *name; /* borrowed from the file */
	enum safetensors_dtype dtype;
	int ndim;
	int64_t shape[SAFETENSORS_MAX_DIMS];
	uint64_t begin, end; /* data_offsets, relative to the data */
	const void *data;    /* begin's address in the mapping */
};

struct safetensors_file {
	char *source;        /* path (or label) used in errors */
	const uint8_t *base; /* whole file */
	size_t size;
	bool mapped;                        /* base is our mmap, else borrowed */
	struct safetensors_tensor *tensors; /* sorted by name */
	size_t count;
	char *names; /* storage of every tensor name */
};

/* Maps path read-only and validates its header; errors name the path and,
 * where one is at fault, the tensor. LLEM_ENOTFOUND, LLEM_EIO, LLEM_EINVAL. */
int safetensors_open(struct safetensors_file **out, const char *path);

/* The same validation over bytes in memory, which are borrowed and must
 * outlive the file; source names them in errors. LLEM_EINVAL. */
int safetensors_parse(struct safetensors_file **out, const void *buf, size_t len,
		      const char *source);

/* The tensor called name, or NULL (binary search). */
const struct safetensors_tensor *safetensors_find(const struct safetensors_file *f,
						  const char *name);

void safetensors_close(struct safetensors_file *f);

/* "F32", "BF16", ...: the spelling of the format. */
const char *safetensors_dtype_name(enum safetensors_dtype t);
/* Bytes per element. */
size_t safetensors_dtype_size(enum safetensors_dtype t);

#endif
