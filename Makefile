# waitloop — build, test, run.  See README.md.
#
#   make            build build/waitloop
#   make test       install missing packages, build (plain + ASan/UBSan), run every test
#   make test-slow  the same with the exhaustive sweeps (docs/testing.md)
#   make run        install missing packages, build, run the demo workflow
#   make install PREFIX=/usr/local   (DESTDIR=… for staged installs, as the Dockerfile does)
#   make bench      run the benchmark suite (bench/)
#   make fuzz       run every fuzz target for FUZZ_SECONDS each

PREFIX     ?= /usr/local
CC         ?= cc
PKGS       := yaml-0.1 libcjson libgit2 sqlite3 libpcre2-8
VERSION    := $(shell cat VERSION 2>/dev/null || echo 0.0.0)

# Debian packages the build and the tests need (checked with dpkg, installed only when missing).
DEB_PKGS   := build-essential pkg-config libyaml-dev libcjson-dev libgit2-dev libsqlite3-dev libpcre2-dev \
              sqlite3 python3 python3-jsonschema python3-yaml shellcheck git procps clang \
              libclang-rt-dev man-db time
DEB_TEST_PKGS := prometheus postgresql libxml2-utils zsh chromium strace
# make bench: perf for the runner's CPU per step (bench/vs-roboppi.sh prints "-" without it)
DEB_BENCH_PKGS := linux-perf

WARN    := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes \
           -Wpointer-arith -Wcast-qual -Wvla -Wundef -Wimplicit-fallthrough -Wno-unused-parameter \
           -Wconversion -Wsign-conversion
# libgit2 is dlopen()ed by src/gitwork.c under its SONAME, found here.
LIBGIT2_SONAME := $(shell objdump -p "$$(pkg-config --variable=libdir libgit2 2>/dev/null)/libgit2.so" 2>/dev/null | sed -n 's/^ *SONAME *//p')
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE -DWAITLOOP_VERSION='"$(VERSION)"' -DLIBGIT2_SONAME='"$(or $(LIBGIT2_SONAME),libgit2.so)"' $(WARN) -Isrc -Ibuild/gen
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

CFLAGS     ?= -O2 -g
ALL_CFLAGS  = $(BASE_CFLAGS) -D_FORTIFY_SOURCE=2 $(CFLAGS) $(PKG_CFLAGS)
SAN_FLAGS  := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
SAN_CFLAGS  = $(BASE_CFLAGS) $(SAN_FLAGS) $(PKG_CFLAGS)

SRCS     := $(sort $(wildcard src/*.c))
# The CLI (main, the commands and their helpers) is built apart from the
# library: libwaitloop.a holds the engine only, unit tests link it alone.
CLI_SRCS := src/main.c src/cmdutil.c $(filter src/cmd_%.c,$(SRCS))
LIB_SRCS := $(filter-out $(CLI_SRCS),$(SRCS))
GEN_SRC  := build/gen/embedded.c
EMBEDDED := $(sort $(wildcard schema/*.json prompts/*.md))
OBJS     := $(patsubst src/%.c,build/obj/%.o,$(LIB_SRCS)) build/obj/embedded.o
SAN_OBJS := $(patsubst src/%.c,build/asan/%.o,$(LIB_SRCS)) build/asan/embedded.o
CLI_OBJS := $(patsubst src/%.c,build/obj/%.o,$(CLI_SRCS))
CLI_SAN_OBJS := $(patsubst src/%.c,build/asan/%.o,$(CLI_SRCS))
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(patsubst tests/unit/%.c,build/tests/%,$(UNIT_SRCS))
UNIT_SAN  := $(patsubst tests/unit/%.c,build/tests-asan/%,$(UNIT_SRCS))
TOOL_SRCS := $(sort $(filter-out tests/tools/faultinject.c,$(wildcard tests/tools/*.c)))
TOOL_BINS := $(patsubst tests/tools/%.c,build/tools/%,$(TOOL_SRCS)) build/tools/libfaultinject.so

.PHONY: all deps test test-slow test-build test-deps run install clean asan bench fuzz check-deps

all: check-deps build/waitloop

check-deps:
	@pkg-config --exists $(PKGS) || { echo "waitloop: missing libraries; run 'make deps' (or 'make test' / 'make run', which do it)"; exit 1; }

# Install missing Debian packages (apt-get update first, only when something is missing).
deps:
	@missing=""; for p in $(DEB_PKGS) $(EXTRA_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null || exit 1; \
	fi

test-deps:
	@$(MAKE) --no-print-directory deps EXTRA_PKGS="$(DEB_TEST_PKGS)"

build/gen/embedded.c: tools/embed.sh $(EMBEDDED)
	@mkdir -p build/gen
	sh tools/embed.sh $(EMBEDDED) > $@.tmp && mv $@.tmp $@

build/obj/%.o: src/%.c $(wildcard src/*.h) | build/gen/embedded.c
	@mkdir -p build/obj
	$(CC) $(ALL_CFLAGS) -c $< -o $@
build/obj/embedded.o: build/gen/embedded.c
	@mkdir -p build/obj
	$(CC) $(ALL_CFLAGS) -c $< -o $@
build/asan/%.o: src/%.c $(wildcard src/*.h) | build/gen/embedded.c
	@mkdir -p build/asan
	$(CC) $(SAN_CFLAGS) -c $< -o $@
build/asan/embedded.o: build/gen/embedded.c
	@mkdir -p build/asan
	$(CC) $(SAN_CFLAGS) -c $< -o $@

build/libwaitloop.a: $(OBJS)
	rm -f $@; ar rcs $@ $^
build/libwaitloop-asan.a: $(SAN_OBJS)
	rm -f $@; ar rcs $@ $^

# The binary: main + the command objects + the library.
build/waitloop: $(CLI_OBJS) build/libwaitloop.a
	$(CC) $(CFLAGS) -o $@ $^ -Wl,--as-needed $(PKG_LIBS) -lm
build/waitloop-asan: $(CLI_SAN_OBJS) build/libwaitloop-asan.a
	$(CC) $(SAN_FLAGS) -o $@ $^ -Wl,--as-needed $(PKG_LIBS) -lm

build/tests/%: tests/unit/%.c tests/unit/harness.h build/libwaitloop.a
	@mkdir -p build/tests
	$(CC) $(ALL_CFLAGS) -Itests/unit -o $@ $< build/libwaitloop.a $(PKG_LIBS) -lm
build/tests-asan/%: tests/unit/%.c tests/unit/harness.h build/libwaitloop-asan.a
	@mkdir -p build/tests-asan
	$(CC) $(SAN_CFLAGS) -Itests/unit -o $@ $< build/libwaitloop-asan.a $(PKG_LIBS) -lm
# Tools may use the library (e.g. feed events through the real store).
build/tools/%: tests/tools/%.c build/libwaitloop.a
	@mkdir -p build/tools
	$(CC) $(ALL_CFLAGS) -o $@ $< build/libwaitloop.a $(PKG_LIBS) -lm

# LD_PRELOAD fault injector for tests/e2e/test_faults.sh (not linked with the library).
build/tools/libfaultinject.so: tests/tools/faultinject.c
	@mkdir -p build/tools
	$(CC) $(BASE_CFLAGS) -O2 -g -fPIC -shared -o $@ $< -ldl

asan: build/waitloop-asan $(UNIT_SAN)

test: test-deps
	@$(MAKE) --no-print-directory test-build
	@bash tests/run.sh

# The same suite with the exhaustive sweeps (every allocation failure, the
# 1 GB flood, 10 000 observations) instead of samples; see docs/testing.md.
test-slow: test-deps
	@$(MAKE) --no-print-directory test-build
	@WAITLOOP_TEST_SLOW=1 bash tests/run.sh

# Everything the tests run, built (for tests/run.sh FILTER, tests/stress.sh).
# (A recipe, not prerequisites: FUZZ_BINS is defined further down.)
test-build:
	@$(MAKE) --no-print-directory build/waitloop build/waitloop-asan $(UNIT_BINS) $(UNIT_SAN) $(TOOL_BINS) $(FUZZ_BINS)

run: deps
	@$(MAKE) --no-print-directory build/waitloop
	@bash workflows/demo/run-demo.sh

bench:
	@$(MAKE) --no-print-directory deps EXTRA_PKGS="$(DEB_BENCH_PKGS)"
	@$(MAKE) --no-print-directory build/waitloop build/tools/wl-helper build/tools/store_feed
	@bash bench/run.sh

install: build/waitloop
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	  $(DESTDIR)$(PREFIX)/share/waitloop/schema $(DESTDIR)$(PREFIX)/share/waitloop/prompts \
	  $(DESTDIR)$(PREFIX)/share/waitloop/probes $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
	  $(DESTDIR)$(PREFIX)/share/zsh/site-functions
	install -m 755 build/waitloop $(DESTDIR)$(PREFIX)/bin/waitloop
	install -m 644 schema/*.json $(DESTDIR)$(PREFIX)/share/waitloop/schema/
	install -m 644 prompts/*.md $(DESTDIR)$(PREFIX)/share/waitloop/prompts/
	install -m 644 share/waitloop/retry.sh $(DESTDIR)$(PREFIX)/share/waitloop/retry.sh
	install -m 755 workflows/probes/*.sh $(DESTDIR)$(PREFIX)/share/waitloop/probes/
	build/waitloop completion bash > $(DESTDIR)$(PREFIX)/share/bash-completion/completions/waitloop
	build/waitloop completion zsh > $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_waitloop
	[ ! -f docs/waitloop.1 ] || install -m 644 docs/waitloop.1 $(DESTDIR)$(PREFIX)/share/man/man1/waitloop.1

clean:
	rm -rf build

# --- fuzzing (libFuzzer, clang) --------------------------------------------
# Each tests/fuzz/fuzz_<name>.c is a target with a seed corpus in
# tests/fuzz/corpus/<name>/ (crashers found are kept there as regressions).
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(FUZZ_SRCS))
FUZZ_OBJS := $(patsubst src/%.c,build/fuzz/obj/%.o,$(LIB_SRCS)) build/fuzz/obj/embedded.o
FUZZ_CC   ?= clang
FUZZ_CFLAGS = $(BASE_CFLAGS) -Wno-format-nonliteral -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all $(PKG_CFLAGS)
FUZZ_SECONDS ?= 60

build/fuzz/obj/%.o: src/%.c $(wildcard src/*.h) | build/gen/embedded.c
	@mkdir -p build/fuzz/obj
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@
build/fuzz/obj/embedded.o: build/gen/embedded.c
	@mkdir -p build/fuzz/obj
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@
build/libwaitloop-fuzz.a: $(FUZZ_OBJS)
	rm -f $@; ar rcs $@ $^
build/fuzz/%: tests/fuzz/%.c build/libwaitloop-fuzz.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< build/libwaitloop-fuzz.a $(PKG_LIBS) -lm

fuzz-build: $(FUZZ_BINS)

fuzz: deps
	@$(MAKE) --no-print-directory fuzz-build
	@for f in $(FUZZ_BINS); do n=$${f#build/fuzz/fuzz_}; mkdir -p build/fuzz/work/$$n; \
	  echo "== $$n ($(FUZZ_SECONDS)s)"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -artifact_prefix=tests/fuzz/corpus/$$n/crash- \
	    build/fuzz/work/$$n tests/fuzz/corpus/$$n 2>&1 | tail -n 3 || exit 1; done
