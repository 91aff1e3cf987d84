/*
 * waitloop wait (SPEC §5): the retry_with_probe primitive — one wait_policy
 * engine run from the command line, for verify scripts.
 *
 * What a script sees is what the classic `until cmd; do sleep; done` loop
 * gives it: the condition's stdout on stdout and its stderr on stderr, try
 * after try, and an exit status (0 met, 124 timeout). waitloop adds the
 * evidence: progress lines on stderr (one per observation without a TTY, a
 * redrawn line on one, a keepalive line whatever the interval), the summary
 * line, wait-probe.log and wait-failure.json.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "events.h"
#include "fsutil.h"
#include "jsonutil.h"
#include "evloop.h"
#include "redact.h"
#include "rulesfile.h"
#include "store.h"
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
	"what is observed shows that waiting is pointless. The condition's stdout and\n"
	"stderr pass through, try after try, as in a shell `until` loop.\n"
	"\n"
	"Options:\n"
	"  --condition CMD           shell command (bash -c) that exits 0 when done\n"
	"  --name NAME               name of this wait (default: from --target, else\n"
	"                            from the command); names its artifacts\n"
	"  --probe CMD               prints ONE JSON object describing the state\n"
	"  --classify CMD            external classifier (JSON on stdin)\n"
	"  --mode MODE               timeout_only | probe_aware (default: probe_aware when\n"
	"                            anything to observe is given, else timeout_only)\n"
	"  --max-wait DUR            budget of the wait (default 600s; 0 = one try)\n"
	"  --interval DUR            observation period (default 10s)\n"
	"  --condition-timeout DUR   how long one try may run (default: the time left of\n"
	"                            max_wait, at least 2s)\n"
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
	"  --out DIR                 artifacts (default $WAITLOOP_STEP_DIR/waits/<name>,\n"
	"                            else ./.waitloop/wait/<name>)\n"
	"  --summary WHEN            the final summary line: always (default), failure, never\n"
	"  -q, --quiet               no progress and no summary on stderr\n"
	"  -v, --verbose             progress lines carry the probe's summary\n"
	"  --json                    print the result as one JSON object on stdout (the\n"
	"                            condition's stdout then goes to stderr)\n"
	"  --no-progress             one line per observation even on a terminal\n"
	"\n"
	"Durations: 200ms, 10s, 5m, 1h30m, or bare seconds (600). Patterns: PCRE2 (POSIX\n"
	"ERE compatible), (?i) for case-insensitive. Writes wait-probe.log and, unless met,\n"
	"wait-failure.json. Progress: one line per observation on stderr (a live line\n"
	"on a terminal), a keepalive line when nothing was printed for 30s\n"
	"($WAITLOOP_KEEPALIVE_S).\n"
	"\n"
	"Exit codes: 0 met, 1 terminal_fail, 3 stalled, 124 timeout, 2 usage error or\n"
	"a condition/probe/classifier that cannot be executed (probe-broken), 130/143\n"
	"interrupted.\n";

#define KEEPALIVE_DEFAULT_S 30
#define LIVE_TICK_MS 1000
#define LIVE_WIDTH 160

enum summary_when { SUMMARY_ALWAYS, SUMMARY_FAILURE, SUMMARY_NEVER };

struct run {
	int done;
	int signo;
	struct wait *w;
	struct evloop *loop;
	const struct wl_wait_policy *pol;
	const struct redactor *red;
	char *name;
	enum wait_outcome outcome;
	int probe_broken;             /* the probe cannot run: a configuration error, exit 2 */
	char *error_line;             /* "waitloop: error: probe-broken: ..." */
	char *summary;
	cJSON *result;                /* --json */
	int quiet, verbose, json, live;
	enum summary_when summary_when;
	int64_t start_ms, last_print_ms, keepalive_ms;
	uint64_t keepalive_timer, tick_timer;
	int line_shown;               /* live: a progress line is on screen */
	int observations;
	char *obs_head, *obs_tail;    /* the last observation's line, without its clock */
};

/* --- output ---------------------------------------------------------------- */

/* A closed pipe is not an error here: the script does not want the output any more. */
static void write_all(int fd, const char *data, size_t len)
{
	(void)fs_write_all(fd, data, len);
}

static void live_clear(struct run *r)
{
	if (r->line_shown) {
		write_all(2, "\r\033[K", 4);
		r->line_shown = 0;
	}
}

/* One progress line: permanent without a TTY, redrawn on one. */
static void progress_line(struct run *r, const char *text)
{
	r->last_print_ms = time_now_ms();
	if (r->live) {
		live_clear(r);
		struct strbuf sb = STRBUF_INIT;
		strbuf_addf(&sb, "%.*s", LIVE_WIDTH, text);
		write_all(2, sb.buf, sb.len);
		strbuf_release(&sb);
		r->line_shown = 1;
		return;
	}
	struct strbuf sb = STRBUF_INIT;
	strbuf_addf(&sb, "%s\n", text);
	write_all(2, sb.buf, sb.len);
	strbuf_release(&sb);
}

static void on_output(void *arg, int stream, const char *data, size_t len)
{
	struct run *r = arg;
	live_clear(r);
	write_all(stream == 2 || r->json ? 2 : 1, data, len);
	if (stream == 2 || r->json)
		r->last_print_ms = time_now_ms();
}

/* The engine's non-fatal problems (wait.h): reported here, the wait goes on. */
static void on_warning(void *arg, const char *message)
{
	struct run *r = arg;
	live_clear(r);
	fprintf(stderr, "waitloop: warning: %s\n", message);
}

/*
 * Under a run (WAITLOOP_RUN_ID and WAITLOOP_DB, set by the runner for its
 * children), the wait's observations and its end go into the run's history
 * as an in-script wait of the step (store_set_script_wait). History is a
 * record, not the wait: a database that cannot be opened is one warning.
 */
static struct store *script_wait_history(const char *name, struct run *r)
{
	const char *run_id = getenv("WAITLOOP_RUN_ID"), *db = getenv("WAITLOOP_DB");
	if (!run_id || !*run_id || !db || !*db)
		return NULL;
	struct wl_err err = WL_ERR_INIT;
	struct store *st = store_open(db, &err);
	if (!st) {
		on_warning(r, err.msg);
		return NULL;
	}
	store_set_script_wait(st, name);
	store_set_warn(st, on_warning, r);
	return st;
}

static double elapsed(const struct run *r)
{
	return (double)(time_now_ms() - r->start_ms) / 1000.0;
}

/* "waitloop wait [NAME]: #3 retryable (condition exit 1), no progress 2/6, 4.2s/600s[: summary]" */
static char *observation_line(const struct run *r)
{
	if (!r->obs_head)
		return xasprintf("waitloop wait [%s]: observation #%d, %.1fs/%gs", r->name, r->observations + 1,
				 elapsed(r), (double)r->pol->max_wait / 1000.0);
	return xasprintf("%s, %.1fs/%gs%s", r->obs_head, elapsed(r), (double)r->pol->max_wait / 1000.0, r->obs_tail);
}

static void on_event(void *arg, const struct wl_event *ev)
{
	struct run *r = arg;
	if (ev->type != EV_OBSERVATION || !ev->data)
		return;
	const char *cls = json_get_string(ev->data, "class");
	const cJSON *seq = cJSON_GetObjectItemCaseSensitive(ev->data, "seq");
	const cJSON *ce = cJSON_GetObjectItemCaseSensitive(ev->data, "condition_exit");
	const cJSON *np = cJSON_GetObjectItemCaseSensitive(ev->data, "no_progress");
	const char *summary = json_get_string(ev->data, "summary");
	const char *perr = json_get_string(ev->data, "probe_error");
	r->observations = cJSON_IsNumber(seq) ? seq->valueint : r->observations + 1;
	if (r->quiet || (cls && !strcmp(cls, "met")))
		return;   /* success is said by the exit status, not by noise */
	struct strbuf head = STRBUF_INIT, tail = STRBUF_INIT;
	strbuf_addf(&head, "waitloop wait [%s]: #%d %s", r->name, r->observations, cls ? cls : "?");
	if (cJSON_IsNumber(ce))
		strbuf_addf(&head, " (condition exit %d)", ce->valueint);
	if (r->pol->mode == WAIT_MODE_PROBE_AWARE && cJSON_IsNumber(np))
		strbuf_addf(&head, ", no progress %d/%d", np->valueint, r->pol->stall_threshold);
	if (perr && *perr)
		strbuf_addf(&tail, ", probe failed: %.200s", perr);
	if ((r->verbose || r->live) && summary && *summary && r->pol->mode == WAIT_MODE_PROBE_AWARE)
		strbuf_addf(&tail, ": %.*s", r->verbose && !r->live ? 1000 : 120, summary);
	free(r->obs_head);
	free(r->obs_tail);
	r->obs_head = strbuf_detach(&head);
	r->obs_tail = strbuf_detach(&tail);
	char *line = observation_line(r);
	progress_line(r, line);
	free(line);
}

/* Without a TTY: a line when nothing was printed for keepalive_ms (CI watchdogs). */
static void on_keepalive(void *arg)
{
	struct run *r = arg;
	r->keepalive_timer = 0;
	if (r->done)
		return;
	int64_t now = time_now_ms();
	if (now - r->last_print_ms >= r->keepalive_ms) {
		char *line = xasprintf("waitloop wait [%s]: still waiting, observation #%d, %.0fs/%gs", r->name,
				       r->observations + 1, elapsed(r), (double)r->pol->max_wait / 1000.0);
		progress_line(r, line);
		free(line);
		now = r->last_print_ms;
	}
	int64_t next = r->last_print_ms + r->keepalive_ms;
	r->keepalive_timer = evloop_add_timer(r->loop, next > now ? next : now + r->keepalive_ms, on_keepalive, r);
}

/* On a TTY: the live line's clock. */
static void on_tick(void *arg)
{
	struct run *r = arg;
	r->tick_timer = 0;
	if (r->done)
		return;
	char *line = observation_line(r);
	progress_line(r, line);
	free(line);
	r->tick_timer = evloop_add_timer(r->loop, time_now_ms() + LIVE_TICK_MS, on_tick, r);
}

static void on_done(void *arg, const struct wait_result *res)
{
	struct run *r = arg;
	r->done = 1;
	r->w = NULL;
	r->outcome = res->outcome;
	r->probe_broken = res->probe_broken;
	if (res->probe_broken && res->reasons.n)
		r->error_line = xasprintf("waitloop: error: %s", res->reasons.v[0]);
	struct strbuf sb = STRBUF_INIT;
	if (res->outcome == WAIT_ERROR)
		strbuf_addf(&sb, "waitloop wait [%s]: %s", r->name, res->message ? res->message : "error");
	else
		strbuf_addf(&sb, "waitloop wait [%s]: %s after %d observation%s (%.1fs)", r->name,
			    wait_outcome_name(res->outcome), res->observations, res->observations == 1 ? "" : "s",
			    res->elapsed_s);
	if (res->outcome != WAIT_ERROR)
		for (size_t i = 0; i < res->fingerprints.n; i++)
			strbuf_addf(&sb, "%s%s", i ? ", " : ": ", res->fingerprints.v[i]);
	if (res->failure_file)
		strbuf_addf(&sb, " (%s)", res->failure_file);
	r->summary = strbuf_detach(&sb);
	if (r->json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", r->name);
		cJSON_AddStringToObject(o, "outcome", wait_outcome_name(res->outcome));
		cJSON_AddNumberToObject(o, "observations", res->observations);
		cJSON_AddNumberToObject(o, "elapsed_s", (double)(int64_t)(res->elapsed_s * 1000) / 1000.0);
		cJSON_AddItemToObject(o, "fingerprints", json_string_array(&res->fingerprints));
		cJSON_AddItemToObject(o, "reasons", json_string_array(&res->reasons));
		cJSON_AddStringToObject(o, "message", res->message ? res->message : "");
		if (res->failure_file)
			cJSON_AddStringToObject(o, "failure_file", res->failure_file);
		else
			cJSON_AddNullToObject(o, "failure_file");
		cJSON_AddStringToObject(o, "probe_log", res->probe_log ? res->probe_log : "");
		r->result = o;
	}
}

static void on_signal(void *arg, int signo)
{
	struct run *r = arg;
	if (!r->signo)
		r->signo = signo;
	if (r->w)
		wait_cancel(r->w);
}

/* --- options --------------------------------------------------------------- */

/* The value of option --opt: a duration, or bare seconds ("600"); 0 only where allow_zero. */
static int parse_dur(const char *opt, const char *v, int allow_zero, int64_t *out)
{
	char *end;
	errno = 0;
	double secs = *v >= '0' && *v <= '9' && !strpbrk(v, "eExXpP") ? strtod(v, &end) : -1;
	if (secs >= 0 && !*end && !errno && secs <= 100.0 * 365 * 86400)
		*out = (int64_t)(secs * 1000.0 + 0.5);   /* bare seconds, as sleep(1) takes them: 600, 0.5 */
	else if (duration_parse(v, out) < 0)
		return usage_error("wait", "invalid duration '%s' for --%s (e.g. 200ms, 10s, 5m, or bare seconds)", v,
				   opt);
	if (*out < 0 || (*out == 0 && !allow_zero))
		return usage_error("wait", "--%s must be %s, got '%s'", opt, allow_zero ? "0 or more" : "positive", v);
	return 0;
}

enum {
	OPT_CONDITION = 256, OPT_PROBE, OPT_CLASSIFY, OPT_MODE, OPT_MAX_WAIT, OPT_INTERVAL, OPT_COND_TIMEOUT,
	OPT_MAX_INTERVAL, OPT_PROBE_TIMEOUT, OPT_BACKOFF, OPT_STALL, OPT_TERMINAL, OPT_IGNORE, OPT_RULES,
	OPT_BUILTIN, OPT_TARGET, OPT_NAME, OPT_PREFIX, OPT_CHECK_ID, OPT_PHASE, OPT_OUT, OPT_SUMMARY, OPT_JSON,
	OPT_NO_PROGRESS, OPT_PROGRESS_DEADLINE,
};

static const struct option wait_options[] = {
	{"condition", required_argument, NULL, OPT_CONDITION},
	{"probe", required_argument, NULL, OPT_PROBE},
	{"classify", required_argument, NULL, OPT_CLASSIFY},
	{"mode", required_argument, NULL, OPT_MODE},
	{"max-wait", required_argument, NULL, OPT_MAX_WAIT},
	{"interval", required_argument, NULL, OPT_INTERVAL},
	{"condition-timeout", required_argument, NULL, OPT_COND_TIMEOUT},
	{"max-interval", required_argument, NULL, OPT_MAX_INTERVAL},
	{"progress-deadline", required_argument, NULL, OPT_PROGRESS_DEADLINE},
	{"probe-timeout", required_argument, NULL, OPT_PROBE_TIMEOUT},
	{"backoff-factor", required_argument, NULL, OPT_BACKOFF},
	{"stall-threshold", required_argument, NULL, OPT_STALL},
	{"terminal-pattern", required_argument, NULL, OPT_TERMINAL},
	{"ignore-field", required_argument, NULL, OPT_IGNORE},
	{"rules", required_argument, NULL, OPT_RULES},
	{"builtin", required_argument, NULL, OPT_BUILTIN},
	{"target", required_argument, NULL, OPT_TARGET},
	{"name", required_argument, NULL, OPT_NAME},
	{"fingerprint-prefix", required_argument, NULL, OPT_PREFIX},
	{"check-id", required_argument, NULL, OPT_CHECK_ID},
	{"phase", required_argument, NULL, OPT_PHASE},
	{"out", required_argument, NULL, OPT_OUT},
	{"summary", required_argument, NULL, OPT_SUMMARY},
	{"json", no_argument, NULL, OPT_JSON},
	{"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
	{"quiet", no_argument, NULL, 'q'},
	{"verbose", no_argument, NULL, 'v'},
	{"help", no_argument, NULL, 'h'},
	{0, 0, 0, 0},
};

/* "unknown option '--max-wiat' (did you mean '--max-wait'?)" */
/* $WAITLOOP_STEP_DIR/waits/<name>, claimed with mkdir so that two waits of one
 * check never share a directory: the second "x" becomes "x-2". */
static char *claim_wait_dir(const char *step_dir, char **name, struct wl_err *err)
{
	char *base = fs_join(step_dir, "waits");
	if (fs_mkdir_p(base, err) < 0) {
		free(base);
		return NULL;
	}
	for (int i = 1; i < 10000; i++) {
		char *cand = i == 1 ? xstrdup(*name) : xasprintf("%s-%d", *name, i);
		char *dir = fs_join(base, cand);
		if (mkdir(dir, 0755) == 0) {
			free(*name);
			*name = cand;
			free(base);
			return dir;
		}
		int e = errno;
		free(dir);
		free(cand);
		if (e != EEXIST) {
			err_set(err, "cannot create a directory in '%s': %s", base, strerror(e));
			free(base);
			return NULL;
		}
	}
	err_set(err, "too many waits named '%s' in '%s'", *name, base);
	free(base);
	return NULL;
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
	case WAIT_ERROR: return 2;
	}
	return 1;
}

int cmd_wait(int argc, char **argv)
{
	struct wl_wait_policy pol;   /* as written by the options */
	wait_policy_init(&pol);
	pol.present = 1;
	struct wait_settings settings;   /* resolved: what the engine and the display read */
	wait_policy_init(&settings.p);
	const char *condition = NULL, *out = NULL, *check_id = NULL, *phase = NULL, *mode = NULL, *name = NULL;
	char **cond_argv = NULL;
	int64_t condition_timeout = 0;
	int no_progress = 0;
	struct run run = {0};
	int rc = 2, c;
	struct wl_err err = WL_ERR_INIT;
	opterr = 0;
	optind = 1;
	int li = 0;
	while ((c = getopt_long(argc, argv, "+:qvh", wait_options, &li)) != -1) {
		int64_t *dur = NULL;   /* a duration option's destination */
		const char *val = optarg;
		switch (c) {
		case 'h':
			fputs(wait_usage, stdout);
			rc = 0;
			goto out;
		case 'q': run.quiet = 1; break;
		case 'v': run.verbose = 1; break;
		case OPT_JSON: run.json = 1; break;
		case OPT_NO_PROGRESS: no_progress = 1; break;
		case OPT_CONDITION: condition = val; break;
		case OPT_PROBE: free(pol.probe); pol.probe = xstrdup(val); break;
		case OPT_CLASSIFY: free(pol.classify); pol.classify = xstrdup(val); break;
		case OPT_MODE: mode = val; break;
		case OPT_NAME: name = val; break;
		case OPT_MAX_WAIT: dur = &pol.max_wait; break;
		case OPT_INTERVAL: dur = &pol.interval; break;
		case OPT_COND_TIMEOUT: dur = &condition_timeout; break;
		case OPT_MAX_INTERVAL: dur = &pol.backoff_max_interval; break;
		case OPT_PROGRESS_DEADLINE: dur = &pol.progress_deadline; break;
		case OPT_PROBE_TIMEOUT: dur = &pol.probe_timeout; break;
		case OPT_BACKOFF: {
			char *end;
			double f = strtod(val, &end);
			if (*end || !(f >= 1.0 && f <= 100.0)) {
				rc = usage_error("wait", "invalid --backoff-factor '%s' (a number from 1 to 100)", val);
				goto out;
			}
			pol.backoff_factor = f;
			break;
		}
		case OPT_STALL: {
			char *end;
			long n = strtol(val, &end, 10);
			if (*end || n < 1 || n > 1000000) {
				rc = usage_error("wait", "invalid --stall-threshold '%s' (a positive integer)", val);
				goto out;
			}
			pol.stall_threshold = (int)n;
			break;
		}
		case OPT_TERMINAL:
			strvec_push(&pol.terminal_patterns, val);
			pol.terminal_patterns_present = 1;
			break;
		case OPT_IGNORE:
			strvec_push(&pol.ignore_fields, val);
			pol.ignore_fields_present = 1;
			break;
		case OPT_RULES:
			if (rulesfile_load(val, &pol, &err) < 0) {
				rc = usage_error("wait", "%s", err.msg);
				goto out;
			}
			break;
		case OPT_BUILTIN:
			if (strcmp(val, "kubernetes")) {
				rc = usage_error("wait", "unknown builtin rule set '%s' (known: kubernetes)", val);
				goto out;
			}
			free(pol.builtin);
			pol.builtin = xstrdup(val);
			break;
		case OPT_TARGET: free(pol.target); pol.target = xstrdup(val); break;
		case OPT_PREFIX: free(pol.fingerprint_prefix); pol.fingerprint_prefix = xstrdup(val); break;
		case OPT_CHECK_ID: check_id = val; break;
		case OPT_PHASE: phase = val; break;
		case OPT_OUT: out = val; break;
		case OPT_SUMMARY:
			if (!strcmp(val, "always"))
				run.summary_when = SUMMARY_ALWAYS;
			else if (!strcmp(val, "failure"))
				run.summary_when = SUMMARY_FAILURE;
			else if (!strcmp(val, "never"))
				run.summary_when = SUMMARY_NEVER;
			else {
				rc = usage_error("wait", "invalid --summary '%s' (always, failure or never)", val);
				goto out;
			}
			break;
		default:
			rc = usage_getopt_error("wait", c, argv, wait_options);
			goto out;
		}
		/* --max-wait may be 0 (one try); the other durations must be positive */
		if (dur && (rc = parse_dur(wait_options[li].name, val, c == OPT_MAX_WAIT, dur)))
			goto out;
	}
	if (optind < argc) {
		if (optind > 0 && !strcmp(argv[optind - 1], "--")) {
			cond_argv = argv + optind;
		} else {
			rc = usage_error("wait", "unexpected argument '%s' (the condition goes after '--' or in --condition)",
					 argv[optind]);
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
	if (condition && !*condition) {
		rc = usage_error("wait", "--condition is empty");
		goto out;
	}
	int observes = pol.probe || pol.classify || pol.builtin || pol.nrules || pol.terminal_patterns.n;
	if (mode) {
		if (!strcmp(mode, "timeout_only"))
			pol.mode = WAIT_MODE_TIMEOUT_ONLY;
		else if (!strcmp(mode, "probe_aware"))
			pol.mode = WAIT_MODE_PROBE_AWARE;
		else {
			rc = usage_error("wait", "invalid --mode '%s' (timeout_only or probe_aware)", mode);
			goto out;
		}
		if (pol.mode == WAIT_MODE_PROBE_AWARE && !observes) {
			/* the same rule as a workflow's wait_policy (loader.c) */
			rc = usage_error("wait", "--mode probe_aware has nothing to observe (give --probe, --rules, "
						 "--terminal-pattern, --builtin or --classify)");
			goto out;
		}
	} else {
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
	wait_settings_resolve(&settings, &pol, NULL, WAIT_DEFAULT_MAX_WAIT_MS);

	/* redaction: built-ins, the values of secret-named variables of our
	 * environment, and inside a run the run's own (its `redact` patterns and
	 * literal secrets, handed over in REDACT_ENV) */
	struct strvec env = STRVEC_INIT;
	for (char **e = environ; e && *e; e++)
		strvec_push(&env, *e);
	struct redactor *red = redactor_import(getenv(REDACT_ENV), &env, &err);
	strvec_clear(&env);

	/* the name becomes a directory and is printed: it is made of redacted words */
	{
		char *rname = name ? redact_text(red, name) : NULL;
		char *rtarget = settings.p.target ? redact_text(red, settings.p.target) : NULL;
		char *rcond = condition ? redact_text(red, condition) : NULL;
		struct strvec rargv = STRVEC_INIT;
		for (size_t k = 0; cond_argv && cond_argv[k]; k++)
			strvec_push_owned(&rargv, redact_text(red, cond_argv[k]));
		run.name = wait_derive_name(rname, rtarget, rcond, rargv.n ? rargv.v : NULL);
		free(rname);
		free(rtarget);
		free(rcond);
		strvec_clear(&rargv);
	}
	char *dir = NULL;
	const char *step_dir = getenv("WAITLOOP_STEP_DIR");
	if (out)
		dir = xstrdup(out);
	else if (step_dir && *step_dir)
		dir = claim_wait_dir(step_dir, &run.name, &err);
	else
		dir = xasprintf(".waitloop/wait/%s", run.name);
	if (!check_id)
		check_id = getenv("WAITLOOP_CHECK_ID");
	const char *it = getenv("WAITLOOP_ITERATION");

	/* A wait outlives nothing: when the script that called it dies, it stops too. */
	pid_t parent = getppid();
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		raise(SIGTERM);

	struct evloop *l = evloop_new();
	struct event_bus bus = EVENT_BUS_INIT;
	bus.rd = red;
	bus_subscribe(&bus, on_event, &run);
	struct store *history = script_wait_history(run.name, &run);
	if (history)
		bus_subscribe(&bus, store_sink, history);
	evloop_on_signal(l, SIGINT, on_signal, &run);
	evloop_on_signal(l, SIGTERM, on_signal, &run);
	evloop_on_signal(l, SIGHUP, on_signal, &run);
	run.loop = l;
	run.pol = &settings.p;
	run.red = red;
	run.live = !no_progress && !run.quiet && isatty(2);
	run.start_ms = run.last_print_ms = time_now_ms();
	const char *ka = getenv("WAITLOOP_KEEPALIVE_S");
	long secs = ka && *ka ? strtol(ka, NULL, 10) : KEEPALIVE_DEFAULT_S;
	run.keepalive_ms = (secs > 0 ? secs : KEEPALIVE_DEFAULT_S) * 1000;
	struct wait_params p = WAIT_PARAMS_INIT;
	p.loop = l;
	p.settings = &settings;
	p.phase = ph;
	p.condition = condition;
	p.condition_argv = cond_argv && cond_argv[0] ? cond_argv : NULL;
	p.condition_timeout = condition_timeout;
	p.name = run.name;
	p.out_dir = dir;
	p.check_id = check_id && *check_id ? check_id : NULL;
	p.run_id = getenv("WAITLOOP_RUN_ID");
	p.workflow = getenv("WAITLOOP_WORKFLOW");
	p.step = getenv("WAITLOOP_STEP");
	p.iteration = it ? atoi(it) : 0;
	p.redactor = red;
	p.bus = &bus;
	p.on_output = on_output;
	p.on_done = on_done;
	p.on_warning = on_warning;
	p.arg = &run;
	run.w = dir ? wait_start(&p, &err) : NULL;
	if (!run.w) {
		print_error("%s", err.msg);
		rc = 2;
	} else {
		if (!run.quiet && !run.live)
			run.keepalive_timer = evloop_add_timer(l, run.start_ms + run.keepalive_ms, on_keepalive, &run);
		if (run.live)
			run.tick_timer = evloop_add_timer(l, run.start_ms + LIVE_TICK_MS, on_tick, &run);
		evloop_run(l, &run.done);
		evloop_cancel_timer(l, run.keepalive_timer);
		evloop_cancel_timer(l, run.tick_timer);
		live_clear(&run);
		if (run.signo) {
			rc = 128 + run.signo;
			if (!run.quiet)
				fprintf(stderr, "waitloop wait [%s]: interrupted by signal %d\n", run.name, run.signo);
		} else {
			rc = run.probe_broken ? 2 : exit_code_of(run.outcome);
			int say = !run.quiet && run.summary && run.summary_when != SUMMARY_NEVER &&
				  (run.summary_when == SUMMARY_ALWAYS || run.outcome != WAIT_MET);
			if (say)
				fprintf(stderr, "%s\n", run.summary);
			if (run.error_line)   /* even with -q: a broken probe is a configuration error */
				fprintf(stderr, "%s\n", run.error_line);
		}
		if (run.result) {
			cJSON_AddNumberToObject(run.result, "exit_code", rc);
			char *text = json_compact(run.result);
			printf("%s\n", text);
			free(text);
		}
	}
	evloop_free(l);
	store_close(history);
	redactor_free(red);
	free(dir);
out:
	free(run.summary);
	free(run.error_line);
	free(run.name);
	free(run.obs_head);
	free(run.obs_tail);
	cJSON_Delete(run.result);
	wait_policy_release(&pol);
	wait_settings_release(&settings);
	return rc;
}
