#include "classify.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jpath.h"
#include "jsonutil.h"
#include "pattern.h"
#include "redact.h"
#include "strbuf.h"
#include "xalloc.h"

#define NGROUPS 10
#define FP_MAX 200
#define KUBE_TLS_AFTER 5

struct crule {
	const struct wl_rule *r;   /* borrowed from the policy */
	struct pattern re;
	int streak;                /* matching observations in a row */
};

struct classifier {
	const struct wl_wait_policy *pol;
	struct pattern *terminal;
	size_t nterminal;
	struct crule *rules;
	size_t nrules;
	int kubernetes;
	struct pattern k_auth, k_notfound, k_tls;
	int tls_streak;
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

static void decide(struct classification *out, enum wl_class class, const char *rule)
{
	out->class = class;
	free(out->rule);
	out->rule = xstrdup(rule);
}

struct classifier *classifier_new(const struct wl_wait_policy *policy, struct wl_err *err)
{
	struct classifier *c = xcalloc(1, sizeof(*c));
	c->pol = policy;
	const struct strvec *tp = &policy->terminal_patterns;
	c->terminal = tp->n ? xcalloc(tp->n, sizeof(*c->terminal)) : NULL;
	for (size_t i = 0; i < tp->n; i++, c->nterminal++)
		if (pattern_compile(&c->terminal[i], tp->v[i], err) < 0) {
			err_prefix(err, "terminal_patterns[%zu]", i);
			classifier_free(c);
			return NULL;
		}
	c->rules = policy->nrules ? xcalloc(policy->nrules, sizeof(*c->rules)) : NULL;
	for (size_t i = 0; i < policy->nrules; i++, c->nrules++) {
		c->rules[i].r = &policy->rules[i];
		if (policy->rules[i].match && pattern_compile(&c->rules[i].re, policy->rules[i].match, err) < 0) {
			err_prefix(err, "rules[%zu].match", i);
			c->nrules++;
			classifier_free(c);
			return NULL;
		}
	}
	if (policy->builtin) {
		if (strcmp(policy->builtin, "kubernetes")) {
			err_set(err, "unknown builtin rule set '%s' (known: kubernetes)", policy->builtin);
			classifier_free(c);
			return NULL;
		}
		c->kubernetes = 1;
		if (pattern_compile(&c->k_auth,
				    "(Error from server|You must be logged in to the server) \\((Forbidden|Unauthorized)\\)",
				    err) < 0 ||
		    pattern_compile(&c->k_notfound, "(?i)\\(NotFound\\)|not ?found", err) < 0 ||
		    pattern_compile(&c->k_tls,
				    "(?i)x509|tls: |tls handshake|failed calling webhook|certificate signed by unknown authority",
				    err) < 0) {
			classifier_free(c);
			return NULL;
		}
	}
	return c;
}

void classifier_free(struct classifier *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nterminal; i++)
		pattern_free(&c->terminal[i]);
	free(c->terminal);
	for (size_t i = 0; i < c->nrules; i++)
		pattern_free(&c->rules[i].re);
	free(c->rules);
	pattern_free(&c->k_auth);
	pattern_free(&c->k_notfound);
	pattern_free(&c->k_tls);
	free(c);
}

/* The texts of an observation, in order: condition, probe, guarded output. */
static int texts_of(const struct obs_input *in, const char *t[3], const char *name[3])
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
	return n;
}

/* Does p match one of the texts? Fills groups from the first match; returns the text index or -1. */
static int match_texts(const struct pattern *p, const struct obs_input *in, struct capture *cap,
		       char **matched)
{
	const char *t[3], *name[3];
	int n = texts_of(in, t, name);
	regmatch_t m[NGROUPS];
	for (int i = 0; i < n; i++) {
		if (!pattern_match(p, t[i], m, NGROUPS))
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

static int rule_matches(struct crule *cr, const struct obs_input *in, struct capture *cap)
{
	const struct wl_rule *r = cr->r;
	if (!r->match && !r->field)
		return 0;
	if (r->match) {
		char *m = NULL;
		int hit = match_texts(&cr->re, in, cap, &m) >= 0;
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
	const char *t[3], *name[3];
	texts_of(in, t, name);
	for (size_t i = 0; i < c->nterminal; i++) {
		char *m = NULL;
		int which = match_texts(&c->terminal[i], in, NULL, &m);
		if (which < 0)
			continue;
		char *rule = xasprintf("terminal_patterns[%zu]", i);
		decide(out, CLASS_TERMINAL_FAIL, rule);
		free(rule);
		char *slug = lower_dup(m);
		char *fp = xasprintf("terminal/%s", slug);
		add_fp(c, out, fp);
		strvec_pushf(&out->reasons, "terminal pattern '%s' matched %s: '%.200s'", c->terminal[i].source,
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
		int hit = rule_matches(cr, in, &cap);
		cr->streak = hit ? cr->streak + 1 : 0;
		if (!hit || decided) {
			capture_release(&cap);
			continue;
		}
		decided = 1;
		const struct wl_rule *r = cr->r;
		char *rule = xasprintf("rules[%zu]", i);
		enum wl_class class = r->class ? r->class : CLASS_RETRYABLE;
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

static const char *const kube_failures[] = {"ProgressDeadlineExceeded", "CrashLoopBackOff", "ImagePullBackOff",
					     "ErrImagePull", "OOMKilled"};

/* A failure keyword in the reason of the target or a dependency, or in errors[*]. */
static int kube_check_failures(struct classifier *c, const cJSON *probe, struct classification *out)
{
	if (!probe)
		return 0;
	int found = 0;
	const cJSON *deps = cJSON_GetObjectItemCaseSensitive(probe, "dependencies");
	const cJSON *tgt = cJSON_GetObjectItemCaseSensitive(probe, "target");
	const cJSON *lists[2] = {tgt, deps};
	for (int l = 0; l < 2; l++) {
		const cJSON *it = lists[l];
		if (!it)
			continue;
		const cJSON *first = cJSON_IsArray(it) ? it->child : it;
		for (const cJSON *d = first; d; d = cJSON_IsArray(it) ? d->next : NULL) {
			const char *reason = jstr(d, "reason");
			for (size_t k = 0; reason && k < sizeof(kube_failures) / sizeof(kube_failures[0]); k++) {
				if (!strstr(reason, kube_failures[k]))
					continue;
				char *kind = lower_dup(jstr(d, "kind") ? jstr(d, "kind") : "object");
				char *kw = lower_dup(kube_failures[k]);
				char *fp = xasprintf("%s-%s/%s", kind, kw, jstr(d, "name") ? jstr(d, "name") : "unknown");
				add_fp(c, out, fp);
				strvec_pushf(&out->reasons, "%s %s: %s", jstr(d, "kind") ? jstr(d, "kind") : "object",
					     jstr(d, "name") ? jstr(d, "name") : "?", kube_failures[k]);
				free(fp);
				free(kw);
				free(kind);
				found = 1;
			}
		}
	}
	const cJSON *errs = cJSON_GetObjectItemCaseSensitive(probe, "errors");
	const cJSON *e;
	cJSON_ArrayForEach(e, errs) {
		const char *s = cJSON_IsString(e) ? e->valuestring : jstr(e, "message");
		for (size_t k = 0; s && k < sizeof(kube_failures) / sizeof(kube_failures[0]); k++)
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

static void dep_reason(struct strbuf *sb, const cJSON *d)
{
	const char *ns = jstr(d, "namespace");
	strbuf_addf(sb, "%s %s%s%s", jstr(d, "kind") ? jstr(d, "kind") : "dependency", ns ? ns : "", ns ? "/" : "",
		    jstr(d, "name") ? jstr(d, "name") : "?");
	strbuf_addf(sb, " is %s", jstr(d, "status") ? jstr(d, "status") : "?");
	if (jstr(d, "reason"))
		strbuf_addf(sb, " (%s)", jstr(d, "reason"));
	if (jstr(d, "message"))
		strbuf_addf(sb, ": %.300s", jstr(d, "message"));
}

static int kube_target_missing(const struct classifier *c, const struct obs_input *in)
{
	const cJSON *t = in->probe ? cJSON_GetObjectItemCaseSensitive(in->probe, "target") : NULL;
	const char *st = jstr(t, "status");
	if (st && (!strcmp(st, "NotFound") || !strcmp(st, "Missing") || !strcmp(st, "Absent")))
		return 1;
	if (in->condition_output && pattern_match(&c->k_notfound, in->condition_output, NULL, 0))
		return 1;
	return in->guard_output && pattern_match(&c->k_notfound, in->guard_output, NULL, 0);
}

static int check_kubernetes(struct classifier *c, const struct obs_input *in, struct classification *out)
{
	struct capture cap = {0};
	/* Forbidden / Unauthorized: no amount of waiting fixes permissions. */
	if (match_texts(&c->k_auth, in, &cap, NULL) >= 0) {
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
		return 1;
	}
	capture_release(&cap);
	int tls = match_texts(&c->k_tls, in, NULL, NULL) >= 0;
	c->tls_streak = tls ? c->tls_streak + 1 : 0;
	if (kube_check_failures(c, in->probe, out))
		return 1;

	const cJSON *deps = in->probe ? cJSON_GetObjectItemCaseSensitive(in->probe, "dependencies") : NULL;
	const cJSON *tgt = in->probe ? cJSON_GetObjectItemCaseSensitive(in->probe, "target") : NULL;
	if (jstr(tgt, "status") && !strcmp(jstr(tgt, "status"), "Failed")) {
		char *kind = lower_dup(jstr(tgt, "kind") ? jstr(tgt, "kind") : "target");
		char *fp = xasprintf("%s-failed/%s", kind, jstr(tgt, "name") ? jstr(tgt, "name") : "unknown");
		decide(out, CLASS_TERMINAL_FAIL, "builtin:kubernetes/target-failed");
		add_fp(c, out, fp);
		struct strbuf sb = STRBUF_INIT;
		dep_reason(&sb, tgt);
		strvec_push_owned(&out->reasons, strbuf_detach(&sb));
		free(fp);
		free(kind);
		return 1;
	}
	if (kube_target_missing(c, in)) {
		int nfailed = 0, nprog = 0;
		const cJSON *d;
		cJSON_ArrayForEach(d, deps) {
			const char *st = jstr(d, "status");
			nfailed += st && !strcmp(st, "Failed");
			nprog += st && !strcmp(st, "Progressing");
		}
		char *kind = NULL, *name = NULL;
		target_of(c, in->probe, &kind, &name);
		if (nfailed) {
			char *sn = short_name(name ? name : "unknown");
			int is_crd = !kind || !strcmp(kind, "crd") || !strncmp(kind, "customresourcedefinition", 24) ||
				     (in->condition_output && strstr(in->condition_output, "customresourcedefinition"));
			char *fp = is_crd ? xasprintf("crd-missing/%s", sn) : xasprintf("%s-missing/%s", kind, sn);
			decide(out, CLASS_TERMINAL_FAIL, "builtin:kubernetes/dependency-failed");
			add_fp(c, out, fp);
			free(fp);
			cJSON_ArrayForEach(d, deps) {
				const char *st = jstr(d, "status");
				if (!st || strcmp(st, "Failed"))
					continue;
				char *dk = lower_dup(jstr(d, "kind") ? jstr(d, "kind") : "dependency");
				char *dfp = xasprintf("%s-failed/%s", dk, jstr(d, "name") ? jstr(d, "name") : "unknown");
				add_fp(c, out, dfp);
				struct strbuf sb = STRBUF_INIT;
				strbuf_addf(&sb, "%s not found, and it will not appear: ", name ? name : "the target");
				dep_reason(&sb, d);
				strvec_push_owned(&out->reasons, strbuf_detach(&sb));
				const char *dn = jstr(d, "name") ? jstr(d, "name") : "?";
				strvec_pushf(&out->hints,
					     "%s %s must become Ready before %s can appear: fix why it failed%s%s%s "
					     "(kubectl describe %s %s), not the wait",
					     jstr(d, "kind") ? jstr(d, "kind") : "the dependency", dn,
					     name ? name : "the target", jstr(d, "reason") ? " (" : "",
					     jstr(d, "reason") ? jstr(d, "reason") : "", jstr(d, "reason") ? ")" : "", dk, dn);
				free(dfp);
				free(dk);
			}
			free(sn);
		} else if (nprog) {
			decide(out, CLASS_RETRYABLE, "builtin:kubernetes/dependency-progressing");
			cJSON_ArrayForEach(d, deps) {
				const char *st = jstr(d, "status");
				if (!st || strcmp(st, "Progressing"))
					continue;
				struct strbuf sb = STRBUF_INIT;
				strbuf_addf(&sb, "%s not found yet; waiting: ", name ? name : "the target");
				dep_reason(&sb, d);
				strvec_push_owned(&out->reasons, strbuf_detach(&sb));
			}
		}
		free(kind);
		free(name);
		if (nfailed || nprog)
			return 1;
	}
	if (tls) {
		enum wl_class class = c->tls_streak > KUBE_TLS_AFTER ? CLASS_STALLED : CLASS_RETRYABLE;
		decide(out, class, "builtin:kubernetes/webhook-tls");
		add_fp(c, out, "webhook-tls");
		strvec_pushf(&out->reasons, "webhook/TLS error %d observation%s in a row (stalled after %d)",
			     c->tls_streak, c->tls_streak == 1 ? "" : "s", KUBE_TLS_AFTER);
		strvec_push(&out->hints, "check the webhook's service, its certificate (cert-manager) and CA bundle");
		return 1;
	}
	return 0;
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
	if (c->kubernetes && check_kubernetes(c, in, out))
		return 1;
	return 0;
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
	enum wl_class class;
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
	cJSON *j = cJSON_Parse(s);
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
	enum wl_class class;
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

int progress_observe(struct progress *p, enum wl_class class, const char *digest)
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
