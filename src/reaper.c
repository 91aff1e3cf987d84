/*
 * reaper: see reaper.h. Only the runner's main thread starts processes
 * (its writer threads never do), so its children are listed in
 * /proc/self/task/<pid>/children; /proc is scanned only by the watchdog
 * and when that file is missing.
 */
#include "reaper.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"
#include "store.h"
#include "strbuf.h"
#include "strvec.h"
#include "xalloc.h"

#define ENV_RUN "WAITLOOP_RUN_ID="
#define ENV_STEP "WAITLOOP_STEP="
#define FINISH_GRACE_MS 1000
static const char REAP_ONLY[] = "";   /* sweep(): reap exited escapees, signal nobody */

struct group {
	pid_t pgid;
	long long ticks;             /* start time; -1 unknown, TICKS_UNREAD not read yet */
	char *step;
	int recorded;                /* on record (on_settled), or tried */
};
#define TICKS_UNREAD (-2)

struct reaper {
	struct store *st;
	char *run_id;
	struct group *live;          /* groups spawned and not finished */
	size_t nlive, alive;
	size_t nunrecorded;          /* of them, not yet on record (on_settled) */
	pid_t *warned;               /* escapees sent SIGTERM: SIGKILL next time */
	size_t nwarned, awarned;
};

/* --- /proc ------------------------------------------------------------------ */

static int read_small(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t n = 0;
	while (n < cap - 1) {
		ssize_t r = read(fd, buf + n, cap - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	return (int)n;
}

/* state, ppid, pgrp and start time of pid; -1 when gone. */
static int proc_stat(long pid, char *state, long *ppid, long *pgrp, long long *ticks)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if (read_small(path, buf, sizeof(buf)) <= 0)
		return -1;
	/* pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt
	 * majflt cmajflt utime stime cutime cstime priority nice threads
	 * itrealvalue starttime; comm may contain anything, so from the last ')' */
	const char *rp = strrchr(buf, ')');
	unsigned long long st = 0;
	if (!rp || sscanf(rp + 1, " %c %ld %ld %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
			  state, ppid, pgrp, &st) != 4)
		return -1;
	*ticks = (long long)st;
	return 0;
}

long long reaper_start_ticks(long pid, long *pgrp)
{
	char state;
	long ppid, g;
	long long t;
	if (proc_stat(pid, &state, &ppid, &g, &t) < 0)
		return -1;
	if (pgrp)
		*pgrp = g;
	return t;
}

/* The next process of a /proc scan (d = opendir("/proc")); 0 at the end. */
static long next_pid(DIR *d)
{
	struct dirent *de;
	while ((de = readdir(d)))
		if (de->d_name[0] >= '1' && de->d_name[0] <= '9')
			return strtol(de->d_name, NULL, 10);
	return 0;
}

/* The value of NAME= (name includes '=') in pid's environment; caller frees. */
static char *env_of(long pid, const char *name)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%ld/environ", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	struct strbuf sb = STRBUF_INIT;
	char chunk[4096];
	ssize_t r;
	while (sb.len < 1024 * 1024 && ((r = read(fd, chunk, sizeof(chunk))) > 0 || (r < 0 && errno == EINTR)))
		if (r > 0)
			strbuf_add(&sb, chunk, (size_t)r);
	close(fd);
	char *val = NULL;
	size_t nl = strlen(name);
	for (size_t i = 0; i < sb.len;) {
		const char *e = sb.buf + i;
		size_t len = strnlen(e, sb.len - i);
		if (len >= nl && !memcmp(e, name, nl)) {
			val = xstrndup(e + nl, len - nl);
			break;
		}
		i += len + 1;
	}
	strbuf_release(&sb);
	return val;
}

/* Our children: from /proc/self/task/<pid>/children, else a /proc scan. */
static void list_children(pid_t **out, size_t *n)
{
	size_t alloc = 0;
	*out = NULL;
	*n = 0;
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/task/%ld/children", (long)getpid());
	static char buf[65536];
	if (read_small(path, buf, sizeof(buf)) >= 0) {
		for (char *s = buf, *end; *s; s = end) {
			long pid = strtol(s, &end, 10);
			if (end == s)
				break;
			XGROW(*out, *n + 1, alloc);
			(*out)[(*n)++] = (pid_t)pid;
		}
		return;
	}
	DIR *d = opendir("/proc");
	if (!d)
		return;
	for (long pid, ppid, pgrp; (pid = next_pid(d));) {
		char state;
		long long t;
		if (proc_stat(pid, &state, &ppid, &pgrp, &t) == 0 && ppid == (long)getpid()) {
			XGROW(*out, *n + 1, alloc);
			(*out)[(*n)++] = (pid_t)pid;
		}
	}
	closedir(d);
}

/* --- escapees --------------------------------------------------------------- */

static int is_live(const struct reaper *rp, pid_t pid)
{
	for (size_t i = 0; i < rp->nlive; i++)
		if (rp->live[i].pgid == pid)
			return 1;
	return 0;
}

static int was_warned(const struct reaper *rp, pid_t pid)
{
	for (size_t i = 0; i < rp->nwarned; i++)
		if (rp->warned[i] == pid)
			return 1;
	return 0;
}

/* Signal an escapee: its whole group when it leads one (setsid), else itself. */
static void signal_escapee(pid_t pid, long pgrp, int sig)
{
	if (pgrp == (long)pid && pgrp != (long)getpgrp())
		kill(-pid, sig);
	kill(pid, sig);
}

/*
 * Children of ours that are no live proc: reap the exited ones; stop the
 * others when they belong to this run and to step (NULL: any step, and
 * escapees without the run in their environment too). A second sweep over
 * an escapee already warned sends SIGKILL. Returns how many are left.
 */
static size_t sweep(struct reaper *rp, const char *step, int force_kill)
{
	pid_t *kids;
	size_t n, left = 0;
	list_children(&kids, &n);
	for (size_t i = 0; i < n; i++) {
		pid_t pid = kids[i];
		if (is_live(rp, pid))
			continue;
		char state;
		long ppid, pgrp;
		long long t;
		if (proc_stat(pid, &state, &ppid, &pgrp, &t) < 0)
			continue;
		if (state == 'Z' || state == 'X') {
			int st;
			waitpid(pid, &st, WNOHANG);
			continue;
		}
		left++;
		if (step == REAP_ONLY)
			continue;
		if (step) {
			char *run = env_of(pid, ENV_RUN), *s = env_of(pid, ENV_STEP);
			int mine = run && s && !strcmp(run, rp->run_id) && !strcmp(s, step);
			free(run);
			free(s);
			if (!mine)
				continue;
		}
		if (force_kill || was_warned(rp, pid)) {
			signal_escapee(pid, pgrp, SIGKILL);
		} else {
			signal_escapee(pid, pgrp, SIGTERM);
			signal_escapee(pid, pgrp, SIGCONT);
			XGROW(rp->warned, rp->nwarned + 1, rp->awarned);
			rp->warned[rp->nwarned++] = pid;
		}
	}
	free(kids);
	return left;
}

static void on_spawned(void *arg, pid_t pgid, char *const *env, long long start_ticks)
{
	struct reaper *rp = arg;
	const char *step = NULL;
	for (char *const *e = env; e && *e; e++)
		if (!strncmp(*e, ENV_STEP, strlen(ENV_STEP)))
			step = *e + strlen(ENV_STEP);
	if (!env)
		step = getenv("WAITLOOP_STEP");
	XGROW(rp->live, rp->nlive + 1, rp->alive);
	struct group *g = &rp->live[rp->nlive++];
	g->pgid = pgid;
	g->ticks = start_ticks >= 0 ? start_ticks : TICKS_UNREAD;   /* else on_settled() reads /proc */
	g->step = step ? xstrdup(step) : NULL;
	g->recorded = 0;
	rp->nunrecorded++;
}

/* The groups spawned since the last call, on record in one commit once
 * the spawns have settled (proc.h): the 200 steps of one scheduling pass
 * take one commit, not 200. A runner killed before this leaves its
 * children to the watchdog's search by environment. */
static void on_settled(void *arg)
{
	struct reaper *rp = arg;
	if (!rp->nunrecorded)
		return;
	struct store_group *rec = xcalloc(rp->nunrecorded, sizeof(*rec));
	size_t n = 0;
	for (size_t i = 0; i < rp->nlive; i++) {
		struct group *g = &rp->live[i];
		if (g->recorded)
			continue;
		g->recorded = 1;
		if (g->ticks == TICKS_UNREAD)
			g->ticks = reaper_start_ticks(g->pgid, NULL);
		if (g->ticks >= 0)
			rec[n++] = (struct store_group){g->pgid, g->ticks, g->step};
	}
	rp->nunrecorded = 0;
	struct wl_err err = WL_ERR_INIT;
	if (rp->st && n)   /* a history failure is the store's to report */
		store_groups_started(rp->st, rp->run_id, rec, n, &err);
	free(rec);
}

static void on_finished(void *arg, pid_t pgid)
{
	struct reaper *rp = arg;
	char *step = NULL;
	for (size_t i = 0; i < rp->nlive; i++) {
		if (rp->live[i].pgid != pgid)
			continue;
		struct wl_err err = WL_ERR_INIT;
		if (rp->st && rp->live[i].ticks >= 0)
			store_group_ended(rp->st, rp->run_id, pgid, rp->live[i].ticks, &err);
		step = rp->live[i].step;
		rp->live[i] = rp->live[--rp->nlive];
		break;
	}
	free(step);
	/* Exited escapees are reaped; running ones stay until the run ends:
	 * a step may start a service later steps use (workflows/db-startup.yaml).
	 * When no child of ours is a zombie there is nothing to reap: one
	 * waitid() that reaps nothing (WNOWAIT) instead of reading the list of
	 * all our children -- per finished step, that list read made 200
	 * parallel steps quadratic. */
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid == 0)
		return;
	sweep(rp, REAP_ONLY, 0);
}

struct reaper *reaper_start(struct store *st, const char *run_id)
{
	struct reaper *rp = xcalloc(1, sizeof(*rp));
	rp->st = st;
	rp->run_id = xstrdup(run_id);
	prctl(PR_SET_CHILD_SUBREAPER, 1);   /* fails only on kernels older than 3.4: no subreaper then */
	struct proc_watch w = {on_spawned, on_settled, on_finished, rp};
	proc_set_watch(&w);
	return rp;
}

void reaper_finish(struct reaper *rp)
{
	if (!rp)
		return;
	proc_set_watch(NULL);
	/* every escapee left: SIGTERM, a grace second, then SIGKILL */
	struct timespec tick = {0, 50 * 1000000L};
	int waited = 0;
	while (sweep(rp, NULL, 0) > 0 && waited < FINISH_GRACE_MS) {
		nanosleep(&tick, NULL);
		waited += 50;
	}
	for (int i = 0; i < 20 && sweep(rp, NULL, 1) > 0; i++)
		nanosleep(&tick, NULL);
	prctl(PR_SET_CHILD_SUBREAPER, 0);
	for (size_t i = 0; i < rp->nlive; i++)
		free(rp->live[i].step);
	free(rp->live);
	free(rp->warned);
	free(rp->run_id);
	free(rp);
}

/* --- watchdog --------------------------------------------------------------- */

struct orphans {
	struct strvec runs;   /* dead runs seen, for the environment scan */
	int killed;           /* running processes stopped, each counted once */
	long *pids;           /* ... these */
	size_t npids;
};

/* Counts a stopped process once (a group member may also name the run in
 * its environment). */
static void count_stopped(struct orphans *o, long pid)
{
	for (size_t i = 0; i < o->npids; i++)
		if (o->pids[i] == pid)
			return;
	o->pids = xrealloc(o->pids, (o->npids + 1) * sizeof(*o->pids));
	o->pids[o->npids++] = pid;
	o->killed++;
}

/* SIGKILL the running (not zombie) processes that hold group id pgid and
 * started no earlier than its leader. */
static void kill_members(struct orphans *o, long pgid, long long ticks)
{
	DIR *d = opendir("/proc");
	if (!d)
		return;
	for (long pid, ppid, g; (pid = next_pid(d));) {
		char state;
		long long st;
		if (proc_stat(pid, &state, &ppid, &g, &st) == 0 && g == pgid && st >= ticks && state != 'Z' &&
		    kill((pid_t)pid, SIGKILL) == 0)
			count_stopped(o, pid);
	}
	closedir(d);
}

static int kill_group_of_dead_run(void *arg, const char *run_id, long pgid, long long ticks)
{
	struct orphans *o = arg;
	if (!o->runs.n || strcmp(o->runs.v[o->runs.n - 1], run_id))
		strvec_push(&o->runs, run_id);
	long pgrp = 0, ppid;
	char state;
	long long t = reaper_start_ticks(pgid, &pgrp);
	if (t == ticks) {                 /* the leader itself, never a reused pid */
		if (pgrp == pgid) {
			kill_members(o, pgid, ticks);
			kill((pid_t)-pgid, SIGKILL);   /* and whatever forked meanwhile */
		} else if (proc_stat(pgid, &state, &ppid, &pgrp, &t) == 0 && state != 'Z' &&
			   kill((pid_t)pgid, SIGKILL) == 0) {
			count_stopped(o, pgid);
		}
		return 0;
	}
	if (t >= 0)
		return 0;                 /* pid reused: the old group is gone (its id was free) */
	kill_members(o, pgid, ticks);    /* leader gone: the members that still hold its group id */
	return 0;
}

/* Processes whose environment names a dead run (escapees with setsid). */
static void kill_by_environment(struct orphans *o)
{
	DIR *d = opendir("/proc");
	if (!d)
		return;
	long self = (long)getpid();
	for (long pid; (pid = next_pid(d));) {
		if (pid == self || pid == (long)getppid())
			continue;
		char *run = env_of(pid, ENV_RUN);
		for (size_t i = 0; run && i < o->runs.n; i++)
			if (!strcmp(run, o->runs.v[i]) && kill((pid_t)pid, SIGKILL) == 0) {
				count_stopped(o, pid);
				break;
			}
		free(run);
	}
	closedir(d);
}

int reaper_stop_orphans(struct store *st, struct wl_err *err)
{
	struct orphans o = {STRVEC_INIT, 0, NULL, 0};
	int rc = store_orphan_groups(st, kill_group_of_dead_run, &o, err);
	/* A run that crashed between a spawn and the commit of its group left
	 * no group on record: its processes are found by their environment. */
	size_t n;
	const char *const *crashed = store_crashed_runs(st, &n);
	for (size_t i = 0; rc == 0 && i < n; i++)
		if (!strvec_contains(&o.runs, crashed[i]))
			strvec_push(&o.runs, crashed[i]);
	if (rc == 0 && o.runs.n)
		kill_by_environment(&o);
	strvec_clear(&o.runs);
	free(o.pids);
	return rc < 0 ? -1 : o.killed;
}
