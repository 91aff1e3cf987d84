#include "jsonutil.h"

#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "proc.h"
#include "timeutil.h"
#include "xalloc.h"

int json_write_atomic(const char *path, const cJSON *obj, struct wl_err *err)
{
	struct strbuf sb = STRBUF_INIT;
	if (json_print_sb(&sb, obj, 1) < 0) {
		strbuf_release(&sb);
		return err_set(err, "cannot serialise JSON for '%s'", path);
	}
	strbuf_addch(&sb, '\n');
	int r = fs_write_atomic(path, sb.buf, sb.len, err);
	strbuf_release(&sb);
	return r;
}

/* ---- printing (cJSON 1.7.x's text, cheaper) ----------------------------- */

static int same_double(double a, double b)   /* cJSON's compare_double */
{
	double max = fabs(a) > fabs(b) ? fabs(a) : fabs(b);
	return fabs(a - b) <= max * DBL_EPSILON;
}

/* strbuf_add / strbuf_addch without a call when there is room */
static inline void put(struct strbuf *sb, const char *p, size_t n)
{
	if (sb->alloc - sb->len <= n)
		strbuf_grow(sb, n);
	memcpy(sb->buf + sb->len, p, n);
	sb->len += n;
	sb->buf[sb->len] = '\0';
}

static inline void putc_(struct strbuf *sb, char c)
{
	if (sb->alloc - sb->len <= 1)
		strbuf_grow(sb, 1);
	sb->buf[sb->len++] = c;
	sb->buf[sb->len] = '\0';
}

static void print_number(struct strbuf *sb, double d)
{
	char buf[32];
	if (isnan(d) || isinf(d)) {
		put(sb, "null", 4);
		return;
	}
	/* An integer of at most 15 digits: "%1.15g" prints its digits, exactly. */
	if (d > -1e15 && d < 1e15 && d == (double)(long long)d && !(d == 0 && signbit(d))) {
		long long v = (long long)d;
		unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
		char *e = buf + sizeof(buf), *p = e;
		do
			*--p = (char)('0' + u % 10);
		while ((u /= 10) != 0);
		if (v < 0)
			*--p = '-';
		put(sb, p, (size_t)(e - p));
		return;
	}
	int n = snprintf(buf, sizeof(buf), "%1.15g", d);
	char *end = NULL;
	double back = strtod(buf, &end);
	if (end == buf || !same_double(back, d))
		n = snprintf(buf, sizeof(buf), "%1.17g", d);
	if (n < 0 || (size_t)n >= sizeof(buf))
		n = 0;
	const struct lconv *lc = localeconv();
	char point = lc && lc->decimal_point ? lc->decimal_point[0] : '.';
	for (int i = 0; point != '.' && i < n; i++)
		if (buf[i] == point)
			buf[i] = '.';
	put(sb, buf, (size_t)n);
}

static void print_string(struct strbuf *sb, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	putc_(sb, '"');
	if (s) {
		/* Eight bytes at a time up to the first one to escape (a control
		 * character, '"' or '\\'), then byte by byte. */
		size_t n = strlen(s), i = 0;
		const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
		for (; i + 8 <= n; i += 8) {
			uint64_t w, q, b;
			memcpy(&w, s + i, 8);
			q = w ^ (ones * '"');
			b = w ^ (ones * '\\');
			if (((w - ones * 0x20) & ~w & highs) | ((q - ones) & ~q & highs) | ((b - ones) & ~b & highs))
				break;
		}
		put(sb, s, i);
		const char *run = s + i;
		for (const unsigned char *p = (const unsigned char *)run;; p++) {
			unsigned char c = *p;
			if (c > 31 && c != '"' && c != '\\')
				continue;
			put(sb, run, (size_t)((const char *)p - run));
			if (!c)
				break;
			char esc[6] = {'\\', 0};
			size_t len = 2;
			switch (c) {
			case '"': esc[1] = '"'; break;
			case '\\': esc[1] = '\\'; break;
			case '\b': esc[1] = 'b'; break;
			case '\f': esc[1] = 'f'; break;
			case '\n': esc[1] = 'n'; break;
			case '\r': esc[1] = 'r'; break;
			case '\t': esc[1] = 't'; break;
			default:
				esc[1] = 'u';
				esc[2] = '0';
				esc[3] = '0';
				esc[4] = hex[c >> 4];
				esc[5] = hex[c & 15];
				len = 6;
			}
			put(sb, esc, len);
			run = (const char *)p + 1;
		}
	}
	putc_(sb, '"');
}

static void tabs(struct strbuf *sb, size_t n)
{
	strbuf_grow(sb, n);
	memset(sb->buf + sb->len, '\t', n);
	sb->len += n;
	sb->buf[sb->len] = '\0';
}

static int print_value(struct strbuf *sb, const cJSON *v, int fmt, size_t depth)
{
	switch (v->type & 0xFF) {
	case cJSON_NULL:
		put(sb, "null", 4);
		return 0;
	case cJSON_False:
		put(sb, "false", 5);
		return 0;
	case cJSON_True:
		put(sb, "true", 4);
		return 0;
	case cJSON_Number:
		print_number(sb, v->valuedouble);
		return 0;
	case cJSON_Raw:
		if (!v->valuestring)
			return -1;
		put(sb, v->valuestring, strlen(v->valuestring));
		return 0;
	case cJSON_String:
		print_string(sb, v->valuestring);
		return 0;
	case cJSON_Array:
		putc_(sb, '[');
		for (const cJSON *c = v->child; c; c = c->next) {
			if (print_value(sb, c, fmt, depth + 1) < 0)
				return -1;
			if (c->next)
				put(sb, ", ", fmt ? 2 : 1);
		}
		putc_(sb, ']');
		return 0;
	case cJSON_Object:
		put(sb, "{\n", fmt ? 2 : 1);
		for (const cJSON *c = v->child; c; c = c->next) {
			if (fmt)
				tabs(sb, depth + 1);
			print_string(sb, c->string);
			put(sb, ":\t", fmt ? 2 : 1);
			if (print_value(sb, c, fmt, depth + 1) < 0)
				return -1;
			if (c->next)
				putc_(sb, ',');
			if (fmt)
				putc_(sb, '\n');
		}
		if (fmt)
			tabs(sb, depth);
		putc_(sb, '}');
		return 0;
	default:
		return -1;
	}
}

int json_print_sb(struct strbuf *sb, const cJSON *v, int formatted)
{
	if (!v)
		return -1;
	strbuf_grow(sb, 0);   /* a buffer even for an empty text */
	return print_value(sb, v, formatted, 0);
}

char *json_print(const cJSON *v, int formatted)
{
	struct strbuf sb = STRBUF_INIT;
	if (json_print_sb(&sb, v, formatted) < 0) {
		strbuf_release(&sb);
		return NULL;
	}
	return strbuf_detach(&sb);
}

cJSON *json_read_file(const char *path, size_t max, struct wl_err *err)
{
	struct strbuf sb = STRBUF_INIT;
	if (fs_read_file(path, max, &sb, err) < 0) {
		strbuf_release(&sb);
		return NULL;
	}
	if (json_too_deep(strbuf_str(&sb), sb.len)) {
		strbuf_release(&sb);
		err_set(err, "'%s': nesting deeper than %d", path, JSON_MAX_DEPTH);
		return NULL;
	}
	cJSON *j = cJSON_ParseWithLength(strbuf_str(&sb), sb.len);
	strbuf_release(&sb);
	if (!j)
		err_set(err, "'%s' is not valid JSON", path);
	return j;
}

int json_too_deep(const char *text, size_t len)
{
	int depth = 0, in_string = 0;
	for (size_t i = 0; i < len; i++) {
		char c = text[i];
		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = 0;
		} else if (c == '"') {
			in_string = 1;
		} else if (c == '[' || c == '{') {
			if (++depth > JSON_MAX_DEPTH)
				return 1;
		} else if ((c == ']' || c == '}') && depth > 0) {
			depth--;
		}
	}
	return 0;
}

char *json_compact(const cJSON *obj)
{
	char *s = json_print(obj, 0);
	return s ? s : xstrdup("null");
}

cJSON *json_string_array(const struct strvec *sv)
{
	cJSON *a = cJSON_CreateArray();
	for (size_t i = 0; i < sv->n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(sv->v[i]));
	return a;
}

void json_push_strings(struct strvec *out, const cJSON *arr)
{
	const cJSON *x;
	if (cJSON_IsArray(arr))
		cJSON_ArrayForEach(x, arr)
			if (cJSON_IsString(x))
				strvec_push(out, x->valuestring);
}

const char *json_get_string(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

const char *json_get_str_or(const cJSON *obj, const char *key, const char *dflt)
{
	const char *s = json_get_string(obj, key);
	return s ? s : dflt;
}

int json_has_number(const cJSON *obj, const char *key, double *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (!cJSON_IsNumber(v))
		return 0;
	*out = v->valuedouble;
	return 1;
}

double json_get_number(const cJSON *obj, const char *key, double dflt)
{
	double d = dflt;
	return json_has_number(obj, key, &d) ? d : dflt;
}

int json_get_int(const cJSON *obj, const char *key, int dflt)
{
	double d = 0;
	return json_has_number(obj, key, &d) ? (int)d : dflt;
}

int json_get_bool(const cJSON *obj, const char *key)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(obj, key));
}

cJSON *json_signals_sent(unsigned sent)
{
	cJSON *a = cJSON_CreateArray();
	if (sent & PROC_SENT_SIGINT)
		cJSON_AddItemToArray(a, cJSON_CreateString("SIGINT"));
	if (sent & PROC_SENT_SIGTERM)
		cJSON_AddItemToArray(a, cJSON_CreateString("SIGTERM"));
	if (sent & PROC_SENT_SIGKILL)
		cJSON_AddItemToArray(a, cJSON_CreateString("SIGKILL"));
	return a;
}

void json_add_string_or_null(cJSON *obj, const char *key, const char *v)
{
	if (v)
		cJSON_AddStringToObject(obj, key, v);
	else
		cJSON_AddNullToObject(obj, key);
}

void json_add_time(cJSON *obj, const char *key, int64_t wall_ms)
{
	if (wall_ms <= 0) {
		cJSON_AddNullToObject(obj, key);
		return;
	}
	char buf[40];
	time_format_rfc3339(wall_ms, buf, sizeof(buf));
	cJSON_AddStringToObject(obj, key, buf);
}
