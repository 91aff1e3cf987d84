/*
 * workflow: the data model of a workflow file (SPEC §4), as plain data.
 *
 * Produced once by loader_load() (loader.h), validated there, then read-only
 * for the rest of the program: the executor never re-parses YAML or
 * re-validates. Every string is owned by the struct that holds it and freed
 * by workflow_free(). Positions (struct wl_pos) point into the source file
 * for messages about run-time problems ("step 'x' at demo.yaml:12:3").
 *
 * Conventions:
 *   - durations are milliseconds (int64_t); WL_UNSET (-1) means "not given";
 *   - counts/ints use WL_UNSET for "not given" as well;
 *   - enums have a *_UNSET = 0 member so a zeroed struct is "nothing given";
 *   - optional strings are NULL when absent.
 * Defaults are not applied to the as-written fields: the one resolver,
 * wait_settings_resolve(), with the one defaults table below, turns each
 * use's wait_policy (plus the workflow-level one) into a struct wait_settings
 * once per load; the wait engine (wait.h) and everything after it read only
 * those.
 */
#ifndef WAITLOOP_WORKFLOW_H
#define WAITLOOP_WORKFLOW_H
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "strvec.h"

#define WL_UNSET (-1)
/* timeout of an always-run step that sets none (docs/workflow.md) */
#define WL_ALWAYS_DEFAULT_TIMEOUT_MS 60000

struct wl_pos {
	int line, col;   /* 1-based; 0 = unknown */
};

enum wl_worker {
	WORKER_UNSET = 0,
	WORKER_CUSTOM,
	WORKER_CLAUDE_CODE,
	WORKER_CODEX_CLI,
	WORKER_OPENCODE,
};
#define WORKER_KINDS 5

enum wl_wait_mode { WAIT_MODE_UNSET = 0, WAIT_MODE_TIMEOUT_ONLY, WAIT_MODE_PROBE_AWARE };

/* The four observation classes (SPEC §4.4), and CLASS_MET for an
 * observation whose condition exited 0 (never a rule's or a classifier's
 * class). Typed between modules (classify, wait, the event bus, progress,
 * store); spelled only at the JSON/SQL/text boundary by class_name() /
 * class_parse(), from the one table in workflow.c. */
enum obs_class {
	CLASS_UNSET = 0,
	CLASS_RETRYABLE,
	CLASS_TERMINAL_FAIL,
	CLASS_PROGRESSING,
	CLASS_STALLED,
	CLASS_MET,
};

/* How a wait ended (the engine's result, wait.h; verdict, store and the
 * display get it typed, spelled only at the JSON/SQL/text boundary by
 * wait_outcome_name()/wait_outcome_parse()). */
enum wait_outcome {
	WAIT_MET,
	WAIT_TERMINAL_FAIL,
	WAIT_STALLED,
	WAIT_TIMEOUT,
	WAIT_NO_OUTPUT,
	WAIT_CANCELLED,
	WAIT_ERROR,          /* the condition, probe or classifier cannot be executed (126/127 on its
				first run): a configuration error, reported at once, never retried */
};

enum wl_on_abort { ON_ABORT_UNSET = 0, ON_ABORT_INCOMPLETE, ON_ABORT_FAIL };
enum wl_on_failure { ON_FAILURE_UNSET = 0, ON_FAILURE_ABORT, ON_FAILURE_CONTINUE, ON_FAILURE_RETRY };
enum wl_on_exhausted { ON_EXHAUSTED_UNSET = 0, ON_EXHAUSTED_ABORT, ON_EXHAUSTED_CONTINUE };

struct pattern;

/* One entry of wait_policy.rules (ordered, first match wins). */
struct wl_rule {
	char *match;          /* regex over condition/probe/guarded output, or NULL */
	struct pattern *re;   /* match compiled (wait_policy_compile()), shared by every copy; NULL without match */
	char *field;          /* dot path into the probe JSON ("a.b[*].c"), or NULL */
	char *equals;         /* value the field must equal; NULL = field exists */
	int after;            /* WL_UNSET, or N: takes effect after N matches in a row */
	enum obs_class class; /* required */
	char *fingerprint;    /* template with {1}.. and {field.path}, or NULL */
	char *hint;           /* optional text for fix.md ("check the chart name") */
	struct wl_pos pos;
};

struct wl_wait_policy {
	int present;                  /* the key was written */
	enum wl_wait_mode mode;
	int64_t max_wait;             /* ms */
	int max_wait_set;             /* resolved: written (use or workflow level), not the enclosing timeout */
	int64_t interval;             /* ms */
	double backoff_factor;        /* 0 = unset */
	int64_t backoff_max_interval; /* ms */
	char *target;
	char *probe;                  /* shell command */
	int64_t probe_timeout;        /* ms */
	char *classify;               /* shell command */
	char *builtin;                /* "kubernetes" or NULL */
	struct wl_rule *rules;
	size_t nrules;
	int rules_present;            /* rules: was written (even empty) */
	struct strvec terminal_patterns;
	struct pattern **terminal_re; /* terminal_patterns compiled (wait_policy_compile()), shared by every copy */
	size_t nterminal_re;          /* == terminal_patterns.n once compiled */
	int terminal_patterns_present;
	int stall_threshold;
	int stall_threshold_set;      /* written by the user (use or workflow level), not the default */
	int64_t progress_deadline;    /* ms: longest InProgress of an object without its own deadline */
	struct strvec ignore_fields;
	int ignore_fields_present;
	int64_t no_output_timeout;    /* ms */
	enum wl_on_abort on_terminal;
	enum wl_on_abort on_stall;
	int64_t grace;                /* ms */
	int64_t child_grace;          /* ms: stop grace of the wait's own children (condition, probe, classify) */
	char *fingerprint_prefix;
	struct wl_pos pos;
};

/*
 * A wait_policy with every default applied (wait_settings_resolve()): the
 * engine's input (wait.h). Nothing is unset but the optional durations
 * backoff_max_interval and no_output_timeout (WL_UNSET = off) and the optional
 * commands/strings (NULL = none). p.present keeps whether a policy was
 * written (the use or the workflow level). Built once per workflow load
 * (workflow_resolve_waits(): wl_step.wait_settings, wl_check.wait_settings)
 * and once by `waitloop wait`; owns its strings, and shares (pattern_ref) the
 * regexes compiled once in the policies it was resolved from.
 */
struct wait_settings {
	struct wl_wait_policy p;
};

/* Defaults of SPEC §4.4 when neither the use nor the workflow sets a field:
 * the one defaults table, applied only by wait_settings_resolve(). */
#define WAIT_DEFAULT_MAX_WAIT_MS 600000   /* `waitloop wait` without --max-wait (no enclosing timeout) */
#define WAIT_DEFAULT_INTERVAL_MS 10000
#define WAIT_DEFAULT_PROBE_TIMEOUT_MS 5000
#define WAIT_DEFAULT_STALL_THRESHOLD 6
#define WAIT_DEFAULT_PROGRESS_DEADLINE_MS (10 * 60 * 1000)
#define WAIT_DEFAULT_GRACE_MS 5000
/* child_grace: the policy's grace, at most this (a wait's condition or probe
 * is stopped sooner than the work it guards), or the second when grace is 0 */
#define WAIT_DEFAULT_CHILD_GRACE_CAP_MS 2000
#define WAIT_DEFAULT_CHILD_GRACE_NO_GRACE_MS 1000
/* a completion_check without timeout: the step's timeout / 4, at least this (workflow_check_timeout()) */
#define WAIT_CHECK_TIMEOUT_MIN_MS 1000

/* roboppi Sentinel (docs/features/sentinel.md of roboppi): a runner-owned
 * guard of a step or check, active only when the workflow's
 * `sentinel.enabled` is true. See sentinel.h. */
enum wl_stall_action { STALL_ACTION_UNSET = 0, STALL_ACTION_INTERRUPT, STALL_ACTION_FAIL, STALL_ACTION_IGNORE };
enum wl_error_class {
	ERROR_CLASS_UNSET = 0,
	ERROR_CLASS_RETRYABLE_TRANSIENT,
	ERROR_CLASS_RETRYABLE_RATE_LIMIT,
	ERROR_CLASS_NON_RETRYABLE,
	ERROR_CLASS_FATAL,
};
enum wl_activity { ACTIVITY_UNSET = 0, ACTIVITY_WORKER_EVENT, ACTIVITY_ANY_EVENT, ACTIVITY_PROBE_ONLY };
enum wl_probe_error { PROBE_ERROR_UNSET = 0, PROBE_ERROR_IGNORE, PROBE_ERROR_STALL, PROBE_ERROR_TERMINAL };

struct wl_stall_action_cfg {
	int present;
	enum wl_stall_action action;      /* default interrupt */
	enum wl_error_class error_class;  /* default: interrupt -> RETRYABLE_TRANSIENT, fail -> NON_RETRYABLE */
	struct strvec fingerprint_prefix;
	int as_incomplete;                /* completion_check only: the trigger makes the iteration INCOMPLETE */
};

struct wl_stall {
	int present;
	int enabled;                      /* WL_UNSET: inherit */
	int64_t no_output_timeout;        /* ms, WL_UNSET */
	enum wl_activity activity_source;
	int probe_present;
	char *probe_command;
	int64_t probe_interval;           /* ms */
	int64_t probe_timeout;            /* ms, WL_UNSET = 5 s */
	int stall_threshold;              /* identical digests in a row */
	int capture_stderr;
	int require_zero_exit;
	enum wl_probe_error on_probe_error;
	int probe_error_threshold;        /* WL_UNSET = 3 */
	struct wl_stall_action_cfg on_stall, on_terminal;
	struct wl_pos pos;
};

struct wl_sentinel {
	int present;
	int enabled;
	int64_t no_output_timeout;        /* defaults.no_output_timeout, ms, WL_UNSET */
	enum wl_activity activity_source; /* defaults.activity_source */
	char *events_file;                /* telemetry.events_file (accepted; waitloop writes _workflow/events.jsonl) */
	struct wl_pos pos;
};

struct wl_output {
	char *name;
	char *path;
	int required;     /* required: true -> a missing output fails the step (default: skipped, warning) */
	struct wl_pos pos;
};

struct wl_input {
	char *from;       /* step id */
	char *artifact;   /* output name of that step */
	char *as;         /* destination path in the workspace (default: artifact) */
	struct wl_pos pos;
};

struct wl_retry {
	int present;
	int limit;                    /* WL_UNSET = 0 retries */
	int64_t backoff_duration;     /* ms, first delay */
	double backoff_factor;        /* 0 = unset (2) */
	int64_t backoff_max_duration; /* ms, cap of each delay (backoff.cap; old name backoff.max_duration) */
	int64_t max_duration;         /* ms, total time of the step across its attempts (WL_UNSET = none) */
	int *on_exit_codes;           /* retry only these codes (none = any failure) */
	size_t n_on_exit_codes;
	int on_timeout_retry;         /* retry.on_timeout: retry */
	struct wl_pos pos;
};

/* roboppi agent catalog fields of a step or completion_check (src/agentcat.h):
 * `agent:` names a catalog entry; model/variant/defaultArgs go to the CLI. */
struct wl_agent_ref {
	char *agent;                  /* catalog entry name, or NULL */
	struct wl_pos agent_pos;
	char *model;                  /* --model M for the agent CLI, or NULL */
	char *variant;                /* --variant V (OPENCODE), or NULL */
	struct strvec default_args;   /* inserted after the command prefix */
};

struct wl_check {
	int present;
	struct wl_agent_ref ag;
	enum wl_worker worker;
	char *instructions;
	char *instructions_file;
	struct strvec capabilities;
	int64_t timeout;              /* ms; default step timeout / 4, at least 1 s */
	char *decision_file;
	char *fix_file;
	char *fix_template;
	struct wl_wait_policy wait_policy;
	struct wait_settings *wait_settings;  /* wait_policy resolved (workflow_resolve_waits); NULL
						 without a wait_policy (the check is not guarded) */
	struct wl_stall stall;        /* roboppi completion_check.stall */
	struct wl_pos pos;
};

struct wl_stage {
	int stage;
	char *append_instructions;
};

struct wl_convergence {
	int present;
	int enabled;                  /* WL_UNSET = on when the block is present */
	int stall_threshold;          /* default 2 */
	int max_stage;                /* default 3 */
	int fail_on_max_stage;        /* default 1 */
	struct wl_stage *stages;
	size_t nstages;
	struct strvec allowed_paths;
	struct strvec ignored_paths;
	char *diff_base_ref;
	char *diff_base_ref_file;     /* roboppi: the ref is the file's first line (workspace-relative) */
	int max_changed_files;        /* WL_UNSET = no budget */
	int no_change_limit;          /* WL_UNSET = off */
	struct wl_pos pos;
};

struct wl_step {
	char *id;
	struct wl_pos pos;
	char *description;
	struct wl_agent_ref ag;
	enum wl_worker worker;
	char *instructions;
	char *instructions_file;
	struct strvec capabilities;
	char *workspace;
	struct strvec depends_on;     /* as written */
	size_t *deps;                 /* resolved indices into workflow.steps */
	size_t ndeps;
	struct wl_input *inputs;
	size_t ninputs;
	struct wl_output *outputs;
	size_t noutputs;
	struct strvec env;            /* "NAME=VALUE" */
	int64_t timeout;              /* ms per attempt */
	enum wl_on_failure on_failure;
	int max_retries;
	struct wl_retry retry;
	int is_wait;                  /* wait: present -> wait step */
	char *wait_condition;
	char *wait_target;
	struct wl_wait_policy wait_policy;
	struct wait_settings *wait_settings;  /* wait_policy resolved (workflow_resolve_waits): the wait
						 step's (target = wait.target) or the worker's guard; NULL for a
						 worker without a wait_policy (1000 steps: 0.5 MB less) */
	struct wl_check check;
	int max_iterations;
	enum wl_on_exhausted on_iterations_exhausted;
	struct wl_convergence convergence;
	int alert_after_failures;
	struct wl_stall stall;        /* roboppi step stall (Sentinel guard) */
	char *subworkflow;            /* roboppi `workflow:` child file (relative to this file), or NULL */
	struct wl_input *exports;     /* child artifacts copied into <context>/<step>/<as> */
	size_t nexports;
	int exports_replace;          /* WL_UNSET: replace with a completion_check, else merge */
	int always;                   /* always: true -> runs after failure, timeout and cancel (own timeout) */
};

enum wl_preflight_kind {
	PREFLIGHT_COMMANDS,   /* require_commands */
	PREFLIGHT_ENV,        /* require_env */
	PREFLIGHT_FILES,      /* require_files */
	PREFLIGHT_CHECK,      /* name + command */
};

struct wl_preflight {
	enum wl_preflight_kind kind;
	struct strvec items;          /* for the require_* kinds */
	char *name;
	char *command;
	int64_t timeout;              /* ms */
	char *fingerprint;
	struct wl_pos pos;
};

enum wl_notify_type { NOTIFY_UNSET = 0, NOTIFY_COMMAND, NOTIFY_FILE };

struct wl_notify_target {
	char *name;
	enum wl_notify_type type;
	char *command;
	char *path;
	int64_t timeout;              /* ms, command targets */
	struct wl_pos pos;
};

struct wl_notify {
	int present;
	struct wl_notify_target *targets;
	size_t ntargets;
	struct strvec events;         /* early_abort, iteration_finished, alert, run_started, run_finished */
};

struct wl_worker_cmd {
	int present;
	struct strvec command;        /* argv prefix; the prompt is appended */
};

struct wl_workflow {
	char *file;                   /* path as given to the loader */
	char *name;
	char *version;
	char *description;
	int64_t timeout;              /* ms, required */
	int concurrency;              /* WL_UNSET = unlimited */
	char *context_dir;            /* default "context" */
	struct strvec env;            /* "NAME=VALUE" */
	char *shell;                  /* default "bash" */
	struct wl_wait_policy wait_policy;   /* defaults for every use */
	struct wait_settings *wait_defaults; /* wait_policy resolved for a use without one of its own:
						the stop grace of an unguarded child (workflow_resolve_waits) */
	struct wl_sentinel sentinel;         /* roboppi Sentinel */
	int create_branch;                   /* roboppi create_branch (branchctx.h) */
	char *expected_work_branch;          /* roboppi expected_work_branch, or NULL */
	char *branch_transition_step;        /* roboppi branch_transition_step (a step id), or NULL */
	struct wl_preflight *preflight;
	size_t npreflight;
	struct wl_notify notify;
	char *metrics_file;
	int64_t metrics_refresh;          /* ms; 0 = default (15 s) */
	char *history_db;
	struct strvec redact;         /* extra secret patterns as written */
	struct pattern **redact_re;   /* redact compiled once by the loader, shared with the run's
					 redactor (redactor_new_shared) */
	size_t nredact_re;            /* == redact.n once compiled */
	struct wl_worker_cmd workers[WORKER_KINDS];  /* indexed by enum wl_worker */
	struct strvec agent_catalogs; /* absolute paths of the agent catalogs found (agentcat.h) */
	struct wl_step *steps;        /* in file order */
	size_t nsteps;
};

void workflow_free(struct wl_workflow *wf);

/* Name tables (for messages and JSON); the *_parse functions return -1 when unknown. */
const char *worker_name(enum wl_worker w);
int worker_parse(const char *s, enum wl_worker *out);
/* "retryable", "terminal_fail", "progressing", "stalled", "met"; "" for CLASS_UNSET. */
const char *class_name(enum obs_class c);
/* Accepts the four classes and roboppi's probe values ("terminal" = terminal_fail); not "met". */
int class_parse(const char *s, enum obs_class *out);
/* An observation's class as logged (wait-probe.log, events): the four and "met". */
int obs_class_parse(const char *s, enum obs_class *out);
/* The one spelling of wait outcomes: "met", "terminal_fail", "stalled",
 * "timeout", "no_output", "cancelled", "error". parse: 0, or -1 if unknown. */
const char *wait_outcome_name(enum wait_outcome o);
int wait_outcome_parse(const char *s, enum wait_outcome *out);
/* terminal_fail, stalled and no_output end a wait early (early_abort). */
int wait_outcome_is_early_abort(enum wait_outcome o);

/* A policy with every field unset (present = 0). */
void wait_policy_init(struct wl_wait_policy *p);
/*
 * The resolver: out = use as written, every unset field filled from workflow
 * (the workflow-level policy, may be NULL), then from the defaults table
 * above; rules/terminal_patterns/ignore_fields are taken from workflow only
 * when use did not write them. fallback_max_wait is the enclosing timeout (ms)
 * used when max_wait is unset. out owns copies (wait_settings_release()).
 * out->p.present = use->present || workflow->present.
 */
void wait_settings_resolve(struct wait_settings *out, const struct wl_wait_policy *use,
			   const struct wl_wait_policy *workflow, int64_t fallback_max_wait);
void wait_settings_release(struct wait_settings *s);
/*
 * Compile the policy's regexes that are not compiled yet (rules[].match,
 * terminal_patterns): once per workflow load (the loader, at each pattern, for
 * FILE:LINE:COL errors) or once per `waitloop wait`. Copies and resolved
 * settings share the compiled code (pattern_ref); the classifier only uses
 * it. 0, or -1 + err naming the pattern ("terminal_patterns[1]: ...").
 */
int wait_policy_compile(struct wl_wait_policy *p, struct wl_err *err);
/* 1 when a policy has something to observe besides the condition: probe,
 * classify, builtin, rules or terminal_patterns (probe_aware needs one). Ask
 * the resolved policy (wait_settings.p): what it inherits counts. */
int wait_policy_observes(const struct wl_wait_policy *p);
/* The timeout of a step's completion_check: its own, else the step's timeout
 * (else the workflow's) / 4, at least WAIT_CHECK_TIMEOUT_MIN_MS. */
int64_t workflow_check_timeout(const struct wl_workflow *wf, const struct wl_step *s);
/* Resolve every step's and check's wait_policy once (the loader calls it on a
 * valid workflow): max_wait falls back to the step's timeout (a check's: its
 * own, else the step timeout / 4, at least 1 s), then the workflow's. */
void workflow_resolve_waits(struct wl_workflow *wf);
void wait_policy_copy(struct wl_wait_policy *dst, const struct wl_wait_policy *src);
void wait_policy_release(struct wl_wait_policy *p);
void stall_init(struct wl_stall *st);
void stall_release(struct wl_stall *st);

#endif
