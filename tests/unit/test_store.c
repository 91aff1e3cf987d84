/* Unit tests for the history store (src/store.c) on real SQLite files. */
#include "harness.h"

#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "events.h"
#include "fsutil.h"
#include "jsonutil.h"
#include "store.h"
#include "timeutil.h"
#include "xalloc.h"

static char tmpdir[] = "/tmp/wl-store-test.XXXXXX";

static char *db_path(const char *name)
{
	return xasprintf("%s/%s", tmpdir, name);
}

/* Two connections to one new database: the writer under test and an
 * observer (what another process would see). 0, or -1 (a failed CHECK). */
static int open_two(const char *name, char **path, struct store **st, struct store **other)
{
	struct wl_err err = WL_ERR_INIT;
	*path = db_path(name);
	*st = store_open(*path, &err);
	*other = *st ? store_open(*path, &err) : NULL;
	CHECK(*st != NULL && *other != NULL);
	return *st && *other ? 0 : -1;
}

/* Emit one event whose data is given as JSON text (may be NULL). */
static void emit(struct store *st, enum ev_type type, const char *run, const char *step, int iteration,
		 int attempt, int64_t ts, const char *json)
{
	struct wl_event ev = {type, ts ? ts : time_wall_ms(), run, step, iteration, attempt, NULL, CLASS_UNSET};
	if (json) {
		ev.data = cJSON_Parse(json);
		if (!ev.data)
			fprintf(stderr, "  bad test JSON: %s\n", json);
	}
	/* an observation's class travels typed, as the wait engine sends it */
	if (type == EV_OBSERVATION && obs_class_parse(json_get_string(ev.data, "class"), &ev.obs_class) < 0)
		ev.obs_class = CLASS_UNSET;
	store_sink(st, &ev);
	cJSON_Delete(ev.data);
}

static int64_t qint(struct store *st, const char *sql)
{
	struct wl_err err = WL_ERR_INIT;
	int64_t v = store_query_int(st, sql, &err);
	if (v < 0)
		fprintf(stderr, "  query failed: %s\n", err.msg);
	return v;
}

/* Run sql on the database at path through a connection of its own (a
 * trigger planted to make the store's statements fail). */
static void plant_sql(const char *path, const char *sql)
{
	sqlite3 *raw = NULL;
	CHECK(sqlite3_open(path, &raw) == SQLITE_OK);
	CHECK(sqlite3_exec(raw, sql, NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(raw);
}

static void test_open_and_migrate(void)
{
	struct wl_err err = WL_ERR_INIT;
	char *path = db_path("nested/dir/history.db");
	struct store *st = store_open(path, &err);
	CHECK(st != NULL);
	if (!st) {
		fprintf(stderr, "  %s\n", err.msg);
		free(path);
		return;
	}
	CHECK_INT(qint(st, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	CHECK_INT(qint(st, "SELECT count(*) FROM sqlite_master WHERE type = 'table'"), 15);
	CHECK_INT(qint(st, "PRAGMA foreign_keys"), 1);
	CHECK_INT(qint(st, "SELECT journal_mode = 'wal' FROM pragma_journal_mode"), 1);
	CHECK(store_integrity_check(st, &err) == 0);
	store_close(st);

	/* Reopening an up-to-date database changes nothing. */
	st = store_open(path, &err);
	CHECK(st != NULL);
	store_close(st);

	/* A schema-2 database (before the warnings table and the in-script
	 * waits' columns) is migrated on open. */
	sqlite3 *db;
	CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	CHECK(sqlite3_exec(db, "DROP TABLE warnings; ALTER TABLE waits DROP COLUMN name;"
			       " ALTER TABLE waits DROP COLUMN script; PRAGMA user_version = 2",
			   NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);
	st = store_open(path, &err);
	CHECK(st != NULL);
	if (st) {
		CHECK_INT(qint(st, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
		CHECK_INT(qint(st, "SELECT count(*) FROM sqlite_master WHERE name = 'warnings'"), 1);
		CHECK_INT(qint(st, "SELECT count(*) FROM pragma_table_info('waits') WHERE name IN ('script', 'name')"), 2);
	}
	store_close(st);

	/* A schema-4 database (process_groups with a rowid) is migrated on
	 * open: its groups kept, open and closed, in a table without rowid
	 * (one page less per recorded group), still found by the watchdog's
	 * index of open groups. */
	CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	CHECK(sqlite3_exec(db,
			   "DROP TABLE process_groups;"
			   "CREATE TABLE process_groups ("
			   "  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
			   "  pgid INTEGER NOT NULL, start_ticks INTEGER NOT NULL,"
			   "  step TEXT, started_at INTEGER, ended_at INTEGER,"
			   "  PRIMARY KEY (run_id, pgid, start_ticks));"
			   "CREATE INDEX process_groups_open ON process_groups(run_id) WHERE ended_at IS NULL;"
			   "INSERT INTO runs(id, status) VALUES('r4', 'CRASHED');"
			   "INSERT INTO process_groups VALUES('r4', 100, 5, 'a', 1, NULL), ('r4', 101, 6, 'b', 2, 3);"
			   "PRAGMA user_version = 4",
			   NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);
	st = store_open(path, &err);
	CHECK(st != NULL);
	if (st) {
		CHECK_INT(qint(st, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
		CHECK_INT(qint(st, "SELECT wr FROM pragma_table_list WHERE name = 'process_groups'"), 1);
		CHECK_INT(qint(st, "SELECT count(*) FROM process_groups WHERE run_id = 'r4'"), 2);
		CHECK_INT(qint(st, "SELECT count(*) FROM process_groups WHERE step = 'b' AND ended_at = 3"), 1);
		CHECK_INT(qint(st, "SELECT count(*) FROM sqlite_master WHERE name = 'process_groups_open'"), 1);
		CHECK_INT(qint(st, "SELECT count(*) FROM sqlite_master WHERE name LIKE 'process_groups_v%'"), 0);
		CHECK_INT(qint(st, "SELECT pgid FROM process_groups INDEXED BY process_groups_open"
				   " WHERE run_id = 'r4' AND ended_at IS NULL"), 100);
		CHECK(store_integrity_check(st, &err) == 0);
		CHECK_INT(qint(st, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
	}
	store_close(st);

	/* A database from a newer waitloop is refused, with both versions named. */
	CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	CHECK(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);
	st = store_open(path, &err);
	CHECK(st == NULL);
	CHECK_CONTAINS(err.msg, "has schema version 99, newer than this waitloop (5)");
	CHECK_CONTAINS(err.msg, path);
	store_close(st);

	/* Not a database at all. */
	char *junk = db_path("junk.db");
	const char junk_text[] = "this is not sqlite, not at all, no no no no no no no no no no no no no no no no";
	CHECK(fs_write_atomic(junk, junk_text, sizeof(junk_text) - 1, &err) == 0);
	st = store_open(junk, &err);
	CHECK(st == NULL);
	CHECK_CONTAINS(err.msg, "history database '");
	CHECK_CONTAINS(err.msg, "file is not a database");
	free(junk);
	free(path);
}

static void record_sample_run(struct store *st, const char *run)
{
	emit(st, EV_RUN_STARTED, run, NULL, 0, 0, 0,
	     "{\"workflow\":\"demo\",\"file\":\"demo.yaml\",\"workspace\":\"/w\",\"context_dir\":\"/w/context\"}");
	emit(st, EV_PREFLIGHT, run, NULL, 0, 0, 0, "{\"name\":\"require_commands\",\"ok\":true}");
	emit(st, EV_STEP_STATE, run, "build", 0, 0, 0, "{\"status\":\"RUNNING\"}");
	for (int it = 1; it <= 2; it++) {
		emit(st, EV_ITERATION_STARTED, run, "build", it, 0, 0, NULL);
		emit(st, EV_ATTEMPT_STARTED, run, "build", it, 1, 0, "{\"phase\":\"step\"}");
		emit(st, EV_ATTEMPT_FINISHED, run, "build", it, 1, 0,
		     "{\"phase\":\"step\",\"exit_code\":0,\"timed_out\":false,\"signals_sent\":[],\"duration_s\":0.5}");
		emit(st, EV_ATTEMPT_STARTED, run, "build", it, 1, 0, "{\"phase\":\"completion_check\"}");
		if (it == 1) {
			emit(st, EV_OBSERVATION, run, "build", it, 1, 0,
			     "{\"seq\":1,\"elapsed_s\":0.1,\"condition_exit\":1,\"class\":\"retryable\","
			     "\"digest\":\"aa\",\"changed\":true,\"no_progress\":0,\"fingerprints\":[]}");
			emit(st, EV_OBSERVATION, run, "build", it, 1, 0,
			     "{\"seq\":2,\"elapsed_s\":1.1,\"condition_exit\":1,\"class\":\"terminal_fail\","
			     "\"digest\":\"bb\",\"changed\":true,\"no_progress\":0,"
			     "\"fingerprints\":[\"kest/control/crd-missing/x\"],\"summary\":\"dependency failed\"}");
			const char *end = "{\"outcome\":\"terminal_fail\",\"elapsed_s\":1.2,\"observations\":2,"
					  "\"fingerprints\":[\"kest/control/crd-missing/x\"],\"phase\":\"completion_check\","
					  "\"target\":\"crd/x\",\"rule\":\"builtin:kubernetes/dependency-failed\"}";
			emit(st, EV_WAIT_FINISHED, run, "build", it, 1, 0, end);
			emit(st, EV_EARLY_ABORT, run, "build", it, 1, 0, end);   /* an old log's: ignored */
			emit(st, EV_KILL, run, "build", it, 1, 0,
			     "{\"phase\":\"completion_check\",\"signals_sent\":[\"SIGINT\"],\"why\":\"terminal_fail\"}");
		}
		emit(st, EV_ATTEMPT_FINISHED, run, "build", it, 1, 0,
		     it == 1 ? "{\"phase\":\"completion_check\",\"signal\":2,\"signals_sent\":[\"SIGINT\"]}"
			     : "{\"phase\":\"completion_check\",\"exit_code\":0}");
		emit(st, EV_ITERATION_FINISHED, run, "build", it, 0, 0,
		     it == 1 ? "{\"decision\":\"incomplete\",\"source\":\"wait_policy\",\"reasons\":[\"crd missing\"],"
			       "\"fingerprints\":[\"kest/control/crd-missing/x\",\"kest/control/helmrelease-failed/y\"]}"
			     : "{\"decision\":\"complete\",\"source\":\"exit_code\",\"reasons\":[],\"fingerprints\":[]}");
		emit(st, EV_GIT_CHANGES, run, "build", it, 0, 0,
		     "{\"head_before\":\"1111\",\"head_after\":\"2222\",\"branch\":\"main\",\"files\":"
		     "[{\"path\":\"a.c\",\"status\":\"modified\",\"insertions\":3,\"deletions\":1},"
		     "{\"path\":\"b.c\",\"status\":\"added\",\"insertions\":10,\"deletions\":0}]}");
	}
	emit(st, EV_ALERT, run, "build", 1, 0, 0, "{\"consecutive_failures\":1,\"threshold\":1,\"reason\":\"x\"}");
	emit(st, EV_CONVERGENCE, run, "build", 1, 0, 0, "{\"stage\":2,\"fingerprints\":[\"f\"],\"diagnosis\":\"d\"}");
	emit(st, EV_NOTIFY, run, "build", 1, 0, 0,
	     "{\"target\":\"inbox\",\"event\":\"early_abort\",\"reason\":\"delivered\",\"message\":\"ok\"}");
	emit(st, EV_STEP_STATE, run, "build", 0, 0, 0, "{\"status\":\"SUCCEEDED\"}");
	emit(st, EV_RUN_FINISHED, run, NULL, 0, 0, 0, "{\"status\":\"SUCCEEDED\",\"duration_s\":3.5,\"exit_code\":0}");
}

static void test_record_and_query(void)
{
	struct wl_err err = WL_ERR_INIT;
	char *path = db_path("record.db");
	struct store *st = store_open(path, &err);
	CHECK(st != NULL);
	if (!st)
		goto out;
	record_sample_run(st, "20260101T000000Z-aaaa");
	CHECK_INT(store_sink_failures(st), 0);
	CHECK_STR(store_sink_error(st), "");

	CHECK_INT(qint(st, "SELECT count(*) FROM runs WHERE status = 'SUCCEEDED' AND exit_code = 0"), 1);
	CHECK_INT(qint(st, "SELECT iterations FROM steps WHERE step = 'build'"), 2);
	CHECK_INT(qint(st, "SELECT attempts FROM steps WHERE step = 'build'"), 1);
	CHECK_INT(qint(st, "SELECT count(*) FROM steps WHERE finished_at IS NOT NULL AND status = 'SUCCEEDED'"), 1);
	CHECK_INT(qint(st, "SELECT count(*) FROM attempts"), 4);
	CHECK_INT(qint(st, "SELECT count(*) FROM attempts WHERE phase = 'completion_check' AND signal = 2"), 1);
	/* one row per wait (an old log's early_abort line adds nothing). */
	CHECK_INT(qint(st, "SELECT count(*) FROM waits"), 1);
	CHECK_INT(qint(st, "SELECT early_abort + observations * 10 FROM waits"), 21);
	CHECK_INT(qint(st, "SELECT count(*) FROM waits WHERE outcome = 'terminal_fail' AND target = 'crd/x'"
			   " AND phase = 'completion_check' AND rule LIKE 'builtin:%'"), 1);
	CHECK_INT(qint(st, "SELECT count(*) FROM observations o JOIN waits w ON o.wait_id = w.id"), 2);
	CHECK_INT(qint(st, "SELECT count(*) FROM verdict_fingerprints WHERE iteration = 1"), 2);
	CHECK_INT(qint(st, "SELECT count(*) FROM verdict_fingerprints WHERE fingerprint ="
			   " 'kest/control/crd-missing/x'"), 1);
	CHECK_INT(qint(st, "SELECT sum(insertions) FROM git_snapshots"), 26);
	CHECK_INT(qint(st, "SELECT count(*) FROM notifications WHERE reason = 'delivered'"), 1);
	CHECK_INT(qint(st, "SELECT count(*) FROM alerts") + qint(st, "SELECT count(*) FROM kills") +
			  qint(st, "SELECT count(*) FROM convergence") + qint(st, "SELECT count(*) FROM preflight"),
		  4);

	/* Same event twice does not duplicate iterations or attempts (upserts). */
	emit(st, EV_ITERATION_FINISHED, "20260101T000000Z-aaaa", "build", 2, 0, 0, "{\"decision\":\"complete\"}");
	CHECK_INT(qint(st, "SELECT count(*) FROM iterations"), 2);

	cJSON *list = NULL;
	CHECK(store_list_runs(st, 10, &list, &err) == 0);
	CHECK_INT(cJSON_GetArraySize(list), 1);
	cJSON *r = cJSON_GetArrayItem(list, 0);
	CHECK_STR(json_get_string(r, "id"), "20260101T000000Z-aaaa");
	CHECK_STR(json_get_string(r, "status"), "SUCCEEDED");
	CHECK_INT(cJSON_GetObjectItem(r, "iterations")->valuedouble, 2);
	CHECK_INT(cJSON_GetObjectItem(r, "early_aborts")->valuedouble, 1);
	CHECK(cJSON_GetObjectItem(r, "duration_s")->valuedouble == 3.5);
	cJSON_Delete(list);

	cJSON *run = NULL;
	CHECK(store_get_run(st, "20260101T000000Z-a", &run, &err) == 0);
	if (run) {
		char *txt = cJSON_PrintUnformatted(run);
		CHECK_CONTAINS(txt, "\"workflow\":\"demo\"");
		CHECK_CONTAINS(txt, "\"decision\":\"incomplete\"");
		CHECK_CONTAINS(txt, "\"fingerprints\":[\"kest/control/crd-missing/x\",\"kest/control/helmrelease-failed/y\"]");
		CHECK_CONTAINS(txt, "\"observation_count\":2");
		CHECK_CONTAINS(txt, "\"early_abort\":true");
		CHECK_CONTAINS(txt, "\"summary\":\"dependency failed\"");
		CHECK_CONTAINS(txt, "\"head_after\":\"2222\"");
		CHECK_CONTAINS(txt, "\"path\":\"b.c\"");
		CHECK_CONTAINS(txt, "\"target\":\"inbox\"");
		CHECK_CONTAINS(txt, "\"name\":\"require_commands\",\"ok\":true");
		const cJSON *steps = cJSON_GetObjectItem(run, "steps");
		CHECK_INT(cJSON_GetArraySize(steps), 1);
		const cJSON *iters = cJSON_GetObjectItem(cJSON_GetArrayItem(steps, 0), "iterations");
		CHECK_INT(cJSON_GetArraySize(iters), 2);
		const cJSON *git = cJSON_GetObjectItem(cJSON_GetArrayItem(iters, 1), "git");
		CHECK(cJSON_IsObject(git));
		CHECK_INT(cJSON_GetObjectItem(git, "files_changed")->valuedouble, 2);
		const cJSON *waits = cJSON_GetObjectItem(cJSON_GetArrayItem(steps, 0), "waits");
		CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetArrayItem(waits, 0), "observations")), 2);
		free(txt);
	}
	cJSON_Delete(run);
	CHECK(store_integrity_check(st, &err) == 0);
	store_close(st);
out:
	free(path);
}

static void test_events_without_run_started(void)
{
	/* Graceful with partial streams: no run_started, no data at all. */
	struct wl_err err = WL_ERR_INIT;
	char *path = db_path("partial.db");
	struct store *st = store_open(path, &err);
	CHECK(st != NULL);
	if (!st)
		goto out;
	emit(st, EV_OBSERVATION, "r1", "s", 1, 0, 0, NULL);
	emit(st, EV_WAIT_FINISHED, "r1", "s", 1, 0, 0, "{\"outcome\":\"stalled\"}");
	emit(st, EV_STEP_STATE, "r1", "s", 0, 0, 0, NULL);
	emit(st, EV_ATTEMPT_FINISHED, "r1", "s", 0, 0, 0, NULL);
	emit(st, EV_ITERATION_FINISHED, "r1", "s", 1, 0, 0, "{\"fingerprints\":\"not-an-array\"}");
	emit(st, EV_GIT_CHANGES, "r1", "s", 1, 0, 0, "{\"files\":{}}");
	emit(st, EV_NOTIFY, "r1", NULL, 0, 0, 0, "{}");
	emit(st, EV_RUN_FINISHED, "r1", NULL, 0, 0, 0, NULL);
	CHECK_INT(store_sink_failures(st), 0);
	if (store_sink_failures(st))
		fprintf(stderr, "  %s\n", store_sink_error(st));
	CHECK_INT(qint(st, "SELECT count(*) FROM runs"), 1);
	CHECK_INT(qint(st, "SELECT count(*) FROM waits WHERE early_abort = 1 AND observations = 1"), 1);
	store_close(st);
out:
	free(path);
}

/* The observations row's class is the event's typed class, spelled at the
 * SQL boundary; a line replayed from events.jsonl gets it from its spelling. */
static void test_observation_class_typed(void)
{
	struct wl_err err = WL_ERR_INIT;
	char *path = db_path("typed.db");
	struct store *st = store_open(path, &err);
	CHECK(st != NULL);
	if (!st)
		goto out;
	emit(st, EV_RUN_STARTED, "r1", NULL, 0, 0, 0, "{\"workflow\":\"w\"}");
	struct wl_event ev = {EV_OBSERVATION, time_wall_ms(), "r1", "s", 1, 1, NULL, CLASS_STALLED};
	ev.data = cJSON_Parse("{\"seq\":1,\"phase\":\"wait\",\"no_progress\":6}");   /* no "class" in data */
	store_sink(st, &ev);
	cJSON_Delete(ev.data);
	ev.obs_class = CLASS_MET;
	ev.data = cJSON_Parse("{\"seq\":2,\"phase\":\"wait\"}");
	store_sink(st, &ev);
	cJSON_Delete(ev.data);
	cJSON *line = cJSON_Parse("{\"type\":\"observation\",\"run_id\":\"r1\",\"step\":\"s\",\"iteration\":1,"
				  "\"attempt\":1,\"seq\":3,\"class\":\"progressing\",\"phase\":\"wait\"}");
	struct wl_event back;
	CHECK(event_from_json(line, &back) == 0);
	CHECK_INT(back.obs_class, CLASS_PROGRESSING);
	store_sink(st, &back);
	cJSON_Delete(back.data);
	cJSON_Delete(line);
	CHECK_INT(store_sink_failures(st), 0);
	CHECK_INT(qint(st, "SELECT count(*) FROM observations WHERE seq = 1 AND class = 'stalled'"), 1);
	CHECK_INT(qint(st, "SELECT count(*) FROM observations WHERE seq = 2 AND class = 'met'"), 1);
	CHECK_INT(qint(st, "SELECT count(*) FROM observations WHERE seq = 3 AND class = 'progressing'"), 1);
	store_close(st);
out:
	free(path);
}

static void test_batching(void)
{
	/* Batched: events join one transaction, visible to other connections
	 * (and durable) only after store_flush(); a bad event leaves no half of
	 * itself and does not take the others of its batch with it. */
	struct wl_err err = WL_ERR_INIT;
	char *path;
	struct store *st, *other;
	if (open_two("batch.db", &path, &st, &other) < 0)
		goto out;
	store_set_batching(st, 1);
	emit(st, EV_RUN_STARTED, "rb", NULL, 0, 0, 1000, "{\"workflow\":\"w\",\"pid\":1}");
	emit(st, EV_STEP_STATE, "rb", "a", 0, 0, 1001, "{\"status\":\"RUNNING\"}");
	emit(st, EV_ATTEMPT_STARTED, "rb", "a", 0, 1, 1002, "{\"phase\":\"step\"}");
	CHECK_INT(qint(st, "SELECT count(*) FROM attempts"), 1);    /* its own connection sees it */
	CHECK_INT(qint(other, "SELECT count(*) FROM runs"), 0);     /* nobody else yet */
	CHECK_INT(store_flush(st, &err), 0);
	CHECK_INT(qint(other, "SELECT count(*) FROM runs"), 1);
	CHECK_INT(qint(other, "SELECT count(*) FROM attempts"), 1);
	CHECK_INT(store_flush(st, &err), 0);                         /* nothing open: a no-op */

	/* a failing event inside a batch: a trigger refuses step 'b' */
	plant_sql(path, "CREATE TRIGGER no_b BEFORE INSERT ON steps WHEN NEW.step = 'b'"
			" BEGIN SELECT RAISE(ABORT, 'no b'); END");
	emit(st, EV_STEP_STATE, "rb", "a", 0, 0, 1003, "{\"status\":\"SUCCEEDED\"}");
	emit(st, EV_STEP_STATE, "rb", "b", 0, 0, 1004, "{\"status\":\"RUNNING\"}");
	emit(st, EV_RUN_FINISHED, "rb", NULL, 0, 0, 1005, "{\"status\":\"FAILED\",\"exit_code\":1}");
	CHECK_INT(store_sink_failures(st), 1);
	CHECK(strstr(store_sink_error(st), "cannot record event 'step_state'") != NULL);
	store_close(st);   /* commits the rest of the batch */
	CHECK_INT(qint(other, "SELECT count(*) FROM steps WHERE step = 'b'"), 0);
	CHECK_INT(qint(other, "SELECT count(*) FROM steps WHERE step = 'a' AND status = 'SUCCEEDED'"), 1);
	CHECK_INT(qint(other, "SELECT count(*) FROM runs WHERE status = 'FAILED'"), 1);
	struct wl_err ierr = WL_ERR_INIT;
	CHECK_INT(store_integrity_check(other, &ierr), 0);
out:
	store_close(other);
	free(path);
}

static void test_batch_single_statement_failure(void)
{
	/* An event of one statement is recorded without a savepoint: SQLite's
	 * statement rollback must still undo all of it (here: what a trigger
	 * wrote before it failed) and keep the rest of the batch. */
	struct wl_err err = WL_ERR_INIT;
	char *path;
	struct store *st, *other;
	if (open_two("batch1.db", &path, &st, &other) < 0)
		goto out;
	plant_sql(path, "CREATE TRIGGER no_c AFTER UPDATE ON steps"
				" WHEN NEW.step = 'c' AND NEW.status = 'SUCCEEDED'"
				" BEGIN INSERT INTO warnings(run_id, step, kind) VALUES('r1', 'c', 'half');"
				" SELECT RAISE(ABORT, 'no c'); END");
	store_set_batching(st, 1);
	emit(st, EV_RUN_STARTED, "r1", NULL, 0, 0, 1000, "{\"workflow\":\"w\",\"pid\":1}");
	emit(st, EV_STEP_STATE, "r1", "c", 0, 0, 1001, "{\"status\":\"RUNNING\"}");
	emit(st, EV_STEP_STATE, "r1", "c", 0, 0, 1002, "{\"status\":\"SUCCEEDED\"}");  /* refused */
	emit(st, EV_ATTEMPT_FINISHED, "r1", "c", 0, 1, 1003, "{\"phase\":\"step\",\"exit_code\":0}");
	CHECK_INT(store_sink_failures(st), 1);
	CHECK_INT(store_flush(st, &err), 0);
	CHECK_INT(qint(other, "SELECT count(*) FROM warnings"), 0);
	CHECK_INT(qint(other, "SELECT count(*) FROM steps WHERE step = 'c' AND status = 'RUNNING'"), 1);
	CHECK_INT(qint(other, "SELECT count(*) FROM attempts WHERE step = 'c' AND exit_code = 0"), 1);
out:
	store_close(st);
	store_close(other);
	free(path);
}

static void test_group_commit(void)
{
	/* A process group is on record (committed, with the turn so far) as
	 * soon as store_groups_started returns, batching or not: a runner killed
	 * right after must leave it for the watchdog. Its end joins the turn. */
	struct wl_err err = WL_ERR_INIT;
	char *path;
	struct store *st, *other;
	if (open_two("groups.db", &path, &st, &other) < 0)
		goto out;
	struct store_group a = {100, 5, "a"}, b[2] = {{101, 5, "b"}, {102, 6, NULL}};
	CHECK_INT(store_groups_started(st, "rg", &a, 1, &err), 0);    /* not batching */
	CHECK_INT(qint(other, "SELECT count(*) FROM process_groups WHERE pgid = 100"), 1);
	store_set_batching(st, 1);
	emit(st, EV_STEP_STATE, "rg", "b", 0, 0, 1001, "{\"status\":\"RUNNING\"}");
	CHECK_INT(store_groups_started(st, "rg", b, 2, &err), 0);
	CHECK_INT(qint(other, "SELECT count(*) FROM process_groups WHERE pgid IN (101, 102)"), 2);
	CHECK_INT(qint(other, "SELECT count(*) FROM steps WHERE step = 'b'"), 1);   /* the turn so far */
	emit(st, EV_ATTEMPT_STARTED, "rg", "b", 0, 1, 1002, "{\"phase\":\"step\"}");
	CHECK_INT(store_group_ended(st, "rg", 101, 5, &err), 0);
	CHECK_INT(qint(other, "SELECT count(*) FROM process_groups WHERE pgid = 101 AND ended_at IS NULL"), 1);
	CHECK_INT(store_flush(st, &err), 0);
	CHECK_INT(qint(other, "SELECT count(*) FROM process_groups WHERE pgid = 101 AND ended_at IS NOT NULL"), 1);
	CHECK_INT(qint(other, "SELECT count(*) FROM attempts WHERE step = 'b'"), 1);
	CHECK_INT(store_sink_failures(st), 0);
out:
	store_close(st);
	store_close(other);
	free(path);
}

static int async_warnings, async_warned_off_main;
static pthread_t main_thread;

static void async_warn(void *ctx, const char *msg)
{
	(void)ctx, (void)msg;
	async_warnings++;
	if (!pthread_equal(pthread_self(), main_thread))
		async_warned_off_main = 1;
}

static void test_async(void)
{
	/* Async: a turn's writes are copied when given (the caller frees its
	 * event at once), recorded and committed in the order given by the
	 * writer thread after store_flush(), all there after store_sync(); a
	 * failure there is reported once, on the caller's thread, by
	 * store_sync(); store_close() commits what was given last. */
	struct wl_err err = WL_ERR_INIT;
	char *path;
	struct store *st, *other;
	if (open_two("async.db", &path, &st, &other) < 0)
		goto out;
	main_thread = pthread_self();
	async_warnings = async_warned_off_main = 0;
	store_set_warn(st, async_warn, NULL);
	store_set_batching(st, 1);
	store_set_async(st, 1);
	emit(st, EV_RUN_STARTED, "ra", NULL, 0, 0, 1000, "{\"workflow\":\"w\",\"pid\":1}");
	for (int i = 0; i < 40; i++)   /* the last one wins: order kept */
		emit(st, EV_STEP_STATE, "ra", "a", 0, 0, 1001 + i, i % 2 ? "{\"status\":\"SUCCEEDED\"}"
								     : "{\"status\":\"RUNNING\"}");
	struct store_group g = {200, 7, "a"};
	CHECK_INT(store_groups_started(st, "ra", &g, 1, &err), 0);   /* gives the turn so far */
	CHECK_INT(store_group_ended(st, "ra", 200, 7, &err), 0);
	CHECK_INT(store_heartbeat(st, "ra", &err), 0);
	store_sync(st);
	CHECK_INT(qint(other, "SELECT count(*) FROM steps WHERE step = 'a' AND status = 'SUCCEEDED'"), 1);
	CHECK_INT(qint(other, "SELECT count(*) FROM process_groups WHERE pgid = 200 AND ended_at IS NOT NULL"), 1);
	CHECK_INT(qint(other, "SELECT heartbeat_at > 1000 FROM runs WHERE id = 'ra'"), 1);

	/* a failure on the writer thread: a trigger refuses step 'b' */
	plant_sql(path, "CREATE TRIGGER no_b2 BEFORE INSERT ON steps WHEN NEW.step = 'b'"
			" BEGIN SELECT RAISE(ABORT, 'no b'); END");
	emit(st, EV_STEP_STATE, "ra", "b", 0, 0, 2000, "{\"status\":\"RUNNING\"}");
	emit(st, EV_STEP_STATE, "ra", "c", 0, 0, 2001, "{\"status\":\"RUNNING\"}");
	CHECK_INT(store_flush(st, &err), 0);
	store_sync(st);
	CHECK_INT(async_warnings, 1);
	CHECK_INT(async_warned_off_main, 0);
	CHECK_INT(store_sink_failures(st), 1);
	CHECK(strstr(store_sink_error(st), "cannot record event 'step_state'") != NULL);
	CHECK_INT(qint(other, "SELECT count(*) FROM steps WHERE step = 'c'"), 1);

	/* given, never flushed: store_close() commits it */
	emit(st, EV_RUN_FINISHED, "ra", NULL, 0, 0, 3000, "{\"status\":\"SUCCEEDED\",\"exit_code\":0}");
	store_close(st);
	st = NULL;
	CHECK_INT(qint(other, "SELECT count(*) FROM runs WHERE status = 'SUCCEEDED'"), 1);
	CHECK_INT(async_warnings, 1);
out:
	store_close(st);
	store_close(other);
	free(path);
}

static void test_rows_across_batches(void)
{
	/* The store remembers which step rows exist (committed, or in the open
	 * batch) and does not ensure them again; a step's first step_state
	 * creates its row in the same statement. A row whose event failed is
	 * not remembered: the step's next event creates it. A run of this
	 * process marked CRASHED by mistake is RUNNING again at its next batch. */
	struct wl_err err = WL_ERR_INIT;
	char *path;
	struct store *st, *other;
	if (open_two("rows.db", &path, &st, &other) < 0)
		goto out;
	sqlite3 *raw = NULL;
	CHECK(sqlite3_open(path, &raw) == SQLITE_OK);
	CHECK(sqlite3_exec(raw, "CREATE TABLE flag(x); INSERT INTO flag VALUES(1);"
				"CREATE TRIGGER no_b BEFORE INSERT ON steps WHEN NEW.step = 'b'"
				" AND (SELECT count(*) FROM flag) > 0 BEGIN SELECT RAISE(ABORT, 'no b'); END",
			   NULL, NULL, NULL) == SQLITE_OK);
	store_set_batching(st, 1);
	char json[64];
	snprintf(json, sizeof(json), "{\"workflow\":\"w\",\"pid\":%d}", (int)getpid());
	emit(st, EV_RUN_STARTED, "rr", NULL, 0, 0, 1000, json);
	emit(st, EV_STEP_STATE, "rr", "a", 0, 0, 1001, "{\"status\":\"RUNNING\"}");
	emit(st, EV_STEP_STATE, "rr", "b", 0, 0, 1002, "{\"status\":\"RUNNING\"}");   /* refused */
	CHECK_INT(store_sink_failures(st), 1);
	CHECK_INT(store_flush(st, &err), 0);
	CHECK(sqlite3_exec(raw, "DELETE FROM flag; UPDATE runs SET status = 'CRASHED', status_reason = 'x'",
			   NULL, NULL, NULL) == SQLITE_OK);
	emit(st, EV_ATTEMPT_STARTED, "rr", "b", 0, 1, 1003, "{\"phase\":\"step\"}");
	emit(st, EV_ATTEMPT_STARTED, "rr", "a", 0, 1, 1004, "{\"phase\":\"step\"}");
	CHECK_INT(store_flush(st, &err), 0);
	emit(st, EV_STEP_STATE, "rr", "a", 0, 0, 1005, "{\"status\":\"SUCCEEDED\"}");
	emit(st, EV_STEP_STATE, "rr", "c", 0, 0, 1006, "{\"status\":\"SKIPPED\",\"reason\":\"r\"}");
	CHECK_INT(store_flush(st, &err), 0);
	CHECK_INT(store_sink_failures(st), 1);
	CHECK_INT(qint(other, "SELECT count(*) FROM runs WHERE status = 'RUNNING' AND status_reason IS NULL"), 1);
	CHECK_INT(qint(other, "SELECT count(*) FROM steps WHERE step = 'b' AND status = 'PENDING' AND attempts = 1"), 1);
	CHECK_INT(qint(other, "SELECT count(*) FROM steps WHERE step = 'a' AND status = 'SUCCEEDED' AND attempts = 1"
			      " AND started_at = 1001 AND finished_at = 1005 AND updated_at = 1005"), 1);
	CHECK_INT(qint(other, "SELECT count(*) FROM steps WHERE step = 'c' AND status = 'SKIPPED' AND reason = 'r'"
			      " AND started_at IS NULL AND finished_at = 1006 AND updated_at = 1006"), 1);
	CHECK_INT(qint(other, "SELECT count(*) FROM attempts"), 2);
	sqlite3_close(raw);
out:
	store_close(st);
	store_close(other);
	free(path);
}

static void test_crashed_marking(void)
{
	struct wl_err err = WL_ERR_INIT;
	char *path = db_path("crash.db");
	struct store *st = store_open(path, &err);
	CHECK(st != NULL);
	if (!st)
		goto out;
	pid_t dead = fork();
	if (dead == 0)
		_exit(0);
	waitpid(dead, NULL, 0);
	char json[128];
	snprintf(json, sizeof(json), "{\"workflow\":\"w\",\"pid\":%d}", (int)dead);
	emit(st, EV_RUN_STARTED, "dead-pid", NULL, 0, 0, 0, json);
	emit(st, EV_STEP_STATE, "dead-pid", "s", 0, 0, 0, "{\"status\":\"RUNNING\"}");
	/* pid 1 is alive; an old heartbeat makes it stale. */
	int64_t old = time_wall_ms() - 10 * 60 * 1000;
	emit(st, EV_RUN_STARTED, "stale", NULL, 0, 0, old, "{\"workflow\":\"w\",\"pid\":1}");
	emit(st, EV_RUN_STARTED, "alive", NULL, 0, 0, 0, "{\"workflow\":\"w\",\"pid\":1}");
	emit(st, EV_RUN_STARTED, "mine-old", NULL, 0, 0, old, "{\"workflow\":\"w\"}");
	emit(st, EV_RUN_STARTED, "done", NULL, 0, 0, old, "{\"workflow\":\"w\",\"pid\":1}");
	emit(st, EV_RUN_FINISHED, "done", NULL, 0, 0, old, "{\"status\":\"FAILED\"}");

	CHECK_INT(store_mark_crashed(st, &err), 2);
	CHECK_INT(qint(st, "SELECT count(*) FROM runs WHERE status = 'CRASHED' AND id IN ('dead-pid', 'stale')"), 2);
	CHECK_INT(qint(st, "SELECT count(*) FROM runs WHERE status = 'RUNNING' AND id IN ('alive', 'mine-old')"), 2);
	CHECK_INT(qint(st, "SELECT count(*) FROM runs WHERE status = 'FAILED'"), 1);
	CHECK_INT(qint(st, "SELECT count(*) FROM steps WHERE run_id = 'dead-pid' AND status = 'CRASHED'"), 1);
	CHECK_INT(qint(st, "SELECT count(*) FROM runs WHERE status_reason LIKE 'runner pid % is gone'"), 1);
	CHECK_INT(qint(st, "SELECT count(*) FROM runs WHERE status_reason LIKE 'no heartbeat since %'"), 1);

	/* Nothing left to mark; the heartbeat of a live run is accepted. */
	CHECK(store_heartbeat(st, "alive", &err) == 0);
	CHECK_INT(store_mark_crashed(st, &err), 0);
	store_close(st);
out:
	free(path);
}

static void test_notification_claim(void)
{
	struct wl_err err = WL_ERR_INIT;
	char *path = db_path("notify.db");
	struct store *st = store_open(path, &err);
	CHECK(st != NULL);
	if (!st)
		goto out;
	CHECK_INT(store_notification_claim(st, "r", "early_abort", "check", 2, "inbox", &err), 1);
	CHECK_INT(store_notification_claim(st, "r", "early_abort", "check", 2, "inbox", &err), 0);
	/* Different iteration, target or run-level: independent. */
	CHECK_INT(store_notification_claim(st, "r", "early_abort", "check", 3, "inbox", &err), 1);
	CHECK_INT(store_notification_claim(st, "r", "early_abort", "check", 2, "peer", &err), 1);
	CHECK_INT(store_notification_claim(st, "r", "run_finished", NULL, 0, "inbox", &err), 1);
	CHECK_INT(store_notification_claim(st, "r", "run_finished", NULL, 0, "inbox", &err), 0);
	CHECK(store_notification_result(st, "r", "early_abort", "check", 2, "inbox", "delivered", NULL, &err) == 0);
	/* A suppressed duplicate is counted, never overwrites the delivery reason. */
	emit(st, EV_NOTIFY, "r", "check", 2, 0, 0,
	     "{\"target\":\"inbox\",\"event\":\"early_abort\",\"reason\":\"duplicate_suppressed\"}");
	CHECK_INT(qint(st, "SELECT count(*) FROM notifications WHERE step = 'check' AND iteration = 2"
			   " AND target = 'inbox' AND reason = 'delivered' AND suppressed = 1"), 1);
	CHECK_INT(qint(st, "SELECT count(*) FROM notifications"), 4);
	store_close(st);
out:
	free(path);
}

static void test_prefix_lookup(void)
{
	struct wl_err err = WL_ERR_INIT;
	char *path = db_path("prefix.db");
	struct store *st = store_open(path, &err);
	CHECK(st != NULL);
	if (!st)
		goto out;
	emit(st, EV_RUN_STARTED, "abc123", NULL, 0, 0, 0, "{\"workflow\":\"one\"}");
	emit(st, EV_RUN_STARTED, "abc456", NULL, 0, 0, 0, "{\"workflow\":\"two\"}");
	emit(st, EV_RUN_STARTED, "ab", NULL, 0, 0, 0, "{\"workflow\":\"three\"}");
	cJSON *run = NULL;
	CHECK(store_get_run(st, "abc1", &run, &err) == 0);
	CHECK_STR(json_get_string(run, "workflow"), "one");
	cJSON_Delete(run);
	CHECK(store_get_run(st, "abc", &run, &err) < 0);
	CHECK(run == NULL);
	CHECK_STR(err.msg, "run id prefix 'abc' is ambiguous: abc123, abc456");
	/* An exact id wins over longer ids it prefixes. */
	CHECK(store_get_run(st, "ab", &run, &err) == 0);
	CHECK_STR(json_get_string(run, "workflow"), "three");
	cJSON_Delete(run);
	run = NULL;
	CHECK(store_get_run(st, "zzz", &run, &err) < 0);
	char *want = xasprintf("no run 'zzz' in history database '%s'", path);
	CHECK_STR(err.msg, want);
	free(want);
	CHECK(store_get_run(st, "", &run, &err) < 0);
	store_close(st);
out:
	free(path);
}

/* Two processes, one database: both writers must succeed. */
static void test_concurrent_writers(void)
{
	struct wl_err err = WL_ERR_INIT;
	char *path = db_path("concurrent.db");
	pid_t kids[2];
	for (int k = 0; k < 2; k++) {
		kids[k] = fork();
		if (kids[k] == 0) {
			struct wl_err e = WL_ERR_INIT;
			struct store *cs = store_open(path, &e);
			if (!cs) {
				fprintf(stderr, "  child %d: %s\n", k, e.msg);
				_exit(3);
			}
			char run[32];
			snprintf(run, sizeof(run), "writer-%d", k);
			emit(cs, EV_RUN_STARTED, run, NULL, 0, 0, 0, "{\"workflow\":\"w\"}");
			for (int i = 0; i < 200; i++) {
				char json[96];
				snprintf(json, sizeof(json), "{\"seq\":%d,\"class\":\"retryable\",\"digest\":\"d%d\"}", i + 1, i);
				emit(cs, EV_OBSERVATION, run, "s", 1, 1, 0, json);
			}
			int failures = store_sink_failures(cs);
			if (failures)
				fprintf(stderr, "  child %d: %d failures: %s\n", k, failures, store_sink_error(cs));
			store_close(cs);
			_exit(failures ? 1 : 0);
		}
	}
	for (int k = 0; k < 2; k++) {
		int status = -1;
		CHECK(waitpid(kids[k], &status, 0) == kids[k]);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	struct store *st = store_open(path, &err);
	CHECK(st != NULL);
	if (st) {
		CHECK_INT(qint(st, "SELECT count(*) FROM observations"), 400);
		CHECK_INT(qint(st, "SELECT count(*) FROM waits WHERE observations = 200"), 2);
		CHECK(store_integrity_check(st, &err) == 0);
		store_close(st);
	}
	free(path);
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	TEST(test_open_and_migrate);
	TEST(test_record_and_query);
	TEST(test_events_without_run_started);
	TEST(test_observation_class_typed);
	TEST(test_batching);
	TEST(test_batch_single_statement_failure);
	TEST(test_group_commit);
	TEST(test_async);
	TEST(test_rows_across_batches);
	TEST(test_crashed_marking);
	TEST(test_notification_claim);
	TEST(test_prefix_lookup);
	TEST(test_concurrent_writers);
	if (getenv("KEEP")) return tests_done();
	char *cmd = xasprintf("rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	free(cmd);
	return tests_done();
}
