/*
 * redact: secrets never leave (SPEC §7).
 *
 * Everything the runner writes — artifacts, quoted logs, events, history,
 * notifications, metrics labels, its own terminal output — passes through a
 * redactor first. It replaces, with "[REDACTED]":
 *   - bearer tokens and Authorization: header values;
 *   - values of token / password / secret / api[_-]?key (YAML "k: v", JSON
 *     "k": "v", and k=v forms, case-insensitive);
 *   - kubeconfig client-key-data, client-certificate-data, token,
 *     certificate-authority-data values; PEM private-key blocks;
 *   - JWTs, AWS access key ids (AKIA/ASIA...), GitHub tokens (ghp_, gho_,
 *     ghs_, ghu_, ghr_, github_pat_);
 *   - the literal values of environment variables whose names contain TOKEN,
 *     SECRET, PASSWORD, PASSWD, CREDENTIAL or KEY (values of 4+ chars);
 *   - matches of the workflow's `redact` patterns.
 *
 * Calling sequence:
 *   struct redactor *r = redactor_new(&wf->redact, &env, &err);  -- env: NAME=VALUE
 *   char *safe = redact_text(r, text);   -- caller frees; r may be NULL (built-ins only)
 *   redact_json(r, obj);                 -- in place, every string value and secret-named key
 *   redactor_free(r);
 */
#ifndef WAITLOOP_REDACT_H
#define WAITLOOP_REDACT_H
#include <cjson/cJSON.h>

#include "error.h"
#include "strvec.h"

#define REDACTED "[REDACTED]"

struct redactor;

struct redactor *redactor_new(const struct strvec *extra_patterns, const struct strvec *env,
			      struct wl_err *err);
void redactor_free(struct redactor *r);
/* Add literal secret values later (e.g. --set API_TOKEN=...). */
void redactor_add_literal(struct redactor *r, const char *value);
char *redact_text(const struct redactor *r, const char *text);
void redact_json(const struct redactor *r, cJSON *obj);

#endif
