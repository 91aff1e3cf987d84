/*
 * loader: a workflow file -> struct wl_workflow (workflow.h), validated.
 *
 *   struct errlist diags = ERRLIST_INIT;
 *   struct wl_workflow *wf = loader_load("demo.yaml", &diags);
 *   errlist_print(&diags, stderr);      -- warnings even on success
 *   if (!wf) ... invalid: every error is in diags
 *   ...
 *   workflow_free(wf);
 *   errlist_release(&diags);
 *
 * The loader checks everything that can be checked without running anything
 * (SPEC §4 and docs/workflow.md "What validate checks"): YAML syntax, required
 * fields, types, durations, enums, unknown keys (with did-you-mean; roboppi-only
 * keys are warnings), safe ids and paths, depends_on (unknown, self, cycles),
 * inputs/outputs, completion_check/max_iterations, regexes, probe_aware
 * policies that observe nothing. Every problem is reported with FILE:LINE:COL,
 * and the diagnostics are sorted by position.
 *
 * It fills the data model as written: nothing is defaulted (WL_UNSET / *_UNSET /
 * NULL stay where the file is silent) except step.deps, the resolved
 * depends_on indices, and the wait_settings of steps and checks (every
 * wait_policy resolved once with its defaults: workflow_resolve_waits()).
 *
 * Ownership: the returned workflow belongs to the caller (workflow_free()).
 * Returns NULL when at least one error was found; warnings alone do not fail.
 */
#ifndef WAITLOOP_LOADER_H
#define WAITLOOP_LOADER_H
#include <stddef.h>

#include "error.h"
#include "strvec.h"
#include "workflow.h"

struct wl_workflow *loader_load(const char *path, struct errlist *diags);
/* Same, with roboppi agent catalogs (agentcat.h): inherited_agents (a
 * subworkflow's parent's catalogs) first, then agents_files when non-empty,
 * else agents.yaml / agents.yml next to path. loader_load() = none given. */
struct wl_workflow *loader_load_agents(const char *path, const struct strvec *agents_files,
				       const struct strvec *inherited_agents, struct errlist *diags);
/* Same, from memory (tests, fuzzing); name is used in diagnostics and wf->file. */
struct wl_workflow *loader_load_string(const char *name, const char *text, size_t len,
				       struct errlist *diags);

/* A rules file (`waitloop wait --rules FILE`): a mapping of rules,
 * terminal_patterns and ignore_fields, read by the workflow's own rule
 * reader; appended to p. 0, or -1 with the errors in diags. */
int loader_load_rules_file(const char *path, struct wl_wait_policy *p, struct errlist *diags);

/* 1 when s is a safe step id / artifact name: [A-Za-z0-9_][A-Za-z0-9_.-]*,
 * at most 64 characters, not "." or "..". */
int loader_safe_name(const char *s);

#endif
