/*
 * artifacts: the artifact directory of a run -- the "context directory" of
 * SPEC §6.1 (context_dir) -- and its files:
 *
 *   <context>/_workflow.json          run id, name, status, times, resolved settings
 *   <context>/_workflow/events.jsonl  one redacted JSON line per event (a bus sink)
 *   <context>/<step>/_meta.json       status, attempts, iterations, times, exit code, reason
 *   <context>/<step>/_resolved.json   the same file (a hard link), once the step has ended
 *
 * Every JSON document is redacted (redact.h) and written atomically
 * (json_write_atomic); events.jsonl lines are buffered and appended with
 * one write(2) per turn of the runner's loop (events.h, event_file) on a
 * descriptor kept open for the run: artifacts_flush_events() before the loop
 * may block and before the run's status is decided; artifacts_close() too.
 *
 *   struct artifacts *c = artifacts_open(dir, redactor, &err);
 *   bus_subscribe(&bus, artifacts_sink, c);
 *   artifacts_flush_events(c);                       -- every turn (idle hook)
 *   artifacts_write_workflow(c, doc, &err);          -- doc is redacted in place
 *   char *d = artifacts_step_dir(c, "build", &err);  -- created; caller frees
 *   artifacts_write_step_meta(c, "build", meta, ended, &err);  -- by a thread
 *   artifacts_settle(c, 1, on_error, arg);           -- its failures, once written
 *   artifacts_close(c);
 *
 * A sink failure is kept (artifacts_sink_error()) rather than reported, so a
 * full disk does not stop the run; the caller reports it once at the end.
 * Ownership: the redactor is borrowed; documents are the caller's.
 */
#ifndef WAITLOOP_ARTIFACTS_H
#define WAITLOOP_ARTIFACTS_H
#include <cjson/cJSON.h>

#include "error.h"
#include "events.h"

struct artifacts;
struct redactor;

struct artifacts *artifacts_open(const char *dir, const struct redactor *rd, struct wl_err *err);
void artifacts_close(struct artifacts *c);

/* Event sink: appends event_to_json(ev) to events.jsonl. It does not redact:
 * subscribe it only to a bus with a redactor (bus->rd), the one boundary. */
void artifacts_sink(void *c, const struct wl_event *ev);
/* Write the buffered events.jsonl lines (one write); a failure is kept as
 * the sink's. */
void artifacts_flush_events(struct artifacts *c);
/* The first sink failure, or NULL. */
const char *artifacts_sink_error(const struct artifacts *c);

int artifacts_write_workflow(struct artifacts *c, cJSON *doc, struct wl_err *err);
/* <context>/<step>, created if missing. Caller frees. */
char *artifacts_step_dir(struct artifacts *c, const char *step, struct wl_err *err);
/* 1 when artifacts_step_dir() of this run created the step's directory (it
 * did not exist before: nothing of an earlier run is in it), else 0. */
int artifacts_step_dir_is_new(const struct artifacts *c, const char *step);
/*
 * <context>/<step>/_meta.json from meta (redacted in place); with resolved,
 * the same file is also <step>/_resolved.json (roboppi's name for the
 * document of a step that ended; a hard link, one inode for both). A name
 * that could not be updated is removed rather than left stale: -1 and err,
 * and when only _resolved.json failed, _meta.json is written all the same.
 */
int artifacts_write_step_meta(struct artifacts *c, const char *step, cJSON *meta, int resolved,
			      struct wl_err *err);
/* The step documents are written by a thread of their own (bgwrite.h),
 * in order; artifacts_write_step_meta() then fails only to serialise, and
 * a write that failed is handed to on_error here (with wait: once every
 * document given so far is written -- before the run's status is decided,
 * and artifacts_close() waits too). Without the thread: nothing to do. */
void artifacts_settle(struct artifacts *c, int wait, void (*on_error)(void *arg, const char *msg), void *arg);

#endif
