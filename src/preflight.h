/*
 * preflight: fail fast before anything runs (SPEC §4.8).
 *
 * preflight_run() runs every check of wf->preflight and collects every
 * result — it never stops at the first failure:
 *   require_commands  each name looked up in PATH of env (a name with '/' is
 *                     a path relative to cwd); must be an executable file
 *   require_env       each variable set and non-empty in env
 *   require_files     each path (relative to cwd) exists
 *   name + command    `<wf->shell> -e -c <command>` in cwd with env, stdin
 *                     /dev/null, all named checks in parallel on a private
 *                     loop, each stopped (group, escalation with 1 s grace) at
 *                     its timeout (default PREFLIGHT_DEFAULT_TIMEOUT_MS);
 *                     exit 0 passes, anything else fails
 * A failure's fingerprint is the entry's `fingerprint`, else
 *   preflight/command-missing/<cmd>, preflight/env-missing/<NAME>,
 *   preflight/file-missing/<path>, preflight/check-failed/<name>.
 *
 * The runner prints every failed result (message + fingerprint), emits one
 * EV_PREFLIGHT per result (preflight_event_data()), records them in history,
 * and exits 2 when report.nfailed > 0. SIGINT/SIGTERM/SIGHUP during the
 * checks stop them; report.interrupted then holds the signal number.
 *
 *   struct preflight_report rep = PREFLIGHT_REPORT_INIT;
 *   if (preflight_run(wf, &env, workspace, &rep) > 0) { print rep.results[i] where !ok; exit 2 }
 *   preflight_report_release(&rep);
 *
 * Ownership: the report owns its strings; wf, env and cwd are borrowed.
 * A check's `output` is the last 1 KiB of its stdout+stderr, redacted as a
 * stream before the cut when report.rd is set (a key block above the cut
 * stays hidden); else raw: redact it before showing or storing it.
 */
#ifndef WAITLOOP_PREFLIGHT_H
#define WAITLOOP_PREFLIGHT_H
#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "strvec.h"
#include "workflow.h"

#define PREFLIGHT_DEFAULT_TIMEOUT_MS 30000

struct preflight_result {
	enum wl_preflight_kind kind;
	char *name;          /* the command / variable / file, or the check's name */
	int ok;
	char *fingerprint;   /* NULL when ok */
	char *message;       /* one line, e.g. "command 'kubectl' not found in PATH" */
	char *output;        /* named checks that failed: tail of their output (raw), else NULL */
	int64_t duration_ms; /* named checks */
	struct wl_pos pos;   /* of the preflight entry */
};

struct redactor;
struct preflight_report {
	struct preflight_result *results;   /* in workflow order */
	size_t n, alloc;
	size_t nfailed;
	int64_t elapsed_ms;
	int interrupted;                    /* signal number, or 0 */
	const struct redactor *rd;          /* set by the caller: checks' output is kept redacted */
};
#define PREFLIGHT_REPORT_INIT {0}

/* env: complete environment ("NAME=VALUE"), NULL = the runner's; cwd: NULL =
 * the runner's. Returns the number of failed checks (0: go ahead). */
int preflight_run(const struct wl_workflow *wf, const struct strvec *env, const char *cwd,
		  struct preflight_report *out);
void preflight_report_release(struct preflight_report *r);

/* "require_commands", "require_env", "require_files", "check". */
const char *preflight_kind_name(enum wl_preflight_kind kind);
/* EV_PREFLIGHT data: {kind, name, ok, fingerprint?, message}. Caller deletes. */
cJSON *preflight_event_data(const struct preflight_result *r);

#endif
