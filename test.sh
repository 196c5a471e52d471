#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs what the tests need, builds, and runs every test: the unit tests
# (CTest) and the integration tests (pytest with real clients against the real
# yerbad), first on a normal build, then again with AddressSanitizer and
# UndefinedBehaviorSanitizer, then the I/O-thread tests with ThreadSanitizer; any
# sanitizer report fails the run.
set -eu
cd "$(dirname "$0")"
scripts/deps.sh test

jobs=$(nproc 2>/dev/null || echo 2)

run_suite() {
    dir=$1
    shift
    echo "== $dir: build"
    cmake -S . -B "$dir" -G Ninja -DYERBA_WERROR=ON "$@" >/dev/null
    cmake --build "$dir" -j "$jobs"
    echo "== $dir: unit, fuzz-corpus and integration tests"
    # The integration suite (one CTest test, label "integration") starts its own
    # servers on free loopback ports; the unit tests run in parallel beside it.
    ctest --test-dir "$dir" --output-on-failure -j "$jobs"
}

# The I/O-thread code under ThreadSanitizer: the net unit tests with two I/O threads,
# and the integration tests that exercise every stream type with yerbad running two
# I/O threads (a report in the server's log fails the test).
run_tsan() {
    dir=build-tsan
    echo "== $dir: build"
    cmake -S . -B "$dir" -G Ninja -DYERBA_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
        -DYERBA_TSAN=ON >/dev/null
    cmake --build "$dir" -j "$jobs"
    echo "== $dir: net unit tests with I/O threads, integration tests with io_threads: 2"
    ctest --test-dir "$dir" --output-on-failure -j "$jobs" -R 'unit/net/.*-io2'
    YERBAD="$PWD/$dir/src/yerbad" YERBACTL="$PWD/$dir/tools/yerbactl" \
        STROPHE_CLIENT="$PWD/$dir/tests/integration/strophe_client" YERBA_TEST_IO_THREADS=2 \
        /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration/test_auth.py \
        tests/integration/test_messages.py tests/integration/test_presence.py \
        tests/integration/test_compression.py tests/integration/test_bad_input.py \
        tests/integration/test_s2s.py tests/integration/test_component.py
}

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp"
run_suite build -DCMAKE_BUILD_TYPE=RelWithDebInfo
run_suite build-asan -DCMAKE_BUILD_TYPE=Debug -DYERBA_SANITIZE=ON
run_tsan
echo "== all tests passed"
