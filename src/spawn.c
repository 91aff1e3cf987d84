/*
 * spawn: start a child without waiting for its exec (see spawn.h).
 *
 * Slots. Each child runs on a slot: one mapping with a guard page, the
 * child's stack and, above it, the child's plan -- a copy of argv, the
 * environment and the paths, so the caller may change or free its own at
 * once. A slot is busy from the clone until the kernel clears its word
 * (CLONE_CHILD_CLEARTID: on the child's exec, when the old memory is let
 * go, or on its exit) and wakes a futex on it. Then nothing of the child
 * runs on the slot any more: its report is moved to the child's handle
 * and the slot serves the next child. At most SLOTS_MAX children are
 * between clone and exec at once; one more waits on the oldest slot's
 * futex, as vfork would.
 *
 * The child, from clone to exec, shares the runner's memory while the
 * runner goes on. So it runs only the code below, with raw system calls:
 * no libc call (errno and the stack guard live in the runner's thread
 * area: a failing libc call would overwrite the runner's errno at any
 * moment; malloc's locks may be held), no sanitizer instrumentation (the
 * stack is not one the sanitizers know), and it writes no memory but its
 * own slot.
 */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "xalloc.h"

extern char **environ;

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define CHILD_FN __attribute__((no_sanitize("address", "undefined")))

/* ---- raw system calls: return -errno on failure, touch no errno ---- */

#if defined(__x86_64__)
#define SPAWN_RAW 1
CHILD_FN static inline long sys6(long n, long a, long b, long c, long d, long e, long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}
#elif defined(__aarch64__)
#define SPAWN_RAW 1
CHILD_FN static inline long sys6(long n, long a, long b, long c, long d, long e, long f)
{
	register long x8 __asm__("x8") = n;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	register long x3 __asm__("x3") = d;
	register long x4 __asm__("x4") = e;
	register long x5 __asm__("x5") = f;
	__asm__ volatile("svc 0"
			 : "+r"(x0)
			 : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
			 : "memory", "cc");
	return x0;
}
#else
/* Elsewhere libc's syscall(), which sets errno: only under CLONE_VFORK,
 * while the runner sleeps. */
#define SPAWN_RAW 0
CHILD_FN static long sys6(long n, long a, long b, long c, long d, long e, long f)
{
	long r = syscall(n, a, b, c, d, e, f);
	return r < 0 ? -errno : r;
}
#endif
#define SYSARG(x) ((long)(x))
#define SYSPTR(x) ((long)(uintptr_t)(x))
#define sys3(n, a, b, c) sys6(SYSARG(n), a, b, c, 0, 0, 0)

/* ---- the child side ---- */

struct child_plan {
	int in_fd, out_fd, err_fd;
	int lookup_err;
	pid_t parent;                /* the runner, for PR_SET_PDEATHSIG */
	int sched_other;             /* back to SCHED_OTHER (spawn_runner_batch()) */
	struct sched_param sched;    /* its parameter: priority 0 */
	struct spawn_report rep;     /* written by the child */
	const char *cwd, *path;
	char *const *argv, *const *envp;
	char *const *sh_argv;        /* for ENOEXEC: sh path args... */
};

/* The kernel's struct sigaction (x86-64, arm64 and the generic one). */
struct k_sigaction {
	void (*handler)(int);
	unsigned long flags;
	void (*restorer)(void);
	unsigned long mask;
};

static void child_fail(struct child_plan *cp, enum spawn_stage stage, long err) __attribute__((noreturn));
CHILD_FN static void child_fail(struct child_plan *cp, enum spawn_stage stage, long err)
{
	cp->rep.err = (int)err;
	cp->rep.stage = stage;
	for (;;)
		sys3(SYS_exit_group, err == ENOENT ? 127 : 126, 0, 0);
}

/* dup2 from dup3 (arm64 has no dup2): an equal pair only loses close-on-exec. */
CHILD_FN static long child_dup(int from, int to)
{
	if (from == to)
		return sys3(SYS_fcntl, to, F_SETFD, 0);
	return sys3(SYS_dup3, from, to, 0);
}

/* Mark every descriptor >= 3 close-on-exec. */
CHILD_FN static void child_cloexec_from3(void)
{
#ifdef SYS_close_range
	if (sys3(SYS_close_range, 3, SYSARG(~0U), SYSARG(CLOSE_RANGE_CLOEXEC)) == 0)
		return;
#endif
	long dfd = sys6(SYS_openat, AT_FDCWD, SYSPTR("/proc/self/fd"), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0, 0, 0);
	if (dfd >= 0) {
		char buf[4096];
		long n;
		while ((n = sys3(SYS_getdents64, dfd, SYSPTR(buf), SYSARG(sizeof(buf)))) > 0) {
			for (long off = 0; off < n;) {
				/* struct linux_dirent64: ino(8) off(8) reclen(2) type(1) name */
				unsigned short reclen = (unsigned short)((unsigned char)buf[off + 16] |
									 (unsigned char)buf[off + 17] << 8);
				if (reclen == 0)
					break;
				const char *name = buf + off + 19;
				long fd = 0;
				int ok = *name != 0;
				for (const char *c = name; *c; c++) {
					if (*c < '0' || *c > '9')
						ok = 0;
					else
						fd = fd * 10 + (*c - '0');
				}
				if (ok && fd >= 3 && fd != dfd)
					sys3(SYS_fcntl, fd, F_SETFD, FD_CLOEXEC);
				off += reclen;
			}
		}
		sys3(SYS_close, dfd, 0, 0);
		return;
	}
	struct rlimit rl = {0, 0};
	long max = 65536;
	if (sys6(SYS_prlimit64, 0, RLIMIT_NOFILE, 0, SYSPTR(&rl), 0, 0) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < 1048576)
		max = (long)rl.rlim_cur;
	for (long fd = 3; fd < max; fd++)
		sys3(SYS_fcntl, fd, F_SETFD, FD_CLOEXEC);
}

static int child_run(void *arg) __attribute__((noreturn));
CHILD_FN static int child_run(void *arg)
{
	struct child_plan *cp = arg;
	sys3(SYS_setpgid, 0, 0, 0);
	/* No orphans (docs/execution.md): the child dies with the runner, even
	 * when the runner is SIGKILLed; if it already died, do not start. */
	sys3(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0);
	if (sys3(SYS_getppid, 0, 0, 0) != cp->parent)
		child_fail(cp, SPAWN_STAGE_EXEC, ESRCH);
	if (cp->sched_other)
		sys3(SYS_sched_setscheduler, 0, SCHED_OTHER, SYSPTR(&cp->sched));
	/* All signals are blocked (the parent blocked them before clone): reset
	 * every disposition first, then unblock, so no handler of ours runs. */
	struct k_sigaction dfl = {0, 0, 0, 0};
	for (long s = 1; s <= 64; s++)
		if (s != SIGKILL && s != SIGSTOP)
			sys6(SYS_rt_sigaction, s, SYSPTR(&dfl), 0, SYSARG(sizeof(dfl.mask)), 0, 0);

	long r;
	if ((r = child_dup(cp->in_fd, 0)) < 0 || (r = child_dup(cp->out_fd, 1)) < 0 ||
	    (r = child_dup(cp->err_fd, 2)) < 0)
		child_fail(cp, SPAWN_STAGE_DUP, -r);
	if (cp->cwd && (r = sys3(SYS_chdir, SYSPTR(cp->cwd), 0, 0)) < 0)
		child_fail(cp, SPAWN_STAGE_CHDIR, -r);
	child_cloexec_from3();

	unsigned long none = 0;
	sys6(SYS_rt_sigprocmask, SIG_SETMASK, SYSPTR(&none), 0, SYSARG(sizeof(none)), 0, 0);

	if (!cp->path)
		child_fail(cp, SPAWN_STAGE_EXEC, cp->lookup_err);
	r = sys3(SYS_execve, SYSPTR(cp->path), SYSPTR(cp->argv), SYSPTR(cp->envp));
	if (r == -ENOEXEC)
		r = sys3(SYS_execve, SYSPTR("/bin/sh"), SYSPTR(cp->sh_argv), SYSPTR(cp->envp));
	child_fail(cp, SPAWN_STAGE_EXEC, -r);
}

/* ---- the runner's scheduling policy ---- */

static int children_sched_other;

int spawn_runner_batch(void)
{
	struct sched_param none = {0};
	if (sched_getscheduler(0) != SCHED_OTHER || sched_setscheduler(0, SCHED_BATCH, &none) != 0)
		return 0;
	children_sched_other = 1;
	return 1;
}

/* ---- slots ---- */

#define SLOT_STACK (64 * 1024)
#define SLOTS_MAX 64

struct slot {
	pid_t word;             /* 1 from the clone until the child exec'd or exited */
	int busy;
	struct spawn *owner;    /* NULL: forgotten, or none yet */
	char *map;              /* guard page, stack, plan */
	size_t map_len;
	struct child_plan *plan;
};

struct spawn {
	struct spawn_report rep;
	struct slot *slot;      /* NULL once the report is here */
};

static struct slot slots[SLOTS_MAX];
static size_t nslots, next_wait;

static int slot_done(struct slot *s)
{
	return __atomic_load_n(&s->word, __ATOMIC_ACQUIRE) == 0;
}

/* The child exec'd or exited: its report goes to its handle, the slot is free. */
static void slot_reclaim(struct slot *s)
{
	if (s->owner) {
		s->owner->rep = s->plan->rep;
		s->owner->slot = NULL;
	}
	s->owner = NULL;
	s->busy = 0;
}

static void slot_wait(struct slot *s)
{
	while (!slot_done(s)) {
		struct timespec ts = {0, 10 * 1000 * 1000};   /* the wake-up is the kernel's; the timeout only a safety */
		syscall(SYS_futex, &s->word, FUTEX_WAIT, 1, &ts, NULL, 0);
	}
}

static size_t page_size(void)
{
	static size_t page;
	if (!page)
		page = (size_t)sysconf(_SC_PAGESIZE);
	return page;
}

/* A free slot whose plan area holds plan_len bytes; NULL with errno. */
static struct slot *slot_get(size_t plan_len)
{
	struct slot *s = NULL;
	for (size_t i = 0; i < nslots; i++) {
		if (slots[i].busy && slot_done(&slots[i]))
			slot_reclaim(&slots[i]);
		if (!slots[i].busy && !s)
			s = &slots[i];
	}
	if (!s && nslots < SLOTS_MAX)
		s = &slots[nslots++];
	if (!s) {   /* every slot has a child before its exec: wait for the oldest */
		s = &slots[next_wait++ % SLOTS_MAX];
		slot_wait(s);
		slot_reclaim(s);
	}
	size_t page = page_size();
	size_t len = page + SLOT_STACK + (plan_len + page - 1) / page * page;
	if (s->map && s->map_len >= len)
		return s;
	if (s->map)
		munmap(s->map, s->map_len);
	s->map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
	if (s->map == MAP_FAILED) {
		s->map = NULL;
		s->map_len = 0;
		return NULL;
	}
	s->map_len = len;
	mprotect(s->map, page, PROT_NONE);
	return s;
}

/* ---- the plan, copied into the slot ---- */

static size_t count_strings(char *const *v, size_t *bytes)
{
	size_t n = 0;
	for (; v && v[n]; n++)
		*bytes += strlen(v[n]) + 1;
	return n;
}

static size_t plan_len(const struct spawn_plan *p, char *const *envp, size_t *argc, size_t *envc)
{
	size_t bytes = 0;
	*argc = count_strings(p->argv, &bytes);
	*envc = count_strings(envp, &bytes);
	bytes += (p->path ? strlen(p->path) + 1 : 0) + (p->cwd ? strlen(p->cwd) + 1 : 0);
	/* argv, envp and sh argv ("sh" path argv[1..]) with their NULLs */
	size_t ptrs = (*argc + 1) + (*envc + 1) + (*argc + 2);
	return sizeof(struct child_plan) + ptrs * sizeof(char *) + bytes;
}

/* Copy v's strings to *heap and their pointers to out (NULL-terminated). */
static void copy_strings(char **out, char *const *v, size_t n, char **heap)
{
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(v[i]) + 1;
		memcpy(*heap, v[i], len);
		out[i] = *heap;
		*heap += len;
	}
	out[n] = NULL;
}

static char *copy_string(const char *s, char **heap)
{
	if (!s)
		return NULL;
	size_t len = strlen(s) + 1;
	char *d = memcpy(*heap, s, len);
	*heap += len;
	return d;
}

static struct child_plan *plan_copy(char *area, const struct spawn_plan *p, char *const *envp, size_t argc,
				    size_t envc)
{
	struct child_plan *cp = (struct child_plan *)(void *)area;
	char **argv = (char **)(void *)(cp + 1);
	char **env = argv + argc + 1;
	char **sh = env + envc + 1;
	char *heap = (char *)(sh + argc + 2);
	copy_strings(argv, p->argv, argc, &heap);
	copy_strings(env, envp, envc, &heap);
	*cp = (struct child_plan){
		.in_fd = p->in_fd, .out_fd = p->out_fd, .err_fd = p->err_fd,
		.lookup_err = p->lookup_err, .parent = getpid(), .sched_other = children_sched_other,
		.rep = {SPAWN_EXECED, 0},
		.path = copy_string(p->path, &heap), .cwd = copy_string(p->cwd, &heap),
		.argv = argv, .envp = env, .sh_argv = sh,
	};
	sh[0] = (char *)(uintptr_t)"sh";
	sh[1] = (char *)(uintptr_t)cp->path;
	for (size_t i = 1; i < argc; i++)
		sh[i + 1] = argv[i];
	sh[argc > 0 ? argc + 1 : 2] = NULL;
	return cp;
}

/* Valgrind runs clone(CLONE_VM) only as a thread or as a vfork. */
static int must_wait(void)
{
	static int cached = -1;
	if (cached < 0) {
		const char *pre = getenv("LD_PRELOAD");
		cached = !SPAWN_RAW || (pre && strstr(pre, "vgpreload"));
	}
	return cached;
}

/* ---- API ---- */

struct spawn *spawn_start(const struct spawn_plan *plan, int wait_exec, pid_t *pid)
{
	char *const *envp = plan->envp ? plan->envp : environ;
	size_t argc, envc;
	struct slot *s = slot_get(plan_len(plan, envp, &argc, &envc));
	if (!s)
		return NULL;
	struct spawn *sp = xcalloc(1, sizeof(*sp));
	s->plan = plan_copy(s->map + page_size() + SLOT_STACK, plan, envp, argc, envc);
	s->owner = sp;
	s->busy = 1;
	sp->slot = s;
	__atomic_store_n(&s->word, 1, __ATOMIC_RELEASE);

	/* All signals blocked around the clone: the child must never run one
	 * of our handlers, and resets every disposition before unblocking. */
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	int flags = CLONE_VM | CLONE_CHILD_CLEARTID | SIGCHLD | (wait_exec || must_wait() ? CLONE_VFORK : 0);
	/* The stack grows down on every architecture Linux runs us on here. */
	pid_t p = clone(child_run, s->map + page_size() + SLOT_STACK, flags, s->plan, NULL, NULL, &s->word);
	int e = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (p < 0) {
		__atomic_store_n(&s->word, 0, __ATOMIC_RELEASE);
		s->owner = NULL;
		s->busy = 0;
		free(sp);
		errno = e;
		return NULL;
	}
	/* The group exists before anyone can signal it: the child may not have
	 * run its own setpgid(0, 0) yet (EACCES once it has exec'd: it did). */
	setpgid(p, p);
	/* After a vfork the child has exec'd or exited: the slot is free. The
	 * kernel cleared the word already -- except under valgrind, which runs
	 * a vfork as a fork, so the child cleared the word of its own copy. */
	if (flags & CLONE_VFORK)
		__atomic_store_n(&s->word, 0, __ATOMIC_RELEASE);
	if (slot_done(s))
		slot_reclaim(s);
	*pid = p;
	return sp;
}

void spawn_wait_exec(struct spawn *sp)
{
	if (sp->slot) {
		slot_wait(sp->slot);
		slot_reclaim(sp->slot);
	}
}

void spawn_finish(struct spawn *sp, struct spawn_report *rep)
{
	spawn_wait_exec(sp);   /* reaped, so exec'd or exited: the word is clear by now */
	*rep = sp->rep;
	free(sp);
}

void spawn_forget(struct spawn *sp)
{
	if (sp->slot)
		sp->slot->owner = NULL;   /* the slot is reclaimed once its child is past exec */
	free(sp);
}
