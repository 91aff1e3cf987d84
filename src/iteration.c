/*
 * iteration: the implement → verify loop of one step. See iteration.h.
 *
 * One iteration's facts are kept here until iter_loop_conclude() decides:
 * begin and check_begin first, then the check's exit (check_exited) and
 * its guard's result (guard_done, straight from the wait engine) in either
 * order — each wait has its own files, so neither reads the other's. The
 * decision itself is verdict_decide(); this file only adds what the loop
 * knows beyond one check: git changes, scope rules and convergence.
 */
#include "iteration.h"

#include <dirent.h>
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
#include "insights.h"
#include "jsonutil.h"
#include "redact.h"
#include "strbuf.h"
#include "timeutil.h"
#include "xalloc.h"

struct iter_loop {
	const struct iter_run *run;
	const struct wl_step *s;
	char *step_dir, *decision_file, *fix_file, *wait_failure_file, *probe_log, *archive_root;
	char *waits_dir;                  /* <step_dir>/waits: the in-script waits, one directory each */
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
	struct verdict_evidence *inner;   /* the check's own waits that gave up, in the order they ended */
	size_t ninner;
	struct strvec inner_logs, inner_names;   /* every in-script wait of the check: wait-probe.log, name */
	enum wait_outcome guard_outcome;  /* WAIT_MET: the guard did not abort */
	enum wl_on_abort guard_on_abort;
	struct verdict_evidence guard;

	/* suspected false aborts (docs/history.md "Insights"): the guard's target
	 * when it stalled, and when it was met, in this and the previous iteration */
	char *stalled_target, *met_target, *prev_stalled_target;
	int prev_stalled_iteration;
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
	l->waits_dir = fs_join(step_dir, "waits");
	l->archive_root = fs_join(step_dir, "iterations");
	l->max_iterations = max_iterations;
	char *cpath = fs_join(step_dir, "convergence.json");
	l->conv = convergence_new(&step->convergence, step->id, cpath);
	free(cpath);
	l->exit_code = VERDICT_NO_EXIT_CODE;
	return l;
}

static void release_inner(struct iter_loop *l)
{
	for (size_t i = 0; i < l->ninner; i++)
		verdict_evidence_release(&l->inner[i]);
	free(l->inner);
	l->inner = NULL;
	l->ninner = 0;
	strvec_clear(&l->inner_logs);
	strvec_clear(&l->inner_names);
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
	release_inner(l);
	l->guard_outcome = WAIT_MET;
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
	free(l->waits_dir);
	free(l->archive_root);
	free(l->stalled_target);
	free(l->met_target);
	free(l->prev_stalled_target);
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
	struct wl_err rerr = WL_ERR_INIT;
	fs_remove_tree(l->waits_dir, &rerr);   /* a failure shows as stale evidence at worst: the mtime test skips it */
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

struct found_wait {
	long long mtime;
	char *dir;
};

static int by_mtime(const void *a, const void *b)
{
	const struct found_wait *x = a, *y = b;
	return x->mtime < y->mtime ? -1 : x->mtime > y->mtime ? 1 : strcmp(x->dir, y->dir);
}

/*
 * The check's own waits: <step_dir>/waits/<name>/ (every `waitloop wait`
 * under the runner writes there, `--out "$WAITLOOP_STEP_DIR"` included), in
 * the order they ended; those that gave up (a fresh wait-failure.json) are
 * evidence. The top-level wait-failure.json is the guard's, never read here:
 * it reaches the iteration through iter_loop_guard_done(), in any order.
 */
static void read_inner_waits(struct iter_loop *l)
{
	release_inner(l);
	struct found_wait *v = NULL;
	size_t n = 0, alloc = 0;
	DIR *d = opendir(l->waits_dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char *dir = fs_join(l->waits_dir, de->d_name);
		char *log = fs_join(dir, "wait-probe.log");
		long long m = fs_mtime_ms(log);
		if (m < 0 || m + VERDICT_MTIME_SLACK_MS < l->check_start_wall) {
			free(dir);
		} else {
			XGROW(v, n + 1, alloc);
			v[n].mtime = m;
			v[n++].dir = dir;
		}
		free(log);
	}
	if (d)
		closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), by_mtime);
	for (size_t i = 0; i < n; i++) {
		strvec_push_owned(&l->inner_logs, fs_join(v[i].dir, "wait-probe.log"));
		strvec_push(&l->inner_names, strrchr(v[i].dir, '/') + 1);
		char *path = fs_join(v[i].dir, "wait-failure.json");
		struct verdict_evidence e = VERDICT_EVIDENCE_INIT;
		struct wl_err werr = WL_ERR_INIT;
		int w = verdict_read_wait_failure(path, l->check_start_wall, &e, &werr);
		if (w == 1) {
			l->inner = xrealloc(l->inner, (l->ninner + 1) * sizeof(*l->inner));
			l->inner[l->ninner++] = e;
		} else {
			verdict_evidence_release(&e);
			if (w < 0 && !l->file_note)   /* an unreadable wait-failure.json is worth a reason, never a crash */
				l->file_note = xstrdup(werr.msg);
		}
		free(path);
		free(v[i].dir);
	}
	free(v);
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

	read_inner_waits(l);
}

/* A guard's result as the iteration's evidence (on_abort: what its abort means). */
static void record_guard(struct iter_loop *l, const struct wait_result *wr, enum wl_on_abort on_abort,
			 const char *probe, const char *target)
{
	verdict_evidence_release(&l->guard);
	l->guard_outcome = WAIT_MET;
	if (wr->outcome == WAIT_MET && target) {
		free(l->met_target);
		l->met_target = xstrdup(target);
	}
	if (wr->outcome == WAIT_STALLED && target) {
		free(l->stalled_target);
		l->stalled_target = xstrdup(target);
	}
	if (wr->outcome == WAIT_MET || wr->outcome == WAIT_CANCELLED)
		return;
	l->guard_outcome = wr->outcome;
	l->guard_on_abort = wr->outcome == WAIT_ERROR ? ON_ABORT_FAIL   /* a probe that cannot run: fix the workflow */
			    : on_abort;
	l->guard.name = wr->name ? xstrdup(wr->name) : NULL;
	if (probe) {
		char *cmd = xasprintf("probe: %s", probe);
		l->guard.command = redact_text(l->run->rd, cmd);
		free(cmd);
	}
	l->guard.reason = xstrdup(wait_outcome_name(wr->outcome));
	l->guard.message = wr->message && *wr->message ? xstrdup(wr->message) : NULL;
	strvec_copy(&l->guard.reasons, &wr->reasons);
	strvec_copy(&l->guard.fingerprints, &wr->fingerprints);
	strvec_copy(&l->guard.hints, &wr->hints);
}

void iter_loop_guard_done(void *loop, const struct wait_result *wr)
{
	struct iter_loop *l = loop;
	const struct wl_wait_policy *pol = wr->settings ? &wr->settings->p : NULL;
	enum wl_on_abort on_abort = !pol ? ON_ABORT_UNSET
				    : wr->outcome == WAIT_TERMINAL_FAIL ? pol->on_terminal : pol->on_stall;
	record_guard(l, wr, on_abort, pol ? pol->probe : NULL, pol && pol->target ? pol->target : wr->name);
}

void iter_loop_sentinel_stopped(struct iter_loop *l, const struct wait_result *wr, enum wl_on_abort on_abort)
{
	record_guard(l, wr, on_abort, NULL, wr->name);
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
	in.guard = l->guard_outcome != WAIT_MET ? &l->guard : NULL;
	in.file_status = l->file_status;
	in.file = &l->file;
	in.file_note = l->file_note;
	in.exit_code = l->exit_code;
	in.exit_note = l->exit_note;
	in.inner_wait = l->ninner ? l->inner : NULL;
	in.n_inner_waits = l->ninner;
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

/* roboppi's convergence.diff_base_ref_file: the first line of the file
 * (relative to the run workspace), trimmed; NULL when it is missing or empty
 * (then the scope is the iteration's own changes, as without diff_base_ref). */
static char *diff_base_ref_from_file(const char *workspace, const char *file)
{
	if (!file || !workspace)
		return NULL;
	char *path = file[0] == '/' ? xstrdup(file) : fs_join(workspace, file);
	struct strbuf sb;
	strbuf_init(&sb);
	struct wl_err err = WL_ERR_INIT;
	char *ref = NULL;
	if (fs_read_file(path, 4096, &sb, &err) == 0) {
		const char *t = strbuf_str(&sb);
		t += strspn(t, " \t\r");
		size_t n = strcspn(t, "\n");
		while (n && (t[n - 1] == ' ' || t[n - 1] == '\t' || t[n - 1] == '\r'))
			n--;
		if (n)
			ref = xstrndup(t, n);
	}
	strbuf_release(&sb);
	free(path);
	return ref;
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
		char *ref = cfg->diff_base_ref ? xstrdup(cfg->diff_base_ref)
					       : diff_base_ref_from_file(l->run->workspace, cfg->diff_base_ref_file);
		if (ref) {
			if (gitwork_snapshot_ref(gw, ref, &base, &err) == 0 &&
			    changes(gw, base, &since, &err) == 0)
				scope = &since;
			else
				keep_warning(end, err.msg);
		}
		free(ref);
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
	const char *check_stdout, *check_stderr;
	const struct strvec *wait_logs, *wait_names;   /* the in-script waits */
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
	p.check_stdout = ev->check_stdout ? ev->check_stdout : l->stdout_log;
	p.check_stderr = ev->check_stderr ? ev->check_stderr : l->stderr_log;
	p.stdout_offset = ev->check_stdout ? 0 : l->stdout_off;   /* the archived copy is this check's output only */
	p.stderr_offset = ev->check_stderr ? 0 : l->stderr_off;
	p.wait_logs = ev->wait_logs;
	p.wait_names = ev->wait_names;
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

/* This check's part of a log (from offset on) into the archive as name; the copy's path, or NULL. */
static char *archive_range(struct iter_loop *l, const char *dir, const char *src, long long offset,
			   const char *name, struct iter_end *end)
{
	if (!dir || !src || !fs_exists(src))
		return NULL;
	struct strbuf sb = STRBUF_INIT;
	struct wl_err err = WL_ERR_INIT;
	char *dst = fs_join(dir, name);
	FILE *f = fopen(src, "rb");
	int ok = f && fseeko(f, (off_t)offset, SEEK_SET) == 0;
	char buf[65536];
	size_t n;
	while (ok && (n = fread(buf, 1, sizeof(buf), f)) > 0)
		strbuf_add(&sb, buf, n);
	if (f)
		fclose(f);
	/* the runner's copy of the check's output is redacted, as every copy it makes */
	char *safe = ok ? redact_text(l->run->rd, strbuf_str(&sb)) : NULL;
	if (!ok || fs_write_atomic(dst, safe, strlen(safe), &err) < 0) {
		keep_warning(end, err.msg[0] ? err.msg : "cannot archive a check log");
		free(dst);
		dst = NULL;
	}
	free(safe);
	strbuf_release(&sb);
	return dst;
}

/* An archived wait-failure.json points at the archived copies, not at the live files of the next iteration. */
static void repoint(const char *failure, const char *probe_log, const char *out, const char *errlog,
		    struct iter_end *end)
{
	if (!failure || !fs_exists(failure))
		return;
	struct wl_err err = WL_ERR_INIT;
	cJSON *j = json_read_file(failure, VERDICT_MAX_FILE_BYTES, &err);
	cJSON *ptr = j ? cJSON_GetObjectItemCaseSensitive(j, "pointers") : NULL;
	if (cJSON_IsObject(ptr)) {
		const char *keys[] = {"probe_log", "stdout", "stderr"};
		const char *vals[] = {probe_log, out, errlog};
		for (size_t i = 0; i < 3; i++) {
			cJSON_DeleteItemFromObjectCaseSensitive(ptr, keys[i]);
			if (vals[i])
				cJSON_AddStringToObject(ptr, keys[i], vals[i]);
			else if (i)
				cJSON_AddNullToObject(ptr, keys[i]);
		}
		if (!cJSON_GetObjectItemCaseSensitive(ptr, "probe_log"))
			cJSON_AddStringToObject(ptr, "probe_log", "");
		if (json_write_atomic(failure, j, &err) < 0)
			keep_warning(end, err.msg);
	}
	cJSON_Delete(j);
}

/* The in-script waits' archived copies: logs for fix.md, wait-failure.json pointers rewritten. */
static void archive_waits(struct iter_loop *l, const char *dir, const char *a_out, const char *a_err,
			  struct strvec *logs, struct strvec *names, struct iter_end *end)
{
	char *a_waits = archive_copy(l, dir, l->waits_dir, "waits", 0, 0, end);
	for (size_t i = 0; i < l->inner_logs.n; i++) {
		const char *name = l->inner_names.v[i];
		char *wdir = a_waits ? fs_join(a_waits, name) : NULL;
		char *log = wdir ? fs_join(wdir, "wait-probe.log") : xstrdup(l->inner_logs.v[i]);
		if (wdir) {
			char *f = fs_join(wdir, "wait-failure.json");
			repoint(f, log, a_out, a_err, end);
			free(f);
		}
		strvec_push_owned(logs, log);
		strvec_push(names, name);
		free(wdir);
	}
	free(a_waits);
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

/*
 * The previous iteration's guard stalled on a target that this iteration's
 * guard found met, while git saw no file changed in between: the stall was
 * probably premature. Said in the iteration_finished event (metrics count
 * it as waitloop_suspected_false_aborts_total).
 */
static void note_false_abort(struct iter_loop *l, int counted, cJSON *finished)
{
	if (l->prev_stalled_target && l->met_target && counted == 0 &&
	    !strcmp(l->prev_stalled_target, l->met_target)) {
		cJSON *o = cJSON_AddObjectToObject(finished, "suspected_false_abort");
		cJSON_AddStringToObject(o, "target", l->met_target);
		cJSON_AddNumberToObject(o, "stalled_iteration", l->prev_stalled_iteration);
		cJSON_AddStringToObject(o, "why", "met with no file changed since the stall");
	}
	free(l->prev_stalled_target);
	l->prev_stalled_target = l->stalled_target;
	l->prev_stalled_iteration = l->iteration;
	l->stalled_target = NULL;
	free(l->met_target);
	l->met_target = NULL;
}

/* A stall on a target whose earlier stalls turned out premature (history): tell the implementer. */
static void premature_stall_hint(const struct iter_loop *l, struct verdict *v)
{
	if (!l->stalled_target || !l->run->history_db || !fs_exists(l->run->history_db))
		return;
	struct insights_filter f = INSIGHTS_FILTER_INIT;
	f.target = l->stalled_target;
	f.workflow = l->run->wf->name;
	struct wl_err err = WL_ERR_INIT;
	const char *db = l->run->history_db;
	cJSON *doc = insights_collect(&db, 1, &f, &err);
	const cJSON *fa = cJSON_GetObjectItemCaseSensitive(doc, "suspected_false_aborts");
	int n = cJSON_GetArraySize(fa);
	if (n > 0) {
		const cJSON *last = cJSON_GetArrayItem(fa, n - 1);
		const char *run = json_get_string(last, "run_id"), *why = json_get_string(last, "why");
		const cJSON *it = cJSON_GetObjectItemCaseSensitive(last, "iteration");
		char *hint = xasprintf("the last stall on '%s' may have been premature: run %s iteration %d stalled, "
				       "then it was %s (%d such stall%s in the history); if the target is only slow, "
				       "raise stall_threshold or set progress_deadline ('waitloop tune %s')",
				       l->stalled_target, run ? run : "?", cJSON_IsNumber(it) ? (int)it->valuedouble : 0,
				       why ? why : "met", n, n == 1 ? "" : "s", l->stalled_target);
		strvec_push(&v->hints, hint);
		free(hint);
	}
	cJSON_Delete(doc);
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
	premature_stall_hint(l, &v);

	struct wl_err err = WL_ERR_INIT;
	if (verdict_write(l->decision_file, &v, l->run->run_id, l->s->id, l->check_start_wall, time_wall_ms(),
			  l->run->rd, &err) < 0)
		keep_warning(end, err.msg);
	char *dir = archive_dir(l, end);
	char *a_verdict = archive_copy(l, dir, l->decision_file, "review.verdict", 0, 1, end);
	char *a_failure = archive_copy(l, dir, l->wait_failure_file, "wait-failure.json", 1, 0, end);
	char *a_probes = archive_copy(l, dir, l->probe_log, "wait-probe.log", 0, 0, end);
	char *a_out = archive_range(l, dir, l->stdout_log, l->stdout_off, "check.stdout.log", end);
	char *a_err = archive_range(l, dir, l->stderr_log, l->stderr_off, "check.stderr.log", end);
	repoint(a_failure, a_probes, a_out, a_err, end);
	struct strvec wait_logs = STRVEC_INIT, wait_names = STRVEC_INIT;
	archive_waits(l, dir, a_out, a_err, &wait_logs, &wait_names, end);
	struct evidence_paths ev = {
		a_probes ? a_probes : l->probe_log,
		a_failure ? a_failure : dir ? NULL : l->wait_failure_file,   /* not fresh: not evidence */
		a_verdict ? a_verdict : l->decision_file,
		a_out, a_err, &wait_logs, &wait_names,
	};
	render_fix(l, &v, changed, &ev, vars, end);
	free(archive_copy(l, dir, l->fix_file, "fix.md", 0, 1, end));
	end->finished = finished_event(l, &v, changed);
	note_false_abort(l, counted, end->finished);
	/* Where CI reports point (report.h): this iteration's verdict and wait failure. */
	cJSON_AddStringToObject(end->finished, "verdict_file", ev.decision_file);
	if (ev.wait_failure_file && fs_exists(ev.wait_failure_file))
		cJSON_AddStringToObject(end->finished, "wait_failure_file", ev.wait_failure_file);
	else
		cJSON_AddNullToObject(end->finished, "wait_failure_file");
	strvec_clear(&wait_logs);
	strvec_clear(&wait_names);
	free(a_out);
	free(a_err);
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
