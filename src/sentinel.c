/*
 * sentinel: roboppi's Sentinel guard. See sentinel.h.
 *
 * Kept apart from the wait_policy engine (wait.c) on purpose: roboppi's
 * rules differ in every detail that decides an outcome (the first probe at
 * once, `class: stalled` not special, a digest count that starts at 1,
 * probe errors ignored unless on_probe_error says otherwise, `ignore`
 * actions that keep watching, its own artifacts), and both share the same
 * process layer (proc.c) and loop.
 */
#include "sentinel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "fsutil.h"
#include "jsonutil.h"
#include "evloop.h"
#include "proc.h"
#include "redact.h"
#include "strbuf.h"
#include "timeutil.h"
#include "xalloc.h"

#define PROBE_OUT_CAP (64 * 1024)
#define PROBE_ERR_CAP (4 * 1024)
#define DEFAULT_PROBE_TIMEOUT_MS 5000
#define DEFAULT_PROBE_ERROR_THRESHOLD 3

struct probe_ref {
	struct sentinel *s;          /* NULL once the sentinel is gone */
	struct strbuf err;           /* the probe's stderr (bounded) */
};

struct sentinel {
	struct evloop *loop;
	struct sentinel_policy pol;
	int is_check, worker_events;
	struct strvec env;
	int inherit_env;
	char *cwd, *stall_dir, *step, *workflow_id, *workflow_name, *events_file;
	int iteration;
	const struct redactor *rd;
	sentinel_warn_fn on_warning;
	void *arg;
	struct proc *guarded;

	/* no-output watcher */
	uint64_t silence_timer;
	int64_t last_activity_ms;
	int had_worker_event;
	int silence_ignored;

	/* probe watcher */
	uint64_t probe_timer;
	struct proc *probe;
	struct probe_ref *probe_ref;
	char last_digest[DIGEST_HEX_LEN + 1 + 64];
	int same_digest;
	int probe_errors;
	int stall_ignored, terminal_ignored;
	int probe_stopped;

	int fired;
	struct sentinel_trigger trig;
};

const char *error_class_name(enum wl_error_class c)
{
	switch (c) {
	case ERROR_CLASS_RETRYABLE_RATE_LIMIT: return "RETRYABLE_RATE_LIMIT";
	case ERROR_CLASS_NON_RETRYABLE: return "NON_RETRYABLE";
	case ERROR_CLASS_FATAL: return "FATAL";
	case ERROR_CLASS_RETRYABLE_TRANSIENT:
	case ERROR_CLASS_UNSET: break;
	}
	return "RETRYABLE_TRANSIENT";
}

int sentinel_policy_active(const struct wl_workflow *wf, const struct wl_stall *st, struct sentinel_policy *out)
{
	memset(out, 0, sizeof(*out));
	if (wf->sentinel.enabled != 1)
		return 0;   /* roboppi starts no SentinelController without sentinel.enabled */
	if (st && !st->present)
		st = NULL;
	if (st && st->enabled == 0)
		return 0;
	int64_t def_noout = wf->sentinel.no_output_timeout > 0 ? wf->sentinel.no_output_timeout : 0;
	int64_t noout = st && st->no_output_timeout > 0 ? st->no_output_timeout : def_noout;
	enum wl_activity act = st && st->activity_source ? st->activity_source : wf->sentinel.activity_source;
	if (!act)
		act = ACTIVITY_WORKER_EVENT;
	int probe = st && st->probe_present;
	if (!noout && !probe)
		return 0;
	if (act == ACTIVITY_PROBE_ONLY && !probe)
		return 0;
	out->no_output_timeout = act == ACTIVITY_PROBE_ONLY ? 0 : noout;
	out->activity_source = act;
	out->stall = st;
	return 1;
}

/* ---- artifacts ---- */

static const struct wl_stall_action_cfg *action_cfg(const struct sentinel *s, const char *kind)
{
	if (!s->pol.stall)
		return NULL;
	return !strcmp(kind, "terminal") ? &s->pol.stall->on_terminal : &s->pol.stall->on_stall;
}

static enum wl_stall_action action_of(const struct wl_stall_action_cfg *a)
{
	return a && a->present && a->action ? a->action : STALL_ACTION_INTERRUPT;
}

static const char *action_word(enum wl_stall_action a)
{
	return a == STALL_ACTION_FAIL ? "fail" : a == STALL_ACTION_IGNORE ? "ignore" : "interrupt";
}

static void write_event(struct sentinel *s, const struct sentinel_trigger *t, int with_probe_log)
{
	enum wl_stall_action act = action_of(action_cfg(s, t->kind));
	cJSON *e = cJSON_CreateObject();
	cJSON_AddStringToObject(e, "schema", "roboppi.sentinel.stall.v1");
	cJSON *wf = cJSON_AddObjectToObject(e, "workflow");
	cJSON_AddStringToObject(wf, "workflow_id", s->workflow_id);
	cJSON_AddStringToObject(wf, "name", s->workflow_name);
	cJSON *st = cJSON_AddObjectToObject(e, "step");
	cJSON_AddStringToObject(st, "id", s->step);
	cJSON_AddNumberToObject(st, "iteration", s->iteration);
	cJSON_AddStringToObject(st, "phase", s->is_check ? "checking" : "executing");
	cJSON *tr = cJSON_AddObjectToObject(e, "trigger");
	cJSON_AddStringToObject(tr, "kind", t->kind);
	cJSON_AddStringToObject(tr, "reason", t->reason);
	cJSON_AddNumberToObject(tr, "observed_at", (double)time_wall_ms());
	cJSON *ac = cJSON_AddObjectToObject(e, "action");
	cJSON_AddStringToObject(ac, "kind", action_word(act));
	cJSON_AddStringToObject(ac, "strategy", act == STALL_ACTION_IGNORE ? "none" : "cancel");
	cJSON_AddBoolToObject(ac, "terminated", act != STALL_ACTION_IGNORE);
	cJSON_AddItemToObject(e, "reasons", json_string_array(&t->reasons));
	cJSON_AddItemToObject(e, "fingerprints", json_string_array(&t->fingerprints));
	cJSON *ptr = cJSON_AddObjectToObject(e, "pointers");
	if (with_probe_log) {
		char *pl = xasprintf("%s/_stall/probe.jsonl", s->step);
		cJSON_AddStringToObject(ptr, "probe_log", pl);
		free(pl);
	}
	cJSON_AddStringToObject(ptr, "telemetry", s->events_file);
	redact_json(s->rd, e);
	struct wl_err err = WL_ERR_INIT;
	char *path = fs_join(s->stall_dir, "event.json");
	if (fs_mkdir_p(s->stall_dir, &err) == 0)
		json_write_atomic(path, e, &err);   /* best effort, as roboppi's */
	free(path);
	cJSON_Delete(e);
}

static void warn(struct sentinel *s, const char *what, const struct sentinel_trigger *t)
{
	if (!s->on_warning)
		return;
	char *msg = xasprintf("[sentinel] Step \"%s\" %s: %s", s->step, what, t->reason);
	char *red = redact_text(s->rd, msg);
	s->on_warning(s->arg, red);
	free(red);
	free(msg);
}

static void trigger_init(struct sentinel_trigger *t, const char *kind)
{
	memset(t, 0, sizeof(*t));
	t->kind = xstrdup(kind);
}

void sentinel_trigger_release(struct sentinel_trigger *t)
{
	free(t->kind);
	free(t->reason);
	strvec_clear(&t->fingerprints);
	strvec_clear(&t->reasons);
	memset(t, 0, sizeof(*t));
}

static void push_prefix(struct strvec *fps, const struct wl_stall_action_cfg *a)
{
	for (size_t i = 0; a && i < a->fingerprint_prefix.n; i++)
		strvec_push(fps, a->fingerprint_prefix.v[i]);
}

/* A trigger of kind: its fingerprint fp, then the action's fingerprint_prefix. */
static void trigger_begin(const struct sentinel *s, struct sentinel_trigger *t, const char *kind, const char *fp)
{
	trigger_init(t, kind);
	strvec_push(&t->fingerprints, fp);
	push_prefix(&t->fingerprints, action_cfg(s, kind));
}

static void stop_watchers(struct sentinel *s);

/* The action of t's kind is ignore: t is recorded and warned about (only the
 * first time when once is not NULL) and released; returns 1. Else 0: fire it. */
static int trigger_ignored(struct sentinel *s, struct sentinel_trigger *t, const char *what, int *once)
{
	if (action_of(action_cfg(s, t->kind)) != STALL_ACTION_IGNORE)
		return 0;
	if (!once || !*once) {
		write_event(s, t, 1);
		warn(s, what, t);
	}
	if (once)
		*once = 1;
	sentinel_trigger_release(t);
	return 1;
}

/* A trigger whose action is not ignore: record it, stop the guarded process. */
static void fire(struct sentinel *s, struct sentinel_trigger *t, const char *what, int with_probe_log)
{
	const struct wl_stall_action_cfg *a = action_cfg(s, t->kind);
	write_event(s, t, with_probe_log);
	warn(s, what, t);
	stop_watchers(s);
	if (s->fired) {
		sentinel_trigger_release(t);
		return;
	}
	s->fired = 1;
	t->action = action_of(a);
	t->error_class = a && a->error_class ? a->error_class
			 : t->action == STALL_ACTION_FAIL ? ERROR_CLASS_NON_RETRYABLE : ERROR_CLASS_RETRYABLE_TRANSIENT;
	t->as_incomplete = a && a->as_incomplete;
	s->trig = *t;
	memset(t, 0, sizeof(*t));
	if (s->guarded)
		proc_stop(s->guarded);
}

/* ---- no-output watcher ---- */

static void silence_check(void *arg)
{
	struct sentinel *s = arg;
	s->silence_timer = 0;
	int64_t now = time_now_ms(), due = s->last_activity_ms + s->pol.no_output_timeout;
	if (now < due) {
		s->silence_timer = evloop_add_timer(s->loop, due, silence_check, s);
		return;
	}
	int no_initial = s->pol.activity_source != ACTIVITY_ANY_EVENT && !s->had_worker_event;
	long thr = (long)((s->pol.no_output_timeout + 500) / 1000);
	struct sentinel_trigger t;
	trigger_init(&t, "no_output");
	if (no_initial)
		t.reason = xasprintf("no worker output received since step start (threshold: %lds) — no worker_event "
				     "ever observed; consider using probe-based detection", thr);
	else
		t.reason = xasprintf("no worker output for %lds (threshold: %lds)",
				     (long)((now - s->last_activity_ms + 500) / 1000), thr);
	strvec_push(&t.fingerprints, "stall/no-output");
	if (no_initial)
		strvec_push(&t.fingerprints, "stall/no-initial-output");
	push_prefix(&t.fingerprints, action_cfg(s, "no_output"));
	strvec_push(&t.reasons, "no worker output detected");
	if (no_initial)
		strvec_push(&t.reasons, "no worker_event received since step start — detection may be unreliable for "
					"this worker type");
	if (action_of(action_cfg(s, "no_output")) == STALL_ACTION_IGNORE) {
		/* once, then keep watching without firing again (roboppi's ignoreFired) */
		s->silence_ignored = 1;
		write_event(s, &t, 0);
		warn(s, "stalled (ignored)", &t);
		sentinel_trigger_release(&t);
		return;
	}
	fire(s, &t, "stalled", 0);
}

void sentinel_output(struct sentinel *s)
{
	if (!s || !s->worker_events)
		return;
	s->had_worker_event = 1;
	s->last_activity_ms = time_now_ms();
}

/* ---- probe watcher ---- */

static void probe_start(void *arg);

static void probe_schedule(struct sentinel *s, int64_t delay)
{
	if (s->probe_stopped || s->fired)
		return;
	s->probe_timer = evloop_add_timer(s->loop, time_now_ms() + delay, probe_start, s);
}

static void append_probe_log(struct sentinel *s, int64_t ts, const char *digest, const cJSON *summary,
			     const char *error, int have_exit, int exit_code, const char *stderr_text)
{
	cJSON *e = cJSON_CreateObject();
	cJSON_AddNumberToObject(e, "ts", (double)ts);
	cJSON_AddStringToObject(e, "digest", digest);
	if (summary)
		cJSON_AddItemToObject(e, "summary", cJSON_Duplicate(summary, 1));
	if (error)
		cJSON_AddStringToObject(e, "error", error);
	if (have_exit)
		cJSON_AddNumberToObject(e, "exitCode", exit_code);
	if (stderr_text && *stderr_text && s->pol.stall->capture_stderr)
		cJSON_AddStringToObject(e, "stderr", stderr_text);
	redact_json(s->rd, e);
	char *line = json_compact(e);
	char *path = fs_join(s->stall_dir, "probe.jsonl");
	struct wl_err err = WL_ERR_INIT;
	if (fs_mkdir_p(s->stall_dir, &err) == 0)
		fs_append_line(path, line, &err);   /* best effort */
	free(path);
	free(line);
	cJSON_Delete(e);
}

static void probe_error(struct sentinel *s, const char *error)
{
	const struct wl_stall *st = s->pol.stall;
	s->probe_errors++;
	int threshold = st->probe_error_threshold > 0 ? st->probe_error_threshold : DEFAULT_PROBE_ERROR_THRESHOLD;
	if (!st->on_probe_error || st->on_probe_error == PROBE_ERROR_IGNORE || s->probe_errors < threshold)
		return;
	const char *kind = st->on_probe_error == PROBE_ERROR_TERMINAL ? "terminal" : "no_progress";
	struct sentinel_trigger t;
	trigger_begin(s, &t, kind, "stall/probe-error");
	t.reason = xasprintf("probe failed %d consecutive times (threshold: %d): %s", s->probe_errors, threshold,
			     error ? error : "unknown error");
	strvec_pushf(&t.reasons, "probe consecutively failed %d times", s->probe_errors);
	if (error)
		strvec_push(&t.reasons, error);
	if (trigger_ignored(s, &t, "probe errors (ignored)", NULL)) {
		s->probe_errors = 0;
		return;
	}
	fire(s, &t, "probe errors", 1);
}

static void probe_result(struct sentinel *s, const cJSON *out, const char *digest)
{
	const struct wl_stall *st = s->pol.stall;
	const char *cls = json_get_string(out, "class");
	const cJSON *fps = cJSON_IsObject(out) ? cJSON_GetObjectItemCaseSensitive(out, "fingerprints") : NULL;
	const cJSON *rsn = cJSON_IsObject(out) ? cJSON_GetObjectItemCaseSensitive(out, "reasons") : NULL;
	if (cls && !strcmp(cls, "terminal")) {
		struct sentinel_trigger t;
		trigger_begin(s, &t, "terminal", "stall/terminal");
		t.reason = xstrdup("probe reported terminal condition");
		json_push_strings(&t.fingerprints, fps);
		strvec_push(&t.reasons, "probe classified as terminal");
		json_push_strings(&t.reasons, rsn);
		if (!trigger_ignored(s, &t, "terminal (ignored)", &s->terminal_ignored))
			fire(s, &t, "terminal", 1);
		return;
	}
	if (cls && !strcmp(cls, "progressing")) {
		snprintf(s->last_digest, sizeof(s->last_digest), "%s", digest);
		s->same_digest = 0;
		return;
	}
	if (!strcmp(digest, s->last_digest)) {
		s->same_digest++;
	} else {
		snprintf(s->last_digest, sizeof(s->last_digest), "%s", digest);
		s->same_digest = 1;
	}
	if (s->same_digest < st->stall_threshold)
		return;
	struct sentinel_trigger t;
	trigger_begin(s, &t, "no_progress", "stall/no-progress");
	t.reason = xasprintf("probe digest unchanged for %d intervals (threshold: %d)", s->same_digest,
			     st->stall_threshold);
	json_push_strings(&t.fingerprints, fps);
	strvec_push(&t.reasons, "probe digest unchanged");
	json_push_strings(&t.reasons, rsn);
	if (trigger_ignored(s, &t, "stalled (ignored)", &s->stall_ignored)) {
		s->same_digest = 0;
		return;
	}
	fire(s, &t, "stalled", 1);
}

static void probe_output(void *arg, enum proc_stream stream, const char *data, size_t len)
{
	struct probe_ref *ref = arg;
	if (stream != PROC_STDERR || ref->err.len >= PROBE_ERR_CAP)
		return;
	size_t room = PROBE_ERR_CAP - ref->err.len;
	strbuf_add(&ref->err, data, len < room ? len : room);
}

static void probe_exit(void *arg, const struct proc_result *res)
{
	struct probe_ref *ref = arg;
	struct sentinel *s = ref->s;
	if (!s) {
		strbuf_release(&ref->err);
		free(ref);
		return;
	}
	s->probe = NULL;
	s->probe_ref = NULL;
	int64_t ts = time_wall_ms() - (res->end_ms - res->start_ms);
	const char *stderr_text = strbuf_str(&ref->err);
	if (res->exec_failed || res->timed_out || (!res->exited && !res->signaled)) {
		const char *e = res->timed_out ? "probe timed out" : res->exec_failed ? res->exec_error : "probe did not exit";
		append_probe_log(s, ts, "", NULL, e, 0, 0, NULL);
		probe_error(s, e);
	} else {
		int code = res->exited ? res->exit_code : 128 + res->signo;
		char *text = xstrndup(res->out ? res->out : "", res->out_len);
		cJSON *out = cJSON_Parse(text);
		free(text);
		if (!out) {
			append_probe_log(s, ts, "", NULL, "probe output is not valid JSON", 1, code, stderr_text);
			probe_error(s, "probe output is not valid JSON");
		} else {
			char digest[DIGEST_HEX_LEN + 1 + 64];
			const char *pd = json_get_string(out, "digest");
			if (pd)
				snprintf(digest, sizeof(digest), "%s", pd);
			else
				digest_json(out, NULL, digest);
			const cJSON *summary = cJSON_IsObject(out) ? cJSON_GetObjectItemCaseSensitive(out, "summary") : NULL;
			if (s->pol.stall->require_zero_exit && code != 0) {
				char *e = xasprintf("probe exited with non-zero code %d (require_zero_exit is enabled)", code);
				append_probe_log(s, ts, digest, NULL, e, 1, code, stderr_text);
				probe_error(s, e);
				free(e);
			} else {
				append_probe_log(s, ts, digest, summary, NULL, 1, code, NULL);
				s->probe_errors = 0;
				probe_result(s, out, digest);
			}
			cJSON_Delete(out);
		}
	}
	strbuf_release(&ref->err);
	free(ref);
	if (!s->fired)
		probe_schedule(s, s->pol.stall->probe_interval);
}

static void probe_start(void *arg)
{
	struct sentinel *s = arg;
	s->probe_timer = 0;
	if (s->probe_stopped || s->fired || s->probe)
		return;
	const struct wl_stall *st = s->pol.stall;
	struct probe_ref *ref = xcalloc(1, sizeof(*ref));
	ref->s = s;
	strbuf_init(&ref->err);
	char *argv[] = {"sh", "-c", st->probe_command, NULL};
	struct proc_spec spec = PROC_SPEC_INIT;
	spec.argv = argv;
	spec.env = s->inherit_env ? NULL : s->env.v;
	spec.cwd = s->cwd;
	spec.capture_out = PROBE_OUT_CAP;
	spec.timeout_ms = st->probe_timeout > 0 ? st->probe_timeout : DEFAULT_PROBE_TIMEOUT_MS;
	spec.grace_ms = 1;      /* roboppi kills a timed-out probe group at once */
	spec.linger_ms = 200;
	spec.on_output = probe_output;
	spec.on_exit = probe_exit;
	spec.arg = ref;
	struct wl_err err = WL_ERR_INIT;
	s->probe = proc_start(s->loop, &spec, &err);
	if (!s->probe) {
		strbuf_release(&ref->err);
		free(ref);
		append_probe_log(s, time_wall_ms(), "", NULL, err.msg, 0, 0, NULL);
		probe_error(s, err.msg);
		if (!s->fired)
			probe_schedule(s, st->probe_interval);
		return;
	}
	s->probe_ref = ref;
}

/* ---- life cycle ---- */

static void stop_watchers(struct sentinel *s)
{
	evloop_cancel_timer(s->loop, s->silence_timer);
	evloop_cancel_timer(s->loop, s->probe_timer);
	s->silence_timer = s->probe_timer = 0;
	s->probe_stopped = 1;
	if (s->probe) {
		s->probe_ref->s = NULL;   /* the stopped probe ends alone */
		proc_stop(s->probe);
		s->probe = NULL;
		s->probe_ref = NULL;
	}
}

struct sentinel *sentinel_start(const struct sentinel_params *p, struct proc *guarded, struct wl_err *err)
{
	if (!guarded)
		return err_set(err, "sentinel: no process to guard"), NULL;
	struct sentinel *s = xcalloc(1, sizeof(*s));
	s->loop = p->loop;
	s->pol = p->policy;
	s->is_check = p->is_check;
	s->worker_events = p->worker_events;
	s->inherit_env = p->env == NULL;
	for (size_t i = 0; p->env && p->env[i]; i++)
		strvec_push(&s->env, p->env[i]);
	s->cwd = xstrdup(p->cwd);
	char *step_dir = fs_join(p->context_dir, p->step);
	s->stall_dir = fs_join(step_dir, "_stall");
	free(step_dir);
	s->step = xstrdup(p->step);
	s->workflow_id = xstrdup(p->workflow_id ? p->workflow_id : "");
	s->workflow_name = xstrdup(p->workflow_name ? p->workflow_name : "");
	s->events_file = xstrdup(p->events_file ? p->events_file : "_workflow/events.jsonl");
	s->iteration = p->iteration;
	s->rd = p->redactor;
	s->on_warning = p->on_warning;
	s->arg = p->arg;
	s->guarded = guarded;
	s->last_activity_ms = time_now_ms();
	if (s->pol.no_output_timeout > 0)
		s->silence_timer = evloop_add_timer(s->loop, s->last_activity_ms + s->pol.no_output_timeout,
						  silence_check, s);
	if (s->pol.stall && s->pol.stall->probe_present && s->pol.stall->probe_command)
		s->probe_timer = evloop_add_timer(s->loop, time_now_ms(), probe_start, s);
	return s;
}

int sentinel_finish(struct sentinel *s, struct sentinel_trigger *t)
{
	if (!s)
		return 0;
	s->guarded = NULL;
	stop_watchers(s);
	int fired = s->fired;
	if (fired && t)
		*t = s->trig;
	else
		sentinel_trigger_release(&s->trig);
	strvec_clear(&s->env);
	free(s->cwd);
	free(s->stall_dir);
	free(s->step);
	free(s->workflow_id);
	free(s->workflow_name);
	free(s->events_file);
	free(s);
	return fired;
}
