/*
 * proc: the only module that forks (STYLE.md §7, SPEC §10).
 *
 * Every child runs in its own process group, with stdin from /dev/null (or
 * a given buffer), every other descriptor close-on-exec, stdout and stderr
 * captured through pipes into files and memory. Exec failures (command not
 * found, permission denied) reach the parent through the memory the child
 * shares with it until its exec (spawn.c: no pipe) and are reported as
 * such, never as a mysterious exit 127.
 *
 * Calling sequence:
 *   1. struct proc_spec spec = PROC_SPEC_INIT; fill argv, env, cwd, paths, callbacks;
 *   2. struct proc *p = proc_start(loop, &spec, &err);  -- NULL + err (capture file,
 *      pipe or clone failure): nothing started, on_exit will not be called;
 *   3. the loop runs; on_output is called as data arrives; proc_stop(p) may be
 *      called at any time to stop the group with escalation;
 *   4. on_exit(arg, &result) is called exactly once, after the main process
 *      has been reaped AND its pipes reached EOF (or the linger expired and
 *      the group was stopped). After on_exit returns, p is freed: do not use it.
 *      on_exit and on_output are only ever called from the loop, never from
 *      inside proc_start() or proc_stop(); on_exit may start new procs.
 *
 * The child: started by spawn.c with clone(CLONE_VM) (the runner's page
 * tables are not copied; the runner waits for the exec except inside a
 * batch: proc_batch_begin() below), own
 * process group (set by both sides before proc_start returns), default
 * dispositions for every signal and an empty signal mask, stdin /dev/null or
 * a pipe fed from stdin_data (non-blocking, through the loop; EPIPE if the
 * child stops reading is not an error), stdout/stderr pipes, every other
 * descriptor close-on-exec, cwd changed. argv[0] without '/' is searched in
 * the PATH of spec.env when given (FS_DEFAULT_PATH if it has none: fs_find_command),
 * else the runner's, and remembered per (name, PATH) like a shell's hash (a
 * remembered file that is gone is searched again); a file without #! is run
 * by /bin/sh, as execvp does. stdin /dev/null is one descriptor opened at
 * the first spawn and kept for the process (close-on-exec).
 * exec_error forms: "command not found: 'foo'" (ENOENT), "permission denied:
 * './x'" (EACCES), "cannot change directory to 'dir': <strerror>" (cwd),
 * "cannot execute 'x': <strerror>"; exit_code is then 127 for ENOENT, else 126.
 *
 * Output: every chunk is appended to the capture file (opened O_APPEND,
 * created 0644 at the stream's first byte: a stream that stays silent leaves
 * no file; stdout_path == stderr_path shares one descriptor, so the file
 * interleaves like a terminal), kept in the head/tail buffers, passed to
 * on_output and stamps last_output_ms. Memory stays within capture_out, a
 * few times capture_tail and one 64 KiB chunk, whatever the volume. A write error on
 * a capture file is not fatal (the rest of the capture continues); a file
 * that cannot be created, or a write that fails (full disk), is named in
 * result.capture_error: that output is lost. A capture file's directory
 * that is missing is a start error ("cannot open 'dir/f': ...").
 *
 * Stopping (proc_stop, timeout, linger): SIGINT to the group, then SIGTERM
 * after grace, then SIGKILL after grace (SIGCONT is sent with SIGTERM so a
 * stopped group can act on it). result.signals_sent records what was needed.
 * When the main process exits on its own and group members remain (a
 * background grandchild), the pipes are drained for linger_ms and then the
 * remaining group is stopped the same way: a child can never hang the runner,
 * and no process of a run outlives it. If the pipes are closed but members
 * remain, the group is stopped at once (no linger) — unless spec.keep_detached:
 * then they are left running (result.detached) for the caller to stop. Zombie members waiting
 * for init count as gone. After SIGKILL, on_exit follows within about one
 * second even if something cannot die (uninterruptible sleep); a main
 * process not reaped by then (exited == signaled == 0) is reaped later.
 * A process that leaves the group with setsid() escapes it (if it holds the
 * pipes, the linger bounds the wait); main itself is signalled by pid if it
 * joins another group. The timeout does not apply once main has exited (the
 * linger does).
 *
 * Ownership: spec strings are copied by proc_start; result pointers are valid
 * only during on_exit.
 */
#ifndef WAITLOOP_PROC_H
#define WAITLOOP_PROC_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

struct evloop;
struct proc;
struct redactor;

enum proc_stream { PROC_STDOUT = 1, PROC_STDERR = 2 };

/* Bits of proc_result.signals_sent. */
#define PROC_SENT_SIGINT 1
#define PROC_SENT_SIGTERM 2
#define PROC_SENT_SIGKILL 4

struct proc_result {
	int exited;              /* main process exited normally ... */
	int exit_code;           /* ... with this code */
	int signaled;            /* main process died from a signal ... */
	int signo;               /* ... this one */
	int exec_failed;         /* could not exec argv[0]; exit_code is 127 (not found) or 126 */
	int exec_errno;
	char exec_error[256];    /* "command not found: 'kubectl'" etc. */
	char capture_error[256]; /* "" or why output was lost: a capture file not created or a write failed */
	int timed_out;           /* spec.timeout_ms expired before main exited; the group was stopped */
	int stopped;             /* proc_stop() was called */
	int lingered;            /* group members outlived main and were stopped (after the linger) */
	int detached;            /* keep_detached: members outlived main with the pipes closed; left running */
	unsigned signals_sent;   /* PROC_SENT_*: signals actually delivered to someone */
	const char *out;         /* captured stdout head (spec.capture_out bytes max) */
	size_t out_len;
	int out_truncated;       /* more stdout than capture_out */
	const char *tail;        /* last spec.capture_tail bytes of stdout+stderr interleaved */
	size_t tail_len;
	int64_t start_ms;        /* monotonic */
	int64_t end_ms;          /* when on_exit is called (after any linger) */
	int64_t last_output_ms;  /* monotonic time of the last byte on stdout/stderr (start_ms if none) */
};

typedef void (*proc_output_fn)(void *arg, enum proc_stream stream, const char *data, size_t len);
typedef void (*proc_exit_fn)(void *arg, const struct proc_result *res);

struct proc_spec {
	char *const *argv;           /* argv[0] looked up in PATH of env (or of the runner) */
	char *const *env;            /* complete environment; NULL = inherit the runner's */
	const char *cwd;             /* NULL = runner's cwd */
	const char *stdout_path;     /* append captured stdout here (created 0644); NULL = no file */
	const char *stderr_path;     /* same for stderr; may equal stdout_path */
	const char *stdin_data;      /* NULL = /dev/null; else written then closed */
	size_t stdin_len;
	size_t capture_out;          /* keep the first N bytes of stdout in memory (probes) */
	size_t capture_tail;         /* keep the last N bytes of stdout+stderr in memory */
	const struct redactor *tail_redactor; /* non-NULL: the tail is kept redacted (redact.h streams,
					       * one per stream, so no cut reveals a secret); the
					       * capture files and on_output stay raw */
	int64_t timeout_ms;          /* 0 = none; from start */
	int64_t grace_ms;            /* escalation step; 0 = default 5000 */
	int64_t linger_ms;           /* drain after main exit; 0 = default 1000 */
	int keep_detached;           /* members left once main exited AND the pipes closed are
				      * not stopped: on_exit follows at once (result.detached);
				      * the caller stops them later (a subreaper: reaper.h) */
	proc_output_fn on_output;    /* may be NULL */
	proc_exit_fn on_exit;        /* required */
	void *arg;
};
#define PROC_SPEC_INIT {0}

struct proc *proc_start(struct evloop *l, const struct proc_spec *spec, struct wl_err *err);
/* Stop the whole group with escalation (idempotent; result.stopped = 1).
 * on_exit still follows, from the loop. */
void proc_stop(struct proc *p);
pid_t proc_pid(const struct proc *p);

/* Stop every live child group of this process at once (SIGKILL), for the
 * runner's last-resort exit paths. Safe to call from normal code only (not
 * a signal handler). Reaps nothing: if the loops keep running, each proc's
 * on_exit follows as usual within about a second. */
void proc_kill_all(void);

/* Starting several children in a row (the runner's scheduling pass):
 * between proc_batch_begin() and proc_batch_end() proc_start() does not
 * wait for its child's exec (spawn.h), so a hundred ready steps start as
 * fast as the runner can clone them; proc_batch_end() then calls the
 * watcher's settled() (below) and waits for the exec of a batch's only
 * child, so a chain's next step gets the runner's CPU at once. Outside a
 * batch every proc_start() waits for the exec. Batches nest (the
 * outermost decides). */
void proc_batch_begin(void);
void proc_batch_end(void);

/*
 * Watching spawns (reaper.h): spawned() right after a child is forked (pgid
 * is its pid and group; env is spec.env, NULL = the runner's own;
 * start_ticks its start time as /proc/PID/stat field 22 gives it, or -1
 * when the clock's tick changed during the clone: then read /proc);
 * settled() when the spawns since the last settled() are done: right after
 * spawned() outside a batch, at proc_batch_end() inside one (once for all
 * its children, before the wait for an only child's exec); finished() when a proc is done,
 * just before on_exit. One watcher; NULL removes it.
 * Every child also gets PR_SET_PDEATHSIG (SIGKILL): it dies with the runner.
 */
struct proc_watch {
	void (*spawned)(void *arg, pid_t pgid, char *const *env, long long start_ticks);
	void (*settled)(void *arg);
	void (*finished)(void *arg, pid_t pgid);
	void *arg;
};
void proc_set_watch(const struct proc_watch *w);

/*
 * Convenience for callers outside a running loop (preflight checks, tests):
 * run to completion on a private loop; copies of out/tail are returned in
 * *out_buf / *tail_buf when not NULL (caller frees; NUL-terminated); then
 * res->out / res->tail point to those copies, else they are NULL. spec.on_exit
 * may be NULL (if set, it is called before the copy); on_output is honoured.
 * SIGINT, SIGTERM or SIGHUP while it runs stop the child (proc_stop); other
 * loops still see the signal when they run next. Returns -1 only when the
 * process could not be started (err set); exec failure is a result, not -1.
 */
int proc_run_sync(const struct proc_spec *spec, struct proc_result *res, char **out_buf,
		  char **tail_buf, struct wl_err *err);

#endif
