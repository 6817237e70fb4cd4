# membudget -- one non-recursive Makefile (CONTRIBUTING.md D4).
#
#   make deps      install the Debian packages the build, tests, demo and bench need
#   make           build bin/membudget
#   make test      deps + build + every test (unit, io, lint of fixtures, house rules)
#   make format-check  every C file as clang-format writes it (make format fixes it)
#   make check     unit + io tests only (CK_RUN_SUITE=qty make check runs one suite)
#   make asan      the same tests under AddressSanitizer + UBSan (also: make test SAN=1)
#   make tsan      io suites and e2e scenarios under ThreadSanitizer
#   make fresh-check   make demo + make test in a fresh debootstrapped bookworm root
#   make check-valgrind   unit tests, and the controller's e2e scenarios, under valgrind
#   make fuzz      each libFuzzer target for FUZZ_SECONDS (default 30)
#   make bench     webhook throughput/latency vs a Go net/http baseline, controller, sampler, ...
#   make bench-quick   the same scripts at their smallest sizes, one round (CI)
#   make demo      the local demo (see README.md)
#   V=1            show full commands

# Debian packages, in one place (the Dockerfile's build stage installs the
# BUILD_PKGS part of this list; keep them in step).
BUILD_PKGS := gcc make pkg-config libevent-dev libcurl4-openssl-dev libjansson-dev \
              libyaml-dev libssl-dev zlib1g-dev libprotobuf-c-dev protobuf-c-compiler libexpat1-dev
# What bin/membudget needs at run time (the Dockerfile's final stage).
RUNTIME_PKGS := libevent-2.1-7 libevent-openssl-2.1-7 libcurl4 libjansson4 libyaml-0-2 libssl3 \
                zlib1g libprotobuf-c1 libexpat1 ca-certificates
# prometheus: its promtool checks the /metrics exposition in the tests.
TEST_PKGS  := check curl openssl valgrind clang libclang-rt-14-dev python3 libtsan2 prometheus \
              clang-format
DEMO_PKGS  := golang-go wrk golang-github-masterminds-sprig-dev golang-gopkg-yaml.v2-dev golang-gopkg-yaml.v3-dev
# The real test cluster (test/cluster): the node's runc, CNI plugins and
# iptables (kube-proxy), ip/ss, sysctl, and debootstrap for membudget's image.
CLUSTER_PKGS := runc containernetworking-plugins iptables conntrack iproute2 procps debootstrap
DEB_PKGS   := $(BUILD_PKGS) $(TEST_PKGS) $(DEMO_PKGS) $(CLUSTER_PKGS)

VERSION := 0.1.0
COMMIT  := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
PKGS    := libcurl jansson yaml-0.1 libevent libevent_openssl openssl zlib libprotobuf-c expat
CC      ?= cc
OPT     ?= -O2 -g
WERROR  ?= -Werror
CFLAGS  := $(OPT) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wstrict-prototypes \
           -Wmissing-prototypes $(WERROR) -Iinclude $(shell pkg-config --cflags $(PKGS) 2>/dev/null) \
           -DMB_VERSION='"$(VERSION)"' -DMB_COMMIT='"$(COMMIT)"' $(EXTRA_CFLAGS)
LDLIBS  := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm
CHECK_CFLAGS = $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS   = $(shell pkg-config --libs check 2>/dev/null)

# SAN=1: AddressSanitizer + UBSan; SAN=thread: ThreadSanitizer; each into a
# separate build tree.
ifeq ($(SAN),1)
OPT     := -O1 -g -fno-omit-frame-pointer
CFLAGS  += -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
B       := build/san
else ifeq ($(SAN),thread)
OPT     := -O1 -g -fno-omit-frame-pointer
CFLAGS  += -fsanitize=thread
LDFLAGS += -fsanitize=thread
B       := build/tsan
else
B       := build/out
endif

Q = $(if $(V),,@)

LIB_SRC := $(wildcard src/*/*.c)
# C generated from third_party/ (protoc-c), into the build tree, never committed.
GEN_PROTO := third_party/pprof/profile.proto
GEN_DIR := $(B)/gen
GEN_SRC := $(GEN_DIR)/profile.pb-c.c
# Pure modules: no I/O, no clock, no environment (CONTRIBUTING.md); check-pure enforces it.
PURE_MODULES := base quantity annot policy jpatch admrev review config ydoc lint metrics \
                wframe backoff kubeconfig kobj podcache lease evagg promtext expvar podmetrics breaker \
                evlimit leak target planner gcshare recommend profname limitrange celpolicy \
                pprof gdump s3xml
PURE_SRC := $(wildcard $(PURE_MODULES:%=src/%/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(B)/%.o) $(GEN_SRC:%.c=%.o)
UNIT_SRC := $(wildcard test/unit/*.c test/fakes/*.c test/io/*.c)
UNIT_OBJ := $(UNIT_SRC:%.c=$(B)/%.o)
BIN     := $(if $(SAN),$(B)/membudget,bin/membudget)

all: $(BIN)

$(B)/%.o: %.c
	@mkdir -p $(@D)
	$(if $(V),,@echo "  CC    $<")
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(UNIT_OBJ): CFLAGS += $(CHECK_CFLAGS) -Itest/fakes -Itest/unit

# pprof's profile.proto as C (src/pprof includes the header). The generated
# file is compiled without the project's warnings: it is protoc-c's code.
$(GEN_DIR)/profile.pb-c.c $(GEN_DIR)/profile.pb-c.h &: $(GEN_PROTO)
	@mkdir -p $(GEN_DIR)
	$(if $(V),,@echo "  PROTOC-C  $<")
	$(Q)protoc-c --proto_path=$(dir $<) --c_out=$(GEN_DIR) $<
$(GEN_DIR)/profile.pb-c.o: $(GEN_DIR)/profile.pb-c.c
	$(Q)$(CC) $(OPT) $(filter -fsanitize=%,$(CFLAGS)) $(shell pkg-config --cflags libprotobuf-c 2>/dev/null) -c -o $@ $<
$(B)/src/pprof/pprof.o $(B)/test/unit/check_pprof.o: CFLAGS += -I$(GEN_DIR)
$(B)/src/pprof/pprof.o $(B)/test/unit/check_pprof.o: $(GEN_DIR)/profile.pb-c.h

$(B)/libmembudget.a: $(LIB_OBJ)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

# The commit is compiled into main.c's object (via app/main.c's MB_COMMIT):
# rebuild it when HEAD moves, so `membudget version` never shows a stale one.
$(B)/src/app/main.o $(B)/src/app/metrics_wiring.o: $(wildcard .git/HEAD .git/refs/heads/*)

$(BIN): $(B)/cmd/membudget/main.o $(B)/libmembudget.a
	@mkdir -p $(@D)
	$(if $(V),,@echo "  LINK  $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/unit: $(UNIT_OBJ) $(B)/libmembudget.a
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(CHECK_LIBS)

# --- tests -----------------------------------------------------------------
# Pure modules include no event loop, HTTP client or TLS, and read no clock,
# environment or files. (alloc.c's abort-on-OOM message is the one stderr write.)
check-pure:
	@bad=$$(grep -nE '#include <(event2|curl|openssl)/|clock_gettime|gettimeofday|(^|[^_[:alnum:]])time\(|getenv|fopen|open\(|socket\(' \
	  $(PURE_SRC) $(PURE_MODULES:%=include/membudget/%.h) 2>/dev/null); \
	if [ -n "$$bad" ]; then echo "pure modules doing I/O:"; echo "$$bad"; exit 1; fi
# The io tests start the real binary; MB_BIN tells them where it is.
check: check-pure $(B)/unit $(BIN)
	MB_BIN=$(abspath $(BIN)) MB_SRCDIR=$(CURDIR) ./$(B)/unit

test: deps
	$(MAKE) check-all

# Everything, with one closing line "tests: N passed, N failed" for CI.
check-all: check-pure $(B)/unit $(BIN)
	MB_PURE_MODULES="$(PURE_MODULES)" test/run_all.sh ./$(B)/unit $(abspath $(BIN))

# Lint the example manifests shipped in the repo: the good ones must pass,
# the bad one must fail with exactly the expected messages.
check-lint: $(BIN)
	$(Q)test/lint/run.sh $(abspath $(BIN))

asan:
	$(MAKE) check SAN=1

# The real cluster (test/cluster): built from the pinned modules (cached by
# version), membudget installed by Helm and by deploy/, the scenarios of
# test/e2e/cluster_e2e.py; E2E_KEEP=1 leaves it up, E2E_ONLY="a b" runs some.
e2e-cluster: deps
	$(MAKE) e2e-cluster-run
e2e-cluster-run: $(BIN) $(B)/unit
	MB_UNIT=$(abspath $(B)/unit) test/e2e/cluster_run.sh

# ThreadSanitizer: the webhook workers, the controller's thread and the main
# loop share the metrics registry, the TLS context, loop_post queues and the
# log; test/tsan.sh runs the io suites and the end-to-end scenarios on a
# -fsanitize=thread build, and fails on any report.
tsan:
	$(MAKE) SAN=thread build/tsan/unit build/tsan/membudget
	test/tsan.sh build/tsan

check-valgrind: $(B)/unit $(BIN)
	CK_FORK=no MB_BIN=$(abspath $(BIN)) MB_SRCDIR=$(CURDIR) MB_VALGRIND=1 \
	  valgrind -q --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
	  --error-exitcode=1 ./$(B)/unit
	MB_E2E_WRAP="valgrind -q --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect --error-exitcode=99" \
	  E2E_ONLY="leader_election failover_continuity rate_limit metrics_failing" \
	  MB_UNIT=$(abspath $(B)/unit) test/e2e/cluster_run.sh

# --- fuzzing (clang + libFuzzer) ---------------------------------------------
FUZZ_SECONDS ?= 30
FUZZ_TARGETS := $(patsubst test/fuzz/fuzz_%.c,build/fuzz/fuzz_%,$(wildcard test/fuzz/fuzz_*.c))
FUZZ_CFLAGS := -O1 -g -std=c11 -D_GNU_SOURCE -Iinclude $(shell pkg-config --cflags $(PKGS) 2>/dev/null) \
               -fsanitize=fuzzer,address,undefined
FUZZ_LIB_SRC = $(PURE_SRC) build/fuzz/gen/profile.pb-c.c

build/fuzz/gen/profile.pb-c.c: $(GEN_PROTO)
	@mkdir -p $(@D)
	$(Q)protoc-c --proto_path=$(dir $<) --c_out=$(@D) $<
build/fuzz/fuzz_%: test/fuzz/fuzz_%.c $(FUZZ_LIB_SRC)
	@mkdir -p $(@D)
	$(Q)clang $(FUZZ_CFLAGS) -Ibuild/fuzz/gen -o $@ $< $(FUZZ_LIB_SRC) $(LDLIBS)

fuzz: $(FUZZ_TARGETS)
	@set -e; for t in $(FUZZ_TARGETS); do \
	  n=$${t##*/fuzz_}; mkdir -p build/fuzz/corpus/$$n; \
	  echo "== fuzz $$n for $(FUZZ_SECONDS)s"; \
	  $$t -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -print_final_stats=1 \
	    -artifact_prefix=build/fuzz/ build/fuzz/corpus/$$n test/fuzz/corpus/$$n 2>&1 | tail -n 12; \
	done

# --- benchmarks, demo ---------------------------------------------------------
# The first command on a fresh machine: `deps` installs the libraries, then a
# new make reads this file again, so pkg-config's flags (computed when the
# Makefile is read) see them. Every entry point that may come first does this.
bench: deps
	$(MAKE) bench-run
build/bench/recommend_bench: test/bench/recommend_bench.c $(B)/libmembudget.a
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -o $@ $< $(B)/libmembudget.a $(LDLIBS)
build/bench/pprof_bench: test/bench/pprof_bench.c $(B)/libmembudget.a
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -o $@ $< $(B)/libmembudget.a $(LDLIBS)

# make bench-quick: every bench script at its smallest sizes, one round,
# figures printed and never asserted; .ci/run runs it so that no bench
# script can break unnoticed. A script that cannot produce its figures fails.
bench-quick: deps
	$(MAKE) bench-run BENCH_QUICK=1
bench-run: export BENCH_QUICK := $(BENCH_QUICK)
bench-run: $(BIN) build/bench/recommend_bench build/bench/pprof_bench
	build/bench/recommend_bench
	test/bench/forensics_bench.sh $(abspath $(BIN))
	test/bench/webhook_bench.sh $(abspath $(BIN))
	@# the bench cluster (test/bench/cluster_lib.sh): up once for the four, down once after them
	@rc=0; for b in cluster_scale_bench sampler_bench isolation_bench admission_latency_bench; do \
	  BENCH_KEEP=1 test/bench/$$b.sh $(abspath $(BIN)) || { rc=$$?; echo "$$b failed ($$rc)"; break; }; \
	done; [ -n "$$BENCH_KEEP" ] || test/cluster/down --dir $${BENCH_CLUSTER_DIR:-/var/tmp/membudget-bench-cluster} > /dev/null; \
	exit $$rc
	test/bench/held_bench.sh $(abspath $(BIN))
	test/bench/lint_bench.sh $(abspath $(BIN))

demo: deps
	$(MAKE) demo-run
demo-run: $(BIN)
	test/demo/demo.sh $(abspath $(BIN))

# Proof that `make demo` and `make test` work as the first command on a fresh
# Debian bookworm (debootstrap minbase + git + make); see test/fresh/check.sh.
fresh-check:
	test/fresh/check.sh

# --- set-up -------------------------------------------------------------------
# Installs only what is missing, so a machine that has everything pays nothing.
# (kubectl and helm are the test cluster's, built from the pinned sources.)
deps:
	@missing=$$(for p in $(DEB_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
	  grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing: $$missing"; \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# For the Dockerfile: install only what building needs; print the runtime list.
deps-build:
	@missing=$$(for p in $(BUILD_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
	  grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; fi
print-runtime-pkgs:
	@echo $(RUNTIME_PKGS)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

# The house rules a machine can check (make test runs them): every C file
# as clang-format (.clang-format) writes it; at most 5 functions in src/
# over 80 lines (test/tools/codestats); the README's Layout and
# docs/design.md list every module with the role PURE_MODULES gives it.
format-check:
	@bad=$$(for f in $$(git ls-files '*.c' '*.h'); do clang-format "$$f" | cmp -s - "$$f" || echo "$$f"; done); \
	if [ -n "$$bad" ]; then echo "not formatted (make format):"; echo "$$bad"; exit 1; fi; \
	echo "format-check: $$(git ls-files '*.c' '*.h' | wc -l) files as clang-format writes them"
check-house: format-check
	@test/tools/codestats --brief --max-long 5 src
	@test/tools/layout-check $(PURE_MODULES)

clean:
	rm -rf build bin

-include $(LIB_OBJ:.o=.d) $(UNIT_OBJ:.o=.d) $(B)/cmd/membudget/main.d
.PHONY: all check check-pure check-all check-lint test asan tsan e2e-cluster e2e-cluster-run check-valgrind fuzz bench bench-quick bench-run \
        demo demo-run fresh-check deps deps-build print-runtime-pkgs format format-check check-house clean
