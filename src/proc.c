/*
 * proc: spawn, capture, reap and stop child process groups (see proc.h).
 *
 * Life of a proc:
 *   running   -- main process alive; pipes drained as data arrives.
 *   reaped    -- waitpid(pid) returned (only ever our own pid, WNOHANG,
 *                on SIGCHLD, or when both pipes reach EOF).
 *   done      -- reaped, pipes at EOF and no live member left in the group
 *                (zombies of grandchildren waiting for init do not count).
 * If the group outlives main (pipes held open, or members without pipes),
 * the linger expires or is skipped and the group is stopped: SIGINT, grace,
 * SIGTERM+SIGCONT, grace, SIGKILL, then at most PROC_KILL_WAIT_MS more.
 * finish() always runs from a loop callback, never inside proc_start() or
 * proc_stop(), so callers are never re-entered from their own calls.
 *
 * Globals (STYLE.md §6): the registry of live procs and of unreaped pids.
 */
#include "proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "evloop.h"
#include "fsutil.h"
#include "redact.h"
#include "spawn.h"
#include "strbuf.h"
#include "timeutil.h"
#include "xalloc.h"


#define PROC_DEFAULT_GRACE_MS 5000
#define PROC_DEFAULT_LINGER_MS 1000
#define PROC_LINGER_GRACE_MS 300   /* escalation step for what outlived main */
/* After SIGKILL: how long to wait for the group to disappear before
 * reporting anyway (a process in uninterruptible sleep, or a member's
 * zombie that init is slow to reap, must not hang the runner). */
#define PROC_KILL_WAIT_MS 1000
#define PROC_READ_CHUNK 65536

struct proc {
	struct evloop *l;
	pid_t pid; /* also the process group id */
	struct proc *prev, *next; /* live registry */

	int out_fd, err_fd, in_fd; /* our pipe ends, -1 once closed */
	int out_file, err_file;    /* capture files, opened at the first byte; may be shared */
	char *out_path, *err_path; /* NULL = no file; err_path == out_path: one shared file */
	char *stdin_data;
	size_t stdin_len, stdin_off;

	size_t capture_out, capture_tail;
	struct strbuf out, tail;
	struct redact_stream *tail_rs[2];   /* stdout, stderr; NULL = raw tail */

	proc_output_fn on_output;
	proc_exit_fn on_exit;
	void *arg;

	int64_t grace_ms, linger_ms;
	int keep_detached;
	uint64_t t_timeout, t_escalate, t_linger, t_killwait, t_recheck;
	int64_t recheck_ms;

	struct spawn *spawn;       /* until reaped: why the exec failed, if it did */
	char *cmd, *cwd;           /* for that message */
	int reaped;
	int level;     /* signals sent so far: 0 none, 1 SIGINT, 2 SIGTERM, 3 SIGKILL */
	int finishing; /* finish() has begun */
	struct proc_result res;
};

static struct proc *live_head;
static struct proc_watch watch;    /* reaper.h's hooks, or none */
static pid_t *unreaped;            /* main pids given up on after SIGKILL */
static int batch_depth;            /* proc_batch_begin() without its end */
static int batch_started;          /* procs started in the batch */
static struct proc *batch_last;    /* the last of them (none finishes during a batch) */
static size_t nunreaped, aunreaped;

static void proc_check(struct proc *p);
static void on_killwait(void *arg);
static int signal_group(struct proc *p, int sig);

/* CLOCK_BOOTTIME in ns (the clock of a task's start time), -1 if none. */
static int64_t boottime_ns(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_BOOTTIME, &ts) < 0)
		return -1;
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A child's start time in clock ticks since boot (/proc/PID/stat field
 * 22: the kernel's start_boottime, taken inside the clone, divided by the
 * tick) from the boot clock read just before and just after the clone:
 * exact when both fall in the same tick (a clone takes ~0.1 ms, a tick is
 * 10 ms), else -1 -- the caller reads /proc. Saves a /proc read (open, two
 * reads, close) per spawn. */
static long long start_ticks(int64_t before, int64_t after)
{
	static int64_t tick_ns;
	if (!tick_ns) {
		long hz = sysconf(_SC_CLK_TCK);
		tick_ns = hz > 0 && 1000000000 % hz == 0 ? 1000000000 / hz : -1;
	}
	if (tick_ns < 0 || before < 0 || after < 0 || before / tick_ns != after / tick_ns)
		return -1;
	return before / tick_ns;
}

void proc_set_watch(const struct proc_watch *w)
{
	memset(&watch, 0, sizeof(watch));
	if (w)
		watch = *w;
}

/* ---- small helpers ---- */

static void close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

/* Keep our descriptors off 0/1/2 (the runner may run with them closed),
 * so the child's dup2() onto 0/1/2 can never clobber a source. */
static int fd_above_stdio(int fd)
{
	if (fd < 0 || fd > 2)
		return fd;
	int nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	int e = errno;
	close(fd);
	errno = e;
	return nfd;
}

static int pipe_cloexec(int p[2])
{
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	p[0] = fd_above_stdio(p[0]);
	p[1] = fd_above_stdio(p[1]);
	if (p[0] < 0 || p[1] < 0) {
		int e = errno;
		close_fd(&p[0]);
		close_fd(&p[1]);
		errno = e;
		return -1;
	}
	return 0;
}

/* Our end of a pipe from pipe_cloexec(): its only status flag is the
 * access mode, which F_SETFL ignores, so no F_GETFL first. */
static void set_nonblock(int fd)
{
	fcntl(fd, F_SETFL, O_NONBLOCK);
}

/* The children's stdin when they get no data: one descriptor opened at the
 * first spawn and kept (close-on-exec, above 0/1/2), not one per child. */
static int devnull_fd = -1;

static int devnull(void)
{
	if (devnull_fd < 0)
		devnull_fd = fd_above_stdio(open("/dev/null", O_RDONLY | O_CLOEXEC));
	return devnull_fd;
}

static const char *env_lookup(char *const *env, const char *name)
{
	if (!env)
		return getenv(name);
	size_t n = strlen(name);
	for (; *env; env++)
		if (!strncmp(*env, name, n) && (*env)[n] == '=')
			return *env + n + 1;
	return NULL;
}

/* Where a command name was found in a PATH, remembered like a shell's
 * hash table: every step of a run starts the same shell, and a PATH search
 * is one stat per directory before the one that has it (10 on a typical
 * PATH). A hit is checked with one access(X_OK); a command that vanished
 * is searched again. Like bash's hash, a command put later into an earlier
 * PATH directory is not seen while the old one still exists. */
#define PATH_CACHE_SLOTS 8
static struct path_hit {
	char *cmd, *path_env, *found; /* path_env NULL: no PATH (the default was searched) */
} path_cache[PATH_CACHE_SLOTS];
static unsigned path_cache_next;

static int same_env(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/* PATH search in the parent (the child must not allocate), like execvp
 * (fs_find_command): a name with a '/' is exec'd as is, and exec reports
 * why it fails. */
static char *resolve_command(const char *cmd, char *const *env, int *err)
{
	if (*cmd && strchr(cmd, '/'))
		return xstrdup(cmd);
	const char *pathenv = env_lookup(env, "PATH");
	for (unsigned i = 0; i < PATH_CACHE_SLOTS; i++) {
		struct path_hit *h = &path_cache[i];
		if (h->cmd && !strcmp(h->cmd, cmd) && same_env(h->path_env, pathenv)) {
			if (access(h->found, X_OK) == 0)
				return xstrdup(h->found);
			break; /* gone: search again (the slot is replaced below) */
		}
	}
	char *found = fs_find_command(cmd, pathenv, NULL, err);
	if (!found)
		return NULL;
	struct path_hit *h = NULL;
	for (unsigned i = 0; !h && i < PATH_CACHE_SLOTS; i++)
		if (path_cache[i].cmd && !strcmp(path_cache[i].cmd, cmd) && same_env(path_cache[i].path_env, pathenv))
			h = &path_cache[i];
	if (!h)
		h = &path_cache[path_cache_next++ % PATH_CACHE_SLOTS];
	free(h->cmd);
	free(h->path_env);
	free(h->found);
	h->cmd = xstrdup(cmd);
	h->path_env = pathenv ? xstrdup(pathenv) : NULL;
	h->found = xstrdup(found);
	return found;
}

/* ---- process group liveness ---- */

/* Does the group have a member that is not a zombie? A zombie grandchild
 * waits for init to reap it; it holds nothing and cannot be signalled. */
static int group_alive(pid_t pgid)
{
	if (kill(-pgid, 0) < 0 && errno != EPERM)
		return 0;
	DIR *d = opendir("/proc");
	if (!d)
		return 1;
	int alive = 0;
	struct dirent *de;
	while (!alive && (de = readdir(d))) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		char path[300], buf[512];
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = 0;
		/* pid (comm) state ppid pgrp ...; comm may contain anything */
		char *rp = strrchr(buf, ')');
		char state;
		long ppid, pgrp;
		if (rp && sscanf(rp + 1, " %c %ld %ld", &state, &ppid, &pgrp) == 3 &&
		    pgrp == (long)pgid && state != 'Z' && state != 'X')
			alive = 1;
	}
	closedir(d);
	return alive;
}

/* ---- registry ---- */

static void registry_add(struct proc *p)
{
	p->next = live_head;
	if (live_head)
		live_head->prev = p;
	live_head = p;
}

static void registry_remove(struct proc *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else if (live_head == p)
		live_head = p->next;
	if (p->next)
		p->next->prev = p->prev;
	p->prev = p->next = NULL;
}

static void unreaped_sweep(void)
{
	size_t j = 0;
	for (size_t i = 0; i < nunreaped; i++) {
		int st;
		pid_t r = waitpid(unreaped[i], &st, WNOHANG);
		if (r == 0 || (r < 0 && errno == EINTR))
			unreaped[j++] = unreaped[i];
	}
	nunreaped = j;
}

void proc_kill_all(void)
{
	for (struct proc *p = live_head; p; p = p->next) {
		if (p->finishing)
			continue;
		if (signal_group(p, SIGKILL) == 0)
			p->res.signals_sent |= PROC_SENT_SIGKILL;
		if (p->level < 3) {
			p->level = 3;
			if (p->t_escalate)
				evloop_cancel_timer(p->l, p->t_escalate);
			p->t_escalate = 0;
			if (!p->t_killwait)
				p->t_killwait = evloop_add_timer(p->l, time_now_ms() + PROC_KILL_WAIT_MS,
								on_killwait, p);
		}
	}
	for (size_t i = 0; i < nunreaped; i++)
		kill(-unreaped[i], SIGKILL);
}

/* ---- output ---- */

static int open_capture(const char *path, struct wl_err *err);

/* The capture file of a stream, created at its first byte: a step that
 * prints nothing costs no file (each create is ~0.3 ms on a slow disk). A
 * failure is kept in res.capture_error and the capture goes on in memory. */
static int capture_fd(struct proc *p, enum proc_stream stream)
{
	int *fd = stream == PROC_STDOUT ? &p->out_file : &p->err_file;
	char **path = stream == PROC_STDOUT ? &p->out_path : &p->err_path;
	if (*fd >= 0 || !*path)
		return *fd;
	struct wl_err err = WL_ERR_INIT;
	*fd = open_capture(*path, &err);
	if (*fd < 0 && !p->res.capture_error[0])
		snprintf(p->res.capture_error, sizeof(p->res.capture_error), "%.200s", err.msg);
	int shared = p->err_path == p->out_path;
	if (shared) /* one file for both streams: one descriptor */
		p->out_file = p->err_file = *fd;
	if (*fd < 0) {
		free(*path); /* do not retry at every chunk */
		*path = NULL;
		if (shared)
			p->out_path = p->err_path = NULL;
	}
	return *fd;
}

static void take_output(struct proc *p, enum proc_stream stream, const char *buf, size_t n)
{
	const char *raw = buf;
	size_t raw_n = n;
	p->res.last_output_ms = time_now_ms();
	int file = capture_fd(p, stream);
	int werr = file >= 0 ? fs_write_all(file, buf, n) : 0;
	if (werr && !p->res.capture_error[0])
		snprintf(p->res.capture_error, sizeof(p->res.capture_error), "cannot write its %s capture file: %s",
			 stream == PROC_STDOUT ? "stdout" : "stderr", strerror(werr));
	if (stream == PROC_STDOUT) {
		if (p->out.len < p->capture_out) {
			size_t room = p->capture_out - p->out.len;
			strbuf_add(&p->out, buf, n < room ? n : room);
			if (n > room)
				p->res.out_truncated = 1;
		} else {
			p->res.out_truncated = 1;
		}
	}
	struct strbuf red = STRBUF_INIT;
	char *text = NULL;
	if (p->capture_tail && memchr(buf, '\0', n)) {
		/* the tail is text (patterns, messages): a NUL byte is read as a
		 * space, so what follows it is not lost (issue 16) */
		text = xmalloc(n);
		for (size_t i = 0; i < n; i++)
			text[i] = buf[i] ? buf[i] : ' ';
		buf = text;
	}
	if (p->capture_tail && p->tail_rs[0]) {
		redact_stream_feed(p->tail_rs[stream == PROC_STDERR], buf, n, &red);
		buf = strbuf_str(&red);
		n = red.len;
	}
	if (p->capture_tail && n) {
		/* Trim in batches: memory stays below 2x the tail + one chunk. */
		if (n >= p->capture_tail) {
			strbuf_reset(&p->tail);
			strbuf_add(&p->tail, buf + (n - p->capture_tail), p->capture_tail);
		} else {
			strbuf_add(&p->tail, buf, n);
			if (p->tail.len > 2 * p->capture_tail)
				strbuf_keep_tail(&p->tail, p->capture_tail);
		}
	}
	strbuf_release(&red);
	free(text);
	if (p->on_output)
		p->on_output(p->arg, stream, raw, raw_n);
}

/* Read once from one pipe: 1 = data, 0 = nothing yet, -1 = EOF (closed). */
static int read_pipe(struct proc *p, int *fd, enum proc_stream stream)
{
	char buf[PROC_READ_CHUNK];
	ssize_t n;
	do
		n = read(*fd, buf, sizeof(buf));
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		take_output(p, stream, buf, (size_t)n);
		return 1;
	}
	if (n < 0 && errno == EAGAIN)
		return 0;
	evloop_unwatch_fd(p->l, *fd);
	close_fd(fd);
	return -1;
}

/* Collect what is already buffered, without waiting (bounded: a writer
 * outside the group may still be producing). */
static void drain_pipe(struct proc *p, int *fd, enum proc_stream stream)
{
	for (int i = 0; i < 64 && *fd >= 0; i++)
		if (read_pipe(p, fd, stream) <= 0)
			break;
}

/* ---- reaping, stopping, finishing ---- */

static void cancel_timer(struct proc *p, uint64_t *id)
{
	if (*id)
		evloop_cancel_timer(p->l, *id);
	*id = 0;
}

static void describe_exec_failure(struct proc_result *res, const struct spawn_report *r,
				  const char *cmd, const char *cwd)
{
	res->exec_failed = 1;
	res->exec_errno = r->err;
	char *msg;
	struct stat st;
	if (r->stage == SPAWN_STAGE_CHDIR)
		msg = xasprintf("cannot change directory to '%s': %s", cwd ? cwd : "", strerror(r->err));
	else if (r->stage == SPAWN_STAGE_DUP)
		msg = xasprintf("cannot set up descriptors for '%s': %s", cmd, strerror(r->err));
	else if (r->err == ENOENT && strchr(cmd, '/') && stat(cmd, &st) == 0)
		msg = xasprintf("cannot execute '%s': bad interpreter (%s)", cmd, strerror(r->err));
	else if (r->err == ENOENT)
		msg = xasprintf("command not found: '%s'", cmd);
	else if (r->err == EACCES)
		msg = xasprintf("permission denied: '%s'", cmd);
	else
		msg = xasprintf("cannot execute '%s': %s", cmd, strerror(r->err));
	snprintf(res->exec_error, sizeof(res->exec_error), "%s", msg);
	free(msg);
}

static void try_reap(struct proc *p)
{
	if (p->reaped)
		return;
	int st;
	pid_t r;
	do
		r = waitpid(p->pid, &st, WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r != p->pid)
		return;
	p->reaped = 1;
	struct spawn_report rep;
	spawn_finish(p->spawn, &rep);
	p->spawn = NULL;
	if (rep.stage != SPAWN_EXECED)
		describe_exec_failure(&p->res, &rep, p->cmd, p->cwd);
	if (WIFEXITED(st)) {
		p->res.exited = 1;
		p->res.exit_code = WEXITSTATUS(st);
	} else if (WIFSIGNALED(st)) {
		p->res.signaled = 1;
		p->res.signo = WTERMSIG(st);
	}
}

static void on_timer_check(void *arg)
{
	struct proc *p = arg;
	p->t_recheck = 0;
	proc_check(p);
}

static void on_escalate(void *arg);
static void on_killwait(void *arg);
static void on_linger(void *arg);
static void on_sigchld(void *arg, int signo);

/* Signal the group; also main itself if it left the group (setsid):
 * until it is reaped its pid is ours. Returns 0 if anyone got it. */
static int signal_group(struct proc *p, int sig)
{
	int r = kill(-p->pid, sig);
	if (!p->reaped && getpgid(p->pid) != p->pid && kill(p->pid, sig) == 0)
		r = 0;
	return r;
}

/* Send the next signal of the ladder to the whole group. */
static void escalate(struct proc *p)
{
	if (p->level >= 3)
		return;
	p->level++;
	int64_t now = time_now_ms();
	if (p->level == 1) {
		if (signal_group(p, SIGINT) == 0)
			p->res.signals_sent |= PROC_SENT_SIGINT;
	} else if (p->level == 2) {
		if (signal_group(p, SIGTERM) == 0)
			p->res.signals_sent |= PROC_SENT_SIGTERM;
		signal_group(p, SIGCONT);
	} else {
		if (signal_group(p, SIGKILL) == 0)
			p->res.signals_sent |= PROC_SENT_SIGKILL;
	}
	cancel_timer(p, &p->t_escalate);
	/* Leftovers after main exited (the linger) get a short ladder: main is
	 * done, a background process that ignores SIGINT must not cost the
	 * whole grace at every linger (docs/execution.md: about 2 s at most). */
	int64_t step = p->grace_ms;
	if (p->res.lingered && !p->res.stopped && !p->res.timed_out && step > PROC_LINGER_GRACE_MS)
		step = PROC_LINGER_GRACE_MS;
	if (p->level < 3)
		p->t_escalate = evloop_add_timer(p->l, now + step, on_escalate, p);
	else if (!p->t_killwait)
		p->t_killwait = evloop_add_timer(p->l, now + PROC_KILL_WAIT_MS, on_killwait, p);
}

static void finish(struct proc *p)
{
	p->finishing = 1;
	cancel_timer(p, &p->t_timeout);
	cancel_timer(p, &p->t_escalate);
	cancel_timer(p, &p->t_linger);
	cancel_timer(p, &p->t_killwait);
	cancel_timer(p, &p->t_recheck);
	if (p->out_fd >= 0)
		drain_pipe(p, &p->out_fd, PROC_STDOUT);
	if (p->err_fd >= 0)
		drain_pipe(p, &p->err_fd, PROC_STDERR);
	int *fds[] = {&p->out_fd, &p->err_fd, &p->in_fd};
	for (size_t i = 0; i < 3; i++) {
		if (*fds[i] >= 0)
			evloop_unwatch_fd(p->l, *fds[i]);
		close_fd(fds[i]);
	}
	if (p->err_file == p->out_file)
		p->err_file = -1;
	close_fd(&p->out_file);
	close_fd(&p->err_file);
	if (p->err_path == p->out_path)
		p->err_path = NULL;
	free(p->out_path);
	free(p->err_path);
	p->out_path = p->err_path = NULL;
	evloop_off_signal(p->l, SIGCHLD, on_sigchld, p);
	registry_remove(p);
	try_reap(p);
	if (!p->reaped) {
		/* SIGKILL sent and still not gone (uninterruptible sleep): reap later. */
		XGROW(unreaped, nunreaped + 1, aunreaped);
		unreaped[nunreaped++] = p->pid;
	}

	for (int i = 0; i < 2; i++)
		if (p->tail_rs[i]) {   /* an unfinished last line */
			redact_stream_flush(p->tail_rs[i], &p->tail);
			redact_stream_free(p->tail_rs[i]);
			p->tail_rs[i] = NULL;
		}
	if (p->capture_tail)
		strbuf_keep_tail(&p->tail, p->capture_tail);
	p->res.out = strbuf_str(&p->out);
	p->res.out_len = p->out.len;
	p->res.tail = strbuf_str(&p->tail);
	p->res.tail_len = p->tail.len;
	p->res.end_ms = time_now_ms();
	if (watch.finished)
		watch.finished(watch.arg, p->pid);
	p->on_exit(p->arg, &p->res);

	if (p->spawn)
		spawn_forget(p->spawn);
	strbuf_release(&p->out);
	strbuf_release(&p->tail);
	free(p->stdin_data);
	free(p->cmd);
	free(p->cwd);
	free(p);
}

/* Decide what the state calls for; may finish (and free) p. */
static void proc_check(struct proc *p)
{
	if (p->finishing)
		return;
	if (!p->reaped && p->out_fd < 0 && p->err_fd < 0)
		try_reap(p); /* EOF usually means exit: do not depend on SIGCHLD alone */
	if (!p->reaped)
		return;
	int pipes_open = p->out_fd >= 0 || p->err_fd >= 0;
	int64_t now = time_now_ms();

	if (p->level == 0) {
		if (pipes_open) {
			if (!p->t_linger)
				p->t_linger = evloop_add_timer(p->l, now + p->linger_ms, on_linger, p);
			return;
		}
		if (!group_alive(p->pid)) {
			finish(p);
			return;
		}
		if (p->keep_detached) {
			p->res.detached = 1; /* jobs that let go of the pipes live on */
			finish(p);
			return;
		}
		p->res.lingered = 1; /* members remain with the pipes closed */
		escalate(p);
		/* fall through: watch them go */
	}

	/* Stopping. */
	if (pipes_open) {
		if (kill(-p->pid, 0) < 0 && errno == ESRCH)
			finish(p); /* only a writer outside the group holds the pipes */
		return;            /* EOF or the next escalation step brings us back */
	}
	if (!group_alive(p->pid)) {
		finish(p);
		return;
	}
	/* Pipes closed, reaped, members dying: nothing will wake us, so look
	 * again shortly (bounded by the ladder and the kill wait). */
	if (!p->t_recheck) {
		p->recheck_ms = p->recheck_ms ? p->recheck_ms * 2 : 10;
		if (p->recheck_ms > 250)
			p->recheck_ms = 250;
		p->t_recheck = evloop_add_timer(p->l, now + p->recheck_ms, on_timer_check, p);
	}
}

/* ---- loop callbacks ---- */

static void on_sigchld(void *arg, int signo)
{
	struct proc *p = arg;
	if (nunreaped)
		unreaped_sweep();
	try_reap(p);
	proc_check(p);
}

static void on_linger(void *arg)
{
	struct proc *p = arg;
	p->t_linger = 0;
	if (p->level == 0) {
		if (p->out_fd >= 0 || p->err_fd >= 0 ? kill(-p->pid, 0) == 0 || errno == EPERM
						     : group_alive(p->pid)) {
			p->res.lingered = 1;
			escalate(p);
		} else {
			finish(p); /* the pipes are held outside the group: stop waiting */
			return;
		}
	}
	proc_check(p);
}

static void on_escalate(void *arg)
{
	struct proc *p = arg;
	p->t_escalate = 0;
	if (p->reaped && !group_alive(p->pid)) {
		finish(p);
		return;
	}
	escalate(p);
	proc_check(p);
}

static void on_killwait(void *arg)
{
	struct proc *p = arg;
	p->t_killwait = 0;
	try_reap(p);
	finish(p); /* SIGKILL was sent: report what we have */
}

static void on_timeout(void *arg)
{
	struct proc *p = arg;
	p->t_timeout = 0;
	/* Once main has exited, the linger (not the timeout) bounds the rest. */
	if (p->level == 0 && !p->reaped) {
		p->res.timed_out = 1;
		escalate(p);
	}
	proc_check(p);
}

static void on_pipe(void *arg, int fd, short revents)
{
	struct proc *p = arg;
	int *slot = fd == p->out_fd ? &p->out_fd : &p->err_fd;
	if (read_pipe(p, slot, slot == &p->out_fd ? PROC_STDOUT : PROC_STDERR) < 0)
		proc_check(p);
}

static void on_stdin(void *arg, int fd, short revents)
{
	struct proc *p = arg;
	size_t left = p->stdin_len - p->stdin_off;
	ssize_t n = write(p->in_fd, p->stdin_data + p->stdin_off, left < 65536 ? left : 65536);
	if (n > 0)
		p->stdin_off += (size_t)n;
	if ((n < 0 && errno != EAGAIN && errno != EINTR) || p->stdin_off == p->stdin_len) {
		evloop_unwatch_fd(p->l, p->in_fd);
		close_fd(&p->in_fd); /* EPIPE: the child does not want the rest */
	}
}

/* ---- starting ---- */


static int open_capture(const char *path, struct wl_err *err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return err_set(err, "cannot open '%s': %s", path, strerror(errno));
	fd = fd_above_stdio(fd);
	if (fd < 0)
		return err_set(err, "cannot open '%s': %s", path, strerror(errno));
	return fd;
}

/* The capture files are created at the first byte (capture_fd()); a
 * directory that is missing or not writable is still a start error. */
static int capture_dir_ok(const char *path, struct wl_err *err)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash ? xstrndup(path, slash == path ? 1 : (size_t)(slash - path)) : xstrdup(".");
	int rc = access(dir, W_OK | X_OK);
	int e = errno;
	free(dir);
	if (rc < 0)
		return err_set(err, "cannot open '%s': %s", path, strerror(e));
	return 0;
}

/* Are a (may be NULL) and b in the same directory (the same text before
 * the last '/')? Then one capture_dir_ok() answers for both. */
static int same_dir(const char *a, const char *b)
{
	if (!a)
		return 0;
	const char *sa = strrchr(a, '/'), *sb = strrchr(b, '/');
	if (!sa || !sb)
		return !sa && !sb;
	return sa - a == sb - b && !memcmp(a, b, (size_t)(sa - a));
}

struct proc *proc_start(struct evloop *l, const struct proc_spec *spec, struct wl_err *err)
{
	if (!spec->argv || !spec->argv[0]) {
		err_set(err, "cannot start a process: empty command");
		return NULL;
	}
	if (!spec->on_exit) {
		err_set(err, "cannot start '%s': no exit callback", spec->argv[0]);
		return NULL;
	}
	const char *cmd = spec->argv[0];
	int in_child = -1, in_parent = -1;
	int outp[2] = {-1, -1}, errp[2] = {-1, -1};
	char *path = NULL;
	struct proc *p = NULL;

	if ((spec->stdout_path && capture_dir_ok(spec->stdout_path, err) < 0) ||
	    (spec->stderr_path && !same_dir(spec->stdout_path, spec->stderr_path) &&
	     capture_dir_ok(spec->stderr_path, err) < 0))
		goto fail;
	if (spec->stdin_data) {
		int inp[2];
		if (pipe_cloexec(inp) < 0) {
			err_set(err, "cannot start '%s': pipe: %s", cmd, strerror(errno));
			goto fail;
		}
		in_child = inp[0];
		in_parent = inp[1];
	} else if (devnull() < 0) {
		err_set(err, "cannot open '/dev/null': %s", strerror(errno));
		goto fail;
	}
	if (pipe_cloexec(outp) < 0 || pipe_cloexec(errp) < 0) {
		err_set(err, "cannot start '%s': pipe: %s", cmd, strerror(errno));
		goto fail;
	}

	struct spawn_plan plan = {
		.in_fd = in_child >= 0 ? in_child : devnull_fd, .out_fd = outp[1], .err_fd = errp[1],
		.cwd = spec->cwd, .argv = spec->argv, .envp = spec->env,
	};
	path = resolve_command(cmd, spec->env, &plan.lookup_err);
	plan.path = path;
	pid_t pid;
	int64_t boot0 = boottime_ns();
	struct spawn *sp = spawn_start(&plan, batch_depth == 0, &pid);
	int64_t boot1 = boottime_ns();
	if (!sp) {
		err_set(err, "cannot start '%s': clone: %s", cmd, strerror(errno));
		goto fail;
	}
	/* setpgid() by both sides (spawn.c): the group exists before anyone
	 * can signal it. */
	if (watch.spawned)
		watch.spawned(watch.arg, pid, spec->env, start_ticks(boot0, boot1));
	if (!batch_depth && watch.settled)
		watch.settled(watch.arg);

	p = xcalloc(1, sizeof(*p));
	p->l = l;
	p->pid = pid;
	p->spawn = sp;
	p->cmd = xstrdup(cmd);
	p->cwd = spec->cwd ? xstrdup(spec->cwd) : NULL;
	p->res.start_ms = time_now_ms();
	p->res.last_output_ms = p->res.start_ms;
	p->out_fd = outp[0];
	p->err_fd = errp[0];
	p->in_fd = in_parent;
	p->out_file = p->err_file = -1;
	p->out_path = spec->stdout_path ? xstrdup(spec->stdout_path) : NULL;
	if (spec->stderr_path && spec->stdout_path && !strcmp(spec->stderr_path, spec->stdout_path))
		p->err_path = p->out_path;
	else
		p->err_path = spec->stderr_path ? xstrdup(spec->stderr_path) : NULL;
	p->capture_out = spec->capture_out;
	p->capture_tail = spec->capture_tail;
	if (spec->capture_tail && spec->tail_redactor)
		for (int i = 0; i < 2; i++)
			p->tail_rs[i] = redact_stream_new(spec->tail_redactor);
	p->on_output = spec->on_output;
	p->on_exit = spec->on_exit;
	p->arg = spec->arg;
	p->grace_ms = spec->grace_ms > 0 ? spec->grace_ms : PROC_DEFAULT_GRACE_MS;
	p->linger_ms = spec->linger_ms > 0 ? spec->linger_ms : PROC_DEFAULT_LINGER_MS;
	p->keep_detached = spec->keep_detached;
	close_fd(&in_child);
	close_fd(&outp[1]);
	close_fd(&errp[1]);

	set_nonblock(p->out_fd);
	set_nonblock(p->err_fd);
	evloop_watch_fd(l, p->out_fd, POLLIN, on_pipe, p);
	evloop_watch_fd(l, p->err_fd, POLLIN, on_pipe, p);
	if (p->in_fd >= 0) {
		if (spec->stdin_len == 0) {
			close_fd(&p->in_fd);
		} else {
			p->stdin_data = xmalloc(spec->stdin_len);
			memcpy(p->stdin_data, spec->stdin_data, spec->stdin_len);
			p->stdin_len = spec->stdin_len;
			set_nonblock(p->in_fd);
			evloop_watch_fd(l, p->in_fd, POLLOUT, on_stdin, p);
		}
	}
	evloop_on_signal(l, SIGCHLD, on_sigchld, p);
	if (spec->timeout_ms > 0)
		p->t_timeout = evloop_add_timer(l, p->res.start_ms + spec->timeout_ms, on_timeout, p);
	registry_add(p);
	free(path);
	if (batch_depth) {
		batch_started++;
		batch_last = p;
	}
	return p;

fail:;
	int *fds[] = {&in_child, &in_parent, &outp[0], &outp[1], &errp[0], &errp[1]};
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		close_fd(fds[i]);
	free(path);
	return NULL;
}

void proc_batch_begin(void)
{
	if (batch_depth++ == 0) {
		batch_started = 0;
		batch_last = NULL;
	}
}

void proc_batch_end(void)
{
	if (batch_depth == 0 || --batch_depth > 0)
		return;
	/* The watcher first: in a chain its history record (committed by the
	 * history's writer thread, store.h) is handed over before the runner
	 * sleeps until the child's exec. The other order -- the runner woken
	 * by the exec on the child's CPU (where the kernel starts a child)
	 * takes the CPU back for it -- cost 0.3 ms a step, and moving the
	 * runner to another CPU instead cost the child more than it saved
	 * (docs/benchmarks.md). */
	if (batch_started && watch.settled)
		watch.settled(watch.arg);
	if (batch_started == 1 && batch_last->spawn)
		spawn_wait_exec(batch_last->spawn);
	batch_last = NULL;
}

void proc_stop(struct proc *p)
{
	if (!p || p->finishing)
		return;
	p->res.stopped = 1;
	if (p->level == 0)
		escalate(p);
	/* Decide on the next round, never inside the caller's own call. */
	if (!p->t_recheck)
		p->t_recheck = evloop_add_timer(p->l, 0, on_timer_check, p);
}

pid_t proc_pid(const struct proc *p)
{
	return p->pid;
}

/* ---- synchronous convenience ---- */

struct sync_run {
	int done;
	struct proc *p;
	const struct proc_spec *spec;
	struct proc_result *res;
	char **out_buf, **tail_buf;
};

static void sync_output(void *arg, enum proc_stream stream, const char *data, size_t len)
{
	struct sync_run *s = arg;
	s->spec->on_output(s->spec->arg, stream, data, len);
}

static void sync_exit(void *arg, const struct proc_result *res)
{
	struct sync_run *s = arg;
	if (s->spec->on_exit)
		s->spec->on_exit(s->spec->arg, res);
	*s->res = *res;
	s->res->out = NULL;
	s->res->tail = NULL;
	if (s->out_buf)
		s->res->out = *s->out_buf = xstrndup(res->out, res->out_len);
	if (s->tail_buf)
		s->res->tail = *s->tail_buf = xstrndup(res->tail, res->tail_len);
	s->p = NULL;
	s->done = 1;
}

static void sync_signal(void *arg, int signo)
{
	struct sync_run *s = arg;
	if (s->p)
		proc_stop(s->p);
}

int proc_run_sync(const struct proc_spec *spec, struct proc_result *res, char **out_buf,
		  char **tail_buf, struct wl_err *err)
{
	struct evloop *l = evloop_new();
	if (!l)
		return err_set(err, "cannot create the event loop: %s", strerror(errno));
	struct sync_run s = {.spec = spec, .res = res, .out_buf = out_buf, .tail_buf = tail_buf};
	struct proc_spec mine = *spec;
	mine.on_output = spec->on_output ? sync_output : NULL;
	mine.on_exit = sync_exit;
	mine.arg = &s;
	s.p = proc_start(l, &mine, err);
	if (!s.p) {
		evloop_free(l);
		return -1;
	}
	static const int stop_on[] = {SIGINT, SIGTERM, SIGHUP};
	for (size_t i = 0; i < 3; i++)
		evloop_on_signal(l, stop_on[i], sync_signal, &s);
	evloop_run(l, &s.done);
	evloop_free(l);
	return 0;
}
