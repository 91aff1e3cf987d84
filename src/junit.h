/*
 * junit: a run as a JUnit XML report (`run --junit FILE`), the format GitLab
 * (artifacts:reports:junit), GitHub test reporters and Jenkins read.
 *
 * One <testsuite> per run (name = the workflow), one <testcase> per step
 * (classname = workflow, name = step id) and one per iteration's completion
 * check (name "<step> check #N"). Mapping, documented in docs/ci.md:
 *   SUCCEEDED -> passed; FAILED, INCOMPLETE -> <failure type=STATUS>;
 *   CANCELLED -> <error type=CANCELLED>; SKIPPED -> <skipped>;
 *   an iteration whose decision is not "complete" -> <failure type=incomplete>;
 *   a run stopped before its steps (summary "reason", e.g. preflight) -> one
 *   more testcase "(run)" with <error type=STATUS message=reason>.
 * A failure's message is the step's reason (or the verdict's first reason)
 * followed by its fingerprints in brackets; the element's text lists every
 * reason, fingerprint and the verdict / wait-failure paths.
 *
 * Input is the augmented run summary (report.h); its text is redacted again
 * with rd on the way out. Text is XML-escaped; bytes that XML 1.0 cannot
 * carry (control characters, invalid UTF-8) become '?'.
 */
#ifndef WAITLOOP_JUNIT_H
#define WAITLOOP_JUNIT_H
#include <cjson/cJSON.h>

#include "error.h"

struct redactor;

/* The XML document; caller frees. rd may be NULL (built-in patterns only). */
char *junit_render(const cJSON *summary, const struct redactor *rd);
/* Render and write atomically to path. -1 + err on failure. */
int junit_write(const char *path, const cJSON *summary, const struct redactor *rd, struct wl_err *err);

#endif
