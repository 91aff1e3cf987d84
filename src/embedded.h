/*
 * embedded: files compiled into the binary by tools/embed.sh (JSON Schemas
 * for `waitloop schema`, built-in prompt templates). Read-only, static.
 */
#ifndef WAITLOOP_EMBEDDED_H
#define WAITLOOP_EMBEDDED_H
#include <stddef.h>

struct embedded_file {
	const char *name;   /* repository path, e.g. "schema/workflow.schema.json" */
	const char *data;   /* NUL-terminated */
	size_t len;
};
extern const struct embedded_file embedded_files[];   /* ends with {0} */

const struct embedded_file *embedded_find(const char *name);

#endif
