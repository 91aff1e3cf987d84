#include "jsonutil.h"

#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "proc.h"
#include "timeutil.h"
#include "xalloc.h"

int json_write_atomic(const char *path, const cJSON *obj, struct wl_err *err)
{
	char *text = cJSON_Print(obj);
	if (!text)
		return err_set(err, "cannot serialise JSON for '%s'", path);
	size_t n = strlen(text);
	char *buf = xmalloc(n + 2);
	memcpy(buf, text, n);
	buf[n] = '\n';
	buf[n + 1] = '\0';
	cJSON_free(text);
	int r = fs_write_atomic(path, buf, n + 1, err);
	free(buf);
	return r;
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
	char *t = cJSON_PrintUnformatted(obj);
	if (!t)
		return xstrdup("null");
	char *s = xstrdup(t);
	cJSON_free(t);
	return s;
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
