/*
 * jpath: dot paths into JSON documents, as written in wait_policy rules
 * (`field:`), fingerprint templates (`{dependencies[*].name}`) and
 * `ignore_fields`.
 *
 * Syntax: segments separated by '.', each a key or followed by an index:
 * "a.b", "items[0].name", "dependencies[*].status", "[*].x". `[*]` means
 * every element of an array (or every value of an object). Keys are
 * matched case-sensitively; a key containing '.' or '[' cannot be named.
 *
 * Nothing here allocates except jpath_scalar_string (caller frees);
 * returned nodes are borrowed from the document.
 */
#ifndef WAITLOOP_JPATH_H
#define WAITLOOP_JPATH_H
#include <cjson/cJSON.h>

#define JPATH_MAX_WILD 8

/* Called for every node the path reaches, in document order, with the
 * element index chosen at each `[*]` so far. Return non-zero to stop. */
typedef int (*jpath_fn)(void *arg, const cJSON *node, const int *idx, int nidx);

/* Walk path from root; returns 1 when fn stopped the walk, else 0. */
int jpath_each(const cJSON *root, const char *path, jpath_fn fn, void *arg);
/*
 * The first node reached by path, where the first nbound `[*]` take the
 * given indices (bound[i] < 0 = any). NULL when nothing is reached.
 */
const cJSON *jpath_first(const cJSON *root, const char *path, const int *bound, int nbound);
/* Remove every node reached by path from root (in place). */
void jpath_remove(cJSON *root, const char *path);
/* A scalar as text: strings as-is, numbers in %g form (integers without a
 * fraction), true/false; NULL for null, objects and arrays. Caller frees. */
char *jpath_scalar_string(const cJSON *node);

#endif
