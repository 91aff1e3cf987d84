/*
 * waitloop wait (SPEC §5): the retry_with_probe primitive — one wait_policy
 * engine run from the command line, for verify scripts.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "fsutil.h"
#include "loop.h"
#include "redact.h"
#include "rulesfile.h"
#include "strbuf.h"
#include "timeutil.h"
#include "wait.h"
#include "workflow.h"
#include "xalloc.h"

extern char **environ;

static const char wait_usage[] =
	"usage: waitloop wait [OPTIONS] --condition 'COMMAND'\n"
	"       waitloop wait [OPTIONS] -- COMMAND [ARG...]\n"
	"\n"
	"Run the condition every interval until it exits 0. With a probe, rules, a\n"
	"builtin set or terminal patterns (probe_aware mode), end the wait early when\n"
	"what is observed shows that waiting is pointless.\n"
	"\n"
	"Options:\n"
	"  --condition CMD           shell command (bash -c) that exits 0 when done\n"
	"  --probe CMD               prints ONE JSON object describing the state\n"
	"  --classify CMD            external classifier (JSON on stdin)\n"
	"  --mode MODE               timeout_only | probe_aware (default: probe_aware when\n"
	"                            anything to observe is given, else timeout_only)\n"
	"  --max-wait DUR            budget of the wait (default 600s)\n"
	"  --interval DUR            observation period (default 10s)\n"
	"  --backoff-factor F        grow the interval by F after each observation\n"
	"  --max-interval DUR        cap of the grown interval\n"
	"  --probe-timeout DUR       (default 5s)\n"
	"  --stall-threshold N       observations without progress -> stalled (default 6;\n"
	"                            without a probe only when given)\n"
	"  --progress-deadline DUR   longest InProgress of an object without a deadline\n"
	"                            of its own (builtin kubernetes; default 10m)\n"
	"  --terminal-pattern RE     terminal_fail when RE matches (repeatable)\n"
	"  --rules FILE.yaml         a YAML file with a 'rules:' list (workflow format)\n"
	"  --ignore-field PATH       left out of the progress digest (repeatable)\n"
	"  --builtin kubernetes      the built-in Kubernetes rule set\n"
	"  --target NAME             what is waited for (e.g. crd/x.example.io)\n"
	"  --fingerprint-prefix P    prefix of every fingerprint\n"
	"  --check-id ID             (default $WAITLOOP_CHECK_ID, else the target)\n"
	"  --phase NAME              wait | step | completion_check | standalone\n"
	"  --out DIR                 artifacts (default $WAITLOOP_STEP_DIR, else\n"
	"                            ./.waitloop/wait/<target>)\n"
	"  --quiet                   no summary line\n"
	"\n"
	"Durations: 200ms, 10s, 5m, 1h30m. Patterns: PCRE2 (POSIX ERE compatible), (?i) for case-insensitive.\n"
	"Writes wait-probe.log and, unless met, wait-failure.json.\n"
	"\n"
	"Exit codes: 0 met, 1 terminal_fail, 3 stalled, 124 timeout, 2 usage error or\n"
	"a probe that cannot run (probe-broken),\n"
	"130/143 interrupted.\n";

struct run {
	int done;
	int signo;
	struct wait *w;
	enum wait_outcome outcome;
	int probe_broken;
	char *summary;
	int quiet;
};

static void on_done(void *arg, const struct wait_result *res)
{
	struct run *r = arg;
	r->done = 1;
	r->w = NULL;
	r->outcome = res->outcome;
	r->probe_broken = res->probe_broken;
	struct strbuf sb = STRBUF_INIT;
	strbuf_addf(&sb, "waitloop wait: %s after %d observation%s (%.1fs)", wait_outcome_name(res->outcome),
		    res->observations, res->observations == 1 ? "" : "s", res->elapsed_s);
	for (size_t i = 0; i < res->fingerprints.n; i++)
		strbuf_addf(&sb, "%s%s", i ? ", " : ": ", res->fingerprints.v[i]);
	if (res->failure_file)
		strbuf_addf(&sb, " (%s)", res->failure_file);
	if (res->probe_broken && res->reasons.n)
		strbuf_addf(&sb, "\nwaitloop: error: %s", res->reasons.v[0]);
	r->summary = strbuf_detach(&sb);
}

static void on_signal(void *arg, int signo)
{
	struct run *r = arg;
	if (!r->signo)
		r->signo = signo;
	if (r->w)
		wait_cancel(r->w);
}

static int parse_dur(const char *opt, const char *v, int64_t *out)
{
	if (duration_parse(v, out) < 0 || *out <= 0)
		return usage_error("wait", "invalid duration '%s' for %s (e.g. 200ms, 10s, 5m)", v, opt);
	return 0;
}

/* A path segment from the target: letters, digits, '.', '-', '_' only. */
static char *safe_segment(const char *s)
{
	char *d = xstrdup(s && *s ? s : "condition");
	for (char *p = d; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' ||
		      *p == '-' || *p == '_'))
			*p = '_';
	if (!strcmp(d, ".") || !strcmp(d, "..")) {
		free(d);
		d = xstrdup("condition");
	}
	return d;
}

static int exit_code_of(enum wait_outcome o)
{
	switch (o) {
	case WAIT_MET: return 0;
	case WAIT_TERMINAL_FAIL: return 1;
	case WAIT_STALLED: return 3;
	case WAIT_TIMEOUT: return 124;
	case WAIT_NO_OUTPUT: return 3;
	case WAIT_CANCELLED: return 130;
	}
	return 1;
}

int cmd_wait(int argc, char **argv)
{
	struct wl_wait_policy pol;
	wait_policy_init(&pol);
	pol.present = 1;
	const char *condition = NULL, *out = NULL, *check_id = NULL, *phase = NULL, *mode = NULL;
	char **cond_argv = NULL;
	struct run run = {0};
	int rc = 2;
	int i;
	struct wl_err err = WL_ERR_INIT;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--")) {
			cond_argv = argv + i + 1;
			break;
		}
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(wait_usage, stdout);
			rc = 0;
			goto out;
		}
		if (!strcmp(a, "--quiet") || !strcmp(a, "-q")) {
			run.quiet = 1;
			continue;
		}
		/* every other option takes a value: --opt VALUE or --opt=VALUE */
		char name[64];
		const char *val = NULL;
		const char *eq = strchr(a, '=');
		if (strncmp(a, "--", 2)) {
			rc = usage_error("wait", "unexpected argument '%s' (the condition goes after '--' or in --condition)", a);
			goto out;
		}
		if (eq && (size_t)(eq - a) < sizeof(name)) {
			snprintf(name, sizeof(name), "%.*s", (int)(eq - a), a);
			val = eq + 1;
		} else {
			snprintf(name, sizeof(name), "%s", a);
			if (i + 1 >= argc) {
				rc = usage_error("wait", "option '%s' needs a value", a);
				goto out;
			}
			val = argv[++i];
		}
		int64_t ms;
		if (!strcmp(name, "--condition"))
			condition = val;
		else if (!strcmp(name, "--probe"))
			pol.probe = xstrdup(val);
		else if (!strcmp(name, "--classify"))
			pol.classify = xstrdup(val);
		else if (!strcmp(name, "--mode"))
			mode = val;
		else if (!strcmp(name, "--max-wait")) {
			if ((rc = parse_dur(name, val, &ms)))
				goto out;
			pol.max_wait = ms;
		} else if (!strcmp(name, "--interval")) {
			if ((rc = parse_dur(name, val, &ms)))
				goto out;
			pol.interval = ms;
		} else if (!strcmp(name, "--max-interval")) {
			if ((rc = parse_dur(name, val, &ms)))
				goto out;
			pol.backoff_max_interval = ms;
		} else if (!strcmp(name, "--progress-deadline")) {
			if ((rc = parse_dur(name, val, &ms)))
				goto out;
			pol.progress_deadline = ms;
		} else if (!strcmp(name, "--probe-timeout")) {
			if ((rc = parse_dur(name, val, &ms)))
				goto out;
			pol.probe_timeout = ms;
		} else if (!strcmp(name, "--backoff-factor")) {
			char *end;
			double f = strtod(val, &end);
			if (*end || !(f >= 1.0 && f <= 100.0)) {
				rc = usage_error("wait", "invalid --backoff-factor '%s' (a number from 1 to 100)", val);
				goto out;
			}
			pol.backoff_factor = f;
		} else if (!strcmp(name, "--stall-threshold")) {
			char *end;
			long n = strtol(val, &end, 10);
			if (*end || n < 1 || n > 1000000) {
				rc = usage_error("wait", "invalid --stall-threshold '%s' (a positive integer)", val);
				goto out;
			}
			pol.stall_threshold = (int)n;
		} else if (!strcmp(name, "--terminal-pattern")) {
			strvec_push(&pol.terminal_patterns, val);
			pol.terminal_patterns_present = 1;
		} else if (!strcmp(name, "--ignore-field")) {
			strvec_push(&pol.ignore_fields, val);
			pol.ignore_fields_present = 1;
		} else if (!strcmp(name, "--rules")) {
			if (rulesfile_load(val, &pol, &err) < 0) {
				rc = usage_error("wait", "%s", err.msg);
				goto out;
			}
		} else if (!strcmp(name, "--builtin")) {
			if (strcmp(val, "kubernetes")) {
				rc = usage_error("wait", "unknown builtin rule set '%s' (known: kubernetes)", val);
				goto out;
			}
			free(pol.builtin);
			pol.builtin = xstrdup(val);
		} else if (!strcmp(name, "--target")) {
			free(pol.target);
			pol.target = xstrdup(val);
		} else if (!strcmp(name, "--fingerprint-prefix")) {
			free(pol.fingerprint_prefix);
			pol.fingerprint_prefix = xstrdup(val);
		} else if (!strcmp(name, "--check-id"))
			check_id = val;
		else if (!strcmp(name, "--phase"))
			phase = val;
		else if (!strcmp(name, "--out"))
			out = val;
		else {
			rc = usage_error("wait", "unknown option '%s'", name);
			goto out;
		}
	}
	if (condition && cond_argv && cond_argv[0]) {
		rc = usage_error("wait", "give the condition either with --condition or after '--', not both");
		goto out;
	}
	if (!condition && !(cond_argv && cond_argv[0])) {
		rc = usage_error("wait", "no condition (use --condition 'CMD' or -- CMD ARGS...)");
		goto out;
	}
	if (mode) {
		if (!strcmp(mode, "timeout_only"))
			pol.mode = WAIT_MODE_TIMEOUT_ONLY;
		else if (!strcmp(mode, "probe_aware"))
			pol.mode = WAIT_MODE_PROBE_AWARE;
		else {
			rc = usage_error("wait", "invalid --mode '%s' (timeout_only or probe_aware)", mode);
			goto out;
		}
	} else {
		int observes = pol.probe || pol.classify || pol.builtin || pol.nrules || pol.terminal_patterns.n;
		pol.mode = observes ? WAIT_MODE_PROBE_AWARE : WAIT_MODE_TIMEOUT_ONLY;
	}
	enum wait_phase ph = WAIT_PHASE_STANDALONE;
	if (!phase)
		phase = getenv("WAITLOOP_PHASE");
	if (phase) {
		static const struct { const char *n; enum wait_phase p; } phases[] = {
			{"wait", WAIT_PHASE_WAIT}, {"step", WAIT_PHASE_STEP},
			{"completion_check", WAIT_PHASE_CHECK}, {"standalone", WAIT_PHASE_STANDALONE},
		};
		size_t k;
		for (k = 0; k < sizeof(phases) / sizeof(phases[0]) && strcmp(phases[k].n, phase); k++)
			;
		if (k == sizeof(phases) / sizeof(phases[0])) {
			rc = usage_error("wait", "invalid --phase '%s' (wait, step, completion_check, standalone)", phase);
			goto out;
		}
		ph = phases[k].p;
	}
	if (pol.max_wait == WL_UNSET)
		pol.max_wait = 600000;
	wait_policy_resolve(&pol, NULL, pol.max_wait);

	/* redaction: built-ins, the values of secret-named variables of our
	 * environment, and inside a run the run's own (its `redact` patterns and
	 * literal secrets, handed over in REDACT_ENV) */
	struct strvec env = STRVEC_INIT;
	for (char **e = environ; e && *e; e++)
		strvec_push(&env, *e);
	struct redactor *red = redactor_import(getenv(REDACT_ENV), &env, &err);
	strvec_clear(&env);

	char *dir = NULL;
	if (out)
		dir = xstrdup(out);
	else if (getenv("WAITLOOP_STEP_DIR") && *getenv("WAITLOOP_STEP_DIR"))
		dir = xstrdup(getenv("WAITLOOP_STEP_DIR"));
	else {
		char *safe = redact_text(red, pol.target);   /* a directory name is written too */
		char *seg = safe_segment(safe);
		dir = xasprintf(".waitloop/wait/%s", seg);
		free(seg);
		free(safe);
	}
	if (!check_id)
		check_id = getenv("WAITLOOP_CHECK_ID");
	const char *it = getenv("WAITLOOP_ITERATION");

	struct loop *l = loop_new();
	loop_on_signal(l, SIGINT, on_signal, &run);
	loop_on_signal(l, SIGTERM, on_signal, &run);
	struct wait_params p = WAIT_PARAMS_INIT;
	p.loop = l;
	p.policy = &pol;
	p.phase = ph;
	p.condition = condition;
	p.condition_argv = cond_argv && cond_argv[0] ? cond_argv : NULL;
	p.out_dir = dir;
	p.check_id = check_id && *check_id ? check_id : NULL;
	p.run_id = getenv("WAITLOOP_RUN_ID");
	p.workflow = getenv("WAITLOOP_WORKFLOW");
	p.step = getenv("WAITLOOP_STEP");
	p.iteration = it ? atoi(it) : 0;
	p.redactor = red;
	p.on_done = on_done;
	p.arg = &run;
	run.w = wait_start(&p, &err);
	if (!run.w) {
		die_msg("%s", err.msg);
		rc = 2;
	} else {
		loop_run(l, &run.done);
		if (run.signo) {
			rc = 128 + run.signo;
			if (!run.quiet)
				fprintf(stderr, "waitloop wait: interrupted by signal %d\n", run.signo);
		} else {
			rc = run.probe_broken ? 2 : exit_code_of(run.outcome);
			if ((!run.quiet || run.probe_broken) && run.summary)
				fprintf(stderr, "%s\n", run.summary);
		}
	}
	loop_free(l);
	redactor_free(red);
	free(dir);
out:
	free(run.summary);
	wait_policy_release(&pol);
	return rc;
}
