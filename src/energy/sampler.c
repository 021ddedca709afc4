/*
 * The sampler: one thread per experiment reading every device at a fixed
 * period on absolute CLOCK_MONOTONIC deadlines. All memory is allocated
 * before the thread starts; the loop only reads and stores, so it neither
 * allocates nor perturbs the workload beyond the reads themselves.
 */
#include "energy/energy.h"
#include "llem/errors.h"
#include "util/util.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct energy_sampler {
	struct energy_meter *meter;
	size_t ndev, capacity;
	uint64_t interval_ns;
	struct energy_reading *buf; /* capacity x ndev */
	atomic_size_t count;
	atomic_size_t dropped;
	atomic_bool stop;
	atomic_uint_fast64_t cpu_ns;
	pthread_t thread;
	bool running;
};

static void *sampler_main(void *arg)
{
	struct energy_sampler *s = arg;
	struct timespec next, cpu;
	/* Row `capacity` is scratch for reads once the buffer is full. */
	struct energy_reading *scratch = s->buf + s->capacity * s->ndev;

	clock_gettime(CLOCK_MONOTONIC, &next);
	while (!atomic_load(&s->stop)) {
		size_t k = atomic_load(&s->count);

		if (k < s->capacity) {
			energy_meter_read(s->meter, s->buf + k * s->ndev);
			atomic_store(&s->count, k + 1);
		} else {
			/* Keep reading so RAPL counters never miss a wrap. */
			energy_meter_read(s->meter, scratch);
			atomic_fetch_add(&s->dropped, 1);
		}
		next.tv_nsec += (long)(s->interval_ns % 1000000000u);
		next.tv_sec += (time_t)(s->interval_ns / 1000000000u);
		if (next.tv_nsec >= 1000000000L) {
			next.tv_nsec -= 1000000000L;
			next.tv_sec++;
		}
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
			;
	}
	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu) == 0)
		atomic_store(&s->cpu_ns,
			     (uint64_t)cpu.tv_sec * 1000000000u + (uint64_t)cpu.tv_nsec);
	return NULL;
}

int energy_sampler_start(struct energy_sampler **out, struct energy_meter *m, unsigned interval_ms,
			 size_t capacity)
{
	struct energy_sampler *s = xcalloc(1, sizeof(*s));
	int err;

	*out = NULL;
	if (interval_ms < 10 || capacity < 2) {
		free(s);
		return error_set(LLEM_EINVAL, "sampler needs an interval of at least 10 ms");
	}
	s->meter = m;
	s->ndev = energy_meter_device_count(m);
	s->capacity = capacity;
	s->interval_ns = (uint64_t)interval_ms * 1000000u;
	s->buf = xcalloc((capacity + 1) * (s->ndev ? s->ndev : 1), sizeof(*s->buf));
	atomic_init(&s->count, 0);
	atomic_init(&s->dropped, 0);
	atomic_init(&s->stop, false);
	atomic_init(&s->cpu_ns, 0);
	if (s->ndev == 0) {
		/* Nothing to sample: a sampler that holds no samples. */
		*out = s;
		return 0;
	}
	err = pthread_create(&s->thread, NULL, sampler_main, s);
	if (err) {
		free(s->buf);
		free(s);
		errno = err;
		return error_set_errno(LLEM_ERROR, "cannot start the sampler thread");
	}
	s->running = true;
	*out = s;
	return 0;
}

void energy_sampler_stop(struct energy_sampler *s)
{
	if (!s || !s->running)
		return;
	atomic_store(&s->stop, true);
	pthread_join(s->thread, NULL);
	s->running = false;
}

void energy_sampler_free(struct energy_sampler *s)
{
	if (!s)
		return;
	energy_sampler_stop(s);
	free(s->buf);
	free(s);
}

size_t energy_sampler_count(const struct energy_sampler *s)
{
	return atomic_load(&((struct energy_sampler *)s)->count);
}

size_t energy_sampler_dropped(const struct energy_sampler *s)
{
	return atomic_load(&((struct energy_sampler *)s)->dropped);
}

const struct energy_reading *energy_sampler_sample(const struct energy_sampler *s, size_t k)
{
	return s->buf + k * s->ndev;
}

uint64_t energy_sampler_cpu_ns(const struct energy_sampler *s)
{
	return atomic_load(&((struct energy_sampler *)s)->cpu_ns);
}
