/*
 * Energy over a measurement window. The counter delta between the two
 * edge readings is the measurement; the trapezoid integral of the sampled
 * power is computed alongside as a cross-check (and is the fallback for a
 * device without a counter). Which one was used is recorded per device.
 */
#include "energy/energy.h"

#include <math.h>
#include <string.h>

/* Trapezoid over the points (t, p) in time order, edges included. */
struct integral {
	double sum_j;
	double last_t_s, last_p_w;
	bool have;
};

static void integral_add(struct integral *in, uint64_t t_ns, double p_w)
{
	double t = (double)t_ns * 1e-9;

	if (isnan(p_w))
		return;
	if (in->have)
		in->sum_j += 0.5 * (p_w + in->last_p_w) * (t - in->last_t_s);
	in->last_t_s = t;
	in->last_p_w = p_w;
	in->have = true;
}

void energy_window_compute(struct energy_window_device *out, const struct energy_reading *start,
			   const struct energy_reading *end, const struct energy_sampler *s,
			   size_t i)
{
	size_t n = s ? energy_sampler_count(s) : 0, k;
	struct integral in = { 0, 0, 0, false };
	size_t points = 0;

	memset(out, 0, sizeof(*out));
	out->counter_j = out->integral_j = out->energy_j = NAN;
	out->max_temperature_c = out->start_temperature_c = out->end_temperature_c = NAN;
	out->peak_memory_used_mb = NAN;

	if (start[i].valid && end[i].valid && !isnan(start[i].energy_j) && !isnan(end[i].energy_j))
		out->counter_j = end[i].energy_j - start[i].energy_j;
	out->counter_reset = end[i].counter_reset;

	/* Edges and every sample strictly inside them, in time order. */
	if (start[i].valid) {
		integral_add(&in, start[i].t_ns, start[i].power_w);
		points += !isnan(start[i].power_w);
		out->start_temperature_c = start[i].temperature_c;
	}
	for (k = 0; k < n; k++) {
		const struct energy_reading *r = &energy_sampler_sample(s, k)[i];

		if (r->t_ns <= start[i].t_ns || r->t_ns >= end[i].t_ns || !r->valid)
			continue;
		integral_add(&in, r->t_ns, r->power_w);
		points += !isnan(r->power_w);
		out->power_samples += !isnan(r->power_w);
		out->counter_reset |= r->counter_reset;
		if (!isnan(r->temperature_c) &&
		    (isnan(out->max_temperature_c) || r->temperature_c > out->max_temperature_c))
			out->max_temperature_c = r->temperature_c;
		if (!isnan(r->memory_used_mb) && (isnan(out->peak_memory_used_mb) ||
						  r->memory_used_mb > out->peak_memory_used_mb))
			out->peak_memory_used_mb = r->memory_used_mb;
		out->throttle_reasons |= r->throttle_reasons;
		out->throttled_samples += r->throttle_reasons != 0;
	}
	if (end[i].valid) {
		integral_add(&in, end[i].t_ns, end[i].power_w);
		points += !isnan(end[i].power_w);
		out->end_temperature_c = end[i].temperature_c;
	}
	if (points >= 2)
		out->integral_j = in.sum_j;
	/* Both edges must have been read: an integral of the samples before a
	 * device was lost would silently cover part of the window only. */
	if (!start[i].valid || !end[i].valid)
		out->integral_j = NAN;
	if (!isnan(out->counter_j) && !out->counter_reset) {
		out->energy_j = out->counter_j;
		out->from_counter = true;
	} else if (!isnan(out->integral_j)) {
		out->energy_j = out->integral_j;
	}
	/* The edges' temperatures count towards the maximum too. */
	if (!isnan(out->start_temperature_c) &&
	    (isnan(out->max_temperature_c) || out->start_temperature_c > out->max_temperature_c))
		out->max_temperature_c = out->start_temperature_c;
	if (!isnan(out->end_temperature_c) &&
	    (isnan(out->max_temperature_c) || out->end_temperature_c > out->max_temperature_c))
		out->max_temperature_c = out->end_temperature_c;
}
