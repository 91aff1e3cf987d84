/*
 * evloop: one poll(2) loop with absolute monotonic deadlines (see evloop.h).
 *
 * Signals: one process-wide self-pipe and one counter per signal (the only
 * mutable globals here). The handler bumps the counter and writes a byte;
 * every loop remembers the counter values it has dispatched, so each loop
 * sees each signal (coalesced) even when another loop drained the pipe —
 * that is what lets proc_run_sync() run a private loop beside the runner's.
 *
 * Dispatch safety: callbacks may add or remove anything. Fd events are
 * matched to watches by a serial number (a removed watch, or a new watch on
 * a reused descriptor number, never receives stale events); timers are
 * popped before they run; signal handlers are marked dead on removal and
 * compacted when no dispatch is in progress.
 */
#include "evloop.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "timeutil.h"
#include "xalloc.h"

/* ---- process-wide signal plumbing ---- */

static volatile sig_atomic_t sig_count[NSIG];
static volatile sig_atomic_t sig_write_fd = -1;
static int sig_read_fd = -1;
static int sig_users;                   /* live loops */
static unsigned char sig_installed[NSIG];
static struct sigaction sig_old[NSIG];

static void sig_handler(int signo)
{
	int saved = errno;
	if (signo > 0 && signo < NSIG)
		sig_count[signo] = (sig_count[signo] + 1) & 0x3fffffff;
	int fd = sig_write_fd;
	if (fd >= 0) {
		char b = 0;
		/* A full pipe is already readable: EAGAIN loses nothing. */
		ssize_t r = write(fd, &b, 1);
		(void)r;
	}
	errno = saved;
}

static void sig_install(int signo)
{
	if (signo <= 0 || signo >= NSIG || sig_installed[signo] || signo == SIGKILL ||
	    signo == SIGSTOP)
		return;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = sig_handler;
	sigfillset(&sa.sa_mask);
	/* SA_RESTART is set for the benefit of library code, but the loop
	 * never relies on it: poll() is not restarted and EINTR is handled. */
	sa.sa_flags = SA_RESTART | (signo == SIGCHLD ? SA_NOCLDSTOP : 0);
	if (sigaction(signo, &sa, &sig_old[signo]) == 0)
		sig_installed[signo] = 1;
}

static int sig_plumbing_up(void)
{
	if (sig_users++ > 0)
		return 0;
	int p[2];
	if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0) {
		sig_users--;
		return -1;
	}
	sig_read_fd = p[0];
	sig_write_fd = p[1];
	signal(SIGPIPE, SIG_IGN); /* process-wide, for good: EPIPE is handled everywhere */
	sig_install(SIGCHLD);
	sig_install(SIGINT);
	sig_install(SIGTERM);
	sig_install(SIGHUP);
	return 0;
}

static void sig_plumbing_down(void)
{
	if (--sig_users > 0)
		return;
	for (int s = 1; s < NSIG; s++) {
		if (sig_installed[s]) {
			sigaction(s, &sig_old[s], NULL);
			sig_installed[s] = 0;
		}
	}
	int w = sig_write_fd;
	sig_write_fd = -1;
	close(w);
	close(sig_read_fd);
	sig_read_fd = -1;
}

/* ---- the loop ---- */

struct watch {
	int fd;
	short events;
	uint64_t serial;
	evloop_fd_fn fn;
	void *arg;
};

struct timer {
	int64_t deadline;
	uint64_t id;
	evloop_timer_fn fn;
	void *arg;
};

struct sighandler {
	int signo;
	evloop_signal_fn fn; /* NULL = removed, compacted later */
	void *arg;
};

struct evloop {
	struct watch *watches;
	size_t nwatches, awatches;
	uint64_t next_serial;

	struct timer *heap; /* min-heap on (deadline, id) */
	size_t ntimers, atimers;
	uint64_t next_id;

	struct sighandler *sigs;
	size_t nsigs, asigs;
	int sig_dispatching;
	int sig_dirty;
	sig_atomic_t seen[NSIG];

	struct pollfd *pfds; /* scratch for one round */
	uint64_t *pserial;
	size_t apfds, apserial;

	struct idle { evloop_idle_fn fn; void *arg; } *idles; /* evloop_on_idle(): start of every round */
	size_t nidles, aidles;
};

struct evloop *evloop_new(void)
{
	if (sig_plumbing_up() < 0)
		return NULL;
	struct evloop *l = xcalloc(1, sizeof(*l));
	l->next_serial = 1;
	l->next_id = 1;
	for (int s = 0; s < NSIG; s++)
		l->seen[s] = sig_count[s];
	return l;
}

void evloop_free(struct evloop *l)
{
	if (!l)
		return;
	free(l->watches);
	free(l->heap);
	free(l->sigs);
	free(l->pfds);
	free(l->pserial);
	free(l->idles);
	free(l);
	sig_plumbing_down();
}

/* -- fd watches -- */

static struct watch *watch_find(struct evloop *l, int fd)
{
	for (size_t i = 0; i < l->nwatches; i++)
		if (l->watches[i].fd == fd)
			return &l->watches[i];
	return NULL;
}

int evloop_watch_fd(struct evloop *l, int fd, short events, evloop_fd_fn fn, void *arg)
{
	if (fd < 0 || !fn)
		return -1;
	struct watch *w = watch_find(l, fd);
	if (!w) {
		XGROW(l->watches, l->nwatches + 1, l->awatches);
		w = &l->watches[l->nwatches++];
		w->fd = fd;
	}
	w->events = events;
	w->fn = fn;
	w->arg = arg;
	w->serial = l->next_serial++;
	return 0;
}

void evloop_unwatch_fd(struct evloop *l, int fd)
{
	struct watch *w = watch_find(l, fd);
	if (!w)
		return;
	*w = l->watches[--l->nwatches];
}

/* -- timers -- */

static int timer_before(const struct timer *a, const struct timer *b)
{
	return a->deadline < b->deadline || (a->deadline == b->deadline && a->id < b->id);
}

static void heap_swap(struct evloop *l, size_t i, size_t j)
{
	struct timer t = l->heap[i];
	l->heap[i] = l->heap[j];
	l->heap[j] = t;
}

static void heap_up(struct evloop *l, size_t i)
{
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!timer_before(&l->heap[i], &l->heap[parent]))
			break;
		heap_swap(l, i, parent);
		i = parent;
	}
}

static void heap_down(struct evloop *l, size_t i)
{
	for (;;) {
		size_t left = 2 * i + 1, right = left + 1, min = i;
		if (left < l->ntimers && timer_before(&l->heap[left], &l->heap[min]))
			min = left;
		if (right < l->ntimers && timer_before(&l->heap[right], &l->heap[min]))
			min = right;
		if (min == i)
			break;
		heap_swap(l, i, min);
		i = min;
	}
}

static void heap_remove(struct evloop *l, size_t i)
{
	l->ntimers--;
	if (i == l->ntimers)
		return;
	l->heap[i] = l->heap[l->ntimers];
	heap_up(l, i);
	heap_down(l, i);
}

uint64_t evloop_add_timer(struct evloop *l, int64_t deadline_ms, evloop_timer_fn fn, void *arg)
{
	XGROW(l->heap, l->ntimers + 1, l->atimers);
	uint64_t id = l->next_id++;
	struct timer *t = &l->heap[l->ntimers];
	t->deadline = deadline_ms;
	t->id = id;
	t->fn = fn;
	t->arg = arg;
	heap_up(l, l->ntimers++);
	return id;
}

void evloop_cancel_timer(struct evloop *l, uint64_t id)
{
	/* Linear: a loop holds a few timers per live process. */
	for (size_t i = 0; i < l->ntimers; i++) {
		if (l->heap[i].id == id) {
			heap_remove(l, i);
			return;
		}
	}
}

/* -- signals -- */

void evloop_on_signal(struct evloop *l, int signo, evloop_signal_fn fn, void *arg)
{
	if (signo <= 0 || signo >= NSIG || !fn)
		return;
	if (!sig_installed[signo]) {
		sig_install(signo);
		l->seen[signo] = sig_count[signo];
	}
	XGROW(l->sigs, l->nsigs + 1, l->asigs);
	l->sigs[l->nsigs].signo = signo;
	l->sigs[l->nsigs].fn = fn;
	l->sigs[l->nsigs].arg = arg;
	l->nsigs++;
}

static void sigs_compact(struct evloop *l)
{
	size_t j = 0;
	for (size_t i = 0; i < l->nsigs; i++)
		if (l->sigs[i].fn)
			l->sigs[j++] = l->sigs[i];
	l->nsigs = j;
	l->sig_dirty = 0;
}

void evloop_off_signal(struct evloop *l, int signo, evloop_signal_fn fn, void *arg)
{
	for (size_t i = 0; i < l->nsigs; i++) {
		struct sighandler *h = &l->sigs[i];
		if (h->signo == signo && h->fn == fn && h->arg == arg) {
			h->fn = NULL;
			l->sig_dirty = 1;
			break;
		}
	}
	if (!l->sig_dispatching)
		sigs_compact(l);
}

static int signals_pending(const struct evloop *l)
{
	for (int s = 1; s < NSIG; s++)
		if (l->seen[s] != sig_count[s])
			return 1;
	return 0;
}

int evloop_signal_pending(const struct evloop *l)
{
	return signals_pending(l);
}

static void dispatch_signals(struct evloop *l)
{
	l->sig_dispatching++;
	for (int s = 1; s < NSIG; s++) {
		if (l->seen[s] == sig_count[s])
			continue;
		l->seen[s] = sig_count[s];
		/* Handlers added during dispatch wait for the next signal. */
		size_t n = l->nsigs;
		for (size_t i = 0; i < n; i++) {
			struct sighandler h = l->sigs[i];
			if (h.fn && h.signo == s)
				h.fn(h.arg, s);
		}
	}
	if (--l->sig_dispatching == 0 && l->sig_dirty)
		sigs_compact(l);
}

static void drain_sig_pipe(void)
{
	char buf[256];
	while (read(sig_read_fd, buf, sizeof(buf)) > 0)
		;
}

/* -- one round -- */

static int poll_timeout(const struct evloop *l)
{
	if (signals_pending(l))
		return 0;
	if (l->ntimers == 0)
		return -1;
	int64_t wait = l->heap[0].deadline - time_now_ms();
	if (wait <= 0)
		return 0;
	return wait > INT_MAX ? INT_MAX : (int)wait;
}

static void dispatch_timers(struct evloop *l)
{
	int64_t now = time_now_ms();
	/* Timers added by callbacks in this round (even if already due) run
	 * in the next round, so a self-rearming timer cannot starve fds. */
	uint64_t limit = l->next_id;
	while (l->ntimers > 0 && l->heap[0].deadline <= now && l->heap[0].id < limit) {
		struct timer t = l->heap[0];
		heap_remove(l, 0);
		t.fn(t.arg);
	}
}

void evloop_run_once(struct evloop *l)
{
	/* Idle hooks first: they finish what the previous round (or the code
	 * before the first round) did, before this round may block. */
	if (l->nidles) {
		int will_wait = poll_timeout(l) != 0;
		for (size_t i = 0; i < l->nidles; i++)
			l->idles[i].fn(l->idles[i].arg, will_wait);
	}
	size_t n = l->nwatches;
	XGROW(l->pfds, n + 1, l->apfds);
	XGROW(l->pserial, n + 1, l->apserial);
	l->pfds[0].fd = sig_read_fd;
	l->pfds[0].events = POLLIN;
	l->pfds[0].revents = 0;
	for (size_t i = 0; i < n; i++) {
		l->pfds[i + 1].fd = l->watches[i].fd;
		l->pfds[i + 1].events = l->watches[i].events;
		l->pfds[i + 1].revents = 0;
		l->pserial[i + 1] = l->watches[i].serial;
	}

	int r = poll(l->pfds, (nfds_t)(n + 1), poll_timeout(l));
	if (r < 0)
		r = 0; /* EINTR: the self-pipe carries the signal; timers are rechecked below */

	if (l->pfds[0].revents)
		drain_sig_pipe();
	dispatch_signals(l);

	for (size_t i = 1; r > 0 && i <= n; i++) {
		short rev = l->pfds[i].revents;
		if (!rev)
			continue;
		/* The scratch arrays may be reallocated by a callback: read first. */
		int fd = l->pfds[i].fd;
		uint64_t serial = l->pserial[i];
		struct watch *w = watch_find(l, fd);
		if (!w || w->serial != serial)
			continue;
		evloop_fd_fn fn = w->fn;
		void *arg = w->arg;
		fn(arg, fd, rev);
	}

	dispatch_timers(l);
}

void evloop_on_idle(struct evloop *l, evloop_idle_fn fn, void *arg)
{
	XGROW(l->idles, l->nidles + 1, l->aidles);
	l->idles[l->nidles++] = (struct idle){fn, arg};
}

void evloop_run(struct evloop *l, const int *done)
{
	while (!*done)
		evloop_run_once(l);
}
