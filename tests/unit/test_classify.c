/* classify: the decision order of SPEC §4.4.2, rules, builtin kubernetes set, progress. */
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "harness.h"
#include "loader.h"
#include "pattern.h"
#include "xalloc.h"

#define NOTFOUND \
	"Error from server (NotFound): customresourcedefinitions.apiextensions.k8s.io " \
	"\"k0smotrondockerclusters.cluster.appthrust.io\" not found"
#define PROBE_FAILED \
	"{\"target\":{\"kind\":\"CustomResourceDefinition\",\"name\":\"k0smotrondockerclusters.cluster.appthrust.io\",\"status\":\"NotFound\"}," \
	"\"dependencies\":[{\"kind\":\"HelmRelease\",\"name\":\"capi-operator\",\"namespace\":\"flux-system\",\"status\":\"Failed\"," \
	"\"reason\":\"InstallFailed\",\"message\":\"chart not found\"}]}"
#define PROBE_PROGRESSING \
	"{\"target\":{\"kind\":\"CustomResourceDefinition\",\"name\":\"k0smotrondockerclusters.cluster.appthrust.io\"}," \
	"\"dependencies\":[{\"kind\":\"HelmRelease\",\"name\":\"capi-operator\",\"status\":\"Progressing\",\"reason\":\"Progressing\"}]}"

static struct wl_wait_policy pol;
static struct wait_settings settings;

static void policy_reset(void)
{
	struct wl_wait_policy use;
	wait_policy_init(&use);
	wait_settings_resolve(&settings, &use, NULL, 60000);
	wait_policy_release(&pol);
	pol = settings.p;   /* the resolved policy, owned by pol from here */
	pol.mode = WAIT_MODE_PROBE_AWARE;
}

static void add_rule(const char *match, const char *field, const char *equals, enum obs_class class,
		     const char *fp, int after)
{
	pol.rules = xrealloc(pol.rules, (pol.nrules + 1) * sizeof(*pol.rules));
	struct wl_rule *r = &pol.rules[pol.nrules++];
	memset(r, 0, sizeof(*r));
	r->match = xstrdup(match);
	r->field = xstrdup(field);
	r->equals = xstrdup(equals);
	r->class = class;
	r->fingerprint = xstrdup(fp);
	r->after = after;
	pol.rules_present = 1;
}

/* Classify one observation through steps 1-3 and 5-6 (no external classifier). */
static int observe(struct classifier *c, int exit_code, const char *cond_out, const char *probe_text,
		   struct classification *out)
{
	cJSON *probe = probe_text ? cJSON_Parse(probe_text) : NULL;
	struct obs_input in = {.condition_ran = 1, .condition_exit = exit_code, .condition_output = cond_out,
			       .probe_output = probe_text, .probe = probe};
	int decided = classifier_observe(c, &in, out);
	if (!decided)
		classifier_finish(c, probe, out);
	cJSON_Delete(probe);
	return decided;
}

/* The policy compiled (as the loader does once per workflow load), as the settings the classifier reads. */
static struct classifier *mk(void)
{
	struct wl_err err = WL_ERR_INIT;
	if (wait_policy_compile(&pol, &err) < 0) {
		fprintf(stderr, "  wait_policy_compile: %s\n", err.msg);
		return NULL;
	}
	settings.p = pol;   /* borrowed: pol owns */
	struct classifier *c = classifier_new(&settings, &err);
	if (!c)
		fprintf(stderr, "  classifier_new: %s\n", err.msg);
	return c;
}

static void test_met_wins(void)
{
	policy_reset();
	strvec_push(&pol.terminal_patterns, "chart not found");
	struct classifier *c = mk();
	struct classification r = CLASSIFICATION_INIT;
	observe(c, 0, "chart not found", PROBE_FAILED, &r);
	CHECK(r.met);
	classification_release(&r);
	classifier_free(c);
}

static void test_terminal_pattern(void)
{
	policy_reset();
	strvec_push(&pol.terminal_patterns, "(?i)CHART NOT FOUND");
	pol.fingerprint_prefix = xstrdup("kest/control");
	struct classifier *c = mk();
	struct classification r = CLASSIFICATION_INIT;
	CHECK(observe(c, 1, NOTFOUND, PROBE_FAILED, &r));
	CHECK_INT(r.class, CLASS_TERMINAL_FAIL);
	CHECK_STR(r.rule, "terminal_patterns[0]");
	CHECK_STR(r.fingerprints.n ? r.fingerprints.v[0] : NULL, "kest/control/terminal/chart-not-found");
	CHECK_CONTAINS(r.reasons.v[0], "the probe output");
	classification_release(&r);
	classifier_free(c);
}

/* Fingerprints are lower-cased, but the redaction marker of already
 * redacted input survives (issue 15, leak 1). */
static void test_fingerprint_keeps_marker(void)
{
	policy_reset();
	strvec_push(&pol.terminal_patterns, "login rejected: .*");
	struct classifier *c = mk();
	struct classification r = CLASSIFICATION_INIT;
	CHECK(observe(c, 1, "login rejected: key [REDACTED] pw [REDACTED]", NULL, &r));
	CHECK_STR(r.fingerprints.n ? r.fingerprints.v[0] : NULL, "terminal/login-rejected:-key-[REDACTED]-pw-[REDACTED]");
	classification_release(&r);
	classifier_free(c);
}

static void test_rules_field_and_templates(void)
{
	policy_reset();
	pol.fingerprint_prefix = xstrdup("p");
	add_rule("Error from server \\((Forbidden|Unauthorized)\\)", NULL, NULL, CLASS_TERMINAL_FAIL, "auth/{1}", WL_UNSET);
	add_rule(NULL, "dependencies[*].status", "Failed", CLASS_TERMINAL_FAIL,
		 "{dependencies[*].kind}-failed/{dependencies[*].name}", WL_UNSET);
	struct classifier *c = mk();
	struct classification r = CLASSIFICATION_INIT;
	CHECK(observe(c, 1, "Error from server (Forbidden): nope", NULL, &r));
	CHECK_STR(r.fingerprints.n ? r.fingerprints.v[0] : NULL, "p/auth/Forbidden");
	CHECK_STR(r.rule, "rules[0]");
	classification_release(&r);
	/* the second element failed: the template takes that element's name */
	CHECK(observe(c, 1, NOTFOUND,
		      "{\"dependencies\":[{\"kind\":\"Kustomization\",\"name\":\"ok\",\"status\":\"Ready\"},"
		      "{\"kind\":\"HelmRelease\",\"name\":\"bad\",\"status\":\"Failed\"}]}",
		      &r));
	CHECK_INT(r.class, CLASS_TERMINAL_FAIL);
	CHECK_STR(r.fingerprints.n ? r.fingerprints.v[0] : NULL, "p/HelmRelease-failed/bad");
	classification_release(&r);
	/* nothing matches: retryable, no rule */
	CHECK(!observe(c, 1, NOTFOUND, PROBE_PROGRESSING, &r));
	CHECK_INT(r.class, CLASS_RETRYABLE);
	CHECK(r.rule == NULL);
	classification_release(&r);
	classifier_free(c);
}

static void test_rule_after(void)
{
	policy_reset();
	add_rule("x509", NULL, NULL, CLASS_RETRYABLE, "webhook-tls", 2);
	struct classifier *c = mk();
	struct classification r = CLASSIFICATION_INIT;
	for (int i = 0; i < 2; i++) {
		observe(c, 1, "x509: bad cert", NULL, &r);
		CHECK_INT(r.class, CLASS_RETRYABLE);
		classification_release(&r);
	}
	observe(c, 1, "ok now", NULL, &r);   /* streak broken */
	classification_release(&r);
	for (int i = 0; i < 2; i++) {
		observe(c, 1, "x509: bad cert", NULL, &r);
		CHECK_INT(r.class, CLASS_RETRYABLE);
		classification_release(&r);
	}
	observe(c, 1, "x509: bad cert", NULL, &r);
	CHECK_INT(r.class, CLASS_STALLED);
	CHECK_STR(r.fingerprints.n ? r.fingerprints.v[0] : NULL, "webhook-tls");
	classification_release(&r);
	classifier_free(c);
}

static void test_builtin_kubernetes_seed(void)
{
	policy_reset();
	pol.builtin = xstrdup("kubernetes");
	pol.fingerprint_prefix = xstrdup("kest/control");
	pol.target = xstrdup("crd/k0smotrondockerclusters.cluster.appthrust.io");
	struct classifier *c = mk();
	struct classification r = CLASSIFICATION_INIT;
	CHECK(observe(c, 1, NOTFOUND, PROBE_FAILED, &r));
	CHECK_INT(r.class, CLASS_TERMINAL_FAIL);
	CHECK_INT(r.fingerprints.n, 2);
	strvec_sort_unique(&r.fingerprints);
	CHECK_STR(r.fingerprints.v[0], "kest/control/crd-missing/k0smotrondockerclusters");
	CHECK_STR(r.fingerprints.v[1], "kest/control/helmrelease-failed/capi-operator");
	CHECK_CONTAINS(r.reasons.v[0], "InstallFailed");
	/* the hint is a command to paste: with the dependency's namespace */
	CHECK_INT(r.hints.n, 1);
	CHECK_CONTAINS(r.hints.v[0], "(kubectl describe helmrelease -n flux-system capi-operator)");
	classification_release(&r);
	/* without a namespace in the probe: none invented */
	CHECK(observe(c, 1, NOTFOUND,
		      "{\"target\":{\"kind\":\"CustomResourceDefinition\",\"name\":\"x.example.io\",\"status\":\"NotFound\"},"
		      "\"dependencies\":[{\"kind\":\"ClusterSummary\",\"name\":\"cs-1\",\"status\":\"Failed\"}]}",
		      &r));
	CHECK_INT(r.hints.n, 1);
	CHECK_CONTAINS(r.hints.v[0], "(kubectl describe clustersummary cs-1)");
	classification_release(&r);
	/* dependency still progressing (within progress_deadline): progressing, never stalled */
	CHECK(observe(c, 1, NOTFOUND, PROBE_PROGRESSING, &r));
	CHECK_INT(r.class, CLASS_PROGRESSING);
	CHECK_STR(r.rule, "builtin:kubernetes/dependency-progressing");
	CHECK_INT(r.fingerprints.n, 0);
	classification_release(&r);
	/* auth */
	CHECK(observe(c, 1, "Error from server (Unauthorized): x", NULL, &r));
	CHECK_STR(r.fingerprints.n ? r.fingerprints.v[0] : NULL, "kest/control/auth/unauthorized");
	classification_release(&r);
	/* workload failures in the probe */
	CHECK(observe(c, 1, "waiting", "{\"dependencies\":[{\"kind\":\"Pod\",\"name\":\"web-1\",\"status\":\"Failed\",\"reason\":\"CrashLoopBackOff\"}]}", &r));
	CHECK_STR(r.fingerprints.n ? r.fingerprints.v[0] : NULL, "kest/control/pod-crashloopbackoff/web-1");
	classification_release(&r);
	classifier_free(c);
}

static void test_builtin_tls_streak(void)
{
	policy_reset();
	pol.builtin = xstrdup("kubernetes");
	struct classifier *c = mk();
	struct classification r = CLASSIFICATION_INIT;
	const char *tls = "Error from server (InternalError): failed calling webhook \"x\": tls: bad certificate";
	for (int i = 0; i < 5; i++) {
		observe(c, 1, tls, NULL, &r);
		CHECK_INT(r.class, CLASS_RETRYABLE);
		classification_release(&r);
	}
	observe(c, 1, tls, NULL, &r);
	CHECK_INT(r.class, CLASS_STALLED);
	CHECK_STR(r.fingerprints.n ? r.fingerprints.v[0] : NULL, "webhook-tls");
	classification_release(&r);
	classifier_free(c);
}

static void test_external_and_probe_class(void)
{
	policy_reset();
	pol.fingerprint_prefix = xstrdup("x");
	struct classifier *c = mk();
	struct classification r = CLASSIFICATION_INIT;
	struct wl_err err = WL_ERR_INIT;
	CHECK_INT(classify_parse_external(c, "  terminal\n", &r, &err), 0);
	CHECK_INT(r.class, CLASS_TERMINAL_FAIL);
	classification_release(&r);
	CHECK_INT(classify_parse_external(c, "{\"class\":\"stalled\",\"fingerprints\":[\"db/locked\"],\"reason\":\"lock held\"}",
					  &r, &err), 0);
	CHECK_INT(r.class, CLASS_STALLED);
	CHECK_STR(r.fingerprints.n ? r.fingerprints.v[0] : NULL, "x/db/locked");
	CHECK_STR(r.reasons.n ? r.reasons.v[0] : NULL, "lock held");
	classification_release(&r);
	CHECK_INT(classify_parse_external(c, "maybe later", &r, &err), -1);
	CHECK_CONTAINS(err.msg, "not a class");
	CHECK_INT(classify_parse_external(c, "{\"class\":\"soon\"}", &r, &err), -1);
	CHECK_INT(classify_parse_external(c, "{\"class\":", &r, &err), -1);
	classification_release(&r);
	/* roboppi probe contract */
	CHECK(!observe(c, 1, "no", "{\"class\":\"progressing\",\"fingerprints\":[\"a/b\"],\"reasons\":[\"moving\"]}", &r));
	CHECK_INT(r.class, CLASS_PROGRESSING);
	CHECK_STR(r.rule, "probe");
	CHECK_STR(r.fingerprints.n ? r.fingerprints.v[0] : NULL, "x/a/b");
	classification_release(&r);
	char *in = classify_input_json(NULL, 1, "out", 3, 1.5);
	CHECK_STR(in, "{\"probe\":null,\"condition\":{\"exit_code\":1,\"output\":\"out\"},\"observation\":3,\"elapsed_s\":1.5}");
	free(in);
	classifier_free(c);
}

static void test_bad_patterns(void)
{
	policy_reset();
	add_rule("([", NULL, NULL, CLASS_RETRYABLE, NULL, WL_UNSET);
	struct wl_err err = WL_ERR_INIT;
	settings.p = pol;
	CHECK(classifier_new(&settings, &err) == NULL);   /* it compiles nothing */
	CHECK_CONTAINS(err.msg, "rules[0].match is not compiled");
	CHECK(wait_policy_compile(&pol, &err) < 0);
	CHECK_CONTAINS(err.msg, "rules[0].match: invalid regular expression '(['");
	policy_reset();
	pol.builtin = xstrdup("kubernets");
	settings.p = pol;
	CHECK(classifier_new(&settings, &err) == NULL);
	CHECK_CONTAINS(err.msg, "unknown builtin rule set 'kubernets'");
}

/*
 * Regexes are compiled once per workflow load: the loader compiles each
 * rule and terminal pattern once (at its position, for errors); every
 * step's and check's resolved settings share that code, and classifiers
 * (one per wait) compile nothing, the builtin set at most once per process.
 */
static void test_compiled_once_per_load(void)
{
	static const char yaml[] =
		"name: t\nversion: \"1\"\ntimeout: 1m\n"
		"wait_policy:\n"
		"  mode: probe_aware\n"
		"  builtin: kubernetes\n"
		"  terminal_patterns: ['chart (.*) not found', '(?i)forbidden']\n"
		"  rules:\n"
		"    - {match: 'quota exceeded', class: terminal_fail, fingerprint: quota}\n"
		"steps:\n"
		"  a:\n    wait: {condition: 'false'}\n"
		"  b:\n    wait: {condition: 'false'}\n"
		"  c:\n    worker: CUSTOM\n    instructions: echo hi\n"
		"    completion_check: {worker: CUSTOM, instructions: 'true', wait_policy: {interval: 1s}}\n"
		"    max_iterations: 2\n";
	struct errlist el = ERRLIST_INIT;
	unsigned long before = pattern_compiles();
	struct wl_workflow *wf = loader_load_string("once.yaml", yaml, sizeof(yaml) - 1, &el);
	CHECK(wf != NULL);
	if (!wf) {
		errlist_print(&el, stderr);
		errlist_release(&el);
		return;
	}
	CHECK_INT((int)(pattern_compiles() - before), 3);   /* 2 terminal_patterns + 1 rule, once */
	const struct wl_wait_policy *top = &wf->wait_policy;
	CHECK_INT((int)top->nterminal_re, 2);
	CHECK(top->rules[0].re != NULL);
	/* a kubernetes classifier once, so that its builtin patterns exist */
	struct classifier *warm = classifier_new(wf->steps[0].wait_settings, NULL);
	CHECK(warm != NULL);
	classifier_free(warm);
	int resolved = 0;
	before = pattern_compiles();
	for (size_t i = 0; i < wf->nsteps; i++) {
		const struct wait_settings *ws[2] = {wf->steps[i].wait_settings, wf->steps[i].check.wait_settings};
		for (int k = 0; k < 2; k++) {
			if (!ws[k])
				continue;   /* no wait there: nothing resolved */
			resolved++;
			const struct wl_wait_policy *p = &ws[k]->p;
			CHECK(p->nterminal_re == 2 && p->terminal_re[0] == top->terminal_re[0] &&
			      p->terminal_re[1] == top->terminal_re[1]);
			CHECK(p->nrules == 1 && p->rules[0].re == top->rules[0].re);
			for (int n = 0; n < 2; n++) {   /* two waits of one step (retries, iterations) */
				struct wl_err err = WL_ERR_INIT;
				struct classifier *c = classifier_new(ws[k], &err);
				CHECK(c != NULL);
				struct classification r = CLASSIFICATION_INIT;
				struct obs_input in = {.condition_ran = 1, .condition_exit = 1,
						       .condition_output = "Error: chart capi not found"};
				CHECK(c && classifier_observe(c, &in, &r) == 1);
				CHECK_INT(r.class, CLASS_TERMINAL_FAIL);
				CHECK_STR(r.rule, "terminal_patterns[0]");
				classification_release(&r);
				struct obs_input q = {.condition_ran = 1, .condition_exit = 1,
						      .condition_output = "exceeded quota? no: quota exceeded"};
				CHECK(c && classifier_observe(c, &q, &r) == 1);
				CHECK_STR(r.rule, "rules[0]");
				classification_release(&r);
				classifier_free(c);
			}
		}
	}
	CHECK_INT(resolved, 3);   /* wait steps a and b, c's check: the uses with a wait */

	CHECK_INT((int)(pattern_compiles() - before), 0);   /* 6 classifiers, nothing compiled */
	workflow_free(wf);
	errlist_release(&el);
}

static void test_progress(void)
{
	struct stall_count p = STALL_COUNT_INIT;
	CHECK_INT(stall_count_observe(&p, CLASS_RETRYABLE, "aa"), 0);
	CHECK_INT(p.no_progress, 1);
	CHECK_INT(stall_count_observe(&p, CLASS_RETRYABLE, "aa"), 0);
	CHECK_INT(p.no_progress, 2);
	CHECK_INT(stall_count_observe(&p, CLASS_RETRYABLE, NULL), 0);   /* failed probe: unchanged */
	CHECK_INT(p.no_progress, 3);
	CHECK_INT(stall_count_observe(&p, CLASS_RETRYABLE, "bb"), 1);
	CHECK_INT(p.no_progress, 0);
	stall_count_observe(&p, CLASS_RETRYABLE, "bb");
	CHECK_INT(p.no_progress, 1);
	stall_count_observe(&p, CLASS_PROGRESSING, "bb");
	CHECK_INT(p.no_progress, 0);
}

static void test_builtin_tls_while_progressing(void)
{
	policy_reset();
	pol.builtin = xstrdup("kubernetes");
	struct classifier *c = mk();
	struct classification r = CLASSIFICATION_INIT;
	const char *tls = "Error from server (InternalError): failed calling webhook \"x\": x509: certificate signed by unknown authority";
	/* while an object progresses (the webhook's certificate being issued), the count starts again */
	for (int i = 0; i < 8; i++) {
		observe(c, 1, tls, "{\"dependencies\":[{\"kind\":\"Certificate\",\"name\":\"ca\",\"status\":\"Progressing\"}]}", &r);
		CHECK_INT(r.class, CLASS_PROGRESSING);
		classification_release(&r);
	}
	for (int i = 0; i < 5; i++) {
		observe(c, 1, tls, NULL, &r);
		CHECK_INT(r.class, CLASS_RETRYABLE);
		classification_release(&r);
	}
	observe(c, 1, tls, NULL, &r);
	CHECK_INT(r.class, CLASS_STALLED);
	classification_release(&r);
	classifier_free(c);
}

/* Classify at a given wall clock (ms since the epoch). */
static int observe_at(struct classifier *c, int64_t now, const char *cond_out, const char *probe_text,
		      const char *probe_err, struct classification *out)
{
	cJSON *probe = probe_text ? cJSON_Parse(probe_text) : NULL;
	struct obs_input in = {.condition_ran = 1, .condition_exit = 1, .condition_output = cond_out,
			       .probe_output = probe_text, .probe = probe, .probe_error_output = probe_err,
			       .now_wall_ms = now};
	int decided = classifier_observe(c, &in, out);
	if (!decided)
		classifier_finish(c, probe, out);
	cJSON_Delete(probe);
	return decided;
}

#define T0 1796083200000LL   /* 2026-12-01T00:00:00Z */
#define HR_INSTALLING \
	"{\"apiVersion\":\"helm.toolkit.fluxcd.io/v2\",\"kind\":\"HelmRelease\",\"metadata\":{\"name\":\"capi-operator\"," \
	"\"namespace\":\"capi-system\",\"generation\":1,\"resourceVersion\":\"7\"},\"spec\":{\"timeout\":\"5m\"}," \
	"\"status\":{\"observedGeneration\":1,\"conditions\":[{\"type\":\"Reconciling\",\"status\":\"True\",\"reason\":\"Progressing\"," \
	"\"lastTransitionTime\":\"2026-12-01T00:00:00Z\"},{\"type\":\"Ready\",\"status\":\"Unknown\",\"reason\":\"Progressing\"," \
	"\"message\":\"Running 'install' action with timeout of 5m0s\",\"lastTransitionTime\":\"2026-12-01T00:00:00Z\"}]}}"

static void test_builtin_in_progress_deadline(void)
{
	policy_reset();
	pol.builtin = xstrdup("kubernetes");
	struct classifier *c = mk();
	struct classification r = CLASSIFICATION_INIT;
	/* byte-for-byte unchanged for 5 minutes: progressing, within spec.timeout */
	for (int64_t t = 0; t <= 300000; t += 60000) {
		CHECK(observe_at(c, T0 + t, NOTFOUND, HR_INSTALLING, NULL, &r));
		CHECK_INT(r.class, CLASS_PROGRESSING);
		CHECK_CONTAINS(r.reasons.n ? r.reasons.v[0] : NULL, "within its spec.timeout 5m");
		classification_release(&r);
	}
	/* still within the slack (10%, at most 30 s) */
	CHECK(observe_at(c, T0 + 329000, NOTFOUND, HR_INSTALLING, NULL, &r));
	CHECK_INT(r.class, CLASS_PROGRESSING);
	classification_release(&r);
	/* 40 minutes later: the controller is not reconciling it */
	CHECK(observe_at(c, T0 + 40 * 60000, NOTFOUND, HR_INSTALLING, NULL, &r));
	CHECK_INT(r.class, CLASS_STALLED);
	CHECK_STR(r.fingerprints.n ? r.fingerprints.v[0] : NULL, "helmrelease-stuck/capi-operator");
	CHECK_STR(r.reasons.n ? r.reasons.v[0] : NULL,
		  "HelmRelease capi-system/capi-operator has been Progressing for 40m, past its spec.timeout 5m: "
		  "the controller is not reconciling it (last message: Running 'install' action with timeout of 5m0s)");
	classification_release(&r);
	classifier_free(c);
}

static void test_builtin_progress_deadline(void)
{
	policy_reset();
	pol.builtin = xstrdup("kubernetes");
	pol.progress_deadline = 60000;
	const char *pvc1 = "{\"kind\":\"PersistentVolumeClaim\",\"metadata\":{\"name\":\"data\",\"namespace\":\"db\",\"resourceVersion\":\"1\"},\"status\":{\"phase\":\"Pending\"}}";
	const char *pvc2 = "{\"kind\":\"PersistentVolumeClaim\",\"metadata\":{\"name\":\"data\",\"namespace\":\"db\",\"resourceVersion\":\"2\"},\"status\":{\"phase\":\"Pending\"}}";
	struct classifier *c = mk();
	struct classification r = CLASSIFICATION_INIT;
	CHECK(observe_at(c, T0, "", pvc1, NULL, &r));
	CHECK_INT(r.class, CLASS_PROGRESSING);
	classification_release(&r);
	CHECK(observe_at(c, T0 + 50000, "", pvc1, NULL, &r));
	CHECK_INT(r.class, CLASS_PROGRESSING);
	classification_release(&r);
	/* a change (resourceVersion) restarts the clock */
	CHECK(observe_at(c, T0 + 55000, "", pvc2, NULL, &r));
	CHECK_INT(r.class, CLASS_PROGRESSING);
	classification_release(&r);
	CHECK(observe_at(c, T0 + 110000, "", pvc2, NULL, &r));
	CHECK_INT(r.class, CLASS_PROGRESSING);
	classification_release(&r);
	CHECK(observe_at(c, T0 + 116000, "", pvc2, NULL, &r));
	CHECK_INT(r.class, CLASS_STALLED);
	CHECK_STR(r.fingerprints.n ? r.fingerprints.v[0] : NULL, "persistentvolumeclaim-stuck/data");
	CHECK_CONTAINS(r.reasons.n ? r.reasons.v[0] : NULL, "past progress_deadline 1m");
	classification_release(&r);
	classifier_free(c);
}

static void test_builtin_raw_objects(void)
{
	policy_reset();
	pol.builtin = xstrdup("kubernetes");
	pol.fingerprint_prefix = xstrdup("p");
	struct classifier *c = mk();
	struct classification r = CLASSIFICATION_INIT;
	/* a List with a crash-looping pod among ready ones */
	CHECK(observe_at(c, T0, "", "{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":["
		"{\"kind\":\"Pod\",\"metadata\":{\"name\":\"ok\"},\"status\":{\"phase\":\"Running\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}},"
		"{\"kind\":\"Pod\",\"metadata\":{\"name\":\"web-1\"},\"status\":{\"phase\":\"Running\",\"containerStatuses\":[{\"name\":\"a\",\"state\":{\"waiting\":{\"reason\":\"CrashLoopBackOff\"}}}]}}]}",
		NULL, &r));
	CHECK_INT(r.class, CLASS_TERMINAL_FAIL);
	CHECK_STR(r.fingerprints.n ? r.fingerprints.v[0] : NULL, "p/pod-crashloopbackoff/web-1");
	classification_release(&r);
	/* a Deployment past its progress deadline */
	CHECK(observe_at(c, T0, "", "{\"kind\":\"Deployment\",\"metadata\":{\"name\":\"api\"},\"status\":{\"conditions\":["
		"{\"type\":\"Progressing\",\"status\":\"False\",\"reason\":\"ProgressDeadlineExceeded\"}]}}", NULL, &r));
	CHECK_STR(r.fingerprints.n ? r.fingerprints.v[0] : NULL, "p/deployment-progressdeadlineexceeded/api");
	classification_release(&r);
	/* a Deployment rolling out: progressing, its controller owns the deadline */
	for (int i = 0; i < 3; i++) {
		CHECK(observe_at(c, T0 + i * 3600000LL, "", "{\"kind\":\"Deployment\",\"metadata\":{\"name\":\"api\"},\"spec\":{\"replicas\":2},"
			"\"status\":{\"replicas\":2,\"updatedReplicas\":2,\"readyReplicas\":1,\"availableReplicas\":1}}", NULL, &r));
		CHECK_INT(r.class, CLASS_PROGRESSING);
		classification_release(&r);
	}
	/* raw objects as dependencies of the probe shape */
	CHECK(observe_at(c, T0, NOTFOUND, "{\"target\":{\"kind\":\"CustomResourceDefinition\",\"name\":\"x.example.io\",\"status\":\"NotFound\"},"
		"\"dependencies\":[{\"kind\":\"HelmRelease\",\"metadata\":{\"name\":\"x\",\"namespace\":\"f\"},"
		"\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"False\",\"reason\":\"UpgradeFailed\",\"message\":\"boom\"}]}}]}",
		NULL, &r));
	CHECK_INT(r.class, CLASS_TERMINAL_FAIL);
	CHECK_INT(r.fingerprints.n, 2);
	CHECK_STR(r.fingerprints.v[0], "p/crd-missing/x");
	CHECK_STR(r.fingerprints.v[1], "p/helmrelease-failed/x");
	classification_release(&r);
	classifier_free(c);
}

static void test_builtin_events_api_notfound(void)
{
	policy_reset();
	pol.builtin = xstrdup("kubernetes");
	struct classifier *c = mk();
	struct classification r = CLASSIFICATION_INIT;
#define EV "{\"dependencies\":[],\"events\":[{\"kind\":\"Pod\",\"name\":\"web-1\",\"type\":\"Warning\"," \
	   "\"reason\":\"FailedScheduling\",\"count\":%d,\"message\":\"0/3 nodes are available\"}]}"
	char buf[512];
	snprintf(buf, sizeof(buf), EV, 2);
	CHECK(!observe_at(c, T0, "", buf, NULL, &r));   /* twice: not yet */
	CHECK_INT(r.class, CLASS_RETRYABLE);
	classification_release(&r);
	snprintf(buf, sizeof(buf), EV, 5);
	CHECK(observe_at(c, T0, "", buf, NULL, &r));
	CHECK_INT(r.class, CLASS_TERMINAL_FAIL);
	CHECK_STR(r.fingerprints.n ? r.fingerprints.v[0] : NULL, "pod-failedscheduling/web-1");
	classification_release(&r);
	/* the API server restarting: retryable, no evidence either way */
	CHECK(observe_at(c, T0, "The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?",
			 NULL, NULL, &r));
	CHECK_INT(r.class, CLASS_RETRYABLE);
	CHECK_INT(r.no_evidence, 1);
	CHECK_INT(r.probe_explained, 0);
	classification_release(&r);
	CHECK(observe_at(c, T0, NOTFOUND, NULL, "Error from server (ServiceUnavailable): the server is currently unable to handle the request", &r));
	CHECK_INT(r.no_evidence, 1);
	CHECK_INT(r.probe_explained, 1);
	classification_release(&r);
	/* a raw-kubectl probe of an object that does not exist yet */
	CHECK(observe_at(c, T0, NOTFOUND, NULL, NOTFOUND, &r));
	CHECK_STR(r.rule, "builtin:kubernetes/not-found");
	CHECK_INT(r.no_evidence, 1);
	CHECK_INT(r.probe_explained, 1);
	classification_release(&r);
	/* a probe failing for its own reasons is not explained by the condition's NotFound */
	CHECK(observe_at(c, T0, NOTFOUND, NULL, "jq: error: syntax error", &r));
	CHECK_INT(r.probe_explained, 0);
	classification_release(&r);
	classifier_free(c);
}

int main(void)
{
	wait_policy_init(&pol);
	TEST(test_met_wins);
	TEST(test_terminal_pattern);
	TEST(test_fingerprint_keeps_marker);
	TEST(test_rules_field_and_templates);
	TEST(test_rule_after);
	TEST(test_builtin_kubernetes_seed);
	TEST(test_builtin_tls_streak);
	TEST(test_builtin_tls_while_progressing);
	TEST(test_builtin_in_progress_deadline);
	TEST(test_builtin_progress_deadline);
	TEST(test_builtin_raw_objects);
	TEST(test_builtin_events_api_notfound);
	TEST(test_external_and_probe_class);
	TEST(test_bad_patterns);
	TEST(test_compiled_once_per_load);
	TEST(test_progress);
	wait_policy_release(&pol);
	return tests_done();
}
