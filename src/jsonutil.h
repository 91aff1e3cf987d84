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
/* proc_result.signals_sent (PROC_SENT_* bits) as ["SIGINT","SIGTERM","SIGKILL"]. */
cJSON *json_signals_sent(unsigned sent);
/* obj[key] as a string, or NULL. */
const char *json_get_string(const cJSON *obj, const char *key);
/* obj[key] = v, or null when v is NULL. */
void json_add_string_or_null(cJSON *obj, const char *key, const char *v);
/* obj[key] = wall_ms as RFC 3339 UTC, or null when wall_ms <= 0. */
void json_add_time(cJSON *obj, const char *key, int64_t wall_ms);

#endif
