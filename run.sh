#!/bin/sh
# SPDX-License-Identifier: MIT
# Builds yerbad and runs it in the foreground. Without arguments it uses the
# embedded defaults: host "localhost", data in ./yerba-data (SQLite file, generated
# certificate), c2s on 5222 (STARTTLS) and 5223 (direct TLS); on the first run it
# creates admin@localhost and prints its password. Extra arguments go to yerbad,
# e.g. ./run.sh -c yerba.yaml
set -eu
cd "$(dirname "$0")"
scripts/deps.sh build
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build
exec build/src/yerbad "$@"
