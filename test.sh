#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs what the tests need, builds, and runs every test: the unit tests
# (CTest) and the integration tests (pytest with real clients against the real
# yerbad), first on a normal build, then again with AddressSanitizer and
# UndefinedBehaviorSanitizer, where any report fails the run.
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

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
run_suite build -DCMAKE_BUILD_TYPE=RelWithDebInfo
run_suite build-asan -DCMAKE_BUILD_TYPE=Debug -DYERBA_SANITIZE=ON
echo "== all tests passed"
