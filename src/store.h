/*
 * store: the run history database (SQLite, SPEC §8). The only module that
 * includes sqlite3.h. Tables and columns are documented in docs/history.md.
 *
 * Calling sequence in the runner:
 *
 *   struct wl_err err = WL_ERR_INIT;
 *   struct store *st = store_open(db_path, &err);      -- NULL + err on failure
 *   store_mark_crashed(st, &err);                      -- older runs whose runner died
 *   store_set_warn(st, warn_fn, ctx);                  -- optional: first sink failure
 *   bus_subscribe(&bus, store_sink, st);               -- every event is recorded
 *   store_set_batching(st, 1); store_set_async(st, 1); -- one commit per turn, on a thread
 *   ... at the end of each turn: store_flush(st, &err); before a wait: store_sync(st);
 *   ... every ~30 s: store_heartbeat(st, run_id, &err);
 *   store_close(st);
 *
 * Durability: by default every event is one short BEGIN IMMEDIATE ... COMMIT
 * transaction (WAL, synchronous=NORMAL). With store_set_batching(st, 1) the
 * events join one open transaction (an event of several statements in a
 * savepoint) until store_flush(): the runner flushes before every wait of its loop (an idle
 * hook, evloop_on_idle; async: store_sync()), so a runner killed with SIGKILL leaves a consistent
 * database holding everything up to the end of its last complete round, and
 * the write lock is never held while the runner waits. Several processes may
 * write one database at once (busy_timeout 5 s).
 *
 * Times in the database are integers, milliseconds since the Unix epoch
 * (UTC); the query functions below return them as RFC 3339 strings.
 *
 * Ownership: the store owns its connection and statements; store_close()
 * frees everything. cJSON results are owned by the caller (cJSON_Delete).
 * Events passed to store_sink() are borrowed.
 */
#ifndef WAITLOOP_STORE_H
#define WAITLOOP_STORE_H
#include <cjson/cJSON.h>
#include <stdint.h>

#include "error.h"
#include "events.h"

struct store;

/* Schema version this build writes (PRAGMA user_version). */
#define STORE_SCHEMA_VERSION 5
/* A RUNNING run whose heartbeat is older than this is CRASHED. */
#define STORE_STALE_MS (2 * 60 * 1000)

/*
 * Open (creating the file and its parent directories) and migrate the
 * database at path. Errors: "history database 'x': <sqlite message>", or
 * "... has schema version N, newer than this waitloop (M)".
 */
struct store *store_open(const char *path, struct wl_err *err);
/* For reading only (history, show) when store_open() cannot write: a
 * read-only file or medium, a WAL copy without its -shm (opened immutable).
 * Nothing is migrated or marked; writes fail. */
struct store *store_open_readonly(const char *path, struct wl_err *err);
int store_is_readonly(const struct store *st);
/* Did store_open() fail because the database cannot be written (read-only
 * file, medium or directory) rather than because it is broken? */
int store_err_readonly(const struct wl_err *err);
/* Database path for commands without --db: $WAITLOOP_DB when set and
 * non-empty, else "<dir>/.waitloop/history.db" (dir NULL = "."). Caller frees. */
char *store_default_path(const char *dir);
void store_close(struct store *st);
/* Give the page cache's unused pages back to the heap (the run is over, its
 * summary is built next: it reuses them instead of growing the peak RSS). */
void store_release_memory(struct store *st);

/*
 * Event sink (events.h): records ev in one transaction. Never fails from the
 * bus's point of view; a failure is kept (store_sink_error()) and reported
 * once through the warn callback. Absent data fields are stored as NULL.
 */
void store_sink(void *store, const struct wl_event *ev);
/* Batch the sink's events into one transaction until store_flush() (on = 1);
 * off flushes first. store_close(), store_mark_crashed() and
 * store_notification_claim() flush too (a notification is sent only after
 * its event is committed). */
void store_set_batching(struct store *st, int on);
/* The waits this store records are the in-script wait `name` (`waitloop
 * wait` run by a step's or check's script under a run): rows with script = 1
 * and that name, apart from the runner's own waits of the same step. */
void store_set_script_wait(struct store *st, const char *name);
/* Commit the open batch, if any; -1 + err (and counted as a sink failure,
 * reported through the warn callback) if the commit fails. Async (below):
 * give the turn's writes and their commit to the writer thread, 0. */
int store_flush(struct store *st, struct wl_err *err);
/*
 * Async (on = 1, the runner): the sink's events, the process groups and the
 * heartbeat are copied and kept until store_flush(), which gives them to a
 * writer thread of the store's own (bgwrite.h) that records and commits
 * them there, in the order given, while the runner goes on; the runner's
 * CPU is the one the kernel gives a chain's next step, so the history's
 * statements and commit no longer delay it (docs/benchmarks.md).
 * store_sync() waits for every turn given, and reports a failure there
 * through the warn callback; every other function of this API syncs
 * first, so the handle stays one connection used by one thread at a
 * time. Without a thread (pthread_create failed) everything stays
 * synchronous. on = 0 syncs and ends the thread; store_close() does too.
 */
void store_set_async(struct store *st, int on);
/* Every write given so far committed (or its failure reported). Not
 * async: store_flush(). */
void store_sync(struct store *st);
/*
 * Process groups of a run (for reaper.h): recorded when spawned (several at
 * once: n of them), closed when they ended. Batching, both join the turn's
 * transaction, and started groups commit it at once (store_flush(); async:
 * the commit is given to the writer thread at once): a runner killed
 * later in the turn leaves them on record. store_orphan_groups() calls fn for every group still open of a
 * run that is no longer RUNNING (CRASHED: its runner is gone); when fn
 * returns 0 the group is closed. run_id is borrowed for the call.
 */
typedef int (*store_group_fn)(void *arg, const char *run_id, long pgid, long long start_ticks);
struct store_group {
	long pgid;
	long long start_ticks;
	const char *step;   /* NULL: none */
};
int store_groups_started(struct store *st, const char *run_id, const struct store_group *g, size_t n,
			 struct wl_err *err);
int store_group_ended(struct store *st, const char *run_id, long pgid, long long start_ticks,
		      struct wl_err *err);
/* The runs store_mark_crashed() has marked CRASHED through this handle
 * (their processes are looked for by environment: reaper.h). */
const char *const *store_crashed_runs(const struct store *st, size_t *n);
int store_orphan_groups(struct store *st, store_group_fn fn, void *arg, struct wl_err *err);
/* Called once, on the first failed sink write, with the message. */
void store_set_warn(struct store *st, void (*fn)(void *ctx, const char *msg), void *ctx);
/* Number of failed sink writes and the first failure's message ("" if none). */
int store_sink_failures(struct store *st);
const char *store_sink_error(struct store *st);

/* Mark run_id alive now (runs.heartbeat_at). */
int store_heartbeat(struct store *st, const char *run_id, struct wl_err *err);

/*
 * Runs still RUNNING whose runner is gone become CRASHED: the pid is dead on
 * this host, or the heartbeat is older than STORE_STALE_MS. Runs of the
 * calling process are never touched. Their RUNNING steps become CRASHED too.
 * Returns the number of runs marked, or -1 (err set).
 */
int store_mark_crashed(struct store *st, struct wl_err *err);

/*
 * Notifications, at most once per (run, event, step, iteration, target);
 * step NULL and iteration 0 for run-level events.
 * claim: 1 = first claim (go and deliver), 0 = already claimed (the caller
 * reports duplicate_suppressed; the row's suppressed counter is bumped),
 * -1 = error (err set).
 * result: record the delivery reason (delivered, target_missing, ...) and
 * message of a claimed notification.
 */
int store_notification_claim(struct store *st, const char *run_id, const char *event, const char *step,
			     int iteration, const char *target, struct wl_err *err);
int store_notification_result(struct store *st, const char *run_id, const char *event, const char *step,
			      int iteration, const char *target, const char *reason, const char *message,
			      struct wl_err *err);

/*
 * Queries for `history` and `show`.
 * list: newest first, at most limit runs (limit <= 0: all). *out is a JSON
 * array of {id, workflow, file, workspace, status, status_reason,
 * started_at, finished_at, duration_s, exit_code, steps, iterations,
 * early_aborts}; duration_s of a RUNNING run is the time so far.
 */
int store_list_runs(struct store *st, int limit, cJSON **out, struct wl_err *err);
/*
 * The same, filtered (`history --status --workflow --since`): status is a
 * comma-separated list of statuses (any case), workflow a name or glob
 * (GLOB, case-sensitive), since_ms the earliest start (ms since the epoch);
 * NULL / 0 = no filter. limit as above, applied after filtering.
 */
struct store_run_filter {
	const char *status;
	const char *workflow;
	int64_t since_ms;
	int limit;
};
#define STORE_RUN_FILTER_INIT {NULL, NULL, 0, 20}
int store_list_runs_where(struct store *st, const struct store_run_filter *f, cJSON **out, struct wl_err *err);
/*
 * One run by full id or unique prefix. *out is an object: the run's columns
 * plus steps[] (each with attempts[], iterations[] (with fingerprints and
 * git), waits[] (with observations[]), convergence[], kills[], alerts[]),
 * preflight[], notifications[], alerts[]. Errors: "no run 'x' in history
 * database 'db'", "run id prefix 'x' is ambiguous: a, b, c".
 */
int store_get_run(struct store *st, const char *id_or_prefix, cJSON **out, struct wl_err *err);

/* Raw access for tests and tools: run one SQL query returning a single
 * integer (e.g. "SELECT count(*) FROM waits"); -1 + err on failure. */
int64_t store_query_int(struct store *st, const char *sql, struct wl_err *err);
/* PRAGMA integrity_check == "ok" → 0; otherwise -1 with the report in err. */
int store_integrity_check(struct store *st, struct wl_err *err);

#endif
