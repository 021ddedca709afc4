/*
 * The energy meter: the sources a config selects, opened together, with
 * one flat list of devices and one lock, so the sampler thread and the
 * measurement edges can read without racing.
 */
#include "energy/energy.h"
#include "llem/errors.h"
#include "util/util.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct meter_source {
	void *src;
	const struct energy_source_ops *ops;
	size_t first, count; /* its devices in the flat list */
};

struct energy_meter {
	struct meter_source sources[3];
	size_t nsources;
	struct energy_device_desc *devices;
	size_t ndevices;
	char *why_none;
	pthread_mutex_t lock;
};

typedef int (*opener)(void **, const struct energy_source_ops **, const char *, char **);

static int add_source(struct energy_meter *m, opener open, const char *arg, struct strbuf *why)
{
	struct meter_source *ms = &m->sources[m->nsources];
	char *reason = NULL;
	size_t i;
	int rc = open(&ms->src, &ms->ops, arg, &reason);

	if (rc) {
		if (why->len)
			strbuf_adds(why, "; ");
		strbuf_adds(why, reason ? reason : error_last());
		free(reason);
		return rc;
	}
	ms->first = m->ndevices;
	ms->count = ms->ops->device_count(ms->src);
	m->devices = xrealloc(m->devices, (m->ndevices + ms->count) * sizeof(*m->devices));
	for (i = 0; i < ms->count; i++)
		ms->ops->device_desc(ms->src, i, &m->devices[m->ndevices + i]);
	m->ndevices += ms->count;
	m->nsources++;
	return 0;
}

int energy_meter_open(struct energy_meter **out, const struct energy_meter_opts *o)
{
	struct energy_meter *m = xcalloc(1, sizeof(*m));
	struct strbuf why = STRBUF_INIT;
	const char *b = o->backend;
	int rc = 0;

	*out = NULL;
	pthread_mutex_init(&m->lock, NULL);
	if (!b) {
		strbuf_adds(&why, "energy measurement disabled (energy.backend: null)");
	} else if (!strcmp(b, "auto")) {
		/* Every counter that can be read; none is not an error. */
		add_source(m, energy_nvml_open, o->cuda_visible, &why);
		add_source(m, energy_rapl_open, o->rapl_root ? o->rapl_root : RAPL_DEFAULT_ROOT,
			   &why);
	} else if (!strcmp(b, "nvml")) {
		rc = add_source(m, energy_nvml_open, o->cuda_visible, &why);
	} else if (!strcmp(b, "rapl")) {
		rc = add_source(m, energy_rapl_open,
				o->rapl_root ? o->rapl_root : RAPL_DEFAULT_ROOT, &why);
	} else if (!strcmp(b, "replay")) {
		rc = o->replay_file ? add_source(m, energy_replay_open, o->replay_file, &why)
				    : error_set(LLEM_EINVAL, "replay needs energy.replay_file");
	} else {
		rc = error_set(LLEM_EINVAL, "unknown energy backend '%s'", b);
	}
	if (rc) {
		rc = error_set(LLEM_ENOTSUP, "energy.backend is %s but %s", b,
			       why.len ? why.buf : error_last());
		strbuf_release(&why);
		energy_meter_close(m);
		return rc;
	}
	if (m->ndevices == 0)
		m->why_none = strbuf_detach(&why);
	strbuf_release(&why);
	*out = m;
	return 0;
}

void energy_meter_close(struct energy_meter *m)
{
	size_t i;

	if (!m)
		return;
	for (i = 0; i < m->nsources; i++)
		m->sources[i].ops->close(m->sources[i].src);
	pthread_mutex_destroy(&m->lock);
	free(m->devices);
	free(m->why_none);
	free(m);
}

size_t energy_meter_device_count(const struct energy_meter *m)
{
	return m->ndevices;
}

const struct energy_device_desc *energy_meter_device(const struct energy_meter *m, size_t i)
{
	return &m->devices[i];
}

const char *energy_meter_why_none(const struct energy_meter *m)
{
	return m->ndevices ? NULL : m->why_none;
}

void energy_meter_read(struct energy_meter *m, struct energy_reading *out)
{
	size_t s, i;

	pthread_mutex_lock(&m->lock);
	for (s = 0; s < m->nsources; s++) {
		const struct meter_source *ms = &m->sources[s];

		for (i = 0; i < ms->count; i++) {
			struct energy_reading *r = &out[ms->first + i];
			uint64_t now = clock_monotonic_ns();

			/* Unreported fields stay NAN whatever the source fills. */
			memset(r, 0, sizeof(*r));
			r->energy_j = r->power_w = r->temperature_c = NAN;
			r->memory_used_mb = r->memory_total_mb = r->utilization_pct = NAN;
			r->t_ns = now;
			if (ms->ops->read(ms->src, i, now, r) != 0)
				r->valid = false;
			r->t_ns = now;
		}
	}
	pthread_mutex_unlock(&m->lock);
}
