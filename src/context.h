/*
 * context: the run's context directory (SPEC §6.1).
 *
 *   <context>/_workflow.json          run id, name, status, times, resolved settings
 *   <context>/_workflow/events.jsonl  one redacted JSON line per event (a bus sink)
 *   <context>/<step>/_meta.json       status, attempts, iterations, times, exit code, reason
 *
 * Every JSON document is redacted (redact.h) and written atomically
 * (json_write_atomic); events.jsonl lines are appended with one write(2)
 * each on a descriptor kept open for the run.
 *
 *   struct context *c = context_open(dir, redactor, &err);
 *   bus_subscribe(&bus, context_sink, c);
 *   context_write_workflow(c, doc, &err);          -- doc is redacted in place
 *   char *d = context_step_dir(c, "build", &err);  -- created; caller frees
 *   context_write_step_meta(c, "build", meta, &err);
 *   context_close(c);
 *
 * A sink failure is kept (context_sink_error()) rather than reported, so a
 * full disk does not stop the run; the caller reports it once at the end.
 * Ownership: the redactor is borrowed; documents are the caller's.
 */
#ifndef WAITLOOP_CONTEXT_H
#define WAITLOOP_CONTEXT_H
#include <cjson/cJSON.h>

#include "error.h"
#include "events.h"

struct context;
struct redactor;

struct context *context_open(const char *dir, const struct redactor *rd, struct wl_err *err);
void context_close(struct context *c);

/* Event sink: appends event_to_json(ev), redacted, to events.jsonl. */
void context_sink(void *c, const struct wl_event *ev);
/* The first sink failure, or NULL. */
const char *context_sink_error(const struct context *c);

int context_write_workflow(struct context *c, cJSON *doc, struct wl_err *err);
/* <context>/<step>, created if missing. Caller frees. */
char *context_step_dir(struct context *c, const char *step, struct wl_err *err);
int context_write_step_meta(struct context *c, const char *step, cJSON *meta, struct wl_err *err);

#endif
