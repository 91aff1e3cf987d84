/* timeout: 120
 *
 * loop and proc with real processes (build/tools/wl-helper). Time bounds
 * are generous: the machine may be slow and loaded.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "evloop.h"
#include "proc.h"
#include "redact.h"
#include "strbuf.h"
#include "timeutil.h"
#include "xalloc.h"

static char helper[4096];
static char tmpdir[256];

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (de->d_name[0] >= '0' && de->d_name[0] <= '9')
			n++;
	closedir(d);
	return n - 1; /* the directory itself */
}

/* ---- loop tests ---- */

struct trace {
	char log[256];
	struct evloop *l;
	uint64_t ids[8];
	int count;
};

static void tr_add(struct trace *t, const char *s)
{
	strncat(t->log, s, sizeof(t->log) - strlen(t->log) - 1);
}

static void tm_a(void *arg) { tr_add(arg, "a"); }
static void tm_b(void *arg) { tr_add(arg, "b"); }
static void tm_c(void *arg) { tr_add(arg, "c"); }
static void tm_d(void *arg) { tr_add(arg, "d"); }

static void run_until_log(struct evloop *l, struct trace *t, size_t len, int64_t max_ms)
{
	int64_t end = time_now_ms() + max_ms;
	while (strlen(t->log) < len && time_now_ms() < end)
		evloop_run_once(l);
}

static void test_loop_timer_order(void)
{
	struct evloop *l = evloop_new();
	struct trace t = {0};
	int64_t now = time_now_ms();
	evloop_add_timer(l, now + 60, tm_c, &t);
	evloop_add_timer(l, now + 20, tm_a, &t);
	evloop_add_timer(l, now + 40, tm_b, &t);
	evloop_add_timer(l, now + 40, tm_d, &t); /* same deadline: in order of creation */
	run_until_log(l, &t, 4, 5000);
	CHECK_STR(t.log, "abdc");
	CHECK(time_now_ms() - now >= 60);
	evloop_free(l);
}

static void tm_cancel_other(void *arg)
{
	struct trace *t = arg;
	tr_add(t, "x");
	evloop_cancel_timer(t->l, t->ids[1]);
	evloop_cancel_timer(t->l, 987654); /* unknown: harmless */
}

static void test_loop_timer_cancel(void)
{
	struct evloop *l = evloop_new();
	struct trace t = {.l = l};
	int64_t now = time_now_ms();
	uint64_t a = evloop_add_timer(l, now + 10, tm_a, &t);
	t.ids[0] = evloop_add_timer(l, now + 20, tm_cancel_other, &t);
	t.ids[1] = evloop_add_timer(l, now + 40, tm_b, &t);
	evloop_add_timer(l, now + 80, tm_c, &t);
	CHECK(a != 0 && t.ids[0] != a && t.ids[1] != t.ids[0]);
	evloop_cancel_timer(l, a);
	run_until_log(l, &t, 2, 5000);
	CHECK_STR(t.log, "xc");
	evloop_cancel_timer(l, a); /* already cancelled */
	evloop_cancel_timer(l, t.ids[0]); /* already fired */
	evloop_free(l);
}

static void tm_chain(void *arg)
{
	struct trace *t = arg;
	tr_add(t, "t");
	if (++t->count < 5) {
		/* already due: must run in a later round, not starve the loop */
		evloop_add_timer(t->l, 0, tm_chain, t);
	}
}

static void tm_self_cancel(void *arg)
{
	struct trace *t = arg;
	tr_add(t, "s");
	uint64_t id = evloop_add_timer(t->l, time_now_ms() + 10, tm_d, t);
	evloop_cancel_timer(t->l, id);
	evloop_add_timer(t->l, time_now_ms() + 30, tm_c, t);
}

static void test_loop_timer_from_callback(void)
{
	struct evloop *l = evloop_new();
	struct trace t = {.l = l};
	evloop_add_timer(l, time_now_ms(), tm_chain, &t);
	evloop_run_once(l);
	CHECK_STR(t.log, "t"); /* one per round */
	run_until_log(l, &t, 5, 5000);
	CHECK_STR(t.log, "ttttt");
	t.log[0] = 0;
	evloop_add_timer(l, time_now_ms() + 5, tm_self_cancel, &t);
	run_until_log(l, &t, 2, 5000);
	CHECK_STR(t.log, "sc");
	evloop_free(l);
}

struct fdtest {
	struct evloop *l;
	int reads;
	char got[64];
	int other_fd;
};

static void fd_read(void *arg, int fd, short revents)
{
	struct fdtest *f = arg;
	char buf[64];
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	size_t have = strlen(f->got);
	if (n > 0 && have + (size_t)n < sizeof(f->got)) {
		memcpy(f->got + have, buf, (size_t)n);
		f->got[have + (size_t)n] = 0;
	}
	f->reads++;
	evloop_unwatch_fd(f->l, fd);
	evloop_unwatch_fd(f->l, f->other_fd); /* remove a watch that also has an event pending */
}

static void test_loop_fd_watch(void)
{
	struct evloop *l = evloop_new();
	int p1[2], p2[2];
	CHECK(pipe(p1) == 0 && pipe(p2) == 0);
	struct fdtest f1 = {.l = l, .other_fd = p2[0]}, f2 = {.l = l, .other_fd = p1[0]};
	CHECK_INT(evloop_watch_fd(l, p1[0], POLLIN, fd_read, &f1), 0);
	CHECK_INT(evloop_watch_fd(l, p2[0], POLLIN, fd_read, &f2), 0);
	CHECK_INT(evloop_watch_fd(l, -1, POLLIN, fd_read, &f2), -1);
	CHECK(write(p1[1], "hello", 5) == 5 && write(p2[1], "world", 5) == 5);
	evloop_run_once(l);
	/* exactly one of them ran; it removed both watches */
	CHECK_INT(f1.reads + f2.reads, 1);
	evloop_add_timer(l, time_now_ms() + 30, tm_a, &(struct trace){0});
	evloop_run_once(l);
	CHECK_INT(f1.reads + f2.reads, 1);
	close(p1[0]);
	close(p1[1]);
	close(p2[0]);
	close(p2[1]);
	evloop_free(l);
}

static void sig_count_fn(void *arg, int signo)
{
	(*(int *)arg)++;
}

static void test_loop_signals(void)
{
	struct evloop *l = evloop_new();
	int a = 0, b = 0;
	evloop_on_signal(l, SIGHUP, sig_count_fn, &a);
	evloop_on_signal(l, SIGHUP, sig_count_fn, &b);
	kill(getpid(), SIGHUP);
	int64_t end = time_now_ms() + 5000;
	while (a == 0 && time_now_ms() < end)
		evloop_run_once(l);
	CHECK_INT(a, 1);
	CHECK_INT(b, 1);
	evloop_off_signal(l, SIGHUP, sig_count_fn, &b);
	kill(getpid(), SIGHUP);
	end = time_now_ms() + 5000;
	while (a == 1 && time_now_ms() < end)
		evloop_run_once(l);
	CHECK_INT(a, 2);
	CHECK_INT(b, 1);
	/* a delivered signal is pending for the loop until its round runs */
	CHECK_INT(evloop_signal_pending(l), 0);
	kill(getpid(), SIGHUP);   /* delivered to ourselves before kill() returns */
	CHECK_INT(evloop_signal_pending(l), 1);
	end = time_now_ms() + 5000;
	while (a == 2 && time_now_ms() < end)
		evloop_run_once(l);
	CHECK_INT(a, 3);
	CHECK_INT(evloop_signal_pending(l), 0);
	evloop_free(l);
}

/* ---- proc tests ---- */

struct outcome {
	int done;
	struct proc *p;
	struct proc_result res;
	char *out, *tail;
	struct strbuf sout, serr;
	int chunks;
	int stop_on_ready;
	long long bytes;
	int64_t done_ms;
};

static void oc_output(void *arg, enum proc_stream stream, const char *data, size_t len)
{
	struct outcome *o = arg;
	o->chunks++;
	o->bytes += (long long)len;
	if (o->bytes < 1 << 20)
		strbuf_add(stream == PROC_STDOUT ? &o->sout : &o->serr, data, len);
	if (o->stop_on_ready && strstr(strbuf_str(&o->sout), "ready")) {
		o->stop_on_ready = 0;
		proc_stop(o->p);
	}
}

static void oc_exit(void *arg, const struct proc_result *res)
{
	struct outcome *o = arg;
	CHECK(!o->done); /* exactly once */
	o->res = *res;
	o->out = xstrndup(res->out, res->out_len);
	o->tail = xstrndup(res->tail, res->tail_len);
	o->res.out = o->out;
	o->res.tail = o->tail;
	o->done = 1;
	o->done_ms = time_now_ms();
}

static void oc_release(struct outcome *o)
{
	free(o->out);
	free(o->tail);
	strbuf_release(&o->sout);
	strbuf_release(&o->serr);
	memset(o, 0, sizeof(*o));
}

static void spec_for(struct proc_spec *spec, char **argv, struct outcome *o)
{
	struct proc_spec init = PROC_SPEC_INIT;
	*spec = init;
	spec->argv = argv;
	spec->on_output = oc_output;
	spec->on_exit = oc_exit;
	spec->arg = o;
	spec->capture_out = 4096;
	spec->capture_tail = 4096;
}

/* Start and run one proc on its own loop; returns elapsed ms or -1. */
static int64_t run_spec(struct proc_spec *spec, struct outcome *o)
{
	struct evloop *l = evloop_new();
	struct wl_err err = WL_ERR_INIT;
	int64_t start = time_now_ms();
	o->p = proc_start(l, spec, &err);
	if (!o->p) {
		fprintf(stderr, "  proc_start: %s\n", err.msg);
		evloop_free(l);
		return -1;
	}
	evloop_run(l, &o->done);
	evloop_free(l);
	return time_now_ms() - start;
}

static int64_t run_argv(char **argv, struct outcome *o)
{
	struct proc_spec spec;
	spec_for(&spec, argv, o);
	return run_spec(&spec, o);
}

static void test_exit_codes(void)
{
	int codes[] = {0, 1, 3, 42, 255};
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		char num[16];
		snprintf(num, sizeof(num), "%d", codes[i]);
		char *argv[] = {helper, "exit", num, NULL};
		struct outcome o = {0};
		CHECK(run_argv(argv, &o) >= 0);
		CHECK_INT(o.res.exited, 1);
		CHECK_INT(o.res.exit_code, codes[i]);
		CHECK_INT(o.res.signaled, 0);
		CHECK_INT(o.res.exec_failed, 0);
		CHECK_INT(o.res.signals_sent, 0);
		CHECK_INT(o.res.lingered, 0);
		CHECK(o.res.end_ms >= o.res.start_ms);
		oc_release(&o);
	}
}

static void test_signal_death(void)
{
	int sigs[] = {SIGKILL, SIGTERM, SIGSEGV};
	for (size_t i = 0; i < 3; i++) {
		char num[16];
		snprintf(num, sizeof(num), "%d", sigs[i]);
		char *argv[] = {helper, "die-by-signal", num, NULL};
		struct outcome o = {0};
		CHECK(run_argv(argv, &o) >= 0);
		CHECK_INT(o.res.exited, 0);
		CHECK_INT(o.res.signaled, 1);
		CHECK_INT(o.res.signo, sigs[i]);
		CHECK_INT(o.res.signals_sent, 0);
		oc_release(&o);
	}
}

static void test_exec_not_found(void)
{
	char *argv[] = {"wl-no-such-command-xyz", "a", NULL};
	struct outcome o = {0};
	CHECK(run_argv(argv, &o) >= 0);
	CHECK_INT(o.res.exec_failed, 1);
	CHECK_INT(o.res.exec_errno, ENOENT);
	CHECK_STR(o.res.exec_error, "command not found: 'wl-no-such-command-xyz'");
	CHECK_INT(o.res.exit_code, 127);
	CHECK_STR(o.out, "");
	oc_release(&o);

	char *argv2[] = {"./no/such/file", NULL};
	CHECK(run_argv(argv2, &o) >= 0);
	CHECK_STR(o.res.exec_error, "command not found: './no/such/file'");
	oc_release(&o);
}

static void test_exec_permission_denied(void)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/x", tmpdir);
	FILE *f = fopen(path, "w");
	fputs("#!/bin/sh\necho hi\n", f);
	fclose(f);
	chmod(path, 0644);
	char *argv[] = {"./x", NULL};
	struct outcome o = {0};
	struct proc_spec spec;
	spec_for(&spec, argv, &o);
	spec.cwd = tmpdir;
	CHECK(run_spec(&spec, &o) >= 0);
	CHECK_INT(o.res.exec_failed, 1);
	CHECK_INT(o.res.exec_errno, EACCES);
	CHECK_STR(o.res.exec_error, "permission denied: './x'");
	CHECK_INT(o.res.exit_code, 126);
	oc_release(&o);

	/* a non-executable file found in PATH is EACCES, not "not found" */
	char pathenv[600];
	snprintf(pathenv, sizeof(pathenv), "PATH=/nonexistent:%s", tmpdir);
	char *env[] = {pathenv, NULL};
	char *argv2[] = {"x", NULL};
	spec_for(&spec, argv2, &o);
	spec.env = env;
	CHECK(run_spec(&spec, &o) >= 0);
	CHECK_STR(o.res.exec_error, "permission denied: 'x'");
	oc_release(&o);

	/* a script without #! runs through /bin/sh, as with execvp */
	chmod(path, 0755);
	f = fopen(path, "w");
	fputs("echo from-script \"$1\"\n", f);
	fclose(f);
	char *argv3[] = {path, "arg1", NULL};
	CHECK(run_argv(argv3, &o) >= 0);
	CHECK_INT(o.res.exec_failed, 0);
	CHECK_STR(o.out, "from-script arg1\n");
	oc_release(&o);
	unlink(path);

	/* cwd that does not exist */
	char *argv4[] = {helper, "exit", "0", NULL};
	spec_for(&spec, argv4, &o);
	spec.cwd = "/nonexistent-dir-wl";
	CHECK(run_spec(&spec, &o) >= 0);
	CHECK_INT(o.res.exec_failed, 1);
	CHECK_STR(o.res.exec_error,
		  "cannot change directory to '/nonexistent-dir-wl': No such file or directory");
	oc_release(&o);
}

static void test_path_from_env(void)
{
	/* spec.env's PATH is searched, not the runner's */
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", helper);
	*strrchr(dir, '/') = 0;
	char pathenv[4200];
	snprintf(pathenv, sizeof(pathenv), "PATH=/nonexistent:%s", dir);
	char *env[] = {pathenv, "WL_TEST_VAR=hello there", NULL};
	char *argv[] = {"wl-helper", "echo-env", "WL_TEST_VAR", NULL};
	struct outcome o = {0};
	struct proc_spec spec;
	spec_for(&spec, argv, &o);
	spec.env = env;
	CHECK(run_spec(&spec, &o) >= 0);
	CHECK_INT(o.res.exec_failed, 0);
	CHECK_STR(o.out, "hello there\n");
	oc_release(&o);

	char *env2[] = {"PATH=/nonexistent", NULL};
	char *oldpath = xstrdup(getenv("PATH"));
	setenv("PATH", dir, 1);
	spec_for(&spec, argv, &o);
	spec.env = env2;
	CHECK(run_spec(&spec, &o) >= 0);
	CHECK_STR(o.res.exec_error, "command not found: 'wl-helper'");
	oc_release(&o);
	/* env NULL: the runner's PATH */
	spec_for(&spec, argv, &o);
	CHECK(run_spec(&spec, &o) >= 0);
	CHECK_INT(o.res.exec_failed, 0);
	CHECK_STR(o.out, "(unset)\n");
	oc_release(&o);
	setenv("PATH", oldpath, 1);
	free(oldpath);
}

/* The PATH lookup is remembered (proc.c path_cache), but a command that
 * vanished is searched again: the next directory's copy runs, and with
 * none left it is "command not found", never a stale path. */
static void test_path_remembered_then_gone(void)
{
	char d1[300], d2[300], t1[400], t2[400], pathenv[700];
	snprintf(d1, sizeof(d1), "%s/pc1", tmpdir);
	snprintf(d2, sizeof(d2), "%s/pc2", tmpdir);
	CHECK_INT(mkdir(d1, 0755), 0);
	CHECK_INT(mkdir(d2, 0755), 0);
	snprintf(t1, sizeof(t1), "%s/wl-pc-tool", d1);
	snprintf(t2, sizeof(t2), "%s/wl-pc-tool", d2);
	const char *sc1 = "#!/bin/sh\necho one\n", *sc2 = "#!/bin/sh\necho two\n";
	FILE *f = fopen(t1, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	fputs(sc1, f);
	fclose(f);
	f = fopen(t2, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	fputs(sc2, f);
	fclose(f);
	chmod(t1, 0755);
	chmod(t2, 0755);
	snprintf(pathenv, sizeof(pathenv), "PATH=%s:%s", d1, d2);
	char *env[] = {pathenv, NULL};
	char *argv[] = {"wl-pc-tool", NULL};
	struct outcome o = {0};
	struct proc_spec spec;
	for (int i = 0; i < 2; i++) {   /* the second start uses the remembered path */
		spec_for(&spec, argv, &o);
		spec.env = env;
		CHECK(run_spec(&spec, &o) >= 0);
		CHECK_STR(o.out, "one\n");
		oc_release(&o);
	}
	unlink(t1);
	spec_for(&spec, argv, &o);
	spec.env = env;
	CHECK(run_spec(&spec, &o) >= 0);
	CHECK_INT(o.res.exec_failed, 0);
	CHECK_STR(o.out, "two\n");
	oc_release(&o);
	unlink(t2);
	spec_for(&spec, argv, &o);
	spec.env = env;
	CHECK(run_spec(&spec, &o) >= 0);
	CHECK_STR(o.res.exec_error, "command not found: 'wl-pc-tool'");
	CHECK_INT(o.res.exit_code, 127);
	oc_release(&o);
	rmdir(d1);
	rmdir(d2);
}

static void test_stdin(void)
{
	char *argv[] = {helper, "read-stdin", NULL};
	struct outcome o = {0};
	int64_t ms = run_argv(argv, &o);
	CHECK(ms >= 0 && ms < 10000);
	CHECK_STR(o.out, "0\n");
	oc_release(&o);

	struct proc_spec spec;
	spec_for(&spec, argv, &o);
	spec.stdin_data = "hello";
	spec.stdin_len = 5;
	CHECK(run_spec(&spec, &o) >= 0);
	CHECK_STR(o.out, "5\n");
	oc_release(&o);

	size_t big = 3 * 1024 * 1024 + 7; /* more than a pipe holds: non-blocking writes */
	char *data = xmalloc(big);
	memset(data, 'z', big);
	spec_for(&spec, argv, &o);
	spec.stdin_data = data;
	spec.stdin_len = big;
	CHECK(run_spec(&spec, &o) >= 0);
	CHECK_STR(o.out, "3145735\n");
	oc_release(&o);

	/* child exits without reading: EPIPE, not SIGPIPE, not a hang */
	char *argv2[] = {helper, "exit", "0", NULL};
	spec_for(&spec, argv2, &o);
	spec.stdin_data = data;
	spec.stdin_len = big;
	CHECK(run_spec(&spec, &o) >= 0);
	CHECK_INT(o.res.exit_code, 0);
	oc_release(&o);
	free(data);

	spec_for(&spec, argv, &o);
	spec.stdin_data = "";
	spec.stdin_len = 0;
	CHECK(run_spec(&spec, &o) >= 0);
	CHECK_STR(o.out, "0\n");
	oc_release(&o);
}

static void test_only_std_fds(void)
{
	int extra1 = open("/dev/null", O_RDONLY); /* deliberately without O_CLOEXEC */
	int extra2 = dup(1);
	int extra3 = fcntl(0, F_DUPFD, 100);
	CHECK(extra1 >= 3 && extra2 >= 3 && extra3 >= 100);
	char *argv[] = {helper, "list-fds", NULL};
	struct outcome o = {0};
	CHECK(run_argv(argv, &o) >= 0);
	CHECK_STR(o.out, "0 1 2\n");
	oc_release(&o);
	close(extra1);
	close(extra2);
	close(extra3);
}

static void test_runner_without_stdin(void)
{
	/* the runner started with fd 0 closed: our descriptors must not land
	 * on 0/1/2 and be clobbered by the child's dup2() */
	int saved = dup(0);
	close(0);
	char *argv[] = {helper, "list-fds", NULL};
	struct outcome o = {0};
	CHECK(run_argv(argv, &o) >= 0);
	CHECK_STR(o.out, "0 1 2\n");
	oc_release(&o);
	char *argv2[] = {helper, "read-stdin", NULL};
	struct proc_spec spec;
	spec_for(&spec, argv2, &o);
	spec.stdin_data = "abc";
	spec.stdin_len = 3;
	CHECK(run_spec(&spec, &o) >= 0);
	CHECK_STR(o.out, "3\n");
	oc_release(&o);
	dup2(saved, 0);
	close(saved);
}

static void test_child_signal_state(void)
{
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, &old);
	signal(SIGUSR2, SIG_IGN);
	char *argv[] = {helper, "print-sigmask", NULL};
	struct outcome o = {0};
	CHECK(run_argv(argv, &o) >= 0);
	/* SIGPIPE is ignored in the runner, SIGUSR1 blocked, SIGUSR2 ignored: none inherited */
	CHECK_STR(o.out, "blocked=0 ignored=0\n");
	oc_release(&o);
	signal(SIGUSR2, SIG_DFL);
	sigprocmask(SIG_SETMASK, &old, NULL);
}

static void test_process_group(void)
{
	char *argv[] = {helper, "print-pgid", NULL};
	struct outcome o = {0};
	struct evloop *l = evloop_new();
	struct proc_spec spec;
	spec_for(&spec, argv, &o);
	struct wl_err err = WL_ERR_INIT;
	o.p = proc_start(l, &spec, &err);
	CHECK(o.p != NULL);
	pid_t pid = proc_pid(o.p);
	evloop_run(l, &o.done);
	evloop_free(l);
	char want[64];
	snprintf(want, sizeof(want), "%d %d\n", (int)pid, (int)pid);
	CHECK_STR(o.out, want);
	CHECK(getpgid(0) != pid);
	oc_release(&o);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return xstrdup("(missing)");
	struct strbuf sb = STRBUF_INIT;
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		strbuf_add(&sb, buf, n);
	fclose(f);
	return strbuf_detach(&sb);
}

static void test_capture(void)
{
	char outp[512], errp[512], both[512];
	snprintf(outp, sizeof(outp), "%s/out.log", tmpdir);
	snprintf(errp, sizeof(errp), "%s/err.log", tmpdir);
	snprintf(both, sizeof(both), "%s/both.log", tmpdir);
	char *argv[] = {helper, "out-err", NULL};
	struct outcome o = {0};
	struct proc_spec spec;
	for (int round = 0; round < 2; round++) { /* appends */
		spec_for(&spec, argv, &o);
		spec.stdout_path = outp;
		spec.stderr_path = errp;
		CHECK(run_spec(&spec, &o) >= 0);
		CHECK_STR(o.out, "out\n");
		CHECK_STR(strbuf_str(&o.sout), "out\n");
		CHECK_STR(strbuf_str(&o.serr), "err\n");
		CHECK(strstr(o.tail, "out\n") && strstr(o.tail, "err\n"));
		CHECK_INT(o.res.tail_len, 8);
		CHECK(o.res.last_output_ms >= o.res.start_ms);
		oc_release(&o);
	}
	char *s = slurp(outp);
	CHECK_STR(s, "out\nout\n");
	free(s);
	s = slurp(errp);
	CHECK_STR(s, "err\nerr\n");
	free(s);
	struct stat st;
	CHECK(stat(outp, &st) == 0 && (st.st_mode & 0777) == 0644);

	spec_for(&spec, argv, &o);
	spec.stdout_path = both;
	spec.stderr_path = both;
	CHECK(run_spec(&spec, &o) >= 0);
	oc_release(&o);
	s = slurp(both);
	CHECK_STR(s, "out\nerr\n");
	free(s);

	/* head and tail limits */
	char *argv2[] = {helper, "flood", "10000", NULL};
	spec_for(&spec, argv2, &o);
	spec.capture_out = 100;
	spec.capture_tail = 130;
	CHECK(run_spec(&spec, &o) >= 0);
	CHECK_INT(o.res.out_len, 100);
	CHECK_INT(o.res.out_truncated, 1);
	CHECK_INT(o.res.tail_len, 130);
	CHECK_INT(o.bytes, 10000);
	CHECK(o.sout.len == 10000 && !memcmp(o.sout.buf, o.out, 100));
	CHECK(!memcmp(o.sout.buf + 10000 - 130, o.tail, 130));
	oc_release(&o);

	char *argv3[] = {helper, "print", "short", NULL};
	spec_for(&spec, argv3, &o);
	spec.capture_out = 100;
	spec.capture_tail = 0;
	CHECK(run_spec(&spec, &o) >= 0);
	CHECK_STR(o.out, "short\n");
	CHECK_INT(o.res.out_truncated, 0);
	CHECK_INT(o.res.tail_len, 0);
	CHECK(o.res.last_output_ms >= o.res.start_ms);
	oc_release(&o);

	/* capture files are created at the first byte: a silent stream leaves none */
	char silent_out[512], silent_err[512];
	snprintf(silent_out, sizeof(silent_out), "%s/silent.out", tmpdir);
	snprintf(silent_err, sizeof(silent_err), "%s/silent.err", tmpdir);
	char *argv_silent[] = {helper, "exit", "0", NULL};
	spec_for(&spec, argv_silent, &o);
	spec.stdout_path = silent_out;
	spec.stderr_path = silent_err;
	CHECK(run_spec(&spec, &o) >= 0);
	CHECK_INT(o.res.exited, 1);
	CHECK_STR(o.res.capture_error, "");
	oc_release(&o);
	CHECK(access(silent_out, F_OK) != 0 && errno == ENOENT);
	CHECK(access(silent_err, F_OK) != 0 && errno == ENOENT);
	spec_for(&spec, argv3, &o); /* stdout only: stderr.log stays absent */
	spec.stdout_path = silent_out;
	spec.stderr_path = silent_err;
	CHECK(run_spec(&spec, &o) >= 0);
	oc_release(&o);
	s = slurp(silent_out);
	CHECK_STR(s, "short\n");
	free(s);
	CHECK(access(silent_err, F_OK) != 0 && errno == ENOENT);

	/* a capture file that cannot be created at the first byte: named in the
	 * result, and the capture goes on in memory */
	char isdir[512];
	snprintf(isdir, sizeof(isdir), "%s/a-directory", tmpdir);
	CHECK(mkdir(isdir, 0755) == 0);
	spec_for(&spec, argv3, &o);
	spec.stdout_path = isdir;
	spec.capture_out = 100;
	CHECK(run_spec(&spec, &o) >= 0);
	CHECK_INT(o.res.exited, 1);
	CHECK_STR(o.out, "short\n");
	char want[700];
	snprintf(want, sizeof(want), "cannot open '%s': Is a directory", isdir);
	CHECK_STR(o.res.capture_error, want);
	oc_release(&o);

	/* a capture file that cannot be opened: a start error */
	spec_for(&spec, argv3, &o);
	spec.stdout_path = "/nonexistent-dir-wl/out.log";
	struct evloop *l = evloop_new();
	struct wl_err err = WL_ERR_INIT;
	CHECK(proc_start(l, &spec, &err) == NULL);
	CHECK_STR(err.msg, "cannot open '/nonexistent-dir-wl/out.log': No such file or directory");
	evloop_free(l);
}

/* tail_redactor: the tail is redacted as a stream before it is cut; a key
 * block whose BEGIN is far above the cut stays hidden; output and the
 * capture file stay raw (issue 15, leak 4). */
static void test_tail_redacted(void)
{
	char outp[512];
	snprintf(outp, sizeof(outp), "%s/redact.log", tmpdir);
	char *argv[] = {(char *)"/bin/sh", (char *)"-c",
			(char *)"echo '-----BEGIN RSA PRIVATE KEY-----'; i=0; while [ $i -lt 200 ]; do "
				"printf 'KeyLine%03d/MIIEowIBAAKCAQEAx2VeQ8Zk3mN7pQ\\n' $i; i=$((i+1)); done; "
				"echo '-----END RSA PRIVATE KEY-----'; echo 'token=abcSecret99 done' >&2; "
				"printf 'last AKIAIOSFODNN7EXAMPLE'",
			NULL};
	struct redactor *rd = redactor_new(NULL, NULL, NULL);
	struct outcome o = {0};
	struct proc_spec spec;
	spec_for(&spec, argv, &o);
	spec.stdout_path = outp;
	spec.capture_tail = 600;   /* far less than the key block */
	spec.tail_redactor = rd;
	CHECK(run_spec(&spec, &o) >= 0);
	CHECK(!strstr(o.tail, "KeyLine"));
	CHECK(!strstr(o.tail, "abcSecret99"));
	CHECK(!strstr(o.tail, "AKIAIOSFODNN7EXAMPLE"));
	CHECK_CONTAINS(o.tail, "token=" REDACTED " done");
	CHECK_CONTAINS(o.tail, "last " REDACTED);
	CHECK(strstr(strbuf_str(&o.sout), "KeyLine199") != NULL);   /* on_output: raw */
	char *s = slurp(outp);
	CHECK(strstr(s, "KeyLine000") != NULL);                     /* the capture file: raw */
	free(s);
	oc_release(&o);
	redactor_free(rd);
}

static void test_output_chunks(void)
{
	char *argv[] = {helper, "tick", "5", "30", NULL};
	struct outcome o = {0};
	CHECK(run_argv(argv, &o) >= 0);
	CHECK_STR(strbuf_str(&o.sout), "tick 1\ntick 2\ntick 3\ntick 4\ntick 5\n");
	CHECK(o.chunks >= 2); /* output arrives as it is written, not at exit */
	CHECK(o.res.last_output_ms > o.res.start_ms);
	oc_release(&o);
}

static void test_timeout_sigint(void)
{
	char *argv[] = {helper, "sleep", "30", NULL};
	struct outcome o = {0};
	struct proc_spec spec;
	spec_for(&spec, argv, &o);
	spec.timeout_ms = 300;
	spec.grace_ms = 200;
	int64_t ms = run_spec(&spec, &o);
	CHECK(ms >= 300 && ms < 10000);
	CHECK_INT(o.res.timed_out, 1);
	CHECK_INT(o.res.stopped, 0);
	CHECK_INT(o.res.signals_sent, PROC_SENT_SIGINT);
	CHECK_INT(o.res.signaled, 1);
	CHECK_INT(o.res.signo, SIGINT);
	oc_release(&o);
}

static void test_timeout_sigterm(void)
{
	char *argv[] = {helper, "ignore-int", "30", NULL};
	struct outcome o = {0};
	struct proc_spec spec;
	spec_for(&spec, argv, &o);
	spec.grace_ms = 200;
	o.stop_on_ready = 1; /* proc_stop from on_output, once SIGINT is ignored */
	int64_t ms = run_spec(&spec, &o);
	CHECK(ms >= 0 && ms < 10000);
	CHECK_INT(o.res.timed_out, 0);
	CHECK_INT(o.res.stopped, 1);
	CHECK_INT(o.res.signals_sent, PROC_SENT_SIGINT | PROC_SENT_SIGTERM);
	CHECK_INT(o.res.signo, SIGTERM);
	oc_release(&o);

	/* timeout through the whole ladder */
	spec_for(&spec, argv, &o);
	spec.timeout_ms = 2000;
	spec.grace_ms = 200;
	ms = run_spec(&spec, &o);
	CHECK(ms >= 2000 && ms < 12000);
	CHECK_INT(o.res.timed_out, 1);
	CHECK_INT(o.res.signals_sent, PROC_SENT_SIGINT | PROC_SENT_SIGTERM);
	CHECK_INT(o.res.signo, SIGTERM);
	oc_release(&o);
}

static void test_ignore_term_sigkill(void)
{
	char *argv[] = {helper, "ignore-term", "600", NULL};
	struct outcome o = {0};
	struct proc_spec spec;
	spec_for(&spec, argv, &o);
	spec.grace_ms = 200;
	o.stop_on_ready = 1;
	struct evloop *l = evloop_new();
	struct wl_err err = WL_ERR_INIT;
	o.p = proc_start(l, &spec, &err);
	CHECK(o.p != NULL);
	int64_t ready_ms = 0;
	while (!o.done) {
		evloop_run_once(l);
		if (!ready_ms && !o.stop_on_ready)
			ready_ms = time_now_ms();
	}
	evloop_free(l);
	int64_t after_stop = o.done_ms - ready_ms;
	fprintf(stderr, "  ignore-term: stopped %lld ms after proc_stop\n", (long long)after_stop);
	/* No lower bound in wall time: ready_ms is read after proc_stop() returned,
	 * so "two grace periods" measured from it came out 399 ms under load.
	 * The escalation itself is checked by the signals sent, below. */
	CHECK(after_stop < 60000);  /* the helper would run 10 min; SIGKILL ends it (~2x grace) */
	CHECK_INT(o.res.signals_sent, PROC_SENT_SIGINT | PROC_SENT_SIGTERM | PROC_SENT_SIGKILL);
	CHECK_INT(o.res.signaled, 1);
	CHECK_INT(o.res.signo, SIGKILL);
	CHECK_INT(o.res.stopped, 1);
	oc_release(&o);
}

/* A process is gone, or a zombie waiting for init (it holds nothing). */
static int pid_dead(pid_t pid)
{
	if (kill(pid, 0) < 0 && errno == ESRCH)
		return 1;
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	char *rp = strrchr(buf, ')');
	return rp && (rp[2] == 'Z' || rp[2] == 'X');
}

static void test_grandchild_holds_stdout(void)
{
	char *argv[] = {helper, "grandchild-holds-stdout", "60", NULL};
	struct outcome o = {0};
	struct proc_spec spec;
	spec_for(&spec, argv, &o);
	spec.linger_ms = 300;
	spec.grace_ms = 300;
	int64_t ms = run_spec(&spec, &o);
	fprintf(stderr, "  grandchild-holds-stdout: %lld ms\n", (long long)ms);
	CHECK(ms >= 300);
	CHECK(ms < 8000); /* linger + margin, not the grandchild's 60 s */
	CHECK_INT(o.res.exited, 1);
	CHECK_INT(o.res.exit_code, 0);
	CHECK_INT(o.res.lingered, 1);
	CHECK(o.res.signals_sent & PROC_SENT_SIGINT);
	int gpid = 0;
	CHECK(sscanf(o.out, "grandchild %d", &gpid) == 1);
	CHECK(gpid > 0 && pid_dead(gpid));
	oc_release(&o);

	/* a member without pipes: nothing to drain, stopped at once */
	char *argv2[] = {helper, "grandchild-detached", "60", NULL};
	spec_for(&spec, argv2, &o);
	spec.linger_ms = 5000;
	spec.grace_ms = 5000;
	ms = run_spec(&spec, &o);
	fprintf(stderr, "  grandchild-detached: %lld ms\n", (long long)ms);
	CHECK(ms < 4000); /* neither the linger nor a grace period */
	CHECK_INT(o.res.signals_sent, PROC_SENT_SIGINT);
	CHECK_INT(o.res.lingered, 1);
	CHECK_INT(o.res.exit_code, 0);
	gpid = 0;
	CHECK(sscanf(o.out, "grandchild %d", &gpid) == 1);
	CHECK(gpid > 0 && pid_dead(gpid));
	oc_release(&o);
}

static long rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6))
			kb = atol(line + 6);
	if (f)
		fclose(f);
	return kb;
}

static void test_flood_bounded_memory(void)
{
	char *argv[] = {helper, "flood-both", "52428800", NULL}; /* 50 MB on each stream */
	struct outcome o = {0};
	struct proc_spec spec;
	spec_for(&spec, argv, &o);
	spec.capture_out = 65536;
	spec.capture_tail = 65536;
	char path[512];
	snprintf(path, sizeof(path), "%s/flood.log", tmpdir);
	spec.stdout_path = path;
	spec.stderr_path = path;
	long before = rss_kb();
	int64_t ms = run_spec(&spec, &o);
	long after = rss_kb();
	fprintf(stderr, "  flood 100 MB: %lld ms, rss %ld -> %ld kB\n", (long long)ms, before, after);
	CHECK(ms >= 0);
	CHECK_INT(o.bytes, 104857600LL);
	CHECK_INT(o.res.out_len, 65536);
	CHECK_INT(o.res.out_truncated, 1);
	CHECK_INT(o.res.tail_len, 65536);
	CHECK_INT(o.res.exit_code, 0);
	CHECK(after - before < 32 * 1024);
	struct stat st;
	CHECK(stat(path, &st) == 0 && st.st_size == 104857600);
	unlink(path);
	oc_release(&o);
}

static void test_many_concurrent(void)
{
	enum { N = 50 };
	struct evloop *l = evloop_new();
	struct outcome *o = xcalloc(N, sizeof(*o));
	char nums[N][16];
	int remaining = N;
	for (int i = 0; i < N; i++) {
		snprintf(nums[i], sizeof(nums[i]), "%d", i);
		char *argv[] = {helper, i % 2 ? "print" : "exit", nums[i], NULL};
		struct proc_spec spec;
		spec_for(&spec, argv, &o[i]);
		struct wl_err err = WL_ERR_INIT;
		o[i].p = proc_start(l, &spec, &err);
		CHECK(o[i].p != NULL);
	}
	int64_t end = time_now_ms() + 60000;
	while (remaining > 0 && time_now_ms() < end) {
		evloop_run_once(l);
		remaining = 0;
		for (int i = 0; i < N; i++)
			remaining += !o[i].done;
	}
	CHECK_INT(remaining, 0);
	for (int i = 0; i < N; i++) {
		if (i % 2) {
			char want[32];
			snprintf(want, sizeof(want), "%d\n", i);
			CHECK_STR(o[i].out, want);
			CHECK_INT(o[i].res.exit_code, 0);
		} else {
			CHECK_INT(o[i].res.exit_code, i % 256);
		}
		oc_release(&o[i]);
	}
	free(o);
	evloop_free(l);
}

/* ---- spawn (src/spawn.c): no wait for the child's exec ---- */

/* Pin this process (and so its children) to one CPU; returns the old mask. */
static cpu_set_t pin_one_cpu(void)
{
	cpu_set_t old, one;
	CPU_ZERO(&old);
	sched_getaffinity(0, sizeof(old), &old);
	CPU_ZERO(&one);
	for (size_t c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &old)) {
			CPU_SET(c, &one);
			break;
		}
	sched_setaffinity(0, sizeof(one), &one);
	return old;
}

/* Has pid exec'd? Its memory is then the helper's: /proc/PID/exe names
 * the executable of the memory the task runs in, switched by the exec
 * before a vfork parent resumes (its comm is set later, racily). */
static int has_execed(pid_t pid)
{
	char path[64], exe[4096];
	snprintf(path, sizeof(path), "/proc/%ld/exe", (long)pid);
	ssize_t n = readlink(path, exe, sizeof(exe) - 1);
	if (n < 0)
		return 1;   /* gone: it exec'd and exited */
	exe[n] = 0;
	return strcmp(exe, helper) == 0;
}

static void run_all(struct evloop *l, struct outcome *o, int n)
{
	int64_t end = time_now_ms() + 60000;
	int remaining = n;
	while (remaining > 0 && time_now_ms() < end) {
		evloop_run_once(l);
		remaining = 0;
		for (int i = 0; i < n; i++)
			remaining += !o[i].done;
	}
	CHECK_INT(remaining, 0);
}

/* Start N helpers on one CPU, in a batch or not; how many proc_start()
 * calls returned before their child had exec'd, and whether the last child
 * had exec'd once the batch ended. */
static int spawn_round(int n, int batch, int *last_execed)
{
	cpu_set_t old = pin_one_cpu();
	struct evloop *l = evloop_new();
	struct outcome *o = xcalloc((size_t)n, sizeof(*o));
	int before_exec = 0;
	if (batch)
		proc_batch_begin();
	for (int i = 0; i < n; i++) {
		char *argv[] = {helper, "exit", "0", NULL};
		struct proc_spec spec;
		spec_for(&spec, argv, &o[i]);
		struct wl_err err = WL_ERR_INIT;
		o[i].p = proc_start(l, &spec, &err);
		CHECK(o[i].p != NULL);
		before_exec += !has_execed(proc_pid(o[i].p));
	}
	pid_t last = proc_pid(o[n - 1].p);
	if (batch)
		proc_batch_end();
	*last_execed = has_execed(last);
	run_all(l, o, n);
	for (int i = 0; i < n; i++) {
		CHECK_INT(o[i].res.exec_failed, 0);
		CHECK_INT(o[i].res.exit_code, 0);
		oc_release(&o[i]);
	}
	free(o);
	evloop_free(l);
	sched_setaffinity(0, sizeof(old), &old);
	return before_exec;
}

/* In a batch (the runner's scheduling pass), on one CPU: a runner that
 * waited for each exec (vfork, posix_spawn) would never get back from
 * proc_start before its child exec'd. */
static void test_spawn_batch_does_not_wait_for_exec(void)
{
	int last_execed;
	int n = spawn_round(40, 1, &last_execed);
	printf("  batch: %d of 40 spawns returned before their child's exec\n", n);
	CHECK(n > 0);
}

/* Outside a batch every spawn waits for its exec; a batch of one waits
 * at its end (a chain's next step gets the CPU at once). */
static void test_spawn_single_waits_for_exec(void)
{
	int last_execed;
	CHECK_INT(spawn_round(10, 0, &last_execed), 0);
	CHECK_INT(last_execed, 1);
	for (int i = 0; i < 10; i++) {
		spawn_round(1, 1, &last_execed);
		CHECK_INT(last_execed, 1);
	}
}

/* The watch (reaper.h's hooks): spawned() per child, with its start time
 * as /proc gives it (from the boot clock around the clone: no /proc read),
 * then settled() once for the spawns since the last one -- after each
 * spawn (exec'd: the runner waited) outside a batch, at the batch's end
 * inside one, for all its children at once (the reaper's one history
 * commit for them). */
struct watch_log {
	pid_t pids[16];
	int n, settles, unsettled_at_settle[16], execed_at_settle[16];
	int ticks_given, ticks_wrong;
};
static struct watch_log wlog;

/* Field 22 of /proc/PID/stat (the start time in clock ticks), -1 if gone. */
static long long stat_start_ticks(pid_t pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	const char *rp = strrchr(buf, ')');
	unsigned long long t = 0;
	if (!rp || sscanf(rp + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu", &t) != 1)
		return -1;
	return (long long)t;
}

static void wl_spawned(void *arg, pid_t pgid, char *const *env, long long start_ticks)
{
	(void)arg, (void)env;
	if (start_ticks >= 0) {
		wlog.ticks_given++;
		wlog.ticks_wrong += start_ticks != stat_start_ticks(pgid);
	}
	if (wlog.n < 16)
		wlog.pids[wlog.n++] = pgid;
}
static void wl_settled(void *arg)
{
	(void)arg;
	int k = wlog.settles++, unsettled = 0, execed = 1;
	for (int i = 0; i < wlog.n; i++) {
		unsettled += wlog.pids[i] != 0;
		if (wlog.pids[i])
			execed &= has_execed(wlog.pids[i]);
		wlog.pids[i] = 0;
	}
	wlog.n = 0;
	if (k < 16) {
		wlog.unsettled_at_settle[k] = unsettled;
		wlog.execed_at_settle[k] = execed;
	}
}
static void test_spawn_watch_settles_once_per_pass(void)
{
	struct proc_watch w = {wl_spawned, wl_settled, NULL, NULL};
	memset(&wlog, 0, sizeof(wlog));
	proc_set_watch(&w);
	int last_execed;
	spawn_round(3, 0, &last_execed);       /* settles 0-2: one each */
	for (int i = 0; i < 5; i++)
		spawn_round(1, 1, &last_execed);   /* settles 3-7: a batch of one each */
	spawn_round(4, 1, &last_execed);       /* settle 8: the four at once */
	proc_set_watch(NULL);
	CHECK_INT(wlog.settles, 9);
	for (int k = 0; k < 8; k++)
		CHECK_INT(wlog.unsettled_at_settle[k], 1);
	for (int k = 0; k < 3; k++)
		CHECK_INT(wlog.execed_at_settle[k], 1);
	CHECK_INT(wlog.unsettled_at_settle[8], 4);
	/* 12 spawns; a start time is left to /proc only when the clock's 10 ms
	 * tick changed during the spawn (outside a batch the spawn lasts until
	 * the exec: a few % of them) */
	printf("  start time given for %d of 12 spawns\n", wlog.ticks_given);
	CHECK(wlog.ticks_given >= 6);
	CHECK_INT(wlog.ticks_wrong, 0);
}

/* More children before their exec than spawn.c has slots (64), with
 * every kind of start failure among them: each report reaches its own
 * child, none is lost or swapped when slots are reused. */
static void test_spawn_many_before_exec(void)
{
	enum { N = 150 };
	cpu_set_t old = pin_one_cpu();
	struct evloop *l = evloop_new();
	struct outcome *o = xcalloc(N, sizeof(*o));
	char nums[N][16], missing[N][48], want[8192];
	char *noexec = xasprintf("%s/not-executable", tmpdir);
	FILE *f = fopen(noexec, "w");
	CHECK(f != NULL);
	if (f)
		fclose(f);
	proc_batch_begin();
	for (int i = 0; i < N; i++) {
		snprintf(nums[i], sizeof(nums[i]), "%d", i);
		snprintf(missing[i], sizeof(missing[i]), "wl-no-such-command-%d", i);
		char *ok[] = {helper, "print", nums[i], NULL};
		char *nf[] = {missing[i], NULL};
		char *na[] = {noexec, NULL};
		struct proc_spec spec;
		spec_for(&spec, i % 4 == 1 ? nf : i % 4 == 2 ? na : ok, &o[i]);
		if (i % 4 == 3)
			spec.cwd = "/nonexistent/wl-dir";
		struct wl_err err = WL_ERR_INIT;
		o[i].p = proc_start(l, &spec, &err);
		CHECK(o[i].p != NULL);
	}
	proc_batch_end();
	run_all(l, o, N);
	for (int i = 0; i < N; i++) {
		switch (i % 4) {
		case 0:
			snprintf(want, sizeof(want), "%d\n", i);
			CHECK_STR(o[i].out, want);
			CHECK_INT(o[i].res.exec_failed, 0);
			break;
		case 1:
			snprintf(want, sizeof(want), "command not found: '%s'", missing[i]);
			CHECK_STR(o[i].res.exec_error, want);
			CHECK_INT(o[i].res.exit_code, 127);
			break;
		case 2:
			snprintf(want, sizeof(want), "permission denied: '%s'", noexec);
			CHECK_STR(o[i].res.exec_error, want);
			CHECK_INT(o[i].res.exit_code, 126);
			break;
		default:
			CHECK(strstr(o[i].res.exec_error, "cannot change directory to '/nonexistent/wl-dir'") != NULL);
			CHECK_INT(o[i].res.exit_code, 127);
		}
		oc_release(&o[i]);
	}
	free(noexec);
	free(o);
	evloop_free(l);
	sched_setaffinity(0, sizeof(old), &old);
}

static void stop_timer(void *arg)
{
	struct outcome *o = arg;
	proc_stop(o->p);
	proc_stop(o->p); /* idempotent */
}

static void test_stop_from_timer(void)
{
	char *argv[] = {helper, "sleep", "30", NULL};
	struct outcome o = {0};
	struct proc_spec spec;
	spec_for(&spec, argv, &o);
	spec.grace_ms = 5000;
	struct evloop *l = evloop_new();
	struct wl_err err = WL_ERR_INIT;
	int64_t start = time_now_ms();
	o.p = proc_start(l, &spec, &err);
	evloop_add_timer(l, start + 200, stop_timer, &o);
	evloop_run(l, &o.done);
	evloop_free(l);
	int64_t ms = time_now_ms() - start;
	CHECK(ms >= 200 && ms < 5000); /* SIGINT was enough: no grace wait */
	CHECK_INT(o.res.stopped, 1);
	CHECK_INT(o.res.timed_out, 0);
	CHECK_INT(o.res.signals_sent, PROC_SENT_SIGINT);
	CHECK_INT(o.res.signo, SIGINT);
	oc_release(&o);
}

static void test_main_left_group(void)
{
	/* main joins the runner's group: the group kill misses it, so it is
	 * signalled by pid (never the runner's group) */
	char *argv[] = {helper, "join-parent-group", "30", NULL};
	struct outcome o = {0};
	struct proc_spec spec;
	spec_for(&spec, argv, &o);
	spec.grace_ms = 200;
	o.stop_on_ready = 1;
	int64_t ms = run_spec(&spec, &o);
	CHECK(ms >= 0 && ms < 10000);
	CHECK_STR(o.out, "ready\n");
	CHECK_INT(o.res.signo, SIGINT);
	CHECK_INT(o.res.signals_sent, PROC_SENT_SIGINT);
	oc_release(&o);
}

static void test_kill_all(void)
{
	struct evloop *l = evloop_new();
	struct outcome o[2] = {{0}};
	char *argv[] = {helper, "ignore-term", "600", NULL};
	for (int i = 0; i < 2; i++) {
		struct proc_spec spec;
		spec_for(&spec, argv, &o[i]);
		struct wl_err err = WL_ERR_INIT;
		o[i].p = proc_start(l, &spec, &err);
	}
	int64_t start = time_now_ms();
	proc_kill_all();
	while (!o[0].done || !o[1].done)
		evloop_run_once(l);
	CHECK(time_now_ms() - start < 60000);   /* the helpers would run 10 min */
	for (int i = 0; i < 2; i++) {
		CHECK_INT(o[i].res.signo, SIGKILL);
		CHECK(o[i].res.signals_sent & PROC_SENT_SIGKILL);
		oc_release(&o[i]);
	}
	evloop_free(l);
}

static int64_t cpu_ms(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
}

static void test_no_busy_wait(void)
{
	/* waiting, lingering and escalating cost (almost) no CPU in the runner */
	int64_t cpu0 = cpu_ms();
	int64_t start = time_now_ms();
	char *argv[] = {helper, "sleep", "1.5", NULL};
	struct outcome o = {0};
	CHECK(run_argv(argv, &o) >= 1500);
	oc_release(&o);
	char *argv2[] = {helper, "grandchild-holds-stdout", "30", NULL};
	struct proc_spec spec;
	spec_for(&spec, argv2, &o);
	spec.linger_ms = 1000;
	CHECK(run_spec(&spec, &o) >= 1000);
	oc_release(&o);
	char *argv3[] = {helper, "ignore-term", "30", NULL};
	spec_for(&spec, argv3, &o);
	spec.grace_ms = 500;
	o.stop_on_ready = 1;
	CHECK(run_spec(&spec, &o) >= 1000);
	CHECK_INT(o.res.signo, SIGKILL);
	oc_release(&o);
	int64_t wall = time_now_ms() - start, cpu = cpu_ms() - cpu0;
	fprintf(stderr, "  no busy wait: %lld ms CPU over %lld ms\n", (long long)cpu, (long long)wall);
	CHECK(cpu < wall / 4);
}

static void sync_on_output(void *arg, enum proc_stream stream, const char *data, size_t len)
{
	if (memmem(data, len, "ready", 5))
		kill(getpid(), SIGHUP);
}

static void test_run_sync(void)
{
	char *argv[] = {helper, "print", "synchronous", NULL};
	struct proc_spec spec = PROC_SPEC_INIT;
	spec.argv = argv;
	spec.capture_out = 100;
	spec.capture_tail = 100;
	struct proc_result res;
	char *out = NULL, *tail = NULL;
	struct wl_err err = WL_ERR_INIT;
	CHECK_INT(proc_run_sync(&spec, &res, &out, &tail, &err), 0);
	CHECK_STR(out, "synchronous\n");
	CHECK_STR(tail, "synchronous\n");
	CHECK(res.out == out);
	CHECK_INT(res.exit_code, 0);
	free(out);
	free(tail);

	char *argv2[] = {"wl-no-such-command-xyz", NULL};
	spec.argv = argv2;
	CHECK_INT(proc_run_sync(&spec, &res, NULL, NULL, &err), 0);
	CHECK_INT(res.exec_failed, 1);
	CHECK(res.out == NULL);

	/* a private loop beside an existing one: a signal during the sync run
	 * stops the sync child, and the outer loop still sees the signal */
	struct evloop *outer = evloop_new();
	int hups = 0;
	evloop_on_signal(outer, SIGHUP, sig_count_fn, &hups);
	char *argv3[] = {helper, "ignore-int", "600", NULL};
	spec.argv = argv3;
	spec.grace_ms = 200;
	spec.on_output = sync_on_output;
	int64_t start = time_now_ms();
	CHECK_INT(proc_run_sync(&spec, &res, NULL, NULL, &err), 0);
	CHECK(time_now_ms() - start < 60000);   /* the helper would run 10 min */
	CHECK_INT(res.stopped, 1);
	CHECK_INT(res.signo, SIGTERM);
	int64_t end = time_now_ms() + 5000;
	while (hups == 0 && time_now_ms() < end)
		evloop_run_once(outer);
	CHECK_INT(hups, 1);
	evloop_free(outer);
}

static int fds_before;

static void test_no_fd_leak_no_zombie(void)
{
	CHECK_INT(count_fds(), fds_before);
	errno = 0;
	pid_t z = waitpid(-1, NULL, WNOHANG);
	CHECK(z == -1 && errno == ECHILD); /* no child left, not even a zombie */
}

int main(void)
{
	const char *tools = getenv("WAITLOOP_TOOLS");
	snprintf(helper, sizeof(helper), "%s/wl-helper", tools ? tools : "build/tools");
	if (helper[0] != '/') {
		char *cwd = getcwd(NULL, 0);
		char *abs = xasprintf("%s/%s", cwd ? cwd : ".", helper);
		if (strlen(abs) < sizeof(helper))
			memcpy(helper, abs, strlen(abs) + 1);
		free(abs);
		free(cwd);
	}
	if (access(helper, X_OK) != 0) {
		printf("FAIL setup: %s not built (make build/tools/wl-helper)\n", helper);
		return 1;
	}
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/wl-test-proc.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		printf("FAIL setup: mkdtemp\n");
		return 1;
	}
	/* proc.c keeps one descriptor for the whole process (/dev/null, the
	 * children's stdin), opened at the first spawn: count after one. */
	{
		char *argv[] = {helper, "exit", "0", NULL};
		struct outcome o = {0};
		if (run_argv(argv, &o) < 0) {
			printf("FAIL setup: first spawn\n");
			return 1;
		}
		oc_release(&o);
	}
	fds_before = count_fds();

	TEST(test_loop_timer_order);
	TEST(test_loop_timer_cancel);
	TEST(test_loop_timer_from_callback);
	TEST(test_loop_fd_watch);
	TEST(test_loop_signals);
	TEST(test_exit_codes);
	TEST(test_signal_death);
	TEST(test_exec_not_found);
	TEST(test_exec_permission_denied);
	TEST(test_path_from_env);
	TEST(test_path_remembered_then_gone);
	TEST(test_stdin);
	TEST(test_only_std_fds);
	TEST(test_runner_without_stdin);
	TEST(test_child_signal_state);
	TEST(test_process_group);
	TEST(test_capture);
	TEST(test_output_chunks);
	TEST(test_tail_redacted);
	TEST(test_timeout_sigint);
	TEST(test_timeout_sigterm);
	TEST(test_ignore_term_sigkill);
	TEST(test_grandchild_holds_stdout);
	TEST(test_flood_bounded_memory);
	TEST(test_many_concurrent);
	TEST(test_spawn_batch_does_not_wait_for_exec);
	TEST(test_spawn_watch_settles_once_per_pass);
	TEST(test_spawn_single_waits_for_exec);
	TEST(test_spawn_many_before_exec);
	TEST(test_stop_from_timer);
	TEST(test_main_left_group);
	TEST(test_kill_all);
	TEST(test_run_sync);
	TEST(test_no_busy_wait);

	TEST(test_no_fd_leak_no_zombie);
	rmdir(tmpdir);
	return tests_done();
}
