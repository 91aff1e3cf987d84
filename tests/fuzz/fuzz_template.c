/* libFuzzer target: {{var}} expansion and roboppi check-id substitution. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "template.h"
#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = xstrndup((const char *)data, size);
	struct template_vars v = TEMPLATE_VARS_INIT;
	template_set(&v, "step", "build");
	template_set(&v, "fix_file", "{{step}}");   /* values are not re-expanded */
	char *out = template_expand(s, &v);
	/* Without any placeholder of ours the text is unchanged. */
	if (!strstr(s, "{{") && strcmp(out, s))
		abort();
	char *r = template_roboppi_check_id(out, "id");
	free(r);
	free(out);
	template_vars_release(&v);
	free(s);
	return 0;
}
