/*
 * timeutil: clocks and durations.
 *
 * All deadlines in the program are absolute CLOCK_MONOTONIC milliseconds
 * (time_now_ms()); wall-clock time is only for artifacts (time_wall_ms(),
 * RFC 3339 UTC with milliseconds).
 *
 * Durations in workflows follow SPEC §4.2: one or more <digits><unit> groups,
 * unit ms|s|m|h, e.g. "200ms", "10s", "1h30m". Values are milliseconds.
 */
#ifndef WAITLOOP_TIMEUTIL_H
#define WAITLOOP_TIMEUTIL_H
#include <stddef.h>
#include <stdint.h>

int64_t time_now_ms(void);     /* monotonic */
int64_t time_wall_ms(void);    /* ms since the epoch */
/* Format wall ms as 2026-11-21T04:30:00.123Z into buf (at least 32 bytes). */
void time_format_rfc3339(int64_t wall_ms, char *buf, size_t size);

/* Parse a duration; returns 0 and sets *ms, or -1 (bad syntax or overflow). */
int duration_parse(const char *s, int64_t *ms);
/* Shortest exact form: 90000 -> "1m30s", 200 -> "200ms", 0 -> "0s". */
void duration_format(int64_t ms, char *buf, size_t size);
/* Seconds for people: 12.3 -> "12.3s" below a minute, else duration_format
 * to the second: 90.4 -> "1m30s". */
void duration_format_seconds(double s, char *buf, size_t size);

#endif
