/* Cost of creating an inode on this file system, one system call at a time
 * (docs/benchmarks.md, "The kernel side"). Used by bench/create_cost.sh and,
 * as a one-line probe, by bench/run.sh and bench/vs-roboppi.sh.
 *
 *   create_cost mkdir DIR COUNT   mkdir DIR/d0 .. DIR/d<COUNT-1> (DIR is
 *                                 created; it must not exist) and print
 *                                 "mkdir COUNT median p10 p90 mean" in µs
 *   create_cost files DIR COUNT   the same with empty files (open O_CREAT |
 *                                 O_EXCL, close): "files COUNT ..."
 *
 * Nothing is ever deleted here: removing the inodes again is the caller's
 * business (and what the measurement is about). Each call is timed alone
 * with CLOCK_MONOTONIC; the median is the figure to read (a preemption
 * shows in the mean and the p90, not in the median). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "benchclock.h"

int main(int argc, char **argv)
{
	if (argc != 4 || (strcmp(argv[1], "mkdir") != 0 && strcmp(argv[1], "files") != 0)) {
		fprintf(stderr, "usage: create_cost mkdir|files DIR COUNT\n");
		return 2;
	}
	int dirs = strcmp(argv[1], "mkdir") == 0;
	const char *dir = argv[2];
	char *end;
	long n = strtol(argv[3], &end, 10);
	if (*end != '\0' || n < 1 || n > 1000000) {
		fprintf(stderr, "create_cost: COUNT must be 1..1000000, not '%s'\n", argv[3]);
		return 2;
	}
	if (mkdir(dir, 0755) != 0) {
		fprintf(stderr, "create_cost: mkdir %s: %s\n", dir, strerror(errno));
		return 1;
	}
	double *t = malloc((size_t)n * sizeof *t);
	char path[4096];
	if (!t)
		return 1;
	double sum = 0;
	for (long i = 0; i < n; i++) {
		snprintf(path, sizeof path, "%s/d%ld", dir, i);
		double t0 = now_us();
		int rc;
		if (dirs) {
			rc = mkdir(path, 0755);
		} else {
			int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
			rc = fd < 0 ? -1 : close(fd);
		}
		t[i] = now_us() - t0;
		if (rc != 0) {
			fprintf(stderr, "create_cost: %s: %s\n", path, strerror(errno));
			free(t);
			return 1;
		}
		sum += t[i];
	}
	qsort(t, (size_t)n, sizeof *t, cmp_double);
	double med = n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
	printf("%s %ld %.1f %.1f %.1f %.1f\n", argv[1], n, med, t[n / 10], t[n * 9 / 10],
	       sum / (double)n);
	free(t);
	return 0;
}
