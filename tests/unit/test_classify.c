/* classify: the decision order of SPEC §4.4.2, rules, builtin kubernetes set, progress. */
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "harness.h"
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

static void policy_reset(void)
{
	wait_policy_release(&pol);
	wait_policy_init(&pol);
	wait_policy_resolve(&pol, NULL, 60000);
	pol.mode = WAIT_MODE_PROBE_AWARE;
}

static void add_rule(const char *match, const char *field, const char *equals, enum wl_class class,
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

static struct classifier *mk(void)
{
	struct wl_err err = WL_ERR_INIT;
	struct classifier *c = classifier_new(&pol, &err);
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
	classification_release(&r);
	/* dependency still progressing: retryable, decided by the builtin */
	CHECK(observe(c, 1, NOTFOUND, PROBE_PROGRESSING, &r));
	CHECK_INT(r.class, CLASS_RETRYABLE);
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
	CHECK(classifier_new(&pol, &err) == NULL);
	CHECK_CONTAINS(err.msg, "rules[0].match");
	policy_reset();
	pol.builtin = xstrdup("kubernets");
	CHECK(classifier_new(&pol, &err) == NULL);
	CHECK_CONTAINS(err.msg, "unknown builtin rule set 'kubernets'");
}

static void test_progress(void)
{
	struct progress p = PROGRESS_INIT;
	CHECK_INT(progress_observe(&p, CLASS_RETRYABLE, "aa"), 0);
	CHECK_INT(p.no_progress, 1);
	CHECK_INT(progress_observe(&p, CLASS_RETRYABLE, "aa"), 0);
	CHECK_INT(p.no_progress, 2);
	CHECK_INT(progress_observe(&p, CLASS_RETRYABLE, NULL), 0);   /* failed probe: unchanged */
	CHECK_INT(p.no_progress, 3);
	CHECK_INT(progress_observe(&p, CLASS_RETRYABLE, "bb"), 1);
	CHECK_INT(p.no_progress, 0);
	progress_observe(&p, CLASS_RETRYABLE, "bb");
	CHECK_INT(p.no_progress, 1);
	progress_observe(&p, CLASS_PROGRESSING, "bb");
	CHECK_INT(p.no_progress, 0);
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
	TEST(test_external_and_probe_class);
	TEST(test_bad_patterns);
	TEST(test_progress);
	wait_policy_release(&pol);
	return tests_done();
}
