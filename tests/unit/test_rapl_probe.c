/*
 * RAPL zone discovery against fake powercap trees built in a temporary
 * directory: nesting, sorting, the real sysfs layout with links, counters
 * that cannot be read, and the fix hint.
 */
#define _GNU_SOURCE /* nftw */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "energy/energy.h"
#include "util/util.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A 2^32-ish wrap point as real Intel packages report it. */
#define RANGE_UJ "262143328850"

static int make_root(void **state)
{
	char tmpl[] = "/tmp/llem-rapl-XXXXXX";
	char *dir = mkdtemp(tmpl);

	assert_non_null(dir);
	*state = xstrdup(dir);
	return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int remove_root(void **state)
{
	char *dir = *state;

	nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
	return 0;
}

static void write_file(const char *root, const char *rel, const char *text)
{
	char *path = fs_join(root, rel);
	char *dir = fs_dirname(path);
	FILE *f;

	assert_int_equal(fs_mkdirs(dir, 0755), 0);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	free(dir);
	free(path);
}

/* A zone directory with name, energy_uj and max_energy_range_uj. */
static void add_zone(const char *root, const char *rel, const char *name, const char *energy_uj)
{
	char *p;

	p = xasprintf("%s/name", rel);
	write_file(root, p, name);
	free(p);
	p = xasprintf("%s/energy_uj", rel);
	write_file(root, p, energy_uj);
	free(p);
	p = xasprintf("%s/max_energy_range_uj", rel);
	write_file(root, p, RANGE_UJ "\n");
	free(p);
}

/* Two sockets, each a package with a dram subzone, created out of order. */
static void two_sockets(const char *root)
{
	add_zone(root, "intel-rapl:1/intel-rapl:1:0", "dram\n", "4242\n");
	add_zone(root, "intel-rapl:0", "package-0\n", "123456789\n");
	add_zone(root, "intel-rapl:1", "package-1\n", "987654321\n");
	add_zone(root, "intel-rapl:0/intel-rapl:0:0", "dram\n", "1000\n");
}

static void check_zone(const struct rapl_zone *z, const char *root, const char *rel, const char *id,
		       const char *name, int depth)
{
	char *path = fs_join(root, rel);

	assert_string_equal(z->id, id);
	assert_string_equal(z->name, name);
	assert_string_equal(z->path, path);
	assert_int_equal(z->depth, depth);
	free(path);
}

static void test_two_sockets_with_dram_all_readable(void **state)
{
	const char *root = *state;
	struct rapl_probe p;

	two_sockets(root);
	/* things that are not intel-rapl zones */
	write_file(root, "intel-rapl/enabled", "1\n");
	add_zone(root, "intel-rapl-mmio:0", "package-0\n", "1\n");
	write_file(root, "intel-rapl:9", "a file, not a zone\n");

	rapl_probe(root, &p);
	assert_string_equal(p.root, root);
	assert_true(p.present);
	assert_int_equal(p.zone_count, 4);
	check_zone(&p.zones[0], root, "intel-rapl:0", "intel-rapl:0", "package-0", 0);
	check_zone(&p.zones[1], root, "intel-rapl:0/intel-rapl:0:0", "intel-rapl:0:0", "dram", 1);
	check_zone(&p.zones[2], root, "intel-rapl:1", "intel-rapl:1", "package-1", 0);
	check_zone(&p.zones[3], root, "intel-rapl:1/intel-rapl:1:0", "intel-rapl:1:0", "dram", 1);
	for (size_t i = 0; i < p.zone_count; i++) {
		assert_true(p.zones[i].readable);
		assert_null(p.zones[i].error);
		assert_int_equal(p.zones[i].max_energy_range_uj, 262143328850);
	}
	assert_true(p.all_readable);
	assert_null(p.fix_hint);
	assert_null(p.fix_detail);
	rapl_probe_release(&p);
	assert_null(p.zones);
}

static void test_ids_sort_numerically(void **state)
{
	const char *root = *state;
	struct rapl_probe p;

	add_zone(root, "intel-rapl:10", "package-10\n", "1\n");
	add_zone(root, "intel-rapl:2", "package-2\n", "1\n");
	add_zone(root, "intel-rapl:2/intel-rapl:2:10", "uncore\n", "1\n");
	add_zone(root, "intel-rapl:2/intel-rapl:2:1", "core\n", "1\n");
	add_zone(root, "intel-rapl:1", "psys\n", "1\n");

	rapl_probe(root, &p);
	assert_int_equal(p.zone_count, 5);
	assert_string_equal(p.zones[0].id, "intel-rapl:1");
	assert_string_equal(p.zones[1].id, "intel-rapl:2");
	assert_string_equal(p.zones[2].id, "intel-rapl:2:1");
	assert_string_equal(p.zones[3].id, "intel-rapl:2:10");
	assert_string_equal(p.zones[4].id, "intel-rapl:10");
	assert_string_equal(p.zones[4].name, "package-10");
	rapl_probe_release(&p);
}

/*
 * Real /sys/class/powercap lists every zone at top level as a link, and
 * each package directory holds its subzones as well: one zone, listed once.
 */
static void test_sysfs_layout_with_links_lists_each_zone_once(void **state)
{
	const char *root = *state;
	char *real = xasprintf("%s/devices", root);
	char *link;
	struct rapl_probe p;

	add_zone(real, "intel-rapl:0", "package-0\n", "5\n");
	add_zone(real, "intel-rapl:0/intel-rapl:0:0", "core\n", "6\n");
	link = xasprintf("%s/intel-rapl:0", root);
	assert_int_equal(symlink("devices/intel-rapl:0", link), 0);
	free(link);
	link = xasprintf("%s/intel-rapl:0:0", root);
	assert_int_equal(symlink("devices/intel-rapl:0/intel-rapl:0:0", link), 0);
	free(link);

	rapl_probe(root, &p);
	assert_int_equal(p.zone_count, 2);
	check_zone(&p.zones[0], root, "intel-rapl:0", "intel-rapl:0", "package-0", 0);
	check_zone(&p.zones[1], root, "intel-rapl:0:0", "intel-rapl:0:0", "core", 1);
	assert_true(p.all_readable);
	rapl_probe_release(&p);
	free(real);
}

/*
 * The suite runs as root, and root reads a mode-0000 file anyway, so chmod
 * cannot make energy_uj unreadable here. The probe really reads the file,
 * so any read failure exercises the same path: a directory named energy_uj
 * (read fails with EISDIR) and a dangling symlink (open fails with ENOENT).
 * test_chmod_000_unreadable_for_non_root covers the permission case where
 * the test does not run as root.
 */
static void test_unreadable_energy_gives_fix_hint(void **state)
{
	const char *root = *state;
	struct rapl_probe p;
	char *path, *expected;

	two_sockets(root);
	path = xasprintf("%s/intel-rapl:1/energy_uj", root);
	assert_int_equal(remove(path), 0);
	assert_int_equal(mkdir(path, 0755), 0);
	free(path);
	path = xasprintf("%s/intel-rapl:1/intel-rapl:1:0/energy_uj", root);
	assert_int_equal(remove(path), 0);
	assert_int_equal(symlink("/nonexistent/energy_uj", path), 0);
	free(path);

	rapl_probe(root, &p);
	assert_true(p.present);
	assert_int_equal(p.zone_count, 4);
	assert_true(p.zones[0].readable);
	assert_true(p.zones[1].readable);
	assert_false(p.zones[2].readable);
	assert_non_null(strstr(p.zones[2].error, "Is a directory"));
	assert_false(p.zones[3].readable);
	assert_non_null(strstr(p.zones[3].error, "No such file"));
	/* name and range still read from an unreadable zone */
	assert_string_equal(p.zones[2].name, "package-1");
	assert_int_equal(p.zones[2].max_energy_range_uj, 262143328850);
	assert_false(p.all_readable);

	expected = xasprintf("sudo chmod o+r %s/intel-rapl:*/energy_uj "
			     "%s/intel-rapl:*/intel-rapl:*/energy_uj"
			     "  # resets at reboot",
			     root, root);
	assert_string_equal(p.fix_hint, expected);
	assert_null(strchr(p.fix_hint, '\n'));
	assert_non_null(p.fix_detail);
	assert_non_null(strstr(p.fix_detail, "SUBSYSTEM==\"powercap\", ACTION==\"add\""));
	assert_non_null(strstr(p.fix_detail, "RUN+=\"/bin/chmod o+r /sys%p/energy_uj\""));
	free(expected);
	rapl_probe_release(&p);
}

static void test_chmod_000_unreadable_for_non_root(void **state)
{
	const char *root = *state;
	struct rapl_probe p;
	char *path;

	if (geteuid() == 0)
		skip(); /* root bypasses file modes; see the test above */
	add_zone(root, "intel-rapl:0", "package-0\n", "5\n");
	path = xasprintf("%s/intel-rapl:0/energy_uj", root);
	assert_int_equal(chmod(path, 0), 0);
	free(path);
	rapl_probe(root, &p);
	assert_false(p.zones[0].readable);
	assert_non_null(strstr(p.zones[0].error, "Permission denied"));
	assert_non_null(p.fix_hint);
	rapl_probe_release(&p);
}

static void test_non_counter_content_is_not_readable(void **state)
{
	const char *root = *state;
	struct rapl_probe p;

	add_zone(root, "intel-rapl:0", "package-0\n", "garbage\n");
	rapl_probe(root, &p);
	assert_false(p.zones[0].readable);
	assert_non_null(strstr(p.zones[0].error, "does not hold a counter"));
	rapl_probe_release(&p);
}

static void test_missing_name_and_range_are_unknown(void **state)
{
	const char *root = *state;
	struct rapl_probe p;

	write_file(root, "intel-rapl:0/energy_uj", "77\n");
	rapl_probe(root, &p);
	assert_int_equal(p.zone_count, 1);
	assert_null(p.zones[0].name);
	assert_int_equal(p.zones[0].max_energy_range_uj, -1);
	assert_true(p.zones[0].readable);
	rapl_probe_release(&p);
}

static void test_empty_root_is_not_present(void **state)
{
	const char *root = *state;
	struct rapl_probe p;
	char *missing = xasprintf("%s/no-such-dir", root);

	rapl_probe(root, &p);
	assert_false(p.present);
	assert_int_equal(p.zone_count, 0);
	assert_null(p.zones);
	assert_false(p.all_readable);
	assert_null(p.fix_hint);
	rapl_probe_release(&p);

	rapl_probe(missing, &p);
	assert_false(p.present);
	assert_string_equal(p.root, missing);
	rapl_probe_release(&p);
	free(missing);
}

static void test_default_root_and_trailing_slash(void **state)
{
	const char *root = *state;
	struct rapl_probe p;
	char *slashed = xasprintf("%s//", root);

	rapl_probe(NULL, &p);
	assert_string_equal(p.root, "/sys/class/powercap");
	rapl_probe_release(&p);

	add_zone(root, "intel-rapl:0", "package-0\n", "1\n");
	rapl_probe(slashed, &p);
	assert_string_equal(p.root, root);
	check_zone(&p.zones[0], root, "intel-rapl:0", "intel-rapl:0", "package-0", 0);
	rapl_probe_release(&p);
	free(slashed);
}

static void test_fix_hint_quotes_root_with_spaces(void **state)
{
	const char *root = *state;
	char *odd = xasprintf("%s/power cap's", root);
	char *path;
	struct rapl_probe p;

	add_zone(odd, "intel-rapl:0", "package-0\n", "1\n");
	path = xasprintf("%s/intel-rapl:0/energy_uj", odd);
	assert_int_equal(remove(path), 0);
	assert_int_equal(mkdir(path, 0755), 0);
	free(path);
	rapl_probe(odd, &p);
	assert_non_null(p.fix_hint);
	assert_non_null(strstr(p.fix_hint, "/power cap'\\''s'/intel-rapl:*/energy_uj "));
	rapl_probe_release(&p);
	free(odd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, make_root, remove_root)
		T(test_two_sockets_with_dram_all_readable),
		T(test_ids_sort_numerically),
		T(test_sysfs_layout_with_links_lists_each_zone_once),
		T(test_unreadable_energy_gives_fix_hint),
		T(test_chmod_000_unreadable_for_non_root),
		T(test_non_counter_content_is_not_readable),
		T(test_missing_name_and_range_are_unknown),
		T(test_empty_root_is_not_present),
		T(test_default_root_and_trailing_slash),
		T(test_fix_hint_quotes_root_with_spaces),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
