/*
 * xalloc: allocation that never returns NULL.
 *
 * On exhaustion the program prints "waitloop: error: out of memory" and exits
 * with status 70 (EX_SOFTWARE): a runner that cannot allocate cannot promise
 * anything, and every artifact it writes is atomic, so nothing torn is left.
 */
#ifndef WAITLOOP_XALLOC_H
#define WAITLOOP_XALLOC_H
#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);           /* xstrdup(NULL) == NULL */
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Report "out of memory" and _exit(70), as the x* functions do on failure;
 * for library calls that fail with their own ENOMEM code (regcomp's REG_ESPACE). */
_Noreturn void xalloc_oom(void);

/* Grow *items (of *alloc elements of size elem) to hold at least need; the
 * new elements are zeroed (an array that only grows needs no memset). */
void *xgrow(void *items, size_t elem, size_t need, size_t *alloc);
#define XGROW(arr, need, alloc) ((arr) = xgrow((arr), sizeof(*(arr)), (need), &(alloc)))

#endif
