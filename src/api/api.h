/*
 * api: what the public API's files share. The public API is
 * include/llem/llem.h; only src/api and src/cli include it.
 */
#ifndef LLEM_API_API_H
#define LLEM_API_API_H

#include "llem/llem.h"
#include "config/config.h"

struct llem_config {
	struct loaded_config lc;
};

/* Sends every diagnostic of dl to cb (may be NULL), in order. */
void api_report_diags(const struct diag_list *dl, llem_diag_cb cb, void *payload);

#endif
