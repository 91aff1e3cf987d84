/*
 * stepio: a step's artifact copies -- inputs into the run workspace before
 * an attempt, declared outputs into the step directory after it, and a
 * subworkflow's exports (roboppi's context-manager.ts hand-off).
 */
#include "runner_int.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fsutil.h"
#include "xalloc.h"

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

/* roboppi's copyExports: best effort, after every child run (even a failed one). */
void stepio_copy_exports(struct step_run *sr)
{
	int replace = sr->s->exports_replace == WL_UNSET ? sr->s->check.present : sr->s->exports_replace;
	for (size_t i = 0; sr->sub_ctx && i < sr->s->nexports; i++) {
		const struct wl_input *e = &sr->s->exports[i];
		char *from = fs_join(sr->sub_ctx, e->from);
		char *src = fs_join(from, e->artifact);
		char *dst = fs_join(sr->dir, e->as ? e->as : e->artifact);
		struct wl_err err = WL_ERR_INIT;
		if (!fs_is_dir(src)) {
			char *msg = xasprintf("export '%s' of child step '%s' not found; skipped", e->artifact, e->from);
			step_warn(sr, "export_missing", msg);
			free(msg);
		} else {
			if (replace && fs_exists(dst))
				nftw(dst, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
			if (fs_copy_tree(src, dst, &err) < 0)
				run_keep_artifact_error(sr->r, err.msg);
		}
		free(from);
		free(src);
		free(dst);
	}
}

/*
 * roboppi's hand-off (context-manager.ts, AT-3.4/3.5): inputs land in the
 * RUN workspace (not the step's `workspace:`), outputs are read from it; a
 * missing input artifact is skipped (the producer may have failed with
 * on_failure: continue), and so is a declared output that was not produced
 * unless it says `required: true`. Skips are warnings, not silence.
 */
int stepio_copy_inputs(struct step_run *sr, struct wl_err *err)
{
	struct runner *r = sr->r;
	for (size_t i = 0; i < sr->s->ninputs; i++) {
		const struct wl_input *in = &sr->s->inputs[i];
		char *from_dir = fs_join(r->context_dir, in->from);
		char *src = fs_join(from_dir, in->artifact);
		free(from_dir);
		if (!fs_is_dir(src)) {
			char *msg = xasprintf("input '%s' from step '%s' not found; skipped", in->artifact, in->from);
			step_warn(sr, "input_missing", msg);
			free(msg);
			free(src);
			continue;
		}
		char *dst = fs_path_in(r->workspace, in->as ? in->as : in->artifact);
		int rc = fs_copy_tree(src, dst, err);
		free(src);
		free(dst);
		if (rc < 0)
			return err_prefix(err, "input '%s' from step '%s'", in->artifact, in->from);
	}
	return 0;
}

int stepio_copy_outputs(struct step_run *sr, struct wl_err *err)
{
	for (size_t i = 0; i < sr->s->noutputs; i++) {
		const struct wl_output *o = &sr->s->outputs[i];
		char *src = fs_path_in(sr->r->workspace, o->path);
		char *dst = fs_join(sr->dir, o->name);
		int rc = -1;
		if (!fs_exists(src)) {
			if (o->required) {
				err_set(err, "output '%s': '%s' does not exist (required: true)", o->name, o->path);
			} else {
				char *msg = xasprintf("output '%s': '%s' was not produced; skipped", o->name, o->path);
				step_warn(sr, "output_missing", msg);
				free(msg);
				rc = 0;
			}
		} else if (fs_is_dir(src)) {
			rc = fs_copy_tree(src, dst, err);
		} else if (fs_mkdir_p(dst, err) == 0) {
			const char *base = strrchr(src, '/');
			char *file = fs_join(dst, base ? base + 1 : src);
			rc = fs_copy_tree(src, file, err);
			free(file);
		}
		free(src);
		free(dst);
		if (rc < 0)
			return -1;
	}
	return 0;
}
