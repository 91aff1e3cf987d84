/*
 * libFuzzer target: `waitloop wait --rules FILE.yaml` (rulesfile.h) on
 * arbitrary bytes (the file is an in-memory memfd), then compiling the rules
 * into a classifier and classifying one fixed observation with them.
 * Invariant: a rejected file always says why, as FILE:LINE:COL.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "classify.h"
#include "rulesfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char probe_text[] =
	"{\"target\":{\"kind\":\"CustomResourceDefinition\",\"name\":\"x.example.io\",\"status\":\"NotFound\","
	"\"phase\":\"Pending\"},\"dependencies\":[{\"kind\":\"HelmRelease\",\"name\":\"a\",\"status\":\"Failed\"}]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("rules", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	size_t off = 0;
	while (off < size) {
		ssize_t n = write(fd, data + off, size - off);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	struct wl_wait_policy pol;
	wait_policy_init(&pol);
	struct wl_err err = WL_ERR_INIT;
	if (rulesfile_load(path, &pol, &err) < 0) {
		if (strncmp(err.msg, path, strlen(path)))
			abort();   /* FILE:LINE:COL: message */
	} else {
		struct wait_settings st;
		wait_settings_resolve(&st, &pol, NULL, 60000);
		struct classifier *cl = classifier_new(&st, &err);   /* the rules file's patterns, compiled by its reader */
		if (cl) {
			cJSON *probe = cJSON_Parse(probe_text);
			struct obs_input in = {1, 1, "Error from server (Forbidden): no", probe_text, probe, NULL, NULL, 0};
			for (int i = 0; i < 2; i++) {
				struct classification c = CLASSIFICATION_INIT;
				if (!classifier_observe(cl, &in, &c))
					classifier_finish(cl, probe, &c);
				classification_release(&c);
			}
			cJSON_Delete(probe);
			classifier_free(cl);
		} else if (!err.msg[0]) {
			abort();
		}
		wait_settings_release(&st);
	}
	wait_policy_release(&pol);
	close(fd);
	return 0;
}
