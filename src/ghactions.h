/*
 * ghactions: a run as GitHub Actions sees it (on when GITHUB_ACTIONS=true).
 *
 * - Annotations: one `::error title=…::message` workflow command per failed
 *   or cancelled step (and for a run stopped before its steps, e.g. by
 *   preflight), one `::warning title=…::message` per early abort (a wait
 *   ended terminal_fail / stalled / no_output). Written to the stream given
 *   (cmd_run uses stderr, so `--json` stdout stays one document; the runner
 *   reads workflow commands from both).
 * - Step summary: markdown appended to $GITHUB_STEP_SUMMARY: run status,
 *   a table of steps, the waits that did not end "met" with their reasons
 *   and fingerprints, and the artifact paths (context directory, verdicts,
 *   wait-failure.json files), plus a link to the workflow run's page, where
 *   the job's uploaded artifacts are listed (run_url, may be NULL).
 *
 * Input is the augmented run summary (report.h), already redacted.
 * Escaping follows GitHub's workflow-command rules: in the message '%',
 * CR and LF become %25, %0D, %0A; in property values also ':' and ','
 * (%3A, %2C).
 */
#ifndef WAITLOOP_GHACTIONS_H
#define WAITLOOP_GHACTIONS_H
#include <cjson/cJSON.h>
#include <stdio.h>

#include "error.h"

/* Write the annotations for summary to out; returns how many. */
int ghactions_annotate(const cJSON *summary, FILE *out);
/* The step-summary markdown; caller frees. */
char *ghactions_summary_markdown(const cJSON *summary, const char *run_url);
/* Append the markdown to path (created when missing). -1 + err on failure. */
int ghactions_append_summary(const char *path, const cJSON *summary, const char *run_url, struct wl_err *err);

#endif
