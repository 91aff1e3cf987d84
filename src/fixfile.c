#include "fixfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "embedded.h"
#include "fsutil.h"
#include "jsonutil.h"
#include "redact.h"
#include "strbuf.h"
#include "xalloc.h"

#define MAX_TEMPLATE_BYTES (256 * 1024)
#define MAX_NOTES_BYTES 8192
#define TIMELINE_SUMMARY_CHARS 240
/* How far back from the end of a log we look for its tail. */
#define TAIL_WINDOW (64 * 1024)

/* Read at most window bytes from the end of path, not before offset. */
static int read_tail(const char *path, long long offset, size_t window, struct strbuf *sb)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return -1;
	}
	long long start = st.st_size > (long long)window ? st.st_size - (long long)window : 0;
	if (offset > start)
		start = offset;
	if (start >= st.st_size) {
		close(fd);
		return 0;
	}
	size_t want = (size_t)(st.st_size - start);
	strbuf_grow(sb, want);
	size_t got = 0;
	while (got < want) {
		ssize_t n = pread(fd, sb->buf + sb->len + got, want - got, (off_t)(start + (long long)got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	sb->len += got;   /* strbuf_setlen() only shrinks */
	sb->buf[sb->len] = '\0';
	close(fd);
	/* drop a partial first line when we did not start at the beginning of the output */
	if (start > offset && start > 0) {
		char *nl = memchr(sb->buf, '\n', sb->len);
		if (nl) {
			size_t cut = (size_t)(nl + 1 - sb->buf);
			memmove(sb->buf, nl + 1, sb->len - cut);
			strbuf_setlen(sb, sb->len - cut);
		}
	}
	return 0;
}

/* Strip ANSI escape sequences and other control characters (keep \n, \t). */
static void clean_output(struct strbuf *sb)
{
	size_t w = 0;
	for (size_t r = 0; r < sb->len; r++) {
		unsigned char c = (unsigned char)sb->buf[r];
		if (c == 0x1b) {
			if (r + 1 < sb->len && sb->buf[r + 1] == '[') {
				r += 2;
				while (r < sb->len && !((unsigned char)sb->buf[r] >= 0x40 && (unsigned char)sb->buf[r] <= 0x7e))
					r++;
			}
			continue;
		}
		if (c == '\r')
			continue;
		if (c < 0x20 && c != '\n' && c != '\t')
			c = '?';
		sb->buf[w++] = (char)c;
	}
	strbuf_setlen(sb, w);
}

/* Keep the last max_lines lines and at most max_bytes bytes (whole lines). */
static void keep_last_lines(struct strbuf *sb, int max_lines, size_t max_bytes)
{
	while (sb->len && (sb->buf[sb->len - 1] == '\n' || sb->buf[sb->len - 1] == ' '))
		strbuf_setlen(sb, sb->len - 1);
	size_t start = 0;
	int lines = 0;
	for (size_t i = sb->len; i > 0; i--) {
		if (sb->buf[i - 1] == '\n') {
			if (++lines >= max_lines) {
				start = i;
				break;
			}
		}
		if (sb->len - (i - 1) > max_bytes) {
			/* too many bytes: start after the next newline at or after i */
			char *nl = memchr(sb->buf + i, '\n', sb->len - i);
			start = nl ? (size_t)(nl + 1 - sb->buf) : sb->len - max_bytes;
			break;
		}
	}
	if (start) {
		memmove(sb->buf, sb->buf + start, sb->len - start);
		strbuf_setlen(sb, sb->len - start);
	}
}

/* A fence longer than any backtick run inside text. */
static void add_fenced(struct strbuf *out, const char *label, const char *text)
{
	size_t run = 0, longest = 0;
	for (const char *p = text; *p; p++) {
		run = *p == '`' ? run + 1 : 0;
		if (run > longest)
			longest = run;
	}
	size_t n = longest >= 3 ? longest + 1 : 3;
	strbuf_addf(out, "%s:\n\n", label);
	for (size_t i = 0; i < n; i++)
		strbuf_addch(out, '`');
	strbuf_addstr(out, "text\n");
	strbuf_addstr(out, text);
	strbuf_addch(out, '\n');
	for (size_t i = 0; i < n; i++)
		strbuf_addch(out, '`');
	strbuf_addstr(out, "\n\n");
}

/* `waitloop wait`'s per-observation and keepalive lines: the timeline shows those
 * observations already; its final summary line stays. */
static int is_progress_line(const char *line, size_t len)
{
	static const char prefix[] = "waitloop wait [";
	if (len < sizeof(prefix) || memcmp(line, prefix, sizeof(prefix) - 1))
		return 0;
	const char *close = memchr(line, ']', len);
	if (!close || (size_t)(close - line) + 4 > len || close[1] != ':' || close[2] != ' ')
		return 0;
	size_t rest = (size_t)(line + len - (close + 3));
	return close[3] == '#' || (rest >= 13 && !memcmp(close + 3, "still waiting", 13));
}

static void drop_progress_lines(struct strbuf *sb)
{
	size_t w = 0;
	for (size_t r = 0; r < sb->len;) {
		const char *nl = memchr(sb->buf + r, '\n', sb->len - r);
		size_t len = nl ? (size_t)(nl - (sb->buf + r)) : sb->len - r;
		size_t take = nl ? len + 1 : len;
		if (!is_progress_line(sb->buf + r, len)) {
			memmove(sb->buf + w, sb->buf + r, take);
			w += take;
		}
		r += take;
	}
	strbuf_setlen(sb, w);
}

static void render_check_output(const struct fixfile_params *p, struct strbuf *out)
{
	const char *paths[2] = {p->check_stdout, p->check_stderr};
	const char *labels[2] = {"stdout", "stderr"};
	long long offs[2] = {p->stdout_offset, p->stderr_offset};
	int lines = p->tail_lines > 0 ? p->tail_lines : FIXFILE_TAIL_LINES;
	size_t bytes = p->tail_bytes ? p->tail_bytes : FIXFILE_TAIL_BYTES;
	int any = 0;
	for (int i = 0; i < 2; i++) {
		if (!paths[i])
			continue;
		struct strbuf sb = STRBUF_INIT;
		if (read_tail(paths[i], offs[i], TAIL_WINDOW, &sb) == 0) {
			clean_output(&sb);
			/* redact the whole window first, then cut: a private key
			 * whose BEGIN is above the cut stays hidden */
			char *safe = redact_text(p->redactor, strbuf_str(&sb));
			strbuf_reset(&sb);
			strbuf_addstr(&sb, safe);
			free(safe);
			drop_progress_lines(&sb);
			keep_last_lines(&sb, lines, bytes);
			if (sb.len) {
				add_fenced(out, labels[i], sb.buf);
				any = 1;
			}
		}
		strbuf_release(&sb);
	}
	if (!any)
		strbuf_addstr(out, "(the check printed nothing)\n");
	while (out->len && out->buf[out->len - 1] == '\n')
		strbuf_setlen(out, out->len - 1);
}

/* One observation of wait-probe.log, reduced to what the timeline shows. */
struct obs {
	int seq, seq_last;
	double elapsed, elapsed_last;
	int np, np_last;
	int count;
	char *key;     /* class, change, condition exit, text, fingerprints: equal keys collapse */
};

static char *obs_key(const cJSON *j)
{
	struct strbuf sb = STRBUF_INIT;
	const cJSON *ch = cJSON_GetObjectItem(j, "changed");
	const cJSON *ce = cJSON_GetObjectItem(j, "condition_exit");
	const char *cls = json_get_string(j, "class");
	strbuf_addstr(&sb, cls ? cls : "?");
	if (cJSON_IsBool(ch))
		strbuf_addstr(&sb, cJSON_IsTrue(ch) ? ", changed" : ", unchanged");
	strbuf_addch(&sb, '\x01');   /* the no-progress count goes here */
	if (cJSON_IsNumber(ce))
		strbuf_addf(&sb, ", condition exit %d", ce->valueint);
	const char *summary = json_get_string(j, "summary");
	const char *perr = json_get_string(j, "probe_error");
	const char *text = perr ? perr : summary;
	if (text && *text) {
		char *t = xstrndup(text, TIMELINE_SUMMARY_CHARS);
		for (char *c = t; *c; c++)
			if (*c == '\n' || *c == '\r' || *c == '\t')
				*c = ' ';
		strbuf_addf(&sb, ": %s%s%s", perr ? "probe failed: " : "", t,
			    strlen(text) > TIMELINE_SUMMARY_CHARS ? "…" : "");
		free(t);
	}
	const cJSON *fps = cJSON_GetObjectItem(j, "fingerprints");
	if (cJSON_GetArraySize(fps) > 0) {
		strbuf_addstr(&sb, " [");
		int k = 0;
		const cJSON *f;
		cJSON_ArrayForEach(f, fps) {
			if (cJSON_IsString(f))
				strbuf_addf(&sb, "%s%s", k++ ? ", " : "", f->valuestring);
		}
		strbuf_addch(&sb, ']');
	}
	return strbuf_detach(&sb);
}

static void render_obs(const struct obs *o, struct strbuf *out)
{
	const char *mark = strchr(o->key, '\x01');
	size_t head = mark ? (size_t)(mark - o->key) : strlen(o->key);
	if (o->count == 1)
		strbuf_addf(out, "- #%d +%.1fs ", o->seq, o->elapsed);
	else
		strbuf_addf(out, "- #%d–#%d +%.1fs…+%.1fs (%d×) ", o->seq, o->seq_last, o->elapsed,
			    o->elapsed_last, o->count);
	strbuf_add(out, o->key, head);
	if (o->np_last > 0) {
		if (o->count > 1 && o->np != o->np_last)
			strbuf_addf(out, " (no progress %d→%d)", o->np, o->np_last);
		else
			strbuf_addf(out, " (no progress %d)", o->np_last);
	}
	if (mark)
		strbuf_addstr(out, mark + 1);
	strbuf_addch(out, '\n');
}

/* The last observations of one log; consecutive identical ones collapse into one line. 0 = none. */
static int render_one_timeline(const char *log, int max, struct strbuf *out)
{
	struct strbuf sb = STRBUF_INIT;
	if (!log || read_tail(log, 0, TAIL_WINDOW, &sb) < 0 || !sb.len) {
		strbuf_release(&sb);
		return 0;
	}
	size_t start_len = out->len;
	struct obs *v = NULL;
	size_t n = 0, alloc = 0;
	for (char *line = sb.buf; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		cJSON *j = cJSON_Parse(line);
		if (cJSON_IsObject(j)) {
			const cJSON *seq = cJSON_GetObjectItem(j, "seq");
			const cJSON *el = cJSON_GetObjectItem(j, "elapsed_s");
			const cJSON *np = cJSON_GetObjectItem(j, "no_progress");
			int s = cJSON_IsNumber(seq) ? seq->valueint : 0;
			double e = cJSON_IsNumber(el) ? el->valuedouble : 0.0;
			int q = cJSON_IsNumber(np) ? np->valueint : 0;
			char *key = obs_key(j);
			if (n && !strcmp(v[n - 1].key, key)) {
				v[n - 1].seq_last = s;
				v[n - 1].elapsed_last = e;
				v[n - 1].np_last = q;
				v[n - 1].count++;
				free(key);
			} else {
				XGROW(v, n + 1, alloc);
				v[n++] = (struct obs){s, s, e, e, q, q, 1, key};
			}
		}
		cJSON_Delete(j);
		line = nl ? nl + 1 : NULL;
	}
	size_t first = n > (size_t)max ? n - (size_t)max : 0;
	for (size_t i = 0; i < n; i++) {
		if (i >= first)
			render_obs(&v[i], out);
		free(v[i].key);
	}
	free(v);
	strbuf_release(&sb);
	if (out->len == start_len)
		strbuf_addstr(out, "(no readable observations in wait-probe.log)\n");
	return 1;
}

/* The step's own wait (guard) and each in-script wait, named when there are several. */
static void render_timeline(const struct fixfile_params *p, struct strbuf *out)
{
	int max = p->timeline_lines > 0 ? p->timeline_lines : FIXFILE_TIMELINE_LINES;
	size_t nw = p->wait_logs ? p->wait_logs->n : 0;
	int guard = p->probe_log && fs_exists(p->probe_log);
	if (guard + (int)nw <= 1) {
		if (!render_one_timeline(guard ? p->probe_log : nw ? p->wait_logs->v[0] : NULL, max, out))
			strbuf_addstr(out, "(no wait observations in this iteration)");
	} else {
		if (guard) {
			strbuf_addstr(out, "### the step's own wait (wait_policy)\n\n");
			if (!render_one_timeline(p->probe_log, max, out))
				strbuf_addstr(out, "(no observations)\n");
			strbuf_addch(out, '\n');
		}
		for (size_t i = 0; i < nw; i++) {
			const char *name = p->wait_names && i < p->wait_names->n ? p->wait_names->v[i] : "?";
			strbuf_addf(out, "### wait `%s`\n\n", name);
			if (!render_one_timeline(p->wait_logs->v[i], max, out))
				strbuf_addstr(out, "(no observations)\n");
			strbuf_addch(out, '\n');
		}
	}
	while (out->len && out->buf[out->len - 1] == '\n')
		strbuf_setlen(out, out->len - 1);
}

static char *render_list(const struct strvec *sv, int numbered, const char *code, const char *empty)
{
	struct strbuf sb = STRBUF_INIT;
	for (size_t i = 0; sv && i < sv->n; i++) {
		if (numbered)
			strbuf_addf(&sb, "%zu. ", i + 1);
		else
			strbuf_addstr(&sb, "- ");
		strbuf_addf(&sb, "%s%s%s\n", code, sv->v[i], code);
	}
	if (!sb.len)
		strbuf_addstr(&sb, empty);
	while (sb.len && sb.buf[sb.len - 1] == '\n')
		strbuf_setlen(&sb, sb.len - 1);
	return strbuf_detach(&sb);
}

static char *render_changed(const struct strvec *files)
{
	if (!files)
		return xstrdup("(git tracking unavailable)");
	if (!files->n)
		return xstrdup("(none — the implementer changed no file in the workspace)");
	struct strbuf sb = STRBUF_INIT;
	for (size_t i = 0; i < files->n && i < FIXFILE_MAX_LISTED_FILES; i++)
		strbuf_addf(&sb, "- `%s`\n", files->v[i]);
	if (files->n > FIXFILE_MAX_LISTED_FILES)
		strbuf_addf(&sb, "- … and %zu more\n", files->n - FIXFILE_MAX_LISTED_FILES);
	strbuf_setlen(&sb, sb.len - 1);
	return strbuf_detach(&sb);
}

static char *render_evidence(const struct fixfile_params *p)
{
	struct strbuf sb = STRBUF_INIT;
	const char *paths[] = {p->wait_failure_file, p->probe_log, p->decision_file, p->check_stdout, p->check_stderr};
	const char *what[] = {"wait failure (JSON)", "wait observations (JSON lines)", "verdict",
			      "check stdout (raw)", "check stderr (raw)"};
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (paths[i] && fs_exists(paths[i]))
			strbuf_addf(&sb, "- %s: `%s`\n", what[i], paths[i]);
	if (!sb.len)
		strbuf_addstr(&sb, "(no artifacts)");
	while (sb.len && sb.buf[sb.len - 1] == '\n')
		strbuf_setlen(&sb, sb.len - 1);
	return strbuf_detach(&sb);
}

static int load_template(const struct fixfile_params *p, struct strbuf *sb, struct wl_err *err)
{
	if (p->template_path) {
		char *path = p->workspace ? fs_join(p->workspace, p->template_path) : xstrdup(p->template_path);
		int rc = fs_read_file(path, MAX_TEMPLATE_BYTES, sb, err);
		if (rc < 0)
			err_prefix(err, "fix_template");
		free(path);
		return rc;
	}
	char *def = p->workspace ? fs_join(p->workspace, FIXFILE_DEFAULT_TEMPLATE) : xstrdup(FIXFILE_DEFAULT_TEMPLATE);
	int rc = 0;
	if (fs_exists(def)) {
		rc = fs_read_file(def, MAX_TEMPLATE_BYTES, sb, err);
	} else {
		const struct embedded_file *f = embedded_find(FIXFILE_DEFAULT_TEMPLATE);
		if (f)
			strbuf_add(sb, f->data, f->len);
		else
			rc = err_set(err, "no fix template: '%s' is missing and no built-in copy exists", def);
	}
	free(def);
	return rc;
}

/* The notes a checker wrote into the fix file itself during this iteration. */
static char *checker_notes(const char *path, int64_t since, const struct redactor *rd)
{
	if (!path || since <= 0 || fs_mtime_ms(path) < since)
		return xstrdup("");
	struct strbuf sb = STRBUF_INIT;
	struct wl_err err = WL_ERR_INIT;
	if (fs_read_file(path, 1024 * 1024, &sb, &err) < 0) {
		strbuf_release(&sb);
		return xstrdup("");
	}
	clean_output(&sb);
	strbuf_trim(&sb);
	if (!sb.len) {
		strbuf_release(&sb);
		return xstrdup("");
	}
	char *safe = redact_text(rd, sb.buf);   /* before the cut: a cut never shows a secret's start */
	strbuf_reset(&sb);
	strbuf_addstr(&sb, safe);
	free(safe);
	if (sb.len > MAX_NOTES_BYTES) {
		strbuf_setlen(&sb, str_utf8_cut(sb.buf, sb.len, MAX_NOTES_BYTES));
		strbuf_addstr(&sb, "\n… (cut)");
	}
	char *r = xasprintf("\n## Notes from the checker\n\n%s\n", sb.buf);
	strbuf_release(&sb);
	return r;
}

static int render(const struct fixfile_params *p, const char *notes, char **out, struct wl_err *err)
{
	const struct verdict *v = p->verdict;
	struct strbuf tpl = STRBUF_INIT;
	*out = NULL;
	if (!v)
		return err_set(err, "fix.md needs a verdict");
	if (load_template(p, &tpl, err) < 0) {
		strbuf_release(&tpl);
		return -1;
	}
	struct template_vars vars = TEMPLATE_VARS_INIT;
	template_set(&vars, "workflow", p->workflow ? p->workflow : "");
	template_set(&vars, "step", p->step ? p->step : "");
	template_setf(&vars, "iteration", "%d", p->iteration);
	template_setf(&vars, "next_iteration", "%d", p->iteration + 1);
	if (p->max_iterations > 0)
		template_setf(&vars, "max_iterations", "%d", p->max_iterations);
	else
		template_set(&vars, "max_iterations", "?");
	template_set(&vars, "check_id", v->check_id ? v->check_id : "");
	template_set(&vars, "decision", verdict_decision_name(v->decision));
	template_set(&vars, "decision_source", verdict_source_name(v->source));
	const char *summary = v->message ? v->message : v->reasons.n ? v->reasons.v[0] : NULL;
	template_set(&vars, "summary", summary ? summary : "The completion check did not pass.");
	char *s;
	template_set(&vars, "reasons", (s = render_list(&v->reasons, 1, "", "(no reasons were given)")));
	free(s);
	template_set(&vars, "hints", (s = render_list(&v->hints, 0, "",
						      "(no rule hints; start from the first reason)")));
	free(s);
	template_set(&vars, "fingerprints", (s = render_list(&v->fingerprints, 0, "`", "(none)")));
	free(s);
	template_set(&vars, "checker_notes", notes ? notes : "");
	struct strbuf b = STRBUF_INIT;
	render_timeline(p, &b);
	template_set(&vars, "wait_timeline", strbuf_str(&b));
	strbuf_reset(&b);
	render_check_output(p, &b);
	template_set(&vars, "check_output", strbuf_str(&b));
	strbuf_release(&b);
	template_set(&vars, "changed_files", (s = render_changed(p->changed_files)));
	free(s);
	template_set(&vars, "evidence_files", (s = render_evidence(p)));
	free(s);
	for (size_t i = 0; p->vars && i < p->vars->names.n; i++)
		template_set(&vars, p->vars->names.v[i], p->vars->values.v[i]);

	char *text = template_expand(strbuf_str(&tpl), &vars);
	template_vars_release(&vars);
	strbuf_release(&tpl);
	char *safe = redact_text(p->redactor, text);
	free(text);
	text = safe;
	*out = text;
	return 0;
}

int fixfile_render(const struct fixfile_params *p, char **out, struct wl_err *err)
{
	return render(p, NULL, out, err);
}

int fixfile_write(const char *path, const struct fixfile_params *p, struct wl_err *err)
{
	char *notes = checker_notes(path, p->check_started_wall_ms, p->redactor);
	char *text = NULL;
	int rc = render(p, notes, &text, err);
	free(notes);
	if (rc == 0)
		rc = fs_write_atomic(path, text, strlen(text), err);
	free(text);
	return rc;
}

int fixfile_clear(const char *path, struct wl_err *err)
{
	return fs_write_atomic(path, "", 0, err);
}
