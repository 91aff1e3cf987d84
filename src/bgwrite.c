/*
 * bgwrite: see bgwrite.h. One worker thread, a FIFO of jobs under one
 * mutex; jobs are numbered in the order given (tickets) and `done` counts
 * the finished ones; the worker signals `idle` after a job when someone
 * waits (bgwrite_wait, bgwrite_drain(wait)).
 */
#include "bgwrite.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "error.h"
#include "fsutil.h"
#include "strvec.h"
#include "xalloc.h"

struct job {
	struct job *next;
	void (*fn)(void *arg);   /* bgwrite_call(); NULL: a file (bgwrite_linked) */
	void *arg;
	char *path, *alias, *buf;
	size_t len;
};

struct bgwrite {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t work, idle;
	struct job *head, *tail;
	unsigned long given, done;   /* jobs given, jobs finished (tickets) */
	int waiters, stop;
	struct strvec errors;   /* messages of failed jobs, not yet drained */
};

static void job_run(struct bgwrite *b, struct job *j)
{
	if (j->fn) {
		j->fn(j->arg);
		free(j);
		return;
	}
	struct wl_err err = WL_ERR_INIT;
	int rc = fs_write_atomic_linked(j->path, j->alias, j->buf, j->len, &err);
	/* absent rather than stale (artifacts.h) */
	if (rc < 0)
		unlink(j->path);
	if (rc != 0 && j->alias)
		unlink(j->alias);
	if (rc != 0) {
		pthread_mutex_lock(&b->mu);
		strvec_push(&b->errors, err.msg);
		pthread_mutex_unlock(&b->mu);
	}
	free(j->path);
	free(j->alias);
	free(j->buf);
	free(j);
}

static void *worker(void *arg)
{
	struct bgwrite *b = arg;
	pthread_mutex_lock(&b->mu);
	for (;;) {
		while (!b->head && !b->stop)
			pthread_cond_wait(&b->work, &b->mu);
		if (!b->head)
			break;   /* stopping, and nothing left */
		struct job *j = b->head;
		b->head = j->next;
		if (!b->head)
			b->tail = NULL;
		pthread_mutex_unlock(&b->mu);
		job_run(b, j);
		pthread_mutex_lock(&b->mu);
		b->done++;
		if (b->waiters)
			pthread_cond_broadcast(&b->idle);
	}
	pthread_mutex_unlock(&b->mu);
	return NULL;
}

struct bgwrite *bgwrite_new(void)
{
	struct bgwrite *b = xcalloc(1, sizeof(*b));
	pthread_mutex_init(&b->mu, NULL);
	pthread_cond_init(&b->work, NULL);
	pthread_cond_init(&b->idle, NULL);
	/* The thread inherits the mask: every signal blocked, so each one goes
	 * to the runner's loop (evloop.h), never to this thread. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&b->thread, NULL, worker, b);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		pthread_cond_destroy(&b->idle);
		pthread_cond_destroy(&b->work);
		pthread_mutex_destroy(&b->mu);
		free(b);
		return NULL;
	}
	return b;
}

static unsigned long give(struct bgwrite *b, struct job *j)
{
	pthread_mutex_lock(&b->mu);
	if (b->tail)
		b->tail->next = j;
	else
		b->head = j;
	b->tail = j;
	unsigned long ticket = ++b->given;
	pthread_cond_signal(&b->work);
	pthread_mutex_unlock(&b->mu);
	return ticket;
}

void bgwrite_linked(struct bgwrite *b, char *path, char *alias, char *buf, size_t len)
{
	struct job *j = xcalloc(1, sizeof(*j));
	*j = (struct job){NULL, NULL, NULL, path, alias, buf, len};
	give(b, j);
}

unsigned long bgwrite_call(struct bgwrite *b, void (*fn)(void *arg), void *arg)
{
	struct job *j = xcalloc(1, sizeof(*j));
	*j = (struct job){NULL, fn, arg, NULL, NULL, NULL, 0};
	return give(b, j);
}

/* With b->mu held: until job `ticket` and all before it are done. */
static void wait_locked(struct bgwrite *b, unsigned long ticket)
{
	b->waiters++;
	while (b->done < ticket)
		pthread_cond_wait(&b->idle, &b->mu);
	b->waiters--;
}

void bgwrite_wait(struct bgwrite *b, unsigned long ticket)
{
	pthread_mutex_lock(&b->mu);
	wait_locked(b, ticket);
	pthread_mutex_unlock(&b->mu);
}

void bgwrite_drain(struct bgwrite *b, int wait, void (*on_error)(void *arg, const char *msg), void *arg)
{
	struct strvec errors = STRVEC_INIT;
	pthread_mutex_lock(&b->mu);
	if (wait)
		wait_locked(b, b->given);
	errors = b->errors;
	b->errors = (struct strvec)STRVEC_INIT;
	pthread_mutex_unlock(&b->mu);
	for (size_t i = 0; i < errors.n; i++)
		on_error(arg, errors.v[i]);
	strvec_clear(&errors);
}

static void ignore_error(void *arg, const char *msg)
{
	(void)arg, (void)msg;
}

void bgwrite_free(struct bgwrite *b)
{
	if (!b)
		return;
	pthread_mutex_lock(&b->mu);
	b->stop = 1;
	pthread_cond_signal(&b->work);
	pthread_mutex_unlock(&b->mu);
	pthread_join(b->thread, NULL);
	bgwrite_drain(b, 0, ignore_error, NULL);
	pthread_cond_destroy(&b->idle);
	pthread_cond_destroy(&b->work);
	pthread_mutex_destroy(&b->mu);
	free(b);
}
