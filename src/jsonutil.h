/*
 * jsonutil: small helpers over cJSON used by every artifact writer.
 * Ownership: functions taking a cJSON * never free it unless named *_take.
 */
#ifndef WAITLOOP_JSONUTIL_H
#define WAITLOOP_JSONUTIL_H
#include <cjson/cJSON.h>
#include <stdint.h>

#include "error.h"
#include "strvec.h"

/* Pretty-print obj and write it atomically (with a trailing newline). */
int json_write_atomic(const char *path, const cJSON *obj, struct wl_err *err);
/* Parse a file holding one JSON value; max bytes. Caller cJSON_Deletes. */
cJSON *json_read_file(const char *path, size_t max, struct wl_err *err);
/* JSON read from outside (probe output, decision files, classifier output)
 * may nest at most this deep. cJSON's own limit (CJSON_NESTING_LIMIT) is
 * fixed when the library is built (1000 in Debian's), so it is checked
 * here, before parsing, in one pass. */
#define JSON_MAX_DEPTH 256
/* 1 when text nests arrays/objects deeper than JSON_MAX_DEPTH. */
int json_too_deep(const char *text, size_t len);
/* Compact one-line form, caller frees. */
char *json_compact(const cJSON *obj);
/* A JSON array of strings from a strvec. */
cJSON *json_string_array(const struct strvec *sv);
/* The strings of a JSON array pushed onto out (other items and a non-array: nothing). */
void json_push_strings(struct strvec *out, const cJSON *arr);
/* proc_result.signals_sent (PROC_SENT_* bits) as ["SIGINT","SIGTERM","SIGKILL"]. */
cJSON *json_signals_sent(unsigned sent);
/*
 * The one getter set over a cJSON object (obj may be NULL; a missing key or a
 * value of another type gives the default).
 */
/* obj[key] as a string, or NULL. */
const char *json_get_string(const cJSON *obj, const char *key);
/* obj[key] as a string, or dflt. */
const char *json_get_str_or(const cJSON *obj, const char *key, const char *dflt);
/* obj[key] as a number, or dflt. */
double json_get_number(const cJSON *obj, const char *key, double dflt);
/* obj[key] as a number truncated to int, or dflt. */
int json_get_int(const cJSON *obj, const char *key, int dflt);
/* 1 and *out set when obj[key] is a number, else 0. */
int json_has_number(const cJSON *obj, const char *key, double *out);
/* 1 when obj[key] is true, else 0. */
int json_get_bool(const cJSON *obj, const char *key);
/* obj[key] = v, or null when v is NULL. */
void json_add_string_or_null(cJSON *obj, const char *key, const char *v);
/* obj[key] = wall_ms as RFC 3339 UTC, or null when wall_ms <= 0. */
void json_add_time(cJSON *obj, const char *key, int64_t wall_ms);

#endif
