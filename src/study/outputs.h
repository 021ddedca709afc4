/* A study's summary files (private to src/study). */
#ifndef LLEM_STUDY_OUTPUTS_H
#define LLEM_STUDY_OUTPUTS_H

#include "study/study.h"

/* The headline numbers of one run for the study table. */
struct run_row {
	size_t point;
	int cycle;
	const char *status; /* "completed", "failed", "interrupted" */
	char *result_file, *error_type, *error_message;
	double duration_s, energy_j, energy_per_token_j, adjusted_j;
	double out_tok_s, total_tok_s, ttft_ms, itl_ms;
	int64_t input_tokens, output_tokens;
	bool has_result;
};

/*
 * Writes results.csv and results.parquet (one row per run attempted: the
 * run's config fields as columns named after the schema, then the headline
 * metrics) and study.json (counts, wall time, energy, failures, the
 * measurement protocol as run: ex) into dir, each atomically.
 */
int study_write_outputs(const char *dir, const struct study *s, const struct study_execution *ex,
			const struct manifest *m, const struct run_row *rows, size_t nrows,
			double wall_s);

#endif
