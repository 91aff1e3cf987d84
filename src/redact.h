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
 *   - the built-in kinds listed in docs/artifacts.md (Slack, Stripe, npm,
 *     GitLab, Google, OpenAI/Anthropic keys, URL userinfo, command-line
 *     passwords, Cookie headers, Azure connection strings, ...).
 *
 * The boundary: text is redacted BEFORE anything is derived from it
 * (fingerprints, digests, summaries, tails, reasons). Derived text may be
 * lower-cased and dashed; literal values of 8+ characters therefore match
 * in any case and with '-', '_' and space interchangeable, PEM markers in
 * any case, and "[REDACTED]" must be kept as is by whoever normalises.
 * Streams (output arriving in chunks) go through a redact_stream, which
 * keeps a private-key block redacted from BEGIN to END whatever the cuts
 * and never emits the start of a secret at a forced cut; tails and
 * truncations are taken from its output.
 *
 * Calling sequence:
 *   struct redactor *r = redactor_new_shared(wf->redact_re, wf->nredact_re, &env);
 *                        -- a run: the workflow's patterns as the loader compiled them
 *   struct redactor *r = redactor_new(&patterns, &env, &err);  -- from text (REDACT_ENV, tests)
 *                        -- env: NAME=VALUE
 *   char *safe = redact_text(r, text);   -- caller frees; r may be NULL (built-ins only)
 *   redact_json(r, obj);                 -- in place: every string value; any value under a secret-named key
 *   struct redact_stream *rs = redact_stream_new(r);
 *   redact_stream_feed(rs, data, len, &out);  -- appends what is safe to emit so far
 *   redact_stream_flush(rs, &out);            -- at the end of the stream
 *   redact_stream_free(rs);
 *   redactor_free(r);
 */
#ifndef WAITLOOP_REDACT_H
#define WAITLOOP_REDACT_H
#include <cjson/cJSON.h>
#include <stddef.h>

#include "error.h"
#include "strbuf.h"
#include "strvec.h"

#define REDACTED "[REDACTED]"

/* The environment variable through which a run hands its redaction (the
 * workflow's `redact` patterns and the literal secrets) to the waitloop
 * commands its children run (`waitloop wait`, `waitloop verdict write`):
 * JSON {"patterns":[...],"literals":[...]}. */
#define REDACT_ENV "WAITLOOP_REDACT"

struct redactor;
struct redact_stream;
struct pattern;

/* The extra patterns compiled here (each one once); NULL + err when one is
 * invalid. */
struct redactor *redactor_new(const struct strvec *extra_patterns, const struct strvec *env,
			      struct wl_err *err);
/* The extra patterns already compiled (pattern_new(): the loader's
 * wf->redact_re), shared with pattern_ref(), not compiled again: the
 * redactor holds a reference to each, the caller keeps its own. */
struct redactor *redactor_new_shared(struct pattern *const *patterns, size_t npatterns, const struct strvec *env);
void redactor_free(struct redactor *r);
/* Add literal secret values later (e.g. --set API_TOKEN=...). */
void redactor_add_literal(struct redactor *r, const char *value);
/* Add the values of every secret-named NAME=VALUE entry (all of them, duplicates included). */
void redactor_add_env(struct redactor *r, const struct strvec *env);
/* The redactor as REDACT_ENV's value (caller frees); and back: a new
 * redactor from such a value plus env (NULL value = no hand-over). */
char *redactor_export(const struct redactor *r);
struct redactor *redactor_import(const char *value, const struct strvec *env, struct wl_err *err);
char *redact_text(const struct redactor *r, const char *text);
char *redact_textn(const struct redactor *r, const char *text, size_t len);
void redact_json(const struct redactor *r, cJSON *obj);
/* Built-ins plus the literal values of this process's secret-named
 * environment variables; built once, never freed. For messages printed
 * before a run's redactor exists (validation errors, print_error). */
const struct redactor *redact_process_default(void);
/* 1 when a value must not be quoted in a message: redaction would change
 * it, or it is long, or it has the shape of a key (12+ characters mixing
 * letters and digits, no spaces). r NULL = redact_process_default(). */
int redact_could_be_secret(const struct redactor *r, const char *value);
/* 0 when every built-in pattern compiles (they are compiled lazily); -1 + err. */
int redact_builtins_check(struct wl_err *err);
/* 1 when a JSON/YAML key names a secret (token, password, ...). */
int redact_key_is_secret(const char *key);

struct redact_stream *redact_stream_new(const struct redactor *r);
void redact_stream_feed(struct redact_stream *rs, const char *data, size_t len, struct strbuf *out);
void redact_stream_flush(struct redact_stream *rs, struct strbuf *out);
/* Append the unfinished last line, redacted, without consuming it. */
void redact_stream_peek(const struct redact_stream *rs, struct strbuf *out);
void redact_stream_free(struct redact_stream *rs);

#endif
