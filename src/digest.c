#include "digest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jpath.h"
#include "xalloc.h"

static int cmp_key(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
	int r = strcmp(x->string ? x->string : "", y->string ? y->string : "");
	if (r)
		return r;
	uintptr_t px = (uintptr_t)x->prev, py = (uintptr_t)y->prev;   /* positions, see sort_keys */
	return px < py ? -1 : px > py;
}

/* Sort the keys of every object below node, in place. */
static void sort_keys(cJSON *node)
{
	size_t n = 0;
	for (cJSON *c = node->child; c; c = c->next) {
		n++;
		if (cJSON_IsObject(c) || cJSON_IsArray(c))
			sort_keys(c);
	}
	if (!cJSON_IsObject(node) || n < 2)
		return;
	cJSON **items = xmalloc(n * sizeof(*items));
	size_t i = 0;
	for (cJSON *c = node->child; c; c = c->next)
		items[i++] = c;
	/* Document order breaks ties between duplicate keys: park each item's
	 * position in its prev pointer while sorting (rebuilt just below). */
	for (i = 0; i < n; i++)
		items[i]->prev = (cJSON *)(uintptr_t)i;   /* temporary: position */
	qsort(items, n, sizeof(*items), cmp_key);
	for (i = 0; i < n; i++) {
		items[i]->next = i + 1 < n ? items[i + 1] : NULL;
		items[i]->prev = i ? items[i - 1] : items[n - 1];   /* cJSON: head->prev = tail */
	}
	node->child = items[0];
	free(items);
}

char *digest_canonical(const cJSON *j, const struct strvec *ignore_fields)
{
	if (!j)
		return xstrdup("null");
	cJSON *copy = cJSON_Duplicate(j, 1);
	if (!copy)
		return xstrdup("null");
	for (size_t i = 0; ignore_fields && i < ignore_fields->n; i++)
		jpath_remove(copy, ignore_fields->v[i]);
	sort_keys(copy);
	char *t = cJSON_PrintUnformatted(copy);
	cJSON_Delete(copy);
	char *s = xstrdup(t ? t : "null");
	cJSON_free(t);
	return s;
}

uint64_t digest_fnv1a64(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = 14695981039346656037ULL;
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

void digest_hex(const void *data, size_t len, char out[DIGEST_HEX_LEN + 1])
{
	snprintf(out, DIGEST_HEX_LEN + 1, "%016llx", (unsigned long long)digest_fnv1a64(data, len));
}

void digest_json(const cJSON *j, const struct strvec *ignore_fields, char out[DIGEST_HEX_LEN + 1])
{
	char *c = digest_canonical(j, ignore_fields);
	digest_hex(c, strlen(c), out);
	free(c);
}
