#include "jpath.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

/* One segment of a path: a key, "[*]" (wild) or "[N]". *next is the rest. */
struct seg {
	char key[256];
	int wild;
	int index;       /* >= 0 for [N] */
};

static int next_seg(const char *p, struct seg *s, const char **next)
{
	memset(s, 0, sizeof(*s));
	s->index = -1;
	if (*p == '.')
		p++;
	if (*p == '\0')
		return 0;
	if (*p == '[') {
		const char *close = strchr(p, ']');
		if (!close)
			return -1;
		if (close == p + 2 && p[1] == '*') {
			s->wild = 1;
		} else {
			char *end;
			long v = strtol(p + 1, &end, 10);
			if (end != close || v < 0)
				return -1;
			s->index = (int)v;
		}
		*next = close + 1;
		return 1;
	}
	size_t n = strcspn(p, ".[");
	if (n == 0 || n >= sizeof(s->key))
		return -1;
	memcpy(s->key, p, n);
	s->key[n] = '\0';
	*next = p + n;
	return 1;
}

struct walk {
	jpath_fn fn;
	void *arg;
	const int *bound;
	int nbound;
	int idx[JPATH_MAX_WILD];
};

static int walk(struct walk *w, const cJSON *node, const char *p, int nidx)
{
	struct seg s;
	const char *next = p;
	int r = next_seg(p, &s, &next);
	if (r < 0 || !node)
		return 0;
	if (r == 0)
		return w->fn(w->arg, node, w->idx, nidx);
	if (s.wild) {
		if (!cJSON_IsArray(node) && !cJSON_IsObject(node))
			return 0;
		int i = 0;
		for (const cJSON *c = node->child; c; c = c->next, i++) {
			if (nidx < w->nbound && w->bound[nidx] >= 0 && w->bound[nidx] != i)
				continue;
			if (nidx < JPATH_MAX_WILD)
				w->idx[nidx] = i;
			if (walk(w, c, next, nidx < JPATH_MAX_WILD ? nidx + 1 : nidx))
				return 1;
		}
		return 0;
	}
	if (s.index >= 0)
		return cJSON_IsArray(node) ? walk(w, cJSON_GetArrayItem(node, s.index), next, nidx) : 0;
	if (!cJSON_IsObject(node))
		return 0;
	return walk(w, cJSON_GetObjectItemCaseSensitive(node, s.key), next, nidx);
}

int jpath_each(const cJSON *root, const char *path, jpath_fn fn, void *arg)
{
	struct walk w = {.fn = fn, .arg = arg};
	return walk(&w, root, path, 0);
}

static int take_first(void *arg, const cJSON *node, const int *idx, int nidx)
{
	*(const cJSON **)arg = node;
	return 1;
}

const cJSON *jpath_first(const cJSON *root, const char *path, const int *bound, int nbound)
{
	const cJSON *found = NULL;
	struct walk w = {.fn = take_first, .arg = &found, .bound = bound, .nbound = nbound};
	walk(&w, root, path, 0);
	return found;
}

void jpath_remove(cJSON *root, const char *path)
{
	struct seg s;
	const char *next = path;
	if (!root || next_seg(path, &s, &next) <= 0)
		return;
	struct seg rest;
	const char *after = next;
	int last = next_seg(next, &rest, &after) == 0;
	if (s.wild) {
		if (!cJSON_IsArray(root) && !cJSON_IsObject(root))
			return;
		if (last) {
			while (root->child)
				cJSON_Delete(cJSON_DetachItemViaPointer(root, root->child));
			return;
		}
		for (cJSON *c = root->child; c; c = c->next)
			jpath_remove(c, next);
		return;
	}
	if (s.index >= 0) {
		if (!cJSON_IsArray(root))
			return;
		if (last)
			cJSON_DeleteItemFromArray(root, s.index);
		else
			jpath_remove(cJSON_GetArrayItem(root, s.index), next);
		return;
	}
	if (!cJSON_IsObject(root))
		return;
	/* every member with that key: a duplicated key must not survive (the digest
	 * would still see an ignored field; found by fuzz_probe) */
	for (cJSON *c = root->child, *n; c; c = n) {
		n = c->next;
		if (!c->string || strcmp(c->string, s.key))
			continue;
		if (last)
			cJSON_Delete(cJSON_DetachItemViaPointer(root, c));
		else
			jpath_remove(c, next);
	}
}

char *jpath_scalar_string(const cJSON *node)
{
	if (cJSON_IsString(node))
		return xstrdup(node->valuestring ? node->valuestring : "");
	if (cJSON_IsBool(node))
		return xstrdup(cJSON_IsTrue(node) ? "true" : "false");
	if (cJSON_IsNumber(node)) {
		double d = node->valuedouble;
		if (isfinite(d) && d == floor(d) && fabs(d) < 1e15)
			return xasprintf("%.0f", d);
		return xasprintf("%.17g", d);
	}
	return NULL;
}
