/*
 * libFuzzer target: probe output as the wait engine takes it (one JSON
 * object, nothing after it), its canonical form and digest (digest.h,
 * ignore_fields through jpath.h) and its redaction for wait-failure.json.
 * Invariants: the canonical form is JSON, canonicalising it again changes
 * nothing, and digest_json() is digest_hex() of the canonical text. The
 * builtin kubernetes set classifies it (raw objects through kstatus.h)
 * without crashing, twice in a row (its per-object memory), into a class.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "classify.h"
#include "digest.h"
#include "jsonutil.h"
#include "kstatus.h"
#include "redact.h"
#include "strvec.h"
#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const ignore[] = {
	"metadata.resourceVersion", "items[*].lastTransitionTime", "dependencies[*].message",
	"[*].ts", "events", NULL,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = xstrndup((const char *)data, size);
	const char *end = NULL;
	cJSON *j = cJSON_ParseWithLengthOpts(text, strlen(text), &end, 0);
	while (j && end && isspace((unsigned char)*end))
		end++;
	if (!j || !cJSON_IsObject(j) || (end && *end)) {
		cJSON_Delete(j);
		free(text);
		return 0;
	}
	struct strvec ign = STRVEC_INIT;
	for (size_t i = 0; ignore[i]; i++)
		strvec_push(&ign, ignore[i]);
	for (int pass = 0; pass < 2; pass++) {
		const struct strvec *iv = pass ? &ign : NULL;
		char *canon = digest_canonical(j, iv);
		cJSON *back = cJSON_Parse(canon);
		if (!back)
			abort();   /* the canonical form is JSON */
		char *again = digest_canonical(back, iv);
		if (strcmp(canon, again))
			abort();   /* idempotent */
		char h1[DIGEST_HEX_LEN + 1], h2[DIGEST_HEX_LEN + 1];
		digest_json(j, iv, h1);
		digest_hex(canon, strlen(canon), h2);
		if (strcmp(h1, h2) || strlen(h1) != DIGEST_HEX_LEN)
			abort();
		free(again);
		cJSON_Delete(back);
		free(canon);
	}
	/* the builtin kubernetes set over it, as a probe and as the only object */
	struct wl_wait_policy as_written;
	wait_policy_init(&as_written);
	struct wait_settings st;
	wait_settings_resolve(&st, &as_written, NULL, 60000);
	wait_policy_release(&as_written);
	st.p.mode = WAIT_MODE_PROBE_AWARE;
	st.p.builtin = xstrdup("kubernetes");
	st.p.target = xstrdup("crd/x.example.io");
	struct wl_err err = WL_ERR_INIT;
	struct classifier *cl = classifier_new(&st, &err);
	if (!cl)
		abort();
	for (int pass = 0; pass < 2; pass++) {
		struct obs_input in = {.condition_ran = 1, .condition_exit = 1, .condition_output = "NotFound",
				       .probe_output = text, .probe = j, .now_wall_ms = 1796083200000LL + pass * 3600000LL};
		struct classification c = CLASSIFICATION_INIT;
		if (classifier_observe(cl, &in, &c) && (c.class < CLASS_RETRYABLE || c.class > CLASS_STALLED))
			abort();
		classification_release(&c);
	}
	classifier_free(cl);
	wait_settings_release(&st);
	if (kstatus_is_object(j)) {
		struct kstatus k = KSTATUS_INIT;
		kstatus_compute(j, NULL, &k);
		if (!k.kind || !k.name || !k.reason)
			abort();
		kstatus_release(&k);
	}
	/* wait-failure.json's last_probe: redacted copy, serialised */
	cJSON *copy = cJSON_Duplicate(j, 1);
	redact_json(NULL, copy);
	char *out = json_compact(copy);
	if (!out)
		abort();
	free(out);
	cJSON_Delete(copy);
	strvec_clear(&ign);
	cJSON_Delete(j);
	free(text);
	return 0;
}
