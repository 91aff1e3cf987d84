#include "convergence.h"

#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"
#include "strbuf.h"
#include "timeutil.h"
#include "xalloc.h"

/* Iterations kept in convergence.json (the newest). */
#define MAX_RECORDED 200

struct conv_record {
	int iteration;
	int stage;
	int repeat;            /* streak length including this iteration */
	int changed_files;     /* -1 unknown */
	struct strvec fingerprints;
};

struct conv_transition {
	int iteration;
	int from, to;
	struct strvec fingerprints;
};

struct convergence {
	const struct wl_convergence *cfg;
	char *step;
	char *path;
	int enabled;
	int stall_threshold, max_stage, fail_on_max_stage, no_change_limit;
	int stage;
	int streak;
	struct strvec last;            /* previous iteration's set */
	int no_change;                 /* iterations in a row without changes */
	int stopped;
	const char *stop_fp;
	char *diagnosis;
	int diagnosis_iteration;
	struct conv_record *recs;
	size_t nrecs, recs_alloc;
	struct conv_transition *trans;
	size_t ntrans, trans_alloc;
};

static const char *const builtin_stage_text[] = {
	NULL,
	NULL,
	/* stage 2 */
	"## Convergence: stage 2 — the same failure repeated\n"
	"The last iterations failed with exactly the same fingerprints. Repeating the previous\n"
	"approach will fail again. Re-read fix.md from the top, find the root cause of the FIRST\n"
	"reason (not its symptoms), and change your approach. Do not edit the check to make it pass.\n",
	/* stage 3 */
	"## Convergence: stage 3 — last attempt before the loop stops\n"
	"The same failure has repeated through every stage. Make the smallest change that can\n"
	"plausibly fix the first fingerprint, and if the cause is outside the workspace (a cluster,\n"
	"a credential, an external service), say so plainly in your output instead of changing code.\n",
};

struct convergence *convergence_new(const struct wl_convergence *cfg, const char *step, const char *json_path)
{
	struct convergence *c = xcalloc(1, sizeof(*c));
	c->cfg = cfg;
	c->step = xstrdup(step ? step : "");
	c->path = xstrdup(json_path);
	c->enabled = cfg && cfg->present && cfg->enabled != 0;
	c->stall_threshold = cfg && cfg->stall_threshold > 0 ? cfg->stall_threshold : CONVERGENCE_DEFAULT_STALL_THRESHOLD;
	c->max_stage = cfg && cfg->max_stage > 0 ? cfg->max_stage : CONVERGENCE_DEFAULT_MAX_STAGE;
	c->fail_on_max_stage = cfg && cfg->fail_on_max_stage == 0 ? 0 : 1;
	c->no_change_limit = cfg && cfg->no_change_limit > 0 ? cfg->no_change_limit : 0;
	c->stage = 1;
	return c;
}

void convergence_free(struct convergence *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nrecs; i++)
		strvec_clear(&c->recs[i].fingerprints);
	for (size_t i = 0; i < c->ntrans; i++)
		strvec_clear(&c->trans[i].fingerprints);
	free(c->recs);
	free(c->trans);
	strvec_clear(&c->last);
	free(c->diagnosis);
	free(c->step);
	free(c->path);
	free(c);
}

int convergence_enabled(const struct convergence *c)
{
	return c->enabled;
}

int convergence_stage(const struct convergence *c)
{
	return c->stage;
}

int convergence_stopped(const struct convergence *c)
{
	return c->stopped;
}

const char *convergence_diagnosis(const struct convergence *c)
{
	return c->diagnosis;
}

const char *convergence_stop_fingerprint(const struct convergence *c)
{
	return c->stopped ? c->stop_fp : NULL;
}

static int same_set(const struct strvec *a, const struct strvec *b)
{
	if (a->n != b->n)
		return 0;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]))
			return 0;
	return 1;
}

static char *join_fps(const struct strvec *fps, size_t max)
{
	struct strbuf sb = STRBUF_INIT;
	for (size_t i = 0; i < fps->n && i < max; i++)
		strbuf_addf(&sb, "%s%s", i ? ", " : "", fps->v[i]);
	if (fps->n > max)
		strbuf_addf(&sb, ", … (%zu in all)", fps->n);
	return strbuf_detach(&sb);
}

static struct conv_record *record(struct convergence *c, int iteration)
{
	if (c->nrecs && c->recs[c->nrecs - 1].iteration == iteration)
		return &c->recs[c->nrecs - 1];
	if (c->nrecs == MAX_RECORDED) {
		strvec_clear(&c->recs[0].fingerprints);
		memmove(c->recs, c->recs + 1, (c->nrecs - 1) * sizeof(*c->recs));
		c->nrecs--;
	}
	XGROW(c->recs, c->nrecs + 1, c->recs_alloc);
	struct conv_record *r = &c->recs[c->nrecs++];
	memset(r, 0, sizeof(*r));
	r->iteration = iteration;
	r->changed_files = -1;
	return r;
}

static void set_diagnosis(struct convergence *c, int iteration, char *text)
{
	free(c->diagnosis);
	c->diagnosis = text;
	c->diagnosis_iteration = iteration;
}

enum convergence_status convergence_observe(struct convergence *c, int iteration, const struct strvec *fingerprints)
{
	if (!c->enabled)
		return CONVERGENCE_CONTINUE;
	if (c->stopped)
		return CONVERGENCE_STOP;
	struct strvec set = STRVEC_INIT;
	if (fingerprints)
		strvec_copy(&set, fingerprints);
	strvec_sort_unique(&set);

	if (!set.n)
		c->streak = 0;
	else if (c->streak && same_set(&set, &c->last))
		c->streak++;
	else
		c->streak = 1;
	strvec_clear(&c->last);
	strvec_copy(&c->last, &set);

	enum convergence_status st = CONVERGENCE_CONTINUE;
	if (c->streak >= c->stall_threshold) {
		char *fps = join_fps(&set, 5);
		if (c->stage + 1 > c->max_stage) {
			if (c->fail_on_max_stage) {
				c->stopped = 1;
				c->stop_fp = CONVERGENCE_FP_NOT_CONVERGING;
				st = CONVERGENCE_STOP;
				set_diagnosis(c, iteration,
					      xasprintf("not converging: the same failure (%s) repeated %d iterations in a row "
							"at every stage up to max_stage %d; stopped at iteration %d",
							fps, c->stall_threshold, c->max_stage, iteration));
			} else {
				set_diagnosis(c, iteration,
					      xasprintf("not converging: the same failure (%s) repeats at max_stage %d; "
							"going on because fail_on_max_stage is false",
							fps, c->max_stage));
			}
		} else {
			XGROW(c->trans, c->ntrans + 1, c->trans_alloc);
			struct conv_transition *t = &c->trans[c->ntrans++];
			t->iteration = iteration;
			t->from = c->stage;
			t->to = c->stage + 1;
			memset(&t->fingerprints, 0, sizeof(t->fingerprints));
			strvec_copy(&t->fingerprints, &set);
			c->stage++;
			st = CONVERGENCE_STAGE_UP;
		}
		c->streak = 1;
		free(fps);
	}
	struct conv_record *r = record(c, iteration);
	strvec_clear(&r->fingerprints);
	strvec_copy(&r->fingerprints, &set);
	r->stage = c->stage;
	r->repeat = c->streak;
	strvec_clear(&set);
	return st;
}

enum convergence_status convergence_note_changes(struct convergence *c, int iteration, int n_changed_files)
{
	if (!c->enabled)
		return CONVERGENCE_CONTINUE;
	if (c->stopped)
		return CONVERGENCE_STOP;
	record(c, iteration)->changed_files = n_changed_files;
	if (n_changed_files < 0 || !c->no_change_limit)
		return CONVERGENCE_CONTINUE;
	c->no_change = n_changed_files == 0 ? c->no_change + 1 : 0;
	if (c->no_change < c->no_change_limit)
		return CONVERGENCE_CONTINUE;
	c->stopped = 1;
	c->stop_fp = CONVERGENCE_FP_NO_CHANGE;
	set_diagnosis(c, iteration,
		      xasprintf("no progress: the implementer changed no file in the workspace for %d iteration%s "
				"in a row (no_change_limit %d); stopped at iteration %d",
				c->no_change, c->no_change == 1 ? "" : "s", c->no_change_limit, iteration));
	return CONVERGENCE_STOP;
}

const char *convergence_stage_instructions(const struct wl_convergence *cfg, int stage)
{
	if (cfg)
		for (size_t i = 0; i < cfg->nstages; i++)
			if (cfg->stages[i].stage == stage && cfg->stages[i].append_instructions)
				return cfg->stages[i].append_instructions;
	int n = (int)(sizeof(builtin_stage_text) / sizeof(builtin_stage_text[0]));
	if (stage < 0)
		return NULL;
	return builtin_stage_text[stage < n ? stage : n - 1];
}

const char *convergence_append_instructions(const struct convergence *c)
{
	if (!c->enabled)
		return NULL;
	return convergence_stage_instructions(c->cfg, c->stage);
}

int convergence_write(const struct convergence *c, struct wl_err *err)
{
	if (!c->enabled || !c->path)
		return 0;
	char ts[40];
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "schema", CONVERGENCE_SCHEMA);
	cJSON_AddStringToObject(o, "step", c->step);
	cJSON_AddNumberToObject(o, "stage", c->stage);
	cJSON_AddStringToObject(o, "status", c->stopped ? "stopped" : c->diagnosis ? "not_converging"
								  : c->stage > 1 ? "escalated" : "ok");
	cJSON *s = cJSON_AddObjectToObject(o, "settings");
	cJSON_AddNumberToObject(s, "stall_threshold", c->stall_threshold);
	cJSON_AddNumberToObject(s, "max_stage", c->max_stage);
	cJSON_AddBoolToObject(s, "fail_on_max_stage", c->fail_on_max_stage);
	if (c->no_change_limit)
		cJSON_AddNumberToObject(s, "no_change_limit", c->no_change_limit);
	else
		cJSON_AddNullToObject(s, "no_change_limit");

	cJSON *its = cJSON_AddArrayToObject(o, "iterations");
	for (size_t i = 0; i < c->nrecs; i++) {
		const struct conv_record *r = &c->recs[i];
		cJSON *e = cJSON_CreateObject();
		cJSON_AddNumberToObject(e, "iteration", r->iteration);
		cJSON_AddNumberToObject(e, "stage", r->stage ? r->stage : c->stage);
		cJSON_AddNumberToObject(e, "repeat", r->repeat);
		cJSON_AddItemToObject(e, "fingerprints", json_string_array(&r->fingerprints));
		if (r->changed_files >= 0)
			cJSON_AddNumberToObject(e, "changed_files", r->changed_files);
		cJSON_AddItemToArray(its, e);
	}
	cJSON *tr = cJSON_AddArrayToObject(o, "transitions");
	for (size_t i = 0; i < c->ntrans; i++) {
		const struct conv_transition *t = &c->trans[i];
		cJSON *e = cJSON_CreateObject();
		cJSON_AddNumberToObject(e, "iteration", t->iteration);
		cJSON_AddNumberToObject(e, "from_stage", t->from);
		cJSON_AddNumberToObject(e, "to_stage", t->to);
		cJSON_AddItemToObject(e, "fingerprints", json_string_array(&t->fingerprints));
		cJSON_AddItemToArray(tr, e);
	}
	if (c->diagnosis) {
		cJSON *d = cJSON_AddObjectToObject(o, "diagnosis");
		cJSON_AddStringToObject(d, "message", c->diagnosis);
		cJSON_AddNumberToObject(d, "iteration", c->diagnosis_iteration);
		cJSON_AddBoolToObject(d, "stopped", c->stopped);
		if (c->stopped)
			cJSON_AddStringToObject(d, "fingerprint", c->stop_fp);
		cJSON_AddItemToObject(d, "repeating_fingerprints", json_string_array(&c->last));
	} else {
		cJSON_AddNullToObject(o, "diagnosis");
	}
	time_format_rfc3339(time_wall_ms(), ts, sizeof(ts));
	cJSON_AddStringToObject(o, "updated_at", ts);
	int rc = json_write_atomic(c->path, o, err);
	cJSON_Delete(o);
	return rc;
}
