/* libFuzzer target: duration parser and formatter round trip. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "timeutil.h"
#include "xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = xstrndup((const char *)data, size);
	int64_t ms;
	if (duration_parse(s, &ms) == 0) {
		char buf[64];
		duration_format(ms, buf, sizeof(buf));
		int64_t again;
		if (duration_parse(buf, &again) != 0 || again != ms)
			abort();   /* the formatter must produce what the parser accepts */
	}
	free(s);
	return 0;
}
