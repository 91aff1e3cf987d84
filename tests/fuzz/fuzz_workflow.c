/* libFuzzer target: the workflow loader (YAML tree + validation) on arbitrary bytes. */
#include <stdint.h>
#include <stdlib.h>

#include "error.h"
#include "loader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct errlist el = ERRLIST_INIT;
	struct wl_workflow *wf = loader_load_string("fuzz.yaml", (const char *)data, size, &el);
	if (!wf && !el.nerrors)
		abort();   /* a rejected workflow always says why */
	workflow_free(wf);
	errlist_release(&el);
	return 0;
}
