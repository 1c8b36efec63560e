# tapserve: the two commands of the README, and a few more.
#   make demo [PORT=8080]   install what is missing, build, serve the demo
#   make check              install what the tests need, build, run every test
BUILD ?= build
PORT ?= 8080
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=

.PHONY: all build deps deps-test demo check unit integration cluster browser sanitize fuzz bench format checksrc clean bench-all

all: build

deps:
	@scripts/install-deps.sh build run

deps-test:
	@scripts/install-deps.sh build run test

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

demo: deps build
	$(BUILD)/tapserve/tapserve demo --port $(PORT)

# Runs ctest in the build directory $(1) and repeats why each skipped test
# was skipped (a test that needs what only ../shared holds says so).
ctest_in = cd $(1) && $(2) ctest --output-on-failure -j $(JOBS); rc=$$?; \
	grep -h "^SKIP " Testing/Temporary/LastTest.log || true; exit $$rc

# Tests labelled "pg" need a real PostgreSQL: a throwaway cluster runs them.
unit: build
	scripts/test-pgcluster.sh run sh -c '$(call ctest_in,$(BUILD))'

integration: build
	TAPSERVE_BIN=$(abspath $(BUILD))/tapserve/tapserve scripts/run-integration.sh

# Several instances on one PostgreSQL behind HAProxy (tests/cluster).
cluster: build
	TAPSERVE_BIN=$(abspath $(BUILD))/tapserve/tapserve scripts/run-cluster.sh

# The page for people in headless Chromium (tests/browser).
browser: build
	TAPSERVE_BIN=$(abspath $(BUILD))/tapserve/tapserve scripts/run-browser.sh

check: deps-test
	$(MAKE) build
	$(MAKE) checksrc
	$(MAKE) unit
	$(MAKE) sanitize
	$(MAKE) fuzz FUZZ_SECONDS=$(CHECK_FUZZ_SECONDS)
	$(MAKE) integration
	$(MAKE) cluster
	$(MAKE) browser

# ASan+UBSan build of every unit suite.
sanitize:
	cmake -S . -B $(BUILD)-asan -DCMAKE_BUILD_TYPE=Debug -DTS_SANITIZE=ON $(CMAKE_FLAGS)
	cmake --build $(BUILD)-asan -j $(JOBS)
	scripts/test-pgcluster.sh run sh -c '$(call ctest_in,$(BUILD)-asan,ASAN_OPTIONS=detect_leaks=1)'

# libFuzzer targets, short runs (FUZZ_SECONDS each; make check uses
# CHECK_FUZZ_SECONDS).
FUZZ_SECONDS ?= 30
CHECK_FUZZ_SECONDS ?= 20
fuzz:
	CC=clang cmake -S . -B $(BUILD)-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTS_FUZZ=ON $(CMAKE_FLAGS)
	cmake --build $(BUILD)-fuzz -j $(JOBS)
	scripts/run-fuzz.sh $(BUILD)-fuzz $(FUZZ_SECONDS)

bench: deps build
	benchmarks/run.sh

# The table of every path against its reference in one run
# (benchmarks/README.md, "All paths in one run").
bench-all: deps build
	benchmarks/all.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

checksrc:
	@scripts/checksrc.sh

clean:
	rm -rf $(BUILD) $(BUILD)-asan $(BUILD)-fuzz
