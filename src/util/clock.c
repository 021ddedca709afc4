/*
 * Clocks. Every interval llem measures comes from CLOCK_MONOTONIC; the
 * realtime clock is used only for human-readable UTC records.
 */
#include "util/util.h"

#include <time.h>

uint64_t clock_monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int64_t clock_realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void time_format_utc(struct strbuf *out, int64_t unix_ns)
{
	time_t secs = (time_t)(unix_ns / 1000000000);
	long usec = (long)((unix_ns % 1000000000) / 1000);
	struct tm tm;
	char buf[32];

	if (usec < 0) {
		usec += 1000000;
		secs -= 1;
	}
	gmtime_r(&secs, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	strbuf_addf(out, "%s.%06ldZ", buf, usec);
}
