/*
 * wl-helper: a small program for process edge cases in tests.
 *
 *   wl-helper exit CODE                  exit with CODE
 *   wl-helper sleep SECONDS              sleep (fractions allowed), exit 0
 *   wl-helper ignore-term SECONDS        ignore SIGINT and SIGTERM, print "ready", sleep
 *   wl-helper ignore-int SECONDS         ignore SIGINT only, print "ready", sleep
 *   wl-helper grandchild-holds-stdout SECONDS
 *                                        fork a grandchild that keeps stdout open and
 *                                        sleeps SECONDS; print "grandchild PID"; exit 0 at once
 *   wl-helper grandchild-detached SECONDS
 *                                        like above, but the grandchild closes stdout/stderr
 *                                        first (a group member without pipes)
 *   wl-helper join-parent-group SECONDS  leave our process group for the parent's,
 *                                        print "ready", sleep
 *   wl-helper read-stdin                 read stdin to EOF, print the byte count
 *   wl-helper flood BYTES                write BYTES bytes of 'x' lines to stdout
 *   wl-helper flood-both BYTES           write BYTES to stdout and BYTES to stderr
 *   wl-helper die-by-signal SIGNO        raise SIGNO (default disposition)
 *   wl-helper list-fds                   print the open descriptors, space-separated
 *   wl-helper echo-env NAME              print the value of NAME (or "(unset)")
 *   wl-helper print-pgid                 print "pid PGID" style: "PID PGID"
 *   wl-helper print-sigmask              print blocked and ignored signals (hex masks)
 *   wl-helper out-err                    print "out" on stdout and "err" on stderr
 *   wl-helper print TEXT                 print TEXT and a newline
 *   wl-helper tick N MS                  print "tick I" N times, MS apart
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void sleep_seconds(double s)
{
	struct timespec ts;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int usage(void)
{
	fprintf(stderr, "usage: wl-helper MODE [ARGS] (see the source)\n");
	return 2;
}

static int write_bytes(int fd, long long total)
{
	char buf[65536];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (i % 64 == 63) ? '\n' : 'x';
	while (total > 0) {
		size_t n = total < (long long)sizeof(buf) ? (size_t)total : sizeof(buf);
		ssize_t w = write(fd, buf, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		total -= w;
	}
	return 0;
}

static int grandchild(double secs, int detach)
{
	pid_t pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		if (detach) {
			close(1);
			close(2);
		}
		sleep_seconds(secs);
		_exit(0);
	}
	printf("grandchild %d\n", (int)pid);
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	const char *mode = argv[1];
	const char *a1 = argc > 2 ? argv[2] : NULL;
	const char *a2 = argc > 3 ? argv[3] : NULL;

	if (!strcmp(mode, "exit") && a1)
		return atoi(a1);
	if (!strcmp(mode, "sleep") && a1) {
		sleep_seconds(atof(a1));
		return 0;
	}
	if ((!strcmp(mode, "ignore-term") || !strcmp(mode, "ignore-int")) && a1) {
		signal(SIGINT, SIG_IGN);
		if (!strcmp(mode, "ignore-term"))
			signal(SIGTERM, SIG_IGN);
		printf("ready\n");
		fflush(stdout);
		sleep_seconds(atof(a1));
		return 0;
	}
	if (!strcmp(mode, "join-parent-group") && a1) {
		if (setpgid(0, getpgid(getppid())) < 0) {
			perror("setpgid");
			return 1;
		}
		printf("ready\n");
		fflush(stdout);
		sleep_seconds(atof(a1));
		return 0;
	}
	if (!strcmp(mode, "grandchild-holds-stdout") && a1)
		return grandchild(atof(a1), 0);
	if (!strcmp(mode, "grandchild-detached") && a1)
		return grandchild(atof(a1), 1);
	if (!strcmp(mode, "read-stdin")) {
		char buf[65536];
		long long total = 0;
		ssize_t n;
		while ((n = read(0, buf, sizeof(buf))) != 0) {
			if (n < 0) {
				if (errno == EINTR)
					continue;
				perror("read");
				return 1;
			}
			total += n;
		}
		printf("%lld\n", total);
		return 0;
	}
	if (!strcmp(mode, "flood") && a1)
		return write_bytes(1, atoll(a1));
	if (!strcmp(mode, "flood-both") && a1)
		return write_bytes(1, atoll(a1)) | write_bytes(2, atoll(a1));
	if (!strcmp(mode, "die-by-signal") && a1) {
		int sig = atoi(a1);
		signal(sig, SIG_DFL);
		sigset_t set;
		sigemptyset(&set);
		sigaddset(&set, sig);
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		raise(sig);
		return 1;
	}
	if (!strcmp(mode, "list-fds")) {
		DIR *d = opendir("/proc/self/fd");
		if (!d)
			return 1;
		int self = dirfd(d), first = 1;
		struct dirent *de;
		int fds[1024], n = 0;
		while ((de = readdir(d)) && n < 1024) {
			if (de->d_name[0] < '0' || de->d_name[0] > '9')
				continue;
			int fd = atoi(de->d_name);
			if (fd != self)
				fds[n++] = fd;
		}
		closedir(d);
		for (int i = 0; i < n; i++) /* sort: readdir order is not numeric */
			for (int j = i + 1; j < n; j++)
				if (fds[j] < fds[i]) {
					int t = fds[i];
					fds[i] = fds[j];
					fds[j] = t;
				}
		for (int i = 0; i < n; i++) {
			printf("%s%d", first ? "" : " ", fds[i]);
			first = 0;
		}
		printf("\n");
		return 0;
	}
	if (!strcmp(mode, "echo-env") && a1) {
		const char *v = getenv(a1);
		printf("%s\n", v ? v : "(unset)");
		return 0;
	}
	if (!strcmp(mode, "print-pgid")) {
		printf("%d %d\n", (int)getpid(), (int)getpgid(0));
		return 0;
	}
	if (!strcmp(mode, "print-sigmask")) {
		sigset_t cur;
		sigprocmask(SIG_BLOCK, NULL, &cur);
		unsigned long long blocked = 0, ignored = 0;
		for (int s = 1; s < 64; s++) {
			if (sigismember(&cur, s) == 1)
				blocked |= 1ULL << s;
			struct sigaction sa;
			if (sigaction(s, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN)
				ignored |= 1ULL << s;
		}
		printf("blocked=%llx ignored=%llx\n", blocked, ignored);
		return 0;
	}
	if (!strcmp(mode, "out-err")) {
		printf("out\n");
		fflush(stdout);
		fprintf(stderr, "err\n");
		return 0;
	}
	if (!strcmp(mode, "print") && a1) {
		printf("%s\n", a1);
		return 0;
	}
	if (!strcmp(mode, "tick") && a1 && a2) {
		int n = atoi(a1);
		for (int i = 1; i <= n; i++) {
			printf("tick %d\n", i);
			fflush(stdout);
			if (i < n)
				sleep_seconds(atof(a2) / 1000.0);
		}
		return 0;
	}
	return usage();
}
