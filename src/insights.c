/*
 * insights: aggregate the history of many runs (see insights.h).
 *
 * One pass per database over four tables (waits, observations,
 * git_snapshots, iterations), aggregated in memory: a few hundred bytes per
 * wait, so 10 000 runs stay in a few MB and well inside the 200 ms budget.
 */
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"
#include "strbuf.h"
#include "insights.h"
#include "timeutil.h"
#include "xalloc.h"

/* ---- small containers ------------------------------------------------ */

struct dvec {
	double *v;
	size_t n, alloc;
};

static void dvec_push(struct dvec *d, double x)
{
	d->v = xgrow(d->v, sizeof(*d->v), d->n + 1, &d->alloc);
	d->v[d->n++] = x;
}

/* qsort() that accepts an empty array (qsort(NULL, 0, ...) is undefined). */
static void sort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(base, n, size, cmp);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted vector (p in 0..100); -1 when empty. */
static double pct(const struct dvec *d, double p)
{
	if (!d->n)
		return -1;
	size_t rank = (size_t)ceil(p / 100.0 * (double)d->n);
	if (rank < 1)
		rank = 1;
	return d->v[rank - 1];
}

/* String → index map (open addressing, FNV-1a), keys owned. */
struct smap {
	char **keys;
	size_t *vals;
	size_t cap, n;
};


static size_t *smap_slot(struct smap *m, const char *key, int create)
{
	if (create && (m->n + 1) * 2 > m->cap) {
		size_t ncap = m->cap ? m->cap * 2 : 64;
		char **nk = xcalloc(ncap, sizeof(*nk));
		size_t *nv = xcalloc(ncap, sizeof(*nv));
		for (size_t i = 0; i < m->cap; i++) {
			if (!m->keys[i])
				continue;
			size_t j = str_hash(m->keys[i]) & (ncap - 1);
			while (nk[j])
				j = (j + 1) & (ncap - 1);
			nk[j] = m->keys[i];
			nv[j] = m->vals[i];
		}
		free(m->keys);
		free(m->vals);
		m->keys = nk;
		m->vals = nv;
		m->cap = ncap;
	}
	if (!m->cap)
		return NULL;
	size_t j = str_hash(key) & (m->cap - 1);
	while (m->keys[j]) {
		if (!strcmp(m->keys[j], key))
			return &m->vals[j];
		j = (j + 1) & (m->cap - 1);
	}
	if (!create)
		return NULL;
	m->keys[j] = xstrdup(key);
	m->n++;
	return &m->vals[j];
}

/* Index of key, adding it as next_index when absent; *added tells which. */
static size_t smap_intern(struct smap *m, const char *key, size_t next_index, int *added)
{
	size_t *v = smap_slot(m, key, 0);
	*added = !v;
	if (v)
		return *v;
	v = smap_slot(m, key, 1);
	*v = next_index;
	return next_index;
}

static void smap_free(struct smap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->keys[i]);
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}

/* ---- the rows and aggregates ----------------------------------------- */

struct wrow {
	int db;
	int64_t id;
	char *run_id, *workflow, *step, *target, *outcome, *fps;
	int iteration, observations;
	double elapsed_s;
	int64_t started, finished;
	int max_np;          /* highest no-progress count seen */
	double silent_s;     /* longest stretch without a change or progressing */
	double last_change;  /* elapsed of the last change (observation scan) */
};

struct target_agg {
	char *target;
	size_t waits, met, terminal, stalled, timeout, no_output, other;
	struct dvec met_s, decide_s, gaps;
	long obs_total;
	int obs_max, max_np_met, false_aborts, false_abort_np;
	double silent_met;
	int64_t last_seen;
};

struct dep_agg {
	char *dep;
	size_t failed_waits;
	struct smap targets;
	int64_t last_seen;
};

struct day_count {
	int64_t day;
	int count;
};

struct fp_agg {
	char *fp;
	size_t count;
	struct smap runs;
	int64_t first, last;
	char *last_run;
	struct day_count *days;
	size_t ndays, days_alloc;
};

struct agg {
	struct wrow *w;
	size_t nw, walloc;
	struct target_agg *t;
	size_t nt, talloc;
	struct smap tmap;
	struct dep_agg *d;
	size_t nd, dalloc;
	struct smap dmap;
	struct fp_agg *f;
	size_t nf, falloc;
	struct smap fmap, seen;
	struct smap git;       /* "db\x1frun\x1fstep\x1fiter" -> files_changed + 1 */
	size_t runs, loops, converged;
	struct dvec conv_iters;
	struct smap needing;   /* fingerprint -> loops that needed > 1 iteration with it */
	size_t *needing_n;
	size_t nneed, need_alloc;
	cJSON *false_aborts;
};

static char *col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);
	return xstrdup(s ? (const char *)s : "");
}

static struct target_agg *target_of(struct agg *a, const char *target)
{
	int added;
	size_t i = smap_intern(&a->tmap, target, a->nt, &added);
	if (added) {
		XGROW(a->t, a->nt + 1, a->talloc);   /* a new slot is zeroed */
		a->t[a->nt++].target = xstrdup(target);
	}
	return &a->t[i];
}

/* Fingerprint occurrences are counted once per (db, run, step, iteration). */
static void fp_occurrence(struct agg *a, int db, const char *run, const char *step, int iteration,
			  const char *fp, int64_t ts)
{
	char *key = xasprintf("%d\x1f%s\x1f%s\x1f%d\x1f%s", db, run, step, iteration, fp);
	int dup;
	smap_intern(&a->seen, key, 0, &dup);
	free(key);
	if (!dup)
		return;
	int added;
	size_t i = smap_intern(&a->fmap, fp, a->nf, &added);
	if (added) {
		XGROW(a->f, a->nf + 1, a->falloc);   /* a new slot is zeroed */
		a->f[a->nf].fp = xstrdup(fp);
		a->f[a->nf].first = ts;
		a->nf++;
	}
	struct fp_agg *f = &a->f[i];
	f->count++;
	char *rk = xasprintf("%d\x1f%s", db, run);
	int newrun;
	smap_intern(&f->runs, rk, 0, &newrun);
	free(rk);
	if (ts && (!f->first || ts < f->first))
		f->first = ts;
	if (ts >= f->last) {
		f->last = ts;
		free(f->last_run);
		f->last_run = xstrdup(run);
	}
	int64_t day = ts / 86400000;
	size_t k;
	for (k = 0; k < f->ndays && f->days[k].day != day; k++)
		;
	if (k == f->ndays) {
		f->days = xgrow(f->days, sizeof(*f->days), f->ndays + 1, &f->days_alloc);
		f->days[f->ndays].day = day;
		f->days[f->ndays++].count = 0;
	}
	f->days[k].count++;
}

/* "pre/helmrelease-failed/capi" -> "helmrelease/capi"; NULL when fp names no dependency. */
static char *dependency_of(const char *fp)
{
	const char *p = fp;
	while (p && *p) {
		const char *slash = strchr(p, '/');
		if (!slash)
			break;
		size_t n = (size_t)(slash - p);
		const char *name = slash + 1;
		const char *suffixes[] = {"-failed", "-stuck"};
		for (size_t s = 0; s < 2; s++) {
			size_t sl = strlen(suffixes[s]);
			if (n > sl && !strncmp(p + n - sl, suffixes[s], sl) && *name && !strchr(name, '/'))
				return xasprintf("%.*s/%s", (int)(n - sl), p, name);
		}
		p = name;
	}
	return NULL;
}

static void dependency_failure(struct agg *a, const char *fp, const char *target, int64_t ts)
{
	char *dep = dependency_of(fp);
	if (!dep)
		return;
	int added;
	size_t i = smap_intern(&a->dmap, dep, a->nd, &added);
	if (added) {
		XGROW(a->d, a->nd + 1, a->dalloc);   /* a new slot is zeroed */
		a->d[a->nd++].dep = xstrdup(dep);
	}
	free(dep);
	struct dep_agg *d = &a->d[i];
	d->failed_waits++;
	int newt;
	smap_intern(&d->targets, target, 0, &newt);
	if (ts > d->last_seen)
		d->last_seen = ts;
}

/* ---- reading one database -------------------------------------------- */

static int db_open(const char *path, sqlite3 **out, struct wl_err *err)
{
	sqlite3 *db = NULL;
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return err_set(err, "cannot open history database '%s': no such file", path);
	fclose(fp);
	/* Read-only; a copied WAL database without its -shm in a read-only
	 * directory cannot be opened that way, so fall back to immutable. */
	for (int pass = 0; pass < 2; pass++) {
		char *uri = xasprintf("file:%s%s", path, pass ? "?immutable=1" : "?mode=ro");
		int rc = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, NULL);
		free(uri);
		if (rc == SQLITE_OK) {
			sqlite3_busy_timeout(db, 5000);
			sqlite3_stmt *st = NULL;
			rc = sqlite3_prepare_v2(db, "SELECT count(*) FROM waits, runs LIMIT 0", -1, &st, NULL);
			sqlite3_finalize(st);
			if (rc == SQLITE_OK) {
				*out = db;
				return 0;
			}
			if (pass == 1 || rc == SQLITE_ERROR) {
				err_set(err, "'%s' is not a waitloop history database (%s)", path, sqlite3_errmsg(db));
				sqlite3_close(db);
				return -1;
			}
		}
		sqlite3_close(db);
		db = NULL;
	}
	return err_set(err, "cannot open history database '%s' read-only", path);
}

/* The run filter, bound as ?1 (since), ?2 (workflow), ?3 (target). */
#define RUN_FILTER " COALESCE(r.started_at, 0) >= ?1 AND (?2 IS NULL OR r.workflow = ?2)"

static int prepare(sqlite3 *db, const char *sql, const struct insights_filter *f, int64_t since,
		   sqlite3_stmt **st, struct wl_err *err)
{
	if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK)
		return err_set(err, "history query failed: %s", sqlite3_errmsg(db));
	int np = sqlite3_bind_parameter_count(*st);
	if (np >= 1)
		sqlite3_bind_int64(*st, 1, since);
	if (np >= 2) {
		if (f->workflow)
			sqlite3_bind_text(*st, 2, f->workflow, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(*st, 2);
	}
	if (np >= 3) {
		if (f->target)
			sqlite3_bind_text(*st, 3, f->target, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(*st, 3);
	}
	return 0;
}

static int finish(sqlite3 *db, sqlite3_stmt *st, int rc, struct wl_err *err)
{
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return err_set(err, "history query failed: %s", sqlite3_errmsg(db));
	return 0;
}

static int cmp_wrow_id(const void *a, const void *b)
{
	const struct wrow *x = a, *y = b;
	if (x->db != y->db)
		return x->db - y->db;
	return (x->id > y->id) - (x->id < y->id);
}

static int read_db(struct agg *a, int dbi, sqlite3 *db, const struct insights_filter *f, int64_t since,
		   struct wl_err *err)
{
	sqlite3_stmt *st;
	int rc;

	if (prepare(db, "SELECT count(*) FROM runs r WHERE" RUN_FILTER, f, since, &st, err) < 0)
		return -1;
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		a->runs += (size_t)sqlite3_column_int64(st, 0);
		rc = sqlite3_step(st);
	}
	if (finish(db, st, rc, err) < 0)
		return -1;

	size_t first = a->nw;
	if (prepare(db,
		    "SELECT w.id, w.run_id, COALESCE(r.workflow, ''), w.step, w.iteration, COALESCE(w.target, ''),"
		    " w.outcome, COALESCE(w.elapsed_s, 0), w.observations, w.fingerprints,"
		    " COALESCE(w.started_at, 0), COALESCE(w.finished_at, 0)"
		    " FROM waits w JOIN runs r ON r.id = w.run_id"
		    " WHERE w.outcome IS NOT NULL AND" RUN_FILTER " AND (?3 IS NULL OR w.target = ?3)"
		    " ORDER BY w.id",
		    f, since, &st, err) < 0)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		XGROW(a->w, a->nw + 1, a->walloc);
		struct wrow *w = &a->w[a->nw++];   /* zeroed */
		w->db = dbi;
		w->id = sqlite3_column_int64(st, 0);
		w->run_id = col_text(st, 1);
		w->workflow = col_text(st, 2);
		w->step = col_text(st, 3);
		w->iteration = sqlite3_column_int(st, 4);
		w->target = col_text(st, 5);
		if (!*w->target) {
			free(w->target);
			w->target = xstrdup("condition");
		}
		w->outcome = col_text(st, 6);
		w->elapsed_s = sqlite3_column_double(st, 7);
		w->observations = sqlite3_column_int(st, 8);
		w->fps = col_text(st, 9);
		w->started = sqlite3_column_int64(st, 10);
		w->finished = sqlite3_column_int64(st, 11);
	}
	if (finish(db, st, rc, err) < 0)
		return -1;

	/* Observations: the longest silent stretch and the change gaps. */
	if (a->nw > first) {
		if (prepare(db,
			    "SELECT wait_id, COALESCE(elapsed_s, 0), COALESCE(changed, 0), COALESCE(no_progress, 0),"
			    " COALESCE(class, '') FROM observations"
			    " WHERE wait_id BETWEEN ?1 AND ?2 ORDER BY wait_id, seq",
			    f, 0, &st, err) < 0)
			return -1;
		sqlite3_bind_int64(st, 1, a->w[first].id);
		sqlite3_bind_int64(st, 2, a->w[a->nw - 1].id);
		struct wrow key = {.db = dbi}, *cur = NULL;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			key.id = sqlite3_column_int64(st, 0);
			if (!cur || cur->id != key.id)
				cur = bsearch(&key, a->w + first, a->nw - first, sizeof(*a->w), cmp_wrow_id);
			if (!cur)
				continue;
			double el = sqlite3_column_double(st, 1);
			int changed = sqlite3_column_int(st, 2), np = sqlite3_column_int(st, 3);
			const unsigned char *cls = sqlite3_column_text(st, 4);
			if (np > cur->max_np)
				cur->max_np = np;
			if (changed || (cls && !strcmp((const char *)cls, "progressing"))) {
				if (changed && !strcmp(cur->outcome, "met") && el > cur->last_change)
					dvec_push(&target_of(a, cur->target)->gaps, el - cur->last_change);
				cur->last_change = el;
			}
			if (el - cur->last_change > cur->silent_s)
				cur->silent_s = el - cur->last_change;
		}
		if (finish(db, st, rc, err) < 0)
			return -1;
	}

	if (prepare(db, "SELECT run_id, step, iteration, COALESCE(files_changed, 0) FROM git_snapshots", f, 0, &st,
		    err) < 0)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char *k = xasprintf("%d\x1f%s\x1f%s\x1f%d", dbi, (const char *)sqlite3_column_text(st, 0),
				    (const char *)sqlite3_column_text(st, 1), sqlite3_column_int(st, 2));
		*smap_slot(&a->git, k, 1) = (size_t)sqlite3_column_int64(st, 3) + 1;
		free(k);
	}
	if (finish(db, st, rc, err) < 0)
		return -1;

	/* Loops: iterations grouped by (run, step), in order. */
	if (prepare(db,
		    "SELECT i.run_id, i.step, i.iteration, COALESCE(i.decision, ''), i.fingerprints,"
		    " COALESCE(i.started_at, 0) FROM iterations i JOIN runs r ON r.id = i.run_id"
		    " WHERE" RUN_FILTER " ORDER BY i.run_id, i.step, i.iteration",
		    f, since, &st, err) < 0)
		return -1;
	char *grun = NULL, *gstep = NULL;
	int giter = 0, gcomplete = 0;
	struct smap gfps = {0};
	size_t ngfps = 0;
	for (;;) {
		rc = sqlite3_step(st);
		const char *run = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
		const char *step = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 1) : NULL;
		int boundary = !run || !grun || strcmp(run, grun) || strcmp(step ? step : "", gstep);
		if (boundary && grun) {
			a->loops++;
			if (gcomplete) {
				a->converged++;
				dvec_push(&a->conv_iters, giter);
			}
			if (giter > 1) {
				for (size_t k = 0; k < gfps.cap; k++) {
					if (!gfps.keys[k])
						continue;
					int added;
					size_t idx = smap_intern(&a->needing, gfps.keys[k], a->nneed, &added);
					if (added) {
						a->needing_n = xgrow(a->needing_n, sizeof(size_t), a->nneed + 1,
								     &a->need_alloc);
						a->needing_n[a->nneed++] = 0;
					}
					a->needing_n[idx]++;
				}
			}
			smap_free(&gfps);
			ngfps = 0;
			free(grun);
			free(gstep);
			grun = gstep = NULL;
		}
		if (rc != SQLITE_ROW)
			break;
		if (!grun) {
			grun = xstrdup(run);
			gstep = xstrdup(step ? step : "");
		}
		giter = sqlite3_column_int(st, 2);
		const char *decision = (const char *)sqlite3_column_text(st, 3);
		gcomplete = decision && !strcmp(decision, "complete");
		const char *fps = (const char *)sqlite3_column_text(st, 4);
		int64_t ts = sqlite3_column_int64(st, 5);
		cJSON *arr = fps ? cJSON_Parse(fps) : NULL;
		const cJSON *fp;
		cJSON_ArrayForEach(fp, arr) {
			if (!cJSON_IsString(fp))
				continue;
			fp_occurrence(a, dbi, grun, gstep, giter, fp->valuestring, ts);
			if (!gcomplete) {
				int added;
				smap_intern(&gfps, fp->valuestring, ngfps, &added);
				ngfps += (size_t)added;
			}
		}
		cJSON_Delete(arr);
	}
	smap_free(&gfps);
	return finish(db, st, rc, err);
}

/* ---- aggregation ------------------------------------------------------ */

static int cmp_wrow_group(const void *a, const void *b)
{
	const struct wrow *x = a, *y = b;
	int c;
	if (x->db != y->db)
		return x->db - y->db;
	if ((c = strcmp(x->workflow, y->workflow)) || (c = strcmp(x->step, y->step)) ||
	    (c = strcmp(x->target, y->target)))
		return c;
	if (x->started != y->started)
		return (x->started > y->started) - (x->started < y->started);
	return (x->id > y->id) - (x->id < y->id);
}

/* Did git record no changed file in iterations (from, to] of run/step? -1: unknown. */
static int nothing_changed(struct agg *a, const struct wrow *w, int to)
{
	for (int it = w->iteration + 1; it <= to; it++) {
		char *k = xasprintf("%d\x1f%s\x1f%s\x1f%d", w->db, w->run_id, w->step, it);
		size_t *v = smap_slot(&a->git, k, 0);
		free(k);
		if (!v)
			return -1;
		if (*v > 1)
			return 0;
	}
	return 1;
}

static void rfc3339(int64_t ms, char *buf, size_t size)
{
	if (ms > 0)
		time_format_rfc3339(ms, buf, size);
	else
		snprintf(buf, size, "-");
}

static void check_false_abort(struct agg *a, const struct wrow *w, const struct wrow *next,
			      const struct insights_filter *f)
{
	if (strcmp(w->outcome, "stalled") || !next || strcmp(next->outcome, "met"))
		return;
	char why[256];
	int same_run = !strcmp(w->run_id, next->run_id) && next->iteration > w->iteration;
	int quiet = same_run ? nothing_changed(a, w, next->iteration) : -1;
	if (quiet == 0)
		return;
	if (quiet == 1) {
		snprintf(why, sizeof(why), "met in iteration %d with no file changed since the stall",
			 next->iteration);
	} else {
		int64_t gap = next->started - w->finished;
		if (gap < 0 || gap > f->window_ms)
			return;
		char d[32];
		duration_format(gap - gap % 1000, d, sizeof(d));
		snprintf(why, sizeof(why), "met %s after the stall%s%s", d, same_run ? "" : " in run ",
			 same_run ? "" : next->run_id);
	}
	struct target_agg *t = target_of(a, w->target);
	t->false_aborts++;
	if (w->max_np > t->false_abort_np)
		t->false_abort_np = w->max_np;
	cJSON *o = cJSON_CreateObject();
	char ts[40];
	rfc3339(w->finished, ts, sizeof(ts));
	cJSON_AddStringToObject(o, "run_id", w->run_id);
	cJSON_AddStringToObject(o, "workflow", w->workflow);
	cJSON_AddStringToObject(o, "step", w->step);
	cJSON_AddNumberToObject(o, "iteration", w->iteration);
	cJSON_AddStringToObject(o, "target", w->target);
	cJSON_AddNumberToObject(o, "elapsed_s", w->elapsed_s);
	cJSON_AddNumberToObject(o, "observations", w->observations);
	cJSON_AddNumberToObject(o, "no_progress", w->max_np);
	cJSON_AddStringToObject(o, "stalled_at", ts);
	cJSON *fps = w->fps && *w->fps ? cJSON_Parse(w->fps) : NULL;
	cJSON_AddItemToObject(o, "fingerprints", fps ? fps : cJSON_CreateArray());
	cJSON_AddStringToObject(o, "met_run_id", next->run_id);
	cJSON_AddNumberToObject(o, "met_iteration", next->iteration);
	cJSON_AddStringToObject(o, "why", why);
	cJSON_AddItemToArray(a->false_aborts, o);
}

/* Same (db, workflow, step, target): consecutive waits on one target. */
static int same_group(const struct wrow *x, const struct wrow *y)
{
	return x->db == y->db && !strcmp(x->workflow, y->workflow) && !strcmp(x->step, y->step) &&
	       !strcmp(x->target, y->target);
}

static void aggregate_waits(struct agg *a, const struct insights_filter *f)
{
	sort(a->w, a->nw, sizeof(*a->w), cmp_wrow_group);
	for (size_t i = 0; i < a->nw; i++) {
		struct wrow *w = &a->w[i];
		struct target_agg *t = target_of(a, w->target);
		t->waits++;
		t->obs_total += w->observations;
		if (w->observations > t->obs_max)
			t->obs_max = w->observations;
		if (w->finished > t->last_seen)
			t->last_seen = w->finished;
		int met = !strcmp(w->outcome, "met");
		if (met) {
			t->met++;
			dvec_push(&t->met_s, w->elapsed_s);
			if (w->max_np > t->max_np_met)
				t->max_np_met = w->max_np;
			if (w->silent_s > t->silent_met)
				t->silent_met = w->silent_s;
		} else if (!strcmp(w->outcome, "terminal_fail")) {
			t->terminal++;
		} else if (!strcmp(w->outcome, "stalled")) {
			t->stalled++;
		} else if (!strcmp(w->outcome, "timeout")) {
			t->timeout++;
		} else if (!strcmp(w->outcome, "no_output")) {
			t->no_output++;
		} else {
			t->other++;
		}
		if (!strcmp(w->outcome, "terminal_fail") || !strcmp(w->outcome, "stalled") ||
		    !strcmp(w->outcome, "no_output"))
			dvec_push(&t->decide_s, w->elapsed_s);
		if (!met) {
			cJSON *fps = w->fps && *w->fps ? cJSON_Parse(w->fps) : NULL;
			const cJSON *fp;
			cJSON_ArrayForEach(fp, fps) {
				if (!cJSON_IsString(fp))
					continue;
				fp_occurrence(a, w->db, w->run_id, w->step, w->iteration, fp->valuestring, w->finished);
				dependency_failure(a, fp->valuestring, w->target, w->finished);
			}
			cJSON_Delete(fps);
		}
		const struct wrow *next = i + 1 < a->nw && same_group(w, &a->w[i + 1]) ? &a->w[i + 1] : NULL;
		check_false_abort(a, w, next, f);
	}
}

/* ---- the document ----------------------------------------------------- */

static cJSON *percentiles(struct dvec *d)
{
	sort(d->v, d->n, sizeof(*d->v), cmp_double);
	cJSON *o = cJSON_CreateObject();
	if (!d->n) {
		cJSON_AddNullToObject(o, "p50");
		cJSON_AddNullToObject(o, "p90");
		cJSON_AddNullToObject(o, "p99");
		cJSON_AddNullToObject(o, "max");
		return o;
	}
	cJSON_AddNumberToObject(o, "p50", pct(d, 50));
	cJSON_AddNumberToObject(o, "p90", pct(d, 90));
	cJSON_AddNumberToObject(o, "p99", pct(d, 99));
	cJSON_AddNumberToObject(o, "max", d->v[d->n - 1]);
	return o;
}

/* Counts of a sorted vector in buckets by upper bound (seconds); the last is open. */
static cJSON *histogram(const struct dvec *d)
{
	static const double bounds[] = {1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 3600};
	const size_t nb = sizeof(bounds) / sizeof(bounds[0]);
	cJSON *arr = cJSON_CreateArray();
	size_t k = 0;
	for (size_t b = 0; b <= nb; b++) {
		size_t n = 0;
		while (k < d->n && (b == nb || d->v[k] <= bounds[b])) {
			n++;
			k++;
		}
		cJSON *o = cJSON_CreateObject();
		if (b < nb)
			cJSON_AddNumberToObject(o, "le", bounds[b]);
		else
			cJSON_AddNullToObject(o, "le");
		cJSON_AddNumberToObject(o, "count", (double)n);
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}

static int cmp_target(const void *a, const void *b)
{
	const struct target_agg *x = a, *y = b;
	size_t fx = x->waits - x->met, fy = y->waits - y->met;
	if (fx != fy)
		return fx < fy ? 1 : -1;
	if (x->waits != y->waits)
		return x->waits < y->waits ? 1 : -1;
	return strcmp(x->target, y->target);
}

static int cmp_dep(const void *a, const void *b)
{
	const struct dep_agg *x = a, *y = b;
	if (x->failed_waits != y->failed_waits)
		return x->failed_waits < y->failed_waits ? 1 : -1;
	return strcmp(x->dep, y->dep);
}

static int cmp_fp(const void *a, const void *b)
{
	const struct fp_agg *x = a, *y = b;
	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return strcmp(x->fp, y->fp);
}

static int cmp_day(const void *a, const void *b)
{
	const struct day_count *x = a, *y = b;
	return (x->day > y->day) - (x->day < y->day);
}

#define TOP_FINGERPRINTS 20

static cJSON *build_document(struct agg *a, const char *const *dbs, size_t ndbs,
			     const struct insights_filter *f)
{
	cJSON *doc = cJSON_CreateObject();
	cJSON_AddStringToObject(doc, "schema", "waitloop.stats.v1");
	cJSON *jd = cJSON_AddArrayToObject(doc, "databases");
	for (size_t i = 0; i < ndbs; i++)
		cJSON_AddItemToArray(jd, cJSON_CreateString(dbs[i]));
	cJSON *filt = cJSON_AddObjectToObject(doc, "filter");
	if (f->since_ms > 0) {
		char d[32];
		duration_format(f->since_ms, d, sizeof(d));
		cJSON_AddStringToObject(filt, "since", d);
	} else {
		cJSON_AddNullToObject(filt, "since");
	}
	json_add_string_or_null(filt, "workflow", f->workflow);
	json_add_string_or_null(filt, "target", f->target);
	cJSON_AddNumberToObject(doc, "runs", (double)a->runs);
	cJSON_AddNumberToObject(doc, "waits", (double)a->nw);

	sort(a->t, a->nt, sizeof(*a->t), cmp_target);
	cJSON *jt = cJSON_AddArrayToObject(doc, "targets");
	for (size_t i = 0; i < a->nt; i++) {
		struct target_agg *t = &a->t[i];
		cJSON *o = cJSON_CreateObject();
		char ts[40];
		cJSON_AddStringToObject(o, "target", t->target);
		cJSON_AddNumberToObject(o, "waits", (double)t->waits);
		cJSON_AddNumberToObject(o, "met", (double)t->met);
		cJSON_AddNumberToObject(o, "terminal_fail", (double)t->terminal);
		cJSON_AddNumberToObject(o, "stalled", (double)t->stalled);
		cJSON_AddNumberToObject(o, "timeout", (double)t->timeout);
		cJSON_AddNumberToObject(o, "no_output", (double)t->no_output);
		cJSON_AddNumberToObject(o, "failures", (double)(t->waits - t->met));
		cJSON_AddItemToObject(o, "time_to_met_s", percentiles(&t->met_s));
		cJSON_AddItemToObject(o, "time_to_met_histogram", histogram(&t->met_s));
		cJSON_AddItemToObject(o, "time_to_decision_s", percentiles(&t->decide_s));
		cJSON_AddNumberToObject(o, "observations_per_wait",
					t->waits ? round((double)t->obs_total / (double)t->waits * 10) / 10 : 0);
		cJSON_AddNumberToObject(o, "observations_max", t->obs_max);
		sort(t->gaps.v, t->gaps.n, sizeof(double), cmp_double);
		if (t->gaps.n)
			cJSON_AddNumberToObject(o, "change_interval_s", pct(&t->gaps, 50));
		else
			cJSON_AddNullToObject(o, "change_interval_s");
		cJSON_AddNumberToObject(o, "longest_silent_met_s", t->silent_met);
		cJSON_AddNumberToObject(o, "max_no_progress_met", t->max_np_met);
		cJSON_AddNumberToObject(o, "suspected_false_aborts", t->false_aborts);
		cJSON_AddNumberToObject(o, "false_abort_no_progress", t->false_abort_np);
		rfc3339(t->last_seen, ts, sizeof(ts));
		cJSON_AddStringToObject(o, "last_seen", ts);
		cJSON_AddItemToArray(jt, o);
	}

	sort(a->d, a->nd, sizeof(*a->d), cmp_dep);
	cJSON *jdep = cJSON_AddArrayToObject(doc, "dependencies");
	for (size_t i = 0; i < a->nd; i++) {
		cJSON *o = cJSON_CreateObject();
		char ts[40];
		cJSON_AddStringToObject(o, "dependency", a->d[i].dep);
		cJSON_AddNumberToObject(o, "failed_waits", (double)a->d[i].failed_waits);
		cJSON *targets = cJSON_AddArrayToObject(o, "targets");
		for (size_t k = 0; k < a->d[i].targets.cap; k++)
			if (a->d[i].targets.keys[k])
				cJSON_AddItemToArray(targets, cJSON_CreateString(a->d[i].targets.keys[k]));
		rfc3339(a->d[i].last_seen, ts, sizeof(ts));
		cJSON_AddStringToObject(o, "last_seen", ts);
		cJSON_AddItemToArray(jdep, o);
	}

	sort(a->f, a->nf, sizeof(*a->f), cmp_fp);
	cJSON *jf = cJSON_AddArrayToObject(doc, "fingerprints");
	for (size_t i = 0; i < a->nf && i < TOP_FINGERPRINTS; i++) {
		struct fp_agg *fa = &a->f[i];
		cJSON *o = cJSON_CreateObject();
		char t1[40], t2[40];
		rfc3339(fa->first, t1, sizeof(t1));
		rfc3339(fa->last, t2, sizeof(t2));
		cJSON_AddStringToObject(o, "fingerprint", fa->fp);
		cJSON_AddNumberToObject(o, "count", (double)fa->count);
		cJSON_AddNumberToObject(o, "runs", (double)fa->runs.n);
		cJSON_AddStringToObject(o, "first_seen", t1);
		cJSON_AddStringToObject(o, "last_seen", t2);
		cJSON_AddStringToObject(o, "last_run", fa->last_run ? fa->last_run : "");
		sort(fa->days, fa->ndays, sizeof(*fa->days), cmp_day);
		cJSON *days = cJSON_AddArrayToObject(o, "per_day");
		for (size_t k = 0; k < fa->ndays; k++) {
			char d[40];
			time_format_rfc3339(fa->days[k].day * 86400000, d, sizeof(d));
			d[10] = 0;
			cJSON *e = cJSON_CreateObject();
			cJSON_AddStringToObject(e, "day", d);
			cJSON_AddNumberToObject(e, "count", fa->days[k].count);
			cJSON_AddItemToArray(days, e);
		}
		cJSON_AddItemToArray(jf, o);
	}

	cJSON *jl = cJSON_AddObjectToObject(doc, "loops");
	cJSON_AddNumberToObject(jl, "loops", (double)a->loops);
	cJSON_AddNumberToObject(jl, "converged", (double)a->converged);
	cJSON_AddItemToObject(jl, "iterations_to_convergence", percentiles(&a->conv_iters));
	cJSON *need = cJSON_AddArrayToObject(jl, "fingerprints_needing_more_iterations");
	/* Sorted by loops, then name. */
	size_t *order = xcalloc(a->nneed ? a->nneed : 1, sizeof(size_t));
	const char **names = xcalloc(a->nneed ? a->nneed : 1, sizeof(char *));
	for (size_t k = 0; k < a->needing.cap; k++)
		if (a->needing.keys[k])
			names[a->needing.vals[k]] = a->needing.keys[k];
	for (size_t k = 0; k < a->nneed; k++)
		order[k] = k;
	for (size_t x = 1; x < a->nneed; x++)
		for (size_t y = x; y > 0; y--) {
			size_t p = order[y - 1], q = order[y];
			if (a->needing_n[p] > a->needing_n[q] ||
			    (a->needing_n[p] == a->needing_n[q] && strcmp(names[p], names[q]) <= 0))
				break;
			order[y - 1] = q;
			order[y] = p;
		}
	for (size_t k = 0; k < a->nneed && k < TOP_FINGERPRINTS; k++) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "fingerprint", names[order[k]]);
		cJSON_AddNumberToObject(o, "loops", (double)a->needing_n[order[k]]);
		cJSON_AddItemToArray(need, o);
	}
	free(order);
	free(names);

	cJSON_AddItemToObject(doc, "suspected_false_aborts", a->false_aborts);
	a->false_aborts = NULL;
	return doc;
}

static void agg_release(struct agg *a)
{
	for (size_t i = 0; i < a->nw; i++) {
		struct wrow *w = &a->w[i];
		free(w->run_id);
		free(w->workflow);
		free(w->step);
		free(w->target);
		free(w->outcome);
		free(w->fps);
	}
	free(a->w);
	for (size_t i = 0; i < a->nt; i++) {
		free(a->t[i].target);
		free(a->t[i].met_s.v);
		free(a->t[i].decide_s.v);
		free(a->t[i].gaps.v);
	}
	free(a->t);
	for (size_t i = 0; i < a->nd; i++) {
		free(a->d[i].dep);
		smap_free(&a->d[i].targets);
	}
	free(a->d);
	for (size_t i = 0; i < a->nf; i++) {
		free(a->f[i].fp);
		free(a->f[i].last_run);
		free(a->f[i].days);
		smap_free(&a->f[i].runs);
	}
	free(a->f);
	smap_free(&a->tmap);
	smap_free(&a->dmap);
	smap_free(&a->fmap);
	smap_free(&a->seen);
	smap_free(&a->git);
	smap_free(&a->needing);
	free(a->needing_n);
	free(a->conv_iters.v);
	cJSON_Delete(a->false_aborts);
}

cJSON *insights_collect(const char *const *dbs, size_t ndbs, const struct insights_filter *f,
			struct wl_err *err)
{
	struct agg a;
	memset(&a, 0, sizeof(a));
	a.false_aborts = cJSON_CreateArray();
	int64_t now = f->now_ms ? f->now_ms : time_wall_ms();
	int64_t since = f->since_ms > 0 ? now - f->since_ms : -1;
	cJSON *doc = NULL;
	for (size_t i = 0; i < ndbs; i++) {
		sqlite3 *db = NULL;
		if (db_open(dbs[i], &db, err) < 0)
			goto out;
		int rc = read_db(&a, (int)i, db, f, since, err);
		sqlite3_close(db);
		if (rc < 0) {
			err_prefix(err, "'%s'", dbs[i]);
			goto out;
		}
	}
	aggregate_waits(&a, f);
	doc = build_document(&a, dbs, ndbs, f);
out:
	agg_release(&a);
	return doc;
}

/* ---- suggestions ------------------------------------------------------- */

/* Round seconds up to a duration a person would write. */
static int64_t nice_ms(double s)
{
	double step = s <= 10 ? 1 : s <= 120 ? 5 : s <= 600 ? 10 : s <= 1200 ? 30 : 60;
	double r = ceil(s / step) * step;
	return (int64_t)(r < 1 ? 1000 : r * 1000);
}

cJSON *insights_suggest(const cJSON *stats, const char *target, int min_met, struct wl_err *err)
{
	const cJSON *t = NULL, *it;
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(stats, "targets")) {
		const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(it, "target"));
		if (name && !strcmp(name, target))
			t = it;
	}
	if (!t) {
		err_set(err, "no wait on target '%s' in the history", target);
		return NULL;
	}
	int met = (int)json_get_number(t, "met", -1);
	if (met < min_met) {
		err_set(err, "only %d met wait%s on '%s' in the history (need at least %d): not enough evidence to suggest settings",
			met, met == 1 ? "" : "s", target, min_met);
		return NULL;
	}
	const cJSON *ttm = cJSON_GetObjectItemCaseSensitive(t, "time_to_met_s");
	double p99 = json_get_number(ttm, "p99", -1), change = json_get_number(t, "change_interval_s", -1), silent = json_get_number(t, "longest_silent_met_s", -1);
	int np_met = (int)json_get_number(t, "max_no_progress_met", -1), np_fa = (int)json_get_number(t, "false_abort_no_progress", -1);

	/* max_wait: p99 time to met with a 25% margin (at least 10 s more). */
	double max_wait_s = p99 * 1.25 > p99 + 10 ? p99 * 1.25 : p99 + 10;
	/* interval: a third of the typical time between state changes, 1 s .. 60 s. */
	double interval_s = change > 0 ? change / 3 : 10;
	interval_s = interval_s < 1 ? 1 : interval_s > 60 ? 60 : interval_s;
	/* stall_threshold: half again the longest silence that still ended met,
	 * and above every stall that turned out premature. */
	int base = np_met > np_fa ? np_met : np_fa;
	int threshold = (int)ceil(base * 1.5) + 1;
	if (threshold < 3)
		threshold = 3;
	double deadline_s = silent * 1.5 > 60 ? silent * 1.5 : 60;

	cJSON *o = cJSON_CreateObject();
	char d[32];
	cJSON_AddStringToObject(o, "target", target);
	cJSON_AddNumberToObject(o, "met_samples", met);
	cJSON *wp = cJSON_AddObjectToObject(o, "wait_policy");
	duration_format(nice_ms(max_wait_s), d, sizeof(d));
	cJSON_AddStringToObject(wp, "max_wait", d);
	duration_format(nice_ms(interval_s), d, sizeof(d));
	cJSON_AddStringToObject(wp, "interval", d);
	cJSON_AddNumberToObject(wp, "stall_threshold", threshold);
	duration_format(nice_ms(deadline_s), d, sizeof(d));
	cJSON_AddStringToObject(wp, "progress_deadline", d);
	cJSON *from = cJSON_AddObjectToObject(o, "from");
	cJSON_AddNumberToObject(from, "time_to_met_p50_s", json_get_number(ttm, "p50", -1));
	cJSON_AddNumberToObject(from, "time_to_met_p99_s", p99);
	cJSON_AddNumberToObject(from, "time_to_met_max_s", json_get_number(ttm, "max", -1));
	if (change > 0)
		cJSON_AddNumberToObject(from, "change_interval_s", change);
	else
		cJSON_AddNullToObject(from, "change_interval_s");
	cJSON_AddNumberToObject(from, "longest_silent_met_s", silent);
	cJSON_AddNumberToObject(from, "max_no_progress_met", np_met);
	cJSON_AddNumberToObject(from, "suspected_false_aborts", json_get_number(t, "suspected_false_aborts", -1));
	cJSON_AddNumberToObject(from, "false_abort_no_progress", np_fa);
	return o;
}
