#include "progress.h"

#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "jsonutil.h"
#include "evloop.h"
#include "redact.h"
#include "strbuf.h"
#include "timeutil.h"
#include "xalloc.h"

#define REDRAW_MS 250
#define TICK_MS 1000
#define KEEPALIVE_DEFAULT_S 30
#define PARTIAL_MAX 4096

struct live_step {
	char *id;
	int iteration, max_iterations;
	char phase[24];
	enum obs_class cls;          /* of the last observation; CLASS_UNSET: none in this phase */
	int no_progress, threshold;
	int64_t start_ms;
	struct strbuf partial[2];   /* verbose: an unfinished output line per stream (redacted) */
	struct redact_stream *rs[2];   /* verbose: the redaction of each stream, with its state */
};

struct progress {
	struct evloop *loop;
	struct progress_opts o;
	const struct redactor *rd;
	struct live_step *steps;
	size_t n, alloc;
	int lines_drawn;
	int64_t last_draw, last_print;
	uint64_t redraw_timer, tick_timer, keepalive_timer;
	int64_t keepalive_ms;
	int finished;
};

static void on_keepalive(void *arg);
static void on_tick(void *arg);

struct progress *progress_new(struct evloop *l, const struct progress_opts *o, const struct redactor *rd)
{
	struct progress *p = xcalloc(1, sizeof(*p));
	p->loop = l;
	p->o = *o;
	if (!p->o.out)
		p->o.out = stderr;
	p->rd = rd;
	p->last_print = time_now_ms();
	const char *ka = getenv("WAITLOOP_KEEPALIVE_S");
	long secs = ka && *ka ? strtol(ka, NULL, 10) : KEEPALIVE_DEFAULT_S;
	p->keepalive_ms = (secs > 0 ? secs : KEEPALIVE_DEFAULT_S) * 1000;
	if (!p->o.live && p->o.verbosity >= 0)
		p->keepalive_timer = evloop_add_timer(l, time_now_ms() + p->keepalive_ms, on_keepalive, p);
	return p;
}

static void live_step_release(struct live_step *s)
{
	free(s->id);
	strbuf_release(&s->partial[0]);
	strbuf_release(&s->partial[1]);
	redact_stream_free(s->rs[0]);
	redact_stream_free(s->rs[1]);
}

void progress_free(struct progress *p)
{
	if (!p)
		return;
	progress_finish(p);
	for (size_t i = 0; i < p->n; i++)
		live_step_release(&p->steps[i]);
	free(p->steps);
	free(p);
}

static struct live_step *find_step(struct progress *p, const char *id)
{
	for (size_t i = 0; i < p->n; i++)
		if (!strcmp(p->steps[i].id, id))
			return &p->steps[i];
	return NULL;
}

static struct live_step *add_step(struct progress *p, const char *id)
{
	struct live_step *s = find_step(p, id);
	if (s)
		return s;
	XGROW(p->steps, p->n + 1, p->alloc);
	s = &p->steps[p->n++];
	memset(s, 0, sizeof(*s));
	s->id = xstrdup(id);
	s->start_ms = time_now_ms();
	return s;
}

static void remove_step(struct progress *p, const char *id)
{
	for (size_t i = 0; i < p->n; i++)
		if (!strcmp(p->steps[i].id, id)) {
			live_step_release(&p->steps[i]);
			memmove(&p->steps[i], &p->steps[i + 1], (p->n - i - 1) * sizeof(*p->steps));
			p->n--;
			return;
		}
}

static int term_width(const struct progress *p)
{
	struct winsize ws;
	if (ioctl(fileno(p->o.out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
		return ws.ws_col;
	return 80;
}

static void fmt_elapsed(int64_t ms, char *buf, size_t size)
{
	int64_t s = ms / 1000;
	if (s < 60)
		snprintf(buf, size, "%llds", (long long)s);
	else if (s < 3600)
		snprintf(buf, size, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
	else
		snprintf(buf, size, "%lldh%02lldm", (long long)(s / 3600), (long long)(s / 60 % 60));
}

static void describe_step(const struct live_step *s, struct strbuf *sb)
{
	char el[32];
	fmt_elapsed(time_now_ms() - s->start_ms, el, sizeof(el));
	strbuf_addstr(sb, s->id);
	if (s->max_iterations > 1)
		strbuf_addf(sb, "  iteration %d/%d", s->iteration ? s->iteration : 1, s->max_iterations);
	if (s->phase[0])
		strbuf_addf(sb, "  %s", s->phase);
	if (s->cls != CLASS_UNSET) {
		strbuf_addf(sb, "  probe: %s", class_name(s->cls));
		if (s->threshold > 0)
			strbuf_addf(sb, "  no progress %d/%d", s->no_progress, s->threshold);
		else
			strbuf_addf(sb, "  no progress %d", s->no_progress);
	}
	strbuf_addf(sb, "  %s", el);
}

/* Erase the live block (TTY). */
static void clear_live(struct progress *p)
{
	for (int i = 0; i < p->lines_drawn; i++)
		fputs("\033[1A\033[2K", p->o.out);
	p->lines_drawn = 0;
}

static void draw_live(struct progress *p)
{
	int width = term_width(p);
	struct strbuf sb = STRBUF_INIT;
	for (size_t i = 0; i < p->n; i++) {
		strbuf_reset(&sb);
		describe_step(&p->steps[i], &sb);
		if (sb.len > (size_t)width - 3)
			strbuf_setlen(&sb, (size_t)width - 3);
		fprintf(p->o.out, "%s %s\n", p->o.color ? "\033[36m…\033[0m" : "…", strbuf_str(&sb));
		p->lines_drawn++;
	}
	strbuf_release(&sb);
	fflush(p->o.out);
	p->last_draw = time_now_ms();
}

static void redraw(struct progress *p)
{
	if (!p->o.live || p->finished)
		return;
	clear_live(p);
	draw_live(p);
}

static void on_redraw(void *arg)
{
	struct progress *p = arg;
	p->redraw_timer = 0;
	redraw(p);
}

static void on_tick(void *arg)
{
	struct progress *p = arg;
	p->tick_timer = 0;
	redraw(p);
	if (p->n && !p->finished)
		p->tick_timer = evloop_add_timer(p->loop, time_now_ms() + TICK_MS, on_tick, p);
}

/* Redraw now, or soon: at most every REDRAW_MS. */
static void redraw_soon(struct progress *p)
{
	if (!p->o.live || p->finished)
		return;
	int64_t now = time_now_ms();
	if (now - p->last_draw >= REDRAW_MS) {
		redraw(p);
	} else if (!p->redraw_timer) {
		p->redraw_timer = evloop_add_timer(p->loop, p->last_draw + REDRAW_MS, on_redraw, p);
	}
	if (p->n && !p->tick_timer)
		p->tick_timer = evloop_add_timer(p->loop, now + TICK_MS, on_tick, p);
}

/* A permanent line (above the live block on a TTY). */
static void print_line(struct progress *p, const char *line)
{
	if (p->o.live)
		clear_live(p);
	if (p->o.live) {
		fprintf(p->o.out, "%s\n", line);
	} else {
		char ts[16];
		time_t t = time(NULL);
		struct tm tm;
		localtime_r(&t, &tm);
		strftime(ts, sizeof(ts), "%H:%M:%S", &tm);
		fprintf(p->o.out, "%s %s\n", ts, line);
	}
	p->last_print = time_now_ms();
	if (p->o.live)
		draw_live(p);
	else
		fflush(p->o.out);
}

static void on_keepalive(void *arg)
{
	struct progress *p = arg;
	p->keepalive_timer = 0;
	if (p->finished)
		return;
	int64_t now = time_now_ms();
	if (now - p->last_print >= p->keepalive_ms - 50) {
		struct strbuf sb = STRBUF_INIT;
		strbuf_addstr(&sb, "waitloop: still running:");
		if (!p->n)
			strbuf_addstr(&sb, " (between steps)");
		for (size_t i = 0; i < p->n && i < 8; i++) {
			strbuf_addstr(&sb, i ? "; " : " ");
			describe_step(&p->steps[i], &sb);
		}
		if (p->n > 8)
			strbuf_addf(&sb, "; and %zu more", p->n - 8);
		print_line(p, strbuf_str(&sb));
		strbuf_release(&sb);
	}
	p->keepalive_timer = evloop_add_timer(p->loop, p->last_print + p->keepalive_ms, on_keepalive, p);
}

static const char *jstr(const cJSON *d, const char *key)
{
	const char *s = d ? json_get_string(d, key) : NULL;
	return s ? s : "";
}

static double jnum(const cJSON *d, const char *key, double dflt)
{
	const cJSON *v = d ? cJSON_GetObjectItemCaseSensitive(d, key) : NULL;
	return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static void add_list(struct strbuf *sb, const cJSON *d, const char *key, const char *label)
{
	const cJSON *a = d ? cJSON_GetObjectItemCaseSensitive(d, key) : NULL;
	if (!cJSON_IsArray(a) || !cJSON_GetArraySize(a))
		return;
	strbuf_addf(sb, " %s ", label);
	const cJSON *it;
	int first = 1;
	cJSON_ArrayForEach(it, a) {
		if (cJSON_IsString(it)) {
			strbuf_addf(sb, "%s%s", first ? "" : ", ", it->valuestring);
			first = 0;
		}
	}
}

/* The line describing an event in line mode (empty: not shown). */
static void event_line(const struct wl_event *ev, struct strbuf *sb)
{
	const cJSON *d = ev->data;
	const char *step = ev->step ? ev->step : "";
	const char *reason = jstr(d, "reason");
	switch (ev->type) {
	case EV_RUN_STARTED:
		strbuf_addf(sb, "run %s started: %s (%g steps)", ev->run_id, jstr(d, "workflow"), jnum(d, "steps", 0));
		break;
	case EV_STEP_STATE:
		if (!strcmp(jstr(d, "status"), "PENDING"))
			break;
		strbuf_addf(sb, "[%s] %s", step, jstr(d, "status"));
		if (cJSON_GetObjectItemCaseSensitive(d, "duration_s"))
			strbuf_addf(sb, " (%.1fs)", jnum(d, "duration_s", 0));
		if (*reason)
			strbuf_addf(sb, " — %s", reason);
		break;
	case EV_ATTEMPT_STARTED:
		strbuf_addf(sb, "[%s] %s started", step, jstr(d, "phase"));
		if (ev->iteration)
			strbuf_addf(sb, " (iteration %d, attempt %d)", ev->iteration, ev->attempt);
		else if (ev->attempt > 1)
			strbuf_addf(sb, " (attempt %d)", ev->attempt);
		break;
	case EV_ATTEMPT_FINISHED: {
		const cJSON *ec = cJSON_GetObjectItemCaseSensitive(d, "exit_code");
		strbuf_addf(sb, "[%s] %s finished", step, jstr(d, "phase"));
		if (cJSON_IsNumber(ec))
			strbuf_addf(sb, ": exit %d", ec->valueint);
		strbuf_addf(sb, " (%.1fs)", jnum(d, "duration_s", 0));
		if (*reason)
			strbuf_addf(sb, " — %s", reason);
		break;
	}
	case EV_ITERATION_STARTED:
		strbuf_addf(sb, "[%s] iteration %d/%g", step, ev->iteration, jnum(d, "max_iterations", 0));
		break;
	case EV_ITERATION_FINISHED:
		strbuf_addf(sb, "[%s] iteration %d: %s (%s)", step, ev->iteration, jstr(d, "decision"), jstr(d, "source"));
		add_list(sb, d, "reasons", "—");
		add_list(sb, d, "fingerprints", "fingerprints:");
		break;
	case EV_OBSERVATION:
		strbuf_addf(sb, "[%s] observation %g: %s, no progress %g", step, jnum(d, "seq", 0), class_name(ev->obs_class),
			    jnum(d, "no_progress", 0));
		break;
	case EV_WAIT_FINISHED:
		strbuf_addf(sb, "[%s] wait %s after %.1fs (%g observations)", step, jstr(d, "outcome"),
			    jnum(d, "elapsed_s", 0), jnum(d, "observations", 0));
		add_list(sb, d, "fingerprints", "fingerprints:");
		break;
	case EV_EARLY_ABORT:   /* never on the bus: print_early_abort() */
		break;
	case EV_KILL:
		strbuf_addf(sb, "[%s] stopped %s", step, jstr(d, "phase"));
		add_list(sb, d, "signals_sent", "with");
		if (*jstr(d, "why"))
			strbuf_addf(sb, " — %s", jstr(d, "why"));
		break;
	case EV_ALERT:
		strbuf_addf(sb, "[%s] alert: %g consecutive failures", step, jnum(d, "consecutive_failures", 0));
		break;
	case EV_NOTIFY:
		if (strcmp(reason, "delivered") && strcmp(reason, "target_missing"))
			strbuf_addf(sb, "notify %s: %s", jstr(d, "target"), reason);
		break;
	case EV_PREFLIGHT:
		strbuf_addf(sb, "preflight %s: %s", jstr(d, "name"),
			    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d, "ok")) ? "ok" : "FAILED");
		break;
	case EV_CONVERGENCE:
		strbuf_addf(sb, "[%s] convergence stage %g", step, jnum(d, "stage", 0));
		break;
	case EV_WARNING:
		strbuf_addf(sb, "[%s] warning: %s", step, jstr(d, "message"));
		break;
	case EV_GIT_CHANGES:
	case EV_RUN_FINISHED:
	case EV__COUNT:
		break;
	}
}

static const char *status_label(const char *status)
{
	if (!strcmp(status, "SUCCEEDED"))
		return "PASS";
	if (!strcmp(status, "FAILED"))
		return "FAIL";
	if (!strcmp(status, "SKIPPED"))
		return "SKIP";
	return status;   /* INCOMPLETE, CANCELLED (and anything unexpected, as is) */
}

static const char *status_color(const char *label)
{
	if (!strcmp(label, "PASS"))
		return "\033[32m";
	if (!strcmp(label, "FAIL"))
		return "\033[31m";
	if (!strcmp(label, "CANCELLED"))
		return "\033[35m";
	return "\033[33m";
}

/* TTY mode: the state the live lines show. */
static void track(struct progress *p, const struct wl_event *ev)
{
	if (!ev->step)
		return;
	const cJSON *d = ev->data;
	struct live_step *s;
	switch (ev->type) {
	case EV_STEP_STATE: {
		const char *st = jstr(d, "status");
		if (!strcmp(st, "RUNNING")) {
			add_step(p, ev->step);
		} else if (strcmp(st, "PENDING")) {
			remove_step(p, ev->step);
			if (p->o.live) {
				const char *label = status_label(st);
				struct strbuf sb = STRBUF_INIT;
				if (p->o.color)
					strbuf_addf(&sb, "%s%-4s\033[0m %s", status_color(label), label, ev->step);
				else
					strbuf_addf(&sb, "%-4s %s", label, ev->step);
				strbuf_addf(&sb, " (%.1fs)", jnum(d, "duration_s", 0));
				if (*jstr(d, "reason"))
					strbuf_addf(&sb, " — %s", jstr(d, "reason"));
				print_line(p, strbuf_str(&sb));
				strbuf_release(&sb);
			}
		}
		break;
	}
	case EV_ATTEMPT_STARTED:
		if ((s = find_step(p, ev->step))) {
			snprintf(s->phase, sizeof(s->phase), "%s", jstr(d, "phase"));
			s->cls = CLASS_UNSET;
		}
		break;
	case EV_ITERATION_STARTED:
		if ((s = find_step(p, ev->step))) {
			s->iteration = ev->iteration;
			s->max_iterations = (int)jnum(d, "max_iterations", 0);
		}
		break;
	case EV_OBSERVATION:
		if ((s = find_step(p, ev->step))) {
			s->cls = ev->obs_class;
			s->no_progress = (int)jnum(d, "no_progress", 0);
			s->threshold = (int)jnum(d, "stall_threshold", 0);
		}
		break;
	default:
		break;
	}
}

/* A wait that ended early gets its own line before the wait line (shown
 * even on the live display at the default verbosity). */
static void print_early_abort(struct progress *p, const struct wl_event *ev)
{
	if (ev->type != EV_WAIT_FINISHED || !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ev->data, "early_abort")))
		return;
	struct strbuf sb = STRBUF_INIT;
	strbuf_addf(&sb, "[%s] early abort: %s", ev->step ? ev->step : "", jstr(ev->data, "outcome"));
	print_line(p, strbuf_str(&sb));
	strbuf_release(&sb);
}

void progress_sink(void *arg, const struct wl_event *ev)
{
	struct progress *p = arg;
	if (p->finished)
		return;
	/* The list of running steps is for the live lines and the keepalive
	 * line; quiet and not live, nothing reads it (no linear search of it
	 * per event: 200 parallel steps made that 4 % of the runner's
	 * instructions). */
	if (p->o.live || p->o.verbosity >= 0)
		track(p, ev);
	if (p->o.verbosity < 0)
		return;
	print_early_abort(p, ev);
	if (p->o.live) {
		if (p->o.verbosity > 0 || ev->type == EV_ALERT) {
			struct strbuf sb = STRBUF_INIT;
			if (ev->type != EV_STEP_STATE)
				event_line(ev, &sb);
			if (sb.len)
				print_line(p, strbuf_str(&sb));
			strbuf_release(&sb);
		}
		redraw_soon(p);
		return;
	}
	struct strbuf sb = STRBUF_INIT;
	event_line(ev, &sb);
	if (sb.len)
		print_line(p, strbuf_str(&sb));
	strbuf_release(&sb);
}

void progress_output(void *arg, const char *step, enum proc_stream stream, const char *data, size_t len)
{
	struct progress *p = arg;
	if (p->o.verbosity < 1 || p->finished)
		return;
	struct live_step *s = add_step(p, step);
	int k = stream == PROC_STDERR;
	struct strbuf *part = &s->partial[k];
	/* Redacted as a stream, before any cut: a private key stays hidden from
	 * BEGIN to END and an over-long line is cut only after redaction. */
	if (!s->rs[k])
		s->rs[k] = redact_stream_new(p->rd);
	struct strbuf safe = STRBUF_INIT;
	redact_stream_feed(s->rs[k], data, len, &safe);
	for (size_t i = 0; i < safe.len; i++) {
		char ch = safe.buf[i];
		if (ch != '\n' && part->len < PARTIAL_MAX) {
			strbuf_addch(part, ch);
			continue;
		}
		if (ch != '\n')
			continue;   /* over-long line: the rest is dropped until its end */
		char *line = xasprintf("[%s] %s", step, strbuf_str(part));
		print_line(p, line);
		free(line);
		strbuf_reset(part);
	}
	strbuf_release(&safe);
}

void progress_finish(struct progress *p)
{
	if (p->finished)
		return;
	p->finished = 1;
	if (p->o.live) {
		clear_live(p);
		fflush(p->o.out);
	}
	if (p->redraw_timer)
		evloop_cancel_timer(p->loop, p->redraw_timer);
	if (p->tick_timer)
		evloop_cancel_timer(p->loop, p->tick_timer);
	if (p->keepalive_timer)
		evloop_cancel_timer(p->loop, p->keepalive_timer);
	p->redraw_timer = p->tick_timer = p->keepalive_timer = 0;
}

/*
 * The result table after a run. Two layouts, one printer:
 *   waitloop: "PASS  step (2 iterations) — reason", then "Workflow: S (1.0s)", ...
 *   roboppi (its run.ts): a "─── Results ───" header, "  PASS  step<pad> (N
 *   iterations) — reason" (iterations only when more than one, no reason on
 *   SKIP), then "Workflow: S  (1.0s)", "Context:  ...", "Run:      ...".
 */
static void print_table(FILE *out, const cJSON *summary, int color, int roboppi)
{
	const cJSON *steps = cJSON_GetObjectItemCaseSensitive(summary, "steps");
	const cJSON *st;
	size_t width = roboppi ? 0 : 4;   /* roboppi pads the step ids, waitloop the labels */
	cJSON_ArrayForEach(st, steps) {
		size_t w = strlen(roboppi ? jstr(st, "id") : status_label(jstr(st, "status")));
		if (w > width)
			width = w;
	}
	if (roboppi)
		fprintf(out, "\n%s\n\n", color ? "\033[1m─── Results ───\033[0m" : "─── Results ───");
	cJSON_ArrayForEach(st, steps) {
		const char *label = status_label(jstr(st, "status"));
		const char *on = color ? status_color(label) : "", *off = color ? "\033[0m" : "";
		if (roboppi)
			fprintf(out, "  %s%s%s  %-*s", on, label, off, (int)width, jstr(st, "id"));
		else
			fprintf(out, "%s%-*s%s  %s", on, (int)width, label, off, jstr(st, "id"));
		int iters = (int)jnum(st, "iterations", 0);
		if (iters > (roboppi ? 1 : 0))
			fprintf(out, " (%d iteration%s)", iters, iters == 1 ? "" : "s");
		const char *reason = jstr(st, "reason");
		if (*reason && strcmp(label, "PASS") && !(roboppi && !strcmp(label, "SKIP")))
			fprintf(out, " — %s", reason);
		fputc('\n', out);
	}
	fprintf(out, roboppi ? "\nWorkflow: %s  (%.1fs)\n" : "Workflow: %s (%.1fs)\n", jstr(summary, "status"),
		jnum(summary, "duration_s", 0));
	fprintf(out, roboppi ? "Context:  %s\n" : "Context: %s\n", jstr(summary, "context_dir"));
	fprintf(out, roboppi ? "Run:      %s\n" : "Run: %s\n", jstr(summary, "run_id"));
	fflush(out);
}

void progress_print_roboppi_table(FILE *out, const cJSON *summary, int color)
{
	print_table(out, summary, color, 1);
}

void progress_print_table(FILE *out, const cJSON *summary, int color)
{
	print_table(out, summary, color, 0);
}
