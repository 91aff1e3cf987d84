/*
 * digest: "did anything change?" for wait observations (SPEC §4.4.2).
 *
 * The canonical form of a JSON value is its compact serialisation with the
 * keys of every object sorted (byte order, stable for duplicate keys) and
 * the `ignore_fields` paths (jpath.h syntax, `[*]` allowed) removed. The
 * digest is FNV-1a 64 of that text, as 16 lower-case hex digits: not a
 * cryptographic hash — it only has to tell two probe states apart, and it
 * is cheap and dependency-free.
 */
#ifndef WAITLOOP_DIGEST_H
#define WAITLOOP_DIGEST_H
#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "strvec.h"

#define DIGEST_HEX_LEN 16

/* Canonical compact JSON of j (j is not modified). Caller frees. */
char *digest_canonical(const cJSON *j, const struct strvec *ignore_fields);
uint64_t digest_fnv1a64(const void *data, size_t len);
/* FNV-1a 64 of data as hex into out (DIGEST_HEX_LEN + 1 bytes). */
void digest_hex(const void *data, size_t len, char out[DIGEST_HEX_LEN + 1]);
/* digest_hex of digest_canonical(j, ignore_fields). */
void digest_json(const cJSON *j, const struct strvec *ignore_fields, char out[DIGEST_HEX_LEN + 1]);

#endif
