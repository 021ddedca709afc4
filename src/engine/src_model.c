/*
 * What every source model shares whatever produced it: releasing it (each
 * producer's storage through the destructor in src_model.h) and the names
 * of element types as results record them.
 */
#include "engine/src_model.h"

#include <stdlib.h>
#include <string.h>

const char *engine_dtype_name(enum engine_dtype t)
{
	/* torch's spellings, as result.json's model_info.dtype uses them. */
	switch (t) {
	case ENGINE_DTYPE_NONE: return "none";
	case ENGINE_F32: return "float32";
	case ENGINE_F16: return "float16";
	case ENGINE_BF16: return "bfloat16";
	case ENGINE_Q8_0: return "q8_0";
	}
	return "unknown";
}

void engine_src_close(struct engine_src_model *m)
{
	if (!m)
		return;
	if (m->priv) {
		struct engine_src_priv *p = m->priv;

		p->release(p);
	}
	free(m->layers);
	memset(m, 0, sizeof(*m));
}
