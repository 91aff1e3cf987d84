#include "agent.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "embedded.h"
#include "fsutil.h"
#include "strbuf.h"
#include "xalloc.h"

/* Instruction files larger than this are refused (a prompt, not a data set). */
#define MAX_INSTRUCTIONS_FILE (1024 * 1024)

static const char *const claude_cmd[] = {"claude", "-p", NULL};
static const char *const codex_cmd[] = {"codex", "exec", NULL};
static const char *const opencode_cmd[] = {"opencode", "run", NULL};

int agent_is_agent(enum wl_worker kind)
{
	return kind == WORKER_CLAUDE_CODE || kind == WORKER_CODEX_CLI || kind == WORKER_OPENCODE;
}

const char *const *agent_default_command(enum wl_worker kind)
{
	switch (kind) {
	case WORKER_CLAUDE_CODE: return claude_cmd;
	case WORKER_CODEX_CLI: return codex_cmd;
	case WORKER_OPENCODE: return opencode_cmd;
	case WORKER_UNSET:
	case WORKER_CUSTOM: break;
	}
	return NULL;
}

/* "{{prompt}}" or "{{ prompt }}", exactly (the whole element). */
static int is_prompt_placeholder(const char *s)
{
	if (strncmp(s, "{{", 2))
		return 0;
	s += 2;
	while (*s == ' ' || *s == '\t')
		s++;
	if (strncmp(s, "prompt", 6))
		return 0;
	s += 6;
	while (*s == ' ' || *s == '\t')
		s++;
	return !strcmp(s, "}}");
}

int agent_argv(const struct wl_workflow *wf, enum wl_worker kind, const char *prompt, struct strvec *argv_out,
	       struct wl_err *err)
{
	return agent_argv_extra(wf, kind, NULL, prompt, argv_out, err);
}

int agent_argv_extra(const struct wl_workflow *wf, enum wl_worker kind, const struct strvec *extra,
		     const char *prompt, struct strvec *argv_out, struct wl_err *err)
{
	if (!agent_is_agent(kind))
		return err_set(err, "worker '%s' is not an agent worker", worker_name(kind));
	if (!prompt)
		prompt = "";
	size_t plen = strlen(prompt);
	if (plen > AGENT_MAX_PROMPT_BYTES)
		return err_set(err, "prompt for worker '%s' is %zu bytes; one argument can hold at most %d",
			       worker_name(kind), plen, AGENT_MAX_PROMPT_BYTES);
	const struct wl_worker_cmd *wc = wf ? &wf->workers[kind] : NULL;
	if (wc && wc->present) {
		if (!wc->command.n || !wc->command.v[0][0])
			return err_set(err, "workers.%s.command is empty", worker_name(kind));
		int substituted = 0;
		for (size_t i = 0; i < wc->command.n; i++) {
			if (is_prompt_placeholder(wc->command.v[i])) {
				strvec_push(argv_out, prompt);
				substituted = 1;
			} else {
				strvec_push(argv_out, wc->command.v[i]);
			}
		}
		if (extra)
			strvec_copy(argv_out, extra);
		if (!substituted)
			strvec_push(argv_out, prompt);
		return 0;
	}
	for (const char *const *a = agent_default_command(kind); *a; a++)
		strvec_push(argv_out, *a);
	if (extra)
		strvec_copy(argv_out, extra);
	strvec_push(argv_out, prompt);
	return 0;
}

/* Read an instructions file; a missing prompts/<x>.md falls back to the embedded copy. */
static int read_instructions(const char *file, const char *base_dir, struct strbuf *sb, struct wl_err *err)
{
	char *path = base_dir ? fs_join(base_dir, file) : xstrdup(file);
	int rc;
	if (fs_exists(path) || !embedded_find(file)) {
		rc = fs_read_file(path, MAX_INSTRUCTIONS_FILE, sb, err);
		if (rc < 0)
			err_prefix(err, "instructions_file");
	} else {
		strbuf_addstr(sb, embedded_find(file)->data);
		rc = 0;
	}
	free(path);
	return rc;
}

int agent_prompt(const struct agent_prompt_params *p, char **out, struct wl_err *err)
{
	struct strbuf raw = STRBUF_INIT;
	*out = NULL;
	if (p->instructions_file) {
		if (read_instructions(p->instructions_file, p->base_dir, &raw, err) < 0) {
			strbuf_release(&raw);
			return -1;
		}
	} else if (p->instructions) {
		strbuf_addstr(&raw, p->instructions);
	}
	struct template_vars none = TEMPLATE_VARS_INIT;
	char *text = template_expand(strbuf_str(&raw), p->vars ? p->vars : &none);
	strbuf_release(&raw);
	if (p->check_id) {
		char *t = template_roboppi_check_id(text, p->check_id);
		free(text);
		text = t;
	}
	if (p->append && *p->append) {
		struct strbuf sb = STRBUF_INIT;
		strbuf_addstr(&sb, text);
		strbuf_trim(&sb);
		strbuf_addstr(&sb, "\n\n");
		strbuf_addstr(&sb, p->append);
		free(text);
		text = strbuf_detach(&sb);
	}
	*out = text;
	return 0;
}

void agent_env(const struct strvec *capabilities, struct strvec *env)
{
	struct strbuf sb = STRBUF_INIT;
	for (size_t i = 0; capabilities && i < capabilities->n; i++)
		strbuf_addf(&sb, "%s%s", sb.len ? "," : "", capabilities->v[i]);
	strvec_setenv(env, "WAITLOOP_CAPABILITIES", strbuf_str(&sb));
	strbuf_release(&sb);
}
