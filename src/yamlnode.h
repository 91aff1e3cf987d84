/*
 * yamlnode: a YAML file as a small read-only tree (libyaml underneath).
 *
 * Every node and every mapping key carries its 1-based line and column, so
 * the loader can point at the exact spot of a mistake. The tree is what the
 * loader walks (rulesfile.c still reads rules files with libyaml itself).
 *
 *   struct errlist diags = ERRLIST_INIT;
 *   struct ydoc *doc = ydoc_load_file("demo.yaml", &diags);
 *   if (!doc) ... errors are in diags (FILE:LINE:COL: error: ...)
 *   const struct ynode *root = ydoc_root(doc);   -- NULL for an empty file
 *   ...
 *   ydoc_free(doc);
 *
 * Semantics:
 *   - aliases resolve to the anchored node (the node is shared, not copied);
 *     an alias to a node that is still open (recursive) is an error;
 *   - merge keys "<<: *a" / "<<: [*a, *b]" are applied: explicit keys win,
 *     then the sources in order (earlier source wins), as in YAML 1.1;
 *     merged pairs keep the positions where they were written;
 *   - duplicate keys in one mapping are an error; keys must be scalars;
 *   - files over 1 MiB are rejected, and so are documents that expand to more
 *     than YDOC_MAX_NODES nodes through aliases (alias bombs);
 *   - nesting deeper than YDOC_MAX_DEPTH ("nesting deeper than 256");
 *   - only the first document of a stream is read; a second one is an error.
 *   - plain scalars are typed by the YAML 1.2 core schema (null, bool, int,
 *     float, else string); quoted and block scalars are strings.
 *
 * Ownership: the ydoc owns every node and string; nodes are valid until
 * ydoc_free(). Diagnostics are appended to the caller's errlist.
 */
#ifndef WAITLOOP_YAMLNODE_H
#define WAITLOOP_YAMLNODE_H
#include <stddef.h>

#include "error.h"

#define YDOC_MAX_BYTES (1024 * 1024)
#define YDOC_MAX_NODES 1000000
#define YDOC_MAX_DEPTH 256      /* nested mappings/sequences */

enum ynode_kind { YNODE_SCALAR, YNODE_SEQUENCE, YNODE_MAPPING };

/* Resolved type of a scalar. */
enum yscalar { YSCALAR_STR, YSCALAR_NULL, YSCALAR_BOOL, YSCALAR_INT, YSCALAR_FLOAT };

struct ynode {
	enum ynode_kind kind;
	enum yscalar type;        /* scalars only */
	int line, col;            /* 1-based */
	char *value;              /* scalars: the text, NUL-terminated (may hold NULs: len) */
	size_t len;
	/* Sequences: items[0..n). Mappings: keys[i] -> items[i], in file order
	 * (explicit pairs first, then merged ones). Keys are scalar nodes. */
	struct ynode **items;
	struct ynode **keys;
	size_t n;
	size_t weight;            /* nodes in this subtree, aliases expanded */
	int plain;                /* scalars: written unquoted (plain style) */
	int open;                 /* internal: still being built */
};

struct ydoc;

struct ydoc *ydoc_load_file(const char *path, struct errlist *diags);
/* name is used in diagnostics only; text need not be NUL-terminated. */
struct ydoc *ydoc_load_string(const char *name, const char *text, size_t len, struct errlist *diags);
const struct ynode *ydoc_root(const struct ydoc *doc);
void ydoc_free(struct ydoc *doc);

/* The value of key in a mapping, or NULL (also when map is not a mapping). */
const struct ynode *ynode_get(const struct ynode *map, const char *key);
/* The key node of key in a mapping, or NULL. */
const struct ynode *ynode_key(const struct ynode *map, const char *key);
/* "mapping", "list", "string", "integer", "number", "boolean", "null". */
const char *ynode_kind_name(const struct ynode *n);

#endif
