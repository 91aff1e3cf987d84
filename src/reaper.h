/*
 * reaper: no process of a run outlives it (SPEC §8), even when the runner
 * is SIGKILLed. Three parts (docs/execution.md "No orphans"):
 *
 *   1. While a run lives, the runner is a child subreaper: a process that
 *      leaves its step's group (`setsid cmd &`, a daemon) and loses its
 *      parent comes back to the runner instead of init. It may keep running
 *      while the run lives (a step may start a service later steps use);
 *      exited ones are reaped whenever a child finishes; at the end of the
 *      run every one left gets SIGTERM (+SIGCONT), one second, SIGKILL.
 *   2. Every spawned group is recorded in history (pgid + start time,
 *      field 22 of /proc/PID/stat) and closed when it ends; children have
 *      PR_SET_PDEATHSIG (proc.h).
 *   3. The watchdog (reaper_stop_orphans(), run by the next `run` or
 *      `history` on the database after it marks CRASHED runs): every group
 *      still open of a run whose runner is gone is killed (SIGKILL) if its
 *      leader still has the recorded start time, or its members that started
 *      no earlier than it when the leader is gone (a pgid cannot be reused
 *      while members hold it); processes whose environment names the dead
 *      run are killed too. A reused pid is never touched.
 *
 *   struct reaper *rp = reaper_start(store, run_id);   -- before spawning
 *   ... run ...
 *   reaper_finish(rp);      -- stops every remaining escapee, frees rp
 *   int n = reaper_stop_orphans(store, &err);          -- watchdog
 *
 * Ownership: the reaper borrows store (may be NULL: nothing recorded) and
 * copies run_id.
 */
#ifndef WAITLOOP_REAPER_H
#define WAITLOOP_REAPER_H
#include "error.h"

struct store;
struct reaper;

struct reaper *reaper_start(struct store *st, const char *run_id);
void reaper_finish(struct reaper *rp);
/* Processes killed (>= 0), or -1 + err on a database error. */
int reaper_stop_orphans(struct store *st, struct wl_err *err);
/* Start time of pid in clock ticks since boot (/proc/PID/stat field 22),
 * with its process group; -1 when there is no such process. */
long long reaper_start_ticks(long pid, long *pgrp);

#endif
