#include "timeutil.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t time_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t time_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void time_format_rfc3339(int64_t wall_ms, char *buf, size_t size)
{
	/* Events and documents come many per second: the last second's text is
	 * kept, and only the milliseconds are written (gmtime_r + strftime cost
	 * far more). */
	static int64_t last_secs = INT64_MIN;
	static char last_base[32];
	int64_t secs = wall_ms / 1000;
	int ms = (int)(wall_ms % 1000);
	if (ms < 0 || secs != last_secs) {
		time_t t = (time_t)secs;
		struct tm tm;
		gmtime_r(&t, &tm);
		char base[32];
		strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
		if (ms < 0) {   /* before 1970: as it always was written ("%s.%03dZ") */
			char tail[16];
			snprintf(tail, sizeof(tail), ".%03dZ", ms);
			snprintf(buf, size, "%s%s", base, tail);
			return;
		}
		memcpy(last_base, base, sizeof(base));
		last_secs = secs;
	}
	char tail[6] = {'.', (char)('0' + ms / 100), (char)('0' + ms / 10 % 10), (char)('0' + ms % 10), 'Z', 0};
	char full[40];
	size_t n = strlen(last_base);
	memcpy(full, last_base, n);
	memcpy(full + n, tail, sizeof(tail));
	if (size) {   /* cut short like snprintf */
		n += sizeof(tail) - 1;
		if (n >= size)
			n = size - 1;
		memcpy(buf, full, n);
		buf[n] = '\0';
	}
}

int duration_parse(const char *s, int64_t *ms)
{
	if (!s || !*s)
		return -1;
	int64_t total = 0;
	const char *p = s;
	while (*p) {
		if (*p < '0' || *p > '9')
			return -1;
		int64_t n = 0;
		while (*p >= '0' && *p <= '9') {
			if (n > (INT64_MAX - 9) / 10)
				return -1;
			n = n * 10 + (*p++ - '0');
		}
		int64_t unit;
		if (p[0] == 'm' && p[1] == 's') {
			unit = 1;
			p += 2;
		} else if (*p == 's') {
			unit = 1000;
			p++;
		} else if (*p == 'm') {
			unit = 60000;
			p++;
		} else if (*p == 'h') {
			unit = 3600000;
			p++;
		} else {
			return -1;
		}
		if (n > (INT64_MAX - total) / unit)
			return -1;
		total += n * unit;
	}
	*ms = total;
	return 0;
}

void duration_format(int64_t ms, char *buf, size_t size)
{
	if (ms <= 0) {
		snprintf(buf, size, "0s");
		return;
	}
	int64_t h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60, r = ms % 1000;
	size_t off = 0;
	buf[0] = '\0';
#define PART(v, u)                                                                        \
	if ((v) && off < size)                                                            \
		off += (size_t)snprintf(buf + off, size - off, "%lld%s", (long long)(v), u);
	PART(h, "h")
	PART(m, "m")
	PART(s, "s")
	PART(r, "ms")
#undef PART
}
