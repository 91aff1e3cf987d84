#include "report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"
#include "strvec.h"
#include "xalloc.h"

struct report {
	cJSON *steps;      /* object: step id -> {checks:[], waits:[], iter_start:{n: ts}} */
	char *run_reason;  /* run_finished data.reason */
};

struct report *report_new(void)
{
	struct report *rp = xcalloc(1, sizeof(*rp));
	rp->steps = cJSON_CreateObject();
	return rp;
}

void report_free(struct report *rp)
{
	if (!rp)
		return;
	cJSON_Delete(rp->steps);
	free(rp->run_reason);
	free(rp);
}

static cJSON *step_entry(struct report *rp, const char *step)
{
	cJSON *s = cJSON_GetObjectItemCaseSensitive(rp->steps, step);
	if (!s) {
		s = cJSON_AddObjectToObject(rp->steps, step);
		cJSON_AddArrayToObject(s, "checks");
		cJSON_AddArrayToObject(s, "waits");
		cJSON_AddObjectToObject(s, "iter_start");
	}
	return s;
}

/* Copy data[key] (any type) into dst when present. */
static void copy_field(cJSON *dst, const cJSON *data, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(data, key);
	if (v)
		cJSON_AddItemToObject(dst, key, cJSON_Duplicate(v, 1));
}

static void copy_string_or_null(cJSON *dst, const cJSON *data, const char *key)
{
	const char *s = json_get_string(data, key);
	if (s)
		cJSON_AddStringToObject(dst, key, s);
	else
		cJSON_AddNullToObject(dst, key);
}

/* copy_field() for each of fields, then copy_string_or_null() for each of files (both NULL-terminated). */
static void copy_fields(cJSON *dst, const cJSON *src, const char *const *fields, const char *const *files)
{
	for (; *fields; fields++)
		copy_field(dst, src, *fields);
	for (; *files; files++)
		copy_string_or_null(dst, src, *files);
}

static void on_iteration_finished(struct report *rp, const struct wl_event *ev)
{
	cJSON *s = step_entry(rp, ev->step);
	cJSON *c = cJSON_CreateObject();
	cJSON_AddNumberToObject(c, "iteration", ev->iteration);
	static const char *const fields[] = {"decision", "source", "message", "reasons", "fingerprints", NULL};
	static const char *const files[] = {"verdict_file", "wait_failure_file", NULL};
	copy_fields(c, ev->data, fields, files);
	char key[32];
	snprintf(key, sizeof(key), "%d", ev->iteration);
	const cJSON *t0 = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(s, "iter_start"), key);
	double d = cJSON_IsNumber(t0) ? (double)(ev->ts_ms - (int64_t)t0->valuedouble) / 1000.0 : 0;
	cJSON_AddNumberToObject(c, "duration_s", d < 0 ? 0 : d);
	cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(s, "checks"), c);
}

static void on_wait_finished(struct report *rp, const struct wl_event *ev)
{
	cJSON *s = step_entry(rp, ev->step);
	cJSON *w = cJSON_CreateObject();
	copy_field(w, ev->data, "phase");
	cJSON_AddNumberToObject(w, "iteration", ev->iteration);
	static const char *const fields[] = {"target", "outcome", "early_abort", "elapsed_s", "observations",
					     "fingerprints", "message", NULL};
	static const char *const files[] = {"failure_file", NULL};
	copy_fields(w, ev->data, fields, files);
	cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(s, "waits"), w);
}

void report_sink(void *report, const struct wl_event *ev)
{
	struct report *rp = report;
	switch (ev->type) {
	case EV_ITERATION_STARTED:
		if (ev->step) {
			char key[32];
			snprintf(key, sizeof(key), "%d", ev->iteration);
			cJSON *starts = cJSON_GetObjectItemCaseSensitive(step_entry(rp, ev->step), "iter_start");
			cJSON_DeleteItemFromObjectCaseSensitive(starts, key);
			cJSON_AddNumberToObject(starts, key, (double)ev->ts_ms);
		}
		break;
	case EV_ITERATION_FINISHED:
		if (ev->step)
			on_iteration_finished(rp, ev);
		break;
	case EV_WAIT_FINISHED:
		if (ev->step)
			on_wait_finished(rp, ev);
		break;
	case EV_RUN_FINISHED: {
		const char *why = json_get_string(ev->data, "reason");
		if (why) {
			free(rp->run_reason);
			rp->run_reason = xstrdup(why);
		}
		break;
	}
	default:
		break;
	}
}

/* Sorted, de-duplicated union of the fingerprints of every check and wait. */
static cJSON *fingerprint_union(const cJSON *checks, const cJSON *waits)
{
	struct strvec all = STRVEC_INIT;
	const cJSON *lists[2] = {checks, waits}, *item, *fp;
	for (int l = 0; l < 2; l++)
		cJSON_ArrayForEach(item, lists[l])
			cJSON_ArrayForEach(fp, cJSON_GetObjectItemCaseSensitive(item, "fingerprints"))
				if (cJSON_IsString(fp))
					strvec_push(&all, fp->valuestring);
	strvec_sort_unique(&all);
	cJSON *out = json_string_array(&all);
	strvec_clear(&all);
	return out;
}

/* A completion check's guard writes wait-failure.json into the step directory,
 * overwritten by the next iteration: point at the iteration's archived copy. */
static void archived_failure_paths(cJSON *waits, const cJSON *checks)
{
	cJSON *w;
	const cJSON *c;
	cJSON_ArrayForEach(w, waits) {
		double it = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(w, "iteration"));
		if (!json_get_string(w, "failure_file") || !(it > 0))
			continue;
		cJSON_ArrayForEach(c, checks) {
			const char *a = json_get_string(c, "wait_failure_file");
			if (a && cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(c, "iteration")) == it)
				cJSON_ReplaceItemInObjectCaseSensitive(w, "failure_file", cJSON_CreateString(a));
		}
	}
}

void report_augment(const struct report *rp, cJSON *summary)
{
	int early_aborts = 0;
	cJSON *st;
	cJSON_ArrayForEach(st, cJSON_GetObjectItemCaseSensitive(summary, "steps")) {
		const char *id = json_get_string(st, "id");
		const cJSON *e = id ? cJSON_GetObjectItemCaseSensitive(rp->steps, id) : NULL;
		const cJSON *checks = cJSON_GetObjectItemCaseSensitive(e, "checks");
		const cJSON *waits = cJSON_GetObjectItemCaseSensitive(e, "waits");
		cJSON_AddItemToObject(st, "fingerprints", fingerprint_union(checks, waits));
		const char *verdict = NULL;
		const cJSON *x;
		cJSON_ArrayForEach(x, checks)
			if (json_get_string(x, "verdict_file"))
				verdict = json_get_string(x, "verdict_file");
		json_add_string_or_null(st, "verdict_file", verdict);
		cJSON *w2 = waits ? cJSON_Duplicate(waits, 1) : cJSON_CreateArray();
		archived_failure_paths(w2, checks);
		struct strvec paths = STRVEC_INIT;
		cJSON_ArrayForEach(x, w2) {
			const char *p = json_get_string(x, "failure_file");
			if (p && !strvec_contains(&paths, p))
				strvec_push(&paths, p);
			if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(x, "early_abort")))
				early_aborts++;
		}
		cJSON_AddItemToObject(st, "wait_failures", json_string_array(&paths));
		strvec_clear(&paths);
		cJSON_AddItemToObject(st, "checks", checks ? cJSON_Duplicate(checks, 1) : cJSON_CreateArray());
		cJSON_AddItemToObject(st, "waits", w2);
	}
	if (!cJSON_GetObjectItemCaseSensitive(summary, "reason")) {
		json_add_string_or_null(summary, "reason", rp->run_reason);
	}
	cJSON_AddNumberToObject(summary, "early_aborts", early_aborts);
}
