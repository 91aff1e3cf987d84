/*
 * suggest: "did you mean" for unknown keys and commands.
 */
#ifndef WAITLOOP_SUGGEST_H
#define WAITLOOP_SUGGEST_H
#include <stddef.h>

/* The candidate closest to word (edit distance, case-insensitive), or NULL
 * when none is close enough to be a plausible typo. candidates ends with NULL. */
const char *suggest_closest(const char *word, const char *const *candidates);

#endif
