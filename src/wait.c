/*
 * wait: the wait_policy engine. See wait.h for the contract and
 * classify.h for what one observation means.
 *
 * One observation (condition mode):  condition -> [probe -> classify]
 * -> decide, then the next one at observation start + interval (grown by
 * backoff). In guard mode the condition is the guarded process itself; an
 * observation is [probe -> classify] over the probe and the process's recent
 * output. Children (condition, probe, classify) run one at a time through
 * proc_start(), each in its own group with a timeout. Each child's callbacks
 * get a small reference (struct child_ref) instead of the wait itself, so a
 * wait that is finished while a probe still runs (wait_guard_finish) can be
 * freed at once: the reference is cut and the stopped child ends alone.
 *
 * Memory is bounded whatever the number of observations: only the current
 * and the last observation are kept; everything else goes to wait-probe.log.
 */
#include "wait.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backoff.h"
#include "classify.h"
#include "digest.h"
#include "events.h"
#include "fsutil.h"
#include "jsonutil.h"
#include "evloop.h"
#include "proc.h"
#include "redact.h"
#include "strbuf.h"
#include "timeutil.h"
#include "xalloc.h"

#define OUTPUT_CAP (64 * 1024)      /* condition / probe / guarded output kept per observation */
#define SUMMARY_CAP 4096
#define LAST_PROBE_CAP (16 * 1024)
#define MESSAGE_CAP 400
#define CLASSIFY_TIMEOUT_MS 10000
#define MIN_CONDITION_TIMEOUT_MS 2000   /* the last try may run at least this */
#define NAME_MAX_LEN 60

enum child_kind { CHILD_NONE, CHILD_CONDITION, CHILD_PROBE, CHILD_CLASSIFY };

struct child_ref {
	struct wait *w;            /* NULL once the wait is gone */
	enum child_kind kind;
};

struct wait {
	struct evloop *loop;
	const struct wait_settings *settings;   /* borrowed */
	const struct wl_wait_policy *pol;       /* &settings->p */
	enum wait_phase phase;
	char *condition;
	struct strvec condition_argv;
	char *shell;
	struct strvec env;
	int inherit_env;
	char *cwd, *out_dir, *check_id, *run_id, *workflow, *step;
	char *name, *stdout_log, *stderr_log;
	int64_t condition_timeout;
	wait_output_fn on_output;
	int iteration;
	const struct redactor *redactor;
	struct redactor *own_redactor;
	struct event_bus *bus;
	wait_done_fn on_done;
	wait_warning_fn on_warning;
	void *arg, *done_arg;

	struct classifier *cls;
	struct stall_count stall;
	int64_t start_ms, deadline_ms;
	int64_t interval_ms;           /* current, grown by backoff */
	int64_t obs_start_ms;
	uint64_t next_timer, deadline_timer, silence_timer;
	int observations;              /* started (the current one's seq) */
	int logged;                    /* completed: lines in wait-probe.log */
	int last_try;                  /* max_wait passed between tries: this is the one last try */
	int classify_ran;              /* a first run that cannot execute is an error, a later one evidence */
	char *error;                   /* WAIT_ERROR: why (command not found ...) */

	/* the running child */
	struct proc *child;
	struct child_ref *child_ref;

	/* the observation in progress */
	int cond_ran, cond_exit;
	char *cond_output;
	char *probe_output;
	cJSON *probe;
	char *probe_error;
	char *probe_error_output;      /* what a failed probe printed (tail), for the classifier */
	const char *probe_fail_why;    /* static: "nonzero-exit", "not-json", "too-large", "too-slow" */
	int probe_broken;              /* the probe cannot run at all (126/127, exec failure) */
	char *classify_error;
	int probe_fail_streak;         /* failed probes in a row that nothing explained */
	struct strvec warnings;        /* patterns that hit the match limit (each once per wait) */

	/* the last completed observation */
	struct classification last;
	char *last_summary;
	cJSON *last_probe;             /* redacted, bounded */
	char *last_probe_error;

	/* guard mode */
	struct proc *guarded;
	struct strbuf tail;            /* redacted (tail_rs): everything derived from it is safe */
	struct redact_stream *tail_rs;
	int64_t last_output_ms;

	/* ending */
	int deadline_hit;
	int cancelled;
	int finished;                  /* outcome decided */
	struct wait_result res;
	char *message;
	char *rule;
	int terminated;
	char *probe_log, *failure_file;
};

const char *wait_phase_name(enum wait_phase p)
{
	static const char *const names[] = {"wait", "step", "completion_check", "standalone"};
	return (unsigned)p < sizeof(names) / sizeof(names[0]) ? names[p] : "?";
}

/* Append a safe version of s to sb: runs of other characters become one '-'. */
static void add_safe(struct strbuf *sb, const char *s)
{
	for (; *s && sb->len < NAME_MAX_LEN; s++) {
		unsigned char c = (unsigned char)*s;
		if (isalnum(c) || c == '.' || c == '_')
			strbuf_addch(sb, (char)c);
		else if (sb->len && sb->buf[sb->len - 1] != '-')
			strbuf_addch(sb, '-');   /* '-' itself and every other character: one '-' */
	}
}

char *wait_derive_name(const char *name, const char *target, const char *condition, char *const *argv)
{
	struct strbuf sb = STRBUF_INIT;
	if (name && *name) {
		add_safe(&sb, name);
	} else if (target && *target) {
		add_safe(&sb, target);
	} else if (argv && argv[0]) {
		for (size_t i = 0; argv[i] && sb.len < NAME_MAX_LEN; i++) {
			const char *a = argv[i];
			const char *slash = i == 0 ? strrchr(a, '/') : NULL;   /* /usr/bin/kubectl -> kubectl */
			if (slash && slash[1])
				a = slash + 1;
			if (*a == '-')
				continue;   /* options say little about what is waited for */
			if (sb.len && sb.buf[sb.len - 1] != '-')
				strbuf_addch(&sb, '-');
			add_safe(&sb, a);
		}
	} else if (condition) {
		add_safe(&sb, condition);
	}
	while (sb.len && (sb.buf[sb.len - 1] == '-' || sb.buf[sb.len - 1] == '.'))
		strbuf_setlen(&sb, sb.len - 1);
	while (sb.len && (sb.buf[0] == '-' || sb.buf[0] == '.')) {
		memmove(sb.buf, sb.buf + 1, sb.len);
		sb.len--;
	}
	if (!sb.len)
		strbuf_addstr(&sb, "wait");
	return strbuf_detach(&sb);
}

/* The condition as one line of text, for artifacts: the shell command, or the argv words joined. */
static char *condition_text(const struct wait *w)
{
	if (w->condition)
		return xstrdup(w->condition);
	struct strbuf sb = STRBUF_INIT;
	for (size_t i = 0; i < w->condition_argv.n; i++) {
		const char *a = w->condition_argv.v[i];
		int plain = *a != '\0';
		for (const char *c = a; *c; c++)
			if (!(isalnum((unsigned char)*c) || strchr("-_./=:,@%+", *c)))
				plain = 0;
		if (i)
			strbuf_addch(&sb, ' ');
		if (plain) {
			strbuf_addstr(&sb, a);
		} else {   /* shell-quoted, so the line can be pasted */
			strbuf_addch(&sb, '\'');
			for (const char *c = a; *c; c++) {
				if (*c == '\'')
					strbuf_addstr(&sb, "'\\''");
				else
					strbuf_addch(&sb, *c);
			}
			strbuf_addch(&sb, '\'');
		}
	}
	return strbuf_detach(&sb);
}

static double elapsed_s(const struct wait *w)
{
	return (double)(time_now_ms() - w->start_ms) / 1000.0;
}

static char *redacted(const struct wait *w, const char *text)
{
	return redact_text(w->redactor, text ? text : "");
}

/* A non-fatal problem: the wait goes on; the caller reports it (redacted). */
static void warn(const struct wait *w, const char *text)
{
	if (!w->on_warning)
		return;
	char *msg = redacted(w, text);
	w->on_warning(w->arg, msg);
	free(msg);
}

/* Redact, then keep at most cap bytes (cut at a UTF-8 boundary), one line when oneline. */
static char *redacted_bounded(const struct wait *w, const char *text, size_t cap, int oneline)
{
	char *r = redacted(w, text);
	if (oneline)
		str_oneline(r);
	r[str_utf8_cut(r, strlen(r), cap)] = '\0';
	return r;
}

/* --- artifacts and events -------------------------------------------------- */

/* cls: an observation's class, typed for the sinks (CLASS_UNSET for other events). */
static void emit_class(struct wait *w, enum ev_type type, cJSON *data, enum obs_class cls)
{
	if (!w->bus) {
		cJSON_Delete(data);
		return;
	}
	struct wl_event ev = {.type = type, .run_id = w->run_id, .step = w->step, .iteration = w->iteration,
			      .data = data, .obs_class = cls};
	bus_emit(w->bus, &ev);
	cJSON_Delete(data);
}

static void emit(struct wait *w, enum ev_type type, cJSON *data)
{
	emit_class(w, type, data, CLASS_UNSET);
}

/* The one-line summary of an observation: the probe's summary, else the first reason, else the output's last line. */
static char *observation_summary(struct wait *w, const struct classification *c)
{
	const char *s = json_get_string(cJSON_IsObject(w->probe) ? w->probe : NULL, "summary");
	if (s && *s)
		return redacted_bounded(w, s, SUMMARY_CAP, 0);
	if (c->reasons.n)
		return redacted_bounded(w, c->reasons.v[0], SUMMARY_CAP, 0);
	const char *text = w->cond_output ? w->cond_output : w->tail.buf;
	if (!text || !*text)
		return xstrdup("");
	/* last non-empty line */
	size_t n = strlen(text);
	while (n && isspace((unsigned char)text[n - 1]))
		n--;
	size_t b = n;
	while (b && text[b - 1] != '\n')
		b--;
	char *line = xstrndup(text + b, n - b);
	char *r = redacted_bounded(w, line, SUMMARY_CAP, 1);
	free(line);
	return r;
}

/* The stall_threshold this wait counts against, or 0 when no-progress cannot
 * stall it (timeout_only, or no probe and no stall_threshold written:
 * stalling needs evidence). */
static int active_stall_threshold(const struct wait *w)
{
	int on = w->pol->mode == WAIT_MODE_PROBE_AWARE && (w->pol->probe || w->pol->stall_threshold_set);
	return on && w->pol->stall_threshold > 0 ? w->pol->stall_threshold : 0;
}

static void log_observation(struct wait *w, const struct classification *c, const char *digest, int changed)
{
	cJSON *o = cJSON_CreateObject();
	char ts[40];
	time_format_rfc3339(time_wall_ms(), ts, sizeof(ts));
	cJSON_AddStringToObject(o, "ts", ts);
	w->logged++;
	cJSON_AddNumberToObject(o, "seq", w->observations);
	cJSON_AddNumberToObject(o, "elapsed_s", (double)(int64_t)(elapsed_s(w) * 1000) / 1000.0);
	/* when this observation started, on the same monotonic clock: its gap to the next one is the schedule */
	cJSON_AddNumberToObject(o, "started_s", (double)(w->obs_start_ms - w->start_ms) / 1000.0);
	if (w->cond_ran)
		cJSON_AddNumberToObject(o, "condition_exit", w->cond_exit);
	else
		cJSON_AddNullToObject(o, "condition_exit");
	enum obs_class cls = c->met ? CLASS_MET : c->class;
	cJSON_AddStringToObject(o, "class", class_name(cls));
	if (digest)
		cJSON_AddStringToObject(o, "digest", digest);
	else
		cJSON_AddNullToObject(o, "digest");
	cJSON_AddBoolToObject(o, "changed", changed);
	cJSON_AddNumberToObject(o, "no_progress", w->stall.no_progress);
	cJSON *fps = json_string_array(&c->fingerprints);
	redact_json(w->redactor, fps);
	cJSON_AddItemToObject(o, "fingerprints", fps);
	cJSON_AddStringToObject(o, "summary", w->last_summary ? w->last_summary : "");
	if (c->rule)
		cJSON_AddStringToObject(o, "rule", c->rule);
	if (w->probe_error) {
		char *e = redacted_bounded(w, w->probe_error, 1024, 1);
		cJSON_AddStringToObject(o, "probe_error", e);
		free(e);
	}
	if (w->classify_error) {
		char *e = redacted_bounded(w, w->classify_error, 1024, 1);
		cJSON_AddStringToObject(o, "classify_error", e);
		free(e);
	}
	cJSON_AddStringToObject(o, "phase", wait_phase_name(w->phase));
	if (w->warnings.n) {
		cJSON *wa = json_string_array(&w->warnings);
		redact_json(w->redactor, wa);
		cJSON_AddItemToObject(o, "warnings", wa);
	}
	char *line = json_compact(o);
	struct wl_err err = WL_ERR_INIT;
	if (fs_append_line(w->probe_log, line, &err) < 0 && w->observations == 1)
		warn(w, err.msg);   /* once: the wait goes on */
	free(line);
	/* the event, not the probe log, carries the threshold: "no progress N/threshold" */
	int thr = active_stall_threshold(w);
	if (thr)
		cJSON_AddNumberToObject(o, "stall_threshold", thr);
	emit_class(w, EV_OBSERVATION, o, cls);
}

/* The probe as last seen, redacted and bounded, for wait-failure.json. */
static cJSON *bounded_probe(struct wait *w)
{
	if (w->probe) {
		cJSON *copy = cJSON_Duplicate(w->probe, 1);
		redact_json(w->redactor, copy);
		char *text = json_compact(copy);
		if (strlen(text) <= LAST_PROBE_CAP) {
			free(text);
			return copy;
		}
		cJSON_Delete(copy);
		cJSON *o = cJSON_CreateObject();
		cJSON_AddBoolToObject(o, "truncated", 1);
		text[LAST_PROBE_CAP / 4] = '\0';
		cJSON_AddStringToObject(o, "head", text);
		free(text);
		return o;
	}
	if (w->probe_error) {
		cJSON *o = cJSON_CreateObject();
		char *e = redacted_bounded(w, w->probe_error, 1024, 1);
		cJSON_AddStringToObject(o, "error", e);
		free(e);
		return o;
	}
	return NULL;
}

static void write_failure(struct wait *w)
{
	const struct wait_result *r = &w->res;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "schema", "waitloop.wait-failure.v1");
	cJSON_AddStringToObject(o, "check_id", w->check_id);
	cJSON_AddStringToObject(o, "phase", wait_phase_name(w->phase));
	char *target = redacted(w, w->pol->target ? w->pol->target : w->name);
	cJSON_AddStringToObject(o, "target", target);
	free(target);
	cJSON_AddStringToObject(o, "reason", wait_outcome_name(r->outcome));
	cJSON *fps = json_string_array(&r->fingerprints);
	redact_json(w->redactor, fps);
	cJSON_AddItemToObject(o, "fingerprints", fps);
	cJSON_AddNumberToObject(o, "elapsed_s", (double)(int64_t)(r->elapsed_s * 1000) / 1000.0);
	char *name = redacted_bounded(w, w->name, 200, 1);
	cJSON_AddStringToObject(o, "name", name);
	free(name);
	if (w->condition || w->condition_argv.n) {
		char *c = condition_text(w);
		char *rc = redacted_bounded(w, c, 1024, 1);
		cJSON_AddStringToObject(o, "condition", rc);
		free(rc);
		free(c);
	} else {
		cJSON_AddNullToObject(o, "condition");
	}
	if (w->pol->probe) {
		char *rp = redacted_bounded(w, w->pol->probe, 1024, 1);
		cJSON_AddStringToObject(o, "probe", rp);
		free(rp);
	} else {
		cJSON_AddNullToObject(o, "probe");
	}
	if (w->run_id)
		cJSON_AddStringToObject(o, "run_id", w->run_id);
	if (w->workflow)
		cJSON_AddStringToObject(o, "workflow", w->workflow);
	if (w->step)
		cJSON_AddStringToObject(o, "step", w->step);
	if (w->iteration > 0)
		cJSON_AddNumberToObject(o, "iteration", w->iteration);
	cJSON_AddStringToObject(o, "mode", w->pol->mode == WAIT_MODE_PROBE_AWARE ? "probe_aware" : "timeout_only");
	cJSON_AddStringToObject(o, "message", r->message);
	cJSON_AddItemToObject(o, "reasons", json_string_array(&r->reasons));
	cJSON_AddNumberToObject(o, "observations", r->observations);
	cJSON_AddNumberToObject(o, "max_wait_s", (double)w->pol->max_wait / 1000.0);
	cJSON *lp = w->last_probe ? cJSON_Duplicate(w->last_probe, 1) : NULL;
	cJSON_AddItemToObject(o, "last_probe", lp ? lp : cJSON_CreateNull());
	if (!w->last.met && w->last.class != CLASS_UNSET)
		cJSON_AddStringToObject(o, "last_class", class_name(w->last.class));
	if (r->rule)
		cJSON_AddStringToObject(o, "rule", r->rule);
	else
		cJSON_AddNullToObject(o, "rule");
	cJSON *action = cJSON_AddObjectToObject(o, "action");
	cJSON_AddItemToObject(action, "signals_sent", json_signals_sent(r->signals_sent));
	cJSON_AddBoolToObject(action, "terminated", w->terminated);
	cJSON *ptr = cJSON_AddObjectToObject(o, "pointers");
	cJSON_AddStringToObject(ptr, "probe_log", w->probe_log);
	if (w->stdout_log && fs_exists(w->stdout_log))
		cJSON_AddStringToObject(ptr, "stdout", w->stdout_log);
	else
		cJSON_AddNullToObject(ptr, "stdout");
	if (w->stderr_log && fs_exists(w->stderr_log))
		cJSON_AddStringToObject(ptr, "stderr", w->stderr_log);
	else
		cJSON_AddNullToObject(ptr, "stderr");
	cJSON_AddItemToObject(o, "hints", json_string_array(&r->hints));
	redact_json(w->redactor, o);   /* the whole document: check_id, step, ... too */
	struct wl_err err = WL_ERR_INIT;
	if (json_write_atomic(w->failure_file, o, &err) < 0)
		warn(w, err.msg);
	else
		w->res.failure_file = w->failure_file;
	cJSON_Delete(o);
}

/* --- ending ---------------------------------------------------------------- */

static void child_detach(struct wait *w)
{
	if (w->child_ref) {
		w->child_ref->w = NULL;
		proc_stop(w->child);
	}
	w->child = NULL;
	w->child_ref = NULL;
}

static void observation_reset(struct wait *w);

static void wait_free(struct wait *w)
{
	child_detach(w);
	evloop_cancel_timer(w->loop, w->next_timer);
	evloop_cancel_timer(w->loop, w->deadline_timer);
	evloop_cancel_timer(w->loop, w->silence_timer);
	classifier_free(w->cls);
	redactor_free(w->own_redactor);
	free(w->condition);
	strvec_clear(&w->condition_argv);
	free(w->shell);
	strvec_clear(&w->env);
	free(w->cwd);
	free(w->out_dir);
	free(w->check_id);
	free(w->run_id);
	free(w->workflow);
	free(w->step);
	free(w->name);
	free(w->stdout_log);
	free(w->stderr_log);
	free(w->error);
	observation_reset(w);
	classification_release(&w->last);
	free(w->last_summary);
	cJSON_Delete(w->last_probe);
	free(w->last_probe_error);
	strbuf_release(&w->tail);
	redact_stream_free(w->tail_rs);
	strvec_clear(&w->res.fingerprints);
	strvec_clear(&w->res.reasons);
	strvec_clear(&w->res.hints);
	free(w->message);
	free(w->rule);
	free(w->probe_log);
	free(w->failure_file);
	free(w);
}

/*
 * Fix the outcome: fingerprints (prefixed, sorted, unique, never empty for a
 * failure), reasons, hints, message. Artifacts are written by deliver().
 */
static void set_outcome(struct wait *w, enum wait_outcome outcome, const struct classification *c)
{
	if (w->finished)
		return;
	w->finished = 1;
	struct wait_result *r = &w->res;
	r->outcome = outcome;
	r->early_abort = wait_outcome_is_early_abort(outcome);
	const char *prefix = w->pol->fingerprint_prefix;
	const struct classification *src = c ? c : &w->last;
	if (outcome == WAIT_ERROR) {
		/* c->fingerprints holds the one "<what>/not-executable" fingerprint */
		for (size_t i = 0; c && i < c->fingerprints.n; i++)
			strvec_push_owned(&r->fingerprints, fingerprint_prefixed(prefix, c->fingerprints.v[i]));
		if (!r->fingerprints.n)
			strvec_push_owned(&r->fingerprints, fingerprint_prefixed(prefix, "not-executable"));
		strvec_push(&r->reasons, w->error ? w->error : "cannot execute");
		w->rule = xstrdup("not_executable");
		w->message = redacted_bounded(w, w->error ? w->error : "cannot execute", MESSAGE_CAP, 1);
		for (size_t i = 0; i < r->reasons.n; i++) {
			char *e = redacted_bounded(w, r->reasons.v[i], 1024, 1);
			free(r->reasons.v[i]);
			r->reasons.v[i] = e;
		}
		return;
	}
	if (outcome != WAIT_MET && outcome != WAIT_CANCELLED) {
		strvec_copy(&r->fingerprints, &src->fingerprints);
		strvec_copy(&r->reasons, &src->reasons);
		strvec_copy(&r->hints, &src->hints);
		const char *extra = NULL;
		if (outcome == WAIT_TIMEOUT)
			extra = "timeout";
		else if (outcome == WAIT_NO_OUTPUT)
			extra = "no-output";
		else if (outcome == WAIT_STALLED && (!c || !c->fingerprints.n))
			extra = "stalled/no-progress";
		else if (!src->fingerprints.n)
			extra = "terminal/unclassified";
		if (extra)
			strvec_push_owned(&r->fingerprints, fingerprint_prefixed(prefix, extra));
		for (size_t i = 0; i < r->fingerprints.n; i++) {
			char *safe = redacted_bounded(w, r->fingerprints.v[i], 512, 1);
			free(r->fingerprints.v[i]);
			r->fingerprints.v[i] = safe;
		}
		strvec_sort_unique(&r->fingerprints);
		w->rule = xstrdup(c && c->rule ? c->rule : outcome == WAIT_STALLED && !c ? "stall_threshold"
							 : outcome == WAIT_TIMEOUT ? "max_wait"
							 : outcome == WAIT_NO_OUTPUT ? "no_output_timeout" : src->rule);
	}
	struct strbuf m = STRBUF_INIT;
	strbuf_addf(&m, "%s after %d observation%s (%.1fs)", wait_outcome_name(outcome), w->logged,
		    w->logged == 1 ? "" : "s", elapsed_s(w));
	if (outcome == WAIT_STALLED && (!c || !c->fingerprints.n))
		strbuf_addf(&m, ": no progress in %d observations", w->stall.no_progress);
	else if (outcome == WAIT_TIMEOUT)
		strbuf_addf(&m, ": max_wait %.1fs reached", (double)w->pol->max_wait / 1000.0);
	else if (outcome == WAIT_NO_OUTPUT)
		strbuf_addf(&m, ": no output for %.1fs", (double)w->pol->no_output_timeout / 1000.0);
	if (outcome != WAIT_MET && outcome != WAIT_CANCELLED && r->reasons.n)
		strbuf_addf(&m, ": %s", r->reasons.v[0]);
	w->message = redacted_bounded(w, strbuf_str(&m), MESSAGE_CAP, 1);
	strbuf_release(&m);
	if (outcome == WAIT_STALLED && (!c || !c->fingerprints.n))
		strvec_pushf(&r->reasons, "no progress in %d consecutive observations (stall_threshold %d)",
			     w->stall.no_progress, w->pol->stall_threshold);
	if (outcome == WAIT_TIMEOUT)
		strvec_pushf(&r->reasons, "max_wait %.1fs reached", (double)w->pol->max_wait / 1000.0);
	if (outcome == WAIT_NO_OUTPUT)
		strvec_pushf(&r->reasons, "no output for %.1fs (no_output_timeout)",
			     (double)w->pol->no_output_timeout / 1000.0);
	for (size_t i = 0; i < r->reasons.n; i++) {
		char *s = redacted_bounded(w, r->reasons.v[i], 1024, 1);
		free(r->reasons.v[i]);
		r->reasons.v[i] = s;
	}
}

/* Write the artifacts, emit the events, call on_done, free. */
static void deliver(struct wait *w)
{
	struct wait_result *r = &w->res;
	r->observations = w->logged;   /* what wait-probe.log holds: an observation cut short is not one */
	r->elapsed_s = elapsed_s(w);
	r->name = w->name;
	r->settings = w->settings;
	r->message = w->message;
	r->rule = w->rule;
	r->probe_log = w->probe_log;
	if (r->outcome != WAIT_MET && r->outcome != WAIT_CANCELLED)
		write_failure(w);
	cJSON *d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "name", w->name);
	cJSON_AddStringToObject(d, "outcome", wait_outcome_name(r->outcome));
	cJSON_AddNumberToObject(d, "elapsed_s", r->elapsed_s);
	cJSON_AddNumberToObject(d, "observations", r->observations);
	cJSON_AddItemToObject(d, "fingerprints", json_string_array(&r->fingerprints));
	cJSON_AddStringToObject(d, "phase", wait_phase_name(w->phase));
	char *target = redacted(w, w->pol->target ? w->pol->target : w->name);
	cJSON_AddStringToObject(d, "target", target);
	free(target);
	cJSON_AddBoolToObject(d, "early_abort", r->early_abort);
	int thr = active_stall_threshold(w);
	if (thr) {
		cJSON_AddNumberToObject(d, "no_progress", w->stall.no_progress);
		cJSON_AddNumberToObject(d, "stall_threshold", thr);
	}
	cJSON_AddStringToObject(d, "message", r->message ? r->message : "");
	if (r->failure_file)
		cJSON_AddStringToObject(d, "failure_file", r->failure_file);
	emit(w, EV_WAIT_FINISHED, d);   /* the one wait-end event; early_abort says how it ended */
	if (w->on_done)
		w->on_done(w->done_arg, r);
	wait_free(w);
}

/* Condition mode: decide and deliver now unless a child still has to go. */
static void finish(struct wait *w, enum wait_outcome outcome, const struct classification *c)
{
	set_outcome(w, outcome, c);
	if (w->guarded) {
		/* guard mode: stop the process; wait_guard_finish() delivers */
		child_detach(w);
		evloop_cancel_timer(w->loop, w->next_timer);
		evloop_cancel_timer(w->loop, w->silence_timer);
		evloop_cancel_timer(w->loop, w->deadline_timer);
		w->next_timer = w->silence_timer = w->deadline_timer = 0;
		proc_stop(w->guarded);
		return;
	}
	if (w->child) {
		w->terminated = 1;
		proc_stop(w->child);   /* its on_exit delivers */
		return;
	}
	deliver(w);
}

/* --- observations ---------------------------------------------------------- */

static void start_observation(void *arg);
static void observe_done(struct wait *w);

/* Output as text for patterns: a NUL byte becomes a space, so what follows
 * it is still seen (docs/wait_policy.md "Pattern dialect"). Caller frees. */
static char *text_dup(const char *buf, size_t len)
{
	char *t = xmalloc(len + 1);
	if (len)
		memcpy(t, buf, len);
	t[len] = '\0';
	for (size_t i = 0; i < len; i++)
		if (t[i] == '\0')
			t[i] = ' ';
	return t;
}

static void observation_reset(struct wait *w)
{
	w->cond_ran = 0;
	w->cond_exit = -1;
	free(w->cond_output);
	free(w->probe_output);
	cJSON_Delete(w->probe);
	free(w->probe_error);
	free(w->probe_error_output);
	free(w->classify_error);
	w->cond_output = w->probe_output = w->probe_error = w->classify_error = w->probe_error_output = NULL;
	w->probe = NULL;
	w->probe_fail_why = NULL;
	w->probe_broken = 0;
	strvec_clear(&w->warnings);
}

static void child_exit(void *arg, const struct proc_result *res);

/* The condition's output, passed through as it arrives. */
static void child_output(void *arg, enum proc_stream stream, const char *data, size_t len)
{
	struct child_ref *ref = arg;
	if (ref->w && ref->kind == CHILD_CONDITION && ref->w->on_output)
		ref->w->on_output(ref->w->arg, stream == PROC_STDERR ? 2 : 1, data, len);
}

static int start_child(struct wait *w, enum child_kind kind, char *const *argv, const char *stdin_data,
		       int64_t timeout_ms, struct wl_err *err)
{
	struct child_ref *ref = xcalloc(1, sizeof(*ref));
	ref->w = w;
	ref->kind = kind;
	struct proc_spec spec = PROC_SPEC_INIT;
	spec.argv = argv;
	spec.env = w->inherit_env ? NULL : w->env.v;
	spec.cwd = w->cwd;
	spec.stdin_data = stdin_data;
	spec.stdin_len = stdin_data ? strlen(stdin_data) : 0;
	spec.capture_out = OUTPUT_CAP;
	spec.capture_tail = OUTPUT_CAP;
	spec.tail_redactor = w->redactor;   /* the boundary: conditions' output is redacted as it comes */
	spec.timeout_ms = timeout_ms > 0 ? timeout_ms : 1;
	spec.grace_ms = w->pol->child_grace;
	spec.linger_ms = 500;
	spec.on_exit = child_exit;
	spec.arg = ref;
	if (kind == CHILD_CONDITION) {
		spec.stdout_path = w->stdout_log;
		spec.stderr_path = w->stderr_log;
		spec.on_output = child_output;
	}
	struct proc *p = proc_start(w->loop, &spec, err);
	if (!p) {
		free(ref);
		return -1;
	}
	w->child = p;
	w->child_ref = ref;
	return 0;
}

/* How long this try of the condition may run (see wait.h, "Condition timing"). */
static int64_t condition_timeout(const struct wait *w)
{
	if (w->condition_timeout > 0)
		return w->condition_timeout;
	int64_t left = w->deadline_ms - time_now_ms();
	return left > MIN_CONDITION_TIMEOUT_MS ? left : MIN_CONDITION_TIMEOUT_MS;
}

static void shell_argv(struct wait *w, const char *cmd, struct strvec *argv)
{
	strvec_push(argv, w->shell);
	strvec_push(argv, "-c");
	strvec_push(argv, cmd);
}

static void run_probe_or_classify(struct wait *w);
static void finish(struct wait *w, enum wait_outcome outcome, const struct classification *c);

/* End the wait with WAIT_ERROR (w->error says why): what = condition | probe | classifier. */
static void not_executable(struct wait *w, const char *what)
{
	struct classification c = CLASSIFICATION_INIT;
	strvec_pushf(&c.fingerprints, "%s/not-executable", what);
	finish(w, WAIT_ERROR, &c);
	classification_release(&c);
}

/* The name in a shell's "bash: line 1: kubctl: command not found" / "x: Permission denied". */
static char *shell_complaint(const char *out, const char *what)
{
	const char *hit = out ? strstr(out, what) : NULL;
	if (!hit || hit - out < 3 || hit[-1] != ' ' || hit[-2] != ':')
		return NULL;
	const char *end = hit - 2, *b = end;
	while (b > out && b[-1] != ' ' && b[-1] != '\n')
		b--;
	return b < end ? xstrndup(b, (size_t)(end - b)) : NULL;
}

/*
 * Why a child could not be executed, or NULL when it ran: an exec failure,
 * or exit 126/127 from its FIRST run (through the shell, the same failure).
 * what is "condition", "probe" or "classifier"; cmd is argv[0] or the command.
 */
static char *exec_problem(const struct proc_result *res, int first, const char *what, const char *cmd,
			  int argv_form)
{
	if (res->exec_failed) {
		int spaced = argv_form && strchr(cmd, ' ');
		const char *why = res->exec_errno == ENOENT ? "command not found" : res->exec_errno == EACCES
				  ? "permission denied" : NULL;
		if (!why)
			return xasprintf("%s cannot be executed: %s", what, res->exec_error);
		if (spaced)
			return xasprintf("%s: %s (the whole command is one word: pass its words separately, "
					 "or give it as one shell command with --condition)", why, cmd);
		return xasprintf("%s: %s", why, cmd);
	}
	if (!first || !res->exited || (res->exit_code != 126 && res->exit_code != 127) || res->timed_out)
		return NULL;
	char *out = xstrndup(res->tail ? res->tail : "", res->tail_len);
	char *name = shell_complaint(out, res->exit_code == 127 ? "command not found" : "Permission denied");
	if (!name && res->exit_code == 127)
		name = shell_complaint(out, "No such file or directory");
	char *msg;
	if (name)
		msg = xasprintf("%s: %s", res->exit_code == 127 ? "command not found" : "permission denied", name);
	else
		msg = xasprintf("the %s exited %d on its first run (%s): %s", what, res->exit_code,
				res->exit_code == 127 ? "command not found" : "cannot execute", cmd);
	free(name);
	free(out);
	return msg;
}

static void start_condition(struct wait *w)
{
	struct strvec argv = STRVEC_INIT;
	if (w->condition_argv.n)
		strvec_copy(&argv, &w->condition_argv);
	else
		shell_argv(w, w->condition, &argv);
	struct wl_err err = WL_ERR_INIT;
	int rc = start_child(w, CHILD_CONDITION, argv.v, NULL, condition_timeout(w), &err);
	strvec_clear(&argv);
	if (rc < 0) {
		/* no pipe, no fork, no capture file: nothing will ever run */
		w->error = xasprintf("cannot start the condition: %s", err.msg);
		not_executable(w, "condition");
	}
}

static void start_probe(struct wait *w)
{
	struct strvec argv = STRVEC_INIT;
	shell_argv(w, w->pol->probe, &argv);
	struct wl_err err = WL_ERR_INIT;
	int rc = start_child(w, CHILD_PROBE, argv.v, NULL, w->pol->probe_timeout, &err);
	strvec_clear(&argv);
	if (rc < 0) {
		w->probe_error = xstrdup(err.msg);
		w->probe_fail_why = "nonzero-exit";
		observe_done(w);
	}
}

static void classify_and_decide(struct wait *w, struct classification *c);

/* After the condition: the probe when the condition failed in probe_aware mode, then classification. */
static void run_probe_or_classify(struct wait *w)
{
	if (w->pol->mode == WAIT_MODE_PROBE_AWARE && w->pol->probe && !(w->cond_ran && w->cond_exit == 0))
		start_probe(w);
	else
		observe_done(w);
}

/* The last non-empty line of text (bounded), for messages. */
static char *last_line(const char *text, size_t len)
{
	while (len && isspace((unsigned char)text[len - 1]))
		len--;
	size_t b = len;
	while (b && text[b - 1] != '\n')
		b--;
	if (len - b > 300)
		len = b + 300;
	return xstrndup(text + b, len - b);
}

/*
 * Parse the probe's output: exactly one JSON object. A probe that cannot
 * run at all (exec failure, exit 126/127 from the shell: missing file, not
 * executable, command not found) is "broken"; other failures get a short
 * why for the probe-failed/<why> fingerprint.
 */
static void take_probe(struct wait *w, const struct proc_result *res)
{
	w->probe_output = xstrndup(res->out ? res->out : "", res->out_len);
	if (res->exec_failed) {
		char *e = redacted(w, res->exec_error);
		w->probe_error = xasprintf("probe could not start: %s", e);
		free(e);
		w->probe_broken = 1;
	} else if (res->timed_out) {
		w->probe_error = xasprintf("probe timed out after %.1fs", (double)w->pol->probe_timeout / 1000.0);
		w->probe_fail_why = "too-slow";
	} else if (!res->exited) {
		w->probe_error = xasprintf("probe killed by signal %d", res->signo);
		w->probe_fail_why = "nonzero-exit";
	} else if (res->exit_code != 0) {
		char *tail = xstrndup(res->tail ? res->tail : "", res->tail_len > 300 ? 300 : res->tail_len);
		w->probe_error = xasprintf("probe exited %d: %s", res->exit_code, tail);
		free(tail);
		w->probe_fail_why = "nonzero-exit";
		w->probe_broken = res->exit_code == 126 || res->exit_code == 127;
		char *raw = xstrndup(res->tail ? res->tail : "", res->tail_len);
		w->probe_error_output = redacted(w, raw);   /* the classifier sees redacted data only */
		free(raw);
		if (w->probe_broken) {
			char *line = last_line(w->probe_error_output, strlen(w->probe_error_output));
			free(w->probe_error);
			w->probe_error = xasprintf("probe '%s' cannot run (exit %d): %s", w->pol->probe, res->exit_code,
						   *line ? line : "no output");
			free(line);
		}
	} else if (res->out_truncated) {
		w->probe_error = xasprintf("probe output larger than %d KiB", OUTPUT_CAP / 1024);
		w->probe_fail_why = "too-large";
	} else {
		const char *end = NULL;
		size_t plen = strlen(w->probe_output);
		cJSON *j = json_too_deep(w->probe_output, plen) ? NULL
			   : cJSON_ParseWithLengthOpts(w->probe_output, plen, &end, 0);
		while (j && end && isspace((unsigned char)*end))
			end++;
		if (!j && json_too_deep(w->probe_output, plen))
			w->probe_error = xasprintf("probe output nests deeper than %d", JSON_MAX_DEPTH);
		else if (!j)
			w->probe_error = xstrdup("probe output is not JSON");
		else if (!cJSON_IsObject(j))
			w->probe_error = xstrdup("probe output is not a JSON object");
		else if (end && *end)
			w->probe_error = xstrdup("probe printed more than one JSON value");
		if (w->probe_error) {
			cJSON_Delete(j);
			w->probe_fail_why = "not-json";
		} else {
			/* the boundary: the classifier and everything after it see redacted data only */
			redact_json(w->redactor, j);
			w->probe = j;
			char *safe = redacted(w, w->probe_output);
			free(w->probe_output);
			w->probe_output = safe;
		}
	}
	if (w->probe_error) {
		free(w->probe_output);
		w->probe_output = NULL;
	}
}

static void child_exit(void *arg, const struct proc_result *res)
{
	struct child_ref *ref = arg;
	struct wait *w = ref->w;
	enum child_kind kind = ref->kind;
	free(ref);
	if (!w)
		return;   /* the wait is gone; this child was stopped on its way out */
	w->child = NULL;
	w->child_ref = NULL;
	if (res->signals_sent && (res->stopped || res->timed_out))
		w->res.signals_sent |= res->signals_sent;
	if (res->timed_out && w->deadline_hit)
		w->terminated = 1;   /* the try running at max_wait was stopped */
	if (w->cancelled) {
		set_outcome(w, WAIT_CANCELLED, NULL);
		deliver(w);
		return;
	}
	if (w->finished) {   /* outcome decided while the child ran (deadline) */
		deliver(w);
		return;
	}
	switch (kind) {
	case CHILD_CONDITION: {
		char *why = exec_problem(res, w->observations == 1, "condition",
					 w->condition_argv.n ? w->condition_argv.v[0] : w->condition,
					 w->condition_argv.n > 0);
		if (why) {
			w->error = why;
			not_executable(w, "condition");
			return;
		}
		w->cond_ran = 1;
		w->cond_exit = res->exec_failed ? res->exit_code
			       : res->exited    ? res->exit_code
			       : res->timed_out ? 124
						: 128 + res->signo;
		w->cond_output = text_dup(res->tail, res->tail_len);
		if (res->exec_failed) {
			free(w->cond_output);
			w->cond_output = redacted(w, res->exec_error);
		} else if (res->timed_out) {
			char *o = xasprintf("%s\n[waitloop: condition stopped after %.1fs (condition timeout)]",
					    w->cond_output, (double)(res->end_ms - res->start_ms) / 1000.0);
			free(w->cond_output);
			w->cond_output = o;
		}
		run_probe_or_classify(w);
		return;
	}
	case CHILD_PROBE:
		/* a probe that cannot be executed is classify/stall logic's "probe-broken" */
		take_probe(w, res);
		observe_done(w);
		return;
	case CHILD_CLASSIFY: {
		char *why = exec_problem(res, !w->classify_ran, "classifier", w->pol->classify, 0);
		w->classify_ran = 1;
		if (why) {
			w->error = xasprintf("classify: %s", why);
			free(why);
			not_executable(w, "classifier");
			return;
		}
		struct classification *c = xcalloc(1, sizeof(*c));
		struct wl_err err = WL_ERR_INIT;
		char *raw = xstrndup(res->out ? res->out : "", res->out_len);
		char *out = redacted(w, raw);   /* its fingerprints and reasons come from redacted text */
		free(raw);
		if (res->exec_failed)
			w->classify_error = xasprintf("classifier could not start: %s", res->exec_error);
		else if (res->timed_out)
			w->classify_error = xasprintf("classifier timed out after %ds", CLASSIFY_TIMEOUT_MS / 1000);
		else if (!res->exited || res->exit_code != 0)
			w->classify_error = xasprintf("classifier exited %d", res->exited ? res->exit_code : 128 + res->signo);
		else if (classify_parse_external(w->cls, out, c, &err) < 0)
			w->classify_error = xstrdup(err.msg);
		free(out);
		if (w->classify_error) {
			classification_release(c);
			classifier_finish(w->cls, w->probe, c);
		}
		classify_and_decide(w, c);
		classification_release(c);
		free(c);
		return;
	}
	case CHILD_NONE:
		break;
	}
}

int64_t wait_schedule_next(const struct wait_settings *settings, int64_t obs_start_ms, int64_t now_ms,
			   int64_t *interval_ms)
{
	const struct wl_wait_policy *pol = &settings->p;
	int64_t next = obs_start_ms + *interval_ms;
	if (pol->backoff_factor > 1.0) {
		int64_t cap = pol->backoff_max_interval > 0 ? pol->backoff_max_interval : INT64_MAX / 4;
		*interval_ms = backoff_delay(*interval_ms, pol->backoff_factor, cap, 1);
	}
	return next > now_ms ? next : now_ms;
}

static void schedule_next(struct wait *w)
{
	int64_t due = wait_schedule_next(w->settings, w->obs_start_ms, time_now_ms(), &w->interval_ms);
	w->next_timer = evloop_add_timer(w->loop, due, start_observation, w);
}

/* N failed probes in a row that nothing explained: stalled, saying why, never "no progress". */
static void probe_failed_stall(struct wait *w)
{
	struct classification c = CLASSIFICATION_INIT;
	c.class = CLASS_STALLED;
	c.rule = xstrdup("probe-failed");
	char *fp = xasprintf("probe-failed/%s", w->probe_fail_why ? w->probe_fail_why : "nonzero-exit");
	strvec_push_owned(&c.fingerprints, fingerprint_prefixed(w->pol->fingerprint_prefix, fp));
	free(fp);
	strvec_pushf(&c.reasons, "the probe failed %d times in a row (%s): %s", w->probe_fail_streak,
		     w->probe_fail_why ? w->probe_fail_why : "nonzero-exit", w->probe_error ? w->probe_error : "?");
	strvec_push(&c.hints, "fix the probe: run it by hand and check that it prints one JSON object");
	finish(w, WAIT_STALLED, &c);
	classification_release(&c);
}

/* Account the classified observation: progress, log, end or go on. */
static void classify_and_decide(struct wait *w, struct classification *c)
{
	char digest[DIGEST_HEX_LEN + 1] = "";
	const char *dg = NULL;
	int changed = 0;
	if (!c->met && w->pol->mode == WAIT_MODE_PROBE_AWARE) {
		const char *pd = json_get_string(cJSON_IsObject(w->probe) ? w->probe : NULL, "digest");
		if (pd && *pd) {
			snprintf(digest, sizeof(digest), "%s", pd);
			dg = digest;
		} else if (w->probe) {
			digest_json(w->probe, &w->pol->ignore_fields, digest);
			dg = digest;
		} else if (!w->pol->probe && w->cond_ran) {
			digest_hex(w->cond_output ? w->cond_output : "", w->cond_output ? strlen(w->cond_output) : 0,
				   digest);
			dg = digest;
		}
		/* guard mode without a probe: progress is not tracked (silence is no_output_timeout's job);
		 * observations that say nothing (API down, object absent, failed probe) leave the count alone */
		int probe_failed = w->probe_error && !c->probe_explained;
		if ((!w->guarded || w->pol->probe) && !c->no_evidence && !probe_failed)
			changed = stall_count_observe(&w->stall, c->class, dg);
		if (probe_failed && c->class == CLASS_RETRYABLE)
			w->probe_fail_streak++;
		else if (!w->probe_error || c->probe_explained)
			w->probe_fail_streak = 0;
	}
	free(w->last_summary);
	w->last_summary = observation_summary(w, c);
	if (w->probe || w->probe_error) {
		cJSON_Delete(w->last_probe);
		w->last_probe = bounded_probe(w);
	}
	log_observation(w, c, dg, changed);
	classification_release(&w->last);
	w->last = *c;
	memset(c, 0, sizeof(*c));
	const struct classification *last = &w->last;
	if (last->met) {
		finish(w, WAIT_MET, last);
		return;
	}
	if (w->pol->mode == WAIT_MODE_PROBE_AWARE) {
		if (last->class == CLASS_TERMINAL_FAIL) {
			finish(w, WAIT_TERMINAL_FAIL, last);
			return;
		}
		if (last->class == CLASS_STALLED) {
			finish(w, WAIT_STALLED, last);
			return;
		}
		if (w->pol->stall_threshold > 0 && w->probe_fail_streak >= w->pol->stall_threshold) {
			probe_failed_stall(w);
			return;
		}
		/* stalling needs evidence: without a probe, an unchanged condition output
		 * stalls only when the user asked for it (stall_threshold written) */
		int thr = active_stall_threshold(w);
		if (thr && w->stall.no_progress >= thr) {
			finish(w, WAIT_STALLED, NULL);
			return;
		}
	}
	if (time_now_ms() >= w->deadline_ms || w->deadline_hit) {
		finish(w, WAIT_TIMEOUT, NULL);
		return;
	}
	if (!w->guarded)
		schedule_next(w);
	else {
		int64_t next = w->obs_start_ms + w->interval_ms, now = time_now_ms();
		w->next_timer = evloop_add_timer(w->loop, next > now ? next : now, start_observation, w);
	}
}

static void observe_done(struct wait *w)
{
	struct classification c = CLASSIFICATION_INIT;
	if (w->pol->mode != WAIT_MODE_PROBE_AWARE) {
		if (w->cond_ran && w->cond_exit == 0)
			c.met = 1;
		else
			c.class = CLASS_RETRYABLE;
		classify_and_decide(w, &c);
		return;
	}
	if (w->probe_broken && !(w->cond_ran && w->cond_exit == 0)) {
		/* a probe that cannot run will not run next time either: say so at once */
		c.class = CLASS_TERMINAL_FAIL;
		c.rule = xstrdup("probe-broken");
		strvec_push_owned(&c.fingerprints, fingerprint_prefixed(w->pol->fingerprint_prefix, "probe-broken"));
		strvec_pushf(&c.reasons, "probe-broken: %s", w->probe_error ? w->probe_error : "the probe cannot run");
		strvec_push(&c.hints, "the probe command cannot be executed: check its path, its interpreter and that "
				      "the commands it runs are installed");
		w->res.probe_broken = 1;
		classify_and_decide(w, &c);
		classification_release(&c);
		return;
	}
	struct obs_input in = {
		.condition_ran = w->cond_ran,
		.condition_exit = w->cond_exit,
		.condition_output = w->cond_output,
		.probe_output = w->probe_output,
		.probe = w->probe,
		.guard_output = NULL,
		.probe_error_output = w->probe_error_output,
	};
	struct strbuf guard = STRBUF_INIT;
	if (w->guarded) {   /* the redacted tail and its unfinished last line */
		strbuf_addstr(&guard, strbuf_str(&w->tail));
		redact_stream_peek(w->tail_rs, &guard);
		in.guard_output = strbuf_str(&guard);
	}
	int decided = classifier_observe(w->cls, &in, &c);
	strbuf_release(&guard);
	size_t had = w->warnings.n;
	classifier_take_warnings(w->cls, &w->warnings);
	for (size_t i = had; i < w->warnings.n; i++)
		warn(w, w->warnings.v[i]);   /* once per pattern */
	if (decided) {
		classify_and_decide(w, &c);
		classification_release(&c);
		return;
	}
	if (w->pol->classify) {
		char *input = classify_input_json(w->probe, w->cond_ran ? w->cond_exit : -1, w->cond_output,
						  w->observations, elapsed_s(w));
		struct strvec argv = STRVEC_INIT;
		shell_argv(w, w->pol->classify, &argv);
		struct wl_err err = WL_ERR_INIT;
		int rc = start_child(w, CHILD_CLASSIFY, argv.v, input, CLASSIFY_TIMEOUT_MS, &err);
		strvec_clear(&argv);
		free(input);
		classification_release(&c);
		if (rc == 0)
			return;
		w->classify_error = xasprintf("classifier could not start: %s", err.msg);
	}
	classifier_finish(w->cls, w->probe, &c);
	classify_and_decide(w, &c);
	classification_release(&c);
}

static void start_observation(void *arg)
{
	struct wait *w = arg;
	w->next_timer = 0;
	if (w->finished || w->child)
		return;
	observation_reset(w);
	w->observations++;
	w->obs_start_ms = time_now_ms();
	if (w->guarded) {
		if (w->pol->mode == WAIT_MODE_PROBE_AWARE && w->pol->probe)
			start_probe(w);
		else
			observe_done(w);
		return;
	}
	start_condition(w);
}

static void deadline_fired(void *arg)
{
	struct wait *w = arg;
	w->deadline_timer = 0;
	w->deadline_hit = 1;
	if (w->finished)
		return;
	if (w->guarded) {
		finish(w, WAIT_TIMEOUT, NULL);
		return;
	}
	/* Condition mode. A running try (or its probe/classifier) ends within its
	 * own timeout and then decides; between tries, one last try runs now. */
	if (w->child)
		return;
	evloop_cancel_timer(w->loop, w->next_timer);
	w->next_timer = 0;
	w->last_try = 1;
	start_observation(w);
}

/* --- set-up ---------------------------------------------------------------- */

static struct wait *wait_new(const struct wait_params *p, struct wl_err *err)
{
	if (!p->loop || !p->settings)
		return err_set(err, "wait: loop and settings are required"), NULL;
	const struct wl_wait_policy *pol = &p->settings->p;
	if (pol->max_wait < 0)
		return err_set(err, "wait: max_wait must not be negative"), NULL;
	if (pol->interval <= 0)
		return err_set(err, "wait: interval must be positive"), NULL;
	if (!p->out_dir)
		return err_set(err, "wait: out_dir is required"), NULL;
	if (p->condition_timeout < 0)
		return err_set(err, "wait: condition_timeout must not be negative"), NULL;
	if (fs_mkdir_p(p->out_dir, err) < 0)
		return NULL;
	struct wait *w = xcalloc(1, sizeof(*w));
	w->loop = p->loop;
	w->settings = p->settings;
	w->pol = pol;
	w->phase = p->phase;
	w->condition = xstrdup(p->condition);
	for (size_t i = 0; p->condition_argv && p->condition_argv[i]; i++)
		strvec_push(&w->condition_argv, p->condition_argv[i]);
	w->shell = xstrdup(p->shell ? p->shell : "bash");
	w->inherit_env = p->env == NULL;
	for (size_t i = 0; p->env && p->env[i]; i++)
		strvec_push(&w->env, p->env[i]);
	if (!w->inherit_env && !w->env.n)
		strvec_push(&w->env, "WAITLOOP_EMPTY_ENV=1");   /* an empty vector must not mean "inherit" */
	w->cwd = xstrdup(p->cwd);
	w->out_dir = fs_abspath(p->out_dir);
	w->run_id = xstrdup(p->run_id);
	w->workflow = xstrdup(p->workflow);
	w->step = xstrdup(p->step);
	w->iteration = p->iteration;
	w->name = wait_derive_name(p->name, pol->target, p->condition, p->condition_argv);
	w->stdout_log = p->stdout_log ? fs_abspath(p->stdout_log) : NULL;
	w->stderr_log = p->stderr_log ? fs_abspath(p->stderr_log) : NULL;
	w->condition_timeout = p->condition_timeout;
	w->on_output = p->on_output;
	if (p->check_id)
		w->check_id = xstrdup(p->check_id);
	else if (p->workflow && p->step)
		w->check_id = xasprintf("%s/%s", p->workflow, p->step);
	else
		w->check_id = xstrdup(pol->target ? pol->target : "standalone");
	w->redactor = p->redactor;
	if (!w->redactor) {
		w->own_redactor = redactor_new(NULL, NULL, err);
		w->redactor = w->own_redactor;
	}
	w->bus = p->bus;
	w->on_done = p->on_done;
	w->on_warning = p->on_warning;
	w->arg = p->arg;
	w->done_arg = p->done_arg ? p->done_arg : p->arg;
	w->cond_exit = -1;
	w->probe_log = fs_join(w->out_dir, "wait-probe.log");
	w->failure_file = fs_join(w->out_dir, "wait-failure.json");
	if (pol->mode == WAIT_MODE_PROBE_AWARE) {
		w->cls = classifier_new(p->settings, err);
		if (!w->cls) {
			wait_free(w);
			return NULL;
		}
	}
	/* a failure file from an earlier wait in this directory is stale now */
	if (unlink(w->failure_file) < 0 && errno != ENOENT) {
		err_set(err, "cannot remove '%s': %s", w->failure_file, strerror(errno));
		wait_free(w);
		return NULL;
	}
	/* each wait starts its own log: seq numbers are unique within a file */
	if (unlink(w->probe_log) < 0 && errno != ENOENT) {
		err_set(err, "cannot remove '%s': %s", w->probe_log, strerror(errno));
		wait_free(w);
		return NULL;
	}
	w->start_ms = time_now_ms();
	w->deadline_ms = w->start_ms + pol->max_wait;
	w->interval_ms = pol->interval;
	w->deadline_timer = evloop_add_timer(w->loop, w->deadline_ms, deadline_fired, w);
	return w;
}

struct wait *wait_start(const struct wait_params *p, struct wl_err *err)
{
	if (!p->condition && !(p->condition_argv && p->condition_argv[0]))
		return err_set(err, "wait: a condition is required"), NULL;
	struct wait *w = wait_new(p, err);
	if (!w)
		return NULL;
	w->next_timer = evloop_add_timer(w->loop, time_now_ms(), start_observation, w);
	return w;
}

static void silence_check(void *arg)
{
	struct wait *w = arg;
	w->silence_timer = 0;
	if (w->finished)
		return;
	int64_t due = w->last_output_ms + w->pol->no_output_timeout;
	if (time_now_ms() >= due) {
		finish(w, WAIT_NO_OUTPUT, NULL);
		return;
	}
	w->silence_timer = evloop_add_timer(w->loop, due, silence_check, w);
}

struct wait *wait_guard_start(const struct wait_params *p, struct proc *guarded, struct wl_err *err)
{
	if (!guarded)
		return err_set(err, "wait: no process to guard"), NULL;
	struct wait *w = wait_new(p, err);
	if (!w)
		return NULL;
	w->guarded = guarded;
	w->last_output_ms = w->start_ms;
	if (w->pol->no_output_timeout > 0)
		w->silence_timer = evloop_add_timer(w->loop, w->start_ms + w->pol->no_output_timeout, silence_check, w);
	if (w->pol->mode == WAIT_MODE_PROBE_AWARE)
		w->next_timer = evloop_add_timer(w->loop, w->start_ms + w->interval_ms, start_observation, w);
	return w;
}

void wait_guard_output(struct wait *w, const char *data, size_t len)
{
	if (!w || !len)
		return;
	w->last_output_ms = time_now_ms();
	if (!w->tail_rs)
		w->tail_rs = redact_stream_new(w->redactor);
	size_t from = w->tail.len;
	redact_stream_feed(w->tail_rs, data, len, &w->tail);   /* the boundary: redacted before any use */
	for (size_t i = from; i < w->tail.len; i++)   /* NUL -> space, as text_dup() */
		if (w->tail.buf[i] == '\0')
			w->tail.buf[i] = ' ';
	if (w->tail.len > 2 * OUTPUT_CAP)
		strbuf_keep_tail(&w->tail, OUTPUT_CAP);
}

void wait_guard_finish(struct wait *w, const struct proc_result *res)
{
	if (!w)
		return;
	w->guarded = NULL;
	if (res) {
		w->res.signals_sent |= res->signals_sent;
		w->terminated = w->finished && (res->stopped || res->signals_sent);
	}
	child_detach(w);
	if (w->cancelled && !w->finished)
		set_outcome(w, WAIT_CANCELLED, NULL);
	if (!w->finished)
		set_outcome(w, WAIT_MET, NULL);   /* the guarded process ended on its own */
	deliver(w);
}

void wait_cancel(struct wait *w)
{
	if (!w || w->finished)
		return;
	w->cancelled = 1;
	if (w->guarded)
		return;   /* the caller stops the process and calls wait_guard_finish() */
	evloop_cancel_timer(w->loop, w->next_timer);
	evloop_cancel_timer(w->loop, w->deadline_timer);
	w->next_timer = w->deadline_timer = 0;
	if (w->child) {
		proc_stop(w->child);   /* child_exit delivers */
		return;
	}
	set_outcome(w, WAIT_CANCELLED, NULL);
	deliver(w);
}
