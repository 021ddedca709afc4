/*
 * RAPL energy source: package and DRAM counters read from the powercap
 * sysfs (energy_uj), wrap-corrected and accumulated into joules since open.
 * Zone discovery is rapl_probe's; this file only opens and reads.
 */
#include "energy/energy.h"
#include "llem/errors.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * One device: a package-N zone or the dram subzone of one. The core,
 * uncore and psys zones are not devices: core and uncore are parts of the
 * package (their energy is already in package-N), and psys covers the whole
 * platform including the packages, so listing any of them would invite a
 * sum that counts the same joules twice. DRAM is outside the package domain
 * (methodology §2), so package-N and dram-N are disjoint and both kept.
 */
struct rapl_dev {
	struct energy_device_desc desc;
	int fd;            /* open on energy_uj for the source's lifetime */
	int64_t range_uj;  /* max_energy_range_uj; -1 when unknown */
	int64_t prev_uj;   /* last counter value read successfully */
	uint64_t total_uj; /* wrap-corrected energy since open */
};

struct rapl_source {
	struct rapl_dev *devs;
	size_t count;
};

/*
 * Parses a sysfs counter: decimal digits, optionally followed by a newline.
 * By hand rather than strtoll so that read() needs no NUL-terminated copy
 * and can range-check without errno. 0 or -1.
 */
static int parse_counter(const char *buf, size_t len, int64_t *out)
{
	int64_t v = 0;
	size_t i = 0;

	while (i < len && buf[i] >= '0' && buf[i] <= '9') {
		int digit = buf[i] - '0';

		if (v > (INT64_MAX - digit) / 10)
			return -1;
		v = v * 10 + digit;
		i++;
	}
	if (i == 0)
		return -1;
	while (i < len && (buf[i] == '\n' || buf[i] == ' '))
		i++;
	if (i != len)
		return -1;
	*out = v;
	return 0;
}

/*
 * Reads the counter behind fd. pread at offset 0 makes sysfs regenerate
 * the attribute, so one descriptor serves every read. Returns 0, or a
 * positive errno value (EINVAL for content that is not a counter, ENODEV
 * when the file was unlinked: a removed zone).
 */
static int read_counter(int fd, int64_t *out)
{
	char buf[32];
	struct stat st;
	ssize_t n;

	do {
		n = pread(fd, buf, sizeof(buf), 0);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno;
	/*
	 * Real sysfs fails the pread with ENODEV once the zone is gone; a file
	 * unlinked from an ordinary filesystem (the fake trees of the tests,
	 * a bind-mounted copy) keeps answering through the open descriptor,
	 * so ask whether it still has a name.
	 */
	if (fstat(fd, &st) != 0)
		return errno;
	if (st.st_nlink == 0)
		return ENODEV;
	if (n == (ssize_t)sizeof(buf) || parse_counter(buf, (size_t)n, out) != 0)
		return EINVAL;
	return 0;
}

/*
 * Energy between two counter values. The kernel reports energy_uj as the
 * 32-bit MSR count times the energy unit, so it takes values 0 ..
 * max_energy_range_uj inclusive (max_energy_range_uj is the translation of
 * the all-ones count) and then starts again at 0. The modulus is therefore
 * max_energy_range_uj + 1, not max_energy_range_uj: with the latter a step
 * from max to 0 would count nothing. Strictly the hardware period is
 * max + one energy unit (about 61 uJ on Intel, 15.3 uJ on AMD and server
 * DRAM), which sysfs does not expose; the difference is under one counter
 * step per wrap, i.e. below 1e-9 of the 65-262 kJ a wrap spans.
 *
 * powercap RAPL zones do not support writing 0 to energy_uj, so a value
 * below the previous one is a wrap, never a reset. Only one wrap between
 * two reads can be seen: the meter reads every device at least at each
 * window edge and every sampler period (100 ms by default), while a wrap
 * takes minutes (about 4.5 min for an AMD package at 240 W, 22 min for
 * Intel at 200 W). Returns false, and delta = cur, when the range is
 * unknown and the counter went backwards: energy since a restart at 0.
 */
static bool counter_delta(int64_t prev, int64_t cur, int64_t range_uj, uint64_t *delta)
{
	if (cur >= prev) {
		*delta = (uint64_t)(cur - prev);
		return true;
	}
	if (range_uj <= 0 || prev > range_uj) {
		*delta = (uint64_t)cur;
		return false;
	}
	*delta = (uint64_t)(range_uj - prev) + 1 + (uint64_t)cur;
	return true;
}

static size_t rapl_device_count(void *src)
{
	return ((struct rapl_source *)src)->count;
}

static void rapl_device_desc(void *src, size_t i, struct energy_device_desc *out)
{
	*out = ((struct rapl_source *)src)->devs[i].desc;
}

static int rapl_read(void *src, size_t i, uint64_t now_ns, struct energy_reading *out)
{
	struct rapl_dev *d = &((struct rapl_source *)src)->devs[i];
	int64_t cur;
	uint64_t delta;

	out->t_ns = now_ns;
	out->valid = false;
	out->counter_reset = false;
	out->energy_j = NAN;
	/* RAPL has counters only; the meter derives power from their deltas. */
	out->power_w = NAN;
	out->temperature_c = NAN;
	out->memory_used_mb = NAN;
	out->memory_total_mb = NAN;
	out->utilization_pct = NAN;
	out->throttle_reasons = 0;

	/*
	 * On failure prev_uj is kept, so after a transient error the next good
	 * read still differences against the last good one. No error_set():
	 * it may allocate, and read() runs in the sampler loop.
	 */
	if (read_counter(d->fd, &cur) != 0)
		return LLEM_EIO;
	if (!counter_delta(d->prev_uj, cur, d->range_uj, &delta))
		out->counter_reset = true;
	d->total_uj += delta;
	d->prev_uj = cur;
	out->valid = true;
	out->energy_j = (double)d->total_uj * 1e-6;
	return 0;
}

static void rapl_close(void *src)
{
	struct rapl_source *s = src;

	if (!s)
		return;
	for (size_t i = 0; i < s->count; i++)
		if (s->devs[i].fd >= 0)
			close(s->devs[i].fd);
	free(s->devs);
	free(s);
}

static const struct energy_source_ops rapl_ops = {
	.name = "rapl",
	.device_count = rapl_device_count,
	.device_desc = rapl_device_desc,
	.read = rapl_read,
	.close = rapl_close,
};

/*
 * The device name of zone z, or false when z is not a device. Packages
 * keep their kernel name ("package-0", "package-0-die-1"); a dram subzone
 * borrows its package's suffix ("dram-0", "dram-0-die-1").
 */
static bool device_name(const struct rapl_zone *z, const struct rapl_zone *parent, char name[48])
{
	int n;

	if (!z->name)
		return false;
	if (z->depth == 0 && str_starts_with(z->name, "package-"))
		n = snprintf(name, 48, "%s", z->name);
	else if (z->depth == 1 && strcmp(z->name, "dram") == 0 && parent && parent->name &&
		 str_starts_with(parent->name, "package-"))
		n = snprintf(name, 48, "dram-%s", parent->name + strlen("package-"));
	else
		return false;
	return n > 0 && n < 48;
}

/* The probe's chmod line without its trailing shell comment. */
static char *fix_command(const char *hint)
{
	const char *comment = strstr(hint, "  #");

	if (!comment)
		return xstrdup(hint);
	return xstrndup(hint, (size_t)(comment - hint));
}

/* Opens and reads the first value of one device's energy_uj; 0 or errno. */
static int open_counter(struct rapl_dev *d, const struct rapl_zone *z)
{
	char *path = fs_join(z->path, "energy_uj");
	int err = 0;

	d->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (d->fd < 0)
		err = errno;
	else
		err = read_counter(d->fd, &d->prev_uj);
	free(path);
	return err;
}

/*
 * "RAPL: <path>: <why>", with the chmod that fixes it when permissions are
 * the problem (root-only energy_uj since CVE-2020-8694).
 */
static char *open_error(const struct rapl_zone *z, int err, const char *hint)
{
	char *path = fs_join(z->path, "energy_uj");
	char *msg, *fix;

	if ((err == EACCES || err == EPERM) && hint) {
		fix = fix_command(hint);
		msg = xasprintf("RAPL: %s: %s (fix: %s; see 'llem config')", path, strerror(err),
				fix);
		free(fix);
	} else {
		msg = xasprintf("RAPL: %s: %s", path, strerror(err));
	}
	free(path);
	return msg;
}

int energy_rapl_open(void **out, const struct energy_source_ops **ops, const char *root, char **why)
{
	struct rapl_probe p;
	struct rapl_source *s = xcalloc(1, sizeof(*s));
	const struct rapl_zone *parent = NULL;
	char *msg = NULL;
	int rc = 0;

	*out = NULL;
	*ops = NULL;
	*why = NULL;
	rapl_probe(root, &p);
	if (!p.present) {
		rc = LLEM_ENOTFOUND;
		msg = xasprintf("RAPL: no powercap zones under %s", p.root);
		goto out;
	}
	s->devs = xcalloc(p.zone_count, sizeof(*s->devs));
	for (size_t i = 0; i < p.zone_count; i++) {
		const struct rapl_zone *z = &p.zones[i];
		struct rapl_dev *d = &s->devs[s->count];
		char name[48];
		int err;

		/* sorted: each package comes right before its subzones */
		if (z->depth == 0)
			parent = z;
		if (!device_name(z, z->depth == 1 ? parent : NULL, name))
			continue;
		memset(d, 0, sizeof(*d));
		d->desc.kind = ENERGY_RAPL;
		memcpy(d->desc.name, name, sizeof(name));
		snprintf(d->desc.label, sizeof(d->desc.label), "%s", z->id);
		d->desc.has_counter = true;
		d->desc.has_power = false;
		d->range_uj = z->max_energy_range_uj;
		err = open_counter(d, z);
		s->count++; /* even when failed, so close() sees the fd */
		if (err) {
			rc = LLEM_EIO;
			msg = open_error(z, err, p.fix_hint);
			goto out;
		}
	}
	if (s->count == 0) {
		struct strbuf names = STRBUF_INIT;

		for (size_t i = 0; i < p.zone_count; i++) {
			strbuf_adds(&names, i ? ", " : "");
			strbuf_adds(&names, p.zones[i].name ? p.zones[i].name : p.zones[i].id);
		}
		rc = LLEM_ENOTFOUND;
		msg = xasprintf("RAPL: no package zones under %s (found: %s)", p.root,
				strbuf_str(&names));
		strbuf_release(&names);
	}
out:
	rapl_probe_release(&p);
	if (rc) {
		rapl_close(s);
		error_set(rc, "%s", msg);
		*why = msg;
		return rc;
	}
	*out = s;
	*ops = &rapl_ops;
	return 0;
}
