/*
 * iteration: the implement → verify loop of one step. See iteration.h.
 *
 * One iteration's facts arrive in the order the runner sees them (begin,
 * check_begin, check_exited, guard_done) and are kept here until
 * iter_loop_conclude() decides. The decision itself is verdict_decide();
 * this file only adds what the loop knows beyond one check: git changes,
 * scope rules and convergence.
 */
#include "iteration.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "convergence.h"
#include "fixfile.h"
#include "fsutil.h"
#include "gitwork.h"
#include "jsonutil.h"
#include "redact.h"
#include "strbuf.h"
#include "timeutil.h"
#include "xalloc.h"

struct iter_loop {
	const struct iter_run *run;
	const struct wl_step *s;
	char *step_dir, *decision_file, *fix_file, *wait_failure_file, *probe_log, *archive_root;
	int max_iterations;
	struct convergence *conv;
	int undecidable_streak;

	/* the current iteration */
	int iteration;
	int64_t iter_start_wall;
	struct git_snapshot *before;      /* NULL: this iteration is not tracked */
	char *check_id;
	int64_t check_start_wall;
	char *stdout_log, *stderr_log;
	long long stdout_off, stderr_off;
	int check_ran;                    /* check_exited was called */
	char *not_started;                /* the check never ran: why */
	int exit_code;                    /* VERDICT_NO_EXIT_CODE when none is usable */
	char *exit_note;
	enum verdict_file_status file_status;
	struct verdict file;
	char *file_note;
	int have_inner;
	struct verdict_evidence inner;
	const char *guard_outcome;        /* static name, or NULL */
	enum wl_on_abort guard_on_abort;
	struct verdict_evidence guard;
};

struct iter_loop *iter_loop_new(const struct iter_run *run, const struct wl_step *step, const char *step_dir,
				const char *decision_file, const char *fix_file, int max_iterations)
{
	struct iter_loop *l = xcalloc(1, sizeof(*l));
	l->run = run;
	l->s = step;
	l->step_dir = xstrdup(step_dir);
	l->decision_file = xstrdup(decision_file);
	l->fix_file = xstrdup(fix_file);
	l->wait_failure_file = fs_join(step_dir, "wait-failure.json");
	l->probe_log = fs_join(step_dir, "wait-probe.log");
	l->archive_root = fs_join(step_dir, "iterations");
	l->max_iterations = max_iterations;
	char *cpath = fs_join(step_dir, "convergence.json");
	l->conv = convergence_new(&step->convergence, step->id, cpath);
	free(cpath);
	l->exit_code = VERDICT_NO_EXIT_CODE;
	return l;
}

/* Forget the current iteration's facts. */
static void reset_iteration(struct iter_loop *l)
{
	gitwork_snapshot_free(l->before);
	l->before = NULL;
	free(l->check_id);
	free(l->stdout_log);
	free(l->stderr_log);
	free(l->not_started);
	free(l->exit_note);
	free(l->file_note);
	l->check_id = l->stdout_log = l->stderr_log = l->not_started = l->exit_note = l->file_note = NULL;
	l->check_start_wall = 0;
	l->stdout_off = l->stderr_off = 0;
	l->check_ran = 0;
	l->exit_code = VERDICT_NO_EXIT_CODE;
	l->file_status = VERDICT_FILE_MISSING;
	verdict_release(&l->file);
	l->have_inner = 0;
	verdict_evidence_release(&l->inner);
	l->guard_outcome = NULL;
	l->guard_on_abort = ON_ABORT_UNSET;
	verdict_evidence_release(&l->guard);
}

void iter_loop_free(struct iter_loop *l)
{
	if (!l)
		return;
	reset_iteration(l);
	convergence_free(l->conv);
	free(l->step_dir);
	free(l->decision_file);
	free(l->fix_file);
	free(l->wait_failure_file);
	free(l->probe_log);
	free(l->archive_root);
	free(l);
}

/*
 * A file that changes while it is hashed (another step of the run writing
 * it) fails a snapshot; the work tree is read again a few times before this
 * iteration goes untracked.
 */
#define GIT_SNAPSHOT_TRIES 3

static int snapshot(struct gitwork *gw, struct git_snapshot **out, struct wl_err *err)
{
	for (int i = 0; i < GIT_SNAPSHOT_TRIES; i++)
		if (gitwork_snapshot(gw, out, err) == 0)
			return 0;
	return -1;
}

static int changes(struct gitwork *gw, const struct git_snapshot *before, struct git_changes *ch,
		   struct wl_err *err)
{
	for (int i = 0; i < GIT_SNAPSHOT_TRIES; i++) {
		if (gitwork_changes(gw, before, ch, err) == 0)
			return 0;
		gitwork_changes_release(ch);
	}
	return -1;
}

int iter_loop_begin(struct iter_loop *l, int iteration, struct wl_err *err)
{
	reset_iteration(l);
	l->iteration = iteration;
	l->iter_start_wall = time_wall_ms();
	/* The top-level wait artifacts describe the latest iteration; the previous
	 * iteration's copies are in iterations/<n-1>/. */
	unlink(l->probe_log);
	unlink(l->wait_failure_file);
	if (l->run->git && snapshot(l->run->git, &l->before, err) < 0) {
		l->before = NULL;
		return err_prefix(err, "git snapshot at the start of iteration %d", iteration);
	}
	return 0;
}

const char *iter_loop_agent_append(const struct iter_loop *l)
{
	return convergence_append_instructions(l->conv);
}

static long long file_size(const char *path)
{
	struct stat st;
	return path && stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

int iter_loop_check_begin(struct iter_loop *l, const char *check_id, const char *stdout_log, const char *stderr_log,
			  struct wl_err *err)
{
	free(l->check_id);
	free(l->stdout_log);
	free(l->stderr_log);
	/* A relocated decision_file / fix_file may live in a directory nobody made yet. */
	const char *files[] = {l->decision_file, l->fix_file};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char *dir = xstrdup(files[i]);
		char *slash = strrchr(dir, '/');
		if (slash && slash != dir) {
			*slash = '\0';
			struct wl_err e = WL_ERR_INIT;
			fs_mkdir_p(dir, &e);   /* a failure shows when the file is written */
		}
		free(dir);
	}
	l->check_id = xstrdup(check_id);
	l->stdout_log = xstrdup(stdout_log);
	l->stderr_log = xstrdup(stderr_log);
	/* The logs are appended to: this check's output starts at their current size. */
	l->stdout_off = file_size(stdout_log);
	l->stderr_off = file_size(stderr_log);
	int rc = verdict_discard_decision_file(l->decision_file, err);
	l->check_start_wall = time_wall_ms();
	return rc;
}

int64_t iter_loop_check_started(const struct iter_loop *l)
{
	return l->check_start_wall;
}

void iter_loop_check_exited(struct iter_loop *l, const struct proc_result *res)
{
	l->check_ran = 1;
	free(l->exit_note);
	l->exit_note = NULL;
	l->exit_code = VERDICT_NO_EXIT_CODE;
	if (res->exec_failed) {
		iter_loop_check_not_started(l, res->exec_error);
		return;
	}
	if (res->exited && !res->timed_out) {
		l->exit_code = res->exit_code;
	} else if (res->timed_out) {
		l->exit_note = xstrdup("the check timed out");
	} else if (res->signaled) {
		const char *n = sigabbrev_np(res->signo);
		l->exit_note = n ? xasprintf("killed by SIG%s", n) : xasprintf("killed by signal %d", res->signo);
	}

	struct wl_err ferr = WL_ERR_INIT;
	verdict_release(&l->file);
	l->file_status = verdict_read_decision_file(l->decision_file, l->check_id, l->check_start_wall, &l->file,
						    &ferr);
	free(l->file_note);
	l->file_note = ferr.msg[0] ? xstrdup(ferr.msg) : NULL;

	struct wl_err werr = WL_ERR_INIT;
	verdict_evidence_release(&l->inner);
	int w = verdict_read_wait_failure(l->wait_failure_file, l->check_start_wall, &l->inner, &werr);
	l->have_inner = w == 1;
	if (w < 0) {
		verdict_evidence_release(&l->inner);
		if (!l->file_note)   /* an unreadable wait-failure.json is worth a reason, never a crash */
			l->file_note = xstrdup(werr.msg);
	}
}

void iter_loop_guard_done(struct iter_loop *l, const struct wait_result *wr, const struct wl_wait_policy *policy)
{
	verdict_evidence_release(&l->guard);
	l->guard_outcome = NULL;
	if (wr->outcome == WAIT_MET || wr->outcome == WAIT_CANCELLED)
		return;
	l->guard_outcome = wait_outcome_name(wr->outcome);
	l->guard_on_abort = !policy ? ON_ABORT_UNSET
			    : wr->outcome == WAIT_TERMINAL_FAIL ? policy->on_terminal : policy->on_stall;
	l->guard.reason = xstrdup(wait_outcome_name(wr->outcome));
	l->guard.message = wr->message && *wr->message ? xstrdup(wr->message) : NULL;
	strvec_copy(&l->guard.reasons, &wr->reasons);
	strvec_copy(&l->guard.fingerprints, &wr->fingerprints);
	strvec_copy(&l->guard.hints, &wr->hints);
}

void iter_loop_check_not_started(struct iter_loop *l, const char *why)
{
	free(l->not_started);
	l->not_started = xstrdup(why && *why ? why : "unknown error");
}

/* ---- conclude ---- */

static void keep_warning(struct iter_end *end, const char *msg)
{
	if (!end->warning && msg && *msg)
		end->warning = xstrdup(msg);
}

/* The check's facts -> one verdict (verdict_decide, or "never ran"). */
static void decide(struct iter_loop *l, struct verdict *v)
{
	if (l->not_started) {
		/* Nothing ran, so there is nothing to decide on: a configuration
		 * problem (missing CLI, unreadable instructions), not an iteration. */
		v->check_id = xstrdup(l->check_id);
		v->iteration = l->iteration;
		v->decision = VERDICT_FAILED;
		v->source = VERDICT_SRC_CHECK_FAILED;
		v->message = xasprintf("the completion check could not start: %s", l->not_started);
		verdict_list_add(&v->reasons, v->message);
		return;
	}
	struct verdict_inputs in = VERDICT_INPUTS_INIT;
	in.check_id = l->check_id;
	in.iteration = l->iteration;
	in.undecidable_before = l->undecidable_streak;
	in.guard_outcome = l->guard_outcome;
	in.guard_on_abort = l->guard_on_abort;
	in.guard = l->guard_outcome ? &l->guard : NULL;
	in.file_status = l->file_status;
	in.file = &l->file;
	in.file_note = l->file_note;
	in.exit_code = l->exit_code;
	in.exit_note = l->exit_note;
	in.inner_wait = l->have_inner ? &l->inner : NULL;
	in.exit_code_decides = l->s->check.worker == WORKER_CUSTOM;
	in.timed_out = l->exit_note && !strcmp(l->exit_note, "the check timed out");
	verdict_decide(&in, v);
}

/* Per-iteration git changes as fix.md lines ("path (modified, +1 -1)"). */
static void changed_lines(const struct git_changes *ch, struct strvec *out)
{
	for (size_t i = 0; i < ch->nfiles; i++) {
		const struct git_file_change *f = &ch->files[i];
		if (f->binary)
			strvec_pushf(out, "%s (%s, binary)", f->path, gitwork_change_kind_name(f->kind));
		else
			strvec_pushf(out, "%s (%s, +%d -%d)", f->path, gitwork_change_kind_name(f->kind), f->insertions,
				     f->deletions);
	}
}

/*
 * Git: this iteration's changes (EV_GIT_CHANGES, fix.md) and the scope rules.
 * Returns the number of counted changed files (ignored_paths excluded), or
 * -1 when the changes are unknown.
 */
static int git_facts(struct iter_loop *l, struct iter_end *end, struct strvec *lines, struct strvec *scope_fps)
{
	struct gitwork *gw = l->run->git;
	if (!gw || !l->before)
		return -1;
	const struct wl_convergence *cfg = &l->s->convergence;
	struct wl_err err = WL_ERR_INIT;
	struct git_changes ch = GIT_CHANGES_INIT;
	if (changes(gw, l->before, &ch, &err) < 0) {
		keep_warning(end, err.msg);
		return -1;
	}
	end->git_changes = gitwork_changes_to_json(&ch);
	changed_lines(&ch, lines);
	struct strvec scratch = STRVEC_INIT;
	int counted = gitwork_check_scope(&ch, NULL, &cfg->ignored_paths, -1, &scratch);
	strvec_clear(&scratch);
	if (convergence_enabled(l->conv)) {
		/* With diff_base_ref the scope covers everything since that ref. */
		const struct git_changes *scope = &ch;
		struct git_changes since = GIT_CHANGES_INIT;
		struct git_snapshot *base = NULL;
		if (cfg->diff_base_ref) {
			if (gitwork_snapshot_ref(gw, cfg->diff_base_ref, &base, &err) == 0 &&
			    changes(gw, base, &since, &err) == 0)
				scope = &since;
			else
				keep_warning(end, err.msg);
		}
		gitwork_check_scope(scope, &cfg->allowed_paths, &cfg->ignored_paths,
				    cfg->max_changed_files == WL_UNSET ? -1 : cfg->max_changed_files, scope_fps);
		gitwork_changes_release(&since);
		gitwork_snapshot_free(base);
	}
	gitwork_changes_release(&ch);
	return counted;
}

static cJSON *convergence_event(const struct iter_loop *l, const struct verdict *v)
{
	cJSON *d = cJSON_CreateObject();
	cJSON_AddNumberToObject(d, "stage", convergence_stage(l->conv));
	cJSON_AddItemToObject(d, "fingerprints", json_string_array(&v->fingerprints));
	const char *diag = convergence_diagnosis(l->conv);
	if (diag)
		cJSON_AddStringToObject(d, "diagnosis", diag);
	else
		cJSON_AddNullToObject(d, "diagnosis");
	cJSON_AddBoolToObject(d, "stopped", convergence_stopped(l->conv));
	return d;
}

/* The loop's own rules after the check: scope, then convergence. */
static void apply_loop_rules(struct iter_loop *l, struct verdict *v, const struct strvec *scope_fps, int counted,
			     struct iter_end *end)
{
	if (scope_fps->n) {
		for (size_t i = 0; i < scope_fps->n; i++)
			verdict_list_add(&v->fingerprints, scope_fps->v[i]);
		strvec_sort_unique(&v->fingerprints);
		const struct wl_convergence *cfg = &l->s->convergence;
		if (strvec_contains(scope_fps, "scope/outside-allowed-paths"))
			verdict_list_add(&v->reasons, "the iteration changed files outside convergence.allowed_paths");
		if (strvec_contains(scope_fps, "diff-budget/exceeded")) {
			char *m = xasprintf("the iteration changed more than %d files (convergence.max_changed_files)",
					    cfg->max_changed_files);
			verdict_list_add(&v->reasons, m);
			free(m);
		}
		if (v->decision == VERDICT_COMPLETE) {
			v->decision = VERDICT_INCOMPLETE;
			v->source = VERDICT_SRC_CONVERGENCE;
			free(v->message);
			v->message = xstrdup("the check passed, but the changes break the convergence scope rules");
		}
	}
	if (v->decision != VERDICT_INCOMPLETE)
		return;
	int before = convergence_stage(l->conv);
	enum convergence_status st = convergence_observe(l->conv, l->iteration, &v->fingerprints);
	if (st != CONVERGENCE_STOP && counted >= 0)
		st = convergence_note_changes(l->conv, l->iteration, counted);
	if (st == CONVERGENCE_STOP) {
		v->decision = VERDICT_FAILED;
		v->source = VERDICT_SRC_CONVERGENCE;
		verdict_list_add(&v->fingerprints, convergence_stop_fingerprint(l->conv));
		strvec_sort_unique(&v->fingerprints);
		verdict_list_add(&v->reasons, convergence_diagnosis(l->conv));
	}
	if (st == CONVERGENCE_STOP || convergence_stage(l->conv) != before)
		end->convergence = convergence_event(l, v);
	struct wl_err err = WL_ERR_INIT;
	if (convergence_enabled(l->conv) && convergence_write(l->conv, &err) < 0)
		keep_warning(end, err.msg);
}

/* Evidence paths: the archived copies (they outlive the next iteration), else the live files. */
struct evidence_paths {
	const char *probe_log, *wait_failure_file, *decision_file;
};

static void render_fix(struct iter_loop *l, const struct verdict *v, const struct strvec *changed,
		       const struct evidence_paths *ev, const struct template_vars *vars, struct iter_end *end)
{
	struct wl_err err = WL_ERR_INIT;
	if (v->decision == VERDICT_COMPLETE) {
		if (fixfile_clear(l->fix_file, &err) < 0)
			keep_warning(end, err.msg);
		return;
	}
	struct fixfile_params p = FIXFILE_PARAMS_INIT;
	p.template_path = l->s->check.fix_template;
	p.workspace = l->run->workspace;
	p.verdict = v;
	p.workflow = l->run->wf->name;
	p.step = l->s->id;
	p.iteration = l->iteration;
	p.max_iterations = l->max_iterations;
	p.probe_log = ev->probe_log;
	p.wait_failure_file = ev->wait_failure_file;
	p.decision_file = ev->decision_file;
	p.check_stdout = l->stdout_log;
	p.check_stderr = l->stderr_log;
	p.stdout_offset = l->stdout_off;
	p.stderr_offset = l->stderr_off;
	p.check_started_wall_ms = l->check_start_wall;
	p.changed_files = changed;
	p.vars = vars;
	p.redactor = l->run->rd;
	if (fixfile_write(l->fix_file, &p, &err) < 0) {
		keep_warning(end, err.msg);
		/* A broken fix_template must not leave the implementer without feedback. */
		if (p.template_path) {
			struct wl_err e2 = WL_ERR_INIT;
			p.template_path = NULL;
			fixfile_write(l->fix_file, &p, &e2);
		}
	}
}

/* <step_dir>/iterations/<n>/ (created), or NULL. */
static char *archive_dir(struct iter_loop *l, struct iter_end *end)
{
	struct wl_err err = WL_ERR_INIT;
	char num[32];
	snprintf(num, sizeof(num), "%d", l->iteration);
	char *dir = fs_join(l->archive_root, num);
	if (fs_mkdir_p(dir, &err) < 0) {
		keep_warning(end, err.msg);
		free(dir);
		return NULL;
	}
	return dir;
}

/* Copy src into the archive as name; the copy's path, or NULL when there is none. */
static char *archive_copy(struct iter_loop *l, const char *dir, const char *src, const char *name, int only_fresh,
			  int redact, struct iter_end *end)
{
	if (!dir)
		return NULL;
	char *dst = fs_join(dir, name);
	struct wl_err err = WL_ERR_INIT;
	if (!fs_exists(src) || (only_fresh && fs_mtime_ms(src) < l->iter_start_wall)) {
		unlink(dst);   /* a re-used context directory: no stale copy */
	} else if (redact && !fs_is_dir(src)) {
		/* written by the check, not the runner: the runner's copy is redacted */
		struct strbuf sb = STRBUF_INIT;
		int ok = fs_read_file(src, 16 * 1024 * 1024, &sb, &err) == 0;
		char *safe = ok ? redact_text(l->run->rd, strbuf_str(&sb)) : NULL;
		strbuf_release(&sb);
		ok = ok && fs_write_atomic(dst, safe, strlen(safe), &err) == 0;
		free(safe);
		if (ok)
			return dst;
		keep_warning(end, err.msg);
	} else if (fs_copy_tree(src, dst, &err) == 0) {
		return dst;
	} else {
		keep_warning(end, err.msg);
	}
	free(dst);
	return NULL;
}

static void next_step(struct iter_loop *l, const struct verdict *v, struct iter_end *end)
{
	const char *first = v->message ? v->message : v->reasons.n ? v->reasons.v[0] : NULL;
	switch (v->decision) {
	case VERDICT_COMPLETE:
		end->next = ITER_DONE_SUCCEEDED;
		return;
	case VERDICT_FAILED:
		end->next = ITER_DONE_FAILED;
		if (v->source == VERDICT_SRC_CONVERGENCE && convergence_diagnosis(l->conv))
			end->reason = xasprintf("convergence: %s", convergence_diagnosis(l->conv));
		else if (v->source == VERDICT_SRC_CHECK_FAILED && first)
			end->reason = xstrdup(first);   /* "the completion check failed: ..." */
		else
			end->reason = xasprintf("completion_check failed: %s", first ? first : "no reason given");
		return;
	case VERDICT_INCOMPLETE:
	case VERDICT_NONE:
		break;
	}
	if (l->iteration < l->max_iterations) {
		end->next = ITER_NEXT_ITERATION;
	} else if (l->s->on_iterations_exhausted == ON_EXHAUSTED_CONTINUE) {
		end->next = ITER_DONE_INCOMPLETE;
		end->reason = xasprintf("max_iterations (%d) reached, still incomplete", l->max_iterations);
	} else {
		end->next = ITER_DONE_FAILED;
		end->reason = xasprintf("max_iterations (%d) reached without completion%s%s", l->max_iterations,
					first ? ": " : "", first ? first : "");
	}
}

static cJSON *finished_event(const struct iter_loop *l, const struct verdict *v, const struct strvec *changed)
{
	cJSON *d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "decision", verdict_decision_name(v->decision));
	cJSON_AddStringToObject(d, "source", verdict_source_name(v->source));
	if (l->check_id)
		cJSON_AddStringToObject(d, "check_id", l->check_id);
	if (l->exit_code != VERDICT_NO_EXIT_CODE)
		cJSON_AddNumberToObject(d, "exit_code", l->exit_code);
	else
		cJSON_AddNullToObject(d, "exit_code");
	if (v->message)
		cJSON_AddStringToObject(d, "message", v->message);
	cJSON_AddItemToObject(d, "reasons", json_string_array(&v->reasons));
	cJSON_AddItemToObject(d, "fingerprints", json_string_array(&v->fingerprints));
	cJSON_AddItemToObject(d, "hints", json_string_array(&v->hints));
	if (changed)
		cJSON_AddNumberToObject(d, "changed_files", (double)changed->n);
	else
		cJSON_AddNullToObject(d, "changed_files");
	cJSON_AddNumberToObject(d, "stage", convergence_stage(l->conv));
	cJSON_AddNumberToObject(d, "max_iterations", l->max_iterations);
	return d;
}

void iter_loop_conclude(struct iter_loop *l, const struct template_vars *vars, struct iter_end *end)
{
	struct verdict v = VERDICT_INIT;
	decide(l, &v);
	l->undecidable_streak = verdict_undecidable_streak(l->undecidable_streak, &v);

	struct strvec lines = STRVEC_INIT, scope_fps = STRVEC_INIT;
	int counted = git_facts(l, end, &lines, &scope_fps);
	const struct strvec *changed = end->git_changes ? &lines : NULL;
	apply_loop_rules(l, &v, &scope_fps, counted, end);

	struct wl_err err = WL_ERR_INIT;
	if (verdict_write(l->decision_file, &v, l->run->run_id, l->s->id, l->check_start_wall, time_wall_ms(),
			  l->run->rd, &err) < 0)
		keep_warning(end, err.msg);
	char *dir = archive_dir(l, end);
	char *a_verdict = archive_copy(l, dir, l->decision_file, "review.verdict", 0, 1, end);
	char *a_failure = archive_copy(l, dir, l->wait_failure_file, "wait-failure.json", 1, 0, end);
	char *a_probes = archive_copy(l, dir, l->probe_log, "wait-probe.log", 0, 0, end);
	struct evidence_paths ev = {
		a_probes ? a_probes : l->probe_log,
		a_failure ? a_failure : dir ? NULL : l->wait_failure_file,   /* not fresh: not evidence */
		a_verdict ? a_verdict : l->decision_file,
	};
	render_fix(l, &v, changed, &ev, vars, end);
	free(archive_copy(l, dir, l->fix_file, "fix.md", 0, 1, end));
	end->finished = finished_event(l, &v, changed);
	/* Where CI reports point (report.h): this iteration's verdict and wait failure. */
	cJSON_AddStringToObject(end->finished, "verdict_file", ev.decision_file);
	if (ev.wait_failure_file && fs_exists(ev.wait_failure_file))
		cJSON_AddStringToObject(end->finished, "wait_failure_file", ev.wait_failure_file);
	else
		cJSON_AddNullToObject(end->finished, "wait_failure_file");
	free(a_verdict);
	free(a_failure);
	free(a_probes);
	free(dir);

	end->decision = v.decision;
	if (v.decision != VERDICT_COMPLETE) {
		const char *first = v.message ? v.message : v.reasons.n ? v.reasons.v[0] : "incomplete iteration";
		end->summary = xstrdup(first);
	}
	next_step(l, &v, end);
	strvec_clear(&lines);
	strvec_clear(&scope_fps);
	verdict_release(&v);
}

void iter_end_release(struct iter_end *end)
{
	free(end->reason);
	free(end->summary);
	free(end->warning);
	cJSON_Delete(end->git_changes);
	cJSON_Delete(end->convergence);
	cJSON_Delete(end->finished);
	memset(end, 0, sizeof(*end));
}
