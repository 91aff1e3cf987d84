/*
 * template: {{name}} expansion for instructions_file, agent prompts and the
 * fix.md template (SPEC §4.7).
 *
 * Only the names given are expanded; any other {{...}} is left exactly as
 * written, so `kubectl -o go-template='{{.metadata.name}}'` survives.
 * Whitespace inside the braces is allowed: {{ fix_file }}.
 *
 *   struct template_vars v = TEMPLATE_VARS_INIT;
 *   template_set(&v, "step", "build");
 *   char *out = template_expand(text, &v);   -- caller frees
 *   template_vars_release(&v);
 */
#ifndef WAITLOOP_TEMPLATE_H
#define WAITLOOP_TEMPLATE_H
#include <stddef.h>

#include "strvec.h"

struct template_vars {
	struct strvec names;
	struct strvec values;
};
#define TEMPLATE_VARS_INIT {STRVEC_INIT, STRVEC_INIT}

void template_set(struct template_vars *v, const char *name, const char *value); /* replaces */
void template_setf(struct template_vars *v, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
const char *template_get(const struct template_vars *v, const char *name);
void template_vars_release(struct template_vars *v);
char *template_expand(const char *text, const struct template_vars *v);
/* roboppi compatibility: $ROBOPPI_COMPLETION_CHECK_ID and ${ROBOPPI_COMPLETION_CHECK_ID} -> id. */
char *template_roboppi_check_id(const char *text, const char *check_id);

#endif
