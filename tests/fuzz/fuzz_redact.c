/*
 * libFuzzer target: the redactor (redact.h) on arbitrary text, whole and as
 * a stream cut into arbitrary pieces. The first input byte chooses the
 * piece size. Invariants: no crash or sanitizer report; the stream emits
 * nothing of a private-key block's body when the text is one well-formed
 * block between ordinary lines (checked when the input has that shape);
 * redact_json keeps every member's key.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "redact.h"
#include "strbuf.h"
#include "strvec.h"
#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct redactor *rd;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!rd) {
		struct strvec pats = STRVEC_INIT, env = STRVEC_INIT;
		strvec_push(&pats, "corp-[0-9]{6}");
		strvec_push(&env, "API_TOKEN=Fuzz-Secret-Value");
		rd = redactor_new(&pats, &env, NULL);
		strvec_clear(&pats);
		strvec_clear(&env);
	}
	if (!size)
		return 0;
	size_t piece = (size_t)data[0] % 67 + 1;
	char *text = xstrndup((const char *)data + 1, size - 1);
	size_t len = strlen(text);

	char *whole = redact_text(rd, text);
	free(whole);

	struct redact_stream *rs = redact_stream_new(rd);
	struct strbuf out = STRBUF_INIT;
	for (size_t i = 0; i < len; i += piece)
		redact_stream_feed(rs, text + i, len - i < piece ? len - i : piece, &out);
	struct strbuf peek = STRBUF_INIT;
	redact_stream_peek(rs, &peek);
	redact_stream_flush(rs, &out);
	redact_stream_free(rs);
	/* a block marked BODY-MARK between BEGIN and END lines never shows */
	const char *b = strstr(text, "\n-----BEGIN RSA PRIVATE KEY-----\nBODY-MARK\n-----END RSA PRIVATE KEY-----\n");
	const char *m = strstr(text, "BODY-MARK");
	if (b && m && !strstr(m + 1, "BODY-MARK") && strstr(out.buf ? out.buf : "", "BODY-MARK"))
		abort();   /* the only BODY-MARK is inside the block */
	strbuf_release(&out);
	strbuf_release(&peek);

	cJSON *j = cJSON_Parse(text);
	if (j) {
		redact_json(rd, j);
		char *s = cJSON_PrintUnformatted(j);
		if (!s)
			abort();
		if (cJSON_IsObject(j))
			for (cJSON *c = j->child; c; c = c->next)
				if (!c->string)
					abort();   /* a member lost its key */
		cJSON_free(s);
		cJSON_Delete(j);
	}
	free(text);
	return 0;
}
