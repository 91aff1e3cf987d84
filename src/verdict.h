/*
 * verdict: the decision of one completion_check iteration (SPEC §4.5) and
 * its normalised artifact, review.verdict (schema "waitloop.verdict.v1").
 *
 * Calling sequence (iteration.c, iter_loop_*), once per iteration:
 *
 *   before the check starts:
 *     verdict_discard_decision_file(decision_file, &err);   -- no stale file survives
 *     started = time_wall_ms();
 *   the facts, gathered in any order (the check's exit, its guard's
 *   wait_result; each wait has its own files, see iteration.h), then:
 *     struct verdict_inputs in = VERDICT_INPUTS_INIT;
 *     in.check_id = id; in.iteration = n; in.undecidable_before = streak;
 *     in.guard_outcome = WAIT_STALLED (WAIT_MET when the guard did not abort);
 *     in.guard_on_abort = policy->on_stall;  (on_terminal for terminal_fail)
 *     verdict_evidence: copy the wait_result's fingerprints/reasons/hints/message into in.guard;
 *     struct verdict filev = VERDICT_INIT; struct wl_err ferr = WL_ERR_INIT;
 *     in.file_status = verdict_read_decision_file(path, id, started, &filev, &ferr);
 *     in.file = &filev; in.file_note = ferr.msg;
 *     in.exit_code = exited normally ? status : VERDICT_NO_EXIT_CODE;
 *     in.exit_note = "killed by SIGTERM" / "cannot execute ..." (why no code);
 *     for each of the check's own waits, step_dir/waits/<name>/ (never the
 *     top-level wait-failure.json: that is the guard's, already in in.guard):
 *       struct verdict_evidence inner = VERDICT_EVIDENCE_INIT;
 *       if (verdict_read_wait_failure(step_dir/waits/<name>/wait-failure.json, started, &inner, &err) == 1)
 *               add inner to in.inner_wait / in.n_inner_waits;
 *     struct verdict v = VERDICT_INIT;
 *     verdict_decide(&in, &v);                 -- pure, never fails
 *     streak = verdict_undecidable_streak(streak, &v);
 *     verdict_write(decision_file, &v, run_id, step, started, time_wall_ms(), redactor, &err);
 *     ... v.decision: COMPLETE -> fixfile_clear(); INCOMPLETE -> fixfile_write(); FAILED -> step FAILED
 *     verdict_release(&v); verdict_release(&filev); verdict_evidence_release(...)
 *
 * Decision order (first that applies wins; SPEC §4.5, docs/loop.md):
 *   1. the guard (wait_policy) aborted the check: INCOMPLETE, source
 *      "wait_policy" — or FAILED when the matching on_terminal/on_stall is
 *      "fail" (terminal_fail uses on_terminal; stalled, no_output and timeout
 *      use on_stall);
 *   2. a fresh decision file: JSON -> source "decision_file", text marker ->
 *      source "marker" (stale or unreadable files are skipped, with a note in
 *      the verdict's reasons only when nothing later decides);
 *   3. the exit code: 0 COMPLETE, 1 INCOMPLETE (source "exit_code"); any other
 *      code -> FAILED (source "check_failed") — EXCEPT when the check left a
 *      fresh waits/<name>/wait-failure.json (its own `waitloop wait` gave up and the script
 *      passed on wait's exit code 1/3/124): then INCOMPLETE, source
 *      "wait_policy", because that is an early abort, not a broken check;
 *   4. no usable exit code (killed by a signal, timeout, exec failure) and no
 *      file: INCOMPLETE, source "undecidable" — FAILED (source "undecidable")
 *      when in.undecidable_before >= 1 (two consecutive undecidable
 *      iterations fail the step);
 *   then: each fresh inner wait-failure.json adds its reasons, fingerprints
 *   and hints to any decision that is not COMPLETE.
 *
 * The cause leads (fix.md tells the implementer to fix the FIRST reason):
 * when a wait ended the check — the guard, or an in-script wait whose exit
 * status the check passed on (3 and 3') — the message and first reason are
 * that wait's headline, "wait `NAME` (COMMAND): <its message>"; the other
 * waits follow, each named, then the check's exit status. With a decision
 * file, the file's words lead and the waits follow.
 *
 * Ownership: struct verdict and struct verdict_evidence own their strings;
 * release with verdict_release() / verdict_evidence_release(). Inputs are
 * borrowed. All lists obey the same bounds as decision files: at most
 * VERDICT_MAX_ITEMS items of at most VERDICT_MAX_ITEM_CHARS bytes (longer ones
 * cut at a UTF-8 boundary and ended with "…"), trimmed, empty ones dropped,
 * duplicates dropped; fingerprints sorted.
 */
#ifndef WAITLOOP_VERDICT_H
#define WAITLOOP_VERDICT_H
#include <stdint.h>

#include "error.h"
#include "strvec.h"
#include "workflow.h"

struct redactor;

#define VERDICT_SCHEMA "waitloop.verdict.v1"
#define VERDICT_MAX_FILE_BYTES (1024 * 1024)
#define VERDICT_MAX_ITEMS 50
#define VERDICT_MAX_ITEM_CHARS 500
#define VERDICT_NO_EXIT_CODE (-1)
/* Consecutive undecidable iterations that fail the step. */
#define VERDICT_UNDECIDABLE_LIMIT 2

enum verdict_decision {
	VERDICT_NONE = 0,        /* nothing decided (never returned by verdict_decide) */
	VERDICT_COMPLETE,
	VERDICT_INCOMPLETE,
	VERDICT_FAILED,          /* the step fails (check broken, on_*: fail, undecidable twice) */
};

enum verdict_source {
	VERDICT_SRC_NONE = 0,
	VERDICT_SRC_WAIT_POLICY,   /* "wait_policy" */
	VERDICT_SRC_DECISION_FILE, /* "decision_file" (JSON) */
	VERDICT_SRC_MARKER,        /* "marker" (text: PASS, FAIL, COMPLETE, INCOMPLETE, VERDICT: ...) */
	VERDICT_SRC_EXIT_CODE,     /* "exit_code" */
	VERDICT_SRC_CHECK_FAILED,  /* "check_failed" */
	VERDICT_SRC_UNDECIDABLE,   /* "undecidable" */
	VERDICT_SRC_CONVERGENCE,   /* "convergence": the loop's own rules (git scope, not converging,
				      no change) overrode the check (set by iteration.c, never by verdict_decide) */
};

struct verdict {
	enum verdict_decision decision;
	enum verdict_source source;
	char *check_id;               /* may be NULL */
	int iteration;                /* 0 = unknown */
	char *message;                /* one line summary, may be NULL */
	struct strvec reasons;        /* in order, unique */
	struct strvec fingerprints;   /* sorted, unique */
	struct strvec hints;          /* in order, unique */
	int check_id_matched;         /* a JSON decision file that named this check's id */
};
#define VERDICT_INIT {0}

/* Evidence from a wait (the guard's wait_result, or a wait-failure.json). */
struct verdict_evidence {
	char *reason;                 /* "terminal_fail" | "stalled" | "timeout" | "no_output", may be NULL */
	char *message;                /* one line, may be NULL */
	char *target;                 /* may be NULL */
	char *name;                   /* the wait's name, may be NULL */
	char *command;                /* its condition, else "probe: <probe>", may be NULL (redacted, one line) */
	struct strvec reasons, fingerprints, hints;
};
#define VERDICT_EVIDENCE_INIT {0}

enum verdict_file_status {
	VERDICT_FILE_MISSING = 0,  /* no file (or empty) */
	VERDICT_FILE_FOUND,        /* a usable decision; *out filled */
	VERDICT_FILE_STALE,        /* older than the check, or another check's id; err says which */
	VERDICT_FILE_INVALID,      /* unreadable, too large, no decision in it; err says why */
};

struct verdict_inputs {
	const char *check_id;
	int iteration;
	int undecidable_before;              /* undecidable iterations right before this one */
	/* 1. guard */
	enum wait_outcome guard_outcome;     /* WAIT_MET = the guard did not abort; else how it stopped the check */
	enum wl_on_abort guard_on_abort;     /* UNSET = incomplete */
	const struct verdict_evidence *guard;   /* may be NULL */
	/* 2. decision file */
	enum verdict_file_status file_status;
	const struct verdict *file;          /* when FOUND */
	const char *file_note;               /* why STALE/INVALID, may be NULL */
	/* 3. exit code */
	int exit_code;                       /* VERDICT_NO_EXIT_CODE when none is usable */
	const char *exit_note;               /* why there is none ("killed by SIGKILL"), may be NULL */
	/* 4. the wait-failure.json files written during the check by its own waits,
	 * in the order they ended (the last one ended the check) */
	const struct verdict_evidence *inner_wait;   /* array, may be NULL */
	size_t n_inner_waits;                        /* 0 with inner_wait set = 1 */
	/* roboppi: a CUSTOM check decides by its exit code; only a JSON decision
	 * file naming this check_id overrides it (not a text marker, not an id-less file) */
	int exit_code_decides;
	int timed_out;                       /* the check timed out: FAILED, as roboppi ends the loop */
};
#define VERDICT_INPUTS_INIT {NULL, 0, 0, WAIT_MET, ON_ABORT_UNSET, NULL, VERDICT_FILE_MISSING, NULL, NULL, VERDICT_NO_EXIT_CODE, NULL, NULL, 0, 0, 0}

void verdict_release(struct verdict *v);
void verdict_evidence_release(struct verdict_evidence *e);

const char *verdict_decision_name(enum verdict_decision d);  /* "complete", "incomplete", "failed", "none" */
const char *verdict_source_name(enum verdict_source s);      /* "wait_policy", ... ; "none" */
/* "complete|pass|passed|success|ok", "incomplete|fail|failed|retry" (any case) -> 0, else -1. */
int verdict_parse_decision(const char *s, enum verdict_decision *out);

/*
 * Read a decision file written by the check. JSON
 * {"decision":…,"check_id":…,"reasons":[…]|"reason":"…","fingerprints":[…],"hints":[…]}
 * or text whose last marker line decides (PASS, FAIL, COMPLETE, INCOMPLETE,
 * "VERDICT: X", "DECISION: X", "RESULT: X", "STATUS: X"; markdown emphasis
 * ignored; other non-empty lines become reasons). FAIL means incomplete
 * (roboppi). Stale when its mtime is older than check_started_wall_ms
 * (minus VERDICT_MTIME_SLACK_MS for coarse file-system clocks; 0 = no mtime
 * test) or when a check_id in it differs from check_id (NULL = no id test).
 * Never returns -1: every outcome is a status; err explains STALE/INVALID.
 */
#define VERDICT_MTIME_SLACK_MS 20
enum verdict_file_status verdict_read_decision_file(const char *path, const char *check_id,
						    int64_t check_started_wall_ms, struct verdict *out,
						    struct wl_err *err);
/* Parse decision-file text (no staleness tests); same statuses. */
enum verdict_file_status verdict_parse_decision_text(const char *text, size_t len, const char *check_id,
						     struct verdict *out, struct wl_err *err);

/* Delete a previous decision file so it cannot be mistaken for this check's. */
int verdict_discard_decision_file(const char *path, struct wl_err *err);

/*
 * Read a wait-failure.json (waitloop.wait-failure.v1). Returns 1 and fills
 * *out when it exists and was written at or after since_wall_ms (0 = any
 * age); 0 when missing or older; -1 when unreadable or not a wait-failure.
 * The message becomes the first reason; lists are bounded as above.
 */
int verdict_read_wait_failure(const char *path, int64_t since_wall_ms, struct verdict_evidence *out,
			      struct wl_err *err);
/* Add evidence (message, reasons, fingerprints, hints) to v, keeping the bounds. */
void verdict_add_evidence(struct verdict *v, const struct verdict_evidence *e);
/* "wait `name` (command): message" — or e->message when the wait has no name. Caller frees. */
char *verdict_wait_headline(const struct verdict_evidence *e);
/*
 * Convenience: read path like verdict_read_wait_failure and, when v is not
 * COMPLETE, add its evidence. Returns 1 merged, 0 nothing to merge, -1 error.
 */
int verdict_merge_wait_failure(struct verdict *v, const char *path, int64_t since_wall_ms,
			       struct wl_err *err);

/* THE decision order above. out must be VERDICT_INIT (or released); never fails. */
void verdict_decide(const struct verdict_inputs *in, struct verdict *out);
/* The undecidable streak after v: prev + 1 when v's source is undecidable, else 0. */
int verdict_undecidable_streak(int prev, const struct verdict *v);

/* Bounded, trimmed, de-duplicated add to a list (the rules above). */
void verdict_list_add(struct strvec *list, const char *item);

/*
 * Write the normalised review.verdict (schema waitloop.verdict.v1) atomically:
 * schema, decision, source, check_id, iteration, step, run_id, reasons,
 * fingerprints, hints, message, check_started_at, decided_at. Every string is
 * redacted with r (NULL = built-in patterns). run_id/step may be NULL;
 * started_wall_ms 0 = omitted.
 */
int verdict_write(const char *path, const struct verdict *v, const char *run_id, const char *step,
		  int64_t started_wall_ms, int64_t decided_wall_ms, const struct redactor *r,
		  struct wl_err *err);

#endif
