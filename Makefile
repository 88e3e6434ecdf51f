# Thin wrapper over CMake. The two commands users need: `make demo` and `make test`.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BUILD ?= build
ASAN_BUILD ?= build-asan

.PHONY: all build setup demo test test-unit test-asan fuzz bench format format-check clean

all: build

build:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build $(BUILD) -j$(JOBS)

setup:
	bash scripts/setup.sh

demo: setup build
	bash scripts/demo.sh $(BUILD)/vdag

# The whole suite twice: a normal build, then AddressSanitizer + UBSan (+ LeakSanitizer).
test: setup
	$(MAKE) --no-print-directory test-unit
	$(MAKE) --no-print-directory test-asan

test-unit: build
	ctest --test-dir $(BUILD) --output-on-failure -j2

test-asan:
	cmake -S . -B $(ASAN_BUILD) -DVDAG_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS_DEBUG="-O1 -g" >/dev/null
	cmake --build $(ASAN_BUILD) -j$(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir $(ASAN_BUILD) --output-on-failure -j2

# libFuzzer over every parser harness (tests/fuzz), FUZZ_TIME seconds each; clang builds them
# in build-fuzz (scripts/fuzz.sh says what it found and where).
FUZZ_TIME ?= 60
fuzz: setup
	bash scripts/fuzz.sh $(FUZZ_TIME)

bench: build
	$(BUILD)/vdag bench gemm --threads 2
	$(BUILD)/vdag bench models --threads 2 --runs 50
	HUMAN=0 bash bench/human.sh $(BUILD)/vdag
	$(BUILD)/vdag bench remote --frames 200
	$(BUILD)/vdag bench remote --frames 200 --transport inproc
	VDAG=$(BUILD)/vdag bash bench/http.sh
	$(BUILD)/vdag profile --if-missing >/dev/null && $(BUILD)/bench_sched

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run -Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
