#include "yamlnode.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "fsutil.h"
#include "strbuf.h"
#include "xalloc.h"

/* A string-keyed open-addressing hash table (anchors, keys of one mapping). */
struct htab {
	const char **keys;
	void **vals;
	size_t cap, n;
};


static void htab_init(struct htab *h, size_t expect)
{
	size_t cap = 16;
	while (cap < expect * 2)
		cap *= 2;
	h->keys = xcalloc(cap, sizeof(*h->keys));
	h->vals = xcalloc(cap, sizeof(*h->vals));
	h->cap = cap;
	h->n = 0;
}

static void htab_release(struct htab *h)
{
	free(h->keys);
	free(h->vals);
	memset(h, 0, sizeof(*h));
}

static size_t htab_find(const struct htab *h, const char *key)
{
	size_t i = str_hash(key) & (h->cap - 1);
	while (h->keys[i] && strcmp(h->keys[i], key))
		i = (i + 1) & (h->cap - 1);
	return i;
}

static void *htab_get(const struct htab *h, const char *key)
{
	if (!h->cap)
		return NULL;
	size_t i = htab_find(h, key);
	return h->keys[i] ? h->vals[i] : NULL;
}

/* Insert or replace. */
static void htab_put(struct htab *h, const char *key, void *val)
{
	if (!h->cap)
		htab_init(h, 8);
	if ((h->n + 1) * 2 > h->cap) {
		struct htab bigger;
		htab_init(&bigger, h->cap);
		for (size_t i = 0; i < h->cap; i++)
			if (h->keys[i]) {
				size_t j = htab_find(&bigger, h->keys[i]);
				bigger.keys[j] = h->keys[i];
				bigger.vals[j] = h->vals[i];
				bigger.n++;
			}
		htab_release(h);
		*h = bigger;
	}
	size_t i = htab_find(h, key);
	if (!h->keys[i]) {
		h->keys[i] = key;
		h->n++;
	}
	h->vals[i] = val;
}

struct ydoc {
	struct ynode *root;
	struct ynode **all;       /* every node, for ydoc_free */
	size_t nall, allocall;
	char **anchor_names;      /* owned anchor strings */
	size_t nanchors, allocanchors;
};

struct frame {
	struct ynode *node;
	size_t alloc;
	struct ynode *key;        /* mappings: key waiting for its value */
};

struct builder {
	struct ydoc *doc;
	const char *file;
	struct errlist *diags;
	struct frame *stack;
	size_t depth, allocstack;
	struct htab anchors;
	size_t total;             /* nodes created, aliases expanded */
	int failed;               /* a fatal error: stop parsing */
	int errors;
};

static void berr(struct builder *b, int line, int col, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void berr(struct builder *b, int line, int col, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	errlist_vadd(b->diags, DIAG_ERROR, b->file, line, col, fmt, ap);
	va_end(ap);
	b->errors++;
}

static int too_many(struct builder *b, size_t add, int line, int col)
{
	if (b->total + add <= YDOC_MAX_NODES && b->total + add >= b->total) {
		b->total += add;
		return 0;
	}
	berr(b, line, col, "document too large: more than %d nodes after expanding aliases",
	     YDOC_MAX_NODES);
	b->failed = 1;
	return -1;
}

static struct ynode *node_new(struct builder *b, enum ynode_kind kind, const yaml_mark_t *mark)
{
	struct ynode *n = xcalloc(1, sizeof(*n));
	n->kind = kind;
	n->line = (int)mark->line + 1;
	n->col = (int)mark->column + 1;
	n->weight = 1;
	struct ydoc *d = b->doc;
	XGROW(d->all, d->nall + 1, d->allocall);
	d->all[d->nall++] = n;
	return n;
}

static int is_one_of(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(s, *list))
			return 1;
	return 0;
}

static int all_in(const char *s, const char *set)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!strchr(set, *s))
			return 0;
	return 1;
}

static int is_float(const char *s)
{
	static const char *const special[] = {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF",
					      "-.inf", "-.Inf", "-.INF", ".nan", ".NaN", ".NAN", NULL};
	if (is_one_of(s, special))
		return 1;
	const char *p = s;
	if (*p == '-' || *p == '+')
		p++;
	int digits = 0;
	while (*p >= '0' && *p <= '9')
		p++, digits++;
	if (*p == '.') {
		p++;
		while (*p >= '0' && *p <= '9')
			p++, digits++;
	}
	if (!digits)
		return 0;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '-' || *p == '+')
			p++;
		if (!(*p >= '0' && *p <= '9'))
			return 0;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	return *p == '\0';
}

/* YAML 1.2 core schema resolution of a plain scalar. */
static enum yscalar resolve_plain(const char *s)
{
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
	static const char *const bools[] = {"true", "True", "TRUE", "false", "False", "FALSE", NULL};
	/* Most scalars are words: decide by the first character before comparing. */
	if (!strchr("~nNtTfF0123456789+-.", s[0]))
		return YSCALAR_STR;
	if (is_one_of(s, nulls))
		return YSCALAR_NULL;
	if (is_one_of(s, bools))
		return YSCALAR_BOOL;
	if (!strchr("0123456789+-.", s[0]))
		return YSCALAR_STR;
	const char *p = s;
	if (!strncmp(p, "0x", 2) && all_in(p + 2, "0123456789abcdefABCDEF"))
		return YSCALAR_INT;
	if (!strncmp(p, "0o", 2) && all_in(p + 2, "01234567"))
		return YSCALAR_INT;
	if (*p == '-' || *p == '+')
		p++;
	if (all_in(p, "0123456789"))
		return YSCALAR_INT;
	if (is_float(s))
		return YSCALAR_FLOAT;
	return YSCALAR_STR;
}

static void register_anchor(struct builder *b, const yaml_char_t *anchor, struct ynode *n)
{
	if (!anchor)
		return;
	struct ydoc *d = b->doc;
	char *name = xstrdup((const char *)anchor);
	XGROW(d->anchor_names, d->nanchors + 1, d->allocanchors);
	d->anchor_names[d->nanchors++] = name;
	htab_put(&b->anchors, name, n);   /* a later anchor of the same name wins */
}

static void push_item(struct frame *f, struct ynode *key, struct ynode *val)
{
	struct ynode *c = f->node;
	size_t key_alloc = f->alloc;   /* keys grow in step with items */
	XGROW(c->items, c->n + 1, f->alloc);
	if (key) {
		XGROW(c->keys, c->n + 1, key_alloc);
		c->keys[c->n] = key;
	}
	c->items[c->n++] = val;
}

/* Attach a finished node (or an alias target) to the open container, or make it the root. */
static void attach(struct builder *b, struct ynode *n)
{
	if (!b->depth) {
		if (!b->doc->root)
			b->doc->root = n;
		return;
	}
	struct frame *f = &b->stack[b->depth - 1];
	if (f->node->kind == YNODE_SEQUENCE) {
		push_item(f, NULL, n);
		return;
	}
	if (!f->key) {
		f->key = n;
		return;
	}
	push_item(f, f->key, n);
	f->key = NULL;
}

static int is_merge_key(const struct ynode *k)
{
	return k->kind == YNODE_SCALAR && k->plain && !strcmp(k->value, "<<");
}

/* Merge source check: a mapping, or a list of mappings. */
static int merge_sources(struct builder *b, const struct ynode *v, const struct ynode ***out, size_t *nout)
{
	if (v->kind == YNODE_MAPPING) {
		*out = xmalloc(sizeof(**out));
		(*out)[0] = v;
		*nout = 1;
		return 0;
	}
	if (v->kind == YNODE_SEQUENCE) {
		for (size_t i = 0; i < v->n; i++)
			if (v->items[i]->kind != YNODE_MAPPING) {
				berr(b, v->items[i]->line, v->items[i]->col,
				     "merge key '<<' needs a mapping or a list of mappings");
				return -1;
			}
		*out = xmalloc((v->n ? v->n : 1) * sizeof(**out));
		for (size_t i = 0; i < v->n; i++)
			(*out)[i] = v->items[i];
		*nout = v->n;
		return 0;
	}
	berr(b, v->line, v->col, "merge key '<<' needs a mapping or a list of mappings");
	return -1;
}

/* A mapping is complete: drop non-scalar and duplicate keys, apply merge keys, weigh it. */
static void finish_mapping(struct builder *b, struct frame *f)
{
	struct ynode *m = f->node;
	size_t n = m->n;
	struct ynode **keys = m->keys, **vals = m->items;
	struct htab seen = {0};
	htab_init(&seen, n);
	size_t out = 0, nmerge = 0;
	struct ynode **merges = NULL;
	size_t allocmerge = 0;
	for (size_t i = 0; i < n; i++) {
		struct ynode *k = keys[i];
		if (k->kind != YNODE_SCALAR) {
			berr(b, k->line, k->col, "mapping keys must be scalars, not a %s",
			     ynode_kind_name(k));
			continue;
		}
		if (is_merge_key(k)) {
			XGROW(merges, nmerge + 1, allocmerge);
			merges[nmerge++] = vals[i];
			continue;
		}
		struct ynode *first = htab_get(&seen, k->value);
		if (first) {
			berr(b, k->line, k->col, "duplicate key '%s' (first at line %d)", k->value, first->line);
			continue;
		}
		htab_put(&seen, k->value, k);
		keys[out] = k;
		vals[out++] = vals[i];
	}
	m->n = out;
	for (size_t i = 0; i < nmerge && !b->failed; i++) {
		const struct ynode **src;
		size_t nsrc;
		if (merge_sources(b, merges[i], &src, &nsrc) < 0)
			continue;
		size_t extra = 0;
		for (size_t s = 0; s < nsrc; s++)
			extra += src[s]->n;
		if (too_many(b, extra, m->line, m->col) < 0) {
			free(src);
			break;
		}
		size_t need = m->n + extra;
		m->keys = xrealloc(m->keys, (need ? need : 1) * sizeof(*m->keys));
		m->items = xrealloc(m->items, (need ? need : 1) * sizeof(*m->items));
		for (size_t s = 0; s < nsrc; s++)
			for (size_t j = 0; j < src[s]->n; j++) {
				struct ynode *k = src[s]->keys[j];
				if (htab_get(&seen, k->value))
					continue;
				htab_put(&seen, k->value, k);
				m->keys[m->n] = k;
				m->items[m->n++] = src[s]->items[j];
			}
		free(src);
	}
	free(merges);
	htab_release(&seen);
	size_t w = 1;
	for (size_t i = 0; i < m->n; i++)
		w += m->keys[i]->weight + m->items[i]->weight;
	m->weight = w;
}

static void handle_event(struct builder *b, yaml_event_t *ev, int *docs)
{
	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (++*docs > 1) {
			berr(b, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
			     "only one YAML document per file is supported");
			b->failed = 1;
		}
		break;
	case YAML_SCALAR_EVENT: {
		if (too_many(b, 1, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1) < 0)
			break;
		struct ynode *n = node_new(b, YNODE_SCALAR, &ev->start_mark);
		n->len = ev->data.scalar.length;
		n->value = xmalloc(n->len + 1);
		memcpy(n->value, ev->data.scalar.value, n->len);
		n->value[n->len] = '\0';
		n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		const char *tag = (const char *)ev->data.scalar.tag;
		if (tag && (!strcmp(tag, "tag:yaml.org,2002:str") || !strcmp(tag, "!")))
			n->type = YSCALAR_STR;
		else if (n->plain)
			n->type = resolve_plain(n->value);
		else
			n->type = YSCALAR_STR;
		register_anchor(b, ev->data.scalar.anchor, n);
		attach(b, n);
		break;
	}
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT: {
		if (too_many(b, 1, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1) < 0)
			break;
		if (b->depth >= YDOC_MAX_DEPTH) {
			/* checked as the events stream: libyaml's scanner is
			 * quadratic in flow nesting, so stopping here keeps any
			 * file under the size cap fast */
			berr(b, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1, "nesting deeper than %d",
			     YDOC_MAX_DEPTH);
			b->failed = 1;
			break;
		}
		int map = ev->type == YAML_MAPPING_START_EVENT;
		struct ynode *n = node_new(b, map ? YNODE_MAPPING : YNODE_SEQUENCE, &ev->start_mark);
		n->open = 1;
		register_anchor(b, map ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor, n);
		XGROW(b->stack, b->depth + 1, b->allocstack);
		b->stack[b->depth++] = (struct frame){n, 0, NULL};
		break;
	}
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT: {
		if (!b->depth)
			break;
		struct frame f = b->stack[--b->depth];
		if (f.node->kind == YNODE_MAPPING) {
			finish_mapping(b, &f);
		} else {
			size_t w = 1;
			for (size_t i = 0; i < f.node->n; i++)
				w += f.node->items[i]->weight;
			f.node->weight = w;
		}
		f.node->open = 0;
		attach(b, f.node);
		break;
	}
	case YAML_ALIAS_EVENT: {
		const char *name = (const char *)ev->data.alias.anchor;
		int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1;
		struct ynode *target = htab_get(&b->anchors, name);
		if (!target) {
			berr(b, line, col, "undefined alias '*%s'", name);
			b->failed = 1;
			break;
		}
		if (target->open) {
			berr(b, line, col, "alias '*%s' refers to a node that contains it", name);
			b->failed = 1;
			break;
		}
		if (too_many(b, target->weight, line, col) < 0)
			break;
		attach(b, target);
		break;
	}
	default:
		break;
	}
}

static void parser_error(struct builder *b, const yaml_parser_t *p)
{
	const char *problem = p->problem ? p->problem : "invalid YAML";
	int line = (int)p->problem_mark.line + 1, col = (int)p->problem_mark.column + 1;
	if (p->error == YAML_READER_ERROR)
		berr(b, line, col, "%s (at byte %zu)", problem, p->problem_offset);
	else if (p->context)
		berr(b, line, col, "%s %s (line %d)", problem, p->context, (int)p->context_mark.line + 1);
	else
		berr(b, line, col, "%s", problem);
}

struct ydoc *ydoc_load_string(const char *name, const char *text, size_t len, struct errlist *diags)
{
	struct builder b = {0};
	b.doc = xcalloc(1, sizeof(*b.doc));
	b.file = name;
	b.diags = diags;
	if (len > YDOC_MAX_BYTES) {
		errlist_add(diags, DIAG_ERROR, name, 0, 0, "'%s' is larger than 1 MiB", name);
		ydoc_free(b.doc);
		return NULL;
	}
	yaml_parser_t parser;
	if (!yaml_parser_initialize(&parser)) {
		errlist_add(diags, DIAG_ERROR, name, 0, 0, "cannot initialise the YAML parser");
		ydoc_free(b.doc);
		return NULL;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	int docs = 0;
	for (;;) {
		yaml_event_t ev;
		if (!yaml_parser_parse(&parser, &ev)) {
			parser_error(&b, &parser);
			break;
		}
		int done = ev.type == YAML_STREAM_END_EVENT;
		handle_event(&b, &ev, &docs);
		yaml_event_delete(&ev);
		if (done || b.failed)
			break;
	}
	yaml_parser_delete(&parser);
	htab_release(&b.anchors);
	free(b.stack);
	if (b.errors) {
		ydoc_free(b.doc);
		return NULL;
	}
	return b.doc;
}

struct ydoc *ydoc_load_file(const char *path, struct errlist *diags)
{
	struct stat st;
	if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > YDOC_MAX_BYTES) {
		errlist_add(diags, DIAG_ERROR, path, 0, 0, "'%s' is larger than 1 MiB", path);
		return NULL;
	}
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		errlist_add(diags, DIAG_ERROR, path, 0, 0, "'%s' is a directory", path);
		return NULL;
	}
	struct strbuf sb;
	strbuf_init(&sb);
	struct wl_err err = WL_ERR_INIT;
	if (fs_read_file(path, YDOC_MAX_BYTES, &sb, &err) < 0) {
		if (err.kind == WL_ERR_TOO_LARGE)
			errlist_add(diags, DIAG_ERROR, path, 0, 0, "'%s' is larger than 1 MiB", path);
		else
			errlist_add(diags, DIAG_ERROR, path, 0, 0, "%s", err.msg);
		strbuf_release(&sb);
		return NULL;
	}
	struct ydoc *doc = ydoc_load_string(path, sb.buf ? sb.buf : "", sb.len, diags);
	strbuf_release(&sb);
	return doc;
}

const struct ynode *ydoc_root(const struct ydoc *doc)
{
	return doc ? doc->root : NULL;
}

void ydoc_free(struct ydoc *doc)
{
	if (!doc)
		return;
	for (size_t i = 0; i < doc->nall; i++) {
		free(doc->all[i]->value);
		free(doc->all[i]->items);
		free(doc->all[i]->keys);
		free(doc->all[i]);
	}
	free(doc->all);
	for (size_t i = 0; i < doc->nanchors; i++)
		free(doc->anchor_names[i]);
	free(doc->anchor_names);
	free(doc);
}

/* The position of key in map; -1 when absent or map is no mapping. */
static ptrdiff_t key_index(const struct ynode *map, const char *key)
{
	if (!map || map->kind != YNODE_MAPPING)
		return -1;
	for (size_t i = 0; i < map->n; i++)
		if (!strcmp(map->keys[i]->value, key))
			return (ptrdiff_t)i;
	return -1;
}

const struct ynode *ynode_key(const struct ynode *map, const char *key)
{
	ptrdiff_t i = key_index(map, key);
	return i < 0 ? NULL : map->keys[i];
}

const struct ynode *ynode_get(const struct ynode *map, const char *key)
{
	ptrdiff_t i = key_index(map, key);
	return i < 0 ? NULL : map->items[i];
}

const char *ynode_kind_name(const struct ynode *n)
{
	if (n->kind == YNODE_MAPPING)
		return "mapping";
	if (n->kind == YNODE_SEQUENCE)
		return "list";
	switch (n->type) {
	case YSCALAR_STR: return "string";
	case YSCALAR_NULL: return "null";
	case YSCALAR_BOOL: return "boolean";
	case YSCALAR_INT: return "integer";
	case YSCALAR_FLOAT: return "number";
	}
	return "string";
}
