/*
 * report: what CI reports need from a run, collected from its events.
 *
 * The run summary (runner_summary()) says how each step ended; CI reports
 * (JUnit, GitHub Actions annotations and step summary, `run --json`) also
 * need every iteration's check with its verdict, and every wait with its
 * outcome, fingerprints and artifact paths. A report is an event sink that
 * keeps exactly that, and adds it to the summary at the end.
 *
 * Calling sequence:
 *   struct report *rp = report_new();
 *   bus_subscribe(runner_bus(r), report_sink, rp);
 *   runner_run(r);
 *   cJSON *summary = runner_summary(r);
 *   report_augment(rp, summary);     -- adds the fields documented in docs/ci.md
 *   report_free(rp);
 *
 * Added to each summary step: checks[{iteration, decision, source, reasons,
 * fingerprints, verdict_file, wait_failure_file, duration_s}], waits[{phase,
 * iteration, target, outcome, early_abort, elapsed_s, observations,
 * fingerprints, message, failure_file}], fingerprints (sorted union of both),
 * verdict_file (the last iteration's), wait_failures (paths). Run level:
 * reason (why the run ended, when a gate stopped it) and early_aborts.
 *
 * Event text is redacted by its emitters; the report copies it as is.
 * Ownership: the report owns what it collected; events are borrowed.
 */
#ifndef WAITLOOP_REPORT_H
#define WAITLOOP_REPORT_H
#include <cjson/cJSON.h>

#include "events.h"

struct report;

struct report *report_new(void);
void report_sink(void *report, const struct wl_event *ev);
void report_augment(const struct report *rp, cJSON *summary);
void report_free(struct report *rp);

#endif
