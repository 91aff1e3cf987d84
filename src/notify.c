#include "notify.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "jsonutil.h"
#include "evloop.h"
#include "proc.h"
#include "strbuf.h"
#include "strvec.h"
#include "timeutil.h"
#include "xalloc.h"

#define LOG_LINE_MAX 200
#define STOP_GRACE_MS 500
#define LINGER_MS 200

static const char *const reason_names[] = {
	[NOTIFY_DELIVERED] = "delivered",
	[NOTIFY_TARGET_MISSING] = "target_missing",
	[NOTIFY_NOT_REACHABLE] = "not_reachable",
	[NOTIFY_SEND_FAILED] = "send_failed",
	[NOTIFY_TIMED_OUT] = "timed_out",
	[NOTIFY_DUPLICATE_SUPPRESSED] = "duplicate_suppressed",
};

/* The notifiable events: bus type -> name used in notify.events. */
static const enum ev_type notifiable[] = {EV_EARLY_ABORT, EV_ITERATION_FINISHED, EV_ALERT, EV_RUN_STARTED,
					  EV_RUN_FINISHED};

struct target {
	char *name;
	enum wl_notify_type type;
	char *path;             /* file target, resolved against cwd */
	struct strvec argv;     /* command target, split into words */
	int64_t timeout_ms;
};

/* What one delivery is about; strings owned. */
struct about {
	char *run_id, *step, *event, *target;
	int iteration, attempt;
};

struct report {
	struct about a;
	enum notify_reason reason;
	char *message;
	struct report *next;
};

struct delivery {
	struct notifier *n;     /* NULL once orphaned by notify_free() after a failed drain */
	struct proc *p;
	struct about a;
	int64_t timeout_ms;
	struct delivery *prev, *next;
};

struct notifier {
	struct target *t;
	size_t nt;
	unsigned events;        /* bit per enum ev_type */
	struct evloop *loop;
	struct event_bus *bus;
	char *cwd;
	struct strvec env;
	int has_env;
	notify_log_fn log;
	void *log_ctx;
	notify_claim_fn claim;
	void *claim_ctx;
	struct strvec seen;     /* delivery keys */
	struct delivery *inflight;
	int ninflight;
	struct report *rq_head, *rq_tail;
	int nqueued;
	uint64_t flush_timer;
	int64_t max_timeout_ms;
};

const char *notify_reason_name(enum notify_reason r)
{
	return (unsigned)r < sizeof(reason_names) / sizeof(*reason_names) ? reason_names[r] : "unknown";
}

/* Words of a command line: blanks separate, '…' literal, "…" with \" and \\, \x outside. */
static int split_words(const char *s, struct strvec *out)
{
	struct strbuf w = STRBUF_INIT;
	int in_word = 0;
	for (const char *p = s; *p; p++) {
		if (*p == ' ' || *p == '\t' || *p == '\n') {
			if (in_word)
				strvec_push_owned(out, strbuf_detach(&w));
			in_word = 0;
			continue;
		}
		in_word = 1;
		if (*p == '\'') {
			const char *q = strchr(p + 1, '\'');
			if (!q)
				goto bad;
			strbuf_add(&w, p + 1, (size_t)(q - p - 1));
			p = q;
		} else if (*p == '"') {
			for (p++; *p && *p != '"'; p++) {
				if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
					p++;
				strbuf_addch(&w, *p);
			}
			if (!*p)
				goto bad;
		} else if (*p == '\\' && p[1]) {
			strbuf_addch(&w, *++p);
		} else {
			strbuf_addch(&w, *p);
		}
	}
	if (in_word)
		strvec_push_owned(out, strbuf_detach(&w));
	strbuf_release(&w);
	return out->n ? 0 : -1;
bad:
	strbuf_release(&w);
	return -1;
}

struct notifier *notify_new(const struct wl_notify *cfg, const struct notify_options *opt,
			    struct wl_err *err)
{
	struct notifier *n = xcalloc(1, sizeof(*n));
	n->loop = opt->loop;
	n->bus = opt->bus;
	n->cwd = xstrdup(opt->cwd);
	n->log = opt->log;
	n->log_ctx = opt->log_ctx;
	n->claim = opt->claim;
	n->claim_ctx = opt->claim_ctx;
	if (opt->env) {
		n->has_env = 1;
		for (char *const *e = opt->env; *e; e++)
			strvec_push(&n->env, *e);
	}
	for (size_t i = 0; i < sizeof(notifiable) / sizeof(*notifiable); i++)
		if (!cfg->events.n || strvec_contains(&cfg->events, event_type_name(notifiable[i])))
			n->events |= 1u << notifiable[i];
	n->t = xcalloc(cfg->ntargets ? cfg->ntargets : 1, sizeof(*n->t));
	for (size_t i = 0; i < cfg->ntargets; i++) {
		const struct wl_notify_target *src = &cfg->targets[i];
		struct target *t = &n->t[n->nt++];
		t->name = xstrdup(src->name ? src->name : "");
		t->type = src->type;
		t->timeout_ms = src->timeout > 0 ? src->timeout : NOTIFY_DEFAULT_TIMEOUT_MS;
		if (t->type == NOTIFY_FILE) {
			t->path = n->cwd && src->path ? fs_join(n->cwd, src->path) : xstrdup(src->path);
			/* Nothing is created, but a target whose directory is missing
			 * at the start would drop every delivery: said once, here. */
			char *dir = xstrdup(t->path);
			char *slash = strrchr(dir, '/');
			if (slash && slash != dir)
				*slash = '\0';
			if (slash && slash != dir && !fs_is_dir(dir) && n->log) {
				char line[400];
				snprintf(line, sizeof(line),
					 "notify: target '%s': directory '%s' is missing: deliveries will be target_missing",
					 t->name, dir);
				n->log(n->log_ctx, NOTIFY_LOG_WARNING, line);
			}
			free(dir);
		} else if (t->type == NOTIFY_COMMAND) {
			if (!src->command || split_words(src->command, &t->argv) < 0) {
				err_set(err, "notify target '%s': cannot split command '%s' into words", t->name,
					src->command ? src->command : "");
				notify_free(n);
				return NULL;
			}
			if (t->timeout_ms > n->max_timeout_ms)
				n->max_timeout_ms = t->timeout_ms;
		}
	}
	return n;
}

static void about_release(struct about *a)
{
	free(a->run_id);
	free(a->step);
	free(a->event);
	free(a->target);
}

static void about_set(struct about *a, const struct wl_event *ev, const char *event, const char *target)
{
	a->run_id = xstrdup(ev->run_id);
	a->step = xstrdup(ev->step);
	a->event = xstrdup(event);
	a->target = xstrdup(target);
	a->iteration = ev->iteration;
	a->attempt = ev->attempt;
}

static void flush_reports(struct notifier *n)
{
	while (n->rq_head) {
		struct report *r = n->rq_head;
		n->rq_head = r->next;
		if (!n->rq_head)
			n->rq_tail = NULL;
		n->nqueued--;
		if (n->bus) {
			cJSON *d = cJSON_CreateObject();
			cJSON_AddStringToObject(d, "target", r->a.target);
			cJSON_AddStringToObject(d, "event", r->a.event);
			cJSON_AddStringToObject(d, "reason", notify_reason_name(r->reason));
			cJSON_AddStringToObject(d, "message", r->message);
			struct wl_event ev = {EV_NOTIFY, 0, r->a.run_id, r->a.step, r->a.iteration, r->a.attempt, d, CLASS_UNSET};
			bus_emit(n->bus, &ev);
			cJSON_Delete(d);
		}
		about_release(&r->a);
		free(r->message);
		free(r);
	}
}

static void on_flush_timer(void *arg)
{
	struct notifier *n = arg;
	n->flush_timer = 0;
	flush_reports(n);
}

/* One bounded line: "notify: timed_out: target 'x' (alert, step 's', iteration 2): message". */
static void log_line(struct notifier *n, const struct about *a, enum notify_reason reason, const char *message)
{
	if (!n->log)
		return;
	struct strbuf sb = STRBUF_INIT;
	strbuf_addf(&sb, "notify: %s: target '%s' (%s", notify_reason_name(reason), a->target, a->event);
	if (a->step)
		strbuf_addf(&sb, ", step '%s'", a->step);
	if (a->iteration)
		strbuf_addf(&sb, ", iteration %d", a->iteration);
	strbuf_addf(&sb, "): %s", message);
	for (size_t i = 0; i < sb.len; i++)
		if (sb.buf[i] == '\n' || sb.buf[i] == '\r' || sb.buf[i] == '\t')
			sb.buf[i] = ' ';
	if (sb.len > LOG_LINE_MAX) {
		strbuf_setlen(&sb, LOG_LINE_MAX - 3);
		strbuf_addstr(&sb, "...");
	}
	int debug = reason == NOTIFY_DELIVERED || reason == NOTIFY_TARGET_MISSING;
	n->log(n->log_ctx, debug ? NOTIFY_LOG_DEBUG : NOTIFY_LOG_WARNING, sb.buf);
	strbuf_release(&sb);
}

/* Record a result: log now, report on the bus after the current event (takes a's strings). */
static void report(struct notifier *n, struct about *a, enum notify_reason reason, const char *message)
{
	log_line(n, a, reason, message);
	struct report *r = xcalloc(1, sizeof(*r));
	r->a = *a;
	memset(a, 0, sizeof(*a));
	r->reason = reason;
	r->message = xstrdup(message);
	if (n->rq_tail)
		n->rq_tail->next = r;
	else
		n->rq_head = r;
	n->rq_tail = r;
	n->nqueued++;
	if (!n->loop)
		flush_reports(n);
	else if (!n->flush_timer)
		n->flush_timer = evloop_add_timer(n->loop, time_now_ms(), on_flush_timer, n);
}

char *notify_payload(const struct wl_event *ev)
{
	cJSON *body = event_to_json(ev);
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "schema", "waitloop.event.v1");
	while (body->child) {
		cJSON *it = cJSON_DetachItemViaPointer(body, body->child);
		if (!strcmp(it->string, "schema"))
			cJSON_Delete(it);
		else
			cJSON_AddItemToObject(o, it->string, it);
	}
	cJSON_Delete(body);
	char *s = json_compact(o);
	cJSON_Delete(o);
	return s;
}

static enum notify_reason deliver_file(const struct target *t, const char *payload, char *msg, size_t msz)
{
	/* O_NONBLOCK: a FIFO without a reader fails (ENXIO) instead of blocking the run. */
	int fd = open(t->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0644);
	if (fd < 0) {
		int e = errno;
		snprintf(msg, msz, "cannot open '%s': %s", t->path, strerror(e));
		if (e == ENOENT || e == ENOTDIR)
			return NOTIFY_TARGET_MISSING;
		if (e == EACCES || e == EPERM || e == EROFS || e == EISDIR || e == ENXIO)
			return NOTIFY_NOT_REACHABLE;
		return NOTIFY_SEND_FAILED;
	}
	size_t len = strlen(payload);
	/* Whole lines or nothing. A FIFO takes the line only when it has room
	 * for all of it (a reader that does not read must not get half a JSON
	 * line); a file cut short (full disk) is truncated back. */
	struct stat st;
	int fifo = fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
	off_t before = !fifo && fstat(fd, &st) == 0 ? st.st_size : -1;
	if (fifo) {
		int size = fcntl(fd, F_GETPIPE_SZ), queued = 0;
		if (size > 0 && ioctl(fd, FIONREAD, &queued) == 0 && (size_t)(size - queued) < len + 1) {
			close(fd);
			snprintf(msg, msz, "cannot write '%s': the FIFO is full (its reader is not reading); line not written",
				 t->path);
			return NOTIFY_SEND_FAILED;
		}
	}
	char *line = xmalloc(len + 1);
	memcpy(line, payload, len);
	line[len] = '\n';
	ssize_t w;
	do
		w = write(fd, line, len + 1);
	while (w < 0 && errno == EINTR);
	int e = errno;
	free(line);
	if (w > 0 && w != (ssize_t)(len + 1) && before >= 0 && ftruncate(fd, before) < 0)
		e = errno;
	if (close(fd) < 0 && w == (ssize_t)(len + 1)) {
		e = errno;
		w = -1;
	}
	if (w != (ssize_t)(len + 1)) {
		snprintf(msg, msz, "cannot write '%s': %s", t->path, w < 0 ? strerror(e) : "short write");
		return NOTIFY_SEND_FAILED;
	}
	snprintf(msg, msz, "appended to '%s'", t->path);
	return NOTIFY_DELIVERED;
}

static const char *env_path(const struct notifier *n)
{
	if (n->has_env)
		return strvec_getenv(&n->env, "PATH");
	return getenv("PATH");
}

/* Find the command before starting anything: a peer that is absent is left alone. */
static enum notify_reason resolve_command(const struct notifier *n, const char *word, char **resolved,
					  char *msg, size_t msz)
{
	struct stat st;
	if (strchr(word, '/')) {
		char *p = n->cwd ? fs_join(n->cwd, word) : xstrdup(word);
		if (stat(p, &st) < 0) {
			int e = errno;
			snprintf(msg, msz, "command '%s': %s", word, strerror(e));
			free(p);
			return e == ENOENT || e == ENOTDIR ? NOTIFY_TARGET_MISSING : NOTIFY_NOT_REACHABLE;
		}
		if (!S_ISREG(st.st_mode) || access(p, X_OK) < 0) {
			snprintf(msg, msz, "command '%s' is not executable", word);
			free(p);
			return NOTIFY_NOT_REACHABLE;
		}
		*resolved = p;
		return NOTIFY_DELIVERED;
	}
	int e = 0;
	*resolved = fs_find_command(word, env_path(n), NULL, &e);
	if (*resolved)
		return NOTIFY_DELIVERED;
	if (e == EACCES) {
		snprintf(msg, msz, "command '%s' is not executable", word);
		return NOTIFY_NOT_REACHABLE;
	}
	snprintf(msg, msz, "command not found: '%s'", word);
	return NOTIFY_TARGET_MISSING;
}

static void unlink_delivery(struct notifier *n, struct delivery *d)
{
	if (d->prev)
		d->prev->next = d->next;
	else
		n->inflight = d->next;
	if (d->next)
		d->next->prev = d->prev;
	n->ninflight--;
}

static void on_command_exit(void *arg, const struct proc_result *res)
{
	struct delivery *d = arg;
	struct notifier *n = d->n;
	if (!n) {   /* orphaned: the notifier is gone */
		about_release(&d->a);
		free(d);
		return;
	}
	unlink_delivery(n, d);
	char msg[300];
	char tmo[32];
	enum notify_reason r;
	duration_format(d->timeout_ms, tmo, sizeof(tmo));
	if (res->exec_failed) {
		r = res->exit_code == 127 ? NOTIFY_TARGET_MISSING : NOTIFY_NOT_REACHABLE;
		snprintf(msg, sizeof(msg), "%s", res->exec_error[0] ? res->exec_error : strerror(res->exec_errno));
	} else if (res->timed_out) {
		r = NOTIFY_TIMED_OUT;
		snprintf(msg, sizeof(msg), "no answer within %s; stopped", tmo);
	} else if (res->exited && res->exit_code == 0) {
		r = NOTIFY_DELIVERED;
		snprintf(msg, sizeof(msg), "command exited 0");
	} else if (res->exited) {
		r = NOTIFY_SEND_FAILED;
		snprintf(msg, sizeof(msg), "command exited %d", res->exit_code);
	} else {
		r = NOTIFY_SEND_FAILED;
		snprintf(msg, sizeof(msg), "command killed by signal %d", res->signo);
	}
	report(n, &d->a, r, msg);
	free(d);
}

static void deliver_command(struct notifier *n, const struct target *t, struct about *a, const char *payload)
{
	char msg[300];
	char *resolved = NULL;
	enum notify_reason r = resolve_command(n, t->argv.v[0], &resolved, msg, sizeof(msg));
	if (r != NOTIFY_DELIVERED) {
		report(n, a, r, msg);
		return;
	}
	if (!n->loop) {
		free(resolved);
		report(n, a, NOTIFY_SEND_FAILED, "no event loop to run a command target");
		return;
	}
	struct strvec argv = STRVEC_INIT;
	strvec_push_owned(&argv, resolved);
	for (size_t i = 1; i < t->argv.n; i++)
		strvec_push(&argv, t->argv.v[i]);
	char *in = xasprintf("%s\n", payload);
	struct delivery *d = xcalloc(1, sizeof(*d));
	d->n = n;
	d->timeout_ms = t->timeout_ms;
	struct proc_spec spec = PROC_SPEC_INIT;
	spec.argv = argv.v;
	spec.env = n->has_env ? n->env.v : NULL;
	spec.cwd = n->cwd;
	spec.stdin_data = in;
	spec.stdin_len = strlen(in);
	spec.timeout_ms = t->timeout_ms;
	spec.grace_ms = STOP_GRACE_MS;
	spec.linger_ms = LINGER_MS;
	spec.on_exit = on_command_exit;
	spec.arg = d;
	struct wl_err err = WL_ERR_INIT;
	/* Linked before proc_start: on_exit may in principle come from inside it. */
	d->a = *a;
	memset(a, 0, sizeof(*a));
	d->next = n->inflight;
	if (n->inflight)
		n->inflight->prev = d;
	n->inflight = d;
	n->ninflight++;
	struct proc *p = proc_start(n->loop, &spec, &err);
	strvec_clear(&argv);
	free(in);
	if (!p) {
		unlink_delivery(n, d);
		report(n, &d->a, NOTIFY_SEND_FAILED, err.msg);
		free(d);
		return;
	}
	d->p = p;
}

/* 1 the first time (run, event, step, iteration, target) is seen. */
static int claim(struct notifier *n, const struct about *a)
{
	char *key = xasprintf("%s\x1f%s\x1f%s\x1f%d\x1f%s", a->run_id ? a->run_id : "", a->event,
			      a->step ? a->step : "", a->iteration, a->target);
	if (strvec_contains(&n->seen, key)) {
		free(key);
		return 0;
	}
	strvec_push_owned(&n->seen, key);
	if (n->claim && n->claim(n->claim_ctx, a->run_id, a->event, a->step, a->iteration, a->target) == 0)
		return 0;
	return 1;
}

void notify_sink(void *ctx, const struct wl_event *ev)
{
	struct notifier *n = ctx;
	/* "early_abort" is the name of a wait_finished with early_abort true (one
	 * wait-end event on the bus); an early_abort line of an old events.jsonl
	 * is its duplicate */
	enum ev_type type = ev->type;
	if (type == EV_EARLY_ABORT)
		return;
	if (type == EV_WAIT_FINISHED && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ev->data, "early_abort")))
		type = EV_EARLY_ABORT;
	if (type == EV_NOTIFY || (unsigned)type >= EV__COUNT || !(n->events & (1u << type)))
		return;
	const char *event = event_type_name(type);
	char *payload = NULL;
	for (size_t i = 0; i < n->nt; i++) {
		const struct target *t = &n->t[i];
		struct about a;
		about_set(&a, ev, event, t->name);
		if (!claim(n, &a)) {
			report(n, &a, NOTIFY_DUPLICATE_SUPPRESSED,
			       "already attempted once (at most once per event and target, whatever its outcome)");
			continue;
		}
		if (!payload) {
			struct wl_event e = *ev;
			e.type = type;
			if (!e.ts_ms)
				e.ts_ms = time_wall_ms();
			payload = notify_payload(&e);
		}
		if (t->type == NOTIFY_FILE) {
			char msg[300];
			enum notify_reason r = deliver_file(t, payload, msg, sizeof(msg));
			report(n, &a, r, msg);
		} else if (t->type == NOTIFY_COMMAND) {
			deliver_command(n, t, &a, payload);
		} else {
			report(n, &a, NOTIFY_TARGET_MISSING, "target has no type");
		}
		about_release(&a);
	}
	free(payload);
}

int notify_pending(const struct notifier *n)
{
	return n->ninflight + n->nqueued;
}

static void on_drain_deadline(void *arg)
{
	*(int *)arg = 1;
}

void notify_drain(struct notifier *n)
{
	if (n->loop && n->ninflight) {
		/* Backstop only: proc stops every delivery at its timeout + escalation. */
		int expired = 0;
		int64_t deadline = time_now_ms() + n->max_timeout_ms + 4 * STOP_GRACE_MS + LINGER_MS + 5000;
		uint64_t id = evloop_add_timer(n->loop, deadline, on_drain_deadline, &expired);
		while (n->ninflight && !expired)
			evloop_run_once(n->loop);
		evloop_cancel_timer(n->loop, id);
	}
	if (n->flush_timer) {
		evloop_cancel_timer(n->loop, n->flush_timer);
		n->flush_timer = 0;
	}
	flush_reports(n);
}

void notify_free(struct notifier *n)
{
	if (!n)
		return;
	for (struct delivery *d = n->inflight; d; d = d->next)
		if (d->p)
			proc_stop(d->p);
	notify_drain(n);
	for (struct delivery *d = n->inflight; d; d = d->next)
		d->n = NULL;   /* still running after the backstop: on_exit frees it */
	for (size_t i = 0; i < n->nt; i++) {
		free(n->t[i].name);
		free(n->t[i].path);
		strvec_clear(&n->t[i].argv);
	}
	free(n->t);
	free(n->cwd);
	strvec_clear(&n->env);
	strvec_clear(&n->seen);
	free(n);
}
