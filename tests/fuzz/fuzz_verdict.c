/* libFuzzer target: decision-file parsing (JSON and text markers), with the bounds it promises. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "verdict.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_list(const struct strvec *l)
{
	if (l->n > VERDICT_MAX_ITEMS)
		abort();
	for (size_t i = 0; i < l->n; i++)
		if (!l->v[i][0] || strlen(l->v[i]) > VERDICT_MAX_ITEM_CHARS)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct verdict v = VERDICT_INIT;
	struct wl_err err = WL_ERR_INIT;
	enum verdict_file_status st = verdict_parse_decision_text((const char *)data, size, "chk", &v, &err);
	if (st == VERDICT_FILE_FOUND) {
		if (v.decision != VERDICT_COMPLETE && v.decision != VERDICT_INCOMPLETE)
			abort();
		check_list(&v.reasons);
		check_list(&v.fingerprints);
		check_list(&v.hints);
		for (size_t i = 1; i < v.fingerprints.n; i++)
			if (strcmp(v.fingerprints.v[i - 1], v.fingerprints.v[i]) >= 0)
				abort();   /* sorted and unique */
	} else if (v.decision != VERDICT_NONE) {
		abort();
	}
	verdict_release(&v);
	return 0;
}
