/*
 * How a producer of a struct engine_src_model (the HF loader, the synthetic
 * builder) hands engine_src_close what it must free. Private to src/engine.
 *
 * Contract for every producer:
 *   - m->layers is allocated with xcalloc (or malloc); engine_src_close
 *     free()s it.
 *   - m->priv is NULL or points at a struct engine_src_priv embedded as the
 *     FIRST member of the producer's own struct, e.g.
 *
 *         struct synth_priv {
 *                 struct engine_src_priv base;    <- must stay first
 *                 void *buffer;
 *         };
 *
 *     engine_src_close calls base.release(&base) once, which frees
 *     everything the producer owns, the struct itself included. Every
 *     tensor data pointer in m points into memory that release frees, so
 *     it must outlive every user of the tensors.
 *   - On failure a producer releases what it allocated and leaves *out
 *     zeroed, so engine_src_close on it is a harmless no-op.
 */
#ifndef LLEM_ENGINE_SRC_MODEL_H
#define LLEM_ENGINE_SRC_MODEL_H

#include "engine/engine.h"

struct engine_src_priv {
	/* Frees the producer's struct (which starts with this one). */
	void (*release)(struct engine_src_priv *self);
};

#endif
