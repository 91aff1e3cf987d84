/*
 * faultinject: an LD_PRELOAD library that makes allocations and writes fail,
 * for tests of the error paths (tests/e2e/test_faults.sh). Built as
 * build/tools/libfaultinject.so. Everything is off unless its variable is set.
 *
 *   FAULT_MALLOC_AFTER=N        the Nth and every later malloc/calloc/realloc
 *                               (counted from library load, 1-based) fails
 *                               with ENOMEM.
 *   FAULT_WRITE_PREFIX=/dir     descriptors opened on paths under /dir (absolute
 *                               after resolving a relative path against the
 *                               cwd / the openat directory) are "faulty":
 *                               write/pwrite/writev/fsync/fdatasync/ftruncate/
 *                               fallocate on them fail, and so does a rename
 *                               whose source or destination is under /dir.
 *                               A trailing '*' makes it a plain string prefix
 *                               ("/d/x.json*" covers /d/x.json and /d/x.json.tmp.1).
 *   FAULT_WRITE_ERRNO=ENOSPC|EIO|EPERM  the errno to fail with (default ENOSPC).
 *   FAULT_WRITE_AFTER_BYTES=N   let the first N bytes (over all faulty
 *                               descriptors) through, then fail; a write that
 *                               crosses the limit is a short write, as on a
 *                               filling disk. Default 0. Applies to writes;
 *                               fsync/rename then fail only once it is reached.
 *   FAULT_WRITE_OPS=write,fsync,rename,truncate,open,link
 *                               which operations fail (default all but open
 *                               and link; "open" makes O_CREAT/O_WRONLY opens
 *                               under the prefix fail too, "link" a link(2)
 *                               whose new name is under it: with EPERM, a file
 *                               system without hard links).
 *   FAULT_VERBOSE=1             print "faultinject: ..." on stderr at each
 *                               injected failure (tests use it to show the
 *                               fault was really hit).
 *
 * Under an ASan binary the malloc hooks forward to ASan's allocator (set
 * ASAN_OPTIONS=verify_asan_link_order=0); FAULT_MALLOC_AFTER is meant for the
 * plain binary. stdio writes (fwrite/fprintf) go through glibc-internal calls
 * and are not affected.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

/* This file is an interposer: the prototypes are libc's. */
#pragma GCC diagnostic ignored "-Wmissing-prototypes"

#define MAX_FD 4096
enum { OP_WRITE = 1, OP_FSYNC = 2, OP_RENAME = 4, OP_TRUNCATE = 8, OP_OPEN = 16, OP_LINK = 32 };

static atomic_long malloc_calls;
static long malloc_after;           /* 0 = off */
static char prefix[4096];
static size_t prefix_len;           /* 0 = write faults off */
static int prefix_glob;             /* trailing '*': string prefix */
static int fault_errno = ENOSPC;
static long long bytes_allowed;
static atomic_llong bytes_written;
static int ops = OP_WRITE | OP_FSYNC | OP_RENAME | OP_TRUNCATE;
static int verbose;
static unsigned char faulty[MAX_FD];
static int ready;

/* ---- real functions ------------------------------------------------------ */

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);

/* dlsym may allocate while we resolve the allocator: serve it from here. */
static char boot_buf[16384];
static size_t boot_used;
static int resolving;

static int in_boot(const void *p)
{
	return (const char *)p >= boot_buf && (const char *)p < boot_buf + sizeof(boot_buf);
}

static void *boot_alloc(size_t n)
{
	n = (n + 15) & ~(size_t)15;
	if (boot_used + n > sizeof(boot_buf))
		return NULL;
	void *p = boot_buf + boot_used;
	boot_used += n;
	return p;
}

static void resolve_alloc(void)
{
	if (real_malloc || resolving)
		return;
	resolving = 1;
	real_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
	real_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
	real_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
	real_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
	resolving = 0;
}

static void *next(const char *name)
{
	void *f = dlsym(RTLD_NEXT, name);
	if (!f) {
		fprintf(stderr, "faultinject: cannot resolve '%s'\n", name);
		abort();
	}
	return f;
}

#define REAL(name) \
	static __typeof__(name) *real_##name; \
	if (!real_##name) \
		real_##name = (__typeof__(name) *)next(#name)

static void say(const char *fmt, ...)
{
	if (!verbose)
		return;
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 1)
		n = (int)sizeof(buf) - 1;
	REAL(write);
	ssize_t r = real_write(2, buf, (size_t)n);
	(void)r;
}

__attribute__((constructor)) static void fault_init(void)
{
	const char *v = getenv("FAULT_MALLOC_AFTER");
	if (v && *v)
		malloc_after = atol(v);
	v = getenv("FAULT_WRITE_PREFIX");
	if (v && *v && strlen(v) < sizeof(prefix)) {
		strcpy(prefix, v);
		prefix_len = strlen(prefix);
		if (prefix[prefix_len - 1] == '*') {
			prefix_glob = 1;
			prefix[--prefix_len] = '\0';
		}
		while (!prefix_glob && prefix_len > 1 && prefix[prefix_len - 1] == '/')
			prefix[--prefix_len] = '\0';
	}
	v = getenv("FAULT_WRITE_ERRNO");
	if (v && !strcmp(v, "EIO"))
		fault_errno = EIO;
	if (v && !strcmp(v, "EPERM"))
		fault_errno = EPERM;
	v = getenv("FAULT_WRITE_AFTER_BYTES");
	if (v && *v)
		bytes_allowed = atoll(v);
	v = getenv("FAULT_WRITE_OPS");
	if (v && *v) {
		ops = 0;
		if (strstr(v, "write"))
			ops |= OP_WRITE;
		if (strstr(v, "fsync"))
			ops |= OP_FSYNC;
		if (strstr(v, "rename"))
			ops |= OP_RENAME;
		if (strstr(v, "truncate"))
			ops |= OP_TRUNCATE;
		if (strstr(v, "open"))
			ops |= OP_OPEN;
		if (strstr(v, "link"))
			ops |= OP_LINK;
	}
	v = getenv("FAULT_VERBOSE");
	verbose = v && *v && strcmp(v, "0");
	atomic_store(&malloc_calls, 0);
	ready = 1;
}

/* ---- allocation ---------------------------------------------------------- */

static int alloc_fails(void)
{
	if (!ready || !malloc_after)
		return 0;
	long n = atomic_fetch_add(&malloc_calls, 1) + 1;
	return n >= malloc_after;
}

void *malloc(size_t n)
{
	resolve_alloc();
	if (!real_malloc)
		return boot_alloc(n);
	if (alloc_fails()) {
		errno = ENOMEM;
		return NULL;
	}
	return real_malloc(n);
}

void *calloc(size_t a, size_t b)
{
	resolve_alloc();
	if (!real_calloc)
		return boot_alloc(a * b); /* boot_buf is zeroed static storage */
	if (alloc_fails()) {
		errno = ENOMEM;
		return NULL;
	}
	return real_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
	resolve_alloc();
	if (in_boot(p) || !real_realloc) {
		void *q = malloc(n);
		if (q && p) {
			size_t avail = (size_t)(boot_buf + sizeof(boot_buf) - (char *)p);
			memcpy(q, p, n < avail ? n : avail); /* the block's size is unknown: copy what can be there */
		}
		return q;
	}
	if (alloc_fails()) {
		errno = ENOMEM;
		return NULL;
	}
	return real_realloc(p, n);
}

void free(void *p)
{
	if (!p || in_boot(p))
		return;
	resolve_alloc();
	if (real_free)
		real_free(p);
}

/* ---- paths and descriptors ----------------------------------------------- */

static int under_prefix(int dirfd, const char *path)
{
	if (!prefix_len || !path)
		return 0;
	char buf[8192];
	const char *abs = path;
	if (path[0] != '/') {
		char base[4096];
		if (dirfd == AT_FDCWD) {
			if (!getcwd(base, sizeof(base)))
				return 0;
		} else {
			char link[64];
			snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
			ssize_t n = readlink(link, base, sizeof(base) - 1);
			if (n < 0)
				return 0;
			base[n] = '\0';
		}
		snprintf(buf, sizeof(buf), "%s/%s", base, path);
		abs = buf;
	}
	return !strncmp(abs, prefix, prefix_len) &&
	       (prefix_glob || abs[prefix_len] == '/' || abs[prefix_len] == '\0');
}

static void track(int fd, int dirfd, const char *path)
{
	if (fd >= 0 && fd < MAX_FD)
		faulty[fd] = (unsigned char)under_prefix(dirfd, path);
}

static int is_faulty(int fd)
{
	return prefix_len && fd >= 0 && fd < MAX_FD && faulty[fd];
}

static int limit_reached(void)
{
	return atomic_load(&bytes_written) >= bytes_allowed;
}

static int open_fails(int dirfd, const char *path, int flags)
{
	if (!(ops & OP_OPEN) || !(flags & (O_CREAT | O_WRONLY | O_RDWR)) || !under_prefix(dirfd, path))
		return 0;
	say("faultinject: open('%s') -> %s\n", path, strerror(fault_errno));
	errno = fault_errno;
	return 1;
}

#define OPEN_MODE(flags, mode) \
	mode_t mode = 0; \
	if ((flags) & (O_CREAT | O_TMPFILE)) { \
		va_list ap; \
		va_start(ap, flags); \
		mode = (mode_t)va_arg(ap, int); \
		va_end(ap); \
	}

int open(const char *path, int flags, ...)
{
	OPEN_MODE(flags, mode);
	REAL(open);
	if (open_fails(AT_FDCWD, path, flags))
		return -1;
	int fd = real_open(path, flags, mode);
	track(fd, AT_FDCWD, path);
	return fd;
}

int open64(const char *path, int flags, ...)
{
	OPEN_MODE(flags, mode);
	REAL(open64);
	if (open_fails(AT_FDCWD, path, flags))
		return -1;
	int fd = real_open64(path, flags, mode);
	track(fd, AT_FDCWD, path);
	return fd;
}

int openat(int dirfd, const char *path, int flags, ...)
{
	OPEN_MODE(flags, mode);
	REAL(openat);
	if (open_fails(dirfd, path, flags))
		return -1;
	int fd = real_openat(dirfd, path, flags, mode);
	track(fd, dirfd, path);
	return fd;
}

int openat64(int dirfd, const char *path, int flags, ...)
{
	OPEN_MODE(flags, mode);
	REAL(openat64);
	if (open_fails(dirfd, path, flags))
		return -1;
	int fd = real_openat64(dirfd, path, flags, mode);
	track(fd, dirfd, path);
	return fd;
}

int creat(const char *path, mode_t mode)
{
	return open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
}

int creat64(const char *path, mode_t mode)
{
	return open64(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
}

int close(int fd)
{
	REAL(close);
	if (fd >= 0 && fd < MAX_FD)
		faulty[fd] = 0;
	return real_close(fd);
}

/* How many of len bytes may go through on fd; -1 = fail now (errno set). */
static ssize_t allowance(int fd, size_t len, const char *what)
{
	if (!is_faulty(fd) || !(ops & OP_WRITE))
		return (ssize_t)len;
	long long used = atomic_load(&bytes_written);
	long long room = bytes_allowed - used;
	if (room <= 0 || len == 0) {
		if (len == 0)
			return 0;
		say("faultinject: %s(fd %d, %zu bytes) -> %s\n", what, fd, len, strerror(fault_errno));
		errno = fault_errno;
		return -1;
	}
	size_t n = (size_t)room < len ? (size_t)room : len;
	atomic_fetch_add(&bytes_written, (long long)n);
	return (ssize_t)n;
}

ssize_t write(int fd, const void *buf, size_t len)
{
	REAL(write);
	ssize_t n = allowance(fd, len, "write");
	if (n < 0)
		return -1;
	return real_write(fd, buf, (size_t)n);
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
	REAL(pwrite);
	ssize_t n = allowance(fd, len, "pwrite");
	if (n < 0)
		return -1;
	return real_pwrite(fd, buf, (size_t)n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off)
{
	REAL(pwrite64);
	ssize_t n = allowance(fd, len, "pwrite64");
	if (n < 0)
		return -1;
	return real_pwrite64(fd, buf, (size_t)n, off);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	REAL(writev);
	if (is_faulty(fd) && (ops & OP_WRITE)) {
		/* Write the vector piecewise so a partial allowance is honoured. */
		ssize_t total = 0;
		for (int i = 0; i < cnt; i++) {
			ssize_t w = write(fd, iov[i].iov_base, iov[i].iov_len);
			if (w < 0)
				return total ? total : -1;
			total += w;
			if ((size_t)w < iov[i].iov_len)
				break;
		}
		return total;
	}
	return real_writev(fd, iov, cnt);
}

static int sync_fails(int fd, const char *what)
{
	if (!is_faulty(fd) || !(ops & OP_FSYNC) || !limit_reached())
		return 0;
	say("faultinject: %s(fd %d) -> %s\n", what, fd, strerror(fault_errno));
	errno = fault_errno;
	return 1;
}

int fsync(int fd)
{
	REAL(fsync);
	return sync_fails(fd, "fsync") ? -1 : real_fsync(fd);
}

int fdatasync(int fd)
{
	REAL(fdatasync);
	return sync_fails(fd, "fdatasync") ? -1 : real_fdatasync(fd);
}

static int truncate_fails(int fd, const char *what)
{
	if (!is_faulty(fd) || !(ops & OP_TRUNCATE) || !limit_reached())
		return 0;
	say("faultinject: %s(fd %d) -> %s\n", what, fd, strerror(fault_errno));
	errno = fault_errno;
	return 1;
}

int ftruncate(int fd, off_t len)
{
	REAL(ftruncate);
	return truncate_fails(fd, "ftruncate") ? -1 : real_ftruncate(fd, len);
}

int ftruncate64(int fd, off_t len)
{
	REAL(ftruncate64);
	return truncate_fails(fd, "ftruncate64") ? -1 : real_ftruncate64(fd, len);
}

int fallocate(int fd, int mode, off_t off, off_t len)
{
	REAL(fallocate);
	return truncate_fails(fd, "fallocate") ? -1 : real_fallocate(fd, mode, off, len);
}

int posix_fallocate(int fd, off_t off, off_t len)
{
	REAL(posix_fallocate);
	if (is_faulty(fd) && (ops & OP_TRUNCATE) && limit_reached()) {
		say("faultinject: posix_fallocate(fd %d) -> %s\n", fd, strerror(fault_errno));
		return fault_errno; /* returns the error number, errno untouched */
	}
	return real_posix_fallocate(fd, off, len);
}

static int rename_fails(int ofd, const char *from, int nfd, const char *to)
{
	if (!(ops & OP_RENAME) || !limit_reached() || !(under_prefix(ofd, from) || under_prefix(nfd, to)))
		return 0;
	say("faultinject: rename('%s', '%s') -> %s\n", from, to, strerror(fault_errno));
	errno = fault_errno;
	return 1;
}

int rename(const char *from, const char *to)
{
	REAL(rename);
	return rename_fails(AT_FDCWD, from, AT_FDCWD, to) ? -1 : real_rename(from, to);
}

int renameat(int ofd, const char *from, int nfd, const char *to)
{
	REAL(renameat);
	return rename_fails(ofd, from, nfd, to) ? -1 : real_renameat(ofd, from, nfd, to);
}

int renameat2(int ofd, const char *from, int nfd, const char *to, unsigned flags)
{
	REAL(renameat2);
	return rename_fails(ofd, from, nfd, to) ? -1 : real_renameat2(ofd, from, nfd, to, flags);
}

static int link_fails(int nfd, const char *to)
{
	if (!(ops & OP_LINK) || !limit_reached() || !under_prefix(nfd, to))
		return 0;
	say("faultinject: link(-> '%s') -> %s\n", to, strerror(fault_errno));
	errno = fault_errno;
	return 1;
}

int link(const char *from, const char *to)
{
	REAL(link);
	return link_fails(AT_FDCWD, to) ? -1 : real_link(from, to);
}

int linkat(int ofd, const char *from, int nfd, const char *to, int flags)
{
	REAL(linkat);
	return link_fails(nfd, to) ? -1 : real_linkat(ofd, from, nfd, to, flags);
}
