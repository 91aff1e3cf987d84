/*
 * agent: command lines and prompts for agent workers (SPEC §4.7).
 *
 *   CLAUDE_CODE -> claude -p <prompt>
 *   CODEX_CLI   -> codex exec <prompt>
 *   OPENCODE    -> opencode run <prompt>
 *
 * A workflow overrides any of them with
 *   workers: {CLAUDE_CODE: {command: [my-agent, --model, x]}}
 * The command is an argv prefix and the prompt becomes the last argument,
 * unless an element is exactly "{{prompt}}" (spaces inside the braces
 * allowed): then the prompt replaces every such element and nothing is
 * appended. No shell is involved: the prompt is one argv element, never
 * re-split or interpreted.
 *
 * Calling sequence (runner, for an agent step or an agent completion_check):
 *   struct agent_prompt_params pp = AGENT_PROMPT_PARAMS_INIT;
 *   pp.instructions = step->instructions; pp.instructions_file = step->instructions_file;
 *   pp.base_dir = workspace; pp.vars = &vars;            -- {{step}}, {{fix_file}}, ...
 *   pp.check_id = check ? check_id : NULL;                -- $ROBOPPI_COMPLETION_CHECK_ID
 *   pp.append = convergence_append_instructions(conv);   -- agents only, never CUSTOM
 *   char *prompt; agent_prompt(&pp, &prompt, &err);
 *   struct strvec argv = STRVEC_INIT; agent_argv(wf, step->worker, prompt, &argv, &err);
 *   agent_env(&step->capabilities, &env);                 -- WAITLOOP_CAPABILITIES=a,b
 *   proc_start(... argv.v, env ...);
 *
 * Ownership: inputs are borrowed; *out strings and argv entries are owned by
 * the caller.
 */
#ifndef WAITLOOP_AGENT_H
#define WAITLOOP_AGENT_H

#include "error.h"
#include "strvec.h"
#include "template.h"
#include "workflow.h"

/* Linux limit of one argv element (MAX_ARG_STRLEN); longer prompts cannot be exec'ed. */
#define AGENT_MAX_PROMPT_BYTES (128 * 1024 - 1)

/* 1 for CLAUDE_CODE, CODEX_CLI, OPENCODE. */
int agent_is_agent(enum wl_worker kind);
/* The built-in argv prefix of a kind ({"claude", "-p", NULL}), or NULL for non-agents. */
const char *const *agent_default_command(enum wl_worker kind);

/*
 * The argv for running kind with prompt: the workflow's workers[kind].command
 * when present, else the default. Appends to argv_out. -1 when kind is not an
 * agent kind, the command is empty, or the prompt is too long for argv.
 */
int agent_argv(const struct wl_workflow *wf, enum wl_worker kind, const char *prompt, struct strvec *argv_out,
	       struct wl_err *err);

/* Same, with extra arguments (agentcat_cli_args(): defaultArgs, --model, --variant)
 * after the command (before the prompt when it is appended). extra may be NULL. */
int agent_argv_extra(const struct wl_workflow *wf, enum wl_worker kind, const struct strvec *extra,
		     const char *prompt, struct strvec *argv_out, struct wl_err *err);

struct agent_prompt_params {
	const char *instructions;        /* inline text, or NULL */
	const char *instructions_file;   /* path (relative to base_dir), or NULL; an absent
					    prompts/<x>.md falls back to the built-in copy */
	const char *base_dir;            /* workspace; NULL = current directory */
	const struct template_vars *vars;   /* may be NULL */
	const char *check_id;            /* replaces $ROBOPPI_COMPLETION_CHECK_ID, or NULL */
	const char *append;              /* appended after a blank line (convergence stage text), or NULL */
};
#define AGENT_PROMPT_PARAMS_INIT {0}

/* Render the prompt: read, expand {{vars}}, replace the roboppi check id, append. */
int agent_prompt(const struct agent_prompt_params *p, char **out, struct wl_err *err);

/* Set WAITLOOP_CAPABILITIES=<comma-separated capabilities> in env ("" when none). */
void agent_env(const struct strvec *capabilities, struct strvec *env);

#endif
