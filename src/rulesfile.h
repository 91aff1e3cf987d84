/*
 * rulesfile: `waitloop wait --rules FILE.yaml` — wait_policy rules (and
 * optionally terminal_patterns and ignore_fields) from a small YAML file:
 *
 *   rules:
 *     - match: 'Error from server \((Forbidden|Unauthorized)\)'
 *       class: terminal_fail
 *       fingerprint: 'auth/{1}'
 *     - field: 'dependencies[*].status'
 *       equals: Failed
 *       class: terminal_fail
 *   terminal_patterns: ['chart not found']
 *
 * The rule format is the workflow's (SPEC §4.4), read by the loader's own
 * rule reader on a ydoc (loader_load_rules_file()): the same checks and
 * messages as a wait_policy in a workflow. Rules are appended to policy
 * (which owns them).
 */
#ifndef WAITLOOP_RULESFILE_H
#define WAITLOOP_RULESFILE_H
#include "error.h"
#include "workflow.h"

/* 0, or -1 with the first error as "FILE:LINE:COL: message" in err. */
int rulesfile_load(const char *path, struct wl_wait_policy *policy, struct wl_err *err);

#endif
