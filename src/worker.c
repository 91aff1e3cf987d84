/*
 * worker: how a step's child is invoked -- its environment (WAITLOOP_*),
 * the script of a CUSTOM step or the prompt of an agent step (templates,
 * instructions files), a subworkflow's command line, and the PATH check of
 * an agent's CLI. The agent kinds themselves are in agent.c.
 */
#include "runner_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "agentcat.h"
#include "fsutil.h"
#include "redact.h"
#include "strbuf.h"
#include "xalloc.h"

#define SUBWORKFLOW_MAX_DEPTH 5   /* roboppi's default maximum nesting depth */

void worker_env(struct step_run *sr, struct strvec *env, const char *phase)
{
	struct runner *r = sr->r;
	strvec_copy(env, &r->base_env);
	strvec_setenv_all(env, &sr->s->env);
	if (r->opts->set_env)
		strvec_setenv_all(env, r->opts->set_env);
	strvec_setenv(env, "WAITLOOP_RUN_ID", r->run_id);
	strvec_setenv(env, "WAITLOOP_WORKFLOW", r->wf->name ? r->wf->name : "");
	strvec_setenv(env, "WAITLOOP_STEP", sr->s->id);
	char num[32];
	snprintf(num, sizeof(num), "%d", sr->iteration ? sr->iteration : 1);
	strvec_setenv(env, "WAITLOOP_ITERATION", num);
	snprintf(num, sizeof(num), "%d", sr->max_iterations);
	strvec_setenv(env, "WAITLOOP_MAX_ITERATIONS", num);
	strvec_setenv(env, "WAITLOOP_PHASE", phase);
	strvec_setenv(env, "WAITLOOP_WORKSPACE", r->workspace);
	strvec_setenv(env, "WAITLOOP_CONTEXT_DIR", r->context_dir);
	strvec_setenv(env, "WAITLOOP_STEP_DIR", sr->dir);
	strvec_setenv(env, "WAITLOOP_FIX_FILE", sr->fix_file);
	strvec_setenv(env, "WAITLOOP_DECISION_FILE", sr->decision_file);
	strvec_setenv(env, "WAITLOOP_WAIT_FAILURE_FILE", sr->wait_failure_file);
	strvec_setenv(env, "WAITLOOP_BIN", r->self_exe);
	if (r->opts->db_path)   /* the run's history: in-script waits record there too */
		strvec_setenv(env, "WAITLOOP_DB", r->opts->db_path);
	strvec_setenv(env, REDACT_ENV, r->redact_env);   /* waitloop wait / verdict write redact alike */
	if (sr->check_id && !strcmp(phase, "completion_check")) {
		strvec_setenv(env, "WAITLOOP_CHECK_ID", sr->check_id);
		strvec_setenv(env, "ROBOPPI_COMPLETION_CHECK_ID", sr->check_id);
	}
}

void worker_template_vars(const struct step_run *sr, struct template_vars *v)
{
	const struct runner *r = sr->r;
	template_set(v, "workflow", r->wf->name ? r->wf->name : "");
	template_set(v, "step", sr->s->id);
	template_setf(v, "iteration", "%d", sr->iteration ? sr->iteration : 1);
	template_setf(v, "max_iterations", "%d", sr->max_iterations);
	template_set(v, "check_id", sr->check_id ? sr->check_id : "");
	template_set(v, "fix_file", sr->fix_file);
	template_set(v, "decision_file", sr->decision_file);
	template_set(v, "context_dir", r->context_dir);
	template_set(v, "step_dir", sr->dir);
	template_set(v, "wait_failure_file", sr->wait_failure_file);
}

/* An instructions_file: relative to the workflow file's directory, else the workspace. */
static char *instructions_path(const struct runner *r, const char *file)
{
	char *p = fs_path_in(r->wf_dir, file);
	if (!fs_exists(p)) {
		free(p);
		p = fs_path_in(r->workspace, file);
	}
	return p;
}

/*
 * The script of a CUSTOM step (or check): an instructions_file has its
 * {{var}} placeholders expanded; inline instructions are used as written
 * (shell scripts use the WAITLOOP_* variables); a check's
 * $ROBOPPI_COMPLETION_CHECK_ID is replaced by the check id.
 */
static char *script_text(const struct step_run *sr, int is_check, struct wl_err *err)
{
	const struct runner *r = sr->r;
	const char *inline_text = is_check ? sr->s->check.instructions : sr->s->instructions;
	const char *file = is_check ? sr->s->check.instructions_file : sr->s->instructions_file;
	char *text = NULL;
	if (file) {
		char *p = instructions_path(r, file);
		struct strbuf sb = STRBUF_INIT;
		if (fs_read_file(p, 16u << 20, &sb, err) < 0) {
			free(p);
			strbuf_release(&sb);
			return NULL;
		}
		free(p);
		struct template_vars v = TEMPLATE_VARS_INIT;
		worker_template_vars(sr, &v);
		text = template_expand(strbuf_str(&sb), &v);
		template_vars_release(&v);
		strbuf_release(&sb);
	} else if (inline_text) {
		text = xstrdup(inline_text);
	} else {
		err_set(err, "step '%s' has no %sinstructions", sr->s->id, is_check ? "completion_check " : "");
		return NULL;
	}
	if (is_check && sr->check_id) {
		char *t = template_roboppi_check_id(text, sr->check_id);
		free(text);
		text = t;
	}
	return text;
}

/*
 * The prompt of an agent step (or check): agent_prompt() renders the
 * instructions (a missing prompts/<x>.md falls back to the built-in copy);
 * an implementer's prompt gets the convergence stage's text appended.
 */
static char *agent_prompt_text(const struct step_run *sr, int is_check, struct wl_err *err)
{
	const struct runner *r = sr->r;
	struct agent_prompt_params pp = AGENT_PROMPT_PARAMS_INIT;
	pp.instructions = is_check ? sr->s->check.instructions : sr->s->instructions;
	const char *file = is_check ? sr->s->check.instructions_file : sr->s->instructions_file;
	char *path = NULL;
	if (file) {
		char *in_wf = fs_path_in(r->wf_dir, file);
		if (fs_exists(in_wf))
			path = in_wf;
		else
			free(in_wf);
	}
	pp.instructions_file = path ? path : file;
	pp.base_dir = path ? NULL : r->workspace;
	if (!pp.instructions && !pp.instructions_file) {
		err_set(err, "step '%s' has no %sinstructions", sr->s->id, is_check ? "completion_check " : "");
		return NULL;
	}
	struct template_vars v = TEMPLATE_VARS_INIT;
	worker_template_vars(sr, &v);
	pp.vars = &v;
	pp.check_id = is_check ? sr->check_id : NULL;
	pp.append = !is_check && sr->il ? iter_loop_agent_append(sr->il) : NULL;
	char *prompt = NULL;
	agent_prompt(&pp, &prompt, err);
	template_vars_release(&v);
	free(path);
	return prompt;
}

/*
 * A roboppi subworkflow step (`workflow: child.yaml`): a nested run of this
 * binary in the same workspace, its context under
 * <context>/_subworkflows/<step>/<n>, recorded in the same history. The
 * call stack travels in WAITLOOP_WORKFLOW_STACK: a cycle or more than
 * SUBWORKFLOW_MAX_DEPTH levels fails the step (FATAL, as roboppi).
 */
static int subworkflow_argv(struct step_run *sr, struct strvec *env, struct strvec *argv, struct wl_err *err)
{
	const struct runner *r = sr->r;
	char *child = fs_path_in(r->wf_dir, sr->s->subworkflow);
	const char *stack = strvec_getenv(env, "WAITLOOP_WORKFLOW_STACK");
	struct strbuf sb = STRBUF_INIT;
	strbuf_addstr(&sb, stack && *stack ? stack : r->wf_file);
	int depth = 1, cycle = !strcmp(child, r->wf_file);
	for (const char *p = strbuf_str(&sb); *p;) {
		const char *e = strchr(p, ':');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		cycle |= n == strlen(child) && !strncmp(p, child, n);
		depth++;
		p = e ? e + 1 : p + n;
	}
	int rc = 0;
	if (!fs_exists(child)) {
		rc = err_set(err, "subworkflow '%s' not found ('%s')", sr->s->subworkflow, child);
	} else if (cycle) {
		sr->fatal = 1;
		rc = err_set(err, "subworkflow recursion: '%s' is already running (%s)", child, strbuf_str(&sb));
	} else if (depth > SUBWORKFLOW_MAX_DEPTH) {
		sr->fatal = 1;
		rc = err_set(err, "subworkflow nesting deeper than %d levels", SUBWORKFLOW_MAX_DEPTH);
	}
	if (rc == 0) {
		strbuf_addch(&sb, ':');
		strbuf_addstr(&sb, child);
		strvec_setenv(env, "WAITLOOP_WORKFLOW_STACK", strbuf_str(&sb));
		strvec_setenv(env, "ROBOPPI_SUBWORKFLOW_PARENT_STEP", sr->s->id);
		/* the child reads this run's catalogs, then its own agents.yaml on top
		 * (roboppi's loadChildWorkflow: explicit files are not passed on as such) */
		strvec_unsetenv(env, "ROBOPPI_AGENTS_FILE");
		struct strbuf cats = STRBUF_INIT;
		for (size_t i = 0; i < r->wf->agent_catalogs.n; i++) {
			if (i)
				strbuf_addch(&cats, ':');
			strbuf_addstr(&cats, r->wf->agent_catalogs.v[i]);
		}
		strvec_setenv(env, "WAITLOOP_PARENT_AGENTS", strbuf_str(&cats));
		strbuf_release(&cats);
		char num[32];
		snprintf(num, sizeof(num), "%d", sr->iteration ? sr->iteration : 1);
		strvec_setenv(env, "ROBOPPI_SUBWORKFLOW_ITERATION", num);
		free(sr->sub_ctx);
		char *base = fs_join(r->context_dir, "_subworkflows");
		char *stepbase = fs_join(base, sr->s->id);
		char *leaf = xasprintf("%d.%d", sr->iteration ? sr->iteration : 1, sr->attempts_total);
		sr->sub_ctx = fs_join(stepbase, leaf);
		free(base);
		free(stepbase);
		free(leaf);
		strvec_setenv(env, "ROBOPPI_SUBWORKFLOW_RUN_ID", sr->sub_ctx);
		strvec_push(argv, r->self_exe);
		strvec_push(argv, "run");
		strvec_push(argv, child);
		strvec_push(argv, "--workspace");
		strvec_push(argv, r->workspace);
		strvec_push(argv, "--context");
		strvec_push(argv, sr->sub_ctx);
		if (r->opts->db_path) {
			strvec_push(argv, "--db");
			strvec_push(argv, r->opts->db_path);
		}
		strvec_push(argv, "--no-progress");
		strvec_push(argv, "--quiet");
	}
	strbuf_release(&sb);
	free(child);
	return rc;
}

/*
 * The command line of one worker run (a step attempt or a completion_check):
 * CUSTOM is `<shell> -e -c <script>`; the agent kinds run their CLI (or the
 * workflow's `workers:` override) with the rendered prompt (agent.h), and
 * get their capabilities in the environment.
 */
int worker_argv(struct step_run *sr, int is_check, struct strvec *env, struct strvec *argv,
		       struct wl_err *err)
{
	const struct runner *r = sr->r;
	if (!is_check && sr->s->subworkflow)
		return subworkflow_argv(sr, env, argv, err);
	enum wl_worker worker = is_check ? sr->s->check.worker : sr->s->worker;
	if (worker == WORKER_UNSET)
		worker = WORKER_CUSTOM;
	if (worker == WORKER_CUSTOM) {
		char *text = script_text(sr, is_check, err);
		if (!text)
			return -1;
		strvec_push(argv, r->shell);
		strvec_push(argv, "-e");
		strvec_push(argv, "-c");
		strvec_push_owned(argv, text);
		return 0;
	}
	char *prompt = agent_prompt_text(sr, is_check, err);
	if (!prompt)
		return -1;
	struct strvec extra = STRVEC_INIT;   /* roboppi agent fields (agentcat.h) */
	agentcat_cli_args(worker, is_check ? &sr->s->check.ag : &sr->s->ag, &extra);
	int rc = agent_argv_extra(r->wf, worker, &extra, prompt, argv, err);
	strvec_clear(&extra);
	free(prompt);
	if (rc < 0)
		return -1;
	int e = 0;
	char *found = fs_find_command(argv->v[0], strvec_getenv(env, "PATH"), NULL, &e);
	if (!found)
		return err_set(err, "worker %s needs '%s', which is not on PATH", worker_name(worker), argv->v[0]);
	free(found);
	agent_env(is_check ? &sr->s->check.capabilities : &sr->s->capabilities, env);
	return 0;
}
