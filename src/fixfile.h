/*
 * fixfile: fix.md, the feedback an incomplete iteration hands to the next
 * implementer (SPEC §4.5). Rendered from a template with {{name}} variables
 * (template.h) that this module pre-renders as short markdown blocks:
 *
 *   {{summary}}          one line: the verdict's message (or first reason)
 *   {{decision}}         complete | incomplete | failed
 *   {{decision_source}}  wait_policy | decision_file | marker | exit_code | ...
 *   {{reasons}}          numbered list, in order
 *   {{checker_notes}}    "## Notes from the checker" + the fix file the check
 *                        itself wrote during this iteration (bounded), or ""
 *   {{hints}}            bullet list of the hints of the rules that fired
 *   {{fingerprints}}     bullet list of `fingerprints`
 *   {{wait_timeline}}    the last observations of wait-probe.log, one per line:
 *                        #seq +elapsed class, changed/unchanged (no progress n): summary [fps];
 *                        with several waits (the guard, the check's own waits), one
 *                        "### wait `name`" block each
 *   {{check_output}}     the tail of the check's stdout/stderr since this check
 *                        started (last 60 lines / 8 KiB each, ANSI colours
 *                        stripped), in fenced blocks
 *   {{changed_files}}    bullet list from the caller, or "(git tracking unavailable)"
 *   {{evidence_files}}   the artifact paths that exist (wait-failure.json, ...)
 *   {{workflow}} {{step}} {{iteration}} {{max_iterations}} {{next_iteration}} {{check_id}}
 * plus every variable in params.vars (fix_file, decision_file, context_dir,
 * step_dir, wait_failure_file, ...), which win over the ones above.
 * Unknown {{...}} are left as written. The whole document is redacted.
 *
 * Template: params.template_path (relative to workspace) when given — an
 * error if unreadable; else <workspace>/prompts/fix.md if it exists; else
 * the built-in prompts/fix.md compiled into the binary.
 *
 *   struct fixfile_params p = FIXFILE_PARAMS_INIT;
 *   p.verdict = &v; p.step = "build"; p.iteration = 2; ... 
 *   fixfile_write(fix_path, &p, &err);    -- on incomplete
 *   fixfile_clear(fix_path, &err);        -- on complete
 *
 * Ownership: everything in params is borrowed.
 */
#ifndef WAITLOOP_FIXFILE_H
#define WAITLOOP_FIXFILE_H
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "strvec.h"
#include "template.h"
#include "verdict.h"

struct redactor;

#define FIXFILE_DEFAULT_TEMPLATE "prompts/fix.md"
#define FIXFILE_TIMELINE_LINES 10
#define FIXFILE_TAIL_LINES 60
#define FIXFILE_TAIL_BYTES 8192
#define FIXFILE_MAX_LISTED_FILES 50

struct fixfile_params {
	const char *template_path;       /* completion_check.fix_template, or NULL */
	const char *workspace;           /* base of relative paths; NULL = cwd */
	const struct verdict *verdict;   /* required */
	const char *workflow, *step;
	int iteration, max_iterations;
	const char *probe_log;           /* wait-probe.log of the step's own wait (the guard), or NULL */
	const struct strvec *wait_logs;  /* wait-probe.log of each in-script wait, or NULL ... */
	const struct strvec *wait_names; /* ... and their names (same order) */
	const char *wait_failure_file;   /* listed as evidence when it exists */
	const char *decision_file;       /* listed as evidence when it exists */
	const char *check_stdout;        /* raw log files of the check, or NULL */
	const char *check_stderr;
	long long stdout_offset;         /* where this check's output starts in the log (bytes) */
	long long stderr_offset;
	int64_t check_started_wall_ms;   /* a fix file newer than this was written by the checker */
	const struct strvec *changed_files;  /* NULL = git tracking unavailable; entries as displayed */
	const struct template_vars *vars;    /* extra variables, may be NULL */
	const struct redactor *redactor;     /* NULL = built-in patterns */
	int timeline_lines;              /* 0 = FIXFILE_TIMELINE_LINES */
	int tail_lines;                  /* 0 = FIXFILE_TAIL_LINES */
	size_t tail_bytes;               /* 0 = FIXFILE_TAIL_BYTES */
};
#define FIXFILE_PARAMS_INIT {0}

/* Render fix.md into *out (caller frees). */
int fixfile_render(const struct fixfile_params *p, char **out, struct wl_err *err);
/* Render (reading the checker's own notes at path first) and write atomically. */
int fixfile_write(const char *path, const struct fixfile_params *p, struct wl_err *err);
/* Empty the file (atomically; created empty if missing). */
int fixfile_clear(const char *path, struct wl_err *err);

#endif
