/*
 * insights: what the run history says across runs (docs/history.md,
 * "Insights").
 *
 *   struct insights_filter f = INSIGHTS_FILTER_INIT;
 *   f.since_ms = 7 * 86400000;                  -- optional filters
 *   cJSON *stats = insights_collect(dbs, ndbs, &f, &err);   -- NULL + err
 *   cJSON *tune = insights_suggest(stats, "crd/x", 5, &err); -- NULL + err
 *   ... print, render (report_html.h) ...
 *   cJSON_Delete(tune); cJSON_Delete(stats);
 *
 * insights_collect() reads one or more history databases READ-ONLY (CI
 * jobs each keep their own file; a fleet view is the merge of the files
 * they upload) and returns one document (schema/stats.schema.json):
 * per wait target and per dependency the outcome counts and time
 * percentiles, the top fingerprints, loops to convergence and the
 * suspected false aborts. store.c owns the schema and every write;
 * this module only reads finished files, so it opens them read-only and
 * never marks crashed runs or migrates.
 *
 * A suspected false abort is a wait that ended `stalled` whose next wait
 * on the same target (same workflow and step) was met, and
 *   - in the same run, a later iteration, while git recorded no changed
 *     file in the iterations between (the implementer changed nothing,
 *     yet the target arrived: the stall was premature), or
 *   - when git has nothing to say (not a repository, or another run),
 *     within window_ms of the stall.
 */
#ifndef WAITLOOP_INSIGHTS_H
#define WAITLOOP_INSIGHTS_H
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "error.h"

struct insights_filter {
	int64_t since_ms;      /* only runs started in the last since_ms (0: all) */
	const char *workflow;  /* only this workflow (NULL: all) */
	const char *target;    /* only waits on this target (NULL: all) */
	int64_t window_ms;     /* false-abort time window (default 10 min) */
	int64_t now_ms;        /* wall clock "now" for since_ms (0: the real clock) */
};
#define INSIGHTS_FILTER_INIT {0, NULL, NULL, 600000, 0}

/* The stats document over dbs[0..ndbs); caller cJSON_Deletes. */
cJSON *insights_collect(const char *const *dbs, size_t ndbs, const struct insights_filter *f,
			struct wl_err *err);

/*
 * Settings for one target from the evidence in a stats document:
 * {target, met_samples, wait_policy: {max_wait, interval, stall_threshold,
 * progress_deadline} (duration strings / int), from: {...the figures}}.
 * Refuses (NULL + err) with fewer than min_met met waits on the target.
 */
cJSON *insights_suggest(const cJSON *stats, const char *target, int min_met, struct wl_err *err);

#endif
