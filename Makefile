# bucketfs build.  `make` builds ./bucketfs and build/libbucketfs.a;
# `make test` runs every test through prove; `make asan` builds and runs the
# same tests under AddressSanitizer + UBSan; `make bench` runs the benchmarks.
#
# Sources are found by wildcard: a new src/<layer>/foo.c joins the library,
# a new tests/test-foo.c becomes a test binary, a new tests/test-foo.sh a
# test script, a new bench/bench-foo.c or bench/bench-foo.sh a benchmark.

BUILD    ?= build
CC       ?= cc
OPT      ?= -O2 -g
SAN      ?=
CFLAGS   ?=
CFLAGS   += -std=gnu11 $(OPT) -Wall -Wextra -Werror -Wno-unused-parameter \
            -Wshadow -Wstrict-prototypes -Wmissing-prototypes -pthread \
            -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -Isrc $(SAN) \
            $(shell pkg-config --cflags fuse3)
LIBS     := -lsodium -lzstd -llz4 -lxxhash -lcurl -lcrypto -lfuse3 -lpthread -lm
TESTLIBS := -lcmocka

LAYERS   := util store crypt lsm data fs net fuse nfs ninep nbd daemon
LIBSRC   := $(foreach l,$(LAYERS),$(wildcard src/$(l)/*.c))
LIBOBJ   := $(LIBSRC:%.c=$(BUILD)/%.o)
CLISRC   := $(wildcard src/cli/*.c)
CLIOBJ   := $(CLISRC:%.c=$(BUILD)/%.o)
TESTSRC  := $(wildcard tests/test-*.c)
TESTBIN  := $(TESTSRC:tests/%.c=$(BUILD)/tests/%)
TESTHELP := $(wildcard tests/helper-*.c)
HELPBIN  := $(TESTHELP:tests/%.c=$(BUILD)/tests/%)
TESTSH   := $(wildcard tests/test-*.sh)
BENCHSRC := $(wildcard bench/bench-*.c)
BENCHBIN := $(BENCHSRC:bench/%.c=$(BUILD)/bench/%)

# Tests find the binary and helpers through these.
export BUCKETFS_BIN   = $(abspath $(BUILD)/bucketfs)
export BUCKETFS_TESTS = $(abspath $(BUILD)/tests)
export CMOCKA_MESSAGE_OUTPUT = TAP

.PHONY: all test asan bench fuzz fuzz-merge clean check-tests install uninstall
all: $(BUILD)/bucketfs bucketfs $(TESTBIN) $(HELPBIN) $(BENCHBIN)

bucketfs: $(BUILD)/bucketfs
	@if [ "$(BUILD)" = build ]; then ln -sf $(BUILD)/bucketfs bucketfs; fi

$(BUILD)/libbucketfs.a: $(LIBOBJ)
	@mkdir -p $(@D)
	ar rcs $@ $^

$(BUILD)/bucketfs: $(CLIOBJ) $(BUILD)/libbucketfs.a
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/tests/%: tests/%.c $(BUILD)/libbucketfs.a $(wildcard tests/*.h)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Itests -o $@ $< $(BUILD)/libbucketfs.a $(LIBS) $(TESTLIBS)

# The NFS tests are clients: libnfs (Debian libnfs-dev).
$(BUILD)/tests/test-nfs-proc $(BUILD)/tests/helper-nfs: TESTLIBS += -lnfs
# libnfs' XDR decoder hands out structs at 4-byte alignment (its allocator,
# not our code): UBSan's alignment check would stop the client, not test
# the server, which keeps every check.
$(BUILD)/tests/test-nfs-proc: override SAN += -fno-sanitize=alignment

$(BUILD)/bench/%: bench/%.c $(BUILD)/libbucketfs.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libbucketfs.a $(LIBS)

# TEST selects a subset: make test TEST='build/tests/test-lsm'
# Each test runs through tests/run-test: its stderr goes to
# $(BUILD)/test-logs/, shown (with its whole TAP output) only if it fails.
TEST ?= $(TESTBIN) $(TESTSH)
test: all
	TEST_LOG_DIR=$(abspath $(BUILD))/test-logs prove -f --directives --exec $(abspath tests/run-test) $(TEST)

asan:
	$(MAKE) BUILD=build-asan OPT='-O1 -g -fno-omit-frame-pointer' \
	  SAN='-fsanitize=address,undefined -fno-sanitize-recover=undefined' \
	  BUCKETFS_ASAN=1 test

# fuzz: every fuzz/fuzz-NAME.c is a libFuzzer target built with clang
# against a sanitized library in build-fuzz/, run for FUZZ_SECONDS on
# fuzz/corpus/NAME/.  New inputs go to build-fuzz/corpus/NAME/, so the
# committed corpus changes only on purpose: `make fuzz-merge` adds to it
# the ones that reach new edges (-merge=1; -use_counters=0 counts edges,
# not hit counts, which keeps the corpus a few hundred files).  A crash, leak or timeout fails
# (the input is kept in build-fuzz/artifacts/NAME/).  Not part of `make
# test`: it takes FUZZ_SECONDS per target.
FUZZ_SECONDS ?= 30
FUZZ_NAMES   := $(patsubst fuzz/fuzz-%.c,%,$(wildcard fuzz/fuzz-*.c))
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined
# Warnings only clang gives on code gcc accepts: `{ NULL }` schema ends and
# ecache.c's entry-in-entry (a GNU extension).
FUZZ_WNO     := -Wno-missing-field-initializers -Wno-gnu-variable-sized-type-not-at-end
fuzz:
	$(MAKE) BUILD=build-fuzz CC=clang OPT='-O1 -g -fno-omit-frame-pointer' \
	  SAN='$(FUZZ_SAN) -fsanitize=fuzzer-no-link $(FUZZ_WNO)' build-fuzz/libbucketfs.a
	@mkdir -p build-fuzz/fuzz
	@for n in $(FUZZ_NAMES); do \
	  echo "== fuzz-$$n ($(FUZZ_SECONDS) s)"; \
	  clang $(CFLAGS) -O1 $(FUZZ_SAN) $(FUZZ_WNO) -fsanitize=fuzzer \
	    -o build-fuzz/fuzz/fuzz-$$n fuzz/fuzz-$$n.c build-fuzz/libbucketfs.a $(LIBS) || exit 1; \
	  mkdir -p build-fuzz/corpus/$$n build-fuzz/artifacts/$$n; \
	  build-fuzz/fuzz/fuzz-$$n -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
	    -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix=build-fuzz/artifacts/$$n/ \
	    build-fuzz/corpus/$$n fuzz/corpus/$$n || exit 1; \
	done

fuzz-merge:
	@for n in $(FUZZ_NAMES); do \
	  test -x build-fuzz/fuzz/fuzz-$$n || { echo "run make fuzz first"; exit 1; }; \
	  build-fuzz/fuzz/fuzz-$$n -merge=1 -use_counters=0 fuzz/corpus/$$n build-fuzz/corpus/$$n || exit 1; \
	done

BENCHSH  := $(wildcard bench/bench-*.sh)
bench: all
	@for b in $(BENCHBIN) $(BENCHSH); do echo "== $$b"; $$b || exit 1; done

clean:
	rm -rf build build-asan build-fuzz bucketfs

# install: the binary, the man page bucketfs(8), the systemd unit
# bucketfs@.service and the mount helper /sbin/mount.fuse.bucketfs (a
# link to the binary: mount(8) looks for helpers in /sbin only, whatever
# the PREFIX; with it, `mount -t fuse.bucketfs` does not depend on
# mount.fuse3 finding bucketfs in the shell's default PATH).  DESTDIR is
# prepended to every path; the link and the unit name the final ones.
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
UNITDIR ?= $(PREFIX)/lib/systemd/system
SBINDIR ?= /sbin
INSTALLED := $(BINDIR)/bucketfs $(MANDIR)/man8/bucketfs.8 $(UNITDIR)/bucketfs@.service \
             $(SBINDIR)/mount.fuse.bucketfs
install: $(BUILD)/bucketfs
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SBINDIR)
	install -m 0755 $(BUILD)/bucketfs $(DESTDIR)$(BINDIR)/bucketfs
	install -m 0644 docs/bucketfs.8 $(DESTDIR)$(MANDIR)/man8/bucketfs.8
	sed 's|@BINDIR@|$(BINDIR)|g' dist/bucketfs@.service.in > $(DESTDIR)$(UNITDIR)/bucketfs@.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/bucketfs@.service
	ln -sf $(BINDIR)/bucketfs $(DESTDIR)$(SBINDIR)/mount.fuse.bucketfs

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
