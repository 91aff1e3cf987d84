#include "classify.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jpath.h"
#include "jsonutil.h"
#include "kstatus.h"
#include "pattern.h"
#include "redact.h"
#include "strbuf.h"
#include "timeutil.h"
#include "xalloc.h"

#define NGROUPS 10
#define FP_MAX 200
#define KUBE_TLS_AFTER 5
#define KUBE_EVENT_REPEAT 5
#define KUBE_MAX_OBJECTS 256
#define KUBE_SLACK_MAX_MS 30000

struct ktrack {
	char *key;                 /* kind/namespace/name */
	char *state;               /* status and resourceVersion (or reason and message) */
	int64_t since;             /* wall ms: first seen in this state */
};

struct crule {
	const struct wl_rule *r;   /* borrowed from the settings, with its compiled match */
	int streak;                /* matching observations in a row */
};

/* The builtin kubernetes set's patterns: compiled once per process, on first use. */
struct kpatterns {
	struct pattern auth, notfound, tls, api;
};

struct classifier {
	const struct wl_wait_policy *pol;   /* the resolved settings' policy (borrowed) */
	struct crule *rules;
	size_t nrules;
	const struct kpatterns *k;          /* NULL unless builtin: kubernetes */
	int tls_streak;
	struct ktrack *track;      /* InProgress objects seen, bounded by KUBE_MAX_OBJECTS */
	size_t ntrack;
	struct strvec limit_seen;     /* sources of patterns that hit a match limit (reported once) */
	struct strvec limit_pending;  /* their warnings, until classifier_take_warnings() */
};

/* What a rule match captured, for fingerprint templates. */
struct capture {
	char *group[NGROUPS];      /* regex groups 1..9 */
	int idx[JPATH_MAX_WILD];   /* `[*]` indices of the first matching field element */
	int nidx;
};

static void capture_release(struct capture *cap)
{
	for (int i = 0; i < NGROUPS; i++)
		free(cap->group[i]);
	memset(cap, 0, sizeof(*cap));
}

void classification_release(struct classification *c)
{
	strvec_clear(&c->fingerprints);
	strvec_clear(&c->reasons);
	strvec_clear(&c->hints);
	free(c->rule);
	memset(c, 0, sizeof(*c));
}

char *fingerprint_prefixed(const char *prefix, const char *fp)
{
	if (!prefix || !*prefix)
		return xstrdup(fp);
	size_t pl = strlen(prefix);
	while (pl && prefix[pl - 1] == '/')
		pl--;
	return xasprintf("%.*s/%s", (int)pl, prefix, fp);
}

/* Fingerprints are short and comparable: no whitespace or control bytes, bounded. */
static char *fp_clean(const char *s)
{
	struct strbuf sb = STRBUF_INIT;
	for (; *s && sb.len < FP_MAX; s++) {
		unsigned char ch = (unsigned char)*s;
		strbuf_addch(&sb, (isspace(ch) || iscntrl(ch) || ch == '"') ? '-' : (char)ch);
	}
	return strbuf_detach(&sb);
}

/* Lower-cased for fingerprints; the redaction marker is kept as is, so a
 * normalised fingerprint still shows what was redacted (redact.h). */
static char *lower_dup(const char *s)
{
	char *d = xstrdup(s ? s : "");
	for (char *p = d; *p; p++) {
		if (!strncmp(p, REDACTED, sizeof(REDACTED) - 1)) {
			p += sizeof(REDACTED) - 2;
			continue;
		}
		*p = (char)tolower((unsigned char)*p);
	}
	return d;
}

static void add_fp(const struct classifier *c, struct classification *out, const char *raw)
{
	char *clean = fp_clean(raw);
	if (*clean)
		strvec_push_owned(&out->fingerprints, fingerprint_prefixed(c->pol->fingerprint_prefix, clean));
	free(clean);
}

static void decide(struct classification *out, enum obs_class class, const char *rule)
{
	out->class = class;
	free(out->rule);
	out->rule = xstrdup(rule);
}

static const struct kpatterns *kube_patterns(struct wl_err *err)
{
	static struct kpatterns kp;
	static int state;   /* 0 not yet, 1 compiled, -1 failed */
	if (state == 0) {
		int ok = pattern_compile(&kp.auth,
					 "(Error from server|You must be logged in to the server) \\((Forbidden|Unauthorized)\\)",
					 err) == 0 &&
			 pattern_compile(&kp.notfound, "(?i)\\(NotFound\\)|not ?found", err) == 0 &&
			 pattern_compile(&kp.tls,
					 "(?i)x509|tls: |tls handshake|failed calling webhook|certificate signed by unknown authority",
					 err) == 0 &&
			 pattern_compile(&kp.api,
					 "(?i)connection to the server [^ ]+ was refused|connect: connection refused|"
					 "\\(ServiceUnavailable\\)|the server is currently unable to handle the request|"
					 "503 Service Unavailable|Unable to connect to the server|tls handshake timeout|"
					 "connection reset by peer|unexpected EOF|: EOF|etcdserver: (request timed out|leader changed)|"
					 "http2: client connection lost|i/o timeout",
					 err) == 0;
		state = ok ? 1 : -1;
		if (!ok)
			return NULL;
	}
	if (state < 0)
		err_set(err, "the builtin kubernetes patterns do not compile");
	return state > 0 ? &kp : NULL;
}

struct classifier *classifier_new(const struct wait_settings *settings, struct wl_err *err)
{
	const struct wl_wait_policy *policy = &settings->p;
	if (policy->nterminal_re != policy->terminal_patterns.n) {
		err_set(err, "terminal_patterns are not compiled (wait_policy_compile)");
		return NULL;
	}
	for (size_t i = 0; i < policy->nterminal_re; i++)
		if (!policy->terminal_re[i]) {
			err_set(err, "terminal_patterns[%zu] is not compiled (wait_policy_compile)", i);
			return NULL;
		}
	for (size_t i = 0; i < policy->nrules; i++)
		if (policy->rules[i].match && !policy->rules[i].re) {
			err_set(err, "rules[%zu].match is not compiled (wait_policy_compile)", i);
			return NULL;
		}
	const struct kpatterns *k = NULL;
	if (policy->builtin) {
		if (strcmp(policy->builtin, "kubernetes")) {
			err_set(err, "unknown builtin rule set '%s' (known: kubernetes)", policy->builtin);
			return NULL;
		}
		if (!(k = kube_patterns(err)))
			return NULL;
	}
	struct classifier *c = xcalloc(1, sizeof(*c));
	c->pol = policy;
	c->k = k;
	c->rules = policy->nrules ? xcalloc(policy->nrules, sizeof(*c->rules)) : NULL;
	for (size_t i = 0; i < policy->nrules; i++, c->nrules++)
		c->rules[i].r = &policy->rules[i];
	return c;
}

void classifier_free(struct classifier *c)
{
	if (!c)
		return;
	free(c->rules);
	for (size_t i = 0; i < c->ntrack; i++) {
		free(c->track[i].key);
		free(c->track[i].state);
	}
	free(c->track);
	strvec_clear(&c->limit_seen);
	strvec_clear(&c->limit_pending);
	free(c);
}

/* The texts of an observation, in order: condition, probe, guarded output. */
static int texts_of(const struct obs_input *in, const char *t[4], const char *name[4])
{
	int n = 0;
	if (in->condition_output) {
		t[n] = in->condition_output;
		name[n++] = "the condition output";
	}
	if (in->probe_output) {
		t[n] = in->probe_output;
		name[n++] = "the probe output";
	}
	if (in->guard_output) {
		t[n] = in->guard_output;
		name[n++] = "the guarded process output";
	}
	if (in->probe_error_output) {
		t[n] = in->probe_error_output;
		name[n++] = "the failed probe's output";
	}
	return n;
}

/* A pattern hit a match limit: counted as no match, reported once per pattern. */
static void note_limit(struct classifier *c, const char *what, const struct pattern *p, const char *text)
{
	for (size_t i = 0; i < c->limit_seen.n; i++)
		if (!strcmp(c->limit_seen.v[i], p->source))
			return;
	strvec_push(&c->limit_seen, p->source);
	strvec_pushf(&c->limit_pending,
		     "%s '%s' hit the regex match limit on %s and counts as no match "
		     "(see \"Pattern dialect\" in docs/wait_policy.md)",
		     what, p->source, text);
}

/* Does p match one of the texts? Fills groups from the first match; returns the text index or -1. */
static int match_texts(struct classifier *c, const char *what, const struct pattern *p,
		       const struct obs_input *in, struct capture *cap, char **matched)
{
	const char *t[4], *name[4];
	int n = texts_of(in, t, name);
	regmatch_t m[NGROUPS];
	for (int i = 0; i < n; i++) {
		enum pattern_result pr = pattern_exec(p, t[i], strlen(t[i]), 0, m, NGROUPS);
		if (pr == PATTERN_LIMIT)
			note_limit(c, what, p, name[i]);
		if (pr != PATTERN_MATCH)
			continue;
		if (cap)
			for (int g = 1; g < NGROUPS; g++)
				if (m[g].rm_so >= 0)
					cap->group[g] = xstrndup(t[i] + m[g].rm_so, (size_t)(m[g].rm_eo - m[g].rm_so));
		if (matched)
			*matched = xstrndup(t[i] + m[0].rm_so, (size_t)(m[0].rm_eo - m[0].rm_so));
		return i;
	}
	return -1;
}

struct field_match {
	const char *equals;
	struct capture *cap;
	int found;
};

static int field_cb(void *arg, const cJSON *node, const int *idx, int nidx)
{
	struct field_match *fm = arg;
	if (cJSON_IsNull(node))
		return 0;
	if (fm->equals) {
		char *v = jpath_scalar_string(node);
		int eq = v && !strcmp(v, fm->equals);
		free(v);
		if (!eq)
			return 0;
	}
	fm->found = 1;
	memcpy(fm->cap->idx, idx, (size_t)nidx * sizeof(int));
	fm->cap->nidx = nidx;
	return 1;
}

static int rule_matches(struct classifier *c, struct crule *cr, const struct obs_input *in,
			struct capture *cap)
{
	const struct wl_rule *r = cr->r;
	if (!r->match && !r->field)
		return 0;
	if (r->match) {
		char *m = NULL;
		int hit = match_texts(c, "rule match", r->re, in, cap, &m) >= 0;
		free(m);
		if (!hit)
			return 0;
	}
	if (r->field) {
		if (!in->probe)
			return 0;
		struct field_match fm = {.equals = r->equals, .cap = cap};
		jpath_each(in->probe, r->field, field_cb, &fm);
		if (!fm.found)
			return 0;
	}
	return 1;
}

/*
 * The `[*]` indices of the template path that it shares with the rule's
 * field path (same segments up to and including that `[*]`) are bound to the
 * element that matched; the rest are free.
 */
static int bind_indices(const char *tpath, const char *field, const struct capture *cap, int *bound)
{
	int nb = 0;
	if (!field)
		return 0;
	size_t i = 0;
	while (tpath[i] && field[i] && tpath[i] == field[i]) {
		if (tpath[i] == '*' && i > 0 && tpath[i - 1] == '[' && nb < cap->nidx && nb < JPATH_MAX_WILD) {
			bound[nb] = cap->idx[nb];
			nb++;
		}
		i++;
	}
	return nb;
}

static char *expand_template(const char *tmpl, const struct capture *cap, const cJSON *probe,
			     const char *field)
{
	struct strbuf sb = STRBUF_INIT;
	for (const char *p = tmpl; *p;) {
		const char *close = *p == '{' ? strchr(p, '}') : NULL;
		if (!close) {
			strbuf_addch(&sb, *p++);
			continue;
		}
		char *name = xstrndup(p + 1, (size_t)(close - p - 1));
		if (name[0] >= '1' && name[0] <= '9' && name[1] == '\0') {
			const char *g = cap->group[name[0] - '0'];
			strbuf_addstr(&sb, g ? g : "");
		} else {
			int bound[JPATH_MAX_WILD];
			int nb = bind_indices(name, field, cap, bound);
			char *v = probe ? jpath_scalar_string(jpath_first(probe, name, bound, nb)) : NULL;
			strbuf_addstr(&sb, v ? v : "unknown");
			free(v);
		}
		free(name);
		p = close + 1;
	}
	return strbuf_detach(&sb);
}

/* Step 2. */
static int check_terminal_patterns(struct classifier *c, const struct obs_input *in,
				   struct classification *out)
{
	const char *t[4], *name[4];
	texts_of(in, t, name);
	for (size_t i = 0; i < c->pol->nterminal_re; i++) {
		const struct pattern *tp = c->pol->terminal_re[i];
		char *m = NULL;
		int which = match_texts(c, "terminal pattern", tp, in, NULL, &m);
		if (which < 0)
			continue;
		char *rule = xasprintf("terminal_patterns[%zu]", i);
		decide(out, CLASS_TERMINAL_FAIL, rule);
		free(rule);
		char *slug = lower_dup(m);
		char *fp = xasprintf("terminal/%s", slug);
		add_fp(c, out, fp);
		strvec_pushf(&out->reasons, "terminal pattern '%s' matched %s: '%.200s'", tp->source,
			     name[which], m);
		free(fp);
		free(slug);
		free(m);
		return 1;
	}
	return 0;
}

/* Step 3, user rules. Every rule's streak is updated, the first match decides. */
static int check_rules(struct classifier *c, const struct obs_input *in, struct classification *out)
{
	int decided = 0;
	for (size_t i = 0; i < c->nrules; i++) {
		struct crule *cr = &c->rules[i];
		struct capture cap = {0};
		int hit = rule_matches(c, cr, in, &cap);
		cr->streak = hit ? cr->streak + 1 : 0;
		if (!hit || decided) {
			capture_release(&cap);
			continue;
		}
		decided = 1;
		const struct wl_rule *r = cr->r;
		char *rule = xasprintf("rules[%zu]", i);
		enum obs_class class = r->class ? r->class : CLASS_RETRYABLE;
		if (r->after != WL_UNSET && r->after > 0) {
			if (cr->streak <= r->after)
				class = CLASS_RETRYABLE;
			else if (class == CLASS_RETRYABLE)
				class = CLASS_STALLED;
		}
		decide(out, class, rule);
		if (r->fingerprint) {
			char *fp = expand_template(r->fingerprint, &cap, in->probe, r->field);
			add_fp(c, out, fp);
			free(fp);
		}
		struct strbuf why = STRBUF_INIT;
		strbuf_addf(&why, "rule %zu", i + 1);
		if (r->match)
			strbuf_addf(&why, " (match '%s')", r->match);
		if (r->field)
			strbuf_addf(&why, " (%s %s%s)", r->field, r->equals ? "= " : "exists", r->equals ? r->equals : "");
		if (r->after != WL_UNSET && r->after > 0)
			strbuf_addf(&why, " matched %d observation%s in a row (after: %d)", cr->streak,
				    cr->streak == 1 ? "" : "s", r->after);
		else
			strbuf_addstr(&why, " matched");
		strbuf_addf(&why, ": %s", class_name(class));
		strvec_push_owned(&out->reasons, strbuf_detach(&why));
		if (r->hint)
			strvec_push(&out->hints, r->hint);
		free(rule);
		capture_release(&cap);
	}
	return decided;
}

/* --- the builtin kubernetes set ------------------------------------------ */

static const char *jstr(const cJSON *o, const char *key)
{
	return cJSON_IsObject(o) ? json_get_string(o, key) : NULL;
}

/* Short name: the first DNS label of the target's name ("a.b.c" -> "a"). */
static char *short_name(const char *name)
{
	const char *slash = strrchr(name, '/');
	if (slash)
		name = slash + 1;
	return xstrndup(name, strcspn(name, "."));
}

/* Kind and name of the wait target: probe target.{kind,name}, else policy "kind/name". */
static void target_of(const struct classifier *c, const cJSON *probe, char **kind, char **name)
{
	const cJSON *t = probe ? cJSON_GetObjectItemCaseSensitive(probe, "target") : NULL;
	const char *pk = jstr(t, "kind"), *pn = jstr(t, "name");
	const char *pt = c->pol->target;
	*kind = NULL;
	*name = NULL;
	if (pk)
		*kind = lower_dup(pk);
	if (pn)
		*name = xstrdup(pn);
	if (pt) {
		const char *slash = strchr(pt, '/');
		if (!*kind && slash) {
			*kind = xstrndup(pt, (size_t)(slash - pt));
			for (char *q = *kind; *q; q++)
				*q = (char)tolower((unsigned char)*q);
		}
		if (!*name)
			*name = xstrdup(slash ? slash + 1 : pt);
	}
}

/* Reasons that name the failure precisely: their fingerprint is <kind>-<reason>/<name>. */
static const char *const kube_failures[] = {"ProgressDeadlineExceeded", "CrashLoopBackOff", "ImagePullBackOff",
					     "ErrImagePull", "OOMKilled", "CreateContainerConfigError",
					     "InvalidImageName"};
#define NFAILURES (sizeof(kube_failures) / sizeof(kube_failures[0]))

/* Events that mean "it will not get better" once repeated KUBE_EVENT_REPEAT times. */
static const char *const kube_events[] = {"FailedScheduling", "BackOff", "FailedMount"};

/* One object of the observation, with its computed status. */
struct kobj {
	struct kstatus k;
	int target;                /* the wait's target (not a dependency) */
};

struct kview {
	struct kobj *v;
	size_t n;
	int target_missing;
	int known;                 /* objects whose status is known (not Unknown/NotFound) */
};

static void kview_release(struct kview *kv)
{
	for (size_t i = 0; i < kv->n; i++)
		kstatus_release(&kv->v[i].k);
	free(kv->v);
	memset(kv, 0, sizeof(*kv));
}

static void kview_add(struct kview *kv, const cJSON *o, int target, int raw)
{
	if (kv->n >= KUBE_MAX_OBJECTS)
		return;
	kv->v = xrealloc(kv->v, (kv->n + 1) * sizeof(*kv->v));
	struct kobj *ko = &kv->v[kv->n++];
	ko->k = (struct kstatus)KSTATUS_INIT;
	ko->target = target;
	if (raw)
		kstatus_compute(o, NULL, &ko->k);
	else
		kstatus_from_summary(o, NULL, &ko->k);
	if (ko->k.status != KSTATUS_UNKNOWN && ko->k.status != KSTATUS_NOT_FOUND)
		kv->known++;
}

/* Every object the probe shows: one raw object, a List, or target/dependencies (raw or summarized). */
static void kview_collect(const cJSON *probe, struct kview *kv)
{
	if (!cJSON_IsObject(probe))
		return;
	const cJSON *it;
	if (kstatus_is_list(probe)) {
		cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(probe, "items"))
			if (kstatus_is_object(it))
				kview_add(kv, it, 1, 1);
		return;
	}
	if (kstatus_is_object(probe)) {
		kview_add(kv, probe, 1, 1);
		return;
	}
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(probe, "target");
	if (kstatus_is_object(t))
		kview_add(kv, t, 1, 1);
	else if (cJSON_IsObject(t) && jstr(t, "status")) {
		const char *st = jstr(t, "status");
		if (!strcmp(st, "NotFound") || !strcmp(st, "Missing") || !strcmp(st, "Absent"))
			kv->target_missing = 1;
		else if (strcmp(st, "Ready") && strcmp(st, "Unknown") && strcmp(st, "Current"))
			kview_add(kv, t, 1, 0);   /* Failed / Progressing target */
	}
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(probe, "dependencies")) {
		if (kstatus_is_list(it)) {
			const cJSON *item;
			cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(it, "items"))
				if (kstatus_is_object(item))
					kview_add(kv, item, 0, 1);
		} else if (kstatus_is_object(it))
			kview_add(kv, it, 0, 1);
		else if (cJSON_IsObject(it))
			kview_add(kv, it, 0, 0);
	}
}

static void kobj_ref(struct strbuf *sb, const struct kstatus *k)
{
	strbuf_addf(sb, "%s %s%s%s", k->kind, k->ns ? k->ns : "", k->ns ? "/" : "", k->name);
}

static void kobj_reason(struct strbuf *sb, const struct kstatus *k)
{
	kobj_ref(sb, k);
	strbuf_addf(sb, " is %s", k->status == KSTATUS_FAILED ? "Failed" : k->status == KSTATUS_IN_PROGRESS ? "Progressing"
								      : kstatus_name(k->status));
	if (k->reason)
		strbuf_addf(sb, " (%s)", k->reason);
	if (k->message && *k->message)
		strbuf_addf(sb, ": %.300s", k->message);
}

static char *dur_str(int64_t ms)
{
	char buf[64];
	duration_format(ms < 1000 ? ms : ms / 1000 * 1000, buf, sizeof(buf));
	return xstrdup(buf);
}

/* --- per-object memory: since when an object is in its current state --- */

static char *track_key(const struct kstatus *k)
{
	return xasprintf("%s/%s/%s", k->kind, k->ns ? k->ns : "", k->name);
}

static char *track_state(const struct kstatus *k)
{
	if (k->state)
		return xasprintf("%d|%s", (int)k->status, k->state);
	return xasprintf("%d|%s|%s", (int)k->status, k->reason ? k->reason : "", k->message ? k->message : "");
}

/* Since when (wall ms) this wait has seen k unchanged; starts now for a new or changed object. */
static int64_t track_since(struct classifier *c, const struct kstatus *k, int64_t now)
{
	char *key = track_key(k), *state = track_state(k);
	struct ktrack *t = NULL;
	for (size_t i = 0; i < c->ntrack; i++)
		if (!strcmp(c->track[i].key, key)) {
			t = &c->track[i];
			break;
		}
	if (!t) {
		if (c->ntrack >= KUBE_MAX_OBJECTS) {   /* bounded: forget the oldest */
			free(c->track[0].key);
			free(c->track[0].state);
			memmove(c->track, c->track + 1, (c->ntrack - 1) * sizeof(*c->track));
			c->ntrack--;
		}
		c->track = xrealloc(c->track, (c->ntrack + 1) * sizeof(*c->track));
		t = &c->track[c->ntrack++];
		t->key = key;
		t->state = state;
		t->since = now;
		return now;
	}
	free(key);
	if (strcmp(t->state, state)) {
		free(t->state);
		t->state = state;
		t->since = now;
	} else
		free(state);
	return t->since;
}

/*
 * An InProgress object: within its deadline (0, *note says until when) or
 * stuck (1, *note says why).
 */
static int kobj_stuck(struct classifier *c, const struct kstatus *k, int64_t now, char **note)
{
	int64_t seen_since = track_since(c, k, now);
	*note = NULL;
	if (k->controller_deadline) {
		*note = xstrdup(!strcmp(k->kind, "Deployment") ? "its controller reports a missed progressDeadlineSeconds itself"
							      : "its controller enforces activeDeadlineSeconds itself");
		return 0;
	}
	int64_t since, limit, shown;
	const char *source;
	if (k->timeout_ms >= 0) {
		since = k->since_wall_ms >= 0 ? k->since_wall_ms : seen_since;
		/* slack for the controller to write its verdict and for clock skew: 10%, at most 30 s */
		int64_t slack = k->timeout_ms / 10 < KUBE_SLACK_MAX_MS ? k->timeout_ms / 10 : KUBE_SLACK_MAX_MS;
		limit = k->timeout_ms + slack;
		shown = k->timeout_ms;
		source = k->timeout_source ? k->timeout_source : "spec.timeout";
	} else {
		since = seen_since;
		limit = shown = c->pol->progress_deadline;   /* resolved: never unset */
		source = "progress_deadline";
	}
	int64_t elapsed = now - since;
	if (elapsed < 0)
		elapsed = 0;
	char *el = dur_str(elapsed), *lim = dur_str(shown);
	struct strbuf sb = STRBUF_INIT;
	int stuck = elapsed > limit;
	const char *state = k->reason && !strcmp(k->reason, "Progressing") ? "Progressing" : "in progress";
	if (stuck) {
		kobj_ref(&sb, k);
		strbuf_addf(&sb, " has been %s", state);
		if (strcmp(state, "Progressing") && k->reason)
			strbuf_addf(&sb, " (%s)", k->reason);
		if (k->timeout_ms >= 0)
			strbuf_addf(&sb, " for %s, past its %s %s: the controller is not reconciling it", el, source, lim);
		else
			strbuf_addf(&sb, " without a change for %s, past progress_deadline %s: it is not making progress",
				    el, lim);
		if (k->message && *k->message)
			strbuf_addf(&sb, " (last message: %.200s)", k->message);
	} else {
		strbuf_addf(&sb, "%s for %s, within its %s %s", state, el, source, lim);
	}
	free(el);
	free(lim);
	*note = strbuf_detach(&sb);
	return stuck;
}

/* Repeated Warning events that will not get better by waiting. */
static int kube_check_events(struct classifier *c, const cJSON *probe, const struct kview *kv,
			     struct classification *out)
{
	const cJSON *ev;
	const cJSON *events = probe ? cJSON_GetObjectItemCaseSensitive(probe, "events") : NULL;
	int found = 0;
	cJSON_ArrayForEach(ev, events) {
		const char *reason = jstr(ev, "reason"), *type = jstr(ev, "type");
		if (!reason || (type && strcmp(type, "Warning")))
			continue;
		size_t k;
		for (k = 0; k < sizeof(kube_events) / sizeof(kube_events[0]) && strcmp(reason, kube_events[k]); k++)
			;
		const cJSON *cnt = cJSON_GetObjectItemCaseSensitive(ev, "count");
		if (k == sizeof(kube_events) / sizeof(kube_events[0]) || !cJSON_IsNumber(cnt) ||
		    cnt->valuedouble < KUBE_EVENT_REPEAT)
			continue;
		const char *kind = jstr(ev, "kind") ? jstr(ev, "kind") : "object";
		const char *name = jstr(ev, "name") ? jstr(ev, "name") : "unknown";
		int current = 0;   /* an object that is fine now: its old events do not count */
		for (size_t i = 0; i < kv->n; i++)
			current |= kv->v[i].k.status == KSTATUS_CURRENT && !strcmp(kv->v[i].k.kind, kind) &&
				   !strcmp(kv->v[i].k.name, name);
		if (current)
			continue;
		char *lk = lower_dup(kind), *lr = lower_dup(reason);
		char *fp = xasprintf("%s-%s/%s", lk, lr, name);
		add_fp(c, out, fp);
		strvec_pushf(&out->reasons, "%s %s: Warning %s repeated %d times: %.300s", kind, name, reason,
			     (int)cnt->valuedouble, jstr(ev, "message") ? jstr(ev, "message") : "");
		free(fp);
		free(lr);
		free(lk);
		found = 1;
	}
	if (found)
		decide(out, CLASS_TERMINAL_FAIL, "builtin:kubernetes/events");
	return found;
}

/* Failure keywords in errors[*] (probes that report what kubectl printed). */
static int kube_check_errors(struct classifier *c, const cJSON *probe, struct classification *out)
{
	int found = 0;
	const cJSON *e;
	const cJSON *errs = probe ? cJSON_GetObjectItemCaseSensitive(probe, "errors") : NULL;
	cJSON_ArrayForEach(e, errs) {
		const char *s = cJSON_IsString(e) ? e->valuestring : jstr(e, "message");
		for (size_t k = 0; s && k < NFAILURES; k++)
			if (strstr(s, kube_failures[k])) {
				char *kw = lower_dup(kube_failures[k]);
				char *fp = xasprintf("k8s/%s", kw);
				add_fp(c, out, fp);
				strvec_pushf(&out->reasons, "probe error: %.200s", s);
				free(fp);
				free(kw);
				found = 1;
			}
	}
	if (found)
		decide(out, CLASS_TERMINAL_FAIL, "builtin:kubernetes/workload-failure");
	return found;
}

/* Objects that failed: terminal_fail, with the target's absence explained by them. */
static int kube_check_failed(struct classifier *c, const struct obs_input *in, const struct kview *kv,
			     int target_missing, struct classification *out)
{
	size_t nfailed = 0;
	int keyword = 0;
	for (size_t i = 0; i < kv->n; i++)
		nfailed += kv->v[i].k.status == KSTATUS_FAILED;
	if (!nfailed)
		return 0;
	char *tkind = NULL, *tname = NULL;
	target_of(c, in->probe, &tkind, &tname);
	int dep_failed = 0;
	for (size_t i = 0; i < kv->n; i++) {
		const struct kobj *o = &kv->v[i];
		const struct kstatus *k = &o->k;
		if (k->status != KSTATUS_FAILED)
			continue;
		dep_failed |= !o->target;
		char *lk = lower_dup(k->kind);
		size_t f;
		for (f = 0; f < NFAILURES && !(k->reason && strstr(k->reason, kube_failures[f])); f++)
			;
		char *fp;
		if (f < NFAILURES) {
			char *kw = lower_dup(kube_failures[f]);
			fp = xasprintf("%s-%s/%s", lk, kw, k->name);
			free(kw);
			keyword = 1;
		} else
			fp = xasprintf("%s-failed/%s", lk, k->name);
		add_fp(c, out, fp);
		free(fp);
		struct strbuf sb = STRBUF_INIT;
		if (target_missing && !o->target)
			strbuf_addf(&sb, "%s not found, and it will not appear: ", tname ? tname : "the target");
		kobj_reason(&sb, k);
		strvec_push_owned(&out->reasons, strbuf_detach(&sb));
		if (target_missing && !o->target)
			strvec_pushf(&out->hints,
				     "%s %s must become Ready before %s can appear: fix why it failed%s%s%s "
				     "(kubectl describe %s%s%s %s), not the wait",
				     k->kind, k->name, tname ? tname : "the target", k->reason ? " (" : "",
				     k->reason ? k->reason : "", k->reason ? ")" : "", lk, k->ns ? " -n " : "",
				     k->ns ? k->ns : "", k->name);
		free(lk);
	}
	if (target_missing && dep_failed) {
		char *sn = short_name(tname ? tname : "unknown");
		int is_crd = !tkind || !strcmp(tkind, "crd") || !strncmp(tkind, "customresourcedefinition", 24) ||
			     (in->condition_output && strstr(in->condition_output, "customresourcedefinition"));
		char *fp = is_crd ? xasprintf("crd-missing/%s", sn) : xasprintf("%s-missing/%s", tkind, sn);
		add_fp(c, out, fp);
		free(fp);
		free(sn);
		decide(out, CLASS_TERMINAL_FAIL, "builtin:kubernetes/dependency-failed");
	} else
		decide(out, CLASS_TERMINAL_FAIL, keyword ? "builtin:kubernetes/workload-failure"
							 : "builtin:kubernetes/target-failed");
	free(tkind);
	free(tname);
	return 1;
}

/* InProgress objects: progressing within their deadlines, stalled past one. */
static int kube_check_in_progress(struct classifier *c, const struct obs_input *in, const struct kview *kv,
				  int target_missing, struct classification *out)
{
	int64_t now = in->now_wall_ms ? in->now_wall_ms : time_wall_ms();
	int nstuck = 0, nprog = 0;
	struct strvec stuck = STRVEC_INIT, prog = STRVEC_INIT;
	for (size_t i = 0; i < kv->n; i++) {
		const struct kstatus *k = &kv->v[i].k;
		if (k->status != KSTATUS_IN_PROGRESS && k->status != KSTATUS_TERMINATING)
			continue;
		char *note = NULL;
		if (kobj_stuck(c, k, now, &note)) {
			nstuck++;
			char *lk = lower_dup(k->kind);
			char *fp = xasprintf("%s-stuck/%s", lk, k->name);
			add_fp(c, out, fp);
			free(fp);
			free(lk);
			strvec_push_owned(&stuck, note);
		} else {
			nprog++;
			struct strbuf sb = STRBUF_INIT;
			if (target_missing && !kv->v[i].target)
				strbuf_addstr(&sb, "target not found yet; waiting: ");
			kobj_reason(&sb, k);
			strbuf_addf(&sb, " [%s]", note);
			strvec_push_owned(&prog, strbuf_detach(&sb));
			free(note);
		}
	}
	if (nstuck) {
		decide(out, CLASS_STALLED, "builtin:kubernetes/stuck");
		for (size_t i = 0; i < stuck.n; i++)
			strvec_push(&out->reasons, stuck.v[i]);
		strvec_push(&out->hints, "the object's controller has stopped reporting progress: check that it runs "
					 "(kubectl -n <controller namespace> logs) and `kubectl describe` the object");
	} else if (nprog) {
		decide(out, CLASS_PROGRESSING, target_missing ? "builtin:kubernetes/dependency-progressing"
							      : "builtin:kubernetes/in-progress");
		for (size_t i = 0; i < prog.n; i++)
			strvec_push(&out->reasons, prog.v[i]);
	}
	strvec_clear(&stuck);
	strvec_clear(&prog);
	return nstuck || nprog;
}

static int kube_target_missing(const struct classifier *c, const struct obs_input *in, const struct kview *kv)
{
	if (kv->target_missing)
		return 1;
	if (in->condition_output && pattern_match(&c->k->notfound, in->condition_output, NULL, 0))
		return 1;
	if (in->probe_error_output && pattern_match(&c->k->notfound, in->probe_error_output, NULL, 0))
		return 1;
	return in->guard_output && pattern_match(&c->k->notfound, in->guard_output, NULL, 0);
}

static int check_kubernetes(struct classifier *c, const struct obs_input *in, struct classification *out)
{
	struct capture cap = {0};
	/* Forbidden / Unauthorized: no amount of waiting fixes permissions. */
	if (match_texts(c, "builtin pattern", &c->k->auth, in, &cap, NULL) >= 0) {
		char *who = lower_dup(cap.group[2]);
		char *fp = xasprintf("auth/%s", who);
		decide(out, CLASS_TERMINAL_FAIL, "builtin:kubernetes/auth");
		add_fp(c, out, fp);
		strvec_pushf(&out->reasons, "the API server answered %s", cap.group[2]);
		strvec_push(&out->hints, "check the credentials and RBAC of the kubeconfig in use");
		free(fp);
		free(who);
		capture_release(&cap);
		c->tls_streak = 0;
		out->probe_explained = 1;
		return 1;
	}
	capture_release(&cap);
	char *api_text = NULL;
	int api = match_texts(c, "builtin pattern", &c->k->api, in, NULL, &api_text) >= 0;
	int tls = !api && match_texts(c, "builtin pattern", &c->k->tls, in, NULL, NULL) >= 0;
	c->tls_streak = tls ? c->tls_streak + 1 : 0;

	struct kview kv = {0};
	kview_collect(in->probe, &kv);
	int missing = kube_target_missing(c, in, &kv);
	int decided = kube_check_errors(c, in->probe, out) || kube_check_failed(c, in, &kv, missing, out) ||
		      kube_check_events(c, in->probe, &kv, out) || kube_check_in_progress(c, in, &kv, missing, out);
	if (decided && out->class == CLASS_PROGRESSING)
		c->tls_streak = 0;   /* webhook errors while its certificate is still being issued: not stuck */
	if (!decided && tls) {
		enum obs_class class = c->tls_streak > KUBE_TLS_AFTER ? CLASS_STALLED : CLASS_RETRYABLE;
		decide(out, class, "builtin:kubernetes/webhook-tls");
		add_fp(c, out, "webhook-tls");
		strvec_pushf(&out->reasons, "webhook/TLS error %d observation%s in a row (stalled after %d)",
			     c->tls_streak, c->tls_streak == 1 ? "" : "s", KUBE_TLS_AFTER);
		strvec_push(&out->hints, "check the webhook's service, its certificate (cert-manager) and CA bundle");
		decided = 1;
	}
	if (!decided && api) {
		/* the control plane is restarting or overloaded: no evidence either way */
		decide(out, CLASS_RETRYABLE, "builtin:kubernetes/api-unavailable");
		strvec_pushf(&out->reasons, "the API server is unavailable (%.200s); waiting", api_text);
		out->no_evidence = 1;
		out->probe_explained = in->probe_error_output &&
				       pattern_match(&c->k->api, in->probe_error_output, NULL, 0);
		decided = 1;
	}
	if (!decided && missing && !kv.known) {
		/* absent, and nothing known about what would create it: not evidence of a stall */
		char *kind = NULL, *name = NULL;
		target_of(c, in->probe, &kind, &name);
		decide(out, CLASS_RETRYABLE, "builtin:kubernetes/not-found");
		strvec_pushf(&out->reasons, "%s not found yet", name ? name : "the target");
		/* with a probe that shows nothing about it; without a probe wait.c decides (explicit stall_threshold) */
		out->no_evidence = in->probe || in->probe_error_output;
		out->probe_explained = in->probe_error_output &&
				       pattern_match(&c->k->notfound, in->probe_error_output, NULL, 0);
		free(kind);
		free(name);
		decided = 1;
	}
	free(api_text);
	kview_release(&kv);
	return decided;
}

static int observe_steps(struct classifier *c, const struct obs_input *in, struct classification *out)
{
	if (in->condition_ran && in->condition_exit == 0) {
		out->met = 1;
		decide(out, CLASS_UNSET, "condition");
		return 1;
	}
	if (check_terminal_patterns(c, in, out))
		return 1;
	if (check_rules(c, in, out))
		return 1;
	if (c->k && check_kubernetes(c, in, out))
		return 1;
	return 0;
}

void classifier_take_warnings(struct classifier *c, struct strvec *out)
{
	for (size_t i = 0; i < c->limit_pending.n; i++)
		strvec_push(out, c->limit_pending.v[i]);
	strvec_clear(&c->limit_pending);
}

int classifier_observe(struct classifier *c, const struct obs_input *in, struct classification *out)
{
	int decided = observe_steps(c, in, out);
	if (decided)
		strvec_sort_unique(&out->fingerprints);   /* the header's promise */
	return decided;
}

static void take_strings(const cJSON *arr, struct strvec *sv, const struct classifier *c, int as_fp,
			 struct classification *out)
{
	const cJSON *e;
	cJSON_ArrayForEach(e, arr) {
		if (!cJSON_IsString(e) || !e->valuestring || !*e->valuestring)
			continue;
		if (as_fp)
			add_fp(c, out, e->valuestring);
		else
			strvec_push(sv, e->valuestring);
	}
}

int classify_parse_external(const struct classifier *c, const char *output, struct classification *out,
			    struct wl_err *err)
{
	const char *s = output ? output : "";
	while (isspace((unsigned char)*s))
		s++;
	enum obs_class class;
	if (*s != '{') {
		size_t n = strcspn(s, " \t\r\n");
		char *word = xstrndup(s, n);
		const char *rest = s + n;
		while (isspace((unsigned char)*rest))
			rest++;
		int bad = class_parse(word, &class) < 0 || *rest;
		if (bad) {
			err_set(err, "classifier printed '%.80s', not a class (retryable, terminal_fail, progressing, stalled) or a JSON object",
				s);
			free(word);
			return -1;
		}
		free(word);
		decide(out, class, "classify");
		return 0;
	}
	cJSON *j = json_too_deep(s, strlen(s)) ? NULL : cJSON_Parse(s);
	if (!j || !cJSON_IsObject(j)) {
		cJSON_Delete(j);
		return err_set(err, "classifier output is not one JSON object");
	}
	const char *cls = json_get_string(j, "class");
	if (!cls || class_parse(cls, &class) < 0) {
		err_set(err, "classifier output has no valid \"class\" (got '%.40s')", cls ? cls : "");
		cJSON_Delete(j);
		return -1;
	}
	decide(out, class, "classify");
	take_strings(cJSON_GetObjectItemCaseSensitive(j, "fingerprints"), NULL, c, 1, out);
	const char *reason = json_get_string(j, "reason");
	if (reason && *reason)
		strvec_push(&out->reasons, reason);
	take_strings(cJSON_GetObjectItemCaseSensitive(j, "reasons"), &out->reasons, c, 0, out);
	strvec_sort_unique(&out->fingerprints);
	cJSON_Delete(j);
	return 0;
}

void classifier_finish(const struct classifier *c, const cJSON *probe, struct classification *out)
{
	const char *cls = json_get_string(probe, "class");
	enum obs_class class;
	if (cls && class_parse(cls, &class) == 0) {
		decide(out, class, "probe");
		take_strings(cJSON_GetObjectItemCaseSensitive(probe, "fingerprints"), NULL, c, 1, out);
		take_strings(cJSON_GetObjectItemCaseSensitive(probe, "reasons"), &out->reasons, c, 0, out);
		strvec_sort_unique(&out->fingerprints);
		return;
	}
	decide(out, CLASS_RETRYABLE, NULL);
	free(out->rule);
	out->rule = NULL;
}

char *classify_input_json(const cJSON *probe, int condition_exit, const char *condition_output,
			  int observation, double elapsed_s)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddItemToObject(j, "probe", probe ? cJSON_Duplicate(probe, 1) : cJSON_CreateNull());
	cJSON *cond = cJSON_AddObjectToObject(j, "condition");
	if (condition_exit >= 0)
		cJSON_AddNumberToObject(cond, "exit_code", condition_exit);
	else
		cJSON_AddNullToObject(cond, "exit_code");
	cJSON_AddStringToObject(cond, "output", condition_output ? condition_output : "");
	cJSON_AddNumberToObject(j, "observation", observation);
	cJSON_AddNumberToObject(j, "elapsed_s", elapsed_s);
	char *t = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	char *s = xstrdup(t ? t : "{}");
	cJSON_free(t);
	return s;
}

int stall_count_observe(struct stall_count *p, enum obs_class class, const char *digest)
{
	int changed = digest && p->have && strcmp(p->digest, digest) != 0;
	if (digest) {
		snprintf(p->digest, sizeof(p->digest), "%s", digest);
		p->have = 1;
	}
	if (class == CLASS_PROGRESSING || changed)
		p->no_progress = 0;
	else if (class == CLASS_RETRYABLE)
		p->no_progress++;
	return changed;
}
