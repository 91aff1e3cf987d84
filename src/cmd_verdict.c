/*
 * waitloop verdict write — a completion check records its decision
 * (SPEC §3, §4.5): the same normalised review.verdict the runner writes.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "fsutil.h"
#include "redact.h"
#include "timeutil.h"
#include "verdict.h"
#include "xalloc.h"

extern char **environ;

static const char help[] =
	"usage: waitloop verdict write --decision complete|incomplete [--reason R]...\n"
	"                              [--fingerprint F]... [--hint H]... [--from-wait-failure FILE]\n"
	"                              [--check-id ID] [-o FILE]\n"
	"\n"
	"Write a review.verdict (schema waitloop.verdict.v1) for the running completion check.\n"
	"\n"
	"Options:\n"
	"  --decision D              complete or incomplete (pass/fail are accepted too)\n"
	"  --reason R                why (repeatable; one line each, at most 50 x 500 chars)\n"
	"  --fingerprint F           short stable failure id, e.g. tests/unit/foo (repeatable)\n"
	"  --hint H                  what to try next (repeatable)\n"
	"  --from-wait-failure FILE  add the message, reasons, fingerprints and hints of a\n"
	"                            wait-failure.json (only to an incomplete decision;\n"
	"                            a missing FILE adds nothing, an invalid one is an error)\n"
	"  --check-id ID             default: $WAITLOOP_CHECK_ID\n"
	"  -o, --output FILE         default: $WAITLOOP_DECISION_FILE, else\n"
	"                            $WAITLOOP_STEP_DIR/review.verdict, else ./review.verdict\n"
	"  -h, --help                show this help\n"
	"\n"
	"$WAITLOOP_ITERATION, $WAITLOOP_STEP and $WAITLOOP_RUN_ID are recorded when set.\n"
	"Text is redacted (secrets never reach the file). The file is written atomically.\n"
	"\n"
	"Exit codes: 0 written, 1 cannot read the wait-failure file or write the verdict,\n"
	"2 usage error.\n";

static const char *env_nonempty(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

static int verdict_write_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"decision", required_argument, NULL, 'd'},
		{"reason", required_argument, NULL, 'r'},
		{"fingerprint", required_argument, NULL, 'f'},
		{"hint", required_argument, NULL, 'H'},
		{"from-wait-failure", required_argument, NULL, 'w'},
		{"check-id", required_argument, NULL, 'c'},
		{"output", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{0, 0, 0, 0},
	};
	struct verdict v = VERDICT_INIT;
	const char *decision = NULL, *wait_failure = NULL, *check_id = NULL, *output = NULL;
	char *out_path = NULL;
	struct redactor *r = NULL;
	struct wl_err err = WL_ERR_INIT;
	int rc = 2, c;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': decision = optarg; break;
		case 'r': verdict_list_add(&v.reasons, optarg); break;
		case 'f': verdict_list_add(&v.fingerprints, optarg); break;
		case 'H': verdict_list_add(&v.hints, optarg); break;
		case 'w': wait_failure = optarg; break;
		case 'c': check_id = optarg; break;
		case 'o': output = optarg; break;
		case 'h':
			fputs(help, stdout);
			rc = 0;
			goto out;
		default:
			rc = usage_getopt_error("verdict", c, argv, opts);
			goto out;
		}
	}
	if (optind < argc) {
		rc = usage_error("verdict", "unexpected argument '%s'", argv[optind]);
		goto out;
	}
	if (!decision) {
		rc = usage_error("verdict", "--decision complete|incomplete is required");
		goto out;
	}
	if (verdict_parse_decision(decision, &v.decision) < 0) {
		rc = usage_error("verdict", "unknown decision '%s' (want complete or incomplete)", decision);
		goto out;
	}
	strvec_sort_unique(&v.fingerprints);
	v.source = VERDICT_SRC_DECISION_FILE;
	v.check_id = xstrdup(check_id ? check_id : env_nonempty("WAITLOOP_CHECK_ID"));
	const char *it = env_nonempty("WAITLOOP_ITERATION");
	if (it && atoi(it) > 0)
		v.iteration = atoi(it);

	rc = 1;
	if (wait_failure && v.decision != VERDICT_COMPLETE) {
		struct verdict_evidence e = VERDICT_EVIDENCE_INIT;
		int got = verdict_read_wait_failure(wait_failure, 0, &e, &err);
		/* A script may pass the file unconditionally: no wait failed, nothing to add. */
		if (got == 0)
			fprintf(stderr, "waitloop: no wait failure at '%s'; nothing merged\n", wait_failure);
		if (got < 0) {
			verdict_evidence_release(&e);
			print_error("%s", err.msg);
			goto out;
		}
		verdict_add_evidence(&v, &e);
		verdict_evidence_release(&e);
	}

	if (output)
		out_path = xstrdup(output);
	else if (env_nonempty("WAITLOOP_DECISION_FILE"))
		out_path = xstrdup(env_nonempty("WAITLOOP_DECISION_FILE"));
	else if (env_nonempty("WAITLOOP_STEP_DIR"))
		out_path = fs_join(env_nonempty("WAITLOOP_STEP_DIR"), "review.verdict");
	else
		out_path = xstrdup("review.verdict");

	struct strvec env = STRVEC_INIT;
	for (char **e = environ; e && *e; e++)
		strvec_push(&env, *e);
	r = redactor_import(getenv(REDACT_ENV), &env, &err);   /* inside a run: the run's redaction too */
	strvec_clear(&env);
	if (!r) {
		print_error("%s", err.msg);
		goto out;
	}
	if (verdict_write(out_path, &v, env_nonempty("WAITLOOP_RUN_ID"), env_nonempty("WAITLOOP_STEP"), 0,
			  time_wall_ms(), r, &err) < 0) {
		print_error("%s", err.msg);
		goto out;
	}
	fprintf(stderr, "waitloop: verdict %s (%zu reason%s, %zu fingerprint%s) written to %s\n",
		verdict_decision_name(v.decision), v.reasons.n, v.reasons.n == 1 ? "" : "s",
		v.fingerprints.n, v.fingerprints.n == 1 ? "" : "s", out_path);
	rc = 0;
out:
	redactor_free(r);
	free(out_path);
	verdict_release(&v);
	return rc;
}

int cmd_verdict(int argc, char **argv)
{
	if (argc < 2) {
		fputs(help, stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		fputs(help, stdout);
		return 0;
	}
	if (strcmp(argv[1], "write"))
		return usage_error("verdict", "unknown subcommand '%s' (want: write)", argv[1]);
	return verdict_write_main(argc - 1, argv + 1);
}
