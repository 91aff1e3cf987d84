#include "strvec.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

void strvec_push_owned(struct strvec *sv, char *s)
{
	XGROW(sv->v, sv->n + 2, sv->alloc);
	sv->v[sv->n++] = s;
	sv->v[sv->n] = NULL;
}

void strvec_push(struct strvec *sv, const char *s)
{
	strvec_push_owned(sv, xstrdup(s));
}

void strvec_pushf(struct strvec *sv, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	if (vasprintf(&s, fmt, ap) < 0)
		s = xstrdup("");
	va_end(ap);
	strvec_push_owned(sv, s);
}

void strvec_clear(struct strvec *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = sv->alloc = 0;
}

void strvec_copy(struct strvec *dst, const struct strvec *src)
{
	for (size_t i = 0; i < src->n; i++)
		strvec_push(dst, src->v[i]);
}

int strvec_contains(const struct strvec *sv, const char *s)
{
	for (size_t i = 0; i < sv->n; i++)
		if (!strcmp(sv->v[i], s))
			return 1;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void strvec_sort_unique(struct strvec *sv)
{
	if (sv->n < 2)
		return;
	qsort(sv->v, sv->n, sizeof(char *), cmp_str);
	size_t out = 1;
	for (size_t i = 1; i < sv->n; i++) {
		if (!strcmp(sv->v[i], sv->v[out - 1]))
			free(sv->v[i]);
		else
			sv->v[out++] = sv->v[i];
	}
	sv->n = out;
	sv->v[out] = NULL;
}

static ssize_t env_index(const struct strvec *env, const char *name)
{
	size_t nl = strlen(name);
	for (size_t i = 0; i < env->n; i++)
		if (!strncmp(env->v[i], name, nl) && env->v[i][nl] == '=')
			return (ssize_t)i;
	return -1;
}

void strvec_setenv(struct strvec *env, const char *name, const char *value)
{
	char *kv = xasprintf("%s=%s", name, value);
	ssize_t i = env_index(env, name);
	if (i >= 0) {
		free(env->v[i]);
		env->v[i] = kv;
	} else {
		strvec_push_owned(env, kv);
	}
}

void strvec_unsetenv(struct strvec *env, const char *name)
{
	ssize_t i = env_index(env, name);
	if (i < 0)
		return;
	free(env->v[i]);
	memmove(env->v + i, env->v + i + 1, (env->n - (size_t)i) * sizeof(*env->v));   /* with the NULL */
	env->n--;
}

const char *strvec_getenv(const struct strvec *env, const char *name)
{
	ssize_t i = env_index(env, name);
	return i < 0 ? NULL : env->v[i] + strlen(name) + 1;
}

void strvec_setenv_all(struct strvec *env, const struct strvec *assignments)
{
	for (size_t i = 0; i < assignments->n; i++) {
		const char *kv = assignments->v[i];
		const char *eq = strchr(kv, '=');
		if (!eq)
			continue;
		char *name = xstrndup(kv, (size_t)(eq - kv));
		strvec_setenv(env, name, eq + 1);
		free(name);
	}
}
