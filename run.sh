#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs the build packages, builds, and runs yerbad in the foreground with its
# logs on stderr. The first run writes yerba.yaml (a copy of the commented
# yerba.example.yaml: host "localhost", data in ./yerba-data, c2s on 5222 with
# STARTTLS and 5223 with direct TLS), and yerbad then creates the data directory,
# the SQLite database, a self-signed certificate and admin@localhost, whose password
# it prints. Extra arguments go to yerbad.
set -eu
cd "$(dirname "$0")"
scripts/deps.sh build
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build
if [ ! -e yerba.yaml ]; then
    cp yerba.example.yaml yerba.yaml
    echo "Wrote yerba.yaml (edit it to serve your own domain)."
fi
exec build/src/yerbad -c yerba.yaml "$@"
