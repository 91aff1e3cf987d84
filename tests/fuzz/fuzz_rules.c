/*
 * libFuzzer target: classification of one wait observation (classify.h):
 * terminal_patterns, rules with regex groups, field/[*] matches, `after`
 * counters and fingerprint templates, the builtin kubernetes set, the probe's
 * own class, and the external classify command's output.
 *
 * Input: the condition's output, a NUL or "\n===\n", then the probe's raw
 * output (parsed as JSON when it is an object). The same input is observed
 * three times in a row (so `after` rules fire), then given to
 * classify_parse_external(). Invariants: a decided observation has a class
 * and the rule that decided it; fingerprints are prefixed, sorted, unique.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "digest.h"
#include "loader.h"
#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char policy_yaml[] =
	"name: fuzz\n"
	"version: \"1\"\n"
	"timeout: 1m\n"
	"wait_policy:\n"
	"  mode: probe_aware\n"
	"  builtin: kubernetes\n"
	"  fingerprint_prefix: fz\n"
	"  terminal_patterns: ['(?i)fatal: ([a-z]+)', 'ImagePullBackOff']\n"
	"  ignore_fields: [metadata.resourceVersion]\n"
	"  rules:\n"
	"    - {match: 'chart \"([^\"]+)\" not found', class: terminal_fail, fingerprint: 'chart-missing/{1}'}\n"
	"    - {field: 'dependencies[*].status', equals: Failed, class: terminal_fail,\n"
	"       fingerprint: 'dep-failed/{dependencies[*].name}/{dependencies[*].reason}'}\n"
	"    - {field: 'target.phase', equals: Pending, class: retryable, after: 2, fingerprint: 'pending/{target.name}'}\n"
	"    - {field: 'replicas.ready', class: progressing}\n"
	"    - {match: '(?i)waiting for ([a-z]+) ([0-9]+)', class: progressing, fingerprint: '{1}-{2}-{9}'}\n"
	"    - {field: 'status', equals: exited, class: terminal_fail, fingerprint: 'db/{status}/{missing.key}'}\n"
	"steps:\n"
	"  s: {worker: CUSTOM, instructions: 'true'}\n";

static struct wl_workflow *wf;

static void check(const struct classification *c, int decided)
{
	if (decided && !c->met && (c->class <= CLASS_UNSET || c->class > CLASS_STALLED))
		abort();
	if (decided && !c->met && !c->rule)
		abort();
	for (size_t i = 0; i < c->fingerprints.n; i++) {
		if (strncmp(c->fingerprints.v[i], "fz/", 3))
			abort();
		if (i && strcmp(c->fingerprints.v[i - 1], c->fingerprints.v[i]) >= 0)
			abort();
	}
}

static struct wait_settings settings;   /* wf's policy, resolved once */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!wf) {
		struct errlist el = ERRLIST_INIT;
		wf = loader_load_string("fuzz.yaml", policy_yaml, sizeof(policy_yaml) - 1, &el);
		if (!wf) {
			errlist_print(&el, stderr);
			abort();
		}
		errlist_release(&el);
		wait_settings_resolve(&settings, &wf->wait_policy, NULL, 60000);
	}
	struct wl_err err = WL_ERR_INIT;
	struct classifier *cl = classifier_new(&settings, &err);   /* compiles nothing: the load did */
	if (!cl)
		abort();

	const char *d = (const char *)data;
	size_t cond_len = strnlen(d, size), off = 0;
	if (cond_len < size) {
		off = cond_len + 1;
	} else {
		const char *sep = memmem(d, size, "\n===\n", 5);
		if (sep) {
			cond_len = (size_t)(sep - d);
			off = cond_len + 5;
		}
	}
	char *text = xstrndup(d, size);   /* the whole input (up to a NUL): the classify output */
	char *cond = xstrndup(d, cond_len);
	char *probe_text = off ? xstrndup(d + off, size - off) : NULL;
	cJSON *probe = probe_text ? cJSON_Parse(probe_text) : NULL;
	if (probe && !cJSON_IsObject(probe)) {
		cJSON_Delete(probe);
		probe = NULL;
	}
	struct obs_input in = {1, 1, cond, probe_text, probe, NULL, NULL, 0};
	struct stall_count pr = STALL_COUNT_INIT;
	for (int round = 0; round < 3; round++) {
		struct classification c = CLASSIFICATION_INIT;
		in.guard_output = round == 2 ? cond : NULL;
		int decided = classifier_observe(cl, &in, &c);
		check(&c, decided);
		if (!decided) {
			classifier_finish(cl, probe, &c);
			check(&c, 0);
			if (c.class <= CLASS_UNSET || c.class > CLASS_STALLED)
				abort();
		}
		char hex[DIGEST_HEX_LEN + 1];
		if (probe)
			digest_json(probe, &wf->wait_policy.ignore_fields, hex);
		stall_count_observe(&pr, c.class, probe ? hex : NULL);
		classification_release(&c);
	}
	struct classification ext = CLASSIFICATION_INIT;
	if (classify_parse_external(cl, text, &ext, &err) == 0)
		check(&ext, 1);
	classification_release(&ext);
	char *doc = classify_input_json(probe, 1, cond, 3, 1.5);
	cJSON *docj = doc ? cJSON_Parse(doc) : NULL;
	if (!docj)
		abort();
	cJSON_Delete(docj);
	free(doc);
	free(cond);
	cJSON_Delete(probe);
	free(probe_text);
	free(text);
	classifier_free(cl);
	return 0;
}
