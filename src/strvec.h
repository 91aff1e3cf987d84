/*
 * strvec: a NULL-terminated vector of owned strings (argv, envp, lists).
 *
 *   struct strvec v = STRVEC_INIT;
 *   strvec_push(&v, "bash"); strvec_pushf(&v, "%d", n);
 *   execvp(v.v[0], v.v);     -- v.v is always NULL-terminated once non-empty
 *   strvec_clear(&v);
 */
#ifndef WAITLOOP_STRVEC_H
#define WAITLOOP_STRVEC_H
#include <stddef.h>

struct strvec {
	char **v;
	size_t n;
	size_t alloc;
};
#define STRVEC_INIT {0}

void strvec_push(struct strvec *sv, const char *s);
void strvec_push_owned(struct strvec *sv, char *s);   /* takes ownership */
void strvec_pushf(struct strvec *sv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strvec_clear(struct strvec *sv);
void strvec_copy(struct strvec *dst, const struct strvec *src); /* appends */
int strvec_contains(const struct strvec *sv, const char *s);
void strvec_sort_unique(struct strvec *sv);            /* sort + de-duplicate */
/* Set NAME=VALUE in an environment vector, replacing an existing NAME. */
void strvec_setenv(struct strvec *env, const char *name, const char *value);
void strvec_unsetenv(struct strvec *env, const char *name);
const char *strvec_getenv(const struct strvec *env, const char *name);
/* Apply every "NAME=VALUE" of assignments with strvec_setenv (entries without '=' are skipped). */
void strvec_setenv_all(struct strvec *env, const struct strvec *assignments);

#endif
