/*
 * Tests for window energy (src/energy/window.c) on hand-made readings:
 * the counter delta is the energy; the trapezoid over edge and sampled
 * power is the cross-check and the fallback after a counter reset; a
 * device missing an edge reading reports nothing rather than a partial
 * integral; temperature, memory and throttle summaries cover the window.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "energy/energy.h"

#include <math.h>
#include <string.h>

static struct energy_reading reading(double t_s, double e_j, double p_w, double temp)
{
	struct energy_reading r;

	memset(&r, 0, sizeof(r));
	r.t_ns = (uint64_t)(t_s * 1e9);
	r.valid = true;
	r.energy_j = e_j;
	r.power_w = p_w;
	r.temperature_c = temp;
	r.memory_used_mb = r.memory_total_mb = r.utilization_pct = NAN;
	return r;
}

static void test_counter_is_the_energy_and_integral_the_cross_check(void **state)
{
	/* Power ramps 100 -> 300 W over 2 s: the trapezoid is exact, 400 J. */
	struct energy_reading a = reading(10.0, 1000.0, 100.0, 40.0);
	struct energy_reading b = reading(12.0, 1404.0, 300.0, 52.0);
	struct energy_window_device w;

	(void)state;
	energy_window_compute(&w, &a, &b, NULL, 0);
	assert_true(w.from_counter);
	assert_true(w.energy_j == 404.0);
	assert_true(w.counter_j == 404.0);
	assert_true(fabs(w.integral_j - 400.0) < 1e-9);
	assert_true(w.max_temperature_c == 52.0);
	assert_true(w.start_temperature_c == 40.0 && w.end_temperature_c == 52.0);
}

static void test_reset_falls_back_to_the_integral(void **state)
{
	struct energy_reading a = reading(0.0, 500.0, 200.0, NAN);
	struct energy_reading b = reading(1.5, 10.0, 200.0, NAN);
	struct energy_window_device w;

	(void)state;
	b.counter_reset = true;
	energy_window_compute(&w, &a, &b, NULL, 0);
	assert_true(w.counter_reset);
	assert_false(w.from_counter);
	assert_true(fabs(w.energy_j - 300.0) < 1e-9);
	assert_true(isnan(w.max_temperature_c));
}

static void test_missing_edge_reports_nothing(void **state)
{
	struct energy_reading a = reading(0.0, 0.0, 200.0, NAN);
	struct energy_reading b = reading(1.0, 200.0, 200.0, NAN);
	struct energy_window_device w;

	(void)state;
	b.valid = false;
	energy_window_compute(&w, &a, &b, NULL, 0);
	assert_true(isnan(w.energy_j));
	assert_true(isnan(w.integral_j));
	assert_true(isnan(w.counter_j));
}

static void test_device_without_counter_uses_the_integral(void **state)
{
	struct energy_reading a = reading(0.0, NAN, 50.0, NAN);
	struct energy_reading b = reading(4.0, NAN, 50.0, NAN);
	struct energy_window_device w;

	(void)state;
	energy_window_compute(&w, &a, &b, NULL, 0);
	assert_false(w.from_counter);
	assert_true(fabs(w.energy_j - 200.0) < 1e-9);
}

static void test_device_without_counter_or_power_reports_nothing(void **state)
{
	struct energy_reading a = reading(0.0, NAN, NAN, 30.0);
	struct energy_reading b = reading(4.0, NAN, NAN, 31.0);
	struct energy_window_device w;

	(void)state;
	energy_window_compute(&w, &a, &b, NULL, 0);
	assert_true(isnan(w.energy_j));
	assert_true(w.max_temperature_c == 31.0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counter_is_the_energy_and_integral_the_cross_check),
		cmocka_unit_test(test_reset_falls_back_to_the_integral),
		cmocka_unit_test(test_missing_edge_reports_nothing),
		cmocka_unit_test(test_device_without_counter_uses_the_integral),
		cmocka_unit_test(test_device_without_counter_or_power_reports_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
