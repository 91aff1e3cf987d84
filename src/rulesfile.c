#include "rulesfile.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "suggest.h"
#include "xalloc.h"

struct rf {
	yaml_document_t doc;
	const char *path;
	struct wl_err *err;
};

static int rf_err(struct rf *rf, const yaml_node_t *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int rf_err(struct rf *rf, const yaml_node_t *n, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return err_set(rf->err, "%s:%zu:%zu: %s", rf->path, n ? n->start_mark.line + 1 : 0,
		       n ? n->start_mark.column + 1 : 0, msg);
}

static const char *scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int load_string_list(struct rf *rf, const yaml_node_t *v, struct strvec *out, const char *what)
{
	if (v->type != YAML_SEQUENCE_NODE)
		return rf_err(rf, v, "'%s' must be a list of strings", what);
	for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
		const char *s = scalar(yaml_document_get_node(&rf->doc, *it));
		if (!s)
			return rf_err(rf, yaml_document_get_node(&rf->doc, *it), "'%s' must be a list of strings", what);
		strvec_push(out, s);
	}
	return 0;
}

static int load_rule(struct rf *rf, const yaml_node_t *m, struct wl_rule *r)
{
	static const char *const keys[] = {"match", "field", "equals", "after", "class", "fingerprint", "hint", NULL};
	memset(r, 0, sizeof(*r));
	r->after = WL_UNSET;
	if (m->type != YAML_MAPPING_NODE)
		return rf_err(rf, m, "a rule must be a mapping");
	r->pos.line = (int)m->start_mark.line + 1;
	r->pos.col = (int)m->start_mark.column + 1;
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
		const yaml_node_t *kn = yaml_document_get_node(&rf->doc, p->key);
		const yaml_node_t *vn = yaml_document_get_node(&rf->doc, p->value);
		const char *k = scalar(kn), *v = scalar(vn);
		if (!k)
			return rf_err(rf, kn, "rule keys must be strings");
		if (!v)
			return rf_err(rf, vn, "'%s' must be a scalar", k);
		for (yaml_node_pair_t *q = m->data.mapping.pairs.start; q < p; q++) {
			const char *prev = scalar(yaml_document_get_node(&rf->doc, q->key));
			if (prev && !strcmp(prev, k))
				return rf_err(rf, kn, "duplicate key '%s'", k);
		}
		if (!strcmp(k, "match"))
			r->match = xstrdup(v);
		else if (!strcmp(k, "field"))
			r->field = xstrdup(v);
		else if (!strcmp(k, "equals"))
			r->equals = xstrdup(v);
		else if (!strcmp(k, "fingerprint"))
			r->fingerprint = xstrdup(v);
		else if (!strcmp(k, "hint"))
			r->hint = xstrdup(v);
		else if (!strcmp(k, "class")) {
			if (class_parse(v, &r->class) < 0)
				return rf_err(rf, vn,
					      "unknown class '%s' (retryable, terminal_fail, progressing, stalled)", v);
		} else if (!strcmp(k, "after")) {
			char *end;
			errno = 0;
			long n = strtol(v, &end, 10);
			if (errno || *end || n < 1 || n > 1000000)
				return rf_err(rf, vn, "'after' must be a positive integer, not '%s'", v);
			r->after = (int)n;
		} else {
			const char *s = suggest_closest(k, keys);
			char hint[128] = "";
			if (s)
				snprintf(hint, sizeof(hint), " (did you mean '%s'?)", s);
			return rf_err(rf, kn, "unknown rule key '%s'%s", k, hint);
		}
	}
	if (!r->match && !r->field)
		return rf_err(rf, m, "a rule needs 'match' or 'field'");
	if (!r->class)
		return rf_err(rf, m, "a rule needs 'class'");
	return 0;
}

static void rule_release(struct wl_rule *r)
{
	free(r->match);
	free(r->field);
	free(r->equals);
	free(r->fingerprint);
	free(r->hint);
}

int rulesfile_load(const char *path, struct wl_wait_policy *pol, struct wl_err *err)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return err_set(err, "cannot open '%s': %s", path, strerror(errno));
	yaml_parser_t parser;
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_file(&parser, f);
	struct rf rf = {.path = path, .err = err};
	int ok = yaml_parser_load(&parser, &rf.doc);
	fclose(f);
	if (!ok) {
		err_set(err, "%s:%zu:%zu: %s", path, parser.problem_mark.line + 1, parser.problem_mark.column + 1,
			parser.problem ? parser.problem : "invalid YAML");
		yaml_parser_delete(&parser);
		return -1;
	}
	yaml_parser_delete(&parser);
	int rc = 0;
	const yaml_node_t *root = yaml_document_get_root_node(&rf.doc);
	if (!root || root->type != YAML_MAPPING_NODE) {
		rc = rf_err(&rf, root, "expected a mapping with a 'rules' list");
		goto out;
	}
	for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top && !rc; p++) {
		const yaml_node_t *kn = yaml_document_get_node(&rf.doc, p->key);
		const yaml_node_t *vn = yaml_document_get_node(&rf.doc, p->value);
		const char *k = scalar(kn);
		if (k && !strcmp(k, "rules")) {
			if (vn->type != YAML_SEQUENCE_NODE) {
				rc = rf_err(&rf, vn, "'rules' must be a list");
				break;
			}
			for (yaml_node_item_t *it = vn->data.sequence.items.start; it < vn->data.sequence.items.top;
			     it++) {
				struct wl_rule r;
				if (load_rule(&rf, yaml_document_get_node(&rf.doc, *it), &r) < 0) {
					rule_release(&r);
					rc = -1;
					break;
				}
				pol->rules = xrealloc(pol->rules, (pol->nrules + 1) * sizeof(*pol->rules));
				pol->rules[pol->nrules++] = r;
			}
			pol->rules_present = 1;
		} else if (k && !strcmp(k, "terminal_patterns")) {
			rc = load_string_list(&rf, vn, &pol->terminal_patterns, "terminal_patterns");
			pol->terminal_patterns_present = 1;
		} else if (k && !strcmp(k, "ignore_fields")) {
			rc = load_string_list(&rf, vn, &pol->ignore_fields, "ignore_fields");
			pol->ignore_fields_present = 1;
		} else {
			rc = rf_err(&rf, kn, "unknown key '%s' (expected rules, terminal_patterns, ignore_fields)",
				    k ? k : "?");
		}
	}
out:
	yaml_document_delete(&rf.doc);
	return rc;
}
