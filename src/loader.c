/*
 * loader: walks the YAML tree (yamlnode.h) once, fills struct wl_workflow and
 * reports every problem with its position. The per-object loaders share one
 * shape: loop over the mapping's pairs, dispatch on the key, and fall through
 * to unknown_key() (which knows the roboppi-only keys that are warnings).
 * Cross-references (depends_on, inputs, wait_policy inheritance) are checked
 * in a second pass once every step is known.
 */
#include "loader.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agentcat.h"
#include "pattern.h"
#include "redact.h"
#include "strbuf.h"
#include "suggest.h"
#include "timeutil.h"
#include "xalloc.h"
#include "yamlnode.h"

/* Source nodes of a step kept for the second pass (valid while the ydoc lives). */
struct step_src {
	const struct ynode *key;              /* the step id */
	const struct ynode *depends_on;       /* the list, or NULL */
	const struct ynode *wait_key;         /* "wait:" key, or NULL */
	const struct ynode *check_key;        /* "completion_check:" key, or NULL */
	const struct ynode **inputs;          /* one node per input (parallel to step.inputs) */
};

struct ld {
	const char *file;
	struct errlist *diags;
	struct wl_workflow *wf;
	struct step_src *src;
};

static const char *const TOP_KEYS[] = {
	"name", "version", "description", "timeout", "concurrency", "context_dir", "env",
	"shell", "wait_policy", "preflight", "notify", "metrics", "history", "redact",
	"workers", "steps", "sentinel", "create_branch", "expected_work_branch", "branch_transition_step", NULL};
static const char *const STEP_KEYS[] = {
	"description", "worker", "instructions", "instructions_file", "capabilities",
	"workspace", "depends_on", "inputs", "outputs", "env", "timeout", "on_failure",
	"max_retries", "retry", "wait", "wait_policy", "completion_check", "max_iterations",
	"on_iterations_exhausted", "convergence", "alert_after_failures", "always", "stall", "workflow",
	"bubble_subworkflow_events", "exports", "exports_mode", "agent", "model", "variant", "defaultArgs",
	NULL};
static const char *const CHECK_KEYS[] = {
	"worker", "instructions", "instructions_file", "capabilities", "timeout",
	"decision_file", "fix_file", "fix_template", "wait_policy", "stall", "agent", "model", "variant",
	"defaultArgs", NULL};
static const char *const POLICY_KEYS[] = {
	"mode", "max_wait", "interval", "backoff", "target", "probe", "probe_timeout",
	"classify", "builtin", "rules", "terminal_patterns", "stall_threshold", "progress_deadline",
	"ignore_fields", "no_output_timeout", "on_terminal", "on_stall", "grace",
	"child_grace", "fingerprint_prefix", NULL};
static const char *const BACKOFF_KEYS[] = {"factor", "max_interval", NULL};
static const char *const RULE_KEYS[] = {
	"match", "field", "equals", "after", "class", "fingerprint", "hint", NULL};
static const char *const RETRY_KEYS[] = {"limit", "backoff", "max_duration", "on_exit_codes", "on_timeout", NULL};
static const char *const RETRY_BACKOFF_KEYS[] = {"duration", "factor", "cap", NULL};
static const char *const CONV_KEYS[] = {
	"enabled", "stall_threshold", "max_stage", "fail_on_max_stage", "stages",
	"allowed_paths", "ignored_paths", "diff_base_ref", "diff_base_ref_file", "max_changed_files",
	"no_change_limit", NULL};
static const char *const STAGE_KEYS[] = {"stage", "append_instructions", NULL};
static const char *const WAIT_KEYS[] = {"condition", "target", NULL};
static const char *const OUTPUT_KEYS[] = {"name", "path", "type", "required", NULL};
static const char *const INPUT_KEYS[] = {"from", "artifact", "as", NULL};
static const char *const PREFLIGHT_KEYS[] = {
	"require_commands", "require_env", "require_files", "name", "command", "timeout",
	"fingerprint", NULL};
static const char *const NOTIFY_KEYS[] = {"targets", "events", NULL};
static const char *const TARGET_KEYS[] = {"type", "command", "path", "timeout", NULL};
static const char *const WORKER_CMD_KEYS[] = {"command", NULL};
static const char *const STALL_KEYS[] = {
	"enabled", "no_output_timeout", "activity_source", "probe", "on_stall", "on_terminal", NULL};
static const char *const STALL_PROBE_KEYS[] = {
	"command", "interval", "timeout", "stall_threshold", "capture_stderr", "require_zero_exit",
	"on_probe_error", "probe_error_threshold", NULL};
static const char *const STALL_ACTION_KEYS[] = {"action", "error_class", "fingerprint_prefix", "as_incomplete", NULL};
static const char *const SENTINEL_KEYS[] = {"enabled", "telemetry", "defaults", NULL};
static const char *const SENTINEL_TELEMETRY_KEYS[] = {"events_file", "state_file", "include_worker_output", NULL};
static const char *const SENTINEL_DEFAULTS_KEYS[] = {"no_output_timeout", "activity_source", "interrupt", NULL};
static const char *const SENTINEL_INTERRUPT_KEYS[] = {"strategy", NULL};
static const char *const METRICS_KEYS[] = {"file", "refresh", NULL};
static const char *const HISTORY_KEYS[] = {"db", NULL};

/* roboppi features accepted with a warning (SPEC §4.1). */
static const char *const ROBOPPI_TOP[] = {
	"management", "agents", "stall", NULL};
static const char *const ROBOPPI_STEP[] = {
	"sentinel", "management", "agents", "create_branch", "branch_transition_step",
	"expected_work_branch", "max_steps", "max_command_time", NULL};
static const char *const ROBOPPI_CHECK[] = {"max_steps", "max_command_time", NULL};
static const char *const EXPORTS_MODE_NAMES[] = {"merge", "replace", NULL};

/* Enum spellings; index + 1 is the enum value (every enum has *_UNSET = 0). */
static const char *const WORKER_NAMES[] = {"CUSTOM", "CLAUDE_CODE", "CODEX_CLI", "OPENCODE", NULL};
static const char *const MODE_NAMES[] = {"timeout_only", "probe_aware", NULL};
static const char *const ON_ABORT_NAMES[] = {"incomplete", "fail", NULL};
static const char *const ON_FAILURE_NAMES[] = {"abort", "continue", "retry", NULL};
static const char *const ON_EXHAUSTED_NAMES[] = {"abort", "continue", NULL};
static const char *const NOTIFY_TYPE_NAMES[] = {"command", "file", NULL};
static const char *const ON_TIMEOUT_NAMES[] = {"retry", "fail", NULL};
static const char *const BUILTIN_NAMES[] = {"kubernetes", NULL};
static const char *const STALL_ACTION_NAMES[] = {"interrupt", "fail", "ignore", NULL};
static const char *const ERROR_CLASS_NAMES[] = {
	"RETRYABLE_TRANSIENT", "RETRYABLE_RATE_LIMIT", "NON_RETRYABLE", "FATAL", NULL};
static const char *const ACTIVITY_NAMES[] = {"worker_event", "any_event", "probe_only", NULL};
static const char *const PROBE_ERROR_NAMES[] = {"ignore", "stall", "terminal", NULL};
static const char *const EVENT_NAMES[] = {
	"early_abort", "iteration_finished", "alert", "run_started", "run_finished", NULL};

/* ---------------------------------------------------------------- messages */

static void diag(struct ld *ld, enum diag_level level, const struct ynode *at, const char *fmt,
		 va_list ap) __attribute__((format(printf, 4, 0)));
static void diag(struct ld *ld, enum diag_level level, const struct ynode *at, const char *fmt,
		 va_list ap)
{
	char *msg;
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	/* the boundary for diagnostics (text and --json): redacted as made */
	char *safe = redact_text(redact_process_default(), msg ? msg : "out of memory");
	errlist_add(ld->diags, level, ld->file, at ? at->line : 1, at ? at->col : 1, "%s", safe);
	free(safe);
	free(msg);
}

/* A value for a message: 'value', or a description when it could be a
 * secret (SPEC §7: validation errors never quote one). Caller frees. */
static char *quoted_value(const char *v)
{
	if (redact_could_be_secret(NULL, v))
		return xasprintf("(a value of %zu characters, not shown: it could be a secret)", strlen(v));
	return xasprintf("'%s'", v);
}

static void lerr(struct ld *ld, const struct ynode *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void lerr(struct ld *ld, const struct ynode *at, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	diag(ld, DIAG_ERROR, at, fmt, ap);
	va_end(ap);
}

static void lwarn(struct ld *ld, const struct ynode *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void lwarn(struct ld *ld, const struct ynode *at, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	diag(ld, DIAG_WARNING, at, fmt, ap);
	va_end(ap);
}

static int is_one_of(const char *s, const char *const *list)
{
	for (; list && *list; list++)
		if (!strcmp(s, *list))
			return 1;
	return 0;
}

/* ctx is "step 'x'", "wait_policy of step 'x'", ...; NULL means the top level. */
static void unknown_key(struct ld *ld, const struct ynode *k, const char *const *known,
			const char *const *roboppi, const char *ctx)
{
	const char *name = k->value;
	if (is_one_of(name, roboppi)) {
		lwarn(ld, k, "'%s' is a roboppi feature waitloop does not implement; ignored", name);
		return;
	}
	const char *s = suggest_closest(name, known);
	char where[256];
	if (ctx)
		snprintf(where, sizeof(where), "in %s", ctx);
	else
		snprintf(where, sizeof(where), "at top level");
	if (s)
		lerr(ld, k, "unknown key '%s' %s (did you mean '%s'?)", name, where, s);
	else
		lerr(ld, k, "unknown key '%s' %s", name, where);
}

static void list_names(struct strbuf *sb, const char *const *names)
{
	for (size_t i = 0; names[i]; i++) {
		if (i)
			strbuf_addstr(sb, names[i + 1] ? ", " : " or ");
		strbuf_addstr(sb, names[i]);
	}
}

/* ------------------------------------------------------------ value getters */

static int is_scalar(const struct ynode *v)
{
	return v && v->kind == YNODE_SCALAR;
}

/* A string field: a scalar resolving to a string. */
static char *get_str(struct ld *ld, const struct ynode *k, const struct ynode *v)
{
	if (!is_scalar(v) || v->type != YSCALAR_STR) {
		lerr(ld, v, "'%s' must be a string", k->value);
		return NULL;
	}
	return xstrdup(v->value);
}

/* A command or text field: any non-null scalar, as written ("true" is a command). */
static char *get_text(struct ld *ld, const struct ynode *k, const struct ynode *v)
{
	if (!is_scalar(v) || v->type == YSCALAR_NULL) {
		lerr(ld, v, "'%s' must be a string", k->value);
		return NULL;
	}
	return xstrdup(v->value);
}

static int parse_int(const struct ynode *v, long long *out)
{
	if (!is_scalar(v) || v->type != YSCALAR_INT)
		return -1;
	const char *s = v->value;
	int neg = 0, base = 10;
	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	if (!strncmp(s, "0x", 2))
		base = 16, s += 2;
	else if (!strncmp(s, "0o", 2))
		base = 8, s += 2;
	errno = 0;
	char *end;
	long long n = strtoll(s, &end, base);
	if (errno || *end)
		return -1;
	*out = neg ? -n : n;
	return 0;
}

static int get_int(struct ld *ld, const struct ynode *k, const struct ynode *v, int min, int *out)
{
	long long n;
	if (parse_int(v, &n) < 0 || n < min || n > INT_MAX) {
		lerr(ld, v, "'%s' must be an integer >= %d", k->value, min);
		return -1;
	}
	*out = (int)n;
	return 0;
}

static int get_number(struct ld *ld, const struct ynode *k, const struct ynode *v, double min,
		      double *out)
{
	if (is_scalar(v) && (v->type == YSCALAR_INT || v->type == YSCALAR_FLOAT)) {
		char *end;
		double d = strtod(v->value, &end);
		if (!*end && isfinite(d) && d >= min) {
			*out = d;
			return 0;
		}
	}
	lerr(ld, v, "'%s' must be a number >= %g", k->value, min);
	return -1;
}

static int get_bool(struct ld *ld, const struct ynode *k, const struct ynode *v, int *out)
{
	if (!is_scalar(v) || v->type != YSCALAR_BOOL) {
		lerr(ld, v, "'%s' must be true or false", k->value);
		return -1;
	}
	*out = v->value[0] == 't' || v->value[0] == 'T';
	return 0;
}

/* positive: the duration must be greater than 0. */
static int get_duration(struct ld *ld, const struct ynode *k, const struct ynode *v, int positive,
			int64_t *out)
{
	if (!is_scalar(v) || v->type == YSCALAR_NULL) {
		lerr(ld, v, "'%s' must be a duration (e.g. 200ms, 10s, 1h30m)", k->value);
		return -1;
	}
	int64_t ms;
	if (duration_parse(v->value, &ms) < 0) {
		char *shown = quoted_value(v->value);
		lerr(ld, v, "invalid duration %s for '%s' (expected e.g. 200ms, 10s, 1h30m)", shown, k->value);
		free(shown);
		return -1;
	}
	if (positive && ms <= 0) {
		lerr(ld, v, "'%s' must be greater than 0", k->value);
		return -1;
	}
	*out = ms;
	return 0;
}

static void bad_enum(struct ld *ld, const struct ynode *k, const struct ynode *v,
		     const char *const *names)
{
	struct strbuf sb;
	strbuf_init(&sb);
	list_names(&sb, names);
	const char *val = is_scalar(v) ? v->value : ynode_kind_name(v);
	const char *s = is_scalar(v) ? suggest_closest(val, names) : NULL;
	char *shown = is_scalar(v) ? quoted_value(val) : xasprintf("'%s'", val);
	if (s)
		lerr(ld, v, "invalid value %s for '%s' (expected %s; did you mean '%s'?)", shown,
		     k->value, strbuf_str(&sb), s);
	else
		lerr(ld, v, "invalid value %s for '%s' (expected %s)", shown, k->value, strbuf_str(&sb));
	free(shown);
	strbuf_release(&sb);
}

/* Returns index + 1 (the enum value), or 0 after reporting. */
static int get_enum(struct ld *ld, const struct ynode *k, const struct ynode *v,
		    const char *const *names)
{
	if (is_scalar(v) && v->type == YSCALAR_STR)
		for (int i = 0; names[i]; i++)
			if (!strcmp(v->value, names[i]))
				return i + 1;
	bad_enum(ld, k, v, names);
	return 0;
}

static int expect_map(struct ld *ld, const struct ynode *k, const struct ynode *v)
{
	if (v && v->kind == YNODE_MAPPING)
		return 1;
	lerr(ld, v ? v : k, "'%s' must be a mapping", k->value);
	return 0;
}

static int expect_list(struct ld *ld, const struct ynode *k, const struct ynode *v, const char *what)
{
	if (v && v->kind == YNODE_SEQUENCE)
		return 1;
	lerr(ld, v ? v : k, "'%s' must be a list%s%s", k->value, what ? " of " : "", what ? what : "");
	return 0;
}

/* A list of strings; any_scalar accepts numbers/booleans as written (argv, commands). */
static void get_strlist(struct ld *ld, const struct ynode *k, const struct ynode *v,
			struct strvec *out, int any_scalar)
{
	if (!expect_list(ld, k, v, "strings"))
		return;
	for (size_t i = 0; i < v->n; i++) {
		const struct ynode *it = v->items[i];
		if (!is_scalar(it) || it->type == YSCALAR_NULL ||
		    (!any_scalar && it->type != YSCALAR_STR)) {
			lerr(ld, it, "'%s' must be a list of strings", k->value);
			continue;
		}
		strvec_push(out, it->value);
	}
}

/* Warns about a pattern that hits the match limit on an adversarial text
 * (it would count as no match on such output at run time). */
static void check_regex_limits(struct ld *ld, const struct ynode *at, const struct pattern *p)
{
	if (pattern_probe_limits(p) == PATTERN_LIMIT)
		lwarn(ld, at,
		      "regular expression '%s' hits the match limit on a 64 KiB adversarial text; on such output "
		      "it counts as no match (rewrite nested or overlapping repetition, avoid backreferences)",
		      p->source);
}

/* A regex of the workflow, compiled once here: the policy keeps it (the
 * classifier uses it, wait_policy_compile() skips it); NULL after an error. */
static struct pattern *get_regex(struct ld *ld, const struct ynode *at, const char *source)
{
	struct wl_err err = WL_ERR_INIT;
	struct pattern *p = pattern_new(source, &err);
	if (!p)
		lerr(ld, at, "%s", err.msg);
	else
		check_regex_limits(ld, at, p);
	return p;
}

/* A list of regexes (terminal_patterns, redact): the strings in out, their
 * compiled code beside them in *keep (*nkeep == out->n), shared from there
 * (pattern_ref) by whoever uses them. */
static void get_regex_list(struct ld *ld, const struct ynode *k, const struct ynode *v, struct strvec *out,
			   struct pattern ***keep, size_t *nkeep)
{
	size_t before = out->n;
	get_strlist(ld, k, v, out, 0);
	if (!v || v->kind != YNODE_SEQUENCE)
		return;
	*keep = xrealloc(*keep, (out->n ? out->n : 1) * sizeof(**keep));
	for (size_t i = *nkeep; i < out->n; i++)
		(*keep)[i] = NULL;
	size_t j = before;
	for (size_t i = 0; i < v->n && j < out->n; i++) {
		const struct ynode *it = v->items[i];
		if (!is_scalar(it) || it->type != YSCALAR_STR)
			continue;
		(*keep)[j] = get_regex(ld, it, out->v[j]);
		*nkeep = ++j;
	}
}

static int valid_env_name(const char *s)
{
	if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
		return 0;
	for (s++; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_' ||
		      (*s >= '0' && *s <= '9')))
			return 0;
	return 1;
}

static void get_env(struct ld *ld, const struct ynode *k, const struct ynode *v, struct strvec *env)
{
	if (!expect_map(ld, k, v))
		return;
	for (size_t i = 0; i < v->n; i++) {
		const struct ynode *ek = v->keys[i], *ev = v->items[i];
		if (!valid_env_name(ek->value)) {
			lerr(ld, ek, "invalid environment variable name '%s'", ek->value);
			continue;
		}
		if (!is_scalar(ev)) {
			lerr(ld, ev, "environment variable '%s' must be a scalar, not a %s", ek->value,
			     ynode_kind_name(ev));
			continue;
		}
		strvec_setenv(env, ek->value, ev->type == YSCALAR_NULL ? "" : ev->value);
	}
}

/* Names the runner itself uses in the context directory (<context>/<step>
 * and <context>/<step>/<output>): a step or output with one of them would
 * overwrite, or be overwritten by, the runner's own files. */
static const char *const reserved_step_ids[] = {"_workflow", "_workflow.json", NULL};
static const char *const reserved_output_names[] = {
	"_meta.json", "stdout.log", "stderr.log", "check.stdout.log", "check.stderr.log", "wait-probe.log",
	"wait-failure.json", "review.verdict", "fix.md", "iterations", "events.jsonl", "_workflow", "_workflow.json", NULL};

static int is_reserved(const char *name, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(name, *list))
			return 1;
	return 0;
}

int loader_safe_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64 || !strcmp(s, ".") || !strcmp(s, ".."))
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			 c == '_' || (i > 0 && (c == '.' || c == '-'));
		if (!ok)
			return 0;
	}
	return 1;
}

/* 1 when a relative path has a ".." component. */
static int has_dotdot(const char *p)
{
	const char *s = p;
	while (*s) {
		const char *e = strchr(s, '/');
		size_t len = e ? (size_t)(e - s) : strlen(s);
		if (len == 2 && s[0] == '.' && s[1] == '.')
			return 1;
		if (!e)
			break;
		s = e + 1;
	}
	return 0;
}

/*
 * The one rule for paths a workflow names (context_dir, a step's workspace,
 * a notify file target's path, metrics.file, history.db): an absolute path
 * is taken as written; a relative one is relative to the workspace and must
 * not leave it ('..'). inputs[].as is stricter (relative only).
 */
static void check_path(struct ld *ld, const struct ynode *at, const char *what, const char *path)
{
	if (!path)
		return;
	if (!*path)
		lerr(ld, at, "'%s' must not be empty", what);
	else if (path[0] != '/' && has_dotdot(path))
		lerr(ld, at, "'%s' must not leave the workspace ('..' in '%s')", what, path);
}

/* ------------------------------------------------------------- wait_policy */

static void load_rule(struct ld *ld, const struct ynode *rv, struct wl_rule *r, const char *ctx)
{
	r->after = WL_UNSET;
	r->pos = (struct wl_pos){rv->line, rv->col};
	const struct ynode *equals = NULL;
	for (size_t i = 0; i < rv->n; i++) {
		const struct ynode *k = rv->keys[i], *v = rv->items[i];
		const char *name = k->value;
		if (!strcmp(name, "match")) {
			r->match = get_str(ld, k, v);
			if (r->match)
				r->re = get_regex(ld, v, r->match);
		} else if (!strcmp(name, "field")) {
			r->field = get_str(ld, k, v);
		} else if (!strcmp(name, "equals")) {
			r->equals = get_text(ld, k, v);
			equals = k;
		} else if (!strcmp(name, "after")) {
			get_int(ld, k, v, 1, &r->after);
		} else if (!strcmp(name, "class")) {
			enum obs_class c;
			if (is_scalar(v) && v->type == YSCALAR_STR && class_parse(v->value, &c) == 0) {
				r->class = c;
			} else {
				const char *names[] = {class_name(CLASS_RETRYABLE), class_name(CLASS_TERMINAL_FAIL),
						       class_name(CLASS_PROGRESSING), class_name(CLASS_STALLED), NULL};
				bad_enum(ld, k, v, names);
			}
		} else if (!strcmp(name, "fingerprint")) {
			r->fingerprint = get_str(ld, k, v);
		} else if (!strcmp(name, "hint")) {
			r->hint = get_text(ld, k, v);
		} else {
			unknown_key(ld, k, RULE_KEYS, NULL, ctx);
		}
	}
	if (!ynode_key(rv, "class"))
		lerr(ld, rv, "missing required field 'class' in %s", ctx);
	if (!ynode_key(rv, "match") && !ynode_key(rv, "field"))
		lerr(ld, rv, "a rule needs 'match' or 'field' (%s)", ctx);
	if (equals && !ynode_key(rv, "field"))
		lerr(ld, equals, "'equals' needs 'field' (%s)", ctx);
}

static void load_rules(struct ld *ld, const struct ynode *k, const struct ynode *v,
		       struct wl_wait_policy *p, const char *ctx)
{
	p->rules_present = 1;
	if (!expect_list(ld, k, v, "rules"))
		return;
	p->rules = v->n ? xcalloc(v->n, sizeof(*p->rules)) : NULL;
	for (size_t i = 0; i < v->n; i++) {
		const struct ynode *rv = v->items[i];
		char *rctx = xasprintf("rule %zu of %s", i + 1, ctx);
		if (rv->kind != YNODE_MAPPING) {
			lerr(ld, rv, "%s must be a mapping", rctx);
		} else {
			struct wl_rule *r = &p->rules[p->nrules++];
			load_rule(ld, rv, r, rctx);
		}
		free(rctx);
	}
}

static void load_backoff(struct ld *ld, const struct ynode *k, const struct ynode *v,
			 struct wl_wait_policy *p, const char *ctx)
{
	if (!expect_map(ld, k, v))
		return;
	char *bctx = xasprintf("backoff of %s", ctx);
	for (size_t i = 0; i < v->n; i++) {
		const struct ynode *bk = v->keys[i], *bv = v->items[i];
		if (!strcmp(bk->value, "factor"))
			get_number(ld, bk, bv, 1.0, &p->backoff_factor);
		else if (!strcmp(bk->value, "max_interval"))
			get_duration(ld, bk, bv, 1, &p->backoff_max_interval);
		else
			unknown_key(ld, bk, BACKOFF_KEYS, NULL, bctx);
	}
	free(bctx);
}

/* k is the "wait_policy" key; ctx names the policy ("wait_policy of step 'x'"). */
static void load_policy(struct ld *ld, const struct ynode *k, const struct ynode *v,
			struct wl_wait_policy *p, const char *ctx)
{
	p->present = 1;
	p->pos = (struct wl_pos){k->line, k->col};
	if (!expect_map(ld, k, v))
		return;
	for (size_t i = 0; i < v->n; i++) {
		const struct ynode *pk = v->keys[i], *pv = v->items[i];
		const char *name = pk->value;
		if (!strcmp(name, "mode"))
			p->mode = (enum wl_wait_mode)get_enum(ld, pk, pv, MODE_NAMES);
		else if (!strcmp(name, "max_wait"))
			get_duration(ld, pk, pv, 1, &p->max_wait);
		else if (!strcmp(name, "interval"))
			get_duration(ld, pk, pv, 1, &p->interval);
		else if (!strcmp(name, "backoff"))
			load_backoff(ld, pk, pv, p, ctx);
		else if (!strcmp(name, "target"))
			p->target = get_str(ld, pk, pv);
		else if (!strcmp(name, "probe"))
			p->probe = get_text(ld, pk, pv);
		else if (!strcmp(name, "probe_timeout"))
			get_duration(ld, pk, pv, 1, &p->probe_timeout);
		else if (!strcmp(name, "classify"))
			p->classify = get_text(ld, pk, pv);
		else if (!strcmp(name, "builtin")) {
			if (get_enum(ld, pk, pv, BUILTIN_NAMES))
				p->builtin = xstrdup(pv->value);
		} else if (!strcmp(name, "rules"))
			load_rules(ld, pk, pv, p, ctx);
		else if (!strcmp(name, "terminal_patterns")) {
			p->terminal_patterns_present = 1;
			get_regex_list(ld, pk, pv, &p->terminal_patterns, &p->terminal_re, &p->nterminal_re);
		} else if (!strcmp(name, "stall_threshold"))
			get_int(ld, pk, pv, 1, &p->stall_threshold);
		else if (!strcmp(name, "progress_deadline"))
			get_duration(ld, pk, pv, 1, &p->progress_deadline);
		else if (!strcmp(name, "ignore_fields")) {
			p->ignore_fields_present = 1;
			get_strlist(ld, pk, pv, &p->ignore_fields, 0);
		} else if (!strcmp(name, "no_output_timeout"))
			get_duration(ld, pk, pv, 1, &p->no_output_timeout);
		else if (!strcmp(name, "on_terminal"))
			p->on_terminal = (enum wl_on_abort)get_enum(ld, pk, pv, ON_ABORT_NAMES);
		else if (!strcmp(name, "on_stall"))
			p->on_stall = (enum wl_on_abort)get_enum(ld, pk, pv, ON_ABORT_NAMES);
		else if (!strcmp(name, "grace"))
			get_duration(ld, pk, pv, 0, &p->grace);
		else if (!strcmp(name, "child_grace"))
			get_duration(ld, pk, pv, 1, &p->child_grace);
		else if (!strcmp(name, "fingerprint_prefix"))
			p->fingerprint_prefix = get_str(ld, pk, pv);
		else
			unknown_key(ld, pk, POLICY_KEYS, NULL, ctx);
	}
}

/* A use of a wait_policy in probe_aware mode must have something to observe,
 * counting what it inherits from the workflow-level policy: read on the
 * policy as resolved (wait_settings_resolve(): the use, then the workflow
 * level, then the defaults), so the inheritance is the runner's. */
static void check_observes(struct ld *ld, const struct wl_wait_policy *use, struct wl_pos at)
{
	struct wait_settings ws;
	wait_settings_resolve(&ws, use, &ld->wf->wait_policy, WL_UNSET);
	if (ws.p.mode == WAIT_MODE_PROBE_AWARE) {
		int observes = wait_policy_observes(&ws.p);
		if (!observes)
			errlist_add(ld->diags, DIAG_ERROR, ld->file, at.line, at.col,
				    "wait_policy with mode 'probe_aware' has nothing to observe (set probe, rules, terminal_patterns, builtin or classify)");
		/* stalling needs evidence (SPEC §4.4.2): without a probe, a stall_threshold
		 * can only fire on silence — the condition's output merely staying the same */
		if (observes && !ws.p.probe && ws.p.stall_threshold_set)
			errlist_add(ld->diags, DIAG_WARNING, ld->file, at.line, at.col,
				    "wait_policy sets stall_threshold without a probe: it can only stall on silence (the condition's "
				    "output staying the same), not on evidence; add a probe that shows progress, or drop stall_threshold");
	}
	wait_settings_release(&ws);
}

/* ---------------------------------------------------------- step sub-blocks */

static void load_retry(struct ld *ld, const struct ynode *k, const struct ynode *v,
		       struct wl_retry *r, const char *ctx)
{
	r->present = 1;
	r->pos = (struct wl_pos){k->line, k->col};
	if (!expect_map(ld, k, v))
		return;
	char *rctx = xasprintf("retry of %s", ctx);
	for (size_t i = 0; i < v->n; i++) {
		const struct ynode *rk = v->keys[i], *rv = v->items[i];
		const char *name = rk->value;
		if (!strcmp(name, "limit")) {
			get_int(ld, rk, rv, 0, &r->limit);
		} else if (!strcmp(name, "backoff")) {
			if (!expect_map(ld, rk, rv))
				continue;
			char *bctx = xasprintf("backoff of %s", rctx);
			for (size_t j = 0; j < rv->n; j++) {
				const struct ynode *bk = rv->keys[j], *bv = rv->items[j];
				if (!strcmp(bk->value, "duration"))
					get_duration(ld, bk, bv, 0, &r->backoff_duration);
				else if (!strcmp(bk->value, "factor"))
					get_number(ld, bk, bv, 1.0, &r->backoff_factor);
				else if (!strcmp(bk->value, "cap"))
					get_duration(ld, bk, bv, 0, &r->backoff_max_duration);
				else if (!strcmp(bk->value, "max_duration")) {
					/* the old name of cap (Argo's maxDuration is a total budget) */
					get_duration(ld, bk, bv, 0, &r->backoff_max_duration);
					lwarn(ld, bk,
					      "'max_duration' in %s caps each delay: it is now called 'cap' (the total time "
					      "across retries is retry.max_duration)",
					      bctx);
				}
				else
					unknown_key(ld, bk, RETRY_BACKOFF_KEYS, NULL, bctx);
			}
			free(bctx);
		} else if (!strcmp(name, "max_duration")) {
			get_duration(ld, rk, rv, 1, &r->max_duration);
		} else if (!strcmp(name, "on_exit_codes")) {
			if (!expect_list(ld, rk, rv, "exit codes"))
				continue;
			r->on_exit_codes = xcalloc(rv->n ? rv->n : 1, sizeof(int));
			for (size_t j = 0; j < rv->n; j++) {
				long long c;
				if (parse_int(rv->items[j], &c) < 0 || c < 0 || c > 255)
					lerr(ld, rv->items[j], "'on_exit_codes' must be a list of exit codes (0-255)");
				else
					r->on_exit_codes[r->n_on_exit_codes++] = (int)c;
			}
		} else if (!strcmp(name, "on_timeout")) {
			r->on_timeout_retry = get_enum(ld, rk, rv, ON_TIMEOUT_NAMES) == 1;
		} else {
			unknown_key(ld, rk, RETRY_KEYS, NULL, rctx);
		}
	}
	free(rctx);
}

static void load_convergence(struct ld *ld, const struct ynode *k, const struct ynode *v,
			     struct wl_convergence *c, const char *ctx)
{
	c->present = 1;
	c->pos = (struct wl_pos){k->line, k->col};
	if (!expect_map(ld, k, v))
		return;
	char *cctx = xasprintf("convergence of %s", ctx);
	for (size_t i = 0; i < v->n; i++) {
		const struct ynode *ck = v->keys[i], *cv = v->items[i];
		const char *name = ck->value;
		if (!strcmp(name, "enabled"))
			get_bool(ld, ck, cv, &c->enabled);
		else if (!strcmp(name, "stall_threshold"))
			get_int(ld, ck, cv, 1, &c->stall_threshold);
		else if (!strcmp(name, "max_stage"))
			get_int(ld, ck, cv, 1, &c->max_stage);
		else if (!strcmp(name, "fail_on_max_stage"))
			get_bool(ld, ck, cv, &c->fail_on_max_stage);
		else if (!strcmp(name, "allowed_paths"))
			get_strlist(ld, ck, cv, &c->allowed_paths, 0);
		else if (!strcmp(name, "ignored_paths"))
			get_strlist(ld, ck, cv, &c->ignored_paths, 0);
		else if (!strcmp(name, "diff_base_ref"))
			c->diff_base_ref = get_str(ld, ck, cv);
		else if (!strcmp(name, "diff_base_ref_file")) {
			c->diff_base_ref_file = get_str(ld, ck, cv);
			check_path(ld, cv, "diff_base_ref_file", c->diff_base_ref_file);
		}
		else if (!strcmp(name, "max_changed_files"))
			get_int(ld, ck, cv, 0, &c->max_changed_files);
		else if (!strcmp(name, "no_change_limit"))
			get_int(ld, ck, cv, 1, &c->no_change_limit);
		else if (!strcmp(name, "stages")) {
			if (!expect_list(ld, ck, cv, "stages"))
				continue;
			c->stages = cv->n ? xcalloc(cv->n, sizeof(*c->stages)) : NULL;
			for (size_t j = 0; j < cv->n; j++) {
				const struct ynode *sv = cv->items[j];
				if (sv->kind != YNODE_MAPPING) {
					lerr(ld, sv, "stage %zu of %s must be a mapping", j + 1, cctx);
					continue;
				}
				struct wl_stage *st = &c->stages[c->nstages++];
				st->stage = WL_UNSET;
				char *sctx = xasprintf("stage %zu of %s", j + 1, cctx);
				for (size_t m = 0; m < sv->n; m++) {
					const struct ynode *sk = sv->keys[m], *svv = sv->items[m];
					if (!strcmp(sk->value, "stage"))
						get_int(ld, sk, svv, 1, &st->stage);
					else if (!strcmp(sk->value, "append_instructions"))
						st->append_instructions = get_text(ld, sk, svv);
					else
						unknown_key(ld, sk, STAGE_KEYS, NULL, sctx);
				}
				if (!ynode_key(sv, "stage"))
					lerr(ld, sv, "missing required field 'stage' in %s", sctx);
				free(sctx);
			}
		} else {
			unknown_key(ld, ck, CONV_KEYS, NULL, cctx);
		}
	}
	free(cctx);
}

/* ----------------------------------------------- roboppi Sentinel (stall:) */

static void load_stall_action(struct ld *ld, const struct ynode *k, const struct ynode *v,
			      struct wl_stall_action_cfg *a, const char *ctx)
{
	a->present = 1;
	if (!expect_map(ld, k, v))
		return;
	char *actx = xasprintf("%s of %s", k->value, ctx);
	for (size_t i = 0; i < v->n; i++) {
		const struct ynode *ak = v->keys[i], *av = v->items[i];
		const char *name = ak->value;
		if (!strcmp(name, "action"))
			a->action = (enum wl_stall_action)get_enum(ld, ak, av, STALL_ACTION_NAMES);
		else if (!strcmp(name, "error_class"))
			a->error_class = (enum wl_error_class)get_enum(ld, ak, av, ERROR_CLASS_NAMES);
		else if (!strcmp(name, "fingerprint_prefix"))
			get_strlist(ld, ak, av, &a->fingerprint_prefix, 0);
		else if (!strcmp(name, "as_incomplete"))
			get_bool(ld, ak, av, &a->as_incomplete);
		else
			unknown_key(ld, ak, STALL_ACTION_KEYS, NULL, actx);
	}
	free(actx);
}

static void load_stall_probe(struct ld *ld, const struct ynode *k, const struct ynode *v, struct wl_stall *st,
			     const char *ctx)
{
	st->probe_present = 1;
	if (!expect_map(ld, k, v))
		return;
	char *pctx = xasprintf("probe of %s", ctx);
	for (size_t i = 0; i < v->n; i++) {
		const struct ynode *pk = v->keys[i], *pv = v->items[i];
		const char *name = pk->value;
		if (!strcmp(name, "command"))
			st->probe_command = get_text(ld, pk, pv);
		else if (!strcmp(name, "interval"))
			get_duration(ld, pk, pv, 1, &st->probe_interval);
		else if (!strcmp(name, "timeout"))
			get_duration(ld, pk, pv, 1, &st->probe_timeout);
		else if (!strcmp(name, "stall_threshold"))
			get_int(ld, pk, pv, 1, &st->stall_threshold);
		else if (!strcmp(name, "capture_stderr"))
			get_bool(ld, pk, pv, &st->capture_stderr);
		else if (!strcmp(name, "require_zero_exit"))
			get_bool(ld, pk, pv, &st->require_zero_exit);
		else if (!strcmp(name, "on_probe_error"))
			st->on_probe_error = (enum wl_probe_error)get_enum(ld, pk, pv, PROBE_ERROR_NAMES);
		else if (!strcmp(name, "probe_error_threshold"))
			get_int(ld, pk, pv, 1, &st->probe_error_threshold);
		else
			unknown_key(ld, pk, STALL_PROBE_KEYS, NULL, pctx);
	}
	/* required as in roboppi's parser */
	static const char *const required[] = {"command", "interval", "stall_threshold", NULL};
	for (size_t i = 0; required[i]; i++)
		if (!ynode_key(v, required[i]))
			lerr(ld, k, "missing required field '%s' in %s", required[i], pctx);
	free(pctx);
}

/* roboppi's `stall:` guard policy (step or completion_check). */
static void load_stall(struct ld *ld, const struct ynode *k, const struct ynode *v, struct wl_stall *st,
		       const char *ctx)
{
	st->present = 1;
	st->pos = (struct wl_pos){k->line, k->col};
	if (!expect_map(ld, k, v))
		return;
	char *sctx = xasprintf("stall of %s", ctx);
	for (size_t i = 0; i < v->n; i++) {
		const struct ynode *sk = v->keys[i], *sv = v->items[i];
		const char *name = sk->value;
		if (!strcmp(name, "enabled"))
			get_bool(ld, sk, sv, &st->enabled);
		else if (!strcmp(name, "no_output_timeout"))
			get_duration(ld, sk, sv, 1, &st->no_output_timeout);
		else if (!strcmp(name, "activity_source"))
			st->activity_source = (enum wl_activity)get_enum(ld, sk, sv, ACTIVITY_NAMES);
		else if (!strcmp(name, "probe"))
			load_stall_probe(ld, sk, sv, st, sctx);
		else if (!strcmp(name, "on_stall"))
			load_stall_action(ld, sk, sv, &st->on_stall, sctx);
		else if (!strcmp(name, "on_terminal"))
			load_stall_action(ld, sk, sv, &st->on_terminal, sctx);
		else
			unknown_key(ld, sk, STALL_KEYS, NULL, sctx);
	}
	free(sctx);
}

static void load_sentinel(struct ld *ld, const struct ynode *k, const struct ynode *v)
{
	struct wl_sentinel *sn = &ld->wf->sentinel;
	sn->present = 1;
	sn->pos = (struct wl_pos){k->line, k->col};
	if (!expect_map(ld, k, v))
		return;
	for (size_t i = 0; i < v->n; i++) {
		const struct ynode *sk = v->keys[i], *sv = v->items[i];
		const char *name = sk->value;
		if (!strcmp(name, "enabled")) {
			get_bool(ld, sk, sv, &sn->enabled);
		} else if (!strcmp(name, "telemetry")) {
			if (!expect_map(ld, sk, sv))
				continue;
			for (size_t j = 0; j < sv->n; j++) {
				const struct ynode *tk = sv->keys[j], *tv = sv->items[j];
				int b;
				if (!strcmp(tk->value, "events_file")) {
					free(sn->events_file);
					sn->events_file = get_str(ld, tk, tv);
				} else if (!strcmp(tk->value, "state_file")) {
					free(get_str(ld, tk, tv));
				} else if (!strcmp(tk->value, "include_worker_output")) {
					get_bool(ld, tk, tv, &b);
				} else {
					unknown_key(ld, tk, SENTINEL_TELEMETRY_KEYS, NULL, "sentinel.telemetry");
				}
			}
		} else if (!strcmp(name, "defaults")) {
			if (!expect_map(ld, sk, sv))
				continue;
			for (size_t j = 0; j < sv->n; j++) {
				const struct ynode *dk = sv->keys[j], *dv = sv->items[j];
				if (!strcmp(dk->value, "no_output_timeout")) {
					get_duration(ld, dk, dv, 1, &sn->no_output_timeout);
				} else if (!strcmp(dk->value, "activity_source")) {
					sn->activity_source = (enum wl_activity)get_enum(ld, dk, dv, ACTIVITY_NAMES);
				} else if (!strcmp(dk->value, "interrupt")) {
					if (!expect_map(ld, dk, dv))
						continue;
					for (size_t m = 0; m < dv->n; m++) {
						const struct ynode *ik = dv->keys[m], *iv = dv->items[m];
						if (strcmp(ik->value, "strategy"))
							unknown_key(ld, ik, SENTINEL_INTERRUPT_KEYS, NULL, "sentinel.defaults.interrupt");
						else if (!is_scalar(iv) || strcmp(iv->value, "cancel"))
							lerr(ld, iv, "'strategy' must be \"cancel\" (the only strategy roboppi defines)");
					}
				} else {
					unknown_key(ld, dk, SENTINEL_DEFAULTS_KEYS, NULL, "sentinel.defaults");
				}
			}
		} else {
			unknown_key(ld, sk, SENTINEL_KEYS, NULL, "sentinel");
		}
	}
}

/* The roboppi agent fields of a step or check (`agent`, `model`, `variant`,
 * `defaultArgs`); 1 when k was one of them. The catalog is applied after the
 * whole file is loaded (agentcat_apply()). */
static int load_agent_ref(struct ld *ld, const struct ynode *k, const struct ynode *v, struct wl_agent_ref *a)
{
	const char *name = k->value;
	if (!strcmp(name, "agent")) {
		a->agent = get_str(ld, k, v);
		a->agent_pos = (struct wl_pos){v->line, v->col};
		if (a->agent && !a->agent[0])
			lerr(ld, v, "'agent' must be a non-empty string");
	} else if (!strcmp(name, "model")) {
		a->model = get_str(ld, k, v);
	} else if (!strcmp(name, "variant")) {
		a->variant = get_str(ld, k, v);
	} else if (!strcmp(name, "defaultArgs")) {
		get_strlist(ld, k, v, &a->default_args, 1);
	} else {
		return 0;
	}
	return 1;
}

/* model/variant/defaultArgs written on a CUSTOM step or check go nowhere: a warning each. */
static void warn_agent_fields_on_custom(struct ld *ld, const struct ynode *v, enum wl_worker w)
{
	static const char *const fields[] = {"model", "variant", "defaultArgs", NULL};
	if (w != WORKER_CUSTOM)
		return;
	for (size_t i = 0; fields[i]; i++) {
		const struct ynode *k = ynode_key(v, fields[i]);
		if (k)
			lwarn(ld, k, "'%s' has no effect on a CUSTOM worker (it goes to an agent CLI); ignored",
			      fields[i]);
	}
}

static void load_check(struct ld *ld, const struct ynode *k, const struct ynode *v,
		       struct wl_check *c, const char *ctx)
{
	c->present = 1;
	c->pos = (struct wl_pos){k->line, k->col};
	if (!expect_map(ld, k, v))
		return;
	char *cctx = xasprintf("completion_check of %s", ctx);
	for (size_t i = 0; i < v->n; i++) {
		const struct ynode *ck = v->keys[i], *cv = v->items[i];
		const char *name = ck->value;
		if (!strcmp(name, "worker"))
			c->worker = (enum wl_worker)get_enum(ld, ck, cv, WORKER_NAMES);
		else if (!strcmp(name, "instructions"))
			c->instructions = get_text(ld, ck, cv);
		else if (!strcmp(name, "instructions_file"))
			c->instructions_file = get_str(ld, ck, cv);
		else if (!strcmp(name, "capabilities"))
			get_strlist(ld, ck, cv, &c->capabilities, 0);
		else if (!strcmp(name, "timeout"))
			get_duration(ld, ck, cv, 1, &c->timeout);
		else if (!strcmp(name, "decision_file"))
			c->decision_file = get_str(ld, ck, cv);
		else if (!strcmp(name, "fix_file"))
			c->fix_file = get_str(ld, ck, cv);
		else if (!strcmp(name, "fix_template"))
			c->fix_template = get_str(ld, ck, cv);
		else if (!strcmp(name, "wait_policy")) {
			char *pctx = xasprintf("wait_policy of %s", cctx);
			load_policy(ld, ck, cv, &c->wait_policy, pctx);
			free(pctx);
		} else if (!strcmp(name, "stall"))
			load_stall(ld, ck, cv, &c->stall, cctx);
		else if (!load_agent_ref(ld, ck, cv, &c->ag))
			unknown_key(ld, ck, CHECK_KEYS, ROBOPPI_CHECK, cctx);
	}
	warn_agent_fields_on_custom(ld, v, c->worker);
	if (!ynode_key(v, "worker") && !ynode_key(v, "agent"))
		lerr(ld, k, "missing required field 'worker' in %s", cctx);
	if (ynode_key(v, "agent"))
		;   /* worker and instructions may come from the catalog: agentcat_apply() */
	else if (!ynode_key(v, "instructions") && !ynode_key(v, "instructions_file"))
		lerr(ld, k, "missing required field 'instructions' (or 'instructions_file') in %s", cctx);
	else if (ynode_key(v, "instructions") && ynode_key(v, "instructions_file"))
		lerr(ld, ynode_key(v, "instructions_file"),
		     "'instructions' and 'instructions_file' are mutually exclusive in %s", cctx);
	free(cctx);
}

static void load_wait(struct ld *ld, const struct ynode *k, const struct ynode *v, struct wl_step *s,
		      const char *ctx)
{
	s->is_wait = 1;
	if (!expect_map(ld, k, v))
		return;
	char *wctx = xasprintf("wait of %s", ctx);
	for (size_t i = 0; i < v->n; i++) {
		const struct ynode *wk = v->keys[i], *wv = v->items[i];
		if (!strcmp(wk->value, "condition"))
			s->wait_condition = get_text(ld, wk, wv);
		else if (!strcmp(wk->value, "target"))
			s->wait_target = get_str(ld, wk, wv);
		else
			unknown_key(ld, wk, WAIT_KEYS, NULL, wctx);
	}
	if (!ynode_key(v, "condition"))
		lerr(ld, k, "missing required field 'condition' in %s", wctx);
	free(wctx);
}

static void load_outputs(struct ld *ld, const struct ynode *k, const struct ynode *v,
			 struct wl_step *s, const char *ctx)
{
	if (!expect_list(ld, k, v, "{name, path} entries"))
		return;
	s->outputs = v->n ? xcalloc(v->n, sizeof(*s->outputs)) : NULL;
	for (size_t i = 0; i < v->n; i++) {
		const struct ynode *ov = v->items[i];
		char *octx = xasprintf("output %zu of %s", i + 1, ctx);
		if (ov->kind != YNODE_MAPPING) {
			lerr(ld, ov, "%s must be a mapping with 'name' and 'path'", octx);
			free(octx);
			continue;
		}
		struct wl_output *o = &s->outputs[s->noutputs++];
		o->pos = (struct wl_pos){ov->line, ov->col};
		for (size_t j = 0; j < ov->n; j++) {
			const struct ynode *ok = ov->keys[j], *oval = ov->items[j];
			if (!strcmp(ok->value, "name")) {
				o->name = get_str(ld, ok, oval);
				if (o->name && !loader_safe_name(o->name))
					lerr(ld, oval,
					     "invalid output name '%s' in %s: names must match [A-Za-z0-9_][A-Za-z0-9_.-]* (at most 64 characters)",
					     o->name, ctx);
				else if (o->name && is_reserved(o->name, reserved_output_names))
					lerr(ld, oval, "output name '%s' in %s is reserved (the runner writes a file of that name in the step's directory)",
					     o->name, ctx);
				for (size_t m = 0; o->name && m + 1 < s->noutputs; m++)
					if (s->outputs[m].name && !strcmp(s->outputs[m].name, o->name))
						lerr(ld, oval, "duplicate output name '%s' in %s", o->name, ctx);
			} else if (!strcmp(ok->value, "path")) {
				o->path = get_str(ld, ok, oval);
			} else if (!strcmp(ok->value, "type")) {
				char *t = get_str(ld, ok, oval);   /* roboppi hint, not used */
				free(t);
			} else if (!strcmp(ok->value, "required")) {
				get_bool(ld, ok, oval, &o->required);
			} else {
				unknown_key(ld, ok, OUTPUT_KEYS, NULL, octx);
			}
		}
		if (!ynode_key(ov, "name"))
			lerr(ld, ov, "missing required field 'name' in %s", octx);
		if (!ynode_key(ov, "path"))
			lerr(ld, ov, "missing required field 'path' in %s", octx);
		free(octx);
	}
}

static void load_inputs(struct ld *ld, const struct ynode *k, const struct ynode *v,
			struct wl_step *s, struct step_src *src, const char *ctx)
{
	if (!expect_list(ld, k, v, "{from, artifact} entries"))
		return;
	s->inputs = v->n ? xcalloc(v->n, sizeof(*s->inputs)) : NULL;
	src->inputs = v->n ? xcalloc(v->n, sizeof(*src->inputs)) : NULL;
	for (size_t i = 0; i < v->n; i++) {
		const struct ynode *iv = v->items[i];
		char *ictx = xasprintf("input %zu of %s", i + 1, ctx);
		if (iv->kind != YNODE_MAPPING) {
			lerr(ld, iv, "%s must be a mapping with 'from' and 'artifact'", ictx);
			free(ictx);
			continue;
		}
		src->inputs[s->ninputs] = iv;
		struct wl_input *in = &s->inputs[s->ninputs++];
		in->pos = (struct wl_pos){iv->line, iv->col};
		for (size_t j = 0; j < iv->n; j++) {
			const struct ynode *ik = iv->keys[j], *ival = iv->items[j];
			if (!strcmp(ik->value, "from")) {
				in->from = get_str(ld, ik, ival);
			} else if (!strcmp(ik->value, "artifact")) {
				in->artifact = get_str(ld, ik, ival);
			} else if (!strcmp(ik->value, "as")) {
				in->as = get_str(ld, ik, ival);
				if (in->as && (!*in->as || in->as[0] == '/' || has_dotdot(in->as)))
					lerr(ld, ival,
					     "'as' must be a relative path inside the workspace (no '..'), got '%s'",
					     in->as);
			} else {
				unknown_key(ld, ik, INPUT_KEYS, NULL, ictx);
			}
		}
		if (!ynode_key(iv, "from"))
			lerr(ld, iv, "missing required field 'from' in %s", ictx);
		if (!ynode_key(iv, "artifact"))
			lerr(ld, iv, "missing required field 'artifact' in %s", ictx);
		free(ictx);
	}
}

/* roboppi subworkflow `exports: [{from, artifact, as}]` (child step, its output, name here). */
static void load_exports(struct ld *ld, const struct ynode *k, const struct ynode *v, struct wl_step *s,
			 const char *ctx)
{
	static const char *const EXPORT_KEYS[] = {"from", "artifact", "as", NULL};
	if (!expect_list(ld, k, v, "{from, artifact, as} entries"))
		return;
	s->exports = v->n ? xcalloc(v->n, sizeof(*s->exports)) : NULL;
	for (size_t i = 0; i < v->n; i++) {
		const struct ynode *ev = v->items[i];
		char *ectx = xasprintf("export %zu of %s", i + 1, ctx);
		if (ev->kind != YNODE_MAPPING) {
			lerr(ld, ev, "%s must be a mapping with 'from' and 'artifact'", ectx);
			free(ectx);
			continue;
		}
		struct wl_input *e = &s->exports[s->nexports++];
		e->pos = (struct wl_pos){ev->line, ev->col};
		for (size_t j = 0; j < ev->n; j++) {
			const struct ynode *ek = ev->keys[j], *eval = ev->items[j];
			if (!strcmp(ek->value, "from"))
				e->from = get_str(ld, ek, eval);
			else if (!strcmp(ek->value, "artifact"))
				e->artifact = get_str(ld, ek, eval);
			else if (!strcmp(ek->value, "as"))
				e->as = get_str(ld, ek, eval);
			else
				unknown_key(ld, ek, EXPORT_KEYS, NULL, ectx);
		}
		const char *names[] = {e->from, e->artifact, e->as};
		for (int m = 0; m < 3; m++)
			if (names[m] && !loader_safe_name(names[m]))
				lerr(ld, ev, "invalid name '%s' in %s: names must match [A-Za-z0-9_][A-Za-z0-9_.-]*",
				     names[m], ectx);
		if (!ynode_key(ev, "from"))
			lerr(ld, ev, "missing required field 'from' in %s", ectx);
		if (!ynode_key(ev, "artifact"))
			lerr(ld, ev, "missing required field 'artifact' in %s", ectx);
		free(ectx);
	}
}

static void step_init(struct wl_step *s)
{
	s->exports_replace = WL_UNSET;
	s->timeout = WL_UNSET;
	s->max_retries = WL_UNSET;
	s->max_iterations = WL_UNSET;
	s->alert_after_failures = WL_UNSET;
	s->retry.limit = WL_UNSET;
	s->retry.backoff_duration = WL_UNSET;
	s->retry.backoff_max_duration = WL_UNSET;
	s->retry.max_duration = WL_UNSET;
	wait_policy_init(&s->wait_policy);
	wait_policy_init(&s->check.wait_policy);
	s->check.timeout = WL_UNSET;
	stall_init(&s->stall);
	stall_init(&s->check.stall);
	struct wl_convergence *c = &s->convergence;
	c->enabled = c->stall_threshold = c->max_stage = c->fail_on_max_stage = WL_UNSET;
	c->max_changed_files = c->no_change_limit = WL_UNSET;
}

static void load_step(struct ld *ld, const struct ynode *key, const struct ynode *v,
		      struct wl_step *s, struct step_src *src)
{
	s->id = xstrdup(key->value);
	s->pos = (struct wl_pos){key->line, key->col};
	src->key = key;
	if (!loader_safe_name(s->id))
		lerr(ld, key,
		     "invalid step id '%s': ids must match [A-Za-z0-9_][A-Za-z0-9_.-]* (at most 64 characters, not '.' or '..')",
		     s->id);
	else if (is_reserved(s->id, reserved_step_ids))
		lerr(ld, key, "step id '%s' is reserved (the runner's own files in the context directory)", s->id);
	if (!v || v->kind != YNODE_MAPPING) {
		lerr(ld, v ? v : key, "step '%s' must be a mapping", s->id);
		return;
	}
	char *ctx = xasprintf("step '%s'", s->id);
	const struct ynode *maxit_key = NULL, *subworkflow = NULL;
	for (size_t i = 0; i < v->n; i++) {
		const struct ynode *k = v->keys[i], *val = v->items[i];
		const char *name = k->value;
		if (!strcmp(name, "description"))
			s->description = get_text(ld, k, val);
		else if (!strcmp(name, "worker"))
			s->worker = (enum wl_worker)get_enum(ld, k, val, WORKER_NAMES);
		else if (!strcmp(name, "instructions"))
			s->instructions = get_text(ld, k, val);
		else if (!strcmp(name, "instructions_file"))
			s->instructions_file = get_str(ld, k, val);
		else if (!strcmp(name, "capabilities"))
			get_strlist(ld, k, val, &s->capabilities, 0);
		else if (!strcmp(name, "workspace")) {
			s->workspace = get_str(ld, k, val);
			check_path(ld, val, "workspace", s->workspace);
		}
		else if (!strcmp(name, "depends_on")) {
			src->depends_on = val;
			get_strlist(ld, k, val, &s->depends_on, 0);
		} else if (!strcmp(name, "inputs"))
			load_inputs(ld, k, val, s, src, ctx);
		else if (!strcmp(name, "outputs"))
			load_outputs(ld, k, val, s, ctx);
		else if (!strcmp(name, "env"))
			get_env(ld, k, val, &s->env);
		else if (!strcmp(name, "timeout"))
			get_duration(ld, k, val, 1, &s->timeout);
		else if (!strcmp(name, "on_failure"))
			s->on_failure = (enum wl_on_failure)get_enum(ld, k, val, ON_FAILURE_NAMES);
		else if (!strcmp(name, "max_retries"))
			get_int(ld, k, val, 0, &s->max_retries);
		else if (!strcmp(name, "retry"))
			load_retry(ld, k, val, &s->retry, ctx);
		else if (!strcmp(name, "wait")) {
			src->wait_key = k;
			load_wait(ld, k, val, s, ctx);
		} else if (!strcmp(name, "wait_policy")) {
			char *pctx = xasprintf("wait_policy of %s", ctx);
			load_policy(ld, k, val, &s->wait_policy, pctx);
			free(pctx);
		} else if (!strcmp(name, "completion_check")) {
			src->check_key = k;
			load_check(ld, k, val, &s->check, ctx);
		} else if (!strcmp(name, "max_iterations")) {
			maxit_key = k;
			long long n;
			if (parse_int(val, &n) < 0 || n > INT_MAX)
				lerr(ld, val, "'max_iterations' must be an integer >= 2");
			else if (n < 2)
				lerr(ld, val, "'max_iterations' must be an integer >= 2 (a completion_check loop needs at least 2 iterations)");
			else
				s->max_iterations = (int)n;
		} else if (!strcmp(name, "on_iterations_exhausted"))
			s->on_iterations_exhausted =
				(enum wl_on_exhausted)get_enum(ld, k, val, ON_EXHAUSTED_NAMES);
		else if (!strcmp(name, "convergence"))
			load_convergence(ld, k, val, &s->convergence, ctx);
		else if (!strcmp(name, "alert_after_failures"))
			get_int(ld, k, val, 1, &s->alert_after_failures);
		else if (!strcmp(name, "always"))
			get_bool(ld, k, val, &s->always);
		else if (!strcmp(name, "stall"))
			load_stall(ld, k, val, &s->stall, ctx);
		else if (!strcmp(name, "workflow")) {
			subworkflow = k;
			s->subworkflow = get_str(ld, k, val);
		} else if (!strcmp(name, "bubble_subworkflow_events")) {
			int b;
			get_bool(ld, k, val, &b);   /* display only: child steps are in the child run */
		} else if (!strcmp(name, "exports")) {
			load_exports(ld, k, val, s, ctx);
		} else if (!strcmp(name, "exports_mode")) {
			int m = get_enum(ld, k, val, EXPORTS_MODE_NAMES);
			if (m)
				s->exports_replace = m == 2;
		} else if (!load_agent_ref(ld, k, val, &s->ag)) {
			unknown_key(ld, k, STEP_KEYS, ROBOPPI_STEP, ctx);
		}
	}

	warn_agent_fields_on_custom(ld, v, s->worker);
	if (s->is_wait) {
		static const char *const not_in_wait[] = {
			"worker", "instructions", "instructions_file", "completion_check", "agent", NULL};
		for (size_t i = 0; not_in_wait[i]; i++) {
			const struct ynode *bad = ynode_key(v, not_in_wait[i]);
			if (bad)
				lerr(ld, bad, "'%s' cannot be used in a wait step (step '%s' has 'wait')",
				     not_in_wait[i], s->id);
		}
	} else if (subworkflow) {
		static const char *const not_in_sub[] = {"worker", "instructions", "instructions_file", "agent", NULL};
		for (size_t i = 0; not_in_sub[i]; i++) {
			const struct ynode *bad = ynode_key(v, not_in_sub[i]);
			if (bad)
				lerr(ld, bad, "'%s' cannot be used in a subworkflow step (step '%s' has 'workflow')",
				     not_in_sub[i], s->id);
		}
	} else {
		if (!ynode_key(v, "worker") && !ynode_key(v, "agent"))
			lerr(ld, key, "missing required field 'worker' in step '%s'", s->id);
		if (ynode_key(v, "agent"))
			;   /* worker and instructions may come from the catalog: agentcat_apply() */
		else if (!ynode_key(v, "instructions") && !ynode_key(v, "instructions_file"))
			lerr(ld, key, "missing required field 'instructions' (or 'instructions_file') in step '%s'",
			     s->id);
		else if (ynode_key(v, "instructions") && ynode_key(v, "instructions_file"))
			lerr(ld, ynode_key(v, "instructions_file"),
			     "'instructions' and 'instructions_file' are mutually exclusive in step '%s'",
			     s->id);
	}
	/* An always-run step may start after the workflow's deadline: it needs its own. */
	if (s->always == 1 && s->timeout == WL_UNSET)
		s->timeout = WL_ALWAYS_DEFAULT_TIMEOUT_MS;
	if (src->check_key && !maxit_key)
		lerr(ld, src->check_key,
		     "'completion_check' requires 'max_iterations' >= 2 in step '%s'", s->id);
	if (maxit_key && !src->check_key)
		lerr(ld, maxit_key, "'max_iterations' requires a 'completion_check' in step '%s'", s->id);
	free(ctx);
}

/* --------------------------------------------------------------- top level */

static void load_preflight(struct ld *ld, const struct ynode *k, const struct ynode *v)
{
	struct wl_workflow *wf = ld->wf;
	if (!expect_list(ld, k, v, "checks"))
		return;
	wf->preflight = v->n ? xcalloc(v->n, sizeof(*wf->preflight)) : NULL;
	for (size_t i = 0; i < v->n; i++) {
		const struct ynode *pv = v->items[i];
		char *pctx = xasprintf("preflight entry %zu", i + 1);
		if (pv->kind != YNODE_MAPPING) {
			lerr(ld, pv, "%s must be a mapping", pctx);
			free(pctx);
			continue;
		}
		struct wl_preflight *p = &wf->preflight[wf->npreflight++];
		p->timeout = WL_UNSET;
		p->pos = (struct wl_pos){pv->line, pv->col};
		int kinds = 0;
		for (size_t j = 0; j < pv->n; j++) {
			const struct ynode *pk = pv->keys[j], *pval = pv->items[j];
			const char *name = pk->value;
			if (!strcmp(name, "require_commands") || !strcmp(name, "require_env") ||
			    !strcmp(name, "require_files")) {
				kinds++;
				p->kind = !strcmp(name, "require_commands") ? PREFLIGHT_COMMANDS
					  : !strcmp(name, "require_env")    ? PREFLIGHT_ENV
									    : PREFLIGHT_FILES;
				get_strlist(ld, pk, pval, &p->items, 0);
			} else if (!strcmp(name, "name")) {
				p->name = get_str(ld, pk, pval);
			} else if (!strcmp(name, "command")) {
				kinds++;
				p->kind = PREFLIGHT_CHECK;
				p->command = get_text(ld, pk, pval);
			} else if (!strcmp(name, "timeout")) {
				get_duration(ld, pk, pval, 1, &p->timeout);
			} else if (!strcmp(name, "fingerprint")) {
				p->fingerprint = get_str(ld, pk, pval);
			} else {
				unknown_key(ld, pk, PREFLIGHT_KEYS, NULL, pctx);
			}
		}
		if (kinds != 1) {
			lerr(ld, pv,
			     "%s must have exactly one of 'require_commands', 'require_env', 'require_files' or 'command'",
			     pctx);
		} else if (p->kind == PREFLIGHT_CHECK) {
			if (!ynode_key(pv, "name"))
				lerr(ld, pv, "missing required field 'name' in %s", pctx);
		} else {
			static const char *const only_check[] = {"name", "timeout", "fingerprint", NULL};
			for (size_t j = 0; only_check[j]; j++)
				if (ynode_key(pv, only_check[j]))
					lerr(ld, ynode_key(pv, only_check[j]),
					     "'%s' only applies to a 'command' check (%s)", only_check[j], pctx);
		}
		free(pctx);
	}
}

static void load_notify(struct ld *ld, const struct ynode *k, const struct ynode *v)
{
	struct wl_notify *n = &ld->wf->notify;
	n->present = 1;
	if (!expect_map(ld, k, v))
		return;
	for (size_t i = 0; i < v->n; i++) {
		const struct ynode *nk = v->keys[i], *nv = v->items[i];
		if (!strcmp(nk->value, "targets")) {
			if (!expect_map(ld, nk, nv))
				continue;
			n->targets = nv->n ? xcalloc(nv->n, sizeof(*n->targets)) : NULL;
			for (size_t j = 0; j < nv->n; j++) {
				const struct ynode *tk = nv->keys[j], *tv = nv->items[j];
				struct wl_notify_target *t = &n->targets[n->ntargets++];
				t->name = xstrdup(tk->value);
				t->timeout = WL_UNSET;
				t->pos = (struct wl_pos){tk->line, tk->col};
				char *tctx = xasprintf("notify target '%s'", t->name);
				if (!expect_map(ld, tk, tv)) {
					free(tctx);
					continue;
				}
				for (size_t m = 0; m < tv->n; m++) {
					const struct ynode *fk = tv->keys[m], *fv = tv->items[m];
					if (!strcmp(fk->value, "type"))
						t->type = (enum wl_notify_type)get_enum(ld, fk, fv, NOTIFY_TYPE_NAMES);
					else if (!strcmp(fk->value, "command"))
						t->command = get_text(ld, fk, fv);
					else if (!strcmp(fk->value, "path")) {
						t->path = get_str(ld, fk, fv);
						check_path(ld, fv, "path", t->path);
					}
					else if (!strcmp(fk->value, "timeout"))
						get_duration(ld, fk, fv, 1, &t->timeout);
					else
						unknown_key(ld, fk, TARGET_KEYS, NULL, tctx);
				}
				if (!ynode_key(tv, "type"))
					lerr(ld, tk, "missing required field 'type' in %s", tctx);
				else if (t->type == NOTIFY_COMMAND && !ynode_key(tv, "command"))
					lerr(ld, tk, "missing required field 'command' in %s (type command)", tctx);
				else if (t->type == NOTIFY_FILE && !ynode_key(tv, "path"))
					lerr(ld, tk, "missing required field 'path' in %s (type file)", tctx);
				free(tctx);
			}
		} else if (!strcmp(nk->value, "events")) {
			if (!expect_list(ld, nk, nv, "event names"))
				continue;
			for (size_t j = 0; j < nv->n; j++)
				if (get_enum(ld, nk, nv->items[j], EVENT_NAMES))
					strvec_push(&n->events, nv->items[j]->value);
		} else {
			unknown_key(ld, nk, NOTIFY_KEYS, NULL, "notify");
		}
	}
}

static void load_workers(struct ld *ld, const struct ynode *k, const struct ynode *v)
{
	if (!expect_map(ld, k, v))
		return;
	for (size_t i = 0; i < v->n; i++) {
		const struct ynode *wk = v->keys[i], *wv = v->items[i];
		enum wl_worker w;
		if (worker_parse(wk->value, &w) < 0 || w == WORKER_CUSTOM) {
			static const char *const agents[] = {"CLAUDE_CODE", "CODEX_CLI", "OPENCODE", NULL};
			const char *s = suggest_closest(wk->value, agents);
			if (s)
				lerr(ld, wk, "invalid worker kind '%s' in 'workers' (expected CLAUDE_CODE, CODEX_CLI or OPENCODE; did you mean '%s'?)",
				     wk->value, s);
			else
				lerr(ld, wk, "invalid worker kind '%s' in 'workers' (expected CLAUDE_CODE, CODEX_CLI or OPENCODE)",
				     wk->value);
			continue;
		}
		struct wl_worker_cmd *cmd = &ld->wf->workers[w];
		cmd->present = 1;
		if (!expect_map(ld, wk, wv))
			continue;
		char *wctx = xasprintf("workers.%s", wk->value);
		for (size_t j = 0; j < wv->n; j++) {
			const struct ynode *ck = wv->keys[j], *cv = wv->items[j];
			if (!strcmp(ck->value, "command")) {
				get_strlist(ld, ck, cv, &cmd->command, 1);
				if (cv->kind == YNODE_SEQUENCE && cv->n == 0)
					lerr(ld, cv, "'command' of %s must not be empty", wctx);
			} else {
				unknown_key(ld, ck, WORKER_CMD_KEYS, NULL, wctx);
			}
		}
		if (!ynode_key(wv, "command"))
			lerr(ld, wk, "missing required field 'command' in %s", wctx);
		free(wctx);
	}
}

/* A {key: string} block such as metrics: {file: x}. */
static char *load_single(struct ld *ld, const struct ynode *k, const struct ynode *v,
			 const char *const *keys)
{
	char *out = NULL;
	if (!expect_map(ld, k, v))
		return NULL;
	for (size_t i = 0; i < v->n; i++) {
		const struct ynode *sk = v->keys[i], *sv = v->items[i];
		if (!strcmp(sk->value, keys[0])) {
			free(out);
			out = get_str(ld, sk, sv);
		} else {
			unknown_key(ld, sk, keys, NULL, k->value);
		}
	}
	if (!ynode_key(v, keys[0]))
		lerr(ld, k, "missing required field '%s' in %s", keys[0], k->value);
	return out;
}

/* metrics: {file: PATH, refresh: DURATION} */
static void load_metrics(struct ld *ld, const struct ynode *k, const struct ynode *v, struct wl_workflow *wf)
{
	if (!expect_map(ld, k, v))
		return;
	for (size_t i = 0; i < v->n; i++) {
		const struct ynode *sk = v->keys[i], *sv = v->items[i];
		if (!strcmp(sk->value, "file")) {
			free(wf->metrics_file);
			wf->metrics_file = get_str(ld, sk, sv);
			check_path(ld, sv, "file", wf->metrics_file);
		} else if (!strcmp(sk->value, "refresh")) {
			get_duration(ld, sk, sv, 1, &wf->metrics_refresh);
		} else {
			unknown_key(ld, sk, METRICS_KEYS, NULL, k->value);
		}
	}
	if (!ynode_key(v, "file"))
		lerr(ld, k, "missing required field 'file' in %s", k->value);
}

static void load_version(struct ld *ld, const struct ynode *v)
{
	if (is_scalar(v) && ((v->type == YSCALAR_STR || v->type == YSCALAR_INT) && !strcmp(v->value, "1"))) {
		ld->wf->version = xstrdup("1");
		return;
	}
	lerr(ld, v, "unsupported version '%s' (expected \"1\")", is_scalar(v) ? v->value : ynode_kind_name(v));
}

/* ----------------------------------------------------------- second pass */

struct id_entry {
	const char *id;
	size_t index;
};

static int id_cmp(const void *a, const void *b)
{
	return strcmp(((const struct id_entry *)a)->id, ((const struct id_entry *)b)->id);
}

static long find_step(const struct id_entry *ids, size_t n, const char *id)
{
	struct id_entry key = {id, 0};
	const struct id_entry *e = n ? bsearch(&key, ids, n, sizeof(*ids), id_cmp) : NULL;
	return e ? (long)e->index : -1;
}

static void unknown_step(struct ld *ld, const struct ynode *at, const char *id, const char *where,
			 const char *const *names)
{
	const char *s = suggest_closest(id, names);
	if (s)
		lerr(ld, at, "unknown step '%s' in %s (did you mean '%s'?)", id, where, s);
	else
		lerr(ld, at, "unknown step '%s' in %s", id, where);
}

static void resolve_deps(struct ld *ld, const struct id_entry *ids, const char *const *names)
{
	struct wl_workflow *wf = ld->wf;
	for (size_t i = 0; i < wf->nsteps; i++) {
		struct wl_step *s = &wf->steps[i];
		const struct ynode *list = ld->src[i].depends_on;
		if (!list || list->kind != YNODE_SEQUENCE)
			continue;
		s->deps = list->n ? xcalloc(list->n, sizeof(*s->deps)) : NULL;
		char *where = xasprintf("'depends_on' of step '%s'", s->id);
		for (size_t j = 0; j < list->n; j++) {
			const struct ynode *it = list->items[j];
			if (!is_scalar(it) || it->type != YSCALAR_STR)
				continue;   /* already reported */
			long d = find_step(ids, wf->nsteps, it->value);
			if (d < 0) {
				unknown_step(ld, it, it->value, where, names);
				continue;
			}
			if ((size_t)d == i) {
				lerr(ld, it, "step '%s' depends on itself", s->id);
				continue;
			}
			int dup = 0;
			for (size_t m = 0; m < s->ndeps; m++)
				dup |= s->deps[m] == (size_t)d;
			if (!dup)
				s->deps[s->ndeps++] = (size_t)d;
		}
		free(where);
	}
}

/* Iterative DFS; every back edge is one cycle, reported once. Returns 1 if any. */
static int find_cycles(struct ld *ld)
{
	struct wl_workflow *wf = ld->wf;
	size_t n = wf->nsteps;
	unsigned char *color = xcalloc(n ? n : 1, 1);   /* 0 white, 1 on stack, 2 done */
	size_t *stack = xcalloc(n ? n : 1, sizeof(size_t));
	size_t *next = xcalloc(n ? n : 1, sizeof(size_t));
	int found = 0;
	for (size_t root = 0; root < n; root++) {
		if (color[root])
			continue;
		size_t depth = 0;
		stack[depth++] = root;
		color[root] = 1;
		next[root] = 0;
		while (depth) {
			size_t u = stack[depth - 1];
			if (next[u] >= wf->steps[u].ndeps) {
				color[u] = 2;
				depth--;
				continue;
			}
			size_t v = wf->steps[u].deps[next[u]++];
			if (color[v] == 0) {
				color[v] = 1;
				next[v] = 0;
				stack[depth++] = v;
			} else if (color[v] == 1) {
				struct strbuf sb;
				strbuf_init(&sb);
				size_t start = depth;
				while (start > 0 && stack[start - 1] != v)
					start--;
				start--;
				for (size_t m = start; m < depth; m++)
					strbuf_addf(&sb, "%s -> ", wf->steps[stack[m]].id);
				strbuf_addstr(&sb, wf->steps[v].id);
				lerr(ld, ld->src[v].key, "dependency cycle: %s", strbuf_str(&sb));
				strbuf_release(&sb);
				found = 1;
			}
		}
	}
	free(color);
	free(stack);
	free(next);
	return found;
}

/* 1 when step from is reachable from step s through deps. */
static int depends_transitively(const struct wl_workflow *wf, size_t s, size_t from, unsigned char *seen,
				size_t *stack)
{
	memset(seen, 0, wf->nsteps);
	size_t depth = 0;
	stack[depth++] = s;
	seen[s] = 1;
	while (depth) {
		size_t u = stack[--depth];
		for (size_t j = 0; j < wf->steps[u].ndeps; j++) {
			size_t v = wf->steps[u].deps[j];
			if (v == from)
				return 1;
			if (!seen[v]) {
				seen[v] = 1;
				stack[depth++] = v;
			}
		}
	}
	return 0;
}

static void check_inputs(struct ld *ld, const struct id_entry *ids, const char *const *names,
			 int have_cycles)
{
	struct wl_workflow *wf = ld->wf;
	size_t n = wf->nsteps;
	unsigned char *seen = xcalloc(n ? n : 1, 1);
	size_t *stack = xcalloc(n ? n : 1, sizeof(size_t));
	for (size_t i = 0; i < n; i++) {
		struct wl_step *s = &wf->steps[i];
		for (size_t j = 0; j < s->ninputs; j++) {
			struct wl_input *in = &s->inputs[j];
			const struct ynode *iv = ld->src[i].inputs[j];
			const struct ynode *from_node = ynode_get(iv, "from");
			const struct ynode *art_node = ynode_get(iv, "artifact");
			if (!in->from)
				continue;
			long f = find_step(ids, n, in->from);
			if (f < 0) {
				char *where = xasprintf("'inputs' of step '%s'", s->id);
				unknown_step(ld, from_node, in->from, where, names);
				free(where);
				continue;
			}
			if (!have_cycles && !depends_transitively(wf, i, (size_t)f, seen, stack))
				lerr(ld, from_node,
				     "step '%s' takes an input from '%s' but does not depend on it (add '%s' to depends_on)",
				     s->id, in->from, in->from);
			if (!in->artifact)
				continue;
			struct wl_step *src = &wf->steps[f];
			const char **outs = xcalloc(src->noutputs + 1, sizeof(*outs));
			int ok = 0;
			size_t no = 0;
			for (size_t m = 0; m < src->noutputs; m++)
				if (src->outputs[m].name) {
					outs[no++] = src->outputs[m].name;
					ok |= !strcmp(src->outputs[m].name, in->artifact);
				}
			if (!ok) {
				const char *sug = suggest_closest(in->artifact, outs);
				if (sug)
					lerr(ld, art_node, "step '%s' has no output named '%s' (did you mean '%s'?)",
					     src->id, in->artifact, sug);
				else
					lerr(ld, art_node, "step '%s' has no output named '%s'", src->id,
					     in->artifact);
			}
			free(outs);
		}
	}
	free(seen);
	free(stack);
}

static void check_policies(struct ld *ld)
{
	struct wl_workflow *wf = ld->wf;
	for (size_t i = 0; i < wf->nsteps; i++) {
		struct wl_step *s = &wf->steps[i];
		if (s->is_wait) {
			struct wl_pos at = s->wait_policy.present ? s->wait_policy.pos
				: (struct wl_pos){ld->src[i].wait_key->line, ld->src[i].wait_key->col};
			check_observes(ld, &s->wait_policy, at);
		} else if (s->wait_policy.present) {
			check_observes(ld, &s->wait_policy, s->wait_policy.pos);
		}
		if (s->check.present && s->check.wait_policy.present)
			check_observes(ld, &s->check.wait_policy, s->check.wait_policy.pos);
	}
}

static void load_steps(struct ld *ld, const struct ynode *k, const struct ynode *v)
{
	struct wl_workflow *wf = ld->wf;
	if (!v || v->kind != YNODE_MAPPING) {
		lerr(ld, v ? v : k, "'steps' must be a mapping of step id to step");
		return;
	}
	if (!v->n) {
		lerr(ld, v, "'steps' must have at least one step");
		return;
	}
	wf->steps = xcalloc(v->n, sizeof(*wf->steps));
	ld->src = xcalloc(v->n, sizeof(*ld->src));
	for (size_t i = 0; i < v->n; i++) {
		struct wl_step *s = &wf->steps[wf->nsteps];
		step_init(s);
		load_step(ld, v->keys[i], v->items[i], s, &ld->src[wf->nsteps]);
		wf->nsteps++;
	}
}

static void cross_checks(struct ld *ld)
{
	struct wl_workflow *wf = ld->wf;
	size_t n = wf->nsteps;
	struct id_entry *ids = xcalloc(n ? n : 1, sizeof(*ids));
	const char **names = xcalloc(n + 1, sizeof(*names));
	for (size_t i = 0; i < n; i++) {
		ids[i] = (struct id_entry){wf->steps[i].id, i};
		names[i] = wf->steps[i].id;
	}
	qsort(ids, n, sizeof(*ids), id_cmp);
	resolve_deps(ld, ids, names);
	int cycles = find_cycles(ld);
	check_inputs(ld, ids, names, cycles);
	check_policies(ld);
	free(ids);
	free(names);
}

static struct wl_workflow *load_root(struct ld *ld, const struct ynode *root)
{
	struct wl_workflow *wf = xcalloc(1, sizeof(*wf));
	ld->wf = wf;
	wf->file = xstrdup(ld->file);
	wf->timeout = WL_UNSET;
	wf->concurrency = WL_UNSET;
	wait_policy_init(&wf->wait_policy);
	wf->sentinel.no_output_timeout = WL_UNSET;
	if (!root || (root->kind == YNODE_SCALAR && root->type == YSCALAR_NULL)) {
		lerr(ld, root, "the workflow file is empty (expected a mapping with name, version, timeout and steps)");
		return wf;
	}
	if (root->kind != YNODE_MAPPING) {
		lerr(ld, root, "a workflow must be a mapping, not a %s", ynode_kind_name(root));
		return wf;
	}
	const struct ynode *steps_key = NULL, *steps_val = NULL, *bts_val = NULL;
	for (size_t i = 0; i < root->n; i++) {
		const struct ynode *k = root->keys[i], *v = root->items[i];
		const char *name = k->value;
		if (!strcmp(name, "name"))
			wf->name = get_str(ld, k, v);
		else if (!strcmp(name, "version"))
			load_version(ld, v);
		else if (!strcmp(name, "description"))
			wf->description = get_text(ld, k, v);
		else if (!strcmp(name, "timeout"))
			get_duration(ld, k, v, 1, &wf->timeout);
		else if (!strcmp(name, "concurrency")) {
			long long c;
			if (parse_int(v, &c) == 0 && c == 0)   /* roboppi starts nothing and times out */
				lerr(ld, v, "'concurrency: 0' is refused (under roboppi no step ever starts and the run "
					    "times out); omit 'concurrency' for no limit, or give a number >= 1");
			else
				get_int(ld, k, v, 1, &wf->concurrency);
		}
		else if (!strcmp(name, "context_dir")) {
			wf->context_dir = get_str(ld, k, v);
			check_path(ld, v, "context_dir", wf->context_dir);
		} else if (!strcmp(name, "env"))
			get_env(ld, k, v, &wf->env);
		else if (!strcmp(name, "shell"))
			wf->shell = get_str(ld, k, v);
		else if (!strcmp(name, "wait_policy"))
			load_policy(ld, k, v, &wf->wait_policy, "the top-level wait_policy");
		else if (!strcmp(name, "preflight"))
			load_preflight(ld, k, v);
		else if (!strcmp(name, "notify"))
			load_notify(ld, k, v);
		else if (!strcmp(name, "metrics"))
			load_metrics(ld, k, v, wf);
		else if (!strcmp(name, "history")) {
			wf->history_db = load_single(ld, k, v, HISTORY_KEYS);
			for (size_t j = 0; v && v->kind == YNODE_MAPPING && j < v->n; j++)
				if (!strcmp(v->keys[j]->value, "db"))
					check_path(ld, v->items[j], "db", wf->history_db);
		}
		else if (!strcmp(name, "redact"))
			get_regex_list(ld, k, v, &wf->redact, &wf->redact_re, &wf->nredact_re);
		else if (!strcmp(name, "workers"))
			load_workers(ld, k, v);
		else if (!strcmp(name, "sentinel"))
			load_sentinel(ld, k, v);
		else if (!strcmp(name, "create_branch"))
			get_bool(ld, k, v, &wf->create_branch);
		else if (!strcmp(name, "expected_work_branch"))
			wf->expected_work_branch = get_str(ld, k, v);
		else if (!strcmp(name, "branch_transition_step")) {
			wf->branch_transition_step = get_str(ld, k, v);
			bts_val = v;
		} else if (!strcmp(name, "steps")) {
			steps_key = k;
			steps_val = v;
		} else if (strncmp(name, "x-", 2))   /* x-*: extension keys, e.g. for anchors */
			unknown_key(ld, k, TOP_KEYS, ROBOPPI_TOP, NULL);
	}
	static const char *const required[] = {"name", "version", "timeout", "steps", NULL};
	for (size_t i = 0; required[i]; i++)
		if (!ynode_key(root, required[i]))
			lerr(ld, root, "missing required field '%s'", required[i]);
	if (steps_key) {
		load_steps(ld, steps_key, steps_val);
		cross_checks(ld);
	}
	if (wf->branch_transition_step) {
		size_t i = 0;
		while (i < wf->nsteps && strcmp(wf->steps[i].id, wf->branch_transition_step))
			i++;
		if (i == wf->nsteps)   /* roboppi's parser.ts words */
			lerr(ld, bts_val, "\"branch_transition_step\" references unknown step \"%s\"", wf->branch_transition_step);
	}
	return wf;
}

static void free_src(struct ld *ld)
{
	for (size_t i = 0; ld->src && ld->wf && i < ld->wf->nsteps; i++)
		free(ld->src[i].inputs);
	free(ld->src);
}

static struct wl_workflow *load_doc(const char *name, struct ydoc *doc, struct errlist *diags,
				    size_t errors_before, const char *path, const struct strvec *agents_files,
				    const struct strvec *inherited_agents)
{
	if (!doc) {
		errlist_sort(diags);
		return NULL;
	}
	struct ld ld = {.file = name, .diags = diags};
	struct wl_workflow *wf = load_root(&ld, ydoc_root(doc));
	free_src(&ld);
	ydoc_free(doc);
	if (wf && diags->nerrors == errors_before)
		agentcat_apply(wf, path, agents_files, inherited_agents, diags);
	errlist_sort(diags);
	if (diags->nerrors > errors_before) {
		workflow_free(wf);
		return NULL;
	}
	if (wf)
		workflow_resolve_waits(wf);   /* once per load: the runner's waits read wait_settings */
	return wf;
}

struct wl_workflow *loader_load_string(const char *name, const char *text, size_t len,
				       struct errlist *diags)
{
	size_t before = diags->nerrors;
	return load_doc(name, ydoc_load_string(name, text, len, diags), diags, before, NULL, NULL, NULL);
}

struct wl_workflow *loader_load_agents(const char *path, const struct strvec *agents_files,
				       const struct strvec *inherited_agents, struct errlist *diags)
{
	size_t before = diags->nerrors;
	return load_doc(path, ydoc_load_file(path, diags), diags, before, path, agents_files, inherited_agents);
}

struct wl_workflow *loader_load(const char *path, struct errlist *diags)
{
	return loader_load_agents(path, NULL, NULL, diags);
}

static const char *const RULESFILE_KEYS[] = {"rules", "terminal_patterns", "ignore_fields", NULL};

int loader_load_rules_file(const char *path, struct wl_wait_policy *p, struct errlist *diags)
{
	size_t before = diags->nerrors;
	struct ydoc *doc = ydoc_load_file(path, diags);
	if (!doc)
		return -1;
	struct ld ld = {.file = path, .diags = diags};
	struct wl_wait_policy got;   /* read as in a workflow, then appended to p */
	wait_policy_init(&got);
	const struct ynode *root = ydoc_root(doc);
	if (!root || root->kind != YNODE_MAPPING) {
		lerr(&ld, root, "expected a mapping with a 'rules' list");
	} else {
		for (size_t i = 0; i < root->n; i++) {
			const struct ynode *k = root->keys[i], *v = root->items[i];
			if (!strcmp(k->value, "rules")) {
				load_rules(&ld, k, v, &got, "the rules file");
			} else if (!strcmp(k->value, "terminal_patterns")) {
				got.terminal_patterns_present = 1;
				get_regex_list(&ld, k, v, &got.terminal_patterns, &got.terminal_re, &got.nterminal_re);
			} else if (!strcmp(k->value, "ignore_fields")) {
				got.ignore_fields_present = 1;
				get_strlist(&ld, k, v, &got.ignore_fields, 0);
			} else {
				unknown_key(&ld, k, RULESFILE_KEYS, NULL, "a rules file");
			}
		}
	}
	ydoc_free(doc);
	int rc = diags->nerrors > before ? -1 : 0;
	if (rc == 0) {
		if (got.nrules) {
			p->rules = xrealloc(p->rules, (p->nrules + got.nrules) * sizeof(*p->rules));
			memcpy(p->rules + p->nrules, got.rules, got.nrules * sizeof(*got.rules));
			p->nrules += got.nrules;
			got.nrules = 0;   /* moved */
		}
		p->rules_present |= got.rules_present;
		/* the compiled code moves with the strings; p's own patterns not
		 * compiled yet stay so (wait_policy_compile() does them) */
		if (p->nterminal_re == p->terminal_patterns.n && got.nterminal_re) {
			p->terminal_re = xrealloc(p->terminal_re,
						  (p->nterminal_re + got.nterminal_re) * sizeof(*p->terminal_re));
			memcpy(p->terminal_re + p->nterminal_re, got.terminal_re, got.nterminal_re * sizeof(*got.terminal_re));
			p->nterminal_re += got.nterminal_re;
			got.nterminal_re = 0;   /* moved */
		}
		for (size_t i = 0; i < got.terminal_patterns.n; i++)
			strvec_push(&p->terminal_patterns, got.terminal_patterns.v[i]);
		p->terminal_patterns_present |= got.terminal_patterns_present;
		for (size_t i = 0; i < got.ignore_fields.n; i++)
			strvec_push(&p->ignore_fields, got.ignore_fields.v[i]);
		p->ignore_fields_present |= got.ignore_fields_present;
	}
	wait_policy_release(&got);
	return rc;
}
