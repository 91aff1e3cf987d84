#include "events.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "jsonutil.h"
#include "redact.h"
#include "strbuf.h"
#include "timeutil.h"
#include "xalloc.h"

static const char *const names[EV__COUNT] = {
	[EV_RUN_STARTED] = "run_started",
	[EV_PREFLIGHT] = "preflight",
	[EV_STEP_STATE] = "step_state",
	[EV_ATTEMPT_STARTED] = "attempt_started",
	[EV_ATTEMPT_FINISHED] = "attempt_finished",
	[EV_ITERATION_STARTED] = "iteration_started",
	[EV_ITERATION_FINISHED] = "iteration_finished",
	[EV_OBSERVATION] = "observation",
	[EV_WAIT_FINISHED] = "wait_finished",
	[EV_EARLY_ABORT] = "early_abort",
	[EV_KILL] = "kill",
	[EV_ALERT] = "alert",
	[EV_NOTIFY] = "notify",
	[EV_GIT_CHANGES] = "git_changes",
	[EV_CONVERGENCE] = "convergence",
	[EV_RUN_FINISHED] = "run_finished",
	[EV_WARNING] = "warning",
};

const char *event_type_name(enum ev_type t)
{
	return (unsigned)t < EV__COUNT ? names[t] : "unknown";
}

void bus_subscribe(struct event_bus *bus, event_sink_fn fn, void *ctx)
{
	if (bus->n >= EVENT_MAX_SINKS)
		return;
	bus->fn[bus->n] = fn;
	bus->ctx[bus->n] = ctx;
	bus->n++;
}

void bus_emit(struct event_bus *bus, struct wl_event *ev)
{
	if (!ev->ts_ms)
		ev->ts_ms = time_wall_ms();
	/* The one redaction boundary for events: data and the envelope's step id
	 * (a step id equal to a secret is redacted too; ids seen clean are cached,
	 * as every event of a step carries the same one). Sinks never redact. */
	const char *step = ev->step;
	char *safe_step = NULL;
	if (bus->rd) {
		if (ev->data)
			redact_json(bus->rd, ev->data);
		/* two: a turn of a chain has the step that ends and the next one */
		if (step && strcmp(step, bus->clean_step[0]) && strcmp(step, bus->clean_step[1])) {
			safe_step = redact_text(bus->rd, step);
			if (!strcmp(safe_step, step)) {
				if (strlen(step) < sizeof(bus->clean_step[0])) {
					memcpy(bus->clean_step[1], bus->clean_step[0], sizeof(bus->clean_step[0]));
					strcpy(bus->clean_step[0], step);
				}
				free(safe_step);
				safe_step = NULL;
			} else {
				ev->step = safe_step;
			}
		}
	}
	for (int i = 0; i < bus->n; i++)
		bus->fn[i](bus->ctx[i], ev);
	if (safe_step) {
		ev->step = step;
		free(safe_step);
	}
}

cJSON *event_to_json(const struct wl_event *ev)
{
	cJSON *o = cJSON_CreateObject();
	char ts[40];
	time_format_rfc3339(ev->ts_ms, ts, sizeof(ts));
	cJSON_AddStringToObject(o, "type", event_type_name(ev->type));
	cJSON_AddStringToObject(o, "ts", ts);
	if (ev->run_id)
		cJSON_AddStringToObject(o, "run_id", ev->run_id);
	if (ev->step)
		cJSON_AddStringToObject(o, "step", ev->step);
	if (ev->iteration)
		cJSON_AddNumberToObject(o, "iteration", ev->iteration);
	if (ev->attempt)
		cJSON_AddNumberToObject(o, "attempt", ev->attempt);
	if (ev->data) {
		const cJSON *it;
		cJSON_ArrayForEach(it, ev->data) {
			if (!cJSON_GetObjectItemCaseSensitive(o, it->string))
				cJSON_AddItemToObject(o, it->string, cJSON_Duplicate(it, 1));
		}
	}
	return o;
}

/* Is key one of the envelope's keys that event_to_json() wrote for ev, or
 * the key of an earlier member of the data (the first one wins)? */
static int key_taken(const struct wl_event *ev, const cJSON *item)
{
	const char *k = item->string;
	if (!strcmp(k, "type") || !strcmp(k, "ts") || (ev->run_id && !strcmp(k, "run_id")) ||
	    (ev->step && !strcmp(k, "step")) || (ev->iteration && !strcmp(k, "iteration")) ||
	    (ev->attempt && !strcmp(k, "attempt")))
		return 1;
	for (const cJSON *p = ev->data->child; p != item; p = p->next)
		if (p->string && !strcmp(p->string, k))
			return 1;
	return 0;
}

static void add_member(struct strbuf *sb, const char *key, const char *str, double num)
{
	strbuf_addch(sb, ',');
	strbuf_addch(sb, '"');
	strbuf_addstr(sb, key);   /* envelope keys need no escaping */
	strbuf_add(sb, "\":", 2);
	if (str) {
		cJSON s = {0};
		s.type = cJSON_String;
		s.valuestring = (char *)(uintptr_t)str;   /* only read */
		json_print_sb(sb, &s, 0);
	} else {
		cJSON n = {0};
		n.type = cJSON_Number;
		n.valuedouble = num;
		json_print_sb(sb, &n, 0);
	}
}

void event_to_line(struct strbuf *sb, const struct wl_event *ev)
{
	size_t start = sb->len;
	char ts[40];
	time_format_rfc3339(ev->ts_ms, ts, sizeof(ts));
	strbuf_addstr(sb, "{\"type\":\"");
	strbuf_addstr(sb, event_type_name(ev->type));
	strbuf_addch(sb, '"');
	add_member(sb, "ts", ts, 0);
	if (ev->run_id)
		add_member(sb, "run_id", ev->run_id, 0);
	if (ev->step)
		add_member(sb, "step", ev->step, 0);
	if (ev->iteration)
		add_member(sb, "iteration", NULL, ev->iteration);
	if (ev->attempt)
		add_member(sb, "attempt", NULL, ev->attempt);
	const cJSON *it;
	const cJSON *data = ev->data;
	cJSON_ArrayForEach(it, data) {
		if (!it->string || key_taken(ev, it))
			continue;
		cJSON key = {0};
		key.type = cJSON_String;
		key.valuestring = it->string;
		strbuf_addch(sb, ',');
		json_print_sb(sb, &key, 0);
		strbuf_addch(sb, ':');
		if (json_print_sb(sb, it, 0) < 0) {
			/* what cJSON cannot print, it cannot copy either: the
			 * slow path decides as event_to_json() always did */
			strbuf_setlen(sb, start);
			cJSON *o = event_to_json(ev);
			char *t = json_compact(o);
			cJSON_Delete(o);
			strbuf_addstr(sb, t);
			strbuf_addch(sb, '\n');
			free(t);
			return;
		}
	}
	strbuf_add(sb, "}\n", 2);
}

int event_from_json(const cJSON *obj, struct wl_event *ev)
{
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(obj, "type");
	int t = 0;
	while (t < EV__COUNT && !(cJSON_IsString(type) && !strcmp(names[t], type->valuestring)))
		t++;
	if (t == EV__COUNT)
		return -1;
	*ev = (struct wl_event){.type = (enum ev_type)t, .ts_ms = time_wall_ms(), .data = cJSON_CreateObject()};
	const cJSON *it;
	cJSON_ArrayForEach(it, obj) {
		const char *k = it->string;
		if (!strcmp(k, "type") || !strcmp(k, "ts"))
			continue;
		else if (!strcmp(k, "run_id"))
			ev->run_id = cJSON_IsString(it) ? it->valuestring : NULL;
		else if (!strcmp(k, "step"))
			ev->step = cJSON_IsString(it) ? it->valuestring : NULL;
		else if (!strcmp(k, "iteration"))
			ev->iteration = it->valueint;
		else if (!strcmp(k, "attempt"))
			ev->attempt = it->valueint;
		else
			cJSON_AddItemToObject(ev->data, k, cJSON_Duplicate(it, 1));
	}
	if (ev->type == EV_OBSERVATION) {   /* the typed class, from its spelling */
		const cJSON *cls = cJSON_GetObjectItemCaseSensitive(obj, "class");
		if (!cJSON_IsString(cls) || obs_class_parse(cls->valuestring, &ev->obs_class) < 0)
			ev->obs_class = CLASS_UNSET;
	}
	return 0;
}

/* ---- events.jsonl, written by turns ---------------------------------- */

struct event_file {
	int fd;
	char *path;
	struct strbuf buf;   /* whole lines not written yet */
};

struct event_file *event_file_open(const char *path, struct wl_err *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0) {
		err_set(err, "cannot open '%s': %s", path, strerror(errno));
		return NULL;
	}
	struct event_file *f = xcalloc(1, sizeof(*f));
	f->fd = fd;
	f->path = xstrdup(path);
	strbuf_init(&f->buf);
	return f;
}

int event_file_add(struct event_file *f, const struct wl_event *ev, struct wl_err *err)
{
	event_to_line(&f->buf, ev);
	return f->buf.len >= EVENT_FILE_MAX ? event_file_flush(f, err) : 0;
}

/* One write on an O_APPEND descriptor: a turn's lines never interleave with
 * another writer's. A write cut short is undone back to the end of its last
 * whole line -- the file's size then, less the cut line's part written
 * (asked only when that happens: no fstat per turn). */
int event_file_flush(struct event_file *f, struct wl_err *err)
{
	if (!f || !f->buf.len)
		return 0;
	const char *b = f->buf.buf;
	size_t n = f->buf.len, off = 0;
	int e = 0;
	while (off < n) {
		ssize_t w = write(f->fd, b + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			e = w < 0 ? errno : ENOSPC;
			size_t whole = off;
			while (whole > 0 && b[whole - 1] != '\n')
				whole--;
			size_t cut = off - whole;
			struct stat st;
			if (cut > 0 && fstat(f->fd, &st) == 0 && st.st_size >= (off_t)cut &&
			    ftruncate(f->fd, st.st_size - (off_t)cut) < 0)
				e = errno;
			break;
		}
		off += (size_t)w;
	}
	strbuf_reset(&f->buf);
	if (e)
		return err_set(err, "cannot write '%s': %s", f->path, strerror(e));
	return 0;
}

int event_file_close(struct event_file *f, struct wl_err *err)
{
	if (!f)
		return 0;
	int rc = event_file_flush(f, err);
	close(f->fd);
	strbuf_release(&f->buf);
	free(f->path);
	free(f);
	return rc;
}
