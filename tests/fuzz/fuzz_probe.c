/*
 * libFuzzer target: probe output as the wait engine takes it (one JSON
 * object, nothing after it), its canonical form and digest (digest.h,
 * ignore_fields through jpath.h) and its redaction for wait-failure.json.
 * Invariants: the canonical form is JSON, canonicalising it again changes
 * nothing, and digest_json() is digest_hex() of the canonical text.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "jsonutil.h"
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
