#include "artifacts.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bgwrite.h"
#include "fsutil.h"
#include "jsonutil.h"
#include "redact.h"
#include "strbuf.h"
#include "xalloc.h"

struct artifacts {
	char *dir;
	const struct redactor *rd;
	struct event_file *events;   /* events.jsonl, written by turns (events.h) */
	char *sink_error;
	/* steps whose directory this run created (mkdir succeeded): an open
	 * addressing set of names, so the question costs no system call */
	char **made;
	size_t nmade, amade;
	struct bgwrite *bg;          /* the step documents' writer thread, or NULL: inline */
};


/* The slot of name in the set, or the empty slot where it would go. */
static size_t made_slot(const struct artifacts *c, const char *name)
{
	size_t i = str_hash(name) & (c->amade - 1);
	while (c->made[i] && strcmp(c->made[i], name))
		i = (i + 1) & (c->amade - 1);
	return i;
}

static void made_add(struct artifacts *c, const char *name)
{
	if (2 * (c->nmade + 1) > c->amade) {   /* at most half full */
		char **old = c->made;
		size_t aold = c->amade;
		c->amade = aold ? 2 * aold : 64;
		c->made = xcalloc(c->amade, sizeof(*c->made));
		for (size_t i = 0; i < aold; i++)
			if (old[i])
				c->made[made_slot(c, old[i])] = old[i];
		free(old);
	}
	size_t i = made_slot(c, name);
	if (!c->made[i]) {
		c->made[i] = xstrdup(name);
		c->nmade++;
	}
}

int artifacts_step_dir_is_new(const struct artifacts *c, const char *step)
{
	return c->amade && c->made[made_slot(c, step)] != NULL;
}

struct artifacts *artifacts_open(const char *dir, const struct redactor *rd, struct wl_err *err)
{
	char *evdir = fs_join(dir, "_workflow");
	if (fs_mkdir_p(evdir, err) < 0) {
		free(evdir);
		return NULL;
	}
	char *evpath = fs_join(evdir, "events.jsonl");
	free(evdir);
	struct event_file *ev = event_file_open(evpath, err);
	free(evpath);
	if (!ev)
		return NULL;
	struct artifacts *c = xcalloc(1, sizeof(*c));
	c->dir = xstrdup(dir);
	c->rd = rd;
	c->events = ev;
	c->bg = bgwrite_new();   /* NULL (no thread): the documents are written inline */
	return c;
}

void artifacts_close(struct artifacts *c)
{
	if (!c)
		return;
	artifacts_flush_events(c);
	bgwrite_free(c->bg);
	event_file_close(c->events, NULL);
	free(c->dir);
	free(c->sink_error);
	for (size_t i = 0; i < c->amade; i++)
		free(c->made[i]);
	free(c->made);
	free(c);
}

const char *artifacts_sink_error(const struct artifacts *c)
{
	return c->sink_error;
}

static void keep_error(struct artifacts *c, const char *msg)
{
	if (!c->sink_error)
		c->sink_error = xstrdup(msg);
}

void artifacts_sink(void *arg, const struct wl_event *ev)
{
	struct artifacts *c = arg;
	struct wl_err err = WL_ERR_INIT;
	/* already redacted: the bus is the boundary (events.h) */
	if (event_file_add(c->events, ev, &err) < 0)
		keep_error(c, err.msg);
}

void artifacts_flush_events(struct artifacts *c)
{
	struct wl_err err = WL_ERR_INIT;
	if (c && event_file_flush(c->events, &err) < 0)
		keep_error(c, err.msg);
}

int artifacts_write_workflow(struct artifacts *c, cJSON *doc, struct wl_err *err)
{
	redact_json(c->rd, doc);
	char *path = fs_join(c->dir, "_workflow.json");
	int rc = json_write_atomic(path, doc, err);
	if (rc < 0)
		unlink(path);   /* absent rather than stale (saying RUNNING) */
	free(path);
	return rc;
}

char *artifacts_step_dir(struct artifacts *c, const char *step, struct wl_err *err)
{
	char *d = fs_join(c->dir, step);
	/* The common case in one call: a new directory in the context directory. */
	if (mkdir(d, 0755) == 0) {
		made_add(c, step);
		return d;
	}
	if (fs_mkdir_p(d, err) < 0) {
		free(d);
		return NULL;
	}
	return d;
}

void artifacts_settle(struct artifacts *c, int wait, void (*on_error)(void *arg, const char *msg), void *arg)
{
	if (c && c->bg)
		bgwrite_drain(c->bg, wait, on_error, arg);
}

int artifacts_write_step_meta(struct artifacts *c, const char *step, cJSON *meta, int resolved,
			      struct wl_err *err)
{
	redact_json(c->rd, meta);
	char *d = fs_join(c->dir, step);
	char *path = fs_join(d, "_meta.json");
	char *alias = resolved ? fs_join(d, "_resolved.json") : NULL;
	free(d);
	struct strbuf sb = STRBUF_INIT;
	int rc;
	if (json_print_sb(&sb, meta, 1) < 0) {
		rc = err_set(err, "cannot serialise JSON for '%s'", path);
	} else {
		strbuf_addch(&sb, '\n');
		if (c->bg) {
			size_t len = sb.len;
			bgwrite_linked(c->bg, path, alias, strbuf_detach(&sb), len);
			return 0;   /* a failure comes back through artifacts_settle() */
		}
		/* one file, two names: a create (a new inode) costs more than
		 * everything else of writing it (docs/artifacts.md) */
		rc = fs_write_atomic_linked(path, alias, sb.buf, sb.len, err);
	}
	/* absent rather than stale: a name that was not updated goes */
	if (rc < 0)
		unlink(path);
	if (rc != 0 && alias)
		unlink(alias);
	strbuf_release(&sb);
	free(path);
	free(alias);
	return rc ? -1 : 0;
}
