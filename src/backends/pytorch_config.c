/*
 * The PyTorch backend's own config rules: settings that transformers
 * rejects together, checked when a config loads so a typo fails with its
 * file:line:col before any model loads (backends_check_config calls this
 * through struct backend_ops.check_config).
 */
#include "backends/pytorch.h"

#include <string.h>

/*
 * pytorch.max_memory is "DEVICE=SIZE[,DEVICE=SIZE...]": DEVICE a GPU index
 * or cpu/disk/mps, SIZE digits with an optional unit (KB/MB/GB/KiB/MiB/GiB,
 * as transformers reads them). Checked here so a typo fails before any
 * model loads.
 */
static bool max_memory_valid(const char *s)
{
	static const char *const units[] = { "",   "B",   "KB",  "MB",  "GB",
					     "TB", "KiB", "MiB", "GiB", "TiB" };

	for (;;) {
		const char *eq = strchr(s, '='), *end = strchr(s, ',');
		size_t klen, vlen, i, digits;
		bool unit_ok = false;

		if (!end)
			end = s + strlen(s);
		if (!eq || eq > end)
			return false;
		klen = (size_t)(eq - s);
		if (!klen || (strspn(s, "0123456789") != klen &&
			      !(klen == 3 && (!strncmp(s, "cpu", 3) || !strncmp(s, "mps", 3))) &&
			      !(klen == 4 && !strncmp(s, "disk", 4))))
			return false;
		vlen = (size_t)(end - eq - 1);
		digits = strspn(eq + 1, "0123456789.");
		if (!digits || digits > vlen)
			return false;
		for (i = 0; i < ARRAY_SIZE(units); i++)
			if (strlen(units[i]) == vlen - digits &&
			    !strncmp(eq + 1 + digits, units[i], vlen - digits))
				unit_ok = true;
		if (!unit_ok)
			return false;
		if (!*end)
			return true;
		s = end + 1;
	}
}

void pytorch_check_config(const struct config *cfg, const char *fb, struct diag_list *diags)
{
	size_t i;

	if (cfg_is_true(cfg, FIELD_PYTORCH_LOAD_IN_4BIT) &&
	    cfg_is_true(cfg, FIELD_PYTORCH_LOAD_IN_8BIT))
		config_rule_error(cfg, diags, FIELD_PYTORCH_LOAD_IN_8BIT,
				  FIELD_PYTORCH_LOAD_IN_4BIT, fb,
				  "choose one of load_in_4bit and load_in_8bit",
				  "cannot be true together with pytorch.load_in_4bit");
	if ((cfg_is_set(cfg, FIELD_PYTORCH_TORCH_COMPILE_MODE) ||
	     cfg_is_set(cfg, FIELD_PYTORCH_TORCH_COMPILE_BACKEND)) &&
	    !cfg_is_true(cfg, FIELD_PYTORCH_TORCH_COMPILE))
		config_rule_error(cfg, diags,
				  cfg_is_set(cfg, FIELD_PYTORCH_TORCH_COMPILE_MODE)
					  ? FIELD_PYTORCH_TORCH_COMPILE_MODE
					  : FIELD_PYTORCH_TORCH_COMPILE_BACKEND,
				  FIELD_PYTORCH_TORCH_COMPILE, fb,
				  "set pytorch.torch_compile: true",
				  "requires pytorch.torch_compile to be true");
	{
		static const enum field_id bnb[] = { FIELD_PYTORCH_BNB_4BIT_COMPUTE_DTYPE,
						     FIELD_PYTORCH_BNB_4BIT_QUANT_TYPE,
						     FIELD_PYTORCH_BNB_4BIT_USE_DOUBLE_QUANT };

		for (i = 0; i < ARRAY_SIZE(bnb); i++)
			if (cfg_is_set(cfg, bnb[i]) &&
			    !cfg_is_true(cfg, FIELD_PYTORCH_LOAD_IN_4BIT))
				config_rule_error(cfg, diags, bnb[i], FIELD_PYTORCH_LOAD_IN_4BIT,
						  fb, "set pytorch.load_in_4bit: true",
						  "requires pytorch.load_in_4bit to be true");
	}
	if (cfg_is_set(cfg, FIELD_PYTORCH_MAX_MEMORY) &&
	    !max_memory_valid(cfg_str(cfg, FIELD_PYTORCH_MAX_MEMORY)))
		config_rule_error(cfg, diags, FIELD_PYTORCH_MAX_MEMORY, FIELD_PYTORCH_MAX_MEMORY,
				  fb, "write DEVICE=SIZE pairs, e.g. \"0=20GiB,cpu=60GiB\"",
				  "is not a max_memory list");
	if (cfg_is_set(cfg, FIELD_PYTORCH_CACHE_IMPLEMENTATION) &&
	    cfg_is_false(cfg, FIELD_PYTORCH_USE_CACHE))
		config_rule_error(cfg, diags, FIELD_PYTORCH_CACHE_IMPLEMENTATION,
				  FIELD_PYTORCH_USE_CACHE, fb,
				  "remove cache_implementation or set use_cache: true",
				  "requires pytorch.use_cache to be true or null");
}
