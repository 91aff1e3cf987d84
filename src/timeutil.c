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

/* Two decimal digits of v (0..99) at p. */
static void put2(char *p, int v)
{
	p[0] = (char)('0' + v / 10);
	p[1] = (char)('0' + v % 10);
}

void time_format_rfc3339(int64_t wall_ms, char *buf, size_t size)
{
	int64_t secs = wall_ms / 1000;
	int ms = (int)(wall_ms % 1000);
	char text[64];
	/* 1970-01-01 to 9999-12-31: the civil date computed directly (H. Hinnant's
	 * civil_from_days), the same text as gmtime_r + strftime at a fraction
	 * of their cost (events and documents are written many per second). */
	if (ms >= 0 && secs >= 0 && secs < 253402300800LL) {
		int64_t days = secs / 86400, rem = secs % 86400;
		int64_t z = days + 719468, era = z / 146097;
		int64_t doe = z - era * 146097;
		int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
		int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
		int64_t mp = (5 * doy + 2) / 153;
		int d = (int)(doy - (153 * mp + 2) / 5 + 1), m = (int)(mp < 10 ? mp + 3 : mp - 9);
		int y = (int)(yoe + era * 400 + (m <= 2));
		put2(text, y / 100);
		put2(text + 2, y % 100);
		text[4] = '-';
		put2(text + 5, m);
		text[7] = '-';
		put2(text + 8, d);
		text[10] = 'T';
		put2(text + 11, (int)(rem / 3600));
		text[13] = ':';
		put2(text + 14, (int)(rem / 60 % 60));
		text[16] = ':';
		put2(text + 17, (int)(rem % 60));
		text[19] = '.';
		text[20] = (char)('0' + ms / 100);
		put2(text + 21, ms % 100);
		text[23] = 'Z';
		text[24] = '\0';
	} else {   /* as it always was written */
		time_t t = (time_t)secs;
		struct tm tm;
		gmtime_r(&t, &tm);
		char base[32], tail[16];
		strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(tail, sizeof(tail), ".%03dZ", ms);
		snprintf(text, sizeof(text), "%s%s", base, tail);
	}
	if (size) {   /* cut short like snprintf */
		size_t n = strlen(text);
		if (n >= size)
			n = size - 1;
		memcpy(buf, text, n);
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

void duration_format_seconds(double s, char *buf, size_t size)
{
	if (s < 60)
		snprintf(buf, size, "%.1fs", s);
	else
		duration_format((int64_t)(s + 0.5) * 1000, buf, size);
}
