/*
 * classify: what one wait observation means (SPEC §4.4.2–§4.4.4).
 *
 * The decision order of one observation, first decision wins:
 *   1. the condition exited 0                        -> met
 *   2. a terminal_patterns regex matches a text       -> terminal_fail
 *   3. rules in order, then the builtin set           -> the rule's class
 *   4. the external `classify` command                -> its class
 *   5. the probe's own `class` (roboppi contract)     -> that class
 *   6. otherwise                                      -> retryable
 * The texts matched in 2 and 3 are the condition's output, the probe's raw
 * output and (guard mode) the guarded process's recent output, each on its
 * own. Steps 1–3 are classifier_observe(); step 4 needs a process, so the
 * engine runs it and hands the output to classify_parse_external(); steps
 * 5–6 are classifier_finish().
 *
 * Rules: `match` (regex, pattern.h dialect) and/or `field` (jpath.h path into
 * the probe JSON) with `equals` (or "exists" when absent); both must hold
 * when both are given. `after: N`: the first N matching observations in a
 * row are retryable; the (N+1)-th in a row takes the rule's class, and a
 * `retryable` rule then means stalled ("retryable 5 times, then stalled").
 * Fingerprint templates: {1}..{9} are the regex groups of the match,
 * {a.b[*].c} a probe value — for a `[*]` shared with the rule's `field`, the
 * element that matched. Every fingerprint gets "<fingerprint_prefix>/".
 *
 * The builtin "kubernetes" set reads the probe JSON shape of
 * schema/probe.schema.json (target, dependencies[*] {kind, name, namespace,
 * status: Failed|Progressing|Ready, reason, message}, events, errors) and raw
 * Kubernetes objects (one, a List, or raw objects in target/dependencies),
 * whose status kstatus.h computes. An object InProgress within its own
 * deadline (HelmRelease/Kustomization spec.timeout from the condition's
 * lastTransitionTime, the controller's own deadline for Deployments, else
 * settings' progress_deadline since the wait first saw it in its current
 * state) is `progressing`; past it `stalled` (<kind>-stuck/<name>). See
 * docs/wait_policy.md.
 *
 * Stall counting (struct stall_count): the observation's digest against the last
 * one; `progressing` resets the no-progress count, `retryable` with an
 * unchanged (or unknown: failed probe) digest adds one, a changed digest
 * resets it. The first observation counts as one without progress.
 *
 * Ownership: the classifier borrows the settings and their compiled
 * patterns (they must outlive it);
 * struct classification owns its strings (classification_release()).
 */
#ifndef WAITLOOP_CLASSIFY_H
#define WAITLOOP_CLASSIFY_H
#include <cjson/cJSON.h>

#include "error.h"
#include "strvec.h"
#include "workflow.h"

struct classifier;

struct obs_input {
	int condition_ran;            /* 0 in guard mode */
	int condition_exit;
	const char *condition_output; /* may be NULL */
	const char *probe_output;     /* raw probe stdout, may be NULL */
	const cJSON *probe;           /* the parsed probe object; NULL when none or failed */
	const char *guard_output;     /* recent output of a guarded process, or NULL */
	const char *probe_error_output; /* a failed probe's stderr/stdout, or NULL */
	int64_t now_wall_ms;          /* wall clock of the observation; 0 = now */
};

struct classification {
	int met;
	enum obs_class class;          /* meaningful when !met */
	struct strvec fingerprints;   /* prefixed, sorted, unique */
	struct strvec reasons;        /* human sentences (not yet redacted) */
	struct strvec hints;
	char *rule;                   /* which rule decided ("rules[2]", "builtin:kubernetes/auth", ...) */
	int no_evidence;              /* says nothing about progress (API down, object absent): no-progress count unchanged */
	int probe_explained;          /* the failed probe's own output was understood (NotFound, API down) */
};
#define CLASSIFICATION_INIT {0, CLASS_UNSET, STRVEC_INIT, STRVEC_INIT, STRVEC_INIT, NULL, 0, 0}
void classification_release(struct classification *c);

/* A classifier for one wait. It compiles nothing: terminal_patterns and
 * rules use the code compiled once per workflow load (or `waitloop wait`)
 * by wait_policy_compile() (workflow.h), the builtin set's patterns are
 * compiled once per process. NULL + err when settings were not compiled. */
struct classifier *classifier_new(const struct wait_settings *settings, struct wl_err *err);
void classifier_free(struct classifier *c);
/* Steps 1–3; returns 1 when decided (out filled), 0 to go on with 4–6. */
int classifier_observe(struct classifier *c, const struct obs_input *in, struct classification *out);
/* Moves the warnings of the observations so far into out (appended): a
 * pattern that hit the regex match limit, once per pattern. */
void classifier_take_warnings(struct classifier *c, struct strvec *out);
/* Step 4: the classify command's stdout (JSON or a bare class word).
 * Returns 0 and fills out, or -1 + err when the output is unusable. */
int classify_parse_external(const struct classifier *c, const char *output,
			    struct classification *out, struct wl_err *err);
/* Steps 5–6: the probe's own class, else retryable. */
void classifier_finish(const struct classifier *c, const cJSON *probe, struct classification *out);
/* The classify command's stdin document. Caller frees. */
char *classify_input_json(const cJSON *probe, int condition_exit, const char *condition_output,
			  int observation, double elapsed_s);
/* "<prefix>/<fp>" (or fp when prefix is NULL/empty). Caller frees. */
char *fingerprint_prefixed(const char *prefix, const char *fp);

struct stall_count {
	char digest[32];
	int have;
	int no_progress;
};
#define STALL_COUNT_INIT {{0}, 0, 0}
/* Account one observation; digest NULL = unknown (failed probe). Returns 1 when the digest changed. */
int stall_count_observe(struct stall_count *p, enum obs_class class, const char *digest);

#endif
