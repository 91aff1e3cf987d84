/*
 * store: the run history in SQLite. One short write transaction per event,
 * or one per turn of the runner (batching; async: recorded and committed
 * by a writer thread of the store's own); schema migrations as an ordered
 * list of SQL scripts; statements prepared once and cached. See store.h for
 * the API and docs/history.md for tables and durability.
 */
#include "store.h"

#include <errno.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "bgwrite.h"
#include "fsutil.h"
#include "jsonutil.h"
#include "strbuf.h"
#include "timeutil.h"
#include "workflow.h"
#include "xalloc.h"

#define WAL_SIZE_LIMIT "4194304"   /* bytes: ~1000 pages of 4 KiB */
#define BUSY_TIMEOUT_MS 5000

/*
 * Migrations: migrations[i] brings the schema from version i to i + 1.
 * Append new steps; never edit a released one.
 */
static const char *const migrations[] = {
	/* 0 -> 1 */
	"CREATE TABLE runs ("
	"  id TEXT PRIMARY KEY,"
	"  workflow TEXT, file TEXT, workspace TEXT, context_dir TEXT,"
	"  status TEXT NOT NULL DEFAULT 'RUNNING',"
	"  status_reason TEXT,"
	"  started_at INTEGER, finished_at INTEGER, duration_s REAL, exit_code INTEGER,"
	"  pid INTEGER, hostname TEXT, heartbeat_at INTEGER);"
	"CREATE INDEX runs_started ON runs(started_at);"
	"CREATE INDEX runs_status ON runs(status);"
	"CREATE TABLE steps ("
	"  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
	"  step TEXT NOT NULL,"
	"  status TEXT NOT NULL DEFAULT 'PENDING', reason TEXT,"
	"  attempts INTEGER NOT NULL DEFAULT 0, iterations INTEGER NOT NULL DEFAULT 0,"
	"  started_at INTEGER, finished_at INTEGER, updated_at INTEGER,"
	"  PRIMARY KEY (run_id, step));"
	"CREATE TABLE attempts ("
	"  id INTEGER PRIMARY KEY,"
	"  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
	"  step TEXT NOT NULL, iteration INTEGER NOT NULL DEFAULT 0, attempt INTEGER NOT NULL DEFAULT 0,"
	"  phase TEXT NOT NULL DEFAULT 'step',"
	"  exit_code INTEGER, signal INTEGER, timed_out INTEGER, signals_sent TEXT, reason TEXT,"
	"  duration_s REAL, started_at INTEGER, finished_at INTEGER,"
	"  UNIQUE (run_id, step, iteration, attempt, phase));"
	"CREATE TABLE iterations ("
	"  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
	"  step TEXT NOT NULL, iteration INTEGER NOT NULL,"
	"  decision TEXT, decision_source TEXT, reasons TEXT, fingerprints TEXT,"
	"  started_at INTEGER, finished_at INTEGER,"
	"  PRIMARY KEY (run_id, step, iteration));"
	"CREATE TABLE verdict_fingerprints ("
	"  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
	"  step TEXT NOT NULL, iteration INTEGER NOT NULL, fingerprint TEXT NOT NULL,"
	"  PRIMARY KEY (run_id, step, iteration, fingerprint));"
	"CREATE INDEX verdict_fingerprints_fp ON verdict_fingerprints(fingerprint);"
	"CREATE TABLE waits ("
	"  id INTEGER PRIMARY KEY,"
	"  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
	"  step TEXT NOT NULL, iteration INTEGER NOT NULL DEFAULT 0, attempt INTEGER NOT NULL DEFAULT 0,"
	"  phase TEXT NOT NULL DEFAULT '', target TEXT,"
	"  outcome TEXT, elapsed_s REAL, observations INTEGER NOT NULL DEFAULT 0,"
	"  early_abort INTEGER NOT NULL DEFAULT 0, fingerprints TEXT, rule TEXT, message TEXT,"
	"  started_at INTEGER, finished_at INTEGER,"
	"  closed_by INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX waits_key ON waits(run_id, step, iteration, attempt);"
	"CREATE TABLE observations ("
	"  id INTEGER PRIMARY KEY,"
	"  wait_id INTEGER NOT NULL REFERENCES waits(id) ON DELETE CASCADE,"
	"  seq INTEGER, ts INTEGER, elapsed_s REAL, condition_exit INTEGER,"
	"  class TEXT, digest TEXT, changed INTEGER, no_progress INTEGER,"
	"  fingerprints TEXT, summary TEXT, probe_error TEXT);"
	"CREATE INDEX observations_wait ON observations(wait_id, seq);"
	"CREATE TABLE notifications ("
	"  id INTEGER PRIMARY KEY,"
	"  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
	"  event TEXT NOT NULL, step TEXT NOT NULL DEFAULT '', iteration INTEGER NOT NULL DEFAULT 0,"
	"  target TEXT NOT NULL, reason TEXT, message TEXT,"
	"  suppressed INTEGER NOT NULL DEFAULT 0, claimed_at INTEGER, finished_at INTEGER,"
	"  UNIQUE (run_id, event, step, iteration, target));"
	"CREATE TABLE alerts ("
	"  id INTEGER PRIMARY KEY,"
	"  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
	"  step TEXT NOT NULL DEFAULT '', iteration INTEGER NOT NULL DEFAULT 0,"
	"  consecutive_failures INTEGER, threshold INTEGER, reason TEXT, ts INTEGER);"
	"CREATE INDEX alerts_run ON alerts(run_id);"
	"CREATE TABLE preflight ("
	"  id INTEGER PRIMARY KEY,"
	"  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
	"  name TEXT, ok INTEGER, fingerprint TEXT, message TEXT, ts INTEGER);"
	"CREATE INDEX preflight_run ON preflight(run_id);"
	"CREATE TABLE git_snapshots ("
	"  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
	"  step TEXT NOT NULL, iteration INTEGER NOT NULL DEFAULT 0,"
	"  head_before TEXT, head_after TEXT, branch TEXT, files TEXT,"
	"  files_changed INTEGER, insertions INTEGER, deletions INTEGER, ts INTEGER,"
	"  PRIMARY KEY (run_id, step, iteration));"
	"CREATE TABLE convergence ("
	"  id INTEGER PRIMARY KEY,"
	"  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
	"  step TEXT NOT NULL, iteration INTEGER NOT NULL DEFAULT 0,"
	"  stage INTEGER, fingerprints TEXT, diagnosis TEXT, ts INTEGER);"
	"CREATE INDEX convergence_run ON convergence(run_id);"
	"CREATE TABLE kills ("
	"  id INTEGER PRIMARY KEY,"
	"  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
	"  step TEXT NOT NULL DEFAULT '', iteration INTEGER NOT NULL DEFAULT 0, attempt INTEGER NOT NULL DEFAULT 0,"
	"  phase TEXT, signals_sent TEXT, why TEXT, ts INTEGER);"
	"CREATE INDEX kills_run ON kills(run_id);",
	/* 1 -> 2: every process group a run spawned, for the watchdog that
	 * stops what a dead runner left behind (reaper.h). start_ticks is
	 * field 22 of /proc/PID/stat: a reused pid never matches it. */
	"CREATE TABLE process_groups ("
	"  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
	"  pgid INTEGER NOT NULL, start_ticks INTEGER NOT NULL,"
	"  step TEXT, started_at INTEGER, ended_at INTEGER,"
	"  PRIMARY KEY (run_id, pgid, start_ticks));"
	"CREATE INDEX process_groups_open ON process_groups(run_id) WHERE ended_at IS NULL;",
	/* 2 -> 3: warnings that did not change an outcome (a declared output not
	 * produced, a missing input, a sentinel trigger with action ignore) */
	"CREATE TABLE warnings ("
	"  id INTEGER PRIMARY KEY,"
	"  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
	"  step TEXT NOT NULL DEFAULT '', iteration INTEGER NOT NULL DEFAULT 0,"
	"  kind TEXT, message TEXT, ts INTEGER);"
	"CREATE INDEX warnings_run ON warnings(run_id);",
	/* 3 -> 4: the waits a step's or check's script ran itself (`waitloop
	 * wait` under a run): script = 1, with the wait's name */
	("ALTER TABLE waits ADD COLUMN script INTEGER NOT NULL DEFAULT 0;"
	 "ALTER TABLE waits ADD COLUMN name TEXT;"),
	/* 4 -> 5: process_groups keyed by its primary key alone (WITHOUT
	 * ROWID): the row lives in the key's b-tree, so recording a group -- a
	 * commit of its own at every spawn -- writes one page less (3 -> 2 of
	 * the ~7 pages of that commit; issue 19). Same columns, same rows. */
	("CREATE TABLE process_groups_v5 ("
	 "  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,"
	 "  pgid INTEGER NOT NULL, start_ticks INTEGER NOT NULL,"
	 "  step TEXT, started_at INTEGER, ended_at INTEGER,"
	 "  PRIMARY KEY (run_id, pgid, start_ticks)) WITHOUT ROWID;"
	 "INSERT INTO process_groups_v5(run_id, pgid, start_ticks, step, started_at, ended_at)"
	 " SELECT run_id, pgid, start_ticks, step, started_at, ended_at FROM process_groups;"
	 "DROP TABLE process_groups;"
	 "ALTER TABLE process_groups_v5 RENAME TO process_groups;"
	 "CREATE INDEX process_groups_open ON process_groups(run_id) WHERE ended_at IS NULL;"),
};
#define NMIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))
_Static_assert(sizeof(migrations) / sizeof(migrations[0]) == STORE_SCHEMA_VERSION,
	       "one migration per schema version");

/* Statuses after which a step or run has finished. */
#define LIVE_STATUSES "('PENDING','READY','RUNNING','WAITING','RETRYING')"

enum stmt_id {
	Q_BEGIN, Q_COMMIT, Q_ROLLBACK, Q_SAVEPOINT, Q_RELEASE, Q_ROLLBACK_TO,
	Q_RUN_ENSURE, Q_RUN_STARTED, Q_RUN_FINISHED, Q_HEARTBEAT,
	Q_STEP_ENSURE, Q_STEP_STATE, Q_STEP_STATE_NEW, Q_STEP_ATTEMPT, Q_STEP_ITER,
	Q_ATTEMPT_START, Q_ATTEMPT_FINISH,
	Q_ITER_START, Q_ITER_FINISH, Q_VFP_DELETE, Q_VFP_INSERT,
	Q_WAIT_FIND, Q_WAIT_FIND_OPEN, Q_WAIT_INSERT, Q_WAIT_CLOSE, Q_WAIT_OBS,
	Q_OBS_INSERT,
	Q_NOTIFY_CLAIM, Q_NOTIFY_RESULT, Q_NOTIFY_SUPPRESSED,
	Q_ALERT, Q_PREFLIGHT, Q_GIT, Q_CONVERGENCE, Q_KILL, Q_WARNING,
	Q_GROUP_START, Q_GROUP_END,
	Q__COUNT
};

static const char *const stmt_sql[Q__COUNT] = {
	[Q_BEGIN] = "BEGIN IMMEDIATE",
	[Q_COMMIT] = "COMMIT",
	[Q_ROLLBACK] = "ROLLBACK",
	/* one event inside a batch: all of it or none of it */
	[Q_SAVEPOINT] = "SAVEPOINT event",
	[Q_RELEASE] = "RELEASE event",
	[Q_ROLLBACK_TO] = "ROLLBACK TO event",
	/* Every event keeps its run row alive; a falsely CRASHED run of this
	 * very process comes back to RUNNING. */
	[Q_RUN_ENSURE] =
		"INSERT INTO runs(id, status, started_at, pid, hostname, heartbeat_at)"
		" VALUES(?1, 'RUNNING', ?2, ?3, ?4, ?2)"
		" ON CONFLICT(id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at,"
		"  status = CASE WHEN runs.status = 'CRASHED' AND runs.pid = excluded.pid"
		"   AND runs.hostname = excluded.hostname THEN 'RUNNING' ELSE runs.status END,"
		"  status_reason = CASE WHEN runs.status = 'CRASHED' AND runs.pid = excluded.pid"
		"   AND runs.hostname = excluded.hostname THEN NULL ELSE runs.status_reason END"
		" WHERE runs.status IN ('RUNNING', 'CRASHED')",
	[Q_RUN_STARTED] =
		"INSERT INTO runs(id, workflow, file, workspace, context_dir, status, started_at, pid, hostname,"
		" heartbeat_at) VALUES(?1, ?2, ?3, ?4, ?5, 'RUNNING', ?6, ?7, ?8, ?6)"
		" ON CONFLICT(id) DO UPDATE SET workflow = excluded.workflow, file = excluded.file,"
		"  workspace = excluded.workspace, context_dir = excluded.context_dir, status = 'RUNNING',"
		"  status_reason = NULL, started_at = excluded.started_at, pid = excluded.pid,"
		"  hostname = excluded.hostname, heartbeat_at = excluded.heartbeat_at",
	[Q_RUN_FINISHED] =
		"UPDATE runs SET status = COALESCE(?2, 'FINISHED'), finished_at = ?3,"
		" duration_s = COALESCE(?4, (?3 - started_at) / 1000.0), exit_code = ?5,"
		" status_reason = ?6, heartbeat_at = ?3 WHERE id = ?1",
	[Q_GROUP_START] =
		"INSERT OR REPLACE INTO process_groups(run_id, pgid, start_ticks, step, started_at)"
		" VALUES(?1, ?2, ?3, ?4, ?5)",
	[Q_GROUP_END] =
		"UPDATE process_groups SET ended_at = ?4 WHERE run_id = ?1 AND pgid = ?2 AND start_ticks = ?3",
	[Q_HEARTBEAT] = "UPDATE runs SET heartbeat_at = ?2 WHERE id = ?1 AND status = 'RUNNING'",
	[Q_STEP_ENSURE] = "INSERT OR IGNORE INTO steps(run_id, step, updated_at) VALUES(?1, ?2, ?3)",
	[Q_STEP_STATE] =
		"UPDATE steps SET status = COALESCE(?3, status), reason = ?4, updated_at = ?5,"
		" started_at = CASE WHEN ?3 = 'RUNNING' THEN COALESCE(started_at, ?5) ELSE started_at END,"
		/* a CASE, not "?3 IN " LIVE_STATUSES: SQLite builds an ephemeral
		 * index for an IN list of more than two constants on every run */
		" finished_at = CASE ?3 WHEN 'PENDING' THEN NULL WHEN 'READY' THEN NULL WHEN 'RUNNING' THEN NULL"
		"  WHEN 'WAITING' THEN NULL WHEN 'RETRYING' THEN NULL ELSE ?5 END"
		" WHERE run_id = ?1 AND step = ?2",
	/* STEP_ENSURE + STEP_STATE in one statement, for a step whose row may not exist yet */
	[Q_STEP_STATE_NEW] =
		"INSERT INTO steps(run_id, step, status, reason, updated_at, started_at, finished_at)"
		" VALUES(?1, ?2, COALESCE(?3, 'PENDING'), ?4, ?5, CASE WHEN ?3 = 'RUNNING' THEN ?5 END,"
		"  CASE ?3 WHEN 'PENDING' THEN NULL WHEN 'READY' THEN NULL WHEN 'RUNNING' THEN NULL"
		"  WHEN 'WAITING' THEN NULL WHEN 'RETRYING' THEN NULL ELSE ?5 END)"
		" ON CONFLICT(run_id, step) DO UPDATE SET status = COALESCE(?3, steps.status), reason = ?4,"
		"  updated_at = ?5,"
		"  started_at = CASE WHEN ?3 = 'RUNNING' THEN COALESCE(steps.started_at, ?5) ELSE steps.started_at END,"
		"  finished_at = excluded.finished_at",
	[Q_STEP_ATTEMPT] =
		"UPDATE steps SET attempts = CASE WHEN ?3 > 0 THEN MAX(attempts, ?3) ELSE attempts + 1 END,"
		" started_at = COALESCE(started_at, ?4) WHERE run_id = ?1 AND step = ?2",
	[Q_STEP_ITER] = "UPDATE steps SET iterations = MAX(iterations, ?3) WHERE run_id = ?1 AND step = ?2",
	[Q_ATTEMPT_START] =
		"INSERT INTO attempts(run_id, step, iteration, attempt, phase, started_at)"
		" VALUES(?1, ?2, ?3, ?4, ?5, ?6)"
		" ON CONFLICT(run_id, step, iteration, attempt, phase) DO UPDATE SET started_at = excluded.started_at",
	[Q_ATTEMPT_FINISH] =
		"INSERT INTO attempts(run_id, step, iteration, attempt, phase, exit_code, signal, timed_out,"
		" signals_sent, reason, duration_s, finished_at, started_at)"
		" VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,"
		"  CAST(?12 - COALESCE(?11, 0) * 1000 AS INTEGER))"
		" ON CONFLICT(run_id, step, iteration, attempt, phase) DO UPDATE SET"
		"  exit_code = excluded.exit_code, signal = excluded.signal, timed_out = excluded.timed_out,"
		"  signals_sent = excluded.signals_sent, reason = excluded.reason,"
		"  duration_s = COALESCE(excluded.duration_s, (excluded.finished_at - attempts.started_at) / 1000.0),"
		"  finished_at = excluded.finished_at",
	[Q_ITER_START] =
		"INSERT INTO iterations(run_id, step, iteration, started_at) VALUES(?1, ?2, ?3, ?4)"
		" ON CONFLICT(run_id, step, iteration) DO UPDATE SET started_at = excluded.started_at",
	[Q_ITER_FINISH] =
		"INSERT INTO iterations(run_id, step, iteration, decision, decision_source, reasons, fingerprints,"
		" finished_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
		" ON CONFLICT(run_id, step, iteration) DO UPDATE SET decision = excluded.decision,"
		"  decision_source = excluded.decision_source, reasons = excluded.reasons,"
		"  fingerprints = excluded.fingerprints, finished_at = excluded.finished_at",
	[Q_VFP_DELETE] = "DELETE FROM verdict_fingerprints WHERE run_id = ?1 AND step = ?2 AND iteration = ?3",
	[Q_VFP_INSERT] =
		"INSERT OR IGNORE INTO verdict_fingerprints(run_id, step, iteration, fingerprint)"
		" VALUES(?1, ?2, ?3, ?4)",
	[Q_WAIT_FIND] =
		"SELECT id, closed_by FROM waits WHERE run_id = ?1 AND step = ?2 AND iteration = ?3"
		" AND attempt = ?4 AND (?5 = '' OR phase = ?5 OR phase = '') AND script = ?6 AND name IS ?7"
		" ORDER BY id DESC LIMIT 1",
	[Q_WAIT_FIND_OPEN] =
		"SELECT id, closed_by FROM waits WHERE run_id = ?1 AND step = ?2 AND iteration = ?3"
		" AND attempt = ?4 AND (?5 = '' OR phase = ?5 OR phase = '') AND script = ?6 AND name IS ?7"
		" AND closed_by = 0 ORDER BY id DESC LIMIT 1",
	[Q_WAIT_INSERT] =
		"INSERT INTO waits(run_id, step, iteration, attempt, phase, target, started_at, script, name)"
		" VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	[Q_WAIT_CLOSE] =
		"UPDATE waits SET phase = CASE WHEN ?2 <> '' THEN ?2 ELSE phase END,"
		" target = COALESCE(?3, target), outcome = COALESCE(?4, outcome),"
		" elapsed_s = COALESCE(?5, elapsed_s), observations = COALESCE(?6, observations),"
		" early_abort = MAX(early_abort, ?7), fingerprints = COALESCE(?8, fingerprints),"
		" rule = COALESCE(?9, rule), message = COALESCE(?10, message),"
		" started_at = COALESCE(started_at, CAST(?11 - COALESCE(?5, 0) * 1000 AS INTEGER)),"
		" finished_at = ?11, closed_by = closed_by | ?12 WHERE id = ?1",
	[Q_WAIT_OBS] = "UPDATE waits SET observations = observations + 1,"
		" target = COALESCE(target, ?2) WHERE id = ?1",
	[Q_OBS_INSERT] =
		"INSERT INTO observations(wait_id, seq, ts, elapsed_s, condition_exit, class, digest, changed,"
		" no_progress, fingerprints, summary, probe_error)"
		" VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
	[Q_NOTIFY_CLAIM] =
		"INSERT INTO notifications(run_id, event, step, iteration, target, claimed_at)"
		" VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
	[Q_NOTIFY_RESULT] =
		"INSERT INTO notifications(run_id, event, step, iteration, target, reason, message, claimed_at,"
		" finished_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)"
		" ON CONFLICT(run_id, event, step, iteration, target) DO UPDATE SET reason = excluded.reason,"
		"  message = excluded.message, finished_at = excluded.finished_at",
	[Q_NOTIFY_SUPPRESSED] =
		"INSERT INTO notifications(run_id, event, step, iteration, target, reason, message, suppressed,"
		" claimed_at, finished_at) VALUES(?1, ?2, ?3, ?4, ?5, 'duplicate_suppressed', ?6, 1, ?7, ?7)"
		" ON CONFLICT(run_id, event, step, iteration, target) DO UPDATE SET"
		"  suppressed = notifications.suppressed + 1",
	[Q_ALERT] =
		"INSERT INTO alerts(run_id, step, iteration, consecutive_failures, threshold, reason, ts)"
		" VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[Q_PREFLIGHT] =
		"INSERT INTO preflight(run_id, name, ok, fingerprint, message, ts) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
	[Q_GIT] =
		"INSERT INTO git_snapshots(run_id, step, iteration, head_before, head_after, branch, files,"
		" files_changed, insertions, deletions, ts) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
		" ON CONFLICT(run_id, step, iteration) DO UPDATE SET head_before = excluded.head_before,"
		"  head_after = excluded.head_after, branch = excluded.branch, files = excluded.files,"
		"  files_changed = excluded.files_changed, insertions = excluded.insertions,"
		"  deletions = excluded.deletions, ts = excluded.ts",
	[Q_CONVERGENCE] =
		"INSERT INTO convergence(run_id, step, iteration, stage, fingerprints, diagnosis, ts)"
		" VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[Q_KILL] =
		"INSERT INTO kills(run_id, step, iteration, attempt, phase, signals_sent, why, ts)"
		" VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[Q_WARNING] =
		"INSERT INTO warnings(run_id, step, iteration, kind, message, ts) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
};

/* A set of step ids (open addressing, FNV-1a); entries are only ever added
 * or all dropped, which is always safe here: a forgotten row is ensured again. */
struct step_set {
	char **slot;
	size_t cap, n;   /* cap: 0 or a power of two, at most half full */
};

static size_t set_pos(const struct step_set *set, const char *id)
{
	uint32_t h = 2166136261u;
	for (const unsigned char *p = (const unsigned char *)id; *p; p++)
		h = (h ^ *p) * 16777619u;
	size_t i = h & (set->cap - 1);
	while (set->slot[i] && strcmp(set->slot[i], id))
		i = (i + 1) & (set->cap - 1);
	return i;
}

static int set_has(const struct step_set *set, const char *id)
{
	return set->cap && set->slot[set_pos(set, id)] != NULL;
}

static void set_add(struct step_set *set, const char *id)
{
	if ((set->n + 1) * 2 > set->cap) {
		struct step_set big = {xcalloc(set->cap ? set->cap * 2 : 64, sizeof(char *)),
				       set->cap ? set->cap * 2 : 64, set->n};
		for (size_t i = 0; i < set->cap; i++)
			if (set->slot[i])
				big.slot[set_pos(&big, set->slot[i])] = set->slot[i];
		free(set->slot);
		*set = big;
	}
	size_t i = set_pos(set, id);
	if (!set->slot[i]) {
		set->slot[i] = xstrdup(id);
		set->n++;
	}
}

static void set_clear(struct step_set *set)
{
	for (size_t i = 0; i < set->cap; i++)
		free(set->slot[i]);
	free(set->slot);
	*set = (struct step_set){0};
}

struct store {
	sqlite3 *db;
	char *path;
	sqlite3_stmt *stmt[Q__COUNT];
	char hostname[256];
	long pid;
	int sink_failures;
	int batching;  /* store_set_batching(): events join one open transaction */
	int in_batch;  /* that transaction is open (BEGIN IMMEDIATE done) */
	char *batch_run;   /* the run whose row the open batch has ensured already */
	/* Step rows of steps_run known to exist: committed (steps_done) or
	 * ensured in the open batch (steps_batch, committed with it); their
	 * events need no STEP_ENSURE, and so often no savepoint. */
	char *steps_run;
	struct step_set steps_done, steps_batch;
	/* The last ensure_run() in a batch: its run, time, and whether it was
	 * committed. A committed one less than RUN_FRESH_MS old need not be
	 * repeated by the next batches (run_row_fresh()). */
	char *ensured_run;
	int64_t ensured_ms;
	int ensured_committed;
	struct wl_err sink_err;
	void (*warn_fn)(void *ctx, const char *msg);
	void *warn_ctx;
	int readonly;               /* store_open_readonly() */
	char *script_wait;          /* store_set_script_wait(): the name of the in-script wait recorded */
	char *tmpdir;               /* its private copy, removed by store_close() */
	struct strvec crashed;      /* runs store_mark_crashed() marked through this handle */
	/* store_set_async(): the writes of a turn are given to the writer
	 * thread at store_flush(); the runner's thread then touches none of
	 * the fields above until store_sync() has waited for them. */
	struct bgwrite *writer;
	struct turn *turn;          /* the writes given since the last store_flush() */
	unsigned long last_ticket;  /* bgwrite ticket of the last turn given */
	int on_writer;              /* set while the writer thread applies a turn */
	int warn_due;               /* the first sink failure was on the writer thread: warn at store_sync() */
};

static int flush_now(struct store *st, struct wl_err *err);
static void writer_wait(struct store *st);

/* ---- errors ------------------------------------------------------------ */

static int db_err(struct store *st, struct wl_err *err, const char *what)
{
	const char *msg = sqlite3_errmsg(st->db);
	if (what)
		return err_set(err, "history database '%s': %s: %s", st->path, what, msg);
	return err_set(err, "history database '%s': %s", st->path, msg);
}

static int exec_sql(struct store *st, const char *sql, struct wl_err *err)
{
	char *msg = NULL;
	if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		err_set(err, "history database '%s': %s", st->path, msg ? msg : sqlite3_errmsg(st->db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/* ---- statements -------------------------------------------------------- */

static sqlite3_stmt *stmt_get(struct store *st, enum stmt_id id, struct wl_err *err)
{
	if (!st->stmt[id] &&
	    sqlite3_prepare_v3(st->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &st->stmt[id], NULL) != SQLITE_OK) {
		db_err(st, err, "cannot prepare statement");
		st->stmt[id] = NULL;
		return NULL;
	}
	return st->stmt[id];
}

/* Bind one cJSON value: number (integer or real), bool, string; arrays and
 * objects as compact JSON text; absent or null as NULL. Strings are bound
 * SQLITE_STATIC, not copied: the only callers (run_stmt(), query_pair())
 * step, reset and clear the statement before the caller's strings can go. */
static int bind_json(sqlite3_stmt *s, int i, const cJSON *v)
{
	if (!v || cJSON_IsNull(v))
		return sqlite3_bind_null(s, i);
	if (cJSON_IsBool(v))
		return sqlite3_bind_int(s, i, cJSON_IsTrue(v));
	if (cJSON_IsNumber(v)) {
		double d = v->valuedouble;
		if (d == (double)(sqlite3_int64)d && d > -9.0e15 && d < 9.0e15)
			return sqlite3_bind_int64(s, i, (sqlite3_int64)d);
		return sqlite3_bind_double(s, i, d);
	}
	if (cJSON_IsString(v))
		return sqlite3_bind_text(s, i, v->valuestring, -1, SQLITE_STATIC);
	struct strbuf sb = STRBUF_INIT;
	int ok = json_print_sb(&sb, v, 0) == 0;
	int rc = sqlite3_bind_text(s, i, ok ? sb.buf : "null", -1, SQLITE_TRANSIENT);
	strbuf_release(&sb);
	return rc;
}

/*
 * Bind parameters by a format: s = const char * (NULL → NULL), i = int,
 * I = int64_t, d = double, J = const cJSON * (bind_json). Strings are not
 * copied (SQLITE_STATIC): valid until the statement is reset and cleared,
 * which run_stmt() and query_pair() do before they return.
 */
static int bind_va(sqlite3_stmt *s, const char *fmt, va_list ap)
{
	int rc = SQLITE_OK;
	for (int i = 1; *fmt && rc == SQLITE_OK; fmt++, i++) {
		switch (*fmt) {
		case 's': {
			const char *v = va_arg(ap, const char *);
			rc = v ? sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(s, i);
			break;
		}
		case 'i':
			rc = sqlite3_bind_int(s, i, va_arg(ap, int));
			break;
		case 'I':
			rc = sqlite3_bind_int64(s, i, (sqlite3_int64)va_arg(ap, int64_t));
			break;
		case 'd':
			rc = sqlite3_bind_double(s, i, va_arg(ap, double));
			break;
		case 'J':
			rc = bind_json(s, i, va_arg(ap, const cJSON *));
			break;
		default:
			rc = SQLITE_MISUSE;
		}
	}
	return rc;
}

/* The cached statement id with fmt's arguments bound; *rc is the bind result. NULL + err on failure. */
static sqlite3_stmt *stmt_bound(struct store *st, enum stmt_id id, struct wl_err *err, int *rc,
				const char *fmt, va_list ap)
{
	sqlite3_stmt *s = stmt_get(st, id, err);
	if (s)
		*rc = bind_va(s, fmt, ap);
	return s;
}

/* Run a cached statement that returns no rows. */
static int run_stmt(struct store *st, enum stmt_id id, struct wl_err *err, const char *fmt, ...)
{
	int rc = SQLITE_OK;
	va_list ap;
	va_start(ap, fmt);
	sqlite3_stmt *s = stmt_bound(st, id, err, &rc, fmt, ap);
	va_end(ap);
	if (!s)
		return -1;
	if (rc == SQLITE_OK) {
		while ((rc = sqlite3_step(s)) == SQLITE_ROW)
			;
	}
	int ret = 0;
	if (rc != SQLITE_DONE)
		ret = db_err(st, err, NULL);
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return ret;
}

/* Run a cached query returning (id INTEGER, n INTEGER) of its first row:
 * 1 = row found, 0 = none, -1 = error. */
static int query_pair(struct store *st, enum stmt_id id, int64_t *a, int64_t *b, struct wl_err *err,
		      const char *fmt, ...)
{
	int rc = SQLITE_OK;
	va_list ap;
	va_start(ap, fmt);
	sqlite3_stmt *s = stmt_bound(st, id, err, &rc, fmt, ap);
	va_end(ap);
	if (!s)
		return -1;
	int ret = -1;
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*a = sqlite3_column_int64(s, 0);
		*b = sqlite3_column_int64(s, 1);
		ret = 1;
	} else if (rc == SQLITE_DONE) {
		ret = 0;
	} else {
		db_err(st, err, NULL);
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return ret;
}

static int tx_begin(struct store *st, struct wl_err *err)
{
	return run_stmt(st, Q_BEGIN, err, "");
}

static int tx_end(struct store *st, int ok, struct wl_err *err)
{
	if (ok == 0 && run_stmt(st, Q_COMMIT, err, "") == 0)
		return 0;
	if (!sqlite3_get_autocommit(st->db)) {
		struct wl_err ignore = WL_ERR_INIT;
		run_stmt(st, Q_ROLLBACK, &ignore, "");
	}
	return -1;
}

/* ---- open / migrate ---------------------------------------------------- */

static int user_version(struct store *st, int *v, struct wl_err *err)
{
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK)
		return db_err(st, err, NULL);
	int rc = sqlite3_step(s);
	*v = rc == SQLITE_ROW ? sqlite3_column_int(s, 0) : 0;
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : db_err(st, err, NULL);
}

static int migrate(struct store *st, struct wl_err *err)
{
	int v;
	if (user_version(st, &v, err) < 0)
		return -1;
	if (v == NMIGRATIONS)
		return 0;
	if (v > NMIGRATIONS)
		return err_set(err, "history database '%s' has schema version %d, newer than this waitloop (%d)",
			       st->path, v, NMIGRATIONS);
	/* Re-read under the write lock: another process may have migrated. */
	if (exec_sql(st, "BEGIN IMMEDIATE", err) < 0)
		return -1;
	if (user_version(st, &v, err) < 0)
		goto fail;
	for (; v < NMIGRATIONS; v++) {
		if (exec_sql(st, migrations[v], err) < 0) {
			err_prefix(err, "migration to schema version %d", v + 1);
			goto fail;
		}
	}
	char sql[64];
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", NMIGRATIONS);
	if (exec_sql(st, sql, err) < 0 || exec_sql(st, "COMMIT", err) < 0)
		goto fail;
	return 0;
fail:
	if (!sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/* A store of path, not open yet: who opens it (pid, host) for the records. */
static struct store *store_alloc(const char *path)
{
	struct store *st = xcalloc(1, sizeof(*st));
	st->path = xstrdup(path);
	st->pid = (long)getpid();
	if (gethostname(st->hostname, sizeof(st->hostname) - 1) < 0)
		strcpy(st->hostname, "localhost");
	return st;
}

struct store *store_open(const char *path, struct wl_err *err)
{
	struct store *st = store_alloc(path);

	char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (fs_mkdir_p(dir, err) < 0) {
			free(dir);
			err_prefix(err, "history database '%s'", path);
			goto fail;
		}
	}
	free(dir);

	int rc = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
				 NULL);
	if (rc != SQLITE_OK) {
		if (st->db)
			db_err(st, err, NULL);
		else
			err_set(err, "history database '%s': %s", path, sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_extended_result_codes(st->db, 0);
	sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);
	/* journal_mode returns a row; exec ignores it. A read-only medium keeps
	 * its mode, and the error surfaces on the first write.
	 * Runners opening a NEW database at the same moment race for the switch
	 * to WAL and the first migration; SQLite reports some of those conflicts
	 * as SQLITE_BUSY at once, without the busy handler, so the setup is
	 * retried for up to BUSY_TIMEOUT_MS. */
	int64_t give_up = time_now_ms() + BUSY_TIMEOUT_MS;
	for (;;) {
		if (exec_sql(st, "PRAGMA journal_mode = WAL", err) == 0 &&
		    exec_sql(st, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;"
				 " PRAGMA journal_size_limit = " WAL_SIZE_LIMIT, err) == 0 &&
		    migrate(st, err) == 0) {
			/* The WAL and its index stay when the last connection closes
			 * (checkpointed): each run would otherwise create both files,
			 * sync the directory for the new WAL and delete both at its end
			 * -- a create and a deletion slow the next creates on the disk
			 * of docs/benchmarks.md, and the syncs cost ~1 ms per run.
			 * With a journal_size_limit the last close also empties the
			 * WAL (truncated to 0 bytes, the file kept), so the next open
			 * has no old frames to read back into the index: a WAL left
			 * full cost every run ~170 reads of 4 KiB before its first
			 * statement. The limit (the size of an auto-checkpoint's WAL)
			 * truncates a WAL a long run grew past it when it restarts. */
			int persist = 1;
			sqlite3_file_control(st->db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
			return st;
		}
		int code = sqlite3_errcode(st->db);
		if ((code != SQLITE_BUSY && code != SQLITE_LOCKED) || time_now_ms() >= give_up)
			goto fail;
		usleep(20000);
	}
fail:
	store_close(st);
	return NULL;
}

/* Copy src to dst when src exists; -1 + err on a failed copy. */
static int copy_if_exists(const char *src, const char *dst, struct wl_err *err)
{
	if (!fs_exists(src))
		return 0;
	struct strbuf sb = STRBUF_INIT;
	int rc = fs_read_file(src, (size_t)1 << 40, &sb, err);
	if (rc == 0)
		rc = fs_write_atomic(dst, sb.buf ? sb.buf : "", sb.len, err);
	strbuf_release(&sb);
	return rc;
}

static int open_ro(struct store *st, const char *file, struct wl_err *err)
{
	int rc = sqlite3_open_v2(file, &st->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	int v = 0;
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);
		if (user_version(st, &v, err) == 0) {
			if (v <= STORE_SCHEMA_VERSION)
				return 0;
			err_set(err, "history database '%s' has schema version %d, newer than this waitloop (%d)",
				st->path, v, STORE_SCHEMA_VERSION);
		}
	} else {
		err_set(err, "history database '%s': %s", st->path, sqlite3_errstr(rc));
	}
	sqlite3_close(st->db);
	st->db = NULL;
	return -1;
}

struct store *store_open_readonly(const char *path, struct wl_err *err)
{
	struct store *st = store_alloc(path);
	st->readonly = 1;
	if (open_ro(st, path, err) == 0)
		return st;
	if (strstr(err->msg, "newer than this waitloop"))
		goto fail;
	/* A WAL database whose -shm cannot be created next to it (a read-only
	 * copy or medium): read a private copy of the file and its WAL, so
	 * what the WAL holds is seen too. */
	const char *tmp = getenv("TMPDIR");
	char *tpl = xasprintf("%s/waitloop-ro.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(tpl)) {
		free(tpl);
		goto fail;
	}
	st->tmpdir = tpl;
	char *db = fs_join(tpl, "history.db"), *wal_src = xasprintf("%s-wal", path);
	char *wal = xasprintf("%s-wal", db);
	struct wl_err cerr = WL_ERR_INIT;
	int ok = copy_if_exists(path, db, &cerr) == 0 && copy_if_exists(wal_src, wal, &cerr) == 0 &&
		 open_ro(st, db, err) == 0;
	free(db);
	free(wal_src);
	free(wal);
	if (ok)
		return st;
fail:
	store_close(st);
	return NULL;
}

int store_err_readonly(const struct wl_err *err)
{
	return strstr(err->msg, "unable to open database file") || strstr(err->msg, "readonly database") ||
	       strstr(err->msg, "Read-only file system") || strstr(err->msg, "Permission denied");
}

int store_is_readonly(const struct store *st)
{
	return st->readonly;
}

char *store_default_path(const char *dir)
{
	const char *env = getenv("WAITLOOP_DB");
	if (env && *env)
		return xstrdup(env);
	return dir ? fs_join(dir, ".waitloop/history.db") : xstrdup(".waitloop/history.db");
}

void store_release_memory(struct store *st)
{
	if (!st)
		return;
	writer_wait(st);
	sqlite3_db_release_memory(st->db);
}

void store_close(struct store *st)
{
	if (!st)
		return;
	store_set_async(st, 0);
	struct wl_err ignore = WL_ERR_INIT;
	flush_now(st, &ignore);   /* a failure was counted by flush_now itself */
	for (int i = 0; i < Q__COUNT; i++)
		sqlite3_finalize(st->stmt[i]);
	set_clear(&st->steps_done);
	set_clear(&st->steps_batch);
	free(st->steps_run);
	free(st->ensured_run);
	sqlite3_close(st->db);
	if (st->tmpdir) {
		const char *names[] = {"history.db", "history.db-wal", "history.db-shm"};
		for (size_t i = 0; i < 3; i++) {
			char *f = fs_join(st->tmpdir, names[i]);
			unlink(f);
			free(f);
		}
		rmdir(st->tmpdir);
		free(st->tmpdir);
	}
	free(st->path);
	free(st->script_wait);
	strvec_clear(&st->crashed);
	free(st);
}

void store_set_script_wait(struct store *st, const char *name)
{
	writer_wait(st);
	free(st->script_wait);
	st->script_wait = name ? xstrdup(name) : NULL;
}

/* ---- the event sink ---------------------------------------------------- */

static const cJSON *field(const struct wl_event *ev, const char *key)
{
	return ev->data ? cJSON_GetObjectItemCaseSensitive(ev->data, key) : NULL;
}

static const char *field_str(const struct wl_event *ev, const char *key)
{
	const cJSON *v = field(ev, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int is_early_abort_outcome(const char *outcome)
{
	enum wait_outcome o;
	return wait_outcome_parse(outcome, &o) == 0 && wait_outcome_is_early_abort(o);
}

/* EV_WAIT_FINISHED, the one wait-end event, closes the latest matching wait
 * it has not closed yet (closed_by = 1). */
static int record_wait_end(struct store *st, const struct wl_event *ev, const char *step, struct wl_err *err)
{
	int bit = 1;
	const char *phase = field_str(ev, "phase");
	const char *outcome = field_str(ev, "outcome");
	if (!outcome)
		outcome = field_str(ev, "reason");
	const cJSON *ea = field(ev, "early_abort");
	int early = ea ? cJSON_IsTrue(ea) : is_early_abort_outcome(outcome);
	int64_t id = 0, closed = 0;
	int found = query_pair(st, Q_WAIT_FIND, &id, &closed, err, "ssIisis", ev->run_id, step,
			       (int64_t)ev->iteration, ev->attempt, phase ? phase : "", st->script_wait != NULL,
			       st->script_wait);
	if (found < 0)
		return -1;
	if (!found || (closed & bit)) {
		if (run_stmt(st, Q_WAIT_INSERT, err, "ssIisJsis", ev->run_id, step, (int64_t)ev->iteration,
			     ev->attempt, phase ? phase : "", field(ev, "target"), NULL, st->script_wait != NULL,
			     st->script_wait) < 0)
			return -1;
		id = sqlite3_last_insert_rowid(st->db);
	}
	return run_stmt(st, Q_WAIT_CLOSE, err, "IsJsJJiJJJIi", id, phase ? phase : "", field(ev, "target"), outcome,
			field(ev, "elapsed_s"), field(ev, "observations"), early, field(ev, "fingerprints"),
			field(ev, "rule"), field(ev, "message"), ev->ts_ms, bit);
}

static int record_observation(struct store *st, const struct wl_event *ev, const char *step, struct wl_err *err)
{
	const char *phase = field_str(ev, "phase");
	int64_t id = 0, closed = 0;
	int found = query_pair(st, Q_WAIT_FIND_OPEN, &id, &closed, err, "ssIisis", ev->run_id, step,
			       (int64_t)ev->iteration, ev->attempt, phase ? phase : "", st->script_wait != NULL,
			       st->script_wait);
	if (found < 0)
		return -1;
	if (!found) {
		const cJSON *el = field(ev, "elapsed_s");
		int64_t start = ev->ts_ms - (cJSON_IsNumber(el) ? (int64_t)(el->valuedouble * 1000) : 0);
		if (run_stmt(st, Q_WAIT_INSERT, err, "ssIisJIis", ev->run_id, step, (int64_t)ev->iteration,
			     ev->attempt, phase ? phase : "", field(ev, "target"), start, st->script_wait != NULL,
			     st->script_wait) < 0)
			return -1;
		id = sqlite3_last_insert_rowid(st->db);
	}
	if (run_stmt(st, Q_WAIT_OBS, err, "IJ", id, field(ev, "target")) < 0)
		return -1;
	/* the class comes typed (ev->obs_class) and is spelled here, at the SQL boundary */
	const char *cls = ev->obs_class != CLASS_UNSET ? class_name(ev->obs_class) : NULL;
	return run_stmt(st, Q_OBS_INSERT, err, "IJIJJsJJJJJJ", id, field(ev, "seq"), ev->ts_ms,
			field(ev, "elapsed_s"), field(ev, "condition_exit"),
			cls, field(ev, "digest"), field(ev, "changed"), field(ev, "no_progress"),
			field(ev, "fingerprints"), field(ev, "summary"), field(ev, "probe_error"));
}

static int notify_record(struct store *st, const char *run_id, const char *event, const char *step, int iteration,
			 const char *target, const char *reason, const char *message, int64_t ts, struct wl_err *err)
{
	if (reason && !strcmp(reason, "duplicate_suppressed"))
		return run_stmt(st, Q_NOTIFY_SUPPRESSED, err, "sssisJI", run_id, event, step ? step : "", iteration,
				target, NULL, ts);
	return run_stmt(st, Q_NOTIFY_RESULT, err, "sssisssI", run_id, event, step ? step : "", iteration, target,
			reason, message, ts);
}

/* The run's row exists, is alive (heartbeat_at) and, when this very
 * process had been marked CRASHED by mistake, RUNNING again (RUN_ENSURE).
 * A RUNNING row, the usual case, only needs its heartbeat: a cheaper
 * update of one unindexed column, with the same result. */
static int ensure_run(struct store *st, const char *run_id, int64_t ts, struct wl_err *err)
{
	if (run_stmt(st, Q_HEARTBEAT, err, "sI", run_id, ts) < 0)
		return -1;
	if (sqlite3_changes(st->db) == 0 &&
	    run_stmt(st, Q_RUN_ENSURE, err, "sIIs", run_id, ts, (int64_t)st->pid, st->hostname) < 0)
		return -1;
	if (st->in_batch) {
		if (!st->ensured_run || strcmp(st->ensured_run, run_id)) {
			free(st->ensured_run);
			st->ensured_run = xstrdup(run_id);
		}
		st->ensured_ms = ts;
		st->ensured_committed = 0;   /* until store_flush() commits it */
	}
	return 0;
}

/*
 * In a batch, does run_id's row need no ensure_run() for an event at ts?
 * Not when the open batch ensured it already, nor when a committed batch did
 * less than RUN_FRESH_MS before: the row exists (rows are never deleted
 * while their run lives), its heartbeat is that fresh, and nobody marks a
 * run CRASHED whose heartbeat is younger than STORE_STALE_MS and whose
 * runner is alive, so it is RUNNING. (ts 0, "now", is never fresh: the
 * decision must be the same each time it is asked.)
 */
#define RUN_FRESH_MS 1000
static int run_row_fresh(const struct store *st, const char *run_id, int64_t ts)
{
	if (!st->in_batch)
		return 0;
	if (st->batch_run && !strcmp(st->batch_run, run_id))
		return 1;
	return st->ensured_committed && st->ensured_run && !strcmp(st->ensured_run, run_id) && ts &&
	       ts >= st->ensured_ms && ts - st->ensured_ms < RUN_FRESH_MS;
}

/* In a batch: is ev's step row known to exist (so not ensured again)? */
static int step_row_known(const struct store *st, const struct wl_event *ev)
{
	return st->in_batch && ev->step && st->steps_run && !strcmp(st->steps_run, ev->run_id) &&
	       (set_has(&st->steps_batch, ev->step) || set_has(&st->steps_done, ev->step));
}

static int record_event(struct store *st, const struct wl_event *ev, struct wl_err *err)
{
	const char *step = ev->step ? ev->step : "";
	const int64_t it = ev->iteration;
	const int64_t ts = ev->ts_ms ? ev->ts_ms : time_wall_ms();

	if (ev->type == EV_RUN_STARTED) {
		const cJSON *pid = field(ev, "pid");
		return run_stmt(st, Q_RUN_STARTED, err, "sJJJJIIs", ev->run_id, field(ev, "workflow"),
				field(ev, "file"), field(ev, "workspace"), field(ev, "context_dir"), ts,
				(int64_t)(cJSON_IsNumber(pid) ? (int64_t)pid->valuedouble : st->pid), st->hostname);
	}
	/* In a batch, the run's row (and the last step's) need ensuring once:
	 * the heartbeat then carries the batch's first event, a round earlier. */
	int run_known = run_row_fresh(st, ev->run_id, ev->ts_ms);
	int step_known = step_row_known(st, ev);
	if (!run_known && ensure_run(st, ev->run_id, ts, err) < 0)
		return -1;
	if (ev->type == EV_STEP_STATE && ev->step && !step_known)   /* ensures the row itself */
		return run_stmt(st, Q_STEP_STATE_NEW, err, "ssJJI", ev->run_id, step,
				field(ev, "status"), field(ev, "reason"), ts);
	if (ev->step && !step_known && run_stmt(st, Q_STEP_ENSURE, err, "ssI", ev->run_id, step, ts) < 0)
		return -1;

	switch (ev->type) {
	case EV_RUN_STARTED:
	case EV__COUNT:
		return 0;
	case EV_PREFLIGHT:
		return run_stmt(st, Q_PREFLIGHT, err, "sJJJJI", ev->run_id, field(ev, "name"), field(ev, "ok"),
				field(ev, "fingerprint"), field(ev, "message"), ts);
	case EV_STEP_STATE:
		if (!ev->step)
			return 0;
		return run_stmt(st, Q_STEP_STATE, err, "ssJJI", ev->run_id, step,
				field(ev, "status"), field(ev, "reason"), ts);
	case EV_ATTEMPT_STARTED: {
		const char *phase = field_str(ev, "phase");
		if (!phase)
			phase = "step";
		if (strcmp(phase, "completion_check") &&
		    run_stmt(st, Q_STEP_ATTEMPT, err, "ssiI", ev->run_id, step, ev->attempt, ts) < 0)
			return -1;
		return run_stmt(st, Q_ATTEMPT_START, err, "ssIisI", ev->run_id, step, it, ev->attempt, phase, ts);
	}
	case EV_ATTEMPT_FINISHED: {
		const char *phase = field_str(ev, "phase");
		return run_stmt(st, Q_ATTEMPT_FINISH, err, "ssIisJJJJJJI", ev->run_id, step, it, ev->attempt,
				phase ? phase : "step", field(ev, "exit_code"), field(ev, "signal"),
				field(ev, "timed_out"), field(ev, "signals_sent"), field(ev, "reason"),
				field(ev, "duration_s"), ts);
	}
	case EV_ITERATION_STARTED:
		if (run_stmt(st, Q_STEP_ITER, err, "ssI", ev->run_id, step, it) < 0)
			return -1;
		return run_stmt(st, Q_ITER_START, err, "ssII", ev->run_id, step, it, ts);
	case EV_ITERATION_FINISHED: {
		const cJSON *src = field(ev, "source");
		if (!src)
			src = field(ev, "decision_source");
		const cJSON *fps = field(ev, "fingerprints");
		if (run_stmt(st, Q_STEP_ITER, err, "ssI", ev->run_id, step, it) < 0 ||
		    run_stmt(st, Q_ITER_FINISH, err, "ssIJJJJI", ev->run_id, step, it, field(ev, "decision"), src,
			     field(ev, "reasons"), fps, ts) < 0 ||
		    run_stmt(st, Q_VFP_DELETE, err, "ssI", ev->run_id, step, it) < 0)
			return -1;
		const cJSON *fp, *fplist = cJSON_IsArray(fps) ? fps : NULL;
		cJSON_ArrayForEach(fp, fplist) {
			if (cJSON_IsString(fp) &&
			    run_stmt(st, Q_VFP_INSERT, err, "ssIs", ev->run_id, step, it, fp->valuestring) < 0)
				return -1;
		}
		return 0;
	}
	case EV_OBSERVATION:
		return record_observation(st, ev, step, err);
	case EV_WAIT_FINISHED:
		return record_wait_end(st, ev, step, err);
	case EV_EARLY_ABORT:   /* old events.jsonl files: its wait_finished carries early_abort */
		return 0;
	case EV_KILL:
		return run_stmt(st, Q_KILL, err, "ssIiJJJI", ev->run_id, step, it, ev->attempt, field(ev, "phase"),
				field(ev, "signals_sent"), field(ev, "why"), ts);
	case EV_ALERT:
		return run_stmt(st, Q_ALERT, err, "ssIJJJI", ev->run_id, step, it, field(ev, "consecutive_failures"),
				field(ev, "threshold"), field(ev, "reason"), ts);
	case EV_NOTIFY: {
		const char *target = field_str(ev, "target");
		const char *event = field_str(ev, "event");
		if (!target || !event)
			return 0;
		return notify_record(st, ev->run_id, event, ev->step, ev->iteration, target,
				     field_str(ev, "reason"), field_str(ev, "message"), ts, err);
	}
	case EV_GIT_CHANGES: {
		const cJSON *files = field(ev, "files");
		int64_t n = 0, ins = 0, del = 0;
		const cJSON *f, *flist = cJSON_IsArray(files) ? files : NULL;
		cJSON_ArrayForEach(f, flist) {
			const cJSON *a = cJSON_GetObjectItemCaseSensitive(f, "insertions");
			const cJSON *d = cJSON_GetObjectItemCaseSensitive(f, "deletions");
			n++;
			ins += cJSON_IsNumber(a) ? (int64_t)a->valuedouble : 0;
			del += cJSON_IsNumber(d) ? (int64_t)d->valuedouble : 0;
		}
		return run_stmt(st, Q_GIT, err, "ssIJJJJIIII", ev->run_id, step, it, field(ev, "head_before"),
				field(ev, "head_after"), field(ev, "branch"), files, n, ins, del, ts);
	}
	case EV_CONVERGENCE:
		return run_stmt(st, Q_CONVERGENCE, err, "ssIJJJI", ev->run_id, step, it, field(ev, "stage"),
				field(ev, "fingerprints"), field(ev, "diagnosis"), ts);
	case EV_WARNING:
		return run_stmt(st, Q_WARNING, err, "ssIJJI", ev->run_id, step, it, field(ev, "kind"),
				field(ev, "message"), ts);
	case EV_RUN_FINISHED:
		return run_stmt(st, Q_RUN_FINISHED, err, "sJIJJJ", ev->run_id,
				field(ev, "status"), ts, field(ev, "duration_s"),
				field(ev, "exit_code"), field(ev, "reason"));
	}
	return 0;
}

static void sink_failed(struct store *st, const struct wl_event *ev, struct wl_err *err)
{
	if (st->sink_failures++ == 0) {
		if (ev)
			err_prefix(err, "cannot record event '%s'", event_type_name(ev->type));
		st->sink_err = *err;
		if (st->on_writer)
			st->warn_due = 1;   /* the runner's thread warns (store_sync) */
		else if (st->warn_fn)
			st->warn_fn(st->warn_ctx, st->sink_err.msg);
	}
}

/* Does recording ev in the open batch take one statement at most? Then
 * SQLite's own statement rollback keeps a failed event whole, and it needs
 * no savepoint (two statements less per event). Mirrors record_event(). */
static int single_statement(const struct store *st, const struct wl_event *ev)
{
	if (ev->type == EV_RUN_STARTED)
		return 1;
	if (!run_row_fresh(st, ev->run_id, ev->ts_ms))
		return 0;   /* the run's row is ensured first */
	if (ev->step && !step_row_known(st, ev) && ev->type != EV_STEP_STATE)
		return 0;   /* and the step's (step_state does it in its one statement) */
	switch (ev->type) {
	case EV_STEP_STATE:
	case EV_ATTEMPT_FINISHED:
	case EV_PREFLIGHT:
	case EV_KILL:
	case EV_ALERT:
	case EV_NOTIFY:
	case EV_GIT_CHANGES:
	case EV_CONVERGENCE:
	case EV_WARNING:
	case EV_RUN_FINISHED:
	case EV_EARLY_ABORT:
		return 1;
	case EV_ATTEMPT_STARTED: {
		const char *phase = field_str(ev, "phase");
		return phase && !strcmp(phase, "completion_check");
	}
	default:
		return 0;
	}
}

/* ev was recorded: its step's row exists (in the open batch: set =
 * steps_batch; committed: steps_done). */
static void note_step_row(struct store *st, const struct wl_event *ev, struct step_set *set)
{
	if (!ev->step || ev->type == EV_RUN_STARTED)
		return;
	if (!st->steps_run || strcmp(st->steps_run, ev->run_id)) {
		set_clear(&st->steps_done);
		set_clear(&st->steps_batch);
		free(st->steps_run);
		st->steps_run = xstrdup(ev->run_id);
	}
	if (!set_has(&st->steps_done, ev->step))
		set_add(set, ev->step);
}

/* One event in the open batch, inside a savepoint when it takes several
 * statements: an event that cannot be recorded leaves no half of itself, and
 * the others of the batch stay. */
static int record_in_batch(struct store *st, const struct wl_event *ev, struct wl_err *err)
{
	if (!st->in_batch) {
		if (tx_begin(st, err) < 0)
			return -1;
		st->in_batch = 1;
	}
	int savepoint = !single_statement(st, ev);
	if (savepoint && run_stmt(st, Q_SAVEPOINT, err, "") < 0)
		return -1;
	if (record_event(st, ev, err) == 0 && (!savepoint || run_stmt(st, Q_RELEASE, err, "") == 0)) {
		if (!st->batch_run || strcmp(st->batch_run, ev->run_id)) {
			free(st->batch_run);
			st->batch_run = xstrdup(ev->run_id);
		}
		note_step_row(st, ev, &st->steps_batch);
		return 0;
	}
	struct wl_err ignore = WL_ERR_INIT;
	if (savepoint) {
		run_stmt(st, Q_ROLLBACK_TO, &ignore, "");
		run_stmt(st, Q_RELEASE, &ignore, "");
	}
	return -1;
}

static void sink_now(struct store *st, const struct wl_event *ev)
{
	struct wl_err err = WL_ERR_INIT;
	int rc;
	if (st->batching) {
		rc = record_in_batch(st, ev, &err);
	} else {
		rc = tx_begin(st, &err);
		if (rc == 0)
			rc = tx_end(st, record_event(st, ev, &err), &err);
		if (rc == 0)
			note_step_row(st, ev, &st->steps_done);
	}
	if (rc < 0)
		sink_failed(st, ev, &err);
}

static int flush_now(struct store *st, struct wl_err *err)
{
	if (!st->in_batch)
		return 0;
	st->in_batch = 0;
	free(st->batch_run);
	st->batch_run = NULL;
	struct step_set ensured = st->steps_batch;
	st->steps_batch = (struct step_set){0};
	if (tx_end(st, 0, err) == 0) {
		st->ensured_committed = st->ensured_run != NULL;
		for (size_t i = 0; i < ensured.cap; i++)
			if (ensured.slot[i])
				set_add(&st->steps_done, ensured.slot[i]);
		set_clear(&ensured);
		return 0;
	}
	set_clear(&ensured);   /* rolled back: ensured again when next needed */
	st->ensured_committed = 0;
	struct wl_err copy = *err;
	err_prefix(&copy, "cannot record the last events");
	sink_failed(st, NULL, &copy);
	return -1;
}

/* Batching: open the turn's transaction for a write outside the event sink
 * (process groups), so it shares the turn's commit instead of being a
 * transaction of its own. */
static int batch_join(struct store *st, struct wl_err *err)
{
	if (!st->batching || st->in_batch)
		return 0;
	if (tx_begin(st, err) < 0)
		return -1;
	st->in_batch = 1;
	return 0;
}

static int groups_started_now(struct store *st, const char *run_id, const struct store_group *g, size_t n,
			      int64_t now, struct wl_err *err)
{
	if (batch_join(st, err) < 0)
		return -1;
	if (!run_row_fresh(st, run_id, now) && ensure_run(st, run_id, now, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (run_stmt(st, Q_GROUP_START, err, "sIIsI", run_id, (int64_t)g[i].pgid, (int64_t)g[i].start_ticks,
			     g[i].step, now) < 0)
			return -1;
	/* Committed now, with the turn so far, not at the end of the turn: a
	 * runner SIGKILLed later in this turn must leave the groups on record
	 * for the watchdog (else its setsid escapees and group members would
	 * be found by environment only). The reaper records the groups of a
	 * scheduling pass together at its end (reaper.c on_settled), before
	 * the runner waits for anything. */
	return flush_now(st, err);
}

static int group_ended_now(struct store *st, const char *run_id, long pgid, long long start_ticks, int64_t now,
			   struct wl_err *err)
{
	/* In the turn's transaction: a group left open by a crash is checked
	 * by its start time before anyone stops it (reaper.h). */
	if (batch_join(st, err) < 0)
		return -1;
	return run_stmt(st, Q_GROUP_END, err, "sIII", run_id, (int64_t)pgid, (int64_t)start_ticks, now);
}

/* ---- the writer thread (store_set_async) --------------------------------- */

/* One write of a turn, copied on the runner's thread when given and applied,
 * in the order given, on the writer thread (apply_turn). */
enum op_kind { OP_EVENT, OP_GROUPS_STARTED, OP_GROUP_ENDED, OP_HEARTBEAT };
struct op {
	enum op_kind kind;
	struct wl_event ev;          /* OP_EVENT: the event (its data owned); else run_id and ts_ms */
	char *run_id, *step;         /* ev's, owned */
	struct store_group *groups;  /* OP_GROUPS_STARTED: n, OP_GROUP_ENDED: 1 */
	char **group_step;           /* their steps, owned */
	size_t n;
};

struct turn {
	struct store *st;
	struct op *op;
	size_t n, alloc;
};

static struct op *turn_add(struct store *st, enum op_kind kind, const char *run_id, int64_t ts)
{
	if (!st->turn) {
		st->turn = xcalloc(1, sizeof(*st->turn));
		st->turn->st = st;
	}
	struct turn *t = st->turn;
	XGROW(t->op, t->n + 1, t->alloc);
	struct op *o = &t->op[t->n++];
	*o = (struct op){.kind = kind, .run_id = xstrdup(run_id)};
	o->ev.run_id = o->run_id;
	o->ev.ts_ms = ts;
	return o;
}

static void add_groups(struct op *o, const struct store_group *g, size_t n)
{
	o->groups = xcalloc(n, sizeof(*g));
	o->group_step = xcalloc(n, sizeof(char *));
	o->n = n;
	for (size_t i = 0; i < n; i++) {
		o->group_step[i] = g[i].step ? xstrdup(g[i].step) : NULL;
		o->groups[i] = (struct store_group){g[i].pgid, g[i].start_ticks, o->group_step[i]};
	}
}

/* As the runner's thread would have done it (its callers ignore a failure
 * of the groups and the heartbeat too: a failed commit is counted). */
static void op_apply(struct store *st, const struct op *o)
{
	struct wl_err ignore = WL_ERR_INIT;
	switch (o->kind) {
	case OP_EVENT:
		sink_now(st, &o->ev);
		break;
	case OP_GROUPS_STARTED:
		groups_started_now(st, o->ev.run_id, o->groups, o->n, o->ev.ts_ms, &ignore);
		break;
	case OP_GROUP_ENDED:
		group_ended_now(st, o->ev.run_id, o->groups[0].pgid, o->groups[0].start_ticks, o->ev.ts_ms, &ignore);
		break;
	case OP_HEARTBEAT:
		run_stmt(st, Q_HEARTBEAT, &ignore, "sI", o->ev.run_id, o->ev.ts_ms);
		break;
	}
}

static void op_free(struct op *o)
{
	free(o->run_id);
	free(o->step);
	cJSON_Delete(o->ev.data);
	for (size_t i = 0; i < o->n; i++)
		free(o->group_step[i]);
	free(o->group_step);
	free(o->groups);
}

/* On the writer thread: a turn's writes, then its commit. */
static void apply_turn(void *arg)
{
	struct turn *t = arg;
	struct store *st = t->st;
	st->on_writer = 1;
	for (size_t i = 0; i < t->n; i++) {
		op_apply(st, &t->op[i]);
		op_free(&t->op[i]);
	}
	struct wl_err err = WL_ERR_INIT;
	flush_now(st, &err);   /* a failure is counted there */
	st->on_writer = 0;
	free(t->op);
	free(t);
}

/* Give the turn so far to the writer thread. */
static void hand_over(struct store *st)
{
	if (!st->turn)
		return;
	st->last_ticket = bgwrite_call(st->writer, apply_turn, st->turn);
	st->turn = NULL;
}

/* Before the caller's thread uses the connection or reads what the writer
 * thread writes: every turn given to it done, a failure there reported. */
static void writer_wait(struct store *st)
{
	if (!st || !st->writer)
		return;
	hand_over(st);
	bgwrite_wait(st->writer, st->last_ticket);
	if (st->warn_due) {
		st->warn_due = 0;
		if (st->warn_fn)
			st->warn_fn(st->warn_ctx, st->sink_err.msg);
	}
}

void store_sync(struct store *st)
{
	struct wl_err ignore = WL_ERR_INIT;
	if (st && st->writer)
		writer_wait(st);
	else if (st)
		flush_now(st, &ignore);   /* a failure is counted there */
}

/* Before a transaction of the caller's own: the writer's work done, the
 * open batch committed. */
static int settle(struct store *st, struct wl_err *err)
{
	writer_wait(st);
	return flush_now(st, err);
}

void store_set_async(struct store *st, int on)
{
	writer_wait(st);
	if (on && !st->writer) {
		st->writer = bgwrite_new();   /* NULL (no thread): the writes stay on the runner's thread */
	} else if (!on && st->writer) {
		bgwrite_free(st->writer);
		st->writer = NULL;
	}
}

/* ---- the public writes ---------------------------------------------------- */

void store_sink(void *store, const struct wl_event *ev)
{
	struct store *st = store;
	if (!st || !ev || !ev->run_id)
		return;
	if (!st->writer) {
		sink_now(st, ev);
		return;
	}
	struct op *o = turn_add(st, OP_EVENT, ev->run_id, ev->ts_ms);
	o->step = ev->step ? xstrdup(ev->step) : NULL;
	o->ev = *ev;
	o->ev.run_id = o->run_id;
	o->ev.step = o->step;
	o->ev.data = ev->data ? cJSON_Duplicate(ev->data, 1) : NULL;
}

void store_set_batching(struct store *st, int on)
{
	struct wl_err ignore = WL_ERR_INIT;
	if (!on)
		settle(st, &ignore);
	st->batching = on;
}

int store_flush(struct store *st, struct wl_err *err)
{
	if (!st)
		return 0;
	if (st->writer) {
		hand_over(st);   /* its failure is reported by store_sync() */
		return 0;
	}
	return flush_now(st, err);
}

void store_set_warn(struct store *st, void (*fn)(void *ctx, const char *msg), void *ctx)
{
	writer_wait(st);
	st->warn_fn = fn;
	st->warn_ctx = ctx;
}

int store_sink_failures(struct store *st)
{
	writer_wait(st);
	return st->sink_failures;
}

const char *store_sink_error(struct store *st)
{
	writer_wait(st);
	return st->sink_err.msg;
}

/* ---- heartbeat, crashes, notifications ---------------------------------- */

int store_heartbeat(struct store *st, const char *run_id, struct wl_err *err)
{
	if (st->writer) {
		turn_add(st, OP_HEARTBEAT, run_id, time_wall_ms());
		return 0;
	}
	return run_stmt(st, Q_HEARTBEAT, err, "sI", run_id, time_wall_ms());
}

int store_groups_started(struct store *st, const char *run_id, const struct store_group *g, size_t n,
			 struct wl_err *err)
{
	int64_t now = time_wall_ms();
	if (!st->writer)
		return groups_started_now(st, run_id, g, n, now, err);
	add_groups(turn_add(st, OP_GROUPS_STARTED, run_id, now), g, n);
	return store_flush(st, err);
}

int store_group_ended(struct store *st, const char *run_id, long pgid, long long start_ticks,
		      struct wl_err *err)
{
	int64_t now = time_wall_ms();
	if (!st->writer)
		return group_ended_now(st, run_id, pgid, start_ticks, now, err);
	struct store_group g = {pgid, start_ticks, NULL};
	add_groups(turn_add(st, OP_GROUP_ENDED, run_id, now), &g, 1);
	return 0;
}

int store_orphan_groups(struct store *st, store_group_fn fn, void *arg, struct wl_err *err)
{
	writer_wait(st);   /* the writer thread's work first (store_set_async) */
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db,
			       "SELECT g.run_id, g.pgid, g.start_ticks FROM process_groups g JOIN runs r"
			       " ON r.id = g.run_id WHERE g.ended_at IS NULL AND r.status <> 'RUNNING'"
			       " ORDER BY g.run_id",
			       -1, &s, NULL) != SQLITE_OK)
		return db_err(st, err, NULL);
	struct strvec ids = STRVEC_INIT;
	struct { long pgid; long long ticks; } *rows = NULL;
	size_t n = 0, alloc = 0;
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		XGROW(rows, n + 1, alloc);
		strvec_push(&ids, (const char *)sqlite3_column_text(s, 0));
		rows[n].pgid = (long)sqlite3_column_int64(s, 1);
		rows[n].ticks = (long long)sqlite3_column_int64(s, 2);
		n++;
	}
	int ret = rc == SQLITE_DONE ? 0 : db_err(st, err, NULL);
	sqlite3_finalize(s);
	/* called after the statement is done: fn may write (store_group_ended) */
	for (size_t i = 0; ret == 0 && i < n; i++)
		if (fn(arg, ids.v[i], rows[i].pgid, rows[i].ticks) == 0 &&
		    group_ended_now(st, ids.v[i], rows[i].pgid, rows[i].ticks, time_wall_ms(), err) < 0)
			ret = -1;
	strvec_clear(&ids);
	free(rows);
	return ret;
}

const char *const *store_crashed_runs(const struct store *st, size_t *n)
{
	*n = st->crashed.n;
	return (const char *const *)st->crashed.v;
}

int store_mark_crashed(struct store *st, struct wl_err *err)
{
	writer_wait(st);   /* the writer thread's work first (store_set_async) */
	const int64_t stale_ms = STORE_STALE_MS;
	int marked = 0;
	int64_t now = time_wall_ms();
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db,
			       "SELECT id, pid, hostname, COALESCE(heartbeat_at, started_at, 0) FROM runs"
			       " WHERE status = 'RUNNING'",
			       -1, &s, NULL) != SQLITE_OK)
		return db_err(st, err, NULL);
	struct strvec ids = STRVEC_INIT, why = STRVEC_INIT;
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		long pid = (long)sqlite3_column_int64(s, 1);
		const char *host = (const char *)sqlite3_column_text(s, 2);
		int64_t hb = sqlite3_column_int64(s, 3);
		int same_host = host && !strcmp(host, st->hostname);
		if (same_host && pid == st->pid)
			continue;
		char reason[160];
		if (same_host && pid > 0 && kill((pid_t)pid, 0) < 0 && errno == ESRCH) {
			snprintf(reason, sizeof(reason), "runner pid %ld is gone", pid);
		} else if (now - hb > stale_ms) {
			char when[40];
			time_format_rfc3339(hb, when, sizeof(when));
			snprintf(reason, sizeof(reason), "no heartbeat since %s", when);
		} else {
			continue;
		}
		strvec_push(&ids, (const char *)sqlite3_column_text(s, 0));
		strvec_push(&why, reason);
	}
	if (rc != SQLITE_DONE)
		db_err(st, err, NULL);
	sqlite3_finalize(s);
	int ret = rc == SQLITE_DONE ? 0 : -1;
	if (ids.n && settle(st, err) < 0)
		ret = -1;   /* its own transactions below: none may be open */
	for (size_t i = 0; ret == 0 && i < ids.n; i++) {
		if (exec_sql(st, "BEGIN IMMEDIATE", err) < 0) {
			ret = -1;
			break;
		}
		sqlite3_stmt *u = NULL, *v = NULL;
		int ok = sqlite3_prepare_v2(st->db,
					    "UPDATE runs SET status = 'CRASHED', status_reason = ?2,"
					    " finished_at = COALESCE(heartbeat_at, started_at),"
					    " duration_s = (COALESCE(heartbeat_at, started_at) - started_at) / 1000.0"
					    " WHERE id = ?1 AND status = 'RUNNING'",
					    -1, &u, NULL) == SQLITE_OK &&
			 sqlite3_prepare_v2(st->db,
					    "UPDATE steps SET status = 'CRASHED', reason = ?2, finished_at = ?3"
					    " WHERE run_id = ?1 AND status = 'RUNNING'",
					    -1, &v, NULL) == SQLITE_OK;
		if (ok) {
			sqlite3_bind_text(u, 1, ids.v[i], -1, SQLITE_STATIC);
			sqlite3_bind_text(u, 2, why.v[i], -1, SQLITE_STATIC);
			ok = sqlite3_step(u) == SQLITE_DONE;
			int changed = sqlite3_changes(st->db);
			sqlite3_bind_text(v, 1, ids.v[i], -1, SQLITE_STATIC);
			sqlite3_bind_text(v, 2, why.v[i], -1, SQLITE_STATIC);
			sqlite3_bind_int64(v, 3, now);
			ok = ok && sqlite3_step(v) == SQLITE_DONE;
			if (ok && changed) {
				marked++;
				strvec_push(&st->crashed, ids.v[i]);
			}
		}
		if (!ok)
			db_err(st, err, "cannot mark crashed runs");
		sqlite3_finalize(u);
		sqlite3_finalize(v);
		if (exec_sql(st, ok ? "COMMIT" : "ROLLBACK", ok ? err : NULL) < 0 || !ok)
			ret = -1;
	}
	strvec_clear(&ids);
	strvec_clear(&why);
	return ret < 0 ? -1 : marked;
}

int store_notification_claim(struct store *st, const char *run_id, const char *event, const char *step,
			     int iteration, const char *target, struct wl_err *err)
{
	int64_t ts = time_wall_ms();
	struct wl_err ignore = WL_ERR_INIT;
	settle(st, &ignore);   /* its own transaction; a failure is counted there */
	if (tx_begin(st, err) < 0)
		return -1;
	int rc = run_stmt(st, Q_RUN_ENSURE, err, "sIIs", run_id, ts, (int64_t)st->pid, st->hostname);
	if (rc == 0)
		rc = run_stmt(st, Q_NOTIFY_CLAIM, err, "sssisI", run_id, event, step ? step : "", iteration, target, ts);
	int first = sqlite3_changes(st->db) > 0;
	if (tx_end(st, rc, err) < 0)
		return -1;
	return first;
}

int store_notification_result(struct store *st, const char *run_id, const char *event, const char *step,
			      int iteration, const char *target, const char *reason, const char *message,
			      struct wl_err *err)
{
	int64_t ts = time_wall_ms();
	struct wl_err ignore = WL_ERR_INIT;
	settle(st, &ignore);   /* its own transaction; a failure is counted there */
	if (tx_begin(st, err) < 0)
		return -1;
	int rc = run_stmt(st, Q_RUN_ENSURE, err, "sIIs", run_id, ts, (int64_t)st->pid, st->hostname);
	if (rc == 0)
		rc = notify_record(st, run_id, event, step, iteration, target, reason, message, ts, err);
	return tx_end(st, rc, err);
}

/* ---- queries ------------------------------------------------------------ */

static int name_in(const char *name, const char *const *list)
{
	for (int i = 0; list[i]; i++)
		if (!strcmp(name, list[i]))
			return 1;
	return 0;
}

static int is_time_column(const char *name)
{
	size_t n = strlen(name);
	return !strcmp(name, "ts") || (n > 3 && !strcmp(name + n - 3, "_at"));
}

enum col_kind { COL_PLAIN, COL_TIME, COL_BOOL, COL_JSON };

static enum col_kind column_kind(const char *name)
{
	static const char *const json_cols[] = {"reasons", "fingerprints", "signals_sent", "files", NULL};
	static const char *const bool_cols[] = {"timed_out", "early_abort", "changed", "ok", "script", NULL};
	if (name_in(name, json_cols))
		return COL_JSON;
	if (name_in(name, bool_cols))
		return COL_BOOL;
	return is_time_column(name) ? COL_TIME : COL_PLAIN;
}

/* One result row as a JSON object: times as RFC 3339, JSON columns parsed,
 * flags as booleans, NULL as null. kinds[i] = column_kind() of column i. */
static cJSON *row_to_json(sqlite3_stmt *s, const enum col_kind *kinds)
{
	cJSON *o = cJSON_CreateObject();
	int n = sqlite3_column_count(s);
	for (int i = 0; i < n; i++) {
		const char *name = sqlite3_column_name(s, i);
		int type = sqlite3_column_type(s, i);
		cJSON *v;
		if (type == SQLITE_NULL) {
			v = cJSON_CreateNull();
		} else if (kinds[i] == COL_TIME && type == SQLITE_INTEGER) {
			char buf[40];
			time_format_rfc3339(sqlite3_column_int64(s, i), buf, sizeof(buf));
			v = cJSON_CreateString(buf);
		} else if (kinds[i] == COL_BOOL && type == SQLITE_INTEGER) {
			v = cJSON_CreateBool(sqlite3_column_int64(s, i) != 0);
		} else if (type == SQLITE_INTEGER) {
			v = cJSON_CreateNumber((double)sqlite3_column_int64(s, i));
		} else if (type == SQLITE_FLOAT) {
			v = cJSON_CreateNumber(sqlite3_column_double(s, i));
		} else {
			const char *txt = (const char *)sqlite3_column_text(s, i);
			v = kinds[i] == COL_JSON ? cJSON_Parse(txt) : NULL;
			if (!v)
				v = cJSON_CreateString(txt ? txt : "");
		}
		cJSON_AddItemToObject(o, name, v);
	}
	return o;
}

/* Run an ad-hoc query (text parameters) and collect its rows. */
static cJSON *query_rows(struct store *st, const char *sql, struct wl_err *err, int nparams, ...)
{
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
		db_err(st, err, NULL);
		return NULL;
	}
	va_list ap;
	va_start(ap, nparams);
	for (int i = 1; i <= nparams; i++) {
		const char *p = va_arg(ap, const char *);
		sqlite3_bind_text(s, i, p, -1, SQLITE_TRANSIENT);
	}
	va_end(ap);
	int ncols = sqlite3_column_count(s);
	enum col_kind *kinds = xcalloc((size_t)ncols + 1, sizeof(*kinds));
	for (int i = 0; i < ncols; i++)
		kinds[i] = column_kind(sqlite3_column_name(s, i));
	cJSON *arr = cJSON_CreateArray();
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		cJSON_AddItemToArray(arr, row_to_json(s, kinds));
	free(kinds);
	if (rc != SQLITE_DONE) {
		db_err(st, err, NULL);
		cJSON_Delete(arr);
		arr = NULL;
	}
	sqlite3_finalize(s);
	return arr;
}

int store_list_runs(struct store *st, int limit, cJSON **out, struct wl_err *err)
{
	writer_wait(st);   /* the writer thread's work first (store_set_async) */
	struct store_run_filter f = STORE_RUN_FILTER_INIT;
	f.limit = limit;
	return store_list_runs_where(st, &f, out, err);
}

int store_list_runs_where(struct store *st, const struct store_run_filter *f, cJSON **out, struct wl_err *err)
{
	writer_wait(st);   /* the writer thread's work first (store_set_async) */
	char sql[1400], since[32];
	snprintf(since, sizeof(since), "%lld", (long long)f->since_ms);
	snprintf(sql, sizeof(sql),
		 "SELECT r.id, r.workflow, r.file, r.workspace, r.status, r.status_reason,"
		 " r.started_at, r.finished_at,"
		 " CASE WHEN r.status = 'RUNNING' THEN (%lld - r.started_at) / 1000.0 ELSE r.duration_s END"
		 "  AS duration_s, r.exit_code,"
		 " (SELECT count(*) FROM steps s WHERE s.run_id = r.id) AS steps,"
		 " (SELECT COALESCE(sum(s.iterations), 0) FROM steps s WHERE s.run_id = r.id) AS iterations,"
		 " (SELECT count(*) FROM waits w WHERE w.run_id = r.id AND w.early_abort = 1) AS early_aborts"
		 " FROM runs r"
		 " WHERE (?1 IS NULL OR instr(',' || upper(replace(?1, ' ', '')) || ',', ',' || r.status || ',') > 0)"
		 " AND (?2 IS NULL OR r.workflow GLOB ?2)"
		 " AND (?3 IS NULL OR r.started_at >= CAST(?3 AS INTEGER))"
		 " ORDER BY r.started_at DESC, r.rowid DESC LIMIT %d",
		 (long long)time_wall_ms(), f->limit > 0 ? f->limit : -1);
	*out = query_rows(st, sql, err, 3, f->status && *f->status ? f->status : NULL,
			  f->workflow && *f->workflow ? f->workflow : NULL, f->since_ms > 0 ? since : NULL);
	return *out ? 0 : -1;
}

/* Move rows of src whose key equals parent's key into parent[name] (array),
 * dropping the keys named in drop (NULL-terminated) from each moved row. */
static void attach(cJSON *parent, const char *name, cJSON *src, const char *const *keys,
		   const char *const *parent_keys)
{
	cJSON *dst = cJSON_AddArrayToObject(parent, name);
	cJSON *row = src ? src->child : NULL;
	while (row) {
		cJSON *next = row->next;
		int match = 1;
		for (int i = 0; keys[i] && match; i++) {
			const cJSON *a = cJSON_GetObjectItemCaseSensitive(row, keys[i]);
			const cJSON *b = cJSON_GetObjectItemCaseSensitive(parent, parent_keys[i]);
			if (!a || !b)
				match = 0;
			else if (cJSON_IsString(a) && cJSON_IsString(b))
				match = !strcmp(a->valuestring, b->valuestring);
			else if (cJSON_IsNumber(a) && cJSON_IsNumber(b))
				match = a->valuedouble == b->valuedouble;
			else
				match = 0;
		}
		if (match) {
			cJSON_AddItemToArray(dst, cJSON_DetachItemViaPointer(src, row));
		}
		row = next;
	}
}

static void drop_keys(cJSON *arr, const char *const *keys)
{
	cJSON *row;
	cJSON_ArrayForEach(row, arr) {
		for (int i = 0; keys[i]; i++)
			cJSON_DeleteItemFromObjectCaseSensitive(row, keys[i]);
	}
}

/* Resolve an id or unique prefix to the full id (caller frees). */
static char *resolve_run(struct store *st, const char *id, struct wl_err *err)
{
	cJSON *rows = query_rows(st,
				 "SELECT id FROM runs WHERE id = ?1 UNION ALL"
				 " SELECT id FROM runs WHERE substr(id, 1, length(?1)) = ?1 AND id <> ?1"
				 " AND NOT EXISTS (SELECT 1 FROM runs WHERE id = ?1)"
				 " ORDER BY 1 LIMIT 11",
				 err, 1, id);
	if (!rows)
		return NULL;
	int n = cJSON_GetArraySize(rows);
	char *ret = NULL;
	if (n == 0 || !*id) {
		err_set(err, "no run '%s' in history database '%s'", id, st->path);
	} else if (n == 1) {
		ret = xstrdup(json_get_string(cJSON_GetArrayItem(rows, 0), "id"));
	} else {
		struct strbuf sb = STRBUF_INIT;
		const cJSON *r;
		int i = 0;
		cJSON_ArrayForEach(r, rows) {
			if (i++ == 10) {
				strbuf_addstr(&sb, ", ...");
				break;
			}
			strbuf_addf(&sb, "%s%s", i > 1 ? ", " : "", json_get_string(r, "id"));
		}
		err_set(err, "run id prefix '%s' is ambiguous: %s", id, strbuf_str(&sb));
		strbuf_release(&sb);
	}
	cJSON_Delete(rows);
	return ret;
}

int store_get_run(struct store *st, const char *id_or_prefix, cJSON **out, struct wl_err *err)
{
	writer_wait(st);   /* the writer thread's work first (store_set_async) */
	*out = NULL;
	char *id = resolve_run(st, id_or_prefix, err);
	if (!id)
		return -1;
	cJSON *run = NULL, *steps = NULL, *attempts = NULL, *iters = NULL, *waits = NULL, *obs = NULL,
	      *git = NULL, *conv = NULL, *kills = NULL, *alerts = NULL, *pre = NULL, *notes = NULL,
	      *warns = NULL;
	int ret = -1;
	static const char *const run_key[] = {"run_id", NULL};
	static const char *const step_keys[] = {"run_id", "step", NULL};
	static const char *const step_parent[] = {"run_id", "step", NULL};
	static const char *const iter_keys[] = {"step", "iteration", NULL};
	static const char *const wait_key[] = {"wait_id", NULL};
	static const char *const id_key[] = {"id", NULL};

	if (!(run = query_rows(st, "SELECT * FROM runs WHERE id = ?1", err, 1, id)) ||
	    !(steps = query_rows(st,
				 "SELECT run_id, step, status, reason, attempts AS attempt_count,"
				 " iterations AS iteration_count, started_at, finished_at, updated_at"
				 " FROM steps WHERE run_id = ?1"
				 " ORDER BY COALESCE(started_at, updated_at), rowid",
				 err, 1, id)) ||
	    !(attempts = query_rows(st, "SELECT * FROM attempts WHERE run_id = ?1 ORDER BY started_at, id", err, 1, id)) ||
	    !(iters = query_rows(st, "SELECT * FROM iterations WHERE run_id = ?1 ORDER BY step, iteration", err, 1, id)) ||
	    !(waits = query_rows(st, "SELECT id, run_id, step, iteration, attempt, phase, target, outcome, elapsed_s,"
			       " observations AS observation_count, early_abort, fingerprints, rule, message,"
			       " started_at, finished_at, script, name FROM waits WHERE run_id = ?1 ORDER BY id",
			       err, 1, id)) ||
	    !(obs = query_rows(st,
			       "SELECT o.* FROM observations o JOIN waits w ON o.wait_id = w.id"
			       " WHERE w.run_id = ?1 ORDER BY o.wait_id, o.seq, o.id",
			       err, 1, id)) ||
	    !(git = query_rows(st, "SELECT * FROM git_snapshots WHERE run_id = ?1 ORDER BY step, iteration", err, 1, id)) ||
	    !(conv = query_rows(st, "SELECT * FROM convergence WHERE run_id = ?1 ORDER BY id", err, 1, id)) ||
	    !(kills = query_rows(st, "SELECT * FROM kills WHERE run_id = ?1 ORDER BY id", err, 1, id)) ||
	    !(alerts = query_rows(st, "SELECT * FROM alerts WHERE run_id = ?1 ORDER BY id", err, 1, id)) ||
	    !(warns = query_rows(st, "SELECT * FROM warnings WHERE run_id = ?1 ORDER BY id", err, 1, id)) ||
	    !(pre = query_rows(st, "SELECT * FROM preflight WHERE run_id = ?1 ORDER BY id", err, 1, id)) ||
	    !(notes = query_rows(st, "SELECT * FROM notifications WHERE run_id = ?1 ORDER BY id", err, 1, id)))
		goto out;

	*out = cJSON_DetachItemFromArray(run, 0);
	if (!*out) {
		err_set(err, "no run '%s' in history database '%s'", id_or_prefix, st->path);
		goto out;
	}
	/* Observations under their wait, git under its iteration. */
	cJSON *w;
	cJSON_ArrayForEach(w, waits) {
		attach(w, "observations", obs, wait_key, id_key);
		drop_keys(cJSON_GetObjectItemCaseSensitive(w, "observations"), wait_key);
	}
	cJSON *it;
	cJSON_ArrayForEach(it, iters) {
		attach(it, "git", git, iter_keys, iter_keys);
		cJSON *g = cJSON_GetObjectItemCaseSensitive(it, "git");
		cJSON *one = cJSON_DetachItemFromArray(g, 0);
		cJSON_ReplaceItemInObjectCaseSensitive(it, "git", one ? one : cJSON_CreateNull());
		if (one) {
			cJSON_DeleteItemFromObjectCaseSensitive(one, "run_id");
			cJSON_DeleteItemFromObjectCaseSensitive(one, "step");
			cJSON_DeleteItemFromObjectCaseSensitive(one, "iteration");
		}
	}
	static const char *const drop_run_step[] = {"run_id", "step", NULL};
	cJSON *s;
	cJSON_ArrayForEach(s, steps) {
		attach(s, "attempts", attempts, step_keys, step_parent);
		attach(s, "iterations", iters, step_keys, step_parent);
		attach(s, "waits", waits, step_keys, step_parent);
		attach(s, "git", git, step_keys, step_parent);
		attach(s, "convergence", conv, step_keys, step_parent);
		attach(s, "kills", kills, step_keys, step_parent);
		attach(s, "alerts", alerts, step_keys, step_parent);
		attach(s, "warnings", warns, step_keys, step_parent);
		static const char *const lists[] = {"attempts", "iterations", "waits",
						    "git", "convergence", "kills", "alerts", "warnings", NULL};
		for (int i = 0; lists[i]; i++)
			drop_keys(cJSON_GetObjectItemCaseSensitive(s, lists[i]), drop_run_step);
		cJSON_DeleteItemFromObjectCaseSensitive(s, "run_id");
	}
	cJSON_AddItemToObject(*out, "steps", steps);
	steps = NULL;
	drop_keys(pre, run_key);
	drop_keys(notes, run_key);
	drop_keys(alerts, run_key);
	cJSON_AddItemToObject(*out, "preflight", pre);
	cJSON_AddItemToObject(*out, "notifications", notes);
	cJSON_AddItemToObject(*out, "alerts", alerts); /* run-level alerts (no step) */
	pre = notes = alerts = NULL;
	ret = 0;
out:
	cJSON_Delete(run);
	cJSON_Delete(steps);
	cJSON_Delete(attempts);
	cJSON_Delete(iters);
	cJSON_Delete(waits);
	cJSON_Delete(obs);
	cJSON_Delete(git);
	cJSON_Delete(conv);
	cJSON_Delete(kills);
	cJSON_Delete(alerts);
	cJSON_Delete(warns);
	cJSON_Delete(pre);
	cJSON_Delete(notes);
	free(id);
	return ret;
}

int64_t store_query_int(struct store *st, const char *sql, struct wl_err *err)
{
	writer_wait(st);   /* the writer thread's work first (store_set_async) */
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
		return db_err(st, err, NULL);
	int64_t v = -1;
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	else if (rc == SQLITE_DONE)
		err_set(err, "history database '%s': query returned no row", st->path);
	else
		db_err(st, err, NULL);
	sqlite3_finalize(s);
	return v;
}

int store_integrity_check(struct store *st, struct wl_err *err)
{
	writer_wait(st);   /* the writer thread's work first (store_set_async) */
	cJSON *rows = query_rows(st, "PRAGMA integrity_check", err, 0);
	if (!rows)
		return -1;
	const char *first = json_get_string(cJSON_GetArrayItem(rows, 0), "integrity_check");
	int ret = 0;
	if (!first || strcmp(first, "ok")) {
		char *txt = json_compact(rows);
		ret = err_set(err, "history database '%s': integrity check failed: %.900s", st->path, txt);
		free(txt);
	}
	cJSON_Delete(rows);
	return ret;
}
