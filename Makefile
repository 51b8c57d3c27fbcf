# shoal - plain Makefile.
#   make          build/shoal
#   make run      a node serving the bundled model (models/stories260K.gguf): API on :8642
#   make test     unit tests (Criterion) + system tests, prints "N passed, N failed, N skipped"
#   make san      every test under ASan+UBSan (clang), plus bounded runs of the fuzz targets
#   make bench    benchmarks (bench/run.sh)
#   make fuzz     longer libFuzzer runs of the parsers
# Every source file under src/ is picked up; files named *_avx2.c / *_avx512.c get their SIMD flags
# (x86-64 only; they compile to nothing elsewhere), so the binary dispatches at run time. Builds use
# every core unless -j is given. What is missing is installed first (scripts/install-deps.sh: --run
# for building and running, everything for the tests).

ifeq ($(filter -j%,$(MAKEFLAGS)),)
MAKEFLAGS += -j$(shell nproc 2>/dev/null || echo 2)
endif

CC ?= gcc
ifeq ($(origin CC),default)
CC := gcc
endif
BUILD ?= build
OPT ?= -O3
CFLAGS_BASE := -std=gnu11 $(OPT) -g -Wall -Wextra -Werror -Wno-unused-parameter -Isrc -MMD -MP \
	-fno-strict-aliasing -ffp-contract=off -pthread
CFLAGS += $(CFLAGS_BASE)
LDLIBS := -lpcre2-8 -ljansson -lmicrohttpd -lzmq -lsodium -lcurl -lm -lpthread
ARCH := $(shell uname -m)
ifeq ($(ARCH),x86_64)
FLAGS_AVX2 := -mavx2 -mfma -mf16c
FLAGS_AVX512 := -mavx2 -mfma -mf16c -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni
endif

VERSION := 0.1.0
# the commit built (with -dirty for uncommitted changes), for `shoal version`
COMMIT := $(shell git describe --always --dirty --abbrev=12 --exclude '*' 2>/dev/null || echo unknown)

SRC := $(shell find src -name '*.c' ! -path 'src/main/*')
MAIN_SRC := $(shell find src/main -name '*.c')
UNIT_SRC := $(wildcard tests/unit/*.c)
BENCH_BIN := $(patsubst bench/%.c,$(BUILD)/%,$(wildcard bench/*.c))
# the web UI (web/, docs/web.md): bundled by esbuild into web_assets.c, compiled into the binary
WEB_SRC := $(wildcard web/src/*) web/build.mjs web/package-lock.json
WEB_OBJ := $(BUILD)/web/web_assets.o
OBJ := $(SRC:%.c=$(BUILD)/%.o) $(WEB_OBJ)
MAIN_OBJ := $(MAIN_SRC:%.c=$(BUILD)/%.o)
UNIT_OBJ := $(UNIT_SRC:%.c=$(BUILD)/%.o)
DEPS_STAMP := $(BUILD)/.deps-run
TEST_DEPS_STAMP := $(BUILD)/.deps-test
NODE_MODULES := tests/system/node/node_modules/.shoal-package-lock.json tests/system/web/node_modules/.shoal-package-lock.json
WEB_MODULES := web/node_modules/.shoal-package-lock.json

.PHONY: all test san bench fuzz clean run FORCE
all: $(BUILD)/shoal

$(DEPS_STAMP): scripts/install-deps.sh web/package-lock.json $(WEB_MODULES)
	@scripts/install-deps.sh --run
	@mkdir -p $(BUILD) && touch $@
$(WEB_MODULES):
# a missing node_modules (a clone, or removed) counts as changed, so install-deps runs again
# after the run deps (order-only): two install-deps at once under make -j would race for apt's lock
$(TEST_DEPS_STAMP): scripts/install-deps.sh tests/system/node/package-lock.json tests/system/web/package-lock.json $(NODE_MODULES) | $(DEPS_STAMP)
	@scripts/install-deps.sh
	@mkdir -p $(BUILD) && touch $@
$(NODE_MODULES):

$(BUILD)/%_avx2.o: %_avx2.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(FLAGS_AVX2) -c $< -o $@
$(BUILD)/%_avx512.o: %_avx512.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(FLAGS_AVX512) -c $< -o $@
$(BUILD)/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/web/web_assets.c: $(WEB_SRC) | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	node web/build.mjs $(BUILD)/web
	@touch $@
$(WEB_OBJ): $(BUILD)/web/web_assets.c
	$(CC) $(CFLAGS) -c $< -o $@

# rewritten only when the version or commit changes, so main.o is rebuilt only then
$(BUILD)/version.h: FORCE | $(DEPS_STAMP)
	@printf '#define SHOAL_VERSION "%s"\n#define SHOAL_COMMIT "%s"\n' '$(VERSION)' '$(COMMIT)' >$@.tmp
	@cmp -s $@.tmp $@ && rm -f $@.tmp || mv -f $@.tmp $@
$(BUILD)/src/main/main.o: $(BUILD)/version.h
$(BUILD)/src/main/main.o: CFLAGS += -I$(BUILD)
FORCE:

$(BUILD)/libshoal.a: $(OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/shoal: $(MAIN_OBJ) $(BUILD)/libshoal.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(UNIT_OBJ): | $(TEST_DEPS_STAMP)
$(BUILD)/test_unit: $(UNIT_OBJ) $(BUILD)/libshoal.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS) -lcriterion

test: $(BUILD)/shoal $(BUILD)/test_unit
	@SHOAL=$(BUILD)/shoal TEST_UNIT=$(BUILD)/test_unit tests/run.sh

san:
	$(MAKE) BUILD=build/san CC=clang OPT="-O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined -fsanitize=fuzzer-no-link" \
		build/san/shoal build/san/test_unit build/san/fuzz_gguf build/san/fuzz_wire build/san/fuzz_beacon build/san/fuzz_request \
		build/san/fuzz_template build/san/fuzz_hub
	@SHOAL=build/san/shoal TEST_UNIT=build/san/test_unit FUZZ_GGUF=build/san/fuzz_gguf FUZZ_WIRE=build/san/fuzz_wire \
		FUZZ_BEACON=build/san/fuzz_beacon \
		FUZZ_REQUEST=build/san/fuzz_request FUZZ_TEMPLATE=build/san/fuzz_template FUZZ_HUB=build/san/fuzz_hub SAN=1 \
		tests/run.sh

# libFuzzer targets (clang only): tests/fuzz/fuzz_<name>.c
$(BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(BUILD)/libshoal.a
	$(CC) $(CFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

fuzz:
	$(MAKE) BUILD=build/fuzz CC=clang OPT="-O1 -fsanitize=address,undefined -fsanitize=fuzzer-no-link" \
		build/fuzz/fuzz_gguf build/fuzz/fuzz_wire build/fuzz/fuzz_beacon build/fuzz/fuzz_request build/fuzz/fuzz_template \
		build/fuzz/fuzz_hub
	mkdir -p build/fuzz/corpus && cp models/stories260K.gguf build/fuzz/corpus/
	build/fuzz/fuzz_gguf -max_total_time=$${FUZZ_SECONDS:-120} -rss_limit_mb=4096 build/fuzz/corpus
	mkdir -p build/fuzz/corpus_wire
	FUZZ_WIRE_SEEDS=build/fuzz/corpus_wire build/fuzz/fuzz_wire -max_total_time=$${FUZZ_SECONDS:-120} -rss_limit_mb=4096 build/fuzz/corpus_wire
	mkdir -p build/fuzz/corpus_beacon
	FUZZ_WIRE_SEEDS=build/fuzz/corpus_beacon build/fuzz/fuzz_beacon -max_total_time=$${FUZZ_SECONDS:-120} -rss_limit_mb=4096 \
		build/fuzz/corpus_beacon
	mkdir -p build/fuzz/corpus_request && cp tests/fuzz/seeds/request/* build/fuzz/corpus_request/
	build/fuzz/fuzz_request -max_total_time=$${FUZZ_SECONDS:-120} -rss_limit_mb=4096 build/fuzz/corpus_request
	mkdir -p build/fuzz/corpus_template && cp tests/data/templates/*.jinja build/fuzz/corpus_template/
	build/fuzz/fuzz_template -max_total_time=$${FUZZ_SECONDS:-120} -rss_limit_mb=4096 -dict=tests/fuzz/template.dict \
		build/fuzz/corpus_template
	mkdir -p build/fuzz/corpus_hub
	FUZZ_WIRE_SEEDS=build/fuzz/corpus_hub build/fuzz/fuzz_hub -max_total_time=$${FUZZ_SECONDS:-120} -rss_limit_mb=4096 \
		build/fuzz/corpus_hub

$(BUILD)/bench_%: bench/bench_%.c $(BUILD)/libshoal.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

bench: $(BUILD)/shoal $(BENCH_BIN) | $(TEST_DEPS_STAMP)
	@SHOAL=$(BUILD)/shoal bench/run.sh

# the main job: a node serving the OpenAI API on the bundled tiny model, joining the nodes of its
# LAN that serve the same model (override MODEL, PORT)
MODEL ?= models/stories260K.gguf
PORT ?= 8642
run: $(BUILD)/shoal
	$(BUILD)/shoal run -m $(MODEL) --port $(PORT)

clean:
	rm -rf build

-include $(OBJ:.o=.d) $(MAIN_OBJ:.o=.d) $(UNIT_OBJ:.o=.d)
