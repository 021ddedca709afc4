/*
 * Replay energy source: a trace file (CSV or JSON Lines, see
 * docs/replay-format.md) played back on CLOCK_MONOTONIC from the open, so
 * the meter, sampler and reports can run without energy hardware.
 */
#include "energy/energy.h"
#include "llem/errors.h"
#include "util/util.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum field {
	F_T,
	F_DEVICE,
	F_ENERGY,
	F_POWER,
	F_TEMP,
	F_MEM_USED,
	F_MEM_TOTAL,
	F_UTIL,
	F_THROTTLE,
	F_COUNT
};

static const char *const field_names[F_COUNT] = {
	"t_s",
	"device",
	"energy_j",
	"power_w",
	"temperature_c",
	"memory_used_mb",
	"memory_total_mb",
	"utilization_pct",
	"throttle_reasons",
};

/*
 * What a device reports at one trace time. Everything but energy is held
 * from the sample until the next one: these are instantaneous readings,
 * and a live meter also sees the latest value a device reported until it
 * reports again. Interpolating them would invent values the device never
 * gave (and throttle bits cannot be interpolated at all).
 */
struct replay_sample {
	double t_s;
	double power_w, temperature_c, memory_used_mb, memory_total_mb;
	double utilization_pct;
	uint64_t throttle_reasons;
};

/*
 * A sample that carries energy. energy_j is cumulative from the device's
 * first energy value, with counter resets taken out: over an interval in
 * which the counter went backwards the energy stays flat (nothing is
 * invented for it) and the reading that crosses it is flagged.
 */
struct replay_knot {
	double t_s;
	double energy_j;
	size_t resets; /* reset knots up to and including this one */
};

struct replay_dev {
	struct energy_device_desc desc;
	struct replay_sample *samples;
	size_t n, cap;
	struct replay_knot *knots;
	size_t nk, capk;
	double last_raw_j; /* parsing: the previous energy_j as written */
	int last_line;     /* parsing: line of the previous sample */
	double prev_tau_s; /* playback: trace time of the previous read */
};

struct replay_source {
	struct replay_dev *devs;
	size_t count, cap;
	uint64_t start_ns;
};

struct parser {
	const char *path;
	struct replay_source *src;
	int line;
	char *err; /* the whole "replay: file:line: message" once failed */
};

/* One trace row, its strings borrowed from the line being parsed. */
struct row {
	const char *device;
	bool has[F_COUNT];
	double v[F_COUNT];
	uint64_t throttle;
};

static int fail(struct parser *ps, const char *fmt, ...) LLEM_PRINTF(2, 3);

static int fail(struct parser *ps, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	va_list ap;

	if (ps->line > 0)
		strbuf_addf(&sb, "replay: %s:%d: ", ps->path, ps->line);
	else
		strbuf_addf(&sb, "replay: %s: ", ps->path);
	va_start(ap, fmt);
	strbuf_vaddf(&sb, fmt, ap);
	va_end(ap);
	free(ps->err);
	ps->err = strbuf_detach(&sb);
	return -1;
}

static int find_field(const char *name)
{
	for (int f = 0; f < F_COUNT; f++)
		if (strcmp(name, field_names[f]) == 0)
			return f;
	return -1;
}

static int unknown_field(struct parser *ps, const char *what, const char *name)
{
	const char *near = did_you_mean(name, field_names, F_COUNT, 3);

	if (near)
		return fail(ps, "unknown %s '%s' (did you mean '%s'?)", what, name, near);
	return fail(ps, "unknown %s '%s'", what, name);
}

/* Throttle bits: a decimal or 0x-prefixed hexadecimal integer. */
static int parse_bits(const char *s, uint64_t *out)
{
	int base = 10;
	uint64_t v = 0;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (!*s)
		return -1;
	for (; *s; s++) {
		unsigned d;

		if (*s >= '0' && *s <= '9')
			d = (unsigned)(*s - '0');
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = (unsigned)(*s - 'a' + 10);
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = (unsigned)(*s - 'A' + 10);
		else
			return -1;
		if (v > (UINT64_MAX - d) / (unsigned)base)
			return -1;
		v = v * (unsigned)base + d;
	}
	*out = v;
	return 0;
}

static struct replay_dev *find_device(struct parser *ps, const char *name)
{
	struct replay_source *s = ps->src;
	struct replay_dev *d;

	for (size_t i = 0; i < s->count; i++)
		if (strcmp(s->devs[i].desc.name, name) == 0)
			return &s->devs[i];
	if (strlen(name) >= sizeof(d->desc.name)) {
		fail(ps, "device name '%s' is longer than %zu bytes", name,
		     sizeof(d->desc.name) - 1);
		return NULL;
	}
	GROW(s->devs, s->cap, s->count + 1);
	d = &s->devs[s->count++];
	memset(d, 0, sizeof(*d));
	d->desc.kind = ENERGY_REPLAY;
	memcpy(d->desc.name, name, strlen(name) + 1);
	d->prev_tau_s = -INFINITY;
	return d;
}

/* Validates one row against what came before and appends it. */
static int add_row(struct parser *ps, const struct row *r)
{
	struct replay_dev *d;
	struct replay_sample *smp;

	if (!r->has[F_T])
		return fail(ps, "t_s is missing");
	if (!r->has[F_DEVICE] || !*r->device)
		return fail(ps, "device is missing");
	d = find_device(ps, r->device);
	if (!d)
		return -1;
	if (d->n > 0 && !(r->v[F_T] > d->samples[d->n - 1].t_s))
		return fail(ps, "%s: t_s %.15g is not after %.15g (line %d)", d->desc.name,
			    r->v[F_T], d->samples[d->n - 1].t_s, d->last_line);

	GROW(d->samples, d->cap, d->n + 1);
	smp = &d->samples[d->n++];
	smp->t_s = r->v[F_T];
	smp->power_w = r->has[F_POWER] ? r->v[F_POWER] : NAN;
	smp->temperature_c = r->has[F_TEMP] ? r->v[F_TEMP] : NAN;
	smp->memory_used_mb = r->has[F_MEM_USED] ? r->v[F_MEM_USED] : NAN;
	smp->memory_total_mb = r->has[F_MEM_TOTAL] ? r->v[F_MEM_TOTAL] : NAN;
	smp->utilization_pct = r->has[F_UTIL] ? r->v[F_UTIL] : NAN;
	smp->throttle_reasons = r->has[F_THROTTLE] ? r->throttle : 0;
	d->last_line = ps->line;
	if (r->has[F_POWER])
		d->desc.has_power = true;

	if (r->has[F_ENERGY]) {
		double raw = r->v[F_ENERGY];
		struct replay_knot *k;

		GROW(d->knots, d->capk, d->nk + 1);
		k = &d->knots[d->nk];
		k->t_s = smp->t_s;
		if (d->nk == 0) {
			k->energy_j = 0;
			k->resets = 0;
		} else {
			const struct replay_knot *prev = &d->knots[d->nk - 1];
			bool reset = raw < d->last_raw_j;

			k->energy_j = prev->energy_j + (reset ? 0 : raw - d->last_raw_j);
			k->resets = prev->resets + (reset ? 1 : 0);
		}
		d->nk++;
		d->last_raw_j = raw;
		d->desc.has_counter = true;
	}
	return 0;
}

static int set_value(struct parser *ps, struct row *r, int f, const char *text)
{
	if (f == F_DEVICE) {
		r->device = text;
		r->has[f] = true;
		return 0;
	}
	if (!*text)
		return 0; /* an empty cell: not reported */
	if (f == F_THROTTLE) {
		if (parse_bits(text, &r->throttle) != 0)
			return fail(ps,
				    "throttle_reasons: '%s' is not a "
				    "non-negative integer",
				    text);
	} else if (parse_double(text, &r->v[f]) != 0) {
		return fail(ps, "%s: '%s' is not a number", field_names[f], text);
	}
	r->has[f] = true;
	return 0;
}

static char *trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && strchr(" \t\r", end[-1]))
		*--end = '\0';
	return s;
}

/*
 * Splits line at commas in place into at most max fields; returns the
 * count, or max + 1 when there are more.
 */
static size_t split_csv(char *line, char **fields, size_t max)
{
	size_t n = 0;

	for (;;) {
		char *comma = strchr(line, ',');

		if (comma)
			*comma = '\0';
		if (n == max)
			return max + 1;
		fields[n++] = trim(line);
		if (!comma)
			return n;
		line = comma + 1;
	}
}

static int parse_csv_header(struct parser *ps, char *line, int cols[F_COUNT], size_t *ncols)
{
	char *names[F_COUNT + 1];
	size_t n = split_csv(line, names, F_COUNT + 1);
	bool seen[F_COUNT] = { false };

	for (size_t i = 0; i < n; i++) {
		int f;

		if (i == F_COUNT)
			return fail(ps, "more columns than the %d known ones", F_COUNT);
		if (strchr(names[i], '"'))
			return fail(ps, "quoted fields are not supported");
		f = find_field(names[i]);
		if (f < 0)
			return unknown_field(ps, "column", names[i]);
		if (seen[f])
			return fail(ps, "duplicate column '%s'", names[i]);
		seen[f] = true;
		cols[i] = f;
	}
	for (int f = F_T; f <= F_DEVICE; f++)
		if (!seen[f])
			return fail(ps, "missing column '%s'", field_names[f]);
	*ncols = n;
	return 0;
}

static int parse_csv_row(struct parser *ps, char *line, const int cols[F_COUNT], size_t ncols)
{
	char *cells[F_COUNT + 1];
	size_t n = split_csv(line, cells, F_COUNT);
	struct row r;

	if (n != ncols)
		return fail(ps, "%s%zu fields where the header has %zu",
			    n > F_COUNT ? "more than " : "", n > F_COUNT ? (size_t)F_COUNT : n,
			    ncols);
	memset(&r, 0, sizeof(r));
	for (size_t i = 0; i < n; i++) {
		if (strchr(cells[i], '"'))
			return fail(ps, "quoted fields are not supported");
		if (set_value(ps, &r, cols[i], cells[i]) != 0)
			return -1;
	}
	return add_row(ps, &r);
}

static int parse_jsonl_row(struct parser *ps, const char *line, size_t len)
{
	json_error_t jerr;
	json_t *obj = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	const char *key;
	json_t *val;
	struct row r;
	int rc = 0;

	if (!obj)
		return fail(ps, "invalid JSON at column %d: %s", jerr.column, jerr.text);
	if (!json_is_object(obj)) {
		json_decref(obj);
		return fail(ps, "expected a JSON object");
	}
	memset(&r, 0, sizeof(r));
	json_object_foreach(obj, key, val)
	{
		int f = find_field(key);

		if (f < 0) {
			rc = unknown_field(ps, "key", key);
			break;
		}
		if (json_is_null(val))
			continue; /* not reported */
		if (f == F_DEVICE) {
			if (!json_is_string(val)) {
				rc = fail(ps, "device: expected a string");
				break;
			}
			r.device = json_string_value(val);
		} else if (f == F_THROTTLE) {
			if (!json_is_integer(val) || json_integer_value(val) < 0) {
				rc = fail(ps, "throttle_reasons: expected a "
					      "non-negative integer");
				break;
			}
			r.throttle = (uint64_t)json_integer_value(val);
		} else {
			if (!json_is_number(val)) {
				rc = fail(ps, "%s: expected a number", key);
				break;
			}
			r.v[f] = json_number_value(val);
		}
		r.has[f] = true;
	}
	if (rc == 0)
		rc = add_row(ps, &r);
	json_decref(obj);
	return rc;
}

/*
 * Walks text line by line (it is modified in place). CSV skips blank and
 * '#' lines; JSON Lines skips blank lines only, so that a trace stays
 * readable by any JSON Lines tool.
 */
static int parse_text(struct parser *ps, char *text, bool csv)
{
	int cols[F_COUNT];
	size_t ncols = 0;
	bool header = false;
	char *line = text;

	while (*line) {
		char *nl = strchr(line, '\n');
		char *t;

		if (nl)
			*nl = '\0';
		ps->line++;
		t = trim(line);
		if (*t && !(csv && *t == '#')) {
			int rc;

			if (!csv)
				rc = parse_jsonl_row(ps, t, strlen(t));
			else if (!header)
				rc = parse_csv_header(ps, t, cols, &ncols);
			else
				rc = parse_csv_row(ps, t, cols, ncols);
			if (rc != 0)
				return -1;
			header = true;
		}
		if (!nl)
			break;
		line = nl + 1;
	}
	ps->line = 0;
	if (ps->src->count == 0)
		return fail(ps, "%s", csv && !header ? "no header row" : "no samples");
	return 0;
}

/* ---- playback ---- */

/* Samples (knots) whose t_s is <= tau: a binary search on sorted times. */
static size_t samples_upto(const struct replay_dev *d, double tau)
{
	size_t lo = 0, hi = d->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (d->samples[mid].t_s <= tau)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static size_t knots_upto(const struct replay_dev *d, double tau)
{
	size_t lo = 0, hi = d->nk;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (d->knots[mid].t_s <= tau)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Cumulative energy at tau: linear between knots, clamped at the ends. */
static double energy_at(const struct replay_dev *d, double tau)
{
	size_t j = knots_upto(d, tau);
	const struct replay_knot *a, *b;

	if (d->nk == 0)
		return NAN;
	if (j == 0)
		return d->knots[0].energy_j;
	if (j == d->nk)
		return d->knots[d->nk - 1].energy_j;
	a = &d->knots[j - 1];
	b = &d->knots[j];
	return a->energy_j + (b->energy_j - a->energy_j) * (tau - a->t_s) / (b->t_s - a->t_s);
}

static size_t resets_upto(const struct replay_dev *d, double tau)
{
	size_t j = knots_upto(d, tau);

	return j ? d->knots[j - 1].resets : 0;
}

static size_t replay_device_count(void *src)
{
	return ((struct replay_source *)src)->count;
}

static void replay_device_desc(void *src, size_t i, struct energy_device_desc *out)
{
	*out = ((struct replay_source *)src)->devs[i].desc;
}

static int replay_read(void *src, size_t i, uint64_t now_ns, struct energy_reading *out)
{
	struct replay_source *s = src;
	struct replay_dev *d = &s->devs[i];
	double tau; /* trace time, s; negative before the open */
	const struct replay_sample *smp;
	size_t k;

	if (now_ns >= s->start_ns)
		tau = (double)(now_ns - s->start_ns) / 1e9;
	else
		tau = -((double)(s->start_ns - now_ns) / 1e9);
	k = samples_upto(d, tau);
	smp = &d->samples[k ? k - 1 : 0];

	out->t_ns = now_ns;
	out->valid = true;
	out->counter_reset =
		tau > d->prev_tau_s && resets_upto(d, tau) > resets_upto(d, d->prev_tau_s);
	out->energy_j = energy_at(d, tau);
	out->power_w = smp->power_w;
	out->temperature_c = smp->temperature_c;
	out->memory_used_mb = smp->memory_used_mb;
	out->memory_total_mb = smp->memory_total_mb;
	out->utilization_pct = smp->utilization_pct;
	out->throttle_reasons = smp->throttle_reasons;
	d->prev_tau_s = tau;
	return 0;
}

static void replay_close(void *src)
{
	struct replay_source *s = src;

	if (!s)
		return;
	for (size_t i = 0; i < s->count; i++) {
		free(s->devs[i].samples);
		free(s->devs[i].knots);
	}
	free(s->devs);
	free(s);
}

static const struct energy_source_ops replay_ops = {
	.name = "replay",
	.device_count = replay_device_count,
	.device_desc = replay_device_desc,
	.read = replay_read,
	.close = replay_close,
};

uint64_t energy_replay_start_ns(void *src)
{
	return ((struct replay_source *)src)->start_ns;
}

int energy_replay_open(void **out, const struct energy_source_ops **ops, const char *path,
		       char **why)
{
	struct parser ps = { path, NULL, 0, NULL };
	struct replay_source *s;
	const char *base;
	char *text = NULL;
	size_t len;
	bool csv;
	int rc;

	*out = NULL;
	*ops = NULL;
	*why = NULL;
	if (str_ends_with(path, ".csv")) {
		csv = true;
	} else if (str_ends_with(path, ".jsonl")) {
		csv = false;
	} else {
		*why = xasprintf("replay: %s: unknown trace format "
				 "(expected a .csv or .jsonl file)",
				 path);
		return error_set(LLEM_EINVAL, "%s", *why);
	}
	rc = fs_read_file(path, &text, &len);
	if (rc != 0) {
		*why = xasprintf("replay: %s", error_last());
		return error_set(rc, "%s", *why);
	}
	s = xcalloc(1, sizeof(*s));
	ps.src = s;
	if (strlen(text) != len)
		rc = fail(&ps, "not a text file (NUL byte)");
	else
		rc = parse_text(&ps, text, csv);
	free(text);
	if (rc != 0) {
		replay_close(s);
		*why = ps.err;
		return error_set(LLEM_EINVAL, "%s", *why);
	}
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	for (size_t i = 0; i < s->count; i++)
		snprintf(s->devs[i].desc.label, sizeof(s->devs[i].desc.label), "replay of %s",
			 base);
	/* playback starts after parsing, which may take a while */
	s->start_ns = clock_monotonic_ns();
	*out = s;
	*ops = &replay_ops;
	return 0;
}
