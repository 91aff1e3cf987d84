/*
 * notify: every delivery reason for real — files, directories, scripts and
 * processes in a temp directory, the real event loop and proc module.
 */
/* timeout: 60 */
#include "harness.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "events.h"
#include "fsutil.h"
#include "jsonutil.h"
#include "evloop.h"
#include "notify.h"
#include "strbuf.h"
#include "timeutil.h"
#include "xalloc.h"

static char tmpdir[] = "/tmp/wl-notify.XXXXXX";

/* What the bus saw (every sink call) and what was logged. */
struct record {
	struct strvec seen;       /* "type" or "notify:target:event:reason" in bus order */
	struct strvec warnings;
	struct strvec debug;
	int claims, claim_answer;
};

static void record_sink(void *ctx, const struct wl_event *ev)
{
	struct record *r = ctx;
	if (ev->type == EV_NOTIFY)
		strvec_pushf(&r->seen, "notify:%s:%s:%s", json_get_string(ev->data, "target"),
			     json_get_string(ev->data, "event"), json_get_string(ev->data, "reason"));
	else
		strvec_push(&r->seen, event_type_name(ev->type));
}

static void record_log(void *ctx, enum notify_log_level level, const char *line)
{
	struct record *r = ctx;
	strvec_push(level == NOTIFY_LOG_WARNING ? &r->warnings : &r->debug, line);
}

static int record_claim(void *ctx, const char *run_id, const char *event, const char *step, int iteration,
			const char *target)
{
	struct record *r = ctx;
	r->claims++;
	return r->claim_answer;
}

static void record_release(struct record *r)
{
	strvec_clear(&r->seen);
	strvec_clear(&r->warnings);
	strvec_clear(&r->debug);
}

static char *path_in(const char *name)
{
	return fs_join(tmpdir, name);
}

static void write_script(const char *name, const char *body, mode_t mode)
{
	char *p = path_in(name);
	char *text = xasprintf("#!/bin/sh\n%s\n", body);
	CHECK_INT(fs_write_atomic(p, text, strlen(text), NULL), 0);
	chmod(p, mode);
	free(text);
	free(p);
}

static char *slurp(const char *path)
{
	struct strbuf sb = STRBUF_INIT;
	if (fs_read_file(path, 1 << 20, &sb, NULL) < 0) {
		strbuf_release(&sb);
		return NULL;
	}
	return strbuf_detach(&sb);
}

/* A notify config with one target. */
struct one_target {
	struct wl_notify cfg;
	struct wl_notify_target t;
	char name[64], text[256];
};

static void target_file(struct one_target *o, const char *name, const char *path)
{
	memset(o, 0, sizeof(*o));
	snprintf(o->name, sizeof(o->name), "%s", name);
	snprintf(o->text, sizeof(o->text), "%s", path);
	o->t.name = o->name;
	o->t.type = NOTIFY_FILE;
	o->t.path = o->text;
	o->t.timeout = WL_UNSET;
	o->cfg.present = 1;
	o->cfg.targets = &o->t;
	o->cfg.ntargets = 1;
}

static void target_command(struct one_target *o, const char *name, const char *command, int64_t timeout)
{
	memset(o, 0, sizeof(*o));
	snprintf(o->name, sizeof(o->name), "%s", name);
	snprintf(o->text, sizeof(o->text), "%s", command);
	o->t.name = o->name;
	o->t.type = NOTIFY_COMMAND;
	o->t.command = o->text;
	o->t.timeout = timeout;
	o->cfg.present = 1;
	o->cfg.targets = &o->t;
	o->cfg.ntargets = 1;
}

struct fixture {
	struct evloop *loop;
	struct event_bus bus;
	struct record rec;
	struct notifier *n;
};

static void fixture_init(struct fixture *f, const struct wl_notify *cfg)
{
	memset(f, 0, sizeof(*f));
	f->loop = evloop_new();
	struct notify_options opt = NOTIFY_OPTIONS_INIT;
	opt.loop = f->loop;
	opt.bus = &f->bus;
	opt.cwd = tmpdir;
	opt.log = record_log;
	opt.log_ctx = &f->rec;
	opt.claim = record_claim;
	opt.claim_ctx = &f->rec;
	f->rec.claim_answer = 1;
	struct wl_err err = WL_ERR_INIT;
	f->n = notify_new(cfg, &opt, &err);
	CHECK(f->n != NULL);
	bus_subscribe(&f->bus, notify_sink, f->n);
	bus_subscribe(&f->bus, record_sink, &f->rec);
}

static void fixture_release(struct fixture *f)
{
	notify_free(f->n);
	evloop_free(f->loop);
	record_release(&f->rec);
}

static void emit(struct fixture *f, enum ev_type t, const char *step, int iteration, const char *json)
{
	struct wl_event ev = {t, 0, "run-7", step, iteration, iteration ? 1 : 0, json ? cJSON_Parse(json) : NULL, CLASS_UNSET};
	bus_emit(&f->bus, &ev);
	cJSON_Delete(ev.data);
}

/* 0 when every line of path validates against schema/event.schema.json. */
static int schema_check_lines(const char *path)
{
	const char *root = getenv("WAITLOOP_ROOT");
	char *schema = xasprintf("%s/schema/event.schema.json", root ? root : ".");
	char *cmd = xasprintf(
		"/usr/bin/python3 -c 'import json,sys\n"
		"from jsonschema import Draft202012Validator as V\n"
		"s=json.load(open(sys.argv[1])); V.check_schema(s); v=V(s); bad=0\n"
		"for l in open(sys.argv[2]):\n"
		"  for e in v.iter_errors(json.loads(l)): print(\"   \",list(e.path),e.message,file=sys.stderr); bad=1\n"
		"sys.exit(bad)' '%s' '%s'",
		schema, path);
	int rc = system(cmd);
	free(cmd);
	free(schema);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void test_notify_file_delivered_line_content(void)
{
	struct one_target o;
	target_file(&o, "inbox", "inbox.jsonl");
	strvec_push(&o.cfg.events, "early_abort");
	strvec_push(&o.cfg.events, "run_finished");
	struct fixture f;
	fixture_init(&f, &o.cfg);
	emit(&f, EV_STEP_STATE, "deploy", 0, "{\"status\":\"RUNNING\"}");   /* not notifiable */
	emit(&f, EV_ALERT, "deploy", 2, "{\"consecutive_failures\":2,\"threshold\":2}");  /* not configured */
	emit(&f, EV_WAIT_FINISHED, "deploy", 2,   /* ended early: notified as early_abort */
	     "{\"outcome\":\"terminal_fail\",\"elapsed_s\":1.5,\"early_abort\":true,"
	     "\"fingerprints\":[\"kest/control/crd-missing/x\"]}");
	emit(&f, EV_WAIT_FINISHED, "deploy", 3, "{\"outcome\":\"met\",\"early_abort\":false}");   /* not early */
	emit(&f, EV_EARLY_ABORT, "deploy", 2, "{\"outcome\":\"terminal_fail\"}");   /* an old log's duplicate */
	emit(&f, EV_RUN_FINISHED, NULL, 0, "{\"status\":\"FAILED\",\"duration_s\":3.25,\"exit_code\":1}");
	notify_drain(f.n);
	CHECK_INT(notify_pending(f.n), 0);

	char *p = path_in("inbox.jsonl");
	char *s = slurp(p);
	CHECK(s != NULL);
	char *nl = s ? strchr(s, '\n') : NULL;
	CHECK(nl && strchr(nl + 1, '\n') && !strchr(nl + 1, '\n')[1]);   /* exactly two lines */
	if (nl) {
		*nl = '\0';
		cJSON *first = cJSON_Parse(s);
		CHECK_STR(json_get_string(first, "schema"), "waitloop.event.v1");
		CHECK_STR(json_get_string(first, "type"), "early_abort");
		CHECK_STR(json_get_string(first, "run_id"), "run-7");
		CHECK_STR(json_get_string(first, "step"), "deploy");
		CHECK_STR(json_get_string(first, "outcome"), "terminal_fail");
		CHECK_INT(cJSON_GetObjectItem(first, "iteration")->valueint, 2);
		CHECK(!strncmp(s, "{\"schema\":\"waitloop.event.v1\",\"type\":\"early_abort\",\"ts\":\"", 57));
		cJSON_Delete(first);
		CHECK_CONTAINS(nl + 1, "\"type\":\"run_finished\"");
		CHECK_CONTAINS(nl + 1, "\"status\":\"FAILED\"");
	}
	CHECK_INT(schema_check_lines(p), 0);
	/* results on the bus, each after the event it is about */
	CHECK_INT(f.rec.seen.n, 8);
	if (f.rec.seen.n == 8) {
		CHECK_STR(f.rec.seen.v[2], "wait_finished");
		CHECK_STR(f.rec.seen.v[5], "run_finished");
		CHECK_STR(f.rec.seen.v[6], "notify:inbox:early_abort:delivered");
		CHECK_STR(f.rec.seen.v[7], "notify:inbox:run_finished:delivered");
	}
	CHECK_INT(f.rec.warnings.n, 0);
	free(s);
	free(p);
	strvec_clear(&o.cfg.events);
	fixture_release(&f);
}

static void test_notify_missing_inbox_directory(void)
{
	struct one_target o;
	target_file(&o, "inbox", "no-such-dir/inbox.jsonl");
	struct fixture f;
	fixture_init(&f, &o.cfg);
	emit(&f, EV_RUN_FINISHED, NULL, 0, "{\"status\":\"SUCCEEDED\"}");
	notify_drain(f.n);
	CHECK_INT(f.rec.seen.n, 2);
	if (f.rec.seen.n == 2)
		CHECK_STR(f.rec.seen.v[1], "notify:inbox:run_finished:target_missing");
	CHECK_INT(f.rec.warnings.n, 1);          /* once, at the start (issue 16); deliveries: debug */
	CHECK_INT(f.rec.debug.n, 1);
	if (f.rec.debug.n)
		CHECK_CONTAINS(f.rec.debug.v[0], "target_missing");
	char *dir = path_in("no-such-dir");
	CHECK(!fs_exists(dir));                  /* never created */
	free(dir);
	fixture_release(&f);
}

static void test_notify_command_missing_and_not_executable(void)
{
	write_script("peer-noexec.sh", "cat >/dev/null", 0644);
	struct wl_notify_target t[3] = {
		{"absent", NOTIFY_COMMAND, "./no-such-peer.sh", NULL, 2000, {0, 0}},
		{"noexec", NOTIFY_COMMAND, "./peer-noexec.sh --flag", NULL, 2000, {0, 0}},
		{"unknown", NOTIFY_COMMAND, "waitloop-no-such-peer-command", NULL, 2000, {0, 0}},
	};
	struct wl_notify cfg = {1, t, 3, STRVEC_INIT};
	struct fixture f;
	fixture_init(&f, &cfg);
	emit(&f, EV_ALERT, "build", 3, "{\"consecutive_failures\":3,\"threshold\":3}");
	notify_drain(f.n);
	CHECK(strvec_contains(&f.rec.seen, "notify:absent:alert:target_missing"));
	CHECK(strvec_contains(&f.rec.seen, "notify:noexec:alert:not_reachable"));
	CHECK(strvec_contains(&f.rec.seen, "notify:unknown:alert:target_missing"));
	CHECK_INT(f.rec.warnings.n, 1);           /* not_reachable warns; target_missing does not */
	if (f.rec.warnings.n)
		CHECK_CONTAINS(f.rec.warnings.v[0], "notify: not_reachable: target 'noexec' (alert, step 'build', iteration 3)");
	fixture_release(&f);
}

static void test_notify_command_delivered_payload_on_stdin(void)
{
	write_script("peer.sh", "cat >> \"$(dirname \"$0\")/peer-got.jsonl\"", 0755);
	struct one_target o;
	target_command(&o, "companion", "./peer.sh", 5000);
	struct fixture f;
	fixture_init(&f, &o.cfg);
	emit(&f, EV_ITERATION_FINISHED, "impl", 1,
	     "{\"decision\":\"incomplete\",\"source\":\"exit_code\",\"reasons\":[\"tests failed\"],\"fingerprints\":[]}");
	CHECK_INT(notify_pending(f.n), 1);       /* in flight on the loop */
	notify_drain(f.n);
	CHECK_INT(notify_pending(f.n), 0);
	CHECK(strvec_contains(&f.rec.seen, "notify:companion:iteration_finished:delivered"));
	char *p = path_in("peer-got.jsonl");
	char *s = slurp(p);
	CHECK_CONTAINS(s, "\"type\":\"iteration_finished\"");
	CHECK_CONTAINS(s, "\"decision\":\"incomplete\"");
	CHECK_CONTAINS(s, "\"schema\":\"waitloop.event.v1\"");
	CHECK_INT(schema_check_lines(p), 0);
	CHECK_INT(f.rec.warnings.n, 0);
	free(s);
	free(p);
	fixture_release(&f);
}

static void test_notify_command_failing(void)
{
	write_script("peer-fail.sh", "cat >/dev/null; exit 3", 0755);
	struct one_target o;
	target_command(&o, "companion", "./peer-fail.sh", 5000);
	struct fixture f;
	fixture_init(&f, &o.cfg);
	emit(&f, EV_RUN_STARTED, NULL, 0, "{\"workflow\":\"w\"}");
	notify_drain(f.n);
	CHECK(strvec_contains(&f.rec.seen, "notify:companion:run_started:send_failed"));
	CHECK_INT(f.rec.warnings.n, 1);
	if (f.rec.warnings.n)
		CHECK_STR(f.rec.warnings.v[0], "notify: send_failed: target 'companion' (run_started): command exited 3");
	fixture_release(&f);
}

static void test_notify_hanging_command_stopped_at_timeout(void)
{
	/* ignores SIGINT and SIGTERM: only the SIGKILL of the escalation ends it */
	write_script("peer-hang.sh",
		     "trap '' INT TERM\necho $$ > \"$(dirname \"$0\")/hang.pid\"\nwhile :; do sleep 1; done", 0755);
	struct one_target o;
	target_command(&o, "companion", "./peer-hang.sh", 300);
	struct fixture f;
	fixture_init(&f, &o.cfg);
	int64_t t0 = time_now_ms();
	emit(&f, EV_RUN_FINISHED, NULL, 0, "{\"status\":\"SUCCEEDED\"}");
	/* emitting does not wait for the peer: its timeout is not recorded yet */
	CHECK(!strvec_contains(&f.rec.seen, "notify:companion:run_finished:timed_out"));
	notify_drain(f.n);
	int64_t took = time_now_ms() - t0;
	CHECK(took >= 300);
	CHECK(took < 60000);   /* the peer never ends by itself: only the escalation's SIGKILL ends the drain */
	CHECK(strvec_contains(&f.rec.seen, "notify:companion:run_finished:timed_out"));
	CHECK_INT(f.rec.warnings.n, 1);
	if (f.rec.warnings.n)
		CHECK_CONTAINS(f.rec.warnings.v[0], "no answer within 300ms; stopped");
	char *p = path_in("hang.pid");
	char *pid = slurp(p);
	if (pid && atoi(pid) > 0)
		CHECK(kill(atoi(pid), 0) < 0);     /* the whole group is gone */
	else
		CHECK(!"peer-hang.sh did not record its pid");
	free(pid);
	free(p);
	fixture_release(&f);
}

/* A file target whose directory is missing at the start: one warning (every
 * delivery would be target_missing, which is only a debug line). */
static void test_notify_missing_target_warned_once(void)
{
	struct one_target o;
	target_file(&o, "inbox", "no-such-dir/inbox.jsonl");
	struct fixture f;
	fixture_init(&f, &o.cfg);
	emit(&f, EV_ITERATION_FINISHED, "review", 1, "{\"decision\":\"incomplete\"}");
	emit(&f, EV_ITERATION_FINISHED, "review", 2, "{\"decision\":\"incomplete\"}");
	notify_drain(f.n);
	int warned = 0;
	for (size_t i = 0; i < f.rec.warnings.n; i++)
		warned += strstr(f.rec.warnings.v[i], "target 'inbox': directory") != NULL &&
			  strstr(f.rec.warnings.v[i], "is missing: deliveries will be target_missing") != NULL;
	CHECK_INT(warned, 1);
	fixture_release(&f);
}

static void test_notify_duplicate_suppressed(void)
{
	struct one_target o;
	target_file(&o, "inbox", "dup.jsonl");
	struct fixture f;
	fixture_init(&f, &o.cfg);
	emit(&f, EV_ITERATION_FINISHED, "review", 4, "{\"decision\":\"incomplete\"}");
	emit(&f, EV_ITERATION_FINISHED, "review", 4, "{\"decision\":\"incomplete\"}");   /* same key */
	emit(&f, EV_ITERATION_FINISHED, "review", 5, "{\"decision\":\"complete\"}");     /* new iteration */
	f.rec.claim_answer = 0;    /* the history store already has this one (e.g. before a crash) */
	emit(&f, EV_ITERATION_FINISHED, "review", 6, "{\"decision\":\"complete\"}");
	notify_drain(f.n);
	CHECK_INT(f.rec.claims, 3);                /* the in-memory set answers repeats itself */
	char *p = path_in("dup.jsonl");
	char *s = slurp(p);
	int lines = 0;
	for (const char *c = s; c && *c; c++)
		lines += *c == '\n';
	CHECK_INT(lines, 2);
	CHECK_CONTAINS(s, "\"iteration\":4");
	CHECK_CONTAINS(s, "\"iteration\":5");
	CHECK(!strstr(s ? s : "", "\"iteration\":6"));
	int dups = 0, delivered = 0;
	for (size_t i = 0; i < f.rec.seen.n; i++) {
		dups += !strcmp(f.rec.seen.v[i], "notify:inbox:iteration_finished:duplicate_suppressed");
		delivered += !strcmp(f.rec.seen.v[i], "notify:inbox:iteration_finished:delivered");
	}
	CHECK_INT(dups, 2);
	CHECK_INT(delivered, 2);
	/* a duplicate is never said to have been delivered (its first attempt may have failed) */
	int attempted = 0;
	for (size_t i = 0; i < f.rec.debug.n; i++) {
		CHECK(!strstr(f.rec.debug.v[i], "already delivered once"));
		attempted += strstr(f.rec.debug.v[i], "already attempted once") != NULL;
	}
	for (size_t i = 0; i < f.rec.warnings.n; i++) {
		CHECK(!strstr(f.rec.warnings.v[i], "already delivered once"));
		attempted += strstr(f.rec.warnings.v[i], "already attempted once") != NULL;
	}
	CHECK_INT(attempted, 2);
	free(s);
	free(p);
	fixture_release(&f);
}

static void test_notify_never_notifies_itself(void)
{
	/* A notify result on the bus must not be notified again (no recursion). */
	struct one_target o;
	target_file(&o, "inbox", "self.jsonl");
	strvec_push(&o.cfg.events, "alert");
	struct fixture f;
	fixture_init(&f, &o.cfg);
	emit(&f, EV_NOTIFY, "x", 1, "{\"target\":\"inbox\",\"event\":\"alert\",\"reason\":\"delivered\"}");
	emit(&f, EV_ALERT, "x", 1, "{\"consecutive_failures\":1,\"threshold\":1}");
	notify_drain(f.n);
	char *p = path_in("self.jsonl");
	char *s = slurp(p);
	CHECK_CONTAINS(s, "\"type\":\"alert\"");
	CHECK(!strstr(s ? s : "", "\"type\":\"notify\""));
	CHECK_INT(f.rec.seen.n, 3);    /* notify, alert, notify result */
	free(s);
	free(p);
	strvec_clear(&o.cfg.events);
	fixture_release(&f);
}

static void test_notify_warning_is_bounded(void)
{
	char step[400];
	memset(step, 's', sizeof(step) - 1);
	step[sizeof(step) - 1] = '\0';
	write_script("peer-fail2.sh", "exit 9", 0755);
	struct one_target o;
	target_command(&o, "companion", "./peer-fail2.sh", 5000);
	struct fixture f;
	fixture_init(&f, &o.cfg);
	emit(&f, EV_WAIT_FINISHED, step, 1, "{\"outcome\":\"stalled\",\"early_abort\":true}");
	notify_drain(f.n);
	CHECK_INT(f.rec.warnings.n, 1);
	if (f.rec.warnings.n) {
		CHECK(strlen(f.rec.warnings.v[0]) <= 200);
		CHECK(!strchr(f.rec.warnings.v[0], '\n'));
	}
	fixture_release(&f);
}

static void test_notify_bad_command_line(void)
{
	struct one_target o;
	target_command(&o, "companion", "./peer.sh 'unterminated", 1000);
	struct notify_options opt = NOTIFY_OPTIONS_INIT;
	struct wl_err err = WL_ERR_INIT;
	CHECK(notify_new(&o.cfg, &opt, &err) == NULL);
	CHECK_STR(err.msg, "notify target 'companion': cannot split command './peer.sh 'unterminated' into words");
}

int main(void)
{
	if (!mkdtemp(tmpdir))
		return 2;
	TEST(test_notify_file_delivered_line_content);
	TEST(test_notify_missing_inbox_directory);
	TEST(test_notify_command_missing_and_not_executable);
	TEST(test_notify_command_delivered_payload_on_stdin);
	TEST(test_notify_command_failing);
	TEST(test_notify_hanging_command_stopped_at_timeout);
	TEST(test_notify_duplicate_suppressed);
	TEST(test_notify_missing_target_warned_once);
	TEST(test_notify_never_notifies_itself);
	TEST(test_notify_warning_is_bounded);
	TEST(test_notify_bad_command_line);
	char *cmd = xasprintf("rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	free(cmd);
	return tests_done();
}
