#include "rulesfile.h"

#include "loader.h"

int rulesfile_load(const char *path, struct wl_wait_policy *pol, struct wl_err *err)
{
	struct errlist diags = ERRLIST_INIT;
	int rc = loader_load_rules_file(path, pol, &diags);
	if (rc < 0) {
		errlist_sort(&diags);
		const struct diag *d = NULL;
		for (size_t i = 0; i < diags.n && !d; i++)
			if (diags.items[i].level == DIAG_ERROR)
				d = &diags.items[i];
		if (!d)
			err_set(err, "%s: cannot read the rules file", path);
		else if (d->line)
			err_set(err, "%s:%d:%d: %s", d->file, d->line, d->col, d->msg);
		else
			err_set(err, "%s: %s", d->file, d->msg);
	}
	errlist_release(&diags);
	return rc;
}
