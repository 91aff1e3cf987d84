/*
 * Unit tests of the workflow loader (loader.h) and the YAML tree (yamlnode.h):
 * every error class with its verbatim message and position, anchors, aliases
 * and merge keys, the full DSL populating every model field, and a
 * roboppi-style CUSTOM workflow.
 */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "loader.h"
#include "pattern.h"
#include "redact.h"
#include "runner.h"
#include "strbuf.h"
#include "xalloc.h"
#include "yamlnode.h"

/* All diagnostics as "L:C: level: msg\n" lines. Caller frees. */
static char *diags_text(const struct errlist *el)
{
	struct strbuf sb;
	strbuf_init(&sb);
	for (size_t i = 0; i < el->n; i++)
		strbuf_addf(&sb, "%d:%d: %s: %s\n", el->items[i].line, el->items[i].col,
			    el->items[i].level == DIAG_ERROR ? "error" : "warning", el->items[i].msg);
	return strbuf_detach(&sb);
}

static struct wl_workflow *load(const char *yaml, struct errlist *el)
{
	return loader_load_string("t.yaml", yaml, strlen(yaml), el);
}

/* The yaml must fail with exactly one error, want ("L:C: error: msg"). */
static void expect_one_error(const char *yaml, const char *want)
{
	struct errlist el = ERRLIST_INIT;
	struct wl_workflow *wf = load(yaml, &el);
	CHECK(wf == NULL);
	char *got = diags_text(&el);
	struct strbuf w;
	strbuf_init(&w);
	strbuf_addf(&w, "%s\n", want);
	CHECK_STR(got, strbuf_str(&w));
	strbuf_release(&w);
	free(got);
	workflow_free(wf);
	errlist_release(&el);
}

#define HDR "name: t\nversion: \"1\"\ntimeout: 1m\n"
#define STEP "steps:\n  s:\n    worker: CUSTOM\n    instructions: echo hi\n"

static void test_minimal_leaves_everything_unset(void)
{
	struct errlist el = ERRLIST_INIT;
	struct wl_workflow *wf = load(HDR STEP, &el);
	CHECK(wf != NULL);
	CHECK_INT(el.n, 0);
	if (!wf)
		return;
	CHECK_STR(wf->file, "t.yaml");
	CHECK_STR(wf->name, "t");
	CHECK_STR(wf->version, "1");
	CHECK_INT(wf->timeout, 60000);
	CHECK_INT(wf->concurrency, WL_UNSET);
	CHECK(wf->context_dir == NULL && wf->shell == NULL && wf->description == NULL);
	CHECK_INT(wf->wait_policy.present, 0);
	CHECK_INT(wf->wait_policy.interval, WL_UNSET);
	CHECK_INT(wf->nsteps, 1);
	struct wl_step *s = &wf->steps[0];
	CHECK_STR(s->id, "s");
	CHECK_INT(s->pos.line, 5);
	CHECK_INT(s->pos.col, 3);
	CHECK_INT(s->worker, WORKER_CUSTOM);
	CHECK_STR(s->instructions, "echo hi");
	CHECK_INT(s->timeout, WL_UNSET);
	CHECK_INT(s->max_retries, WL_UNSET);
	CHECK_INT(s->max_iterations, WL_UNSET);
	CHECK_INT(s->alert_after_failures, WL_UNSET);
	CHECK_INT(s->on_failure, ON_FAILURE_UNSET);
	CHECK_INT(s->retry.present, 0);
	CHECK_INT(s->retry.limit, WL_UNSET);
	CHECK_INT(s->check.present, 0);
	CHECK_INT(s->check.timeout, WL_UNSET);
	CHECK_INT(s->check.wait_policy.stall_threshold, WL_UNSET);
	CHECK_INT(s->wait_policy.grace, WL_UNSET);
	CHECK_INT(s->convergence.present, 0);
	CHECK_INT(s->convergence.enabled, WL_UNSET);
	CHECK_INT(s->convergence.max_changed_files, WL_UNSET);
	CHECK_INT(s->is_wait, 0);
	CHECK_INT(s->ndeps, 0);
	workflow_free(wf);
	errlist_release(&el);
}

static void test_error_messages_verbatim(void)
{
	static const struct {
		const char *yaml, *want;
	} cases[] = {
		{"version: \"1\"\ntimeout: 1m\n" STEP, "1:1: error: missing required field 'name'"},
		{"name: t\nversion: 1\n" STEP, "1:1: error: missing required field 'timeout'"},
		{HDR, "1:1: error: missing required field 'steps'"},
		{"name: t\nversion: \"2\"\ntimeout: 1m\n" STEP, "2:10: error: unsupported version '2' (expected \"1\")"},
		{"name: t\nversion: \"1\"\ntimeout: 10x\n" STEP,
		 "3:10: error: invalid duration '10x' for 'timeout' (expected e.g. 200ms, 10s, 1h30m)"},
		{HDR "concurrency: 0\n" STEP, "4:14: error: 'concurrency: 0' is refused (under roboppi no step ever starts and the run times out); "
					      "omit 'concurrency' for no limit, or give a number >= 1"},
		{HDR "concurrency: '2'\n" STEP, "4:14: error: 'concurrency' must be an integer >= 1"},
		{HDR "timout: 1m\n" STEP, "4:1: error: unknown key 'timout' at top level (did you mean 'timeout'?)"},
		{HDR "zzz: 1\n" STEP, "4:1: error: unknown key 'zzz' at top level"},
		{HDR STEP "    timout: 5m\n", "8:5: error: unknown key 'timout' in step 's' (did you mean 'timeout'?)"},
		{HDR STEP "    on_failure: abrt\n",
		 "8:17: error: invalid value 'abrt' for 'on_failure' (expected abort, continue or retry; did you mean 'abort'?)"},
		{HDR "steps:\n  s:\n    worker: custom\n    instructions: x\n",
		 "6:13: error: invalid value 'custom' for 'worker' (expected CUSTOM, CLAUDE_CODE, CODEX_CLI or OPENCODE; did you mean 'CUSTOM'?)"},
		{HDR "steps:\n  s:\n    instructions: x\n", "5:3: error: missing required field 'worker' in step 's'"},
		{HDR "steps:\n  s:\n    worker: CUSTOM\n",
		 "5:3: error: missing required field 'instructions' (or 'instructions_file') in step 's'"},
		{HDR "steps:\n  w:\n    wait: {target: x}\n", "6:5: error: missing required field 'condition' in wait of step 'w'"},
		{HDR "steps:\n  bad/id:\n    worker: CUSTOM\n    instructions: x\n",
		 "5:3: error: invalid step id 'bad/id': ids must match [A-Za-z0-9_][A-Za-z0-9_.-]* (at most 64 characters, not '.' or '..')"},
		{HDR "steps:\n  -x:\n    worker: CUSTOM\n    instructions: x\n",
		 "5:3: error: invalid step id '-x': ids must match [A-Za-z0-9_][A-Za-z0-9_.-]* (at most 64 characters, not '.' or '..')"},
		{HDR "context_dir: a/../../b\n" STEP, "4:14: error: 'context_dir' must not leave the workspace ('..' in 'a/../../b')"},
		{HDR STEP "    outputs: [{name: a/b, path: x}]\n",
		 "8:22: error: invalid output name 'a/b' in step 's': names must match [A-Za-z0-9_][A-Za-z0-9_.-]* (at most 64 characters)"},
		{HDR STEP "    depends_on: [x]\n", "8:18: error: unknown step 'x' in 'depends_on' of step 's' (did you mean 's'?)"},
		{HDR STEP "    depends_on: [s]\n", "8:18: error: step 's' depends on itself"},
		{HDR STEP "    completion_check: {worker: CUSTOM, instructions: 'true'}\n",
		 "8:5: error: 'completion_check' requires 'max_iterations' >= 2 in step 's'"},
		{HDR STEP "    max_iterations: 3\n", "8:5: error: 'max_iterations' requires a 'completion_check' in step 's'"},
		{HDR STEP "    completion_check: {worker: CUSTOM, instructions: 'true'}\n    max_iterations: 1\n",
		 "9:21: error: 'max_iterations' must be an integer >= 2 (a completion_check loop needs at least 2 iterations)"},
		{HDR "wait_policy:\n  rules:\n    - {match: 'a(b', class: retryable}\n" STEP,
		 "6:15: error: invalid regular expression 'a(b': missing closing parenthesis"},
		{HDR "wait_policy:\n  terminal_patterns: ['a(b']\n" STEP,
		 "5:23: error: invalid regular expression 'a(b': missing closing parenthesis"},
		{HDR "wait_policy: {child_grace: 0s}\n" STEP, "4:28: error: 'child_grace' must be greater than 0"},
		{HDR "redact: ['a(b']\n" STEP, "4:10: error: invalid regular expression 'a(b': missing closing parenthesis"},
		{HDR "metrics: {file: ../m.prom}\n" STEP, "4:17: error: 'file' must not leave the workspace ('..' in '../m.prom')"},
		{HDR "history: {db: ../h.db}\n" STEP, "4:15: error: 'db' must not leave the workspace ('..' in '../h.db')"},
		{HDR STEP "    workspace: a/../../b\n", "8:16: error: 'workspace' must not leave the workspace ('..' in 'a/../../b')"},
		{HDR "notify:\n  targets:\n    t: {type: file, path: ../x}\n" STEP,
		 "6:27: error: 'path' must not leave the workspace ('..' in '../x')"},
		{HDR "steps:\n  _workflow:\n    worker: CUSTOM\n    instructions: echo hi\n",
		 "5:3: error: step id '_workflow' is reserved (the runner's own files in the context directory)"},
		{HDR STEP "    outputs:\n      - {name: _meta.json, path: x}\n",
		 "9:16: error: output name '_meta.json' in step 's' is reserved (the runner writes a file of that name in the step's directory)"},
		{HDR "steps:\n  w:\n    wait: {condition: 'true'}\n    wait_policy: {mode: probe_aware}\n",
		 "7:5: error: wait_policy with mode 'probe_aware' has nothing to observe (set probe, rules, terminal_patterns, builtin or classify)"},
		{HDR "wait_policy: {mode: probe_aware}\nsteps:\n  w:\n    wait: {condition: 'true'}\n",
		 "7:5: error: wait_policy with mode 'probe_aware' has nothing to observe (set probe, rules, terminal_patterns, builtin or classify)"},
		{HDR "wait_policy: {builtin: k8s}\n" STEP, "4:24: error: invalid value 'k8s' for 'builtin' (expected kubernetes)"},
		{HDR "wait_policy:\n  rules: [{match: x, class: terminal_failed}]\n" STEP,
		 "5:29: error: invalid value 'terminal_failed' for 'class' (expected retryable, terminal_fail, progressing or stalled; did you mean 'terminal_fail'?)"},
		{HDR "wait_policy:\n  rules: [{match: x}]\n" STEP,
		 "5:11: error: missing required field 'class' in rule 1 of the top-level wait_policy"},
		{HDR "wait_policy:\n  rules: [{class: stalled}]\n" STEP,
		 "5:11: error: a rule needs 'match' or 'field' (rule 1 of the top-level wait_policy)"},
		{HDR "wait_policy:\n  rules: [{match: x, equals: y, class: stalled}]\n" STEP,
		 "5:22: error: 'equals' needs 'field' (rule 1 of the top-level wait_policy)"},
		{HDR "wait_policy:\n  rules: [{match: x, class: stalled, after: 0}]\n" STEP,
		 "5:45: error: 'after' must be an integer >= 1"},
		{HDR "wait_policy: {stall_threshold: 0}\n" STEP, "4:32: error: 'stall_threshold' must be an integer >= 1"},
		{HDR "wait_policy: {on_terminal: abort}\n" STEP,
		 "4:28: error: invalid value 'abort' for 'on_terminal' (expected incomplete or fail)"},
		{HDR STEP "    completion_check: {worker: CUSTOM, instructions: x}\n    max_iterations: 2\n    on_iterations_exhausted: retry\n",
		 "10:30: error: invalid value 'retry' for 'on_iterations_exhausted' (expected abort or continue)"},
		{HDR "notify:\n  events: [early_abort, finished]\n" STEP,
		 "5:25: error: invalid value 'finished' for 'events' (expected early_abort, iteration_finished, alert, run_started or run_finished)"},
		{HDR "notify:\n  targets:\n    peer: {type: file}\n" STEP,
		 "6:5: error: missing required field 'path' in notify target 'peer' (type file)"},
		{HDR STEP "    retry: {limit: 1, backoff: {duration: 1s, factr: 2}}\n",
		 "8:47: error: unknown key 'factr' in backoff of retry of step 's' (did you mean 'factor'?)"},
		{HDR STEP "    retry: {on_timeout: sometimes}\n",
		 "8:25: error: invalid value 'sometimes' for 'on_timeout' (expected retry or fail)"},
		{HDR STEP "    retry: {on_exit_codes: [256]}\n",
		 "8:29: error: 'on_exit_codes' must be a list of exit codes (0-255)"},
		{HDR "env: {1X: a}\n" STEP, "4:7: error: invalid environment variable name '1X'"},
		{HDR "workers: {CLAUD_CODE: {command: [c]}}\n" STEP,
		 "4:11: error: invalid worker kind 'CLAUD_CODE' in 'workers' (expected CLAUDE_CODE, CODEX_CLI or OPENCODE; did you mean 'CLAUDE_CODE'?)"},
		{HDR "steps: []\n", "4:8: error: 'steps' must be a mapping of step id to step"},
		{HDR "steps:\n  a: {worker: CUSTOM, instructions: x, outputs: [{name: o, path: o}]}\n"
		     "  b: {worker: CUSTOM, instructions: x, inputs: [{from: a, artifact: o}]}\n",
		 "6:56: error: step 'b' takes an input from 'a' but does not depend on it (add 'a' to depends_on)"},
		{HDR "steps:\n  a: {worker: CUSTOM, instructions: x, outputs: [{name: report, path: o}]}\n"
		     "  b: {worker: CUSTOM, instructions: x, depends_on: [a], inputs: [{from: a, artifact: reprot}]}\n",
		 "6:86: error: step 'a' has no output named 'reprot' (did you mean 'report'?)"},
		{HDR STEP "    worker: CUSTOM\n", "8:5: error: duplicate key 'worker' (first at line 6)"},
		{HDR STEP "    instructions: [a\n", "9:1: error: did not find expected ',' or ']' while parsing a flow sequence (line 8)"},
		{HDR STEP "    env: *nope\n", "8:10: error: undefined alias '*nope'"},
		{"- a\n- b\n", "1:1: error: a workflow must be a mapping, not a list"},
		{"", "1:1: error: the workflow file is empty (expected a mapping with name, version, timeout and steps)"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_one_error(cases[i].yaml, cases[i].want);
}

static void test_cycle_names_steps_in_order(void)
{
	expect_one_error(HDR "steps:\n"
			     "  a: {worker: CUSTOM, instructions: x, depends_on: [b]}\n"
			     "  b: {worker: CUSTOM, instructions: x, depends_on: [c]}\n"
			     "  c: {worker: CUSTOM, instructions: x, depends_on: [a]}\n"
			     "  d: {worker: CUSTOM, instructions: x, depends_on: [a]}\n",
			 "5:3: error: dependency cycle: a -> b -> c -> a");
}

static void test_every_error_reported_sorted(void)
{
	struct errlist el = ERRLIST_INIT;
	struct wl_workflow *wf = load("name: t\nversion: 3\ntimeout: 5\nsteps:\n"
				      "  b: {worker: X, instructions: x, depends_on: [zz]}\n"
				      "  a: {worker: CUSTOM}\n", &el);
	CHECK(wf == NULL);
	char *got = diags_text(&el);
	CHECK_STR(got,
		  "2:10: error: unsupported version '3' (expected \"1\")\n"
		  "3:10: error: invalid duration '5' for 'timeout' (expected e.g. 200ms, 10s, 1h30m)\n"
		  "5:15: error: invalid value 'X' for 'worker' (expected CUSTOM, CLAUDE_CODE, CODEX_CLI or OPENCODE)\n"
		  "5:48: error: unknown step 'zz' in 'depends_on' of step 'b'\n"
		  "6:3: error: missing required field 'instructions' (or 'instructions_file') in step 'a'\n");
	free(got);
	errlist_release(&el);
}

static void test_roboppi_keys_are_warnings(void)
{
	struct errlist el = ERRLIST_INIT;
	struct wl_workflow *wf = load(HDR "management: {}\nagents: {}\n"
				      "expected_work_branch: main\nbranch_transition_step: s\n"
				      "steps:\n  s:\n    worker: CUSTOM\n    instructions: x\n"
				      "    create_branch: true\n    model: m\n    variant: high\n"
				      "    max_steps: 3\n    max_command_time: 1m\n", &el);
	CHECK(wf != NULL);
	CHECK_INT(el.nerrors, 0);
	/* the top-level expected_work_branch and branch_transition_step are read (branchctx) */
	CHECK_INT(el.nwarnings, 7);
	CHECK_STR(wf ? wf->branch_transition_step : NULL, "s");
	char *got = diags_text(&el);
	CHECK_CONTAINS(got, "4:1: warning: 'management' is a roboppi feature waitloop does not implement; ignored\n");
	CHECK_CONTAINS(got, "12:5: warning: 'create_branch' is a roboppi feature waitloop does not implement; ignored\n");
	free(got);
	workflow_free(wf);
	errlist_release(&el);

	/* A subworkflow step runs its child: no worker of its own. */
	struct errlist el2 = ERRLIST_INIT;
	wf = load(HDR "steps:\n  s:\n    workflow: child.yaml\n    exports: [{from: a, artifact: r, as: x}]\n"
		  "    exports_mode: replace\n    bubble_subworkflow_events: true\n", &el2);
	CHECK(wf != NULL);
	CHECK_INT(el2.nerrors + el2.nwarnings, 0);
	if (wf) {
		CHECK_STR(wf->steps[0].subworkflow, "child.yaml");
		CHECK_INT((int)wf->steps[0].nexports, 1);
		CHECK_INT(wf->steps[0].exports_replace, 1);
	}
	workflow_free(wf);
	errlist_release(&el2);
	struct errlist el3 = ERRLIST_INIT;
	wf = load(HDR "steps:\n  s:\n    workflow: child.yaml\n    worker: CUSTOM\n    instructions: x\n", &el3);
	CHECK(wf == NULL);
	got = diags_text(&el3);
	CHECK_CONTAINS(got, "7:5: error: 'worker' cannot be used in a subworkflow step (step 's' has 'workflow')\n");
	free(got);
	errlist_release(&el3);

	/* sentinel and stall are parsed (roboppi's Sentinel) */
	struct errlist el4 = ERRLIST_INIT;
	wf = load(HDR "sentinel: {enabled: true, defaults: {no_output_timeout: 15m, activity_source: any_event}}\n"
		  "steps:\n  s:\n    worker: CUSTOM\n    instructions: x\n"
		  "    stall:\n      probe: {command: p, interval: 2s, stall_threshold: 3, on_probe_error: terminal}\n"
		  "      on_terminal: {action: fail, error_class: FATAL, fingerprint_prefix: [a/b]}\n", &el4);
	CHECK(wf != NULL);
	CHECK_INT(el4.nerrors + el4.nwarnings, 0);
	if (wf) {
		CHECK_INT(wf->sentinel.enabled, 1);
		CHECK(wf->sentinel.no_output_timeout == 15 * 60000);
		CHECK_INT(wf->sentinel.activity_source, ACTIVITY_ANY_EVENT);
		const struct wl_stall *st = &wf->steps[0].stall;
		CHECK_INT(st->probe_present, 1);
		CHECK(st->probe_interval == 2000);
		CHECK_INT(st->stall_threshold, 3);
		CHECK_INT(st->on_probe_error, PROBE_ERROR_TERMINAL);
		CHECK_INT(st->on_terminal.action, STALL_ACTION_FAIL);
		CHECK_INT(st->on_terminal.error_class, ERROR_CLASS_FATAL);
		CHECK_STR(st->on_terminal.fingerprint_prefix.v[0], "a/b");
	}
	workflow_free(wf);
	errlist_release(&el4);
}

static void test_anchors_aliases_merge(void)
{
	struct errlist el = ERRLIST_INIT;
	struct wl_workflow *wf = load(HDR
		"x-base: &base\n  worker: CUSTOM\n  timeout: 5m\n  on_failure: continue\n"
		"x-more: &more\n  timeout: 7m\n  max_retries: 4\n"
		"x-env: &env {A: one, B: two}\n"
		"steps:\n"
		"  a:\n    <<: *base\n    instructions: x\n    on_failure: abort\n    env: *env\n"
		"  b:\n    <<: [*more, *base]\n    instructions: y\n"
		"  c: *anchored_step_defined_below_is_an_error_so_use_b\n", &el);
	CHECK(wf == NULL);   /* the last alias is undefined */
	errlist_release(&el);

	struct errlist el2 = ERRLIST_INIT;
	wf = load(HDR
		  "x-base: &base\n  worker: CUSTOM\n  timeout: 5m\n  on_failure: continue\n"
		  "x-more: &more\n  timeout: 7m\n  max_retries: 4\n"
		  "x-env: &env {A: one, B: two}\n"
		  "steps:\n"
		  "  a:\n    <<: *base\n    instructions: x\n    on_failure: abort\n    env: *env\n"
		  "  b:\n    <<: [*more, *base]\n    instructions: y\n"
		  "  c: &cstep\n    worker: CUSTOM\n    instructions: z\n"
		  "  d: *cstep\n", &el2);
	CHECK(wf != NULL);
	CHECK_INT(el2.n, 0);
	if (wf) {
		struct wl_step *a = &wf->steps[0], *b = &wf->steps[1], *d = &wf->steps[3];
		CHECK_INT(a->worker, WORKER_CUSTOM);
		CHECK_INT(a->timeout, 300000);
		CHECK_INT(a->on_failure, ON_FAILURE_ABORT);   /* explicit key wins */
		CHECK_STR(strvec_getenv(&a->env, "A"), "one");
		CHECK_STR(strvec_getenv(&a->env, "B"), "two");
		CHECK_INT(b->timeout, 420000);                /* earlier merge source wins */
		CHECK_INT(b->max_retries, 4);
		CHECK_INT(b->on_failure, ON_FAILURE_CONTINUE);
		CHECK_STR(b->instructions, "y");
		CHECK_STR(d->id, "d");
		CHECK_STR(d->instructions, "z");
		CHECK_INT(d->pos.line, 24);
	}
	workflow_free(wf);
	errlist_release(&el2);

	/* A merged key that is bad is reported where it was written (in the anchor). */
	expect_one_error(HDR "x-base: &base\n  worker: CUSTOM\n  timeout: 5x\n"
			     "steps:\n  a:\n    <<: *base\n    instructions: x\n",
			 "6:12: error: invalid duration '5x' for 'timeout' (expected e.g. 200ms, 10s, 1h30m)");
	expect_one_error(HDR STEP "    <<: [a]\n", "8:10: error: merge key '<<' needs a mapping or a list of mappings");
	expect_one_error(HDR "x-a: &a [*a]\n" STEP, "4:10: error: alias '*a' refers to a node that contains it");
}

static void test_alias_bomb_and_size_limits(void)
{
	struct strbuf sb;
	strbuf_init(&sb);
	strbuf_addstr(&sb, HDR "x0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
	for (int i = 1; i < 9; i++) {
		strbuf_addf(&sb, "x%d: &a%d [", i, i);
		for (int j = 0; j < 10; j++)
			strbuf_addf(&sb, "%s*a%d", j ? ", " : "", i - 1);
		strbuf_addstr(&sb, "]\n");
	}
	strbuf_addstr(&sb, STEP);
	struct errlist el = ERRLIST_INIT;
	struct wl_workflow *wf = loader_load_string("bomb.yaml", sb.buf, sb.len, &el);
	CHECK(wf == NULL);
	CHECK_INT(el.nerrors, 1);
	if (el.n)
		CHECK_STR(el.items[0].msg, "document too large: more than 1000000 nodes after expanding aliases");
	errlist_release(&el);
	strbuf_release(&sb);

	/* Merge-key bombs are bounded the same way. */
	strbuf_init(&sb);
	strbuf_addstr(&sb, HDR "x0: &m0 {");
	for (int j = 0; j < 2000; j++)
		strbuf_addf(&sb, "%sk%d: v", j ? ", " : "", j);
	strbuf_addstr(&sb, "}\n");
	for (int i = 1; i < 800; i++)
		strbuf_addf(&sb, "x%d: &m%d {<<: [*m%d, *m0], z%d: 1}\n", i, i, i - 1, i);
	strbuf_addstr(&sb, STEP);
	struct errlist el2 = ERRLIST_INIT;
	wf = loader_load_string("mbomb.yaml", sb.buf, sb.len, &el2);
	CHECK(wf == NULL);
	CHECK_INT(el2.nerrors, 1);
	errlist_release(&el2);
	strbuf_release(&sb);

	char *big = malloc(YDOC_MAX_BYTES + 2);
	memset(big, '#', YDOC_MAX_BYTES + 1);
	big[YDOC_MAX_BYTES + 1] = '\0';
	struct errlist el3 = ERRLIST_INIT;
	wf = loader_load_string("big.yaml", big, YDOC_MAX_BYTES + 1, &el3);
	CHECK(wf == NULL);
	if (el3.n)
		CHECK_STR(el3.items[0].msg, "'big.yaml' is larger than 1 MiB");
	errlist_release(&el3);
	free(big);
}

static void test_scalar_types(void)
{
	struct errlist el = ERRLIST_INIT;
	struct wl_workflow *wf = load("name: t\nversion: 1\ntimeout: 1m\n"
				      "env: {A: 3, B: true, C: 1.5, D: ~, E: 'x y', F: 0x10}\n"
				      "steps:\n  w:\n    wait: {condition: true}\n", &el);
	CHECK(wf != NULL);
	if (wf) {
		CHECK_STR(wf->version, "1");
		CHECK_STR(strvec_getenv(&wf->env, "A"), "3");
		CHECK_STR(strvec_getenv(&wf->env, "B"), "true");
		CHECK_STR(strvec_getenv(&wf->env, "C"), "1.5");
		CHECK_STR(strvec_getenv(&wf->env, "D"), "");
		CHECK_STR(strvec_getenv(&wf->env, "E"), "x y");
		CHECK_STR(strvec_getenv(&wf->env, "F"), "0x10");
		CHECK_STR(wf->env.v[0], "A=3");
		CHECK_INT(wf->steps[0].is_wait, 1);
		CHECK_STR(wf->steps[0].wait_condition, "true");
	}
	workflow_free(wf);
	errlist_release(&el);
	expect_one_error("name: 12\nversion: 1\ntimeout: 1m\n" STEP, "1:7: error: 'name' must be a string");
}

static void test_full_dsl_fixture(void)
{
	struct errlist el = ERRLIST_INIT;
	struct wl_workflow *wf = loader_load("tests/fixtures/valid/full-dsl.yaml", &el);
	CHECK(wf != NULL);
	CHECK_INT(el.n, 0);
	if (!wf) {
		errlist_print(&el, stderr);
		errlist_release(&el);
		return;
	}
	CHECK_STR(wf->name, "full-dsl");
	CHECK_STR(wf->version, "1");
	CHECK_STR(wf->description, "every field");
	CHECK_INT(wf->timeout, 5400000);
	CHECK_INT(wf->concurrency, 4);
	CHECK_STR(wf->context_dir, "ctx");
	CHECK_STR(wf->shell, "sh");
	CHECK_INT(wf->env.n, 4);
	CHECK_STR(strvec_getenv(&wf->env, "RETRIES"), "3");
	CHECK_STR(strvec_getenv(&wf->env, "EMPTY"), "");

	const struct wl_wait_policy *p = &wf->wait_policy;
	CHECK_INT(p->present, 1);
	CHECK_INT(p->mode, WAIT_MODE_PROBE_AWARE);
	CHECK_INT(p->max_wait, 600000);
	CHECK_INT(p->interval, 2000);
	CHECK(p->backoff_factor == 1.5);
	CHECK_INT(p->backoff_max_interval, 60000);
	CHECK_STR(p->target, "crd/x");
	CHECK_STR(p->probe, "bash probe.sh");
	CHECK_INT(p->probe_timeout, 3000);
	CHECK_STR(p->classify, "bash classify.sh");
	CHECK_STR(p->builtin, "kubernetes");
	CHECK_INT(p->rules_present, 1);
	CHECK_INT(p->nrules, 3);
	if (p->nrules == 3) {
		CHECK_STR(p->rules[0].match, "Error from server \\((Forbidden|Unauthorized)\\)");
		CHECK_INT(p->rules[0].class, CLASS_TERMINAL_FAIL);
		CHECK_STR(p->rules[0].fingerprint, "auth/{1}");
		CHECK_STR(p->rules[0].hint, "check the credentials");
		CHECK_INT(p->rules[0].after, WL_UNSET);
		CHECK(p->rules[1].match == NULL);
		CHECK_STR(p->rules[1].field, "dependencies[*].status");
		CHECK_STR(p->rules[1].equals, "Failed");
		CHECK_INT(p->rules[1].class, CLASS_TERMINAL_FAIL);   /* roboppi "terminal" */
		CHECK_INT(p->rules[2].class, CLASS_RETRYABLE);
		CHECK_INT(p->rules[2].after, 5);
		CHECK_INT(p->rules[2].pos.line, 35);
		CHECK_INT(p->rules[2].pos.col, 7);
	}
	CHECK_INT(p->terminal_patterns_present, 1);
	CHECK_INT(p->terminal_patterns.n, 2);
	CHECK_INT(p->stall_threshold, 6);
	CHECK_INT(p->ignore_fields_present, 1);
	CHECK_STR(p->ignore_fields.v[0], "metadata.managedFields");
	CHECK_INT(p->no_output_timeout, 300000);
	CHECK_INT(p->on_terminal, ON_ABORT_INCOMPLETE);
	CHECK_INT(p->on_stall, ON_ABORT_FAIL);
	CHECK_INT(p->grace, 5000);
	CHECK_STR(p->fingerprint_prefix, "kest/control");
	CHECK_INT(p->pos.line, 17);

	CHECK_INT(wf->npreflight, 4);
	if (wf->npreflight == 4) {
		CHECK_INT(wf->preflight[0].kind, PREFLIGHT_COMMANDS);
		CHECK_STR(wf->preflight[0].items.v[1], "helm");
		CHECK_INT(wf->preflight[1].kind, PREFLIGHT_ENV);
		CHECK_INT(wf->preflight[2].kind, PREFLIGHT_FILES);
		CHECK_INT(wf->preflight[3].kind, PREFLIGHT_CHECK);
		CHECK_STR(wf->preflight[3].name, "templates-present");
		CHECK_STR(wf->preflight[3].command, "kubectl get configmap x");
		CHECK_INT(wf->preflight[3].timeout, 20000);
		CHECK_STR(wf->preflight[3].fingerprint, "preflight/configmap-missing");
		CHECK_INT(wf->preflight[0].timeout, WL_UNSET);
	}
	CHECK_INT(wf->notify.present, 1);
	CHECK_INT(wf->notify.ntargets, 2);
	if (wf->notify.ntargets == 2) {
		CHECK_STR(wf->notify.targets[0].name, "companion");
		CHECK_INT(wf->notify.targets[0].type, NOTIFY_COMMAND);
		CHECK_STR(wf->notify.targets[0].command, "./notify.sh");
		CHECK_INT(wf->notify.targets[0].timeout, 5000);
		CHECK_INT(wf->notify.targets[1].type, NOTIFY_FILE);
		CHECK_STR(wf->notify.targets[1].path, ".waitloop/inbox.jsonl");
		CHECK_INT(wf->notify.targets[1].timeout, WL_UNSET);
	}
	CHECK_INT(wf->notify.events.n, 5);
	CHECK_STR(wf->metrics_file, "metrics.prom");
	CHECK_STR(wf->history_db, "h.db");
	CHECK_INT(wf->redact.n, 1);
	CHECK_INT(wf->workers[WORKER_CLAUDE_CODE].present, 1);
	CHECK_INT(wf->workers[WORKER_CLAUDE_CODE].command.n, 3);
	CHECK_STR(wf->workers[WORKER_CLAUDE_CODE].command.v[2], "--verbose");
	CHECK_INT(wf->workers[WORKER_CODEX_CLI].present, 1);
	CHECK_INT(wf->workers[WORKER_OPENCODE].present, 0);

	CHECK_INT(wf->nsteps, 3);
	if (wf->nsteps != 3)
		goto out;
	struct wl_step *crd = &wf->steps[0], *impl = &wf->steps[1], *rep = &wf->steps[2];
	CHECK_STR(crd->id, "crd");
	CHECK_INT(crd->is_wait, 1);
	CHECK_STR(crd->wait_condition, "kubectl get crd x");
	CHECK_STR(crd->wait_target, "crd/x");
	CHECK_INT(crd->wait_policy.present, 1);
	CHECK_INT(crd->wait_policy.rules_present, 1);
	CHECK_INT(crd->wait_policy.nrules, 0);
	CHECK_INT(crd->wait_policy.terminal_patterns_present, 1);
	CHECK_INT(crd->wait_policy.ignore_fields_present, 0);
	CHECK_INT(crd->wait_policy.mode, WAIT_MODE_UNSET);
	CHECK_STR(strvec_getenv(&crd->env, "A"), "1");

	CHECK_STR(impl->id, "implement");
	CHECK_INT(impl->worker, WORKER_CLAUDE_CODE);
	CHECK_INT(impl->capabilities.n, 2);
	CHECK_STR(impl->instructions_file, "prompts/implement.md");
	CHECK(impl->instructions == NULL);
	CHECK_STR(impl->workspace, "sub");
	CHECK_INT(impl->ndeps, 1);
	CHECK_INT(impl->deps[0], 0);
	CHECK_STR(impl->depends_on.v[0], "crd");
	CHECK_INT(impl->noutputs, 1);
	CHECK_STR(impl->outputs[0].name, "patch");
	CHECK_STR(impl->outputs[0].path, "out/patch.diff");
	CHECK_INT(impl->timeout, 900000);
	CHECK_INT(impl->on_failure, ON_FAILURE_RETRY);
	CHECK_INT(impl->max_retries, 2);
	CHECK_INT(impl->retry.present, 1);
	CHECK_INT(impl->retry.limit, 3);
	CHECK_INT(impl->retry.backoff_duration, 1000);
	CHECK(impl->retry.backoff_factor == 2.0);
	CHECK_INT(impl->retry.backoff_max_duration, 30000);
	CHECK_INT(impl->retry.n_on_exit_codes, 2);
	if (impl->retry.n_on_exit_codes == 2)
		CHECK_INT(impl->retry.on_exit_codes[1], 75);
	CHECK_INT(impl->retry.on_timeout_retry, 1);
	CHECK_STR(impl->wait_policy.probe, "bash guard.sh");
	CHECK_INT(impl->wait_policy.no_output_timeout, 120000);
	CHECK_INT(impl->check.present, 1);
	CHECK_INT(impl->check.worker, WORKER_CUSTOM);
	CHECK_STR(impl->check.instructions, "bash verify.sh");
	CHECK_STR(impl->check.capabilities.v[0], "READ");
	CHECK_INT(impl->check.timeout, 240000);
	CHECK_STR(impl->check.decision_file, "review.verdict");
	CHECK_STR(impl->check.fix_file, "fix.md");
	CHECK_STR(impl->check.fix_template, "prompts/fix.md");
	CHECK_INT(impl->check.wait_policy.present, 1);
	CHECK_INT(impl->check.wait_policy.mode, WAIT_MODE_PROBE_AWARE);
	CHECK_INT(impl->check.wait_policy.ignore_fields_present, 1);
	CHECK_INT(impl->max_iterations, 5);
	CHECK_INT(impl->on_iterations_exhausted, ON_EXHAUSTED_CONTINUE);
	const struct wl_convergence *c = &impl->convergence;
	CHECK_INT(c->present, 1);
	CHECK_INT(c->enabled, 1);
	CHECK_INT(c->stall_threshold, 2);
	CHECK_INT(c->max_stage, 3);
	CHECK_INT(c->fail_on_max_stage, 0);
	CHECK_INT(c->nstages, 2);
	if (c->nstages == 2) {
		CHECK_INT(c->stages[1].stage, 3);
		CHECK_STR(c->stages[1].append_instructions, "stop and explain");
	}
	CHECK_STR(c->allowed_paths.v[0], "src/");
	CHECK_STR(c->ignored_paths.v[0], "docs/");
	CHECK_STR(c->diff_base_ref, "main");
	CHECK_INT(c->max_changed_files, 20);
	CHECK_INT(c->no_change_limit, 2);
	CHECK_INT(impl->alert_after_failures, 3);

	CHECK_INT(rep->ninputs, 1);
	if (rep->ninputs == 1) {
		CHECK_STR(rep->inputs[0].from, "implement");
		CHECK_STR(rep->inputs[0].artifact, "patch");
		CHECK_STR(rep->inputs[0].as, "patch");
	}
	CHECK_INT(rep->ndeps, 1);
	CHECK_INT(rep->deps[0], 1);
out:
	workflow_free(wf);
	errlist_release(&el);
}

/* A roboppi workflow (worker: CUSTOM) as its documentation writes them. */
static void test_roboppi_custom_workflow(void)
{
	static const char yaml[] =
		"name: todo-loop\n"
		"version: \"1\"\n"
		"description: \"process a todo list\"\n"
		"timeout: \"30m\"\n"
		"concurrency: 2\n"
		"context_dir: \"./context\"\n"
		"steps:\n"
		"  build:\n"
		"    worker: CUSTOM\n"
		"    instructions: |\n"
		"      mkdir -p dist\n"
		"      echo 'x' > dist/math.js\n"
		"    capabilities: [EDIT]\n"
		"    outputs:\n"
		"      - name: build-output\n"
		"        path: \"dist\"\n"
		"        type: code\n"
		"  process:\n"
		"    worker: CUSTOM\n"
		"    depends_on: [build]\n"
		"    instructions: \"./process-one.sh\"\n"
		"    capabilities: [READ, EDIT]\n"
		"    inputs:\n"
		"      - from: build\n"
		"        artifact: build-output\n"
		"    timeout: \"5m\"\n"
		"    max_retries: 2\n"
		"    on_failure: retry\n"
		"    completion_check:\n"
		"      worker: CUSTOM\n"
		"      instructions: |\n"
		"        test \"$(grep -c '^- \\[ \\]' todo.txt)\" -eq 0\n"
		"      capabilities: [READ]\n"
		"      timeout: \"1m\"\n"
		"    max_iterations: 10\n"
		"    on_iterations_exhausted: abort\n"
		"    convergence:\n"
		"      enabled: true\n"
		"      stall_threshold: 2\n"
		"      max_stage: 3\n"
		"      fail_on_max_stage: true\n"
		"      stages:\n"
		"        - stage: 2\n"
		"          append_instructions: \"change strategy\"\n";
	struct errlist el = ERRLIST_INIT;
	struct wl_workflow *wf = load(yaml, &el);
	CHECK(wf != NULL);
	CHECK_INT(el.n, 0);
	if (!wf) {
		errlist_print(&el, stderr);
		errlist_release(&el);
		return;
	}
	CHECK_STR(wf->name, "todo-loop");
	CHECK_STR(wf->description, "process a todo list");
	CHECK_INT(wf->timeout, 1800000);
	CHECK_INT(wf->concurrency, 2);
	CHECK_STR(wf->context_dir, "./context");
	CHECK_INT(wf->nsteps, 2);
	struct wl_step *b = &wf->steps[0], *p = &wf->steps[1];
	CHECK_STR(b->instructions, "mkdir -p dist\necho 'x' > dist/math.js\n");
	CHECK_STR(b->capabilities.v[0], "EDIT");
	CHECK_STR(b->outputs[0].name, "build-output");
	CHECK_STR(b->outputs[0].path, "dist");
	CHECK_INT(p->ndeps, 1);
	CHECK_INT(p->deps[0], 0);
	CHECK_STR(p->instructions, "./process-one.sh");
	CHECK_INT(p->capabilities.n, 2);
	CHECK_STR(p->inputs[0].from, "build");
	CHECK_STR(p->inputs[0].artifact, "build-output");
	CHECK(p->inputs[0].as == NULL);
	CHECK_INT(p->timeout, 300000);
	CHECK_INT(p->max_retries, 2);
	CHECK_INT(p->on_failure, ON_FAILURE_RETRY);
	CHECK_INT(p->check.present, 1);
	CHECK_INT(p->check.worker, WORKER_CUSTOM);
	CHECK_STR(p->check.instructions, "test \"$(grep -c '^- \\[ \\]' todo.txt)\" -eq 0\n");
	CHECK_INT(p->check.timeout, 60000);
	CHECK_INT(p->max_iterations, 10);
	CHECK_INT(p->on_iterations_exhausted, ON_EXHAUSTED_ABORT);
	CHECK_INT(p->convergence.enabled, 1);
	CHECK_INT(p->convergence.fail_on_max_stage, 1);
	CHECK_INT(p->convergence.nstages, 1);
	CHECK_INT(p->convergence.no_change_limit, WL_UNSET);
	workflow_free(wf);
	errlist_release(&el);
}

static void test_yamlnode_positions(void)
{
	static const char text[] = "a:\n  b: [1, \"two\", ~]\n  'c': &x {d: e}\n  f: *x\n";
	struct errlist el = ERRLIST_INIT;
	struct ydoc *doc = ydoc_load_string("y.yaml", text, sizeof(text) - 1, &el);
	CHECK(doc != NULL);
	if (!doc)
		return;
	const struct ynode *a = ynode_get(ydoc_root(doc), "a");
	CHECK(a && a->kind == YNODE_MAPPING);
	const struct ynode *b = ynode_get(a, "b");
	CHECK(b && b->kind == YNODE_SEQUENCE && b->n == 3);
	if (b && b->n == 3) {
		CHECK_INT(b->items[0]->type, YSCALAR_INT);
		CHECK_INT(b->items[1]->type, YSCALAR_STR);
		CHECK_INT(b->items[2]->type, YSCALAR_NULL);
		CHECK_INT(b->items[1]->line, 2);
		CHECK_INT(b->items[1]->col, 10);
	}
	const struct ynode *ck = ynode_key(a, "c");
	CHECK(ck && ck->line == 3 && ck->col == 3 && !ck->plain);
	CHECK(ynode_get(a, "f") == ynode_get(a, "c"));   /* alias shares the node */
	CHECK_STR(ynode_kind_name(ynode_get(a, "f")), "mapping");
	ydoc_free(doc);
	errlist_release(&el);
}

/* Every default comes from the one resolver: what each step's and check's
 * wait_settings hold after a load. */
static void test_resolved_defaults(void)
{
	struct errlist el = ERRLIST_INIT;
	struct wl_workflow *wf = load(HDR "wait_policy:\n  max_wait: 2m\n  stall_threshold: 3\n"
				      "steps:\n  a:\n    wait: {condition: 'true'}\n", &el);
	CHECK(wf != NULL);
	if (wf) {
		const struct wl_wait_policy *p = &wf->steps[0].wait_settings->p;
		CHECK_INT(p->max_wait, 120000);
		CHECK_INT(p->max_wait_set, 1);
		CHECK_INT(p->stall_threshold, 3);
		CHECK_INT(p->stall_threshold_set, 1);
		CHECK_INT(p->interval, WAIT_DEFAULT_INTERVAL_MS);
		CHECK_INT(p->probe_timeout, WAIT_DEFAULT_PROBE_TIMEOUT_MS);
		CHECK_INT(p->progress_deadline, WAIT_DEFAULT_PROGRESS_DEADLINE_MS);
		CHECK_INT(p->grace, WAIT_DEFAULT_GRACE_MS);
		CHECK_INT(p->child_grace, WAIT_DEFAULT_CHILD_GRACE_CAP_MS);   /* grace 5s, capped */
		CHECK_INT(p->mode, WAIT_MODE_TIMEOUT_ONLY);
	}
	workflow_free(wf);
	/* child_grace: written (the use, then the workflow level), else the
	 * resolved grace capped at 2 s, or 1 s when grace is 0 */
	wf = load(HDR "wait_policy:\n  child_grace: 3s\n"
		  "steps:\n  a:\n    wait: {condition: 'true'}\n"
		  "  b:\n    wait: {condition: 'true'}\n    wait_policy: {child_grace: 250ms}\n", &el);
	CHECK(wf != NULL);
	if (wf) {
		CHECK_INT(wf->steps[0].wait_settings->p.child_grace, 3000);
		CHECK_INT(wf->steps[1].wait_settings->p.child_grace, 250);
		CHECK_INT(wf->steps[1].wait_settings->p.grace, WAIT_DEFAULT_GRACE_MS);
	}
	workflow_free(wf);
	wf = load(HDR "wait_policy:\n  grace: 0s\n"
		  "steps:\n  a:\n    wait: {condition: 'true'}\n"
		  "  b:\n    wait: {condition: 'true'}\n    wait_policy: {grace: 700ms}\n", &el);
	CHECK(wf != NULL);
	if (wf) {
		CHECK_INT(wf->steps[0].wait_settings->p.child_grace, WAIT_DEFAULT_CHILD_GRACE_NO_GRACE_MS);
		CHECK_INT(wf->steps[1].wait_settings->p.child_grace, 700);
	}
	workflow_free(wf);
	wf = load(HDR "steps:\n  s:\n    worker: CUSTOM\n    instructions: echo hi\n    timeout: 30s\n"
		  "    wait_policy: {grace: 500ms}\n"
		  "    completion_check: {worker: CUSTOM, instructions: 'true', wait_policy: {grace: 1s}}\n"
		  "    max_iterations: 2\n"
		  "  t:\n    worker: CUSTOM\n    instructions: echo hi\n    timeout: 2s\n"
		  "    completion_check: {worker: CUSTOM, instructions: 'true', wait_policy: {grace: 1s}}\n"
		  "    max_iterations: 2\n"
		  "  u:\n    worker: CUSTOM\n    instructions: echo hi\n"
		  "    completion_check: {worker: CUSTOM, instructions: 'true'}\n    max_iterations: 2\n", &el);
	CHECK(wf != NULL);
	if (wf) {
		const struct wl_step *s = &wf->steps[0];
		CHECK_INT(s->wait_settings->p.max_wait, 30000);    /* the step's timeout */
		CHECK_INT(s->wait_settings->p.max_wait_set, 0);    /* ... not written: a timeout is the step's */
		CHECK_INT(s->wait_settings->p.grace, 500);
		CHECK_INT(s->wait_settings->p.stall_threshold_set, 0);
		CHECK_INT(s->check.wait_settings->p.max_wait, 7500);   /* the check's timeout: step / 4 */
		CHECK_INT(workflow_check_timeout(wf, s), 7500);
		CHECK_INT(workflow_check_timeout(wf, &wf->steps[1]), WAIT_CHECK_TIMEOUT_MIN_MS);   /* 2s / 4, at least 1s */
		CHECK_INT(wf->steps[1].check.wait_settings->p.max_wait, WAIT_CHECK_TIMEOUT_MIN_MS);
		/* no wait_policy: nothing resolved; an unguarded child stops with the defaults' grace */
		CHECK(wf->steps[1].wait_settings == NULL && wf->steps[2].check.wait_settings == NULL);
		CHECK_INT(wf->wait_defaults->p.grace, WAIT_DEFAULT_GRACE_MS);
	}
	workflow_free(wf);
	/* a workflow-level grace is every unguarded child's stop grace */
	wf = load(HDR "wait_policy:\n  grace: 300ms\nsteps:\n  s:\n    worker: CUSTOM\n    instructions: echo hi\n", &el);
	CHECK(wf != NULL);
	if (wf) {
		CHECK(wf->steps[0].wait_settings == NULL);
		CHECK_INT(wf->wait_defaults->p.grace, 300);
	}
	workflow_free(wf);
	/* probe_aware at the workflow level with rules: a step's policy inherits them (no error) */
	wf = load(HDR "wait_policy:\n  mode: probe_aware\n  rules: [{match: x, class: stalled}]\n"
		  "steps:\n  a:\n    wait: {condition: 'true'}\n    wait_policy: {interval: 1s}\n", &el);
	CHECK(wf != NULL);
	if (wf) {
		CHECK_INT(wf->steps[0].wait_settings->p.nrules, 1);
		CHECK(wf->steps[0].wait_settings->p.rules[0].re == wf->wait_policy.rules[0].re);
	}
	workflow_free(wf);
	CHECK_INT((int)el.nerrors, 0);
	errlist_release(&el);
}

/* The workflow's `redact` patterns are compiled once, by the loader (which
 * checks them), and the run's redactor shares that code: loading and setting
 * up a run compile each pattern once, and the run redacts with them. */
static void test_redact_compiled_once(void)
{
	struct errlist el = ERRLIST_INIT;
	struct wl_err err = WL_ERR_INIT;
	CHECK(redact_builtins_check(&err) == 0);   /* the built-ins compiled beforehand: not counted below */
	unsigned long before = pattern_compiles();
	struct wl_workflow *wf = load(HDR "redact: ['corp-[0-9]{6}', '(?i)internal-id:[a-z]+']\n" STEP, &el);
	CHECK(wf != NULL);
	if (!wf) {
		errlist_release(&el);
		return;
	}
	CHECK_INT((int)(pattern_compiles() - before), 2);
	CHECK_INT((int)wf->nredact_re, 2);
	char tmpl[] = "/tmp/wl-test-loader.XXXXXX";
	char *ws = mkdtemp(tmpl);
	CHECK(ws != NULL);
	struct run_options o = RUN_OPTIONS_INIT;
	o.workspace = ws;
	before = pattern_compiles();
	struct runner *r = ws ? runner_new(wf, &o, &err) : NULL;
	CHECK(r != NULL);
	CHECK_INT((int)(pattern_compiles() - before), 0);   /* the run's redactor compiled nothing */
	if (r) {
		char *out = redact_text(runner_redactor(r), "build corp-123456 by INTERNAL-ID:abc ok");
		CHECK_STR(out, "build [REDACTED] by [REDACTED] ok");
		free(out);
		char *exp = redactor_export(runner_redactor(r));   /* children get the patterns as written */
		CHECK_CONTAINS(exp, "\"patterns\":[\"corp-[0-9]{6}\",\"(?i)internal-id:[a-z]+\"]");
		free(exp);
	}
	runner_free(r);
	workflow_free(wf);   /* the redactor's references are gone: the last unref frees */
	if (ws) {
		char *cmd = xasprintf("rm -rf '%s'", ws);
		CHECK(system(cmd) == 0);
		free(cmd);
	}
	CHECK_INT((int)el.nerrors, 0);
	errlist_release(&el);
}

static void test_safe_names(void)
{
	CHECK(loader_safe_name("build"));
	CHECK(loader_safe_name("a.b-c_d"));
	CHECK(loader_safe_name("_x"));
	CHECK(!loader_safe_name(""));
	CHECK(!loader_safe_name("."));
	CHECK(!loader_safe_name(".."));
	CHECK(!loader_safe_name(".hidden"));
	CHECK(!loader_safe_name("a/b"));
	CHECK(!loader_safe_name("a b"));
	char id[70];
	memset(id, 'a', 64);
	id[64] = '\0';
	CHECK(loader_safe_name(id));
	id[64] = 'a';
	id[65] = '\0';
	CHECK(!loader_safe_name(id));
}

int main(void)
{
	TEST(test_minimal_leaves_everything_unset);
	TEST(test_error_messages_verbatim);
	TEST(test_cycle_names_steps_in_order);
	TEST(test_every_error_reported_sorted);
	TEST(test_roboppi_keys_are_warnings);
	TEST(test_anchors_aliases_merge);
	TEST(test_alias_bomb_and_size_limits);
	TEST(test_scalar_types);
	TEST(test_full_dsl_fixture);
	TEST(test_roboppi_custom_workflow);
	TEST(test_yamlnode_positions);
	TEST(test_resolved_defaults);
	TEST(test_redact_compiled_once);
	TEST(test_safe_names);
	return tests_done();
}
