# The front door. `make` builds; `make demo` runs the main job; `make test`
# runs every test. demo and test first install missing Debian packages.
BUILD      ?= build
BUILD_SAN  ?= build-san
JOBS       ?= $(shell nproc)
CMAKE_ARGS ?=

.PHONY: all build deps demo demo-store test test-san bench bench-full bench-store chaos clean

all: build

deps:
	@scripts/deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS)

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

demo: deps build
	$(BUILD)/bin/dkv-demo-cluster

demo-store: deps build
	$(BUILD)/bin/dkv-demo

test: deps build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

# The same suite under AddressSanitizer and UndefinedBehaviorSanitizer.
test-san: deps
	cmake -S . -B $(BUILD_SAN) -DCMAKE_BUILD_TYPE=Debug -DDKV_SANITIZE=ON $(CMAKE_ARGS)
	cmake --build $(BUILD_SAN) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
	ctest --test-dir $(BUILD_SAN) --output-on-failure -j $(JOBS)

# dkv against Redis and etcd side by side (bench/bench.py, bench/workloads.md):
# a short run (about 5 minutes) or a full one (about an hour); the report,
# raw JSON and charts go to bench/results/<date>/.
bench: deps build
	/usr/bin/python3 bench/bench.py --short --build $(BUILD)

bench-full: deps build
	/usr/bin/python3 bench/bench.py --full --build $(BUILD)

bench-store: deps build
	$(BUILD)/bin/dkv-bench-store

# The fault tests (tests/chaos/README.md): every workload under every
# nemesis, CHAOS_SECONDS each (default 120); a table of runs, operations,
# faults and anomalies at the end.
CHAOS_SECONDS ?= 120
chaos: deps build
	/usr/bin/python3 tests/chaos/chaos.py --seconds $(CHAOS_SECONDS) --build $(BUILD)

clean:
	rm -rf $(BUILD) $(BUILD_SAN)
