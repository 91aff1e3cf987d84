/*
 * runsetup: building a runner (runner_new: paths, environment, redactor,
 * context directory, event loop, git tracking) and its accessors.
 */
#include "runner_int.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "artifacts.h"
#include "evloop.h"
#include "fsutil.h"
#include "gitwork.h"
#include "redact.h"
#include "xalloc.h"

extern char **environ;

static char *self_exe_path(void)
{
	char buf[4096];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
	if (n <= 0)
		return xstrdup("waitloop");
	buf[n] = '\0';
	return xstrdup(buf);
}

/*
 * Git tracking (SPEC §9) serves the implement → verify loops: opened only
 * when a step has a completion_check. Not a repository (or libgit2 cannot
 * open it): one notice, git features off. The runner's own files never
 * count as changes.
 */
static void open_git(struct runner *r)
{
	int loops = 0;
	for (size_t i = 0; i < r->wf->nsteps; i++)
		loops |= r->wf->steps[i].check.present;
	if (!loops)
		return;
	struct wl_err err = WL_ERR_INIT;
	r->git = gitwork_open(r->workspace, &err);
	if (!r->git) {
		r->notice = gitwork_err_is_not_repo(&err)
				    ? xasprintf("git tracking off: workspace '%s' is not in a git repository", r->workspace)
				    : xasprintf("git tracking off: %s", err.msg);
		return;
	}
	gitwork_exclude(r->git, r->context_dir);
	gitwork_exclude(r->git, ".waitloop");
	const char *own[] = {r->opts->db_path, r->opts->metrics_path};
	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
		if (!own[i])
			continue;
		static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
		for (size_t k = 0; k < sizeof(suffix) / sizeof(suffix[0]); k++) {
			char *p = xasprintf("%s%s", own[i], suffix[k]);
			gitwork_exclude(r->git, p);
			free(p);
		}
	}
	for (size_t i = 0; i < r->wf->nsteps; i++) {
		const struct wl_check *c = &r->wf->steps[i].check;
		if (c->decision_file)
			gitwork_exclude(r->git, c->decision_file);
		if (c->fix_file)
			gitwork_exclude(r->git, c->fix_file);
	}
}

static void flush_events(void *ctx, int will_wait)
{
	artifacts_flush_events(ctx);
}

struct runner *runner_new(const struct wl_workflow *wf, const struct run_options *opts, struct wl_err *err)
{
	char *ws = fs_abspath(opts->workspace ? opts->workspace : ".");
	if (!fs_is_dir(ws)) {
		err_set(err, "workspace '%s' is not a directory", opts->workspace ? opts->workspace : ".");
		free(ws);
		return NULL;
	}
	struct runner *r = xcalloc(1, sizeof(*r));
	r->wf = wf;
	r->opts = opts;
	r->workspace = ws;
	r->start_wall = time_wall_ms();
	r->run_id = rundoc_run_id(r->start_wall);
	if (opts->context_dir)
		r->context_dir = fs_abspath(opts->context_dir);
	else
		r->context_dir = fs_path_in(ws, wf->context_dir ? wf->context_dir : "context");
	r->wf_file = fs_abspath(wf->file ? wf->file : "workflow.yaml");
	r->wf_dir = fs_dir_of(r->wf_file);
	r->self_exe = self_exe_path();
	r->shell = wf->shell ? wf->shell : "bash";
	r->concurrency = wf->concurrency == WL_UNSET ? 0 : wf->concurrency;

	for (char **e = environ; e && *e; e++)
		strvec_push(&r->base_env, *e);
	strvec_setenv_all(&r->base_env, &wf->env);

	/* Secrets the redactor must know: every value any child may get -- every
	 * step's, not the last one per name (the runner's environment, wf env,
	 * each step's env, --set). */
	if (wf->nredact_re == wf->redact.n)   /* as loaded: compiled once, by the loader */
		r->rd = redactor_new_shared(wf->redact_re, wf->nredact_re, &r->base_env);
	else
		r->rd = redactor_new(&wf->redact, &r->base_env, err);
	if (!r->rd)
		goto fail;
	for (char **e = environ; e && *e; e++) {   /* shadowed by wf env, still a secret */
		struct strvec one = STRVEC_INIT;
		strvec_push(&one, *e);
		redactor_add_env(r->rd, &one);
		strvec_clear(&one);
	}
	for (size_t i = 0; i < wf->nsteps; i++)
		redactor_add_env(r->rd, &wf->steps[i].env);
	redactor_add_env(r->rd, opts->set_env);
	if (opts->set_env && (r->lock_toplevel = strvec_getenv(opts->set_env, "ROBOPPI_STARTUP_TOPLEVEL"))) {
		const char *b = strvec_getenv(opts->set_env, "ROBOPPI_EXPECTED_CURRENT_BRANCH");
		r->lock_branch = b ? xstrdup(b) : NULL;
	}
	r->redact_env = redactor_export(r->rd);
	r->bus.rd = r->rd;
	r->ctx = artifacts_open(r->context_dir, r->rd, err);
	if (!r->ctx)
		goto fail;
	bus_subscribe(&r->bus, artifacts_sink, r->ctx);
	r->loop = evloop_new();
	if (r->loop) {
		evloop_on_idle(r->loop, runner_schedule_on_idle, r);   /* first: start steps, then write */
		evloop_on_idle(r->loop, rundoc_on_idle, r);
		/* last of the runner's: the turn's events.jsonl lines in one write */
		evloop_on_idle(r->loop, flush_events, r->ctx);
	}
	r->nsteps = wf->nsteps;
	r->steps = xcalloc(wf->nsteps ? wf->nsteps : 1, sizeof(*r->steps));
	for (size_t i = 0; i < wf->nsteps; i++) {
		struct step_run *sr = &r->steps[i];
		sr->r = r;
		sr->s = &wf->steps[i];
		sr->idx = i;
		sr->exit_code = -1;
		alert_init(&sr->alert, sr->s->alert_after_failures);
		sr->max_iterations = sr->s->check.present && sr->s->max_iterations != WL_UNSET ? sr->s->max_iterations : 1;
	}
	open_git(r);
	r->iter_run.wf = wf;
	r->iter_run.run_id = r->run_id;
	r->iter_run.workspace = r->workspace;
	r->iter_run.git = r->git;
	r->iter_run.rd = r->rd;
	r->iter_run.history_db = r->opts->db_path;
	r->status = RUN_RUNNING;
	return r;
fail:
	runner_free(r);
	return NULL;
}

struct event_bus *runner_bus(struct runner *r)
{
	return &r->bus;
}

struct evloop *runner_loop(struct runner *r)
{
	return r->loop;
}

const struct redactor *runner_redactor(const struct runner *r)
{
	return r->rd;
}

const char *runner_run_id(const struct runner *r)
{
	return r->run_id;
}

const struct strvec *runner_artifact_errors(const struct runner *r)
{
	return &r->artifact_errors;
}

void runner_flush_events(struct runner *r)
{
	artifacts_flush_events(r->ctx);
}

const char *runner_artifact_error(const struct runner *r)
{
	if (r->artifact_error)
		return r->artifact_error;
	return r->ctx ? artifacts_sink_error(r->ctx) : NULL;
}

const char *runner_notice(const struct runner *r)
{
	return r->notice;
}

int runner_cancel_signal(const struct runner *r)
{
	return r->cancel_signo;
}

void runner_set_output_fn(struct runner *r, runner_output_fn fn, void *arg)
{
	r->output_fn = fn;
	r->output_arg = arg;
}

void runner_set_gate(struct runner *r, runner_gate_fn fn, void *arg)
{
	r->gate_fn = fn;
	r->gate_arg = arg;
}

void runner_cancel_before_start(struct runner *r, int signo)
{
	if (!r->ran)
		r->cancel_signo = signo;
}

int runner_exit_code(const struct runner *r)
{
	if (r->gate_reason && !r->cancel_signo)
		return 2;
	return run_status_exit_code(r->status, r->cancel_signo);
}
