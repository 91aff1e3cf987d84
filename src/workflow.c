#include "workflow.h"

#include <stdlib.h>
#include <string.h>

#include "pattern.h"
#include "xalloc.h"

static const char *const worker_names[WORKER_KINDS] = {
	[WORKER_UNSET] = "",
	[WORKER_CUSTOM] = "CUSTOM",
	[WORKER_CLAUDE_CODE] = "CLAUDE_CODE",
	[WORKER_CODEX_CLI] = "CODEX_CLI",
	[WORKER_OPENCODE] = "OPENCODE",
};

const char *worker_name(enum wl_worker w)
{
	return (unsigned)w < WORKER_KINDS ? worker_names[w] : "";
}

int worker_parse(const char *s, enum wl_worker *out)
{
	for (int i = 1; i < WORKER_KINDS; i++)
		if (!strcmp(s, worker_names[i])) {
			*out = (enum wl_worker)i;
			return 0;
		}
	return -1;
}

/* The one spelling of enum obs_class. */
static const char *const class_names[] = {
	[CLASS_UNSET] = "",		[CLASS_RETRYABLE] = "retryable", [CLASS_TERMINAL_FAIL] = "terminal_fail",
	[CLASS_PROGRESSING] = "progressing", [CLASS_STALLED] = "stalled",	 [CLASS_MET] = "met",
};
#define NCLASS_NAMES (sizeof(class_names) / sizeof(class_names[0]))

const char *class_name(enum obs_class c)
{
	return (unsigned)c < NCLASS_NAMES ? class_names[c] : "";
}

static int class_lookup(const char *s, enum obs_class last, enum obs_class *out)
{
	for (unsigned i = CLASS_RETRYABLE; s && i <= (unsigned)last; i++)
		if (!strcmp(s, class_names[i])) {
			*out = (enum obs_class)i;
			return 0;
		}
	return -1;
}

int class_parse(const char *s, enum obs_class *out)
{
	if (s && !strcmp(s, "terminal")) {   /* roboppi's probe value */
		*out = CLASS_TERMINAL_FAIL;
		return 0;
	}
	return class_lookup(s, CLASS_STALLED, out);
}

int obs_class_parse(const char *s, enum obs_class *out)
{
	return class_lookup(s, CLASS_MET, out);
}

static const char *const outcome_names[] = {
	[WAIT_MET] = "met",		  [WAIT_TERMINAL_FAIL] = "terminal_fail", [WAIT_STALLED] = "stalled",
	[WAIT_TIMEOUT] = "timeout",	  [WAIT_NO_OUTPUT] = "no_output",	  [WAIT_CANCELLED] = "cancelled",
	[WAIT_ERROR] = "error",
};

const char *wait_outcome_name(enum wait_outcome o)
{
	return (unsigned)o < sizeof(outcome_names) / sizeof(outcome_names[0]) ? outcome_names[o] : "?";
}

int wait_outcome_parse(const char *s, enum wait_outcome *out)
{
	for (size_t i = 0; s && i < sizeof(outcome_names) / sizeof(outcome_names[0]); i++)
		if (!strcmp(s, outcome_names[i])) {
			*out = (enum wait_outcome)i;
			return 0;
		}
	return -1;
}

int wait_outcome_is_early_abort(enum wait_outcome o)
{
	return o == WAIT_TERMINAL_FAIL || o == WAIT_STALLED || o == WAIT_NO_OUTPUT;
}

void wait_policy_init(struct wl_wait_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->max_wait = p->interval = p->backoff_max_interval = WL_UNSET;
	p->probe_timeout = p->no_output_timeout = p->grace = p->child_grace = WL_UNSET;
	p->stall_threshold = WL_UNSET;
	p->progress_deadline = WL_UNSET;
}

static void rules_copy(struct wl_wait_policy *dst, const struct wl_wait_policy *src)
{
	dst->nrules = src->nrules;
	dst->rules = src->nrules ? xcalloc(src->nrules, sizeof(*dst->rules)) : NULL;
	for (size_t i = 0; i < src->nrules; i++) {
		const struct wl_rule *r = &src->rules[i];
		struct wl_rule *d = &dst->rules[i];
		*d = *r;
		d->match = xstrdup(r->match);
		d->re = pattern_ref(r->re);
		d->field = xstrdup(r->field);
		d->equals = xstrdup(r->equals);
		d->fingerprint = xstrdup(r->fingerprint);
		d->hint = xstrdup(r->hint);
	}
}

/* Appends src's terminal_patterns (and their compiled code, shared) to dst's. */
static void terminal_copy(struct wl_wait_policy *dst, const struct wl_wait_policy *src)
{
	int compiled = dst->nterminal_re == dst->terminal_patterns.n && src->nterminal_re == src->terminal_patterns.n;
	strvec_copy(&dst->terminal_patterns, &src->terminal_patterns);
	if (!compiled || !src->nterminal_re)
		return;
	dst->terminal_re = xrealloc(dst->terminal_re, (dst->nterminal_re + src->nterminal_re) * sizeof(*dst->terminal_re));
	for (size_t i = 0; i < src->nterminal_re; i++)
		dst->terminal_re[dst->nterminal_re++] = pattern_ref(src->terminal_re[i]);
}

void wait_policy_copy(struct wl_wait_policy *dst, const struct wl_wait_policy *src)
{
	*dst = *src;
	dst->target = xstrdup(src->target);
	dst->probe = xstrdup(src->probe);
	dst->classify = xstrdup(src->classify);
	dst->builtin = xstrdup(src->builtin);
	dst->fingerprint_prefix = xstrdup(src->fingerprint_prefix);
	memset(&dst->terminal_patterns, 0, sizeof(dst->terminal_patterns));
	memset(&dst->ignore_fields, 0, sizeof(dst->ignore_fields));
	dst->terminal_re = NULL;
	dst->nterminal_re = 0;
	terminal_copy(dst, src);
	strvec_copy(&dst->ignore_fields, &src->ignore_fields);
	rules_copy(dst, src);
}

#define FILL_INT(f, d)                 \
	if (dst->f == WL_UNSET)        \
		dst->f = defaults && defaults->f != WL_UNSET ? defaults->f : (d);
#define FILL_STR(f)                    \
	if (!dst->f && defaults && defaults->f) \
		dst->f = xstrdup(defaults->f);

void wait_settings_resolve(struct wait_settings *out, const struct wl_wait_policy *use,
			   const struct wl_wait_policy *defaults, int64_t fallback_max_wait)
{
	struct wl_wait_policy *dst = &out->p;
	wait_policy_copy(dst, use);
	if (defaults && !defaults->present)
		defaults = NULL;
	if (dst->mode == WAIT_MODE_UNSET)
		dst->mode = defaults && defaults->mode ? defaults->mode : WAIT_MODE_TIMEOUT_ONLY;
	dst->max_wait_set = dst->max_wait != WL_UNSET || (defaults && defaults->max_wait != WL_UNSET);
	FILL_INT(max_wait, fallback_max_wait)
	FILL_INT(interval, WAIT_DEFAULT_INTERVAL_MS)
	FILL_INT(backoff_max_interval, WL_UNSET)
	FILL_INT(probe_timeout, WAIT_DEFAULT_PROBE_TIMEOUT_MS)
	if (dst->stall_threshold != WL_UNSET || (defaults && defaults->stall_threshold != WL_UNSET))
		dst->stall_threshold_set = 1;
	FILL_INT(stall_threshold, WAIT_DEFAULT_STALL_THRESHOLD)
	FILL_INT(progress_deadline, WAIT_DEFAULT_PROGRESS_DEADLINE_MS)
	FILL_INT(no_output_timeout, WL_UNSET)
	FILL_INT(grace, WAIT_DEFAULT_GRACE_MS)
	FILL_INT(child_grace, dst->grace <= 0 ? WAIT_DEFAULT_CHILD_GRACE_NO_GRACE_MS
			      : dst->grace < WAIT_DEFAULT_CHILD_GRACE_CAP_MS ? dst->grace : WAIT_DEFAULT_CHILD_GRACE_CAP_MS)
	if (dst->backoff_factor == 0 && defaults)
		dst->backoff_factor = defaults->backoff_factor;
	FILL_STR(target)
	FILL_STR(probe)
	FILL_STR(classify)
	FILL_STR(builtin)
	FILL_STR(fingerprint_prefix)
	if (dst->on_terminal == ON_ABORT_UNSET && defaults)
		dst->on_terminal = defaults->on_terminal;
	if (dst->on_stall == ON_ABORT_UNSET && defaults)
		dst->on_stall = defaults->on_stall;
	if (defaults && !dst->rules_present && defaults->nrules) {
		rules_copy(dst, defaults);
		dst->rules_present = 1;
	}
	if (defaults && !dst->terminal_patterns_present) {
		terminal_copy(dst, defaults);
		dst->terminal_patterns_present = defaults->terminal_patterns_present;
	}
	if (defaults && !dst->ignore_fields_present) {
		strvec_copy(&dst->ignore_fields, &defaults->ignore_fields);
		dst->ignore_fields_present = defaults->ignore_fields_present;
	}
	dst->present = use->present || defaults;
}

int wait_policy_compile(struct wl_wait_policy *p, struct wl_err *err)
{
	if (p->nterminal_re < p->terminal_patterns.n) {
		p->terminal_re = xrealloc(p->terminal_re, p->terminal_patterns.n * sizeof(*p->terminal_re));
		for (size_t i = p->nterminal_re; i < p->terminal_patterns.n; i++) {
			p->terminal_re[i] = pattern_new(p->terminal_patterns.v[i], err);
			if (!p->terminal_re[i])
				return err_prefix(err, "terminal_patterns[%zu]", i);
			p->nterminal_re = i + 1;
		}
	}
	for (size_t i = 0; i < p->nrules; i++) {
		struct wl_rule *r = &p->rules[i];
		if (r->match && !r->re && !(r->re = pattern_new(r->match, err)))
			return err_prefix(err, "rules[%zu].match", i);
	}
	return 0;
}

int wait_policy_observes(const struct wl_wait_policy *p)
{
	return p->probe || p->classify || p->builtin || p->nrules || p->terminal_patterns.n;
}

int64_t workflow_check_timeout(const struct wl_workflow *wf, const struct wl_step *s)
{
	if (s->check.timeout != WL_UNSET)
		return s->check.timeout;
	int64_t base = s->timeout != WL_UNSET ? s->timeout : wf->timeout;
	return base / 4 < WAIT_CHECK_TIMEOUT_MIN_MS ? WAIT_CHECK_TIMEOUT_MIN_MS : base / 4;
}

void wait_settings_release(struct wait_settings *s)
{
	wait_policy_release(&s->p);
	wait_policy_init(&s->p);
}

static void settings_free(struct wait_settings **ws)
{
	if (*ws) {
		wait_settings_release(*ws);
		free(*ws);
		*ws = NULL;
	}
}

/* A use's settings, resolved only when it has a wait (most steps have none). */
static void resolve_use(struct wait_settings **out, int has_wait, const struct wl_wait_policy *use,
			const struct wl_wait_policy *wf_policy, int64_t fallback)
{
	settings_free(out);
	if (!has_wait)
		return;
	*out = xcalloc(1, sizeof(**out));
	wait_settings_resolve(*out, use, wf_policy, fallback);
}

void workflow_resolve_waits(struct wl_workflow *wf)
{
	struct wl_wait_policy none;
	wait_policy_init(&none);
	resolve_use(&wf->wait_defaults, 1, &none, &wf->wait_policy, wf->timeout);
	for (size_t i = 0; i < wf->nsteps; i++) {
		struct wl_step *s = &wf->steps[i];
		int64_t step_timeout = s->timeout != WL_UNSET ? s->timeout : wf->timeout;
		/* a worker's guard: the attempt's timeout when positive; a wait step: the step's */
		int64_t fallback = s->is_wait ? step_timeout : s->timeout > 0 ? s->timeout : wf->timeout;
		resolve_use(&s->wait_settings, s->is_wait || s->wait_policy.present, &s->wait_policy, &wf->wait_policy,
			    fallback);
		if (s->is_wait && s->wait_target) {
			free(s->wait_settings->p.target);
			s->wait_settings->p.target = xstrdup(s->wait_target);
		}
		int64_t check_timeout = workflow_check_timeout(wf, s);
		resolve_use(&s->check.wait_settings, s->check.present && s->check.wait_policy.present,
			    &s->check.wait_policy, &wf->wait_policy, check_timeout > 0 ? check_timeout : wf->timeout);
	}
}

void wait_policy_release(struct wl_wait_policy *p)
{
	free(p->target);
	free(p->probe);
	free(p->classify);
	free(p->builtin);
	free(p->fingerprint_prefix);
	for (size_t i = 0; i < p->nterminal_re; i++)
		pattern_unref(p->terminal_re[i]);
	free(p->terminal_re);
	for (size_t i = 0; i < p->nrules; i++) {
		pattern_unref(p->rules[i].re);
		free(p->rules[i].match);
		free(p->rules[i].field);
		free(p->rules[i].equals);
		free(p->rules[i].fingerprint);
		free(p->rules[i].hint);
	}
	free(p->rules);
	strvec_clear(&p->terminal_patterns);
	strvec_clear(&p->ignore_fields);
	wait_policy_init(p);
}

void stall_init(struct wl_stall *st)
{
	memset(st, 0, sizeof(*st));
	st->enabled = WL_UNSET;
	st->no_output_timeout = WL_UNSET;
	st->probe_interval = WL_UNSET;
	st->probe_timeout = WL_UNSET;
	st->stall_threshold = WL_UNSET;
	st->probe_error_threshold = WL_UNSET;
}

void stall_release(struct wl_stall *st)
{
	free(st->probe_command);
	strvec_clear(&st->on_stall.fingerprint_prefix);
	strvec_clear(&st->on_terminal.fingerprint_prefix);
	stall_init(st);
}

static void check_release(struct wl_check *c)
{
	stall_release(&c->stall);
	free(c->instructions);
	free(c->instructions_file);
	strvec_clear(&c->capabilities);
	free(c->decision_file);
	free(c->fix_file);
	free(c->fix_template);
	wait_policy_release(&c->wait_policy);
	settings_free(&c->wait_settings);
}

static void convergence_release(struct wl_convergence *c)
{
	for (size_t i = 0; i < c->nstages; i++)
		free(c->stages[i].append_instructions);
	free(c->stages);
	strvec_clear(&c->allowed_paths);
	strvec_clear(&c->ignored_paths);
	free(c->diff_base_ref);
	free(c->diff_base_ref_file);
}

static void agent_ref_release(struct wl_agent_ref *a)
{
	free(a->agent);
	free(a->model);
	free(a->variant);
	strvec_clear(&a->default_args);
}

/* A step's inputs or exports (both struct wl_input). */
static void inputs_free(struct wl_input *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].from);
		free(v[i].artifact);
		free(v[i].as);
	}
	free(v);
}

static void step_release(struct wl_step *s)
{
	free(s->id);
	free(s->description);
	free(s->instructions);
	free(s->instructions_file);
	strvec_clear(&s->capabilities);
	free(s->workspace);
	strvec_clear(&s->depends_on);
	free(s->deps);
	inputs_free(s->inputs, s->ninputs);
	for (size_t i = 0; i < s->noutputs; i++) {
		free(s->outputs[i].name);
		free(s->outputs[i].path);
	}
	free(s->outputs);
	strvec_clear(&s->env);
	free(s->retry.on_exit_codes);
	free(s->wait_condition);
	free(s->wait_target);
	wait_policy_release(&s->wait_policy);
	settings_free(&s->wait_settings);
	check_release(&s->check);
	agent_ref_release(&s->ag);
	agent_ref_release(&s->check.ag);
	convergence_release(&s->convergence);
	stall_release(&s->stall);
	free(s->subworkflow);
	inputs_free(s->exports, s->nexports);
}

void workflow_free(struct wl_workflow *wf)
{
	if (!wf)
		return;
	free(wf->file);
	free(wf->name);
	free(wf->version);
	free(wf->description);
	free(wf->context_dir);
	strvec_clear(&wf->env);
	free(wf->shell);
	wait_policy_release(&wf->wait_policy);
	settings_free(&wf->wait_defaults);
	free(wf->sentinel.events_file);
	free(wf->expected_work_branch);
	free(wf->branch_transition_step);
	strvec_clear(&wf->agent_catalogs);
	for (size_t i = 0; i < wf->npreflight; i++) {
		struct wl_preflight *p = &wf->preflight[i];
		strvec_clear(&p->items);
		free(p->name);
		free(p->command);
		free(p->fingerprint);
	}
	free(wf->preflight);
	for (size_t i = 0; i < wf->notify.ntargets; i++) {
		struct wl_notify_target *t = &wf->notify.targets[i];
		free(t->name);
		free(t->command);
		free(t->path);
	}
	free(wf->notify.targets);
	strvec_clear(&wf->notify.events);
	free(wf->metrics_file);
	free(wf->history_db);
	for (size_t i = 0; i < wf->nredact_re; i++)
		pattern_unref(wf->redact_re[i]);
	free(wf->redact_re);
	strvec_clear(&wf->redact);
	for (int i = 0; i < WORKER_KINDS; i++)
		strvec_clear(&wf->workers[i].command);
	for (size_t i = 0; i < wf->nsteps; i++)
		step_release(&wf->steps[i]);
	free(wf->steps);
	free(wf);
}
