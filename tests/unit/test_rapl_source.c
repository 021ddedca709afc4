/*
 * The RAPL energy source against fake powercap trees whose counters the
 * tests rewrite between reads: which zones become devices, exact deltas,
 * wraparound, unreadable and vanishing counters.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"
#include "energy/energy.h"
#include "llem/llem.h"
#include "util/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* max_energy_range_uj of a real Intel package (2^32 units of 61 uJ). */
#define INTEL_RANGE_UJ 262143328850LL

struct fixture {
	char *root;
	void *src;
	const struct energy_source_ops *ops;
	char *why;
};

static int setup(void **state)
{
	struct fixture *fx = xcalloc(1, sizeof(*fx));

	fx->root = test_tmpdir("rapl-src");
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	if (fx->src)
		fx->ops->close(fx->src);
	test_rm_rf(fx->root);
	free(fx->root);
	free(fx->why);
	free(fx);
	return 0;
}

static void write_attr(const char *root, const char *zone, const char *attr, const char *text)
{
	char *dir = fs_join(root, zone);
	char *path = fs_join(dir, attr);

	assert_int_equal(fs_mkdirs(dir, 0755), 0);
	test_write_text(path, text);
	free(path);
	free(dir);
}

/*
 * Rewrites a counter in place, as the kernel's value changes under an
 * open descriptor (test_write_text truncates the same inode).
 */
static void set_uj(const char *root, const char *zone, long long uj)
{
	char text[32];

	snprintf(text, sizeof(text), "%lld\n", uj);
	write_attr(root, zone, "energy_uj", text);
}

/* A zone; range_uj < 0 leaves max_energy_range_uj out. */
static void add_zone(const char *root, const char *zone, const char *name, long long uj,
		     long long range_uj)
{
	char text[64];

	snprintf(text, sizeof(text), "%s\n", name);
	write_attr(root, zone, "name", text);
	set_uj(root, zone, uj);
	if (range_uj >= 0) {
		snprintf(text, sizeof(text), "%lld\n", range_uj);
		write_attr(root, zone, "max_energy_range_uj", text);
	}
}

#define P0 "intel-rapl:0"
#define P0_CORE "intel-rapl:0/intel-rapl:0:0"
#define P0_DRAM "intel-rapl:0/intel-rapl:0:1"
#define P1 "intel-rapl:1"
#define P1_CORE "intel-rapl:1/intel-rapl:1:0"
#define P1_DRAM "intel-rapl:1/intel-rapl:1:1"

/* Two sockets, each with core and dram subzones, plus a psys zone. */
static void two_sockets(const char *root)
{
	add_zone(root, P0, "package-0", 1000000, INTEL_RANGE_UJ);
	add_zone(root, P0_CORE, "core", 500000, INTEL_RANGE_UJ);
	add_zone(root, P0_DRAM, "dram", 200000, INTEL_RANGE_UJ);
	add_zone(root, P1, "package-1", 3000000, INTEL_RANGE_UJ);
	add_zone(root, P1_CORE, "core", 700000, INTEL_RANGE_UJ);
	add_zone(root, P1_DRAM, "dram", 400000, INTEL_RANGE_UJ);
	add_zone(root, "intel-rapl:2", "psys", 9000000, INTEL_RANGE_UJ);
}

static void open_ok(struct fixture *fx)
{
	int rc = energy_rapl_open(&fx->src, &fx->ops, fx->root, &fx->why);

	if (rc != 0)
		fail_msg("energy_rapl_open: %s", fx->why);
	assert_non_null(fx->src);
	assert_string_equal(fx->ops->name, "rapl");
	assert_null(fx->why);
}

static struct energy_reading read_dev(struct fixture *fx, size_t i, uint64_t t_ns)
{
	struct energy_reading r;

	memset(&r, 0xa5, sizeof(r)); /* every field must be written */
	assert_int_equal(fx->ops->read(fx->src, i, t_ns, &r), 0);
	assert_true(r.valid);
	assert_int_equal(r.t_ns, t_ns);
	return r;
}

/* energy_j is a count of microjoules times 1e-6. */
static void assert_uj(double energy_j, long long uj)
{
	assert_true(fabs(energy_j - (double)uj * 1e-6) <= 1e-12 * (1 + fabs(energy_j)));
}

static void test_packages_and_dram_are_devices_core_and_psys_are_not(void **state)
{
	struct fixture *fx = *state;
	struct energy_device_desc d;
	static const char *const names[] = { "package-0", "dram-0", "package-1", "dram-1" };
	static const char *const labels[] = { "intel-rapl:0", "intel-rapl:0:1", "intel-rapl:1",
					      "intel-rapl:1:1" };

	two_sockets(fx->root);
	open_ok(fx);
	assert_int_equal(fx->ops->device_count(fx->src), 4);
	for (size_t i = 0; i < 4; i++) {
		fx->ops->device_desc(fx->src, i, &d);
		assert_int_equal(d.kind, ENERGY_RAPL);
		assert_string_equal(d.name, names[i]);
		assert_string_equal(d.label, labels[i]);
		assert_true(d.has_counter);
		assert_false(d.has_power);
	}
}

static void test_exact_deltas_per_zone(void **state)
{
	struct fixture *fx = *state;
	struct energy_reading r;

	two_sockets(fx->root);
	open_ok(fx);

	/* nothing happened since open */
	r = read_dev(fx, 0, 10);
	assert_true(r.energy_j == 0);
	assert_false(r.counter_reset);
	assert_true(isnan(r.power_w));
	assert_true(isnan(r.temperature_c));
	assert_true(isnan(r.memory_used_mb));
	assert_true(isnan(r.memory_total_mb));
	assert_true(isnan(r.utilization_pct));
	assert_int_equal(r.throttle_reasons, 0);

	set_uj(fx->root, P0, 1000000 + 12345678);
	set_uj(fx->root, P0_DRAM, 200000 + 1111);
	set_uj(fx->root, P0_CORE, 999999999); /* not a device: ignored */
	set_uj(fx->root, P1, 3000000 + 250);
	assert_uj(read_dev(fx, 0, 20).energy_j, 12345678);
	assert_uj(read_dev(fx, 1, 20).energy_j, 1111);
	assert_uj(read_dev(fx, 2, 20).energy_j, 250);
	assert_uj(read_dev(fx, 3, 20).energy_j, 0);

	/* cumulative since open, not since the last read */
	set_uj(fx->root, P0, 1000000 + 12345678 + 22);
	assert_uj(read_dev(fx, 0, 30).energy_j, 12345700);
	assert_uj(read_dev(fx, 0, 40).energy_j, 12345700);
}

/*
 * The counter runs 0 .. max_energy_range_uj and wraps to 0, so the
 * modulus is range + 1: from range - 50 to 49 is 50 + 1 + 49 = 100 uJ.
 */
static void test_wrap_during_window_uses_range_plus_one(void **state)
{
	struct fixture *fx = *state;
	struct energy_reading r;

	add_zone(fx->root, P0, "package-0", INTEL_RANGE_UJ - 50, INTEL_RANGE_UJ);
	open_ok(fx);
	set_uj(fx->root, P0, 49);
	r = read_dev(fx, 0, 1);
	assert_uj(r.energy_j, 100);
	assert_false(r.counter_reset);

	/* a step from exactly max to exactly 0 is one microjoule */
	set_uj(fx->root, P0, INTEL_RANGE_UJ);
	r = read_dev(fx, 0, 2);
	assert_uj(r.energy_j, 100 + INTEL_RANGE_UJ - 49);
	set_uj(fx->root, P0, 0);
	r = read_dev(fx, 0, 3);
	assert_uj(r.energy_j, 100 + INTEL_RANGE_UJ - 49 + 1);
	assert_false(r.counter_reset);
}

static void test_two_wraps_across_reads(void **state)
{
	struct fixture *fx = *state;
	static const long long values[] = { 990, 10, 995, 3, 3, 500 };
	static const long long expect[] = { 90, 110, 1095, 1103, 1103, 1600 };
	double prev = 0;

	/* values 0..999: a wrap is 1000 uJ */
	add_zone(fx->root, P0, "package-0", 900, 999);
	open_ok(fx);
	for (size_t i = 0; i < ARRAY_SIZE(values); i++) {
		struct energy_reading r;

		set_uj(fx->root, P0, values[i]);
		r = read_dev(fx, 0, 100 * (i + 1));
		assert_uj(r.energy_j, expect[i]);
		assert_true(r.energy_j >= prev);
		assert_false(r.counter_reset);
		prev = r.energy_j;
	}
}

/* Without max_energy_range_uj a decrease cannot be unwrapped: flag it. */
static void test_unknown_range_decrease_is_a_counter_reset(void **state)
{
	struct fixture *fx = *state;
	struct energy_reading r;

	add_zone(fx->root, P0, "package-0", 500, -1);
	open_ok(fx);
	set_uj(fx->root, P0, 800);
	r = read_dev(fx, 0, 1);
	assert_uj(r.energy_j, 300);
	assert_false(r.counter_reset);
	set_uj(fx->root, P0, 100);
	r = read_dev(fx, 0, 2);
	assert_uj(r.energy_j, 400); /* energy since a restart at 0 */
	assert_true(r.counter_reset);
	set_uj(fx->root, P0, 150);
	r = read_dev(fx, 0, 3);
	assert_uj(r.energy_j, 450);
	assert_false(r.counter_reset);
}

static void test_die_zones_and_dram_names(void **state)
{
	struct fixture *fx = *state;
	struct energy_device_desc d;

	add_zone(fx->root, P0, "package-0-die-1", 1, INTEL_RANGE_UJ);
	add_zone(fx->root, P0_DRAM, "dram", 1, INTEL_RANGE_UJ);
	open_ok(fx);
	assert_int_equal(fx->ops->device_count(fx->src), 2);
	fx->ops->device_desc(fx->src, 0, &d);
	assert_string_equal(d.name, "package-0-die-1");
	fx->ops->device_desc(fx->src, 1, &d);
	assert_string_equal(d.name, "dram-0-die-1");
}

/*
 * Root reads mode-0000 files, so the suite (often root) makes counters
 * unreadable with a directory named energy_uj (EISDIR) and a dangling
 * symlink (ENOENT), as test_rapl_probe.c does.
 */
static void test_unreadable_counter_fails_open(void **state)
{
	struct fixture *fx = *state;
	char *path, *expect;
	int rc;

	two_sockets(fx->root);
	path = xasprintf("%s/" P1 "/energy_uj", fx->root);
	assert_int_equal(remove(path), 0);
	assert_int_equal(mkdir(path, 0755), 0);
	rc = energy_rapl_open(&fx->src, &fx->ops, fx->root, &fx->why);
	assert_int_equal(rc, LLEM_EIO);
	assert_null(fx->src);
	expect = xasprintf("RAPL: %s: Is a directory", path);
	assert_string_equal(fx->why, expect);
	assert_string_equal(llem_error_last(), expect);
	free(expect);
	assert_int_equal(rmdir(path), 0);
	set_uj(fx->root, P1, 5);
	free(path);
	free(fx->why);
	fx->why = NULL;

	path = xasprintf("%s/" P0_DRAM "/energy_uj", fx->root);
	assert_int_equal(remove(path), 0);
	assert_int_equal(symlink("/nonexistent/energy_uj", path), 0);
	rc = energy_rapl_open(&fx->src, &fx->ops, fx->root, &fx->why);
	assert_int_equal(rc, LLEM_EIO);
	expect = xasprintf("RAPL: %s: No such file or directory", path);
	assert_string_equal(fx->why, expect);
	free(expect);
	assert_int_equal(remove(path), 0);
	set_uj(fx->root, P0_DRAM, 5);
	free(path);
	free(fx->why);
	fx->why = NULL;

	/* a zone that is not a device may be unreadable */
	path = xasprintf("%s/" P0_CORE "/energy_uj", fx->root);
	assert_int_equal(remove(path), 0);
	assert_int_equal(mkdir(path, 0755), 0);
	free(path);
	open_ok(fx);
	assert_int_equal(fx->ops->device_count(fx->src), 4);
}

/*
 * The permission case needs a process that file modes apply to: as root,
 * a child drops to nobody first. It reports through its exit status:
 * 0 ok, 1 wrong result, 77 could not drop privileges.
 */
static void test_permission_denied_names_the_fix(void **state)
{
	struct fixture *fx = *state;
	char *path = xasprintf("%s/" P0 "/energy_uj", fx->root);
	char *expect;
	pid_t pid;
	int status;

	add_zone(fx->root, P0, "package-0", 1, INTEL_RANGE_UJ);
	assert_int_equal(chmod(fx->root, 0755), 0);
	assert_int_equal(chmod(path, 0400), 0);
	expect = xasprintf("RAPL: %s: Permission denied (fix: sudo chmod o+r "
			   "%s/intel-rapl:*/energy_uj "
			   "%s/intel-rapl:*/intel-rapl:*/energy_uj; "
			   "see 'llem config')",
			   path, fx->root, fx->root);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		void *src = NULL;
		const struct energy_source_ops *ops = NULL;
		char *why = NULL;
		int rc, ok;

		if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
			_exit(77);
		rc = energy_rapl_open(&src, &ops, fx->root, &why);
		ok = rc == LLEM_EIO && !src && why && strcmp(why, expect) == 0;
		if (!ok)
			fprintf(stderr, "rc %d why: %s\nexpected: %s\n", rc, why ? why : "(null)",
				expect);
		/* freed here too: valgrind checks the child's heap at _exit */
		free(why);
		free(expect);
		free(path);
		_exit(ok ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	free(expect);
	free(path);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 77)
		skip();
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_no_zones(void **state)
{
	struct fixture *fx = *state;
	char *expect = xasprintf("RAPL: no powercap zones under %s", fx->root);
	char *missing = xasprintf("%s/nope", fx->root);

	assert_int_equal(energy_rapl_open(&fx->src, &fx->ops, fx->root, &fx->why), LLEM_ENOTFOUND);
	assert_null(fx->src);
	assert_null(fx->ops);
	assert_string_equal(fx->why, expect);
	free(fx->why);
	free(expect);

	expect = xasprintf("RAPL: no powercap zones under %s", missing);
	assert_int_equal(energy_rapl_open(&fx->src, &fx->ops, missing, &fx->why), LLEM_ENOTFOUND);
	assert_string_equal(fx->why, expect);
	free(fx->why);
	free(expect);
	free(missing);

	/* zones, but none that is a device */
	add_zone(fx->root, "intel-rapl:0", "psys", 1, INTEL_RANGE_UJ);
	expect = xasprintf("RAPL: no package zones under %s (found: psys)", fx->root);
	assert_int_equal(energy_rapl_open(&fx->src, &fx->ops, fx->root, &fx->why), LLEM_ENOTFOUND);
	assert_string_equal(fx->why, expect);
	free(expect);
}

/*
 * A counter that vanishes or turns to garbage mid-run gives invalid reads
 * and no crash; the other zones carry on, and a counter that recovers
 * continues from its last good value.
 */
static void test_counter_disappearing_mid_run(void **state)
{
	struct fixture *fx = *state;
	struct energy_reading r;
	char *path;

	two_sockets(fx->root);
	open_ok(fx);
	set_uj(fx->root, P0_DRAM, 200000 + 70);
	assert_uj(read_dev(fx, 1, 1).energy_j, 70);

	write_attr(fx->root, P0_DRAM, "energy_uj", "garbage\n");
	assert_int_equal(fx->ops->read(fx->src, 1, 2, &r), LLEM_EIO);
	assert_false(r.valid);
	assert_true(isnan(r.energy_j));
	write_attr(fx->root, P0_DRAM, "energy_uj", "");
	assert_int_equal(fx->ops->read(fx->src, 1, 3, &r), LLEM_EIO);
	assert_false(r.valid);
	set_uj(fx->root, P0_DRAM, 200000 + 90);
	assert_uj(read_dev(fx, 1, 4).energy_j, 90);

	path = xasprintf("%s/" P0_DRAM "/energy_uj", fx->root);
	assert_int_equal(remove(path), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(fx->ops->read(fx->src, 1, 5, &r), LLEM_EIO);
		assert_false(r.valid);
		assert_true(isnan(r.energy_j));
		assert_int_equal(r.t_ns, 5);
	}
	/* a new file of the same name is not the counter that was opened */
	set_uj(fx->root, P0_DRAM, 200000 + 95);
	assert_int_equal(fx->ops->read(fx->src, 1, 6, &r), LLEM_EIO);
	free(path);

	set_uj(fx->root, P0, 1000000 + 5);
	assert_uj(read_dev(fx, 0, 7).energy_j, 5);
	path = xasprintf("%s/" P0, fx->root);
	test_rm_rf(path);
	free(path);
	assert_int_equal(fx->ops->read(fx->src, 0, 8, &r), LLEM_EIO);
	assert_false(r.valid);
}

static void test_sysfs_links_do_not_duplicate_devices(void **state)
{
	struct fixture *fx = *state;
	char *real = xasprintf("%s/devices", fx->root);
	char *link = xasprintf("%s/" P0, fx->root);

	add_zone(real, P0, "package-0", 1, INTEL_RANGE_UJ);
	add_zone(real, P0_DRAM, "dram", 1, INTEL_RANGE_UJ);
	assert_int_equal(symlink("devices/" P0, link), 0);
	free(link);
	link = xasprintf("%s/intel-rapl:0:1", fx->root);
	assert_int_equal(symlink("devices/" P0_DRAM, link), 0);
	free(link);
	free(real);
	open_ok(fx);
	assert_int_equal(fx->ops->device_count(fx->src), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_packages_and_dram_are_devices_core_and_psys_are_not),
		T(test_exact_deltas_per_zone),
		T(test_wrap_during_window_uses_range_plus_one),
		T(test_two_wraps_across_reads),
		T(test_unknown_range_decrease_is_a_counter_reset),
		T(test_die_zones_and_dram_names),
		T(test_unreadable_counter_fails_open),
		T(test_permission_denied_names_the_fix),
		T(test_no_zones),
		T(test_counter_disappearing_mid_run),
		T(test_sysfs_links_do_not_duplicate_devices),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
