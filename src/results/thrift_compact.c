/*
 * The write side of the Thrift compact protocol, just what Parquet's
 * footer and page headers need (the Thrift compact
 * protocol specification): zigzag varints, field headers with
 * id deltas, binaries, lists and nested structs.
 */
#include "results/table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void thrift_varint(struct strbuf *out, uint64_t v)
{
	uint8_t buf[10];
	size_t n = 0;

	while (v >= 0x80) {
		buf[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	buf[n++] = (uint8_t)v;
	strbuf_add(out, buf, n);
}

/* Done on the unsigned value so INT64_MIN does not overflow. */
uint64_t thrift_zigzag(int64_t v)
{
	uint64_t u = (uint64_t)v;

	return (u << 1) ^ (v < 0 ? UINT64_MAX : 0);
}

static void put_byte(struct thrift_writer *w, unsigned b)
{
	strbuf_addch(w->out, (char)(uint8_t)b);
}

/* Misuse is a bug in this file's callers, not a runtime condition. */
static void thrift_bug(const char *what)
{
	fprintf(stderr, "llem: bug: thrift writer: %s\n", what);
	abort();
}

static void push(struct thrift_writer *w)
{
	if (w->depth + 1 >= THRIFT_MAX_DEPTH)
		thrift_bug("structs nested too deep");
	w->last_id[++w->depth] = 0;
}

void thrift_begin(struct thrift_writer *w, struct strbuf *out)
{
	w->out = out;
	w->depth = 0;
	w->last_id[0] = 0;
}

void thrift_end(struct thrift_writer *w)
{
	if (w->depth < 0)
		thrift_bug("more ends than begins");
	put_byte(w, 0); /* field stop */
	w->depth--;
}

void thrift_field_header(struct thrift_writer *w, int16_t id, enum thrift_type type)
{
	int delta;

	if (w->depth < 0)
		thrift_bug("field after the outermost struct ended");
	delta = id - w->last_id[w->depth];
	if (delta > 0 && delta <= 15) {
		put_byte(w, ((unsigned)delta << 4) | (unsigned)type);
	} else {
		put_byte(w, (unsigned)type);
		thrift_varint(w->out, thrift_zigzag(id));
	}
	w->last_id[w->depth] = id;
}

void thrift_field_bool(struct thrift_writer *w, int16_t id, bool v)
{
	thrift_field_header(w, id, v ? THRIFT_TRUE : THRIFT_FALSE);
}

void thrift_field_i32(struct thrift_writer *w, int16_t id, int32_t v)
{
	thrift_field_header(w, id, THRIFT_I32);
	thrift_varint(w->out, thrift_zigzag(v));
}

void thrift_field_i64(struct thrift_writer *w, int16_t id, int64_t v)
{
	thrift_field_header(w, id, THRIFT_I64);
	thrift_varint(w->out, thrift_zigzag(v));
}

void thrift_field_binary(struct thrift_writer *w, int16_t id, const void *p, size_t n)
{
	thrift_field_header(w, id, THRIFT_BINARY);
	thrift_varint(w->out, n);
	strbuf_add(w->out, p, n);
}

void thrift_field_string(struct thrift_writer *w, int16_t id, const char *s)
{
	thrift_field_binary(w, id, s, strlen(s));
}

void thrift_field_struct_begin(struct thrift_writer *w, int16_t id)
{
	thrift_field_header(w, id, THRIFT_STRUCT);
	push(w);
}

void thrift_field_list(struct thrift_writer *w, int16_t id, enum thrift_type elem, size_t n)
{
	thrift_field_header(w, id, THRIFT_LIST);
	if (n < 15) {
		put_byte(w, ((unsigned)n << 4) | (unsigned)elem);
	} else {
		put_byte(w, 0xf0 | (unsigned)elem);
		thrift_varint(w->out, n);
	}
}

void thrift_elem_struct_begin(struct thrift_writer *w)
{
	push(w);
}

void thrift_elem_i32(struct thrift_writer *w, int32_t v)
{
	thrift_varint(w->out, thrift_zigzag(v));
}

void thrift_elem_string(struct thrift_writer *w, const char *s)
{
	size_t n = strlen(s);

	thrift_varint(w->out, n);
	strbuf_add(w->out, s, n);
}
