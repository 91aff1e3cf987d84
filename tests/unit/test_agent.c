/* timeout: 30 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "agentcat.h"
#include "fsutil.h"
#include "harness.h"
#include "xalloc.h"

static char tmpdir[] = "/tmp/wl-test-agent.XXXXXX";

static char *joined(const struct strvec *sv)
{
	size_t n = 0;
	for (size_t i = 0; i < sv->n; i++)
		n += strlen(sv->v[i]) + 3;
	char *s = xcalloc(1, n + 1);
	for (size_t i = 0; i < sv->n; i++) {
		strcat(s, i ? " [" : "[");
		strcat(s, sv->v[i]);
		strcat(s, "]");
	}
	return s;
}

static void check_argv(const struct wl_workflow *wf, enum wl_worker kind, const char *prompt, const char *want)
{
	struct strvec av = STRVEC_INIT;
	struct wl_err err = WL_ERR_INIT;
	CHECK(agent_argv(wf, kind, prompt, &av, &err) == 0);
	char *got = joined(&av);
	CHECK_STR(got, want);
	CHECK(av.v[av.n] == NULL);
	free(got);
	strvec_clear(&av);
}

static void test_defaults(void)
{
	struct wl_workflow wf;
	memset(&wf, 0, sizeof(wf));
	check_argv(&wf, WORKER_CLAUDE_CODE, "fix it", "[claude] [-p] [fix it]");
	check_argv(&wf, WORKER_CODEX_CLI, "fix it", "[codex] [exec] [fix it]");
	check_argv(&wf, WORKER_OPENCODE, "a 'quoted' $prompt; rm -rf /", "[opencode] [run] [a 'quoted' $prompt; rm -rf /]");
	check_argv(NULL, WORKER_CLAUDE_CODE, "p", "[claude] [-p] [p]");

	struct strvec av = STRVEC_INIT;
	struct wl_err err = WL_ERR_INIT;
	CHECK(agent_argv(&wf, WORKER_CUSTOM, "x", &av, &err) < 0);
	CHECK_STR(err.msg, "worker 'CUSTOM' is not an agent worker");
	CHECK_INT(av.n, 0);
	CHECK(!agent_is_agent(WORKER_CUSTOM));
	CHECK(agent_default_command(WORKER_CUSTOM) == NULL);
	/* too long for one argv element */
	char *big = xmalloc(AGENT_MAX_PROMPT_BYTES + 2);
	memset(big, 'x', AGENT_MAX_PROMPT_BYTES + 1);
	big[AGENT_MAX_PROMPT_BYTES + 1] = '\0';
	CHECK(agent_argv(&wf, WORKER_CODEX_CLI, big, &av, &err) < 0);
	CHECK_STR(err.msg, "prompt for worker 'CODEX_CLI' is 131072 bytes; one argument can hold at most 131071");
	free(big);
}

static void test_overrides(void)
{
	struct wl_workflow wf;
	memset(&wf, 0, sizeof(wf));
	struct wl_worker_cmd *c = &wf.workers[WORKER_CLAUDE_CODE];
	c->present = 1;
	strvec_push(&c->command, "claude");
	strvec_push(&c->command, "--model");
	strvec_push(&c->command, "opus");
	strvec_push(&c->command, "-p");
	check_argv(&wf, WORKER_CLAUDE_CODE, "the prompt", "[claude] [--model] [opus] [-p] [the prompt]");
	/* {{prompt}} substitution: nothing appended */
	struct wl_worker_cmd *o = &wf.workers[WORKER_OPENCODE];
	o->present = 1;
	strvec_push(&o->command, "my-agent");
	strvec_push(&o->command, "--message");
	strvec_push(&o->command, "{{ prompt }}");
	strvec_push(&o->command, "--yes");
	strvec_push(&o->command, "--tag={{prompt}}");   /* not a whole element: left as is */
	check_argv(&wf, WORKER_OPENCODE, "P", "[my-agent] [--message] [P] [--yes] [--tag={{prompt}}]");
	/* other kinds keep their defaults */
	check_argv(&wf, WORKER_CODEX_CLI, "P", "[codex] [exec] [P]");
	/* empty command is an error */
	struct wl_worker_cmd *x = &wf.workers[WORKER_CODEX_CLI];
	x->present = 1;
	struct strvec av = STRVEC_INIT;
	struct wl_err err = WL_ERR_INIT;
	CHECK(agent_argv(&wf, WORKER_CODEX_CLI, "P", &av, &err) < 0);
	CHECK_STR(err.msg, "workers.CODEX_CLI.command is empty");
	strvec_clear(&c->command);
	strvec_clear(&o->command);
}

static void test_prompt(void)
{
	struct template_vars vars = TEMPLATE_VARS_INIT;
	template_set(&vars, "step", "build");
	template_set(&vars, "fix_file", "context/build/fix.md");
	struct wl_err err = WL_ERR_INIT;
	char *out = NULL;

	struct agent_prompt_params p = AGENT_PROMPT_PARAMS_INIT;
	p.instructions = "Step {{step}}: read {{fix_file}}. Keep {{.metadata.name}}. id=$ROBOPPI_COMPLETION_CHECK_ID\n\n";
	p.vars = &vars;
	p.check_id = "chk-7";
	p.append = "## Convergence: stage 2\nChange approach.\n";
	CHECK(agent_prompt(&p, &out, &err) == 0);
	CHECK_STR(out, "Step build: read context/build/fix.md. Keep {{.metadata.name}}. id=chk-7\n\n"
		       "## Convergence: stage 2\nChange approach.\n");
	free(out);

	/* instructions_file relative to the base dir */
	char *f = fs_join(tmpdir, "impl.md");
	const char *text = "Implement {{step}}.\n";
	CHECK(fs_write_atomic(f, text, strlen(text), &err) == 0);
	struct agent_prompt_params q = AGENT_PROMPT_PARAMS_INIT;
	q.instructions_file = "impl.md";
	q.base_dir = tmpdir;
	q.vars = &vars;
	CHECK(agent_prompt(&q, &out, &err) == 0);
	CHECK_STR(out, "Implement build.\n");
	free(out);
	/* absent prompts/completion_check.md: the built-in copy */
	q.instructions_file = "prompts/completion_check.md";
	CHECK(agent_prompt(&q, &out, &err) == 0);
	CHECK_CONTAINS(out, "waitloop verdict write");
	CHECK_CONTAINS(out, "wait-failure.json");
	free(out);
	/* a missing file that is not a built-in prompt */
	q.instructions_file = "nope.md";
	CHECK(agent_prompt(&q, &out, &err) < 0);
	CHECK_CONTAINS(err.msg, "instructions_file");
	CHECK_CONTAINS(err.msg, "nope.md");
	CHECK(out == NULL);
	free(f);
	template_vars_release(&vars);
}

static void test_env(void)
{
	struct strvec env = STRVEC_INIT, caps = STRVEC_INIT;
	strvec_push(&env, "PATH=/bin");
	strvec_push(&caps, "READ");
	strvec_push(&caps, "EDIT");
	strvec_push(&caps, "RUN_TESTS");
	agent_env(&caps, &env);
	CHECK_STR(strvec_getenv(&env, "WAITLOOP_CAPABILITIES"), "READ,EDIT,RUN_TESTS");
	agent_env(NULL, &env);
	CHECK_STR(strvec_getenv(&env, "WAITLOOP_CAPABILITIES"), "");
	CHECK_INT(env.n, 2);
	strvec_clear(&env);
	strvec_clear(&caps);
}

/* roboppi agent fields -> CLI arguments (agentcat_cli_args) inside agent_argv_extra */
static void check_extra(enum wl_worker kind, const struct wl_agent_ref *a, const char *want)
{
	struct strvec extra = STRVEC_INIT, av = STRVEC_INIT;
	struct wl_err err = WL_ERR_INIT;
	agentcat_cli_args(kind, a, &extra);
	CHECK(agent_argv_extra(NULL, kind, &extra, "P", &av, &err) == 0);
	char *got = joined(&av);
	CHECK_STR(got, want);
	free(got);
	strvec_clear(&av);
	strvec_clear(&extra);
}

static void test_agent_fields(void)
{
	struct wl_agent_ref a = {0};
	check_extra(WORKER_CLAUDE_CODE, &a, "[claude] [-p] [P]");
	strvec_push(&a.default_args, "--verbose");
	strvec_push(&a.default_args, "--model");
	strvec_push(&a.default_args, "old");
	strvec_push(&a.default_args, "--variant=x");
	check_extra(WORKER_CLAUDE_CODE, &a, "[claude] [-p] [--verbose] [--model] [old] [--variant=x] [P]");
	a.model = xstrdup("m1");
	a.variant = xstrdup("high");
	/* the task's model replaces the one in defaultArgs; --variant only for OPENCODE */
	check_extra(WORKER_CLAUDE_CODE, &a, "[claude] [-p] [--verbose] [--variant=x] [--model] [m1] [P]");
	check_extra(WORKER_OPENCODE, &a, "[opencode] [run] [--verbose] [--model] [m1] [--variant] [high] [P]");
	check_extra(WORKER_CODEX_CLI, &a, "[codex] [exec] [--verbose] [--variant=x] [--model] [m1] [P]");
	/* a workers: command with {{prompt}}: the extra arguments follow the command */
	struct wl_workflow wf;
	memset(&wf, 0, sizeof(wf));
	wf.workers[WORKER_CLAUDE_CODE].present = 1;
	strvec_push(&wf.workers[WORKER_CLAUDE_CODE].command, "my-agent");
	strvec_push(&wf.workers[WORKER_CLAUDE_CODE].command, "{{prompt}}");
	struct strvec extra = STRVEC_INIT, av = STRVEC_INIT;
	struct wl_err err = WL_ERR_INIT;
	agentcat_cli_args(WORKER_CLAUDE_CODE, &a, &extra);
	CHECK(agent_argv_extra(&wf, WORKER_CLAUDE_CODE, &extra, "P", &av, &err) == 0);
	char *got = joined(&av);
	CHECK_STR(got, "[my-agent] [P] [--verbose] [--variant=x] [--model] [m1]");
	free(got);
	strvec_clear(&av);
	strvec_clear(&extra);
	strvec_clear(&wf.workers[WORKER_CLAUDE_CODE].command);
	free(a.model);
	free(a.variant);
	strvec_clear(&a.default_args);
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	TEST(test_defaults);
	TEST(test_overrides);
	TEST(test_prompt);
	TEST(test_env);
	TEST(test_agent_fields);
	char *cmd = xasprintf("rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	free(cmd);
	return tests_done();
}
