#include "jsonutil.h"
#include "metrics.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "timeutil.h"
#include "xalloc.h"

enum family {
	F_RUN_DURATION,
	F_STEP_DURATION,
	F_ITERATIONS,
	F_WAITS,
	F_WAIT_SECONDS,      /* summary: the _sum series */
	F_WAIT_SECONDS_COUNT,/* summary: the _count series (rendered under F_WAIT_SECONDS) */
	F_EARLY_ABORTS,
	F_CONSECUTIVE,
	F_ALERTS,
	F_FALSE_ABORTS,
	F_NOTIFICATIONS,
	F_LAST_RUN,
	F__COUNT
};

static const struct {
	const char *name, *type, *help, *l1, *l2;
} families[F__COUNT] = {
	[F_RUN_DURATION] = {"waitloop_run_duration_seconds", "gauge",
			    "Wall time of the current or last run in seconds.", NULL, NULL},
	[F_STEP_DURATION] = {"waitloop_step_duration_seconds", "gauge",
			     "Wall time of a step from RUNNING to its final status in seconds.", "step", NULL},
	[F_ITERATIONS] = {"waitloop_iterations_total", "counter",
			  "Finished completion_check iterations of a step.", "step", NULL},
	[F_WAITS] = {"waitloop_waits_total", "counter", "Finished waits of a step by outcome.", "step",
		     "outcome"},
	[F_WAIT_SECONDS] = {"waitloop_wait_seconds", "summary", "Time spent in waits of a step in seconds.",
			    "step", NULL},
	[F_WAIT_SECONDS_COUNT] = {"waitloop_wait_seconds", NULL, NULL, "step", NULL},
	[F_EARLY_ABORTS] = {"waitloop_early_aborts_total", "counter",
			    "Waits of a step ended early (terminal_fail, stalled, no_output) by reason.", "step",
			    "reason"},
	[F_CONSECUTIVE] = {"waitloop_consecutive_failures", "gauge",
			   "Failed attempts or iterations of a step in a row right now.", "step", NULL},
	[F_ALERTS] = {"waitloop_alerts_total", "counter",
		      "Alerts raised for a step (alert_after_failures reached).", "step", NULL},
	[F_FALSE_ABORTS] = {"waitloop_suspected_false_aborts_total", "counter",
			    "Stalls of a step's check that the next iteration found met with no file changed.",
			    "step", NULL},
	[F_NOTIFICATIONS] = {"waitloop_notifications_total", "counter",
			     "Notification deliveries by target and delivery reason.", "target", "reason"},
	[F_LAST_RUN] = {"waitloop_last_run_timestamp_seconds", "gauge",
			"Unix time of the last run by status (RUNNING: start of the run in progress).",
			"status", NULL},
};

struct series {
	enum family fam;
	char *l1, *l2;
	double value;
};

struct step_clock {
	char *step;
	int64_t start_ms;   /* wall; 0 = not started */
	int done;
};

struct metrics {
	char *path;
	struct series *s;
	size_t n, alloc;
	struct step_clock *clocks;
	size_t nclocks, aclocks;
	int64_t run_start_ms;   /* wall; 0 = no run_started seen */
	int64_t last_ts_ms;     /* latest event time */
	int run_done;
	metrics_warn_fn warn;
	void *warn_ctx;
	int failing;            /* last write failed (warned) */
};

/* Enumerated label values (outcome, reason, status) are single words like
 * "terminal_fail" or "TIMED_OUT"; anything else (free text, which could
 * carry a secret) becomes "other". */
static char *safe_label(const char *v)
{
	size_t n = v ? strlen(v) : 0;
	if (!n)
		return xstrdup("unknown");
	if (n > 32)
		return xstrdup("other");
	for (size_t i = 0; i < n; i++)
		if (!isalpha((unsigned char)v[i]) && v[i] != '_')
			return xstrdup("other");
	return xstrdup(v);
}

static struct series *series_get(struct metrics *m, enum family f, const char *l1, const char *l2)
{
	for (size_t i = 0; i < m->n; i++) {
		struct series *s = &m->s[i];
		if (s->fam == f && !strcmp(s->l1 ? s->l1 : "", l1 ? l1 : "") &&
		    !strcmp(s->l2 ? s->l2 : "", l2 ? l2 : ""))
			return s;
	}
	XGROW(m->s, m->n + 1, m->alloc);
	struct series *s = &m->s[m->n++];
	s->fam = f;
	s->l1 = xstrdup(l1);
	s->l2 = xstrdup(l2);
	s->value = 0;
	return s;
}

static void series_drop(struct metrics *m, enum family f, const char *l1)
{
	for (size_t i = 0; i < m->n; i++) {
		if (m->s[i].fam == f && !strcmp(m->s[i].l1 ? m->s[i].l1 : "", l1)) {
			free(m->s[i].l1);
			free(m->s[i].l2);
			memmove(&m->s[i], &m->s[i + 1], (m->n - i - 1) * sizeof(*m->s));
			m->n--;
			return;
		}
	}
}

static struct step_clock *clock_get(struct metrics *m, const char *step)
{
	for (size_t i = 0; i < m->nclocks; i++)
		if (!strcmp(m->clocks[i].step, step))
			return &m->clocks[i];
	XGROW(m->clocks, m->nclocks + 1, m->aclocks);
	struct step_clock *c = &m->clocks[m->nclocks++];
	c->step = xstrdup(step);
	c->start_ms = 0;
	c->done = 0;
	return c;
}

/* First sight of a step: zero series so increase()/rate() work from the start. */
static void step_seen(struct metrics *m, const char *step)
{
	for (size_t i = 0; i < m->nclocks; i++)
		if (!strcmp(m->clocks[i].step, step))
			return;
	clock_get(m, step);
	series_get(m, F_ITERATIONS, step, NULL);
	series_get(m, F_ALERTS, step, NULL);
	series_get(m, F_FALSE_ABORTS, step, NULL);
	series_get(m, F_CONSECUTIVE, step, NULL);
}

/* Keep last_run_timestamp_seconds{status} of earlier runs. */
static void carry_over(struct metrics *m)
{
	struct strbuf sb = STRBUF_INIT;
	if (fs_read_file(m->path, 1 << 20, &sb, NULL) < 0) {
		strbuf_release(&sb);
		return;
	}
	static const char prefix[] = "waitloop_last_run_timestamp_seconds{status=\"";
	char *line = sb.buf;
	while (line && *line) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		if (!strncmp(line, prefix, sizeof(prefix) - 1)) {
			char *st = line + sizeof(prefix) - 1, *q = strchr(st, '"');
			if (q && q[1] == '}' && q[2] == ' ') {
				*q = '\0';
				char *end;
				double v = strtod(q + 3, &end);
				if (end != q + 3 && strcmp(st, "RUNNING")) {
					char *label = safe_label(st);
					series_get(m, F_LAST_RUN, label, NULL)->value = v;
					free(label);
				}
			}
		}
		line = nl ? nl + 1 : NULL;
	}
	strbuf_release(&sb);
}

struct metrics *metrics_new(const char *path)
{
	struct metrics *m = xcalloc(1, sizeof(*m));
	m->path = xstrdup(path);
	carry_over(m);
	return m;
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++) {
		free(m->s[i].l1);
		free(m->s[i].l2);
	}
	for (size_t i = 0; i < m->nclocks; i++)
		free(m->clocks[i].step);
	free(m->s);
	free(m->clocks);
	free(m->path);
	free(m);
}

void metrics_set_warn(struct metrics *m, metrics_warn_fn fn, void *ctx)
{
	m->warn = fn;
	m->warn_ctx = ctx;
}

static void add_label_value(struct strbuf *sb, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\')
			strbuf_addstr(sb, "\\\\");
		else if (*v == '"')
			strbuf_addstr(sb, "\\\"");
		else if (*v == '\n')
			strbuf_addstr(sb, "\\n");
		else
			strbuf_addch(sb, *v);
	}
}

static void add_sample(struct strbuf *sb, const char *name, const char *suffix, const struct series *s)
{
	enum family f = s->fam;
	strbuf_addf(sb, "%s%s", name, suffix);
	if (families[f].l1) {
		strbuf_addf(sb, "{%s=\"", families[f].l1);
		add_label_value(sb, s->l1 ? s->l1 : "");
		strbuf_addch(sb, '"');
		if (families[f].l2) {
			strbuf_addf(sb, ",%s=\"", families[f].l2);
			add_label_value(sb, s->l2 ? s->l2 : "");
			strbuf_addch(sb, '"');
		}
		strbuf_addch(sb, '}');
	}
	strbuf_addf(sb, " %.15g\n", s->value);
}

/* Durations of things still running, as of the latest event. */
static void update_clocks(struct metrics *m)
{
	int64_t now = m->last_ts_ms;
	if (m->run_start_ms && !m->run_done)
		series_get(m, F_RUN_DURATION, NULL, NULL)->value =
			now > m->run_start_ms ? (double)(now - m->run_start_ms) / 1000.0 : 0;
	for (size_t i = 0; i < m->nclocks; i++) {
		struct step_clock *c = &m->clocks[i];
		if (c->start_ms && !c->done)
			series_get(m, F_STEP_DURATION, c->step, NULL)->value =
				now > c->start_ms ? (double)(now - c->start_ms) / 1000.0 : 0;
	}
}

void metrics_render(struct metrics *m, struct strbuf *out)
{
	update_clocks(m);
	for (int f = 0; f < F__COUNT; f++) {
		if (!families[f].type)
			continue;
		strbuf_addf(out, "# HELP %s %s\n", families[f].name, families[f].help);
		strbuf_addf(out, "# TYPE %s %s\n", families[f].name, families[f].type);
		int summary = f == F_WAIT_SECONDS;
		for (size_t i = 0; i < m->n; i++)
			if ((int)m->s[i].fam == f)
				add_sample(out, families[f].name, summary ? "_sum" : "", &m->s[i]);
		if (summary)
			for (size_t i = 0; i < m->n; i++)
				if (m->s[i].fam == F_WAIT_SECONDS_COUNT)
					add_sample(out, families[f].name, "_count", &m->s[i]);
	}
}

int metrics_refresh(struct metrics *m, struct wl_err *err)
{
	int64_t now = time_wall_ms();
	if (!m->run_done && now > m->last_ts_ms)
		m->last_ts_ms = now;
	return metrics_flush(m, err);
}

int metrics_flush(struct metrics *m, struct wl_err *err)
{
	struct strbuf sb = STRBUF_INIT;
	struct wl_err local = WL_ERR_INIT;
	if (!m->last_ts_ms)
		m->last_ts_ms = time_wall_ms();
	metrics_render(m, &sb);
	int r = fs_write_atomic(m->path, sb.buf, sb.len, &local);
	strbuf_release(&sb);
	if (r < 0) {
		if (!m->failing && m->warn)
			m->warn(m->warn_ctx, local.msg);
		m->failing = 1;
		if (err)
			*err = local;
		return -1;
	}
	m->failing = 0;
	return 0;
}

void metrics_set_consecutive_failures(struct metrics *m, const char *step, int n)
{
	step_seen(m, step);
	struct series *s = series_get(m, F_CONSECUTIVE, step, NULL);
	if (s->value != n) {
		s->value = n;
		metrics_flush(m, NULL);
	}
}

static void add_labelled(struct metrics *m, enum family f, const char *l1, const char *raw2, double by)
{
	char *l2 = safe_label(raw2);
	series_get(m, f, l1, l2)->value += by;
	free(l2);
}

/* Apply one event; returns 1 when a value changed. */
static int apply(struct metrics *m, const struct wl_event *ev)
{
	const cJSON *d = ev->data;
	const char *step = ev->step;
	int changed = 0;
	if (step) {
		size_t before = m->n;
		step_seen(m, step);
		changed = m->n != before;
		double cf = json_get_number(d, "consecutive_failures", -1);
		if (cf >= 0) {
			struct series *s = series_get(m, F_CONSECUTIVE, step, NULL);
			changed |= s->value != cf;
			s->value = cf;
		}
	}
	switch (ev->type) {
	case EV_RUN_STARTED:
		m->run_start_ms = ev->ts_ms;
		m->run_done = 0;
		series_get(m, F_LAST_RUN, "RUNNING", NULL)->value = (double)ev->ts_ms / 1000.0;
		return 1;
	case EV_RUN_FINISHED: {
		m->run_done = 1;
		double dur = json_get_number(d, "duration_s", -1);
		if (dur < 0)
			dur = m->run_start_ms && ev->ts_ms > m->run_start_ms
				      ? (double)(ev->ts_ms - m->run_start_ms) / 1000.0
				      : 0;
		series_get(m, F_RUN_DURATION, NULL, NULL)->value = dur;
		series_drop(m, F_LAST_RUN, "RUNNING");
		char *st = safe_label(json_get_string(d, "status"));
		series_get(m, F_LAST_RUN, st, NULL)->value = (double)ev->ts_ms / 1000.0;
		free(st);
		return 1;
	}
	case EV_STEP_STATE: {
		const char *st = json_get_string(d, "status");
		if (!step || !st)
			return changed;
		struct step_clock *c = clock_get(m, step);
		if (!strcasecmp(st, "RUNNING")) {
			if (!c->start_ms) {
				c->start_ms = ev->ts_ms;
				c->done = 0;
				series_get(m, F_STEP_DURATION, step, NULL);
				return 1;
			}
			return changed;
		}
		if (!strcasecmp(st, "PENDING") || c->done)
			return changed;
		c->done = 1;
		double dur = json_get_number(d, "duration_s", -1);
		if (dur < 0)
			dur = c->start_ms && ev->ts_ms > c->start_ms ? (double)(ev->ts_ms - c->start_ms) / 1000.0 : 0;
		series_get(m, F_STEP_DURATION, step, NULL)->value = dur;
		return 1;
	}
	case EV_ITERATION_FINISHED:
		if (!step)
			return changed;
		series_get(m, F_ITERATIONS, step, NULL)->value += 1;
		if (cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(d, "suspected_false_abort")))
			series_get(m, F_FALSE_ABORTS, step, NULL)->value += 1;
		return 1;
	case EV_WAIT_FINISHED:
		if (!step)
			return changed;
		add_labelled(m, F_WAITS, step, json_get_string(d, "outcome"), 1);
		series_get(m, F_WAIT_SECONDS, step, NULL)->value += json_get_number(d, "elapsed_s", 0);
		series_get(m, F_WAIT_SECONDS_COUNT, step, NULL)->value += 1;
		if (json_get_bool(d, "early_abort")) {
			const char *why = json_get_string(d, "reason");
			add_labelled(m, F_EARLY_ABORTS, step, why ? why : json_get_string(d, "outcome"), 1);
		}
		return 1;
	case EV_ALERT:
		if (!step)
			return changed;
		series_get(m, F_ALERTS, step, NULL)->value += 1;
		return 1;
	case EV_NOTIFY: {
		const char *target = json_get_string(d, "target");
		if (!target)
			return changed;
		add_labelled(m, F_NOTIFICATIONS, target, json_get_string(d, "reason"), 1);
		return 1;
	}
	default:
		return changed;
	}
}

void metrics_sink(void *ctx, const struct wl_event *ev)
{
	struct metrics *m = ctx;
	int64_t ts = ev->ts_ms ? ev->ts_ms : time_wall_ms();
	if (ts > m->last_ts_ms)
		m->last_ts_ms = ts;
	struct wl_event e = *ev;
	e.ts_ms = ts;
	if (apply(m, &e))
		metrics_flush(m, NULL);
}
