/*
 * RAPL zone discovery: which intel-rapl powercap zones exist under a root,
 * what they are called, where their counters wrap, and whether this process
 * may read them. Reading energy for a measurement happens elsewhere; this
 * is what preflight and `llem config` show.
 */
#include "energy/energy.h"
#include "util/util.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define RAPL_PREFIX "intel-rapl:"
#define RAPL_MAX_LEVELS 4 /* numbers in an id: the kernel uses 1 or 2 */

/*
 * Parses "intel-rapl:0:1" into {0, 1}. Returns the count of numbers, or 0
 * when name is not a RAPL zone id ("intel-rapl", "intel-rapl-mmio:0").
 */
static int parse_zone_id(const char *name, long nums[RAPL_MAX_LEVELS])
{
	const char *p;
	int n = 0;

	if (!str_starts_with(name, RAPL_PREFIX))
		return 0;
	p = name + strlen(RAPL_PREFIX);
	for (;;) {
		char *end;
		long v;

		if (*p < '0' || *p > '9' || n == RAPL_MAX_LEVELS)
			return 0;
		errno = 0;
		v = strtol(p, &end, 10);
		if (errno)
			return 0;
		nums[n++] = v;
		if (*end == '\0')
			return n;
		if (*end != ':')
			return 0;
		p = end + 1;
	}
}

static int compare_zones(const void *a, const void *b)
{
	const struct rapl_zone *za = a, *zb = b;
	long na[RAPL_MAX_LEVELS], nb[RAPL_MAX_LEVELS];
	int ca = parse_zone_id(za->id, na), cb = parse_zone_id(zb->id, nb);

	for (int i = 0; i < ca && i < cb; i++)
		if (na[i] != nb[i])
			return na[i] < nb[i] ? -1 : 1;
	/* a parent sorts before its subzones */
	return (ca > cb) - (ca < cb);
}

static bool has_zone(const struct rapl_probe *p, const char *id)
{
	for (size_t i = 0; i < p->zone_count; i++)
		if (strcmp(p->zones[i].id, id) == 0)
			return true;
	return false;
}

/*
 * Adds every intel-rapl:* directory in dir. In real sysfs the class
 * directory lists subzones too (as links), and each zone directory holds
 * its subzones, so the same id shows up twice: the first path wins.
 */
static void scan_dir(struct rapl_probe *p, size_t *cap, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d)) != NULL) {
		long nums[RAPL_MAX_LEVELS];
		int levels = parse_zone_id(de->d_name, nums);
		struct rapl_zone *z;
		char *path;

		if (levels == 0 || has_zone(p, de->d_name))
			continue;
		path = fs_join(dir, de->d_name);
		if (!fs_is_dir(path)) {
			free(path);
			continue;
		}
		GROW(p->zones, *cap, p->zone_count + 1);
		z = &p->zones[p->zone_count++];
		memset(z, 0, sizeof(*z));
		z->id = xstrdup(de->d_name);
		z->path = path;
		z->depth = levels - 1;
		z->max_energy_range_uj = -1;
	}
	closedir(d);
}

/* A one-line sysfs attribute with trailing whitespace removed, or NULL. */
static char *read_attr(const char *dir, const char *attr)
{
	char *path = fs_join(dir, attr);
	char *text = NULL;
	size_t len;

	if (fs_read_file(path, &text, &len) == 0) {
		while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
			text[--len] = '\0';
	}
	free(path);
	return text;
}

/*
 * Reads energy_uj for real: permission bits alone do not tell (root reads
 * mode 0400 files owned by anyone, LSMs may refuse what the mode allows).
 */
static void check_readable(struct rapl_zone *z)
{
	char *path = fs_join(z->path, "energy_uj");
	char *text = NULL;
	size_t len;
	int64_t uj;

	if (fs_read_file(path, &text, &len) != 0) {
		z->error = xstrdup(error_last());
	} else {
		while (len > 0 && text[len - 1] == '\n')
			text[--len] = '\0';
		if (parse_int64(text, &uj) != 0 || uj < 0)
			z->error = xasprintf("'%s' does not hold a counter: \"%s\"", path, text);
		else
			z->readable = true;
	}
	free(text);
	free(path);
}

static void probe_zone(struct rapl_zone *z)
{
	char *range = read_attr(z->path, "max_energy_range_uj");
	int64_t v;

	z->name = read_attr(z->path, "name");
	if (z->name && !*z->name) {
		free(z->name);
		z->name = NULL;
	}
	if (range && parse_int64(range, &v) == 0 && v > 0)
		z->max_energy_range_uj = v;
	free(range);
	check_readable(z);
}

/* root as a shell word that still lets the glob after it expand. */
static void add_shell_prefix(struct strbuf *sb, const char *root)
{
	static const char safe[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				   "0123456789/._-+:,@%";

	if (root[strspn(root, safe)] == '\0') {
		strbuf_adds(sb, root);
		return;
	}
	strbuf_addch(sb, '\'');
	for (const char *c = root; *c; c++) {
		if (*c == '\'')
			strbuf_adds(sb, "'\\''");
		else
			strbuf_addch(sb, *c);
	}
	strbuf_addch(sb, '\'');
}

static void set_fix(struct rapl_probe *p)
{
	struct strbuf sb = STRBUF_INIT;

	strbuf_adds(&sb, "sudo chmod o+r ");
	add_shell_prefix(&sb, p->root);
	strbuf_adds(&sb, "/intel-rapl:*/energy_uj ");
	add_shell_prefix(&sb, p->root);
	strbuf_adds(&sb, "/intel-rapl:*/intel-rapl:*/energy_uj"
			 "  # resets at reboot");
	p->fix_hint = strbuf_detach(&sb);
	/*
	 * udev: every powercap zone emits an "add" uevent at boot; TEST skips
	 * the control-type device, which has no energy_uj of its own.
	 */
	p->fix_detail =
		xstrdup("RAPL energy_uj is root-only since the fix for CVE-2020-8694 "
			"(PLATYPUS); chmod lasts until reboot. To keep it, put this line in "
			"/etc/udev/rules.d/99-llem-powercap.rules: "
			"SUBSYSTEM==\"powercap\", ACTION==\"add\", TEST==\"energy_uj\", "
			"RUN+=\"/bin/chmod o+r /sys%p/energy_uj\" "
			"and apply it now with: sudo udevadm trigger --subsystem-match=powercap "
			"--action=add. Readable counters expose that power side channel to "
			"every local user, so do this only where that is acceptable.");
	strbuf_release(&sb);
}

void rapl_probe(const char *root, struct rapl_probe *out)
{
	size_t cap = 0, top_count;
	size_t len;

	memset(out, 0, sizeof(*out));
	out->root = xstrdup(root && *root ? root : RAPL_DEFAULT_ROOT);
	len = strlen(out->root);
	while (len > 1 && out->root[len - 1] == '/')
		out->root[--len] = '\0';

	scan_dir(out, &cap, out->root);
	top_count = out->zone_count;
	for (size_t i = 0; i < top_count; i++) {
		/* zone directories may be freed by GROW's realloc: copy the path */
		char *dir = xstrdup(out->zones[i].path);

		scan_dir(out, &cap, dir);
		free(dir);
	}
	if (out->zone_count > 1)
		qsort(out->zones, out->zone_count, sizeof(*out->zones), compare_zones);

	out->present = out->zone_count > 0;
	out->all_readable = out->present;
	for (size_t i = 0; i < out->zone_count; i++) {
		probe_zone(&out->zones[i]);
		if (!out->zones[i].readable)
			out->all_readable = false;
	}
	if (out->present && !out->all_readable)
		set_fix(out);
}

void rapl_probe_release(struct rapl_probe *p)
{
	for (size_t i = 0; i < p->zone_count; i++) {
		free(p->zones[i].id);
		free(p->zones[i].name);
		free(p->zones[i].path);
		free(p->zones[i].error);
	}
	free(p->zones);
	free(p->root);
	free(p->fix_hint);
	free(p->fix_detail);
	memset(p, 0, sizeof(*p));
}
