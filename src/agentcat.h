/*
 * agentcat: roboppi agent catalogs (agents.yaml) applied to a loaded workflow.
 *
 * A step or completion_check may say `agent: NAME` instead of (or besides)
 * `worker:`; NAME is an entry of the catalog:
 *
 *   version: "1"
 *   agents:
 *     reviewer:
 *       worker: CLAUDE_CODE          -- CUSTOM, CLAUDE_CODE, CODEX_CLI, OPENCODE
 *       model: claude-sonnet-4-6     -- --model for the CLI
 *       variant: high                -- --variant (OPENCODE)
 *       defaultArgs: [--verbose]     -- after the CLI's command prefix
 *       capabilities: [READ]
 *       workspace: sub               -- default step workspace
 *       timeout: 10m                 -- default step/check timeout
 *       base_instructions: |         -- put before the step's instructions
 *         You review code.
 *
 * As roboppi does (src/workflow/parser.ts resolveTaskLikeWithAgent): fields the
 * step writes win; base_instructions and the step's instructions are joined
 * by a blank line, both trimmed. The catalog files are agents_files when any
 * are given (`--agents FILE`, ROBOPPI_AGENTS_FILE; later files win per entry),
 * else agents.yaml or agents.yml next to the workflow file, if present. A
 * subworkflow reads its parent's files (inherited) first, so its own win
 * (roboppi's loadChildWorkflow). The files found are recorded, absolute, in
 * wf->agent_catalogs (what a subworkflow inherits). The catalog is read only
 * when some step uses `agent:` or files are given.
 *
 * Errors (unknown agent with did-you-mean, no catalog, a bad catalog, a
 * step left without worker or instructions) go to diags with their position.
 * Returns the number of errors added.
 */
#ifndef WAITLOOP_AGENTCAT_H
#define WAITLOOP_AGENTCAT_H

#include "error.h"
#include "strvec.h"
#include "workflow.h"

int agentcat_apply(struct wl_workflow *wf, const char *wf_path, const struct strvec *agents_files,
		   const struct strvec *inherited, struct errlist *diags);

/* The CLI arguments of a step's or check's agent fields, appended to out:
 * defaultArgs (without any --model/--variant of theirs when model/variant is
 * set), then --model M, then --variant V (OPENCODE only), as roboppi's adapters. */
void agentcat_cli_args(enum wl_worker kind, const struct wl_agent_ref *a, struct strvec *out);

#endif
