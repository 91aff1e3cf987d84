/*
 * spawn: start one child process in a process group of its own, without
 * waiting for its exec (proc.c's primitive; proc.h says what a child gets).
 *
 * The child is a clone(CLONE_VM) of the runner -- no page tables copied,
 * as posix_spawn does -- but unlike vfork/posix_spawn the runner does not
 * sleep until the child has exec'd: with 200 steps started at once on a
 * busy 2-core machine, each new child waits its turn for a CPU, and a
 * runner waiting for each exec in turn started them at that pace. The
 * child runs on a stack slot of its own, from a copy of its plan (argv,
 * environment, paths: the caller's memory may change at once), and makes
 * only raw system calls that touch nothing of the runner's. The kernel
 * clears the slot's word when the child execs or exits
 * (CLONE_CHILD_CLEARTID), which frees the slot for the next child; why an
 * exec failed (the stage, errno) is left in the slot and kept in the
 * child's handle until the caller asks for it, after reaping the child.
 *
 * A caller that starts one child and has nothing else to start lets it
 * exec first (wait_exec, or spawn_wait_exec() later): the runner sleeps,
 * so the child gets the runner's CPU at once instead of queueing behind
 * the runner's own work -- the latency of a chain of steps. On
 * architectures without the raw system calls here (not x86-64 or arm64),
 * and under valgrind, every spawn waits for the exec (CLONE_VFORK).
 *
 * Calling sequence:
 *   struct spawn *sp = spawn_start(&plan, wait_exec, &pid);  -- NULL + errno:
 *                                  nothing started
 *   spawn_wait_exec(sp);         -- optional: until the child has exec'd or exited
 *   ... the child runs; the caller reaps it (waitpid) ...
 *   spawn_finish(sp, &report);   -- after the reap: why the exec failed, if it did;
 *                                   frees sp
 *   or spawn_forget(sp)          -- the caller gives up on the child (never reaped)
 */
#ifndef WAITLOOP_SPAWN_H
#define WAITLOOP_SPAWN_H
#include <sys/types.h>

enum spawn_stage { SPAWN_EXECED = 0, SPAWN_STAGE_EXEC = 1, SPAWN_STAGE_CHDIR = 2, SPAWN_STAGE_DUP = 3 };

/* Why the child could not exec: stage SPAWN_EXECED when it did. The child
 * then exited 127 (ENOENT) or 126. */
struct spawn_report {
	enum spawn_stage stage;
	int err;
};

struct spawn_plan {
	int in_fd, out_fd, err_fd; /* become 0, 1, 2 */
	const char *cwd;           /* NULL: the runner's */
	const char *path;          /* the file to exec; NULL: lookup failed with lookup_err */
	int lookup_err;
	char *const *argv;         /* argv[0] as given; a file without #! runs under /bin/sh */
	char *const *envp;
};

struct spawn;

/* The calling thread (the runner's loop) becomes SCHED_BATCH when it is
 * SCHED_OTHER: its wake-ups no longer preempt a running child on its CPU;
 * the children it spawns from then on go back to SCHED_OTHER before their
 * exec. 1 if done. */
int spawn_runner_batch(void);
struct spawn *spawn_start(const struct spawn_plan *plan, int wait_exec, pid_t *pid);
void spawn_wait_exec(struct spawn *sp);
void spawn_finish(struct spawn *sp, struct spawn_report *rep);
void spawn_forget(struct spawn *sp);

#endif
