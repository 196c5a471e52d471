#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs the Debian packages Yerba needs: "build" for building and running,
# "test" for the test suite as well. Only missing packages are installed.
set -eu

BUILD_PKGS="build-essential cmake ninja-build pkg-config libuv1-dev libssl-dev libexpat1-dev \
libsqlite3-dev libidn-dev libidn2-dev libyaml-dev libc-ares-dev zlib1g-dev"
TEST_PKGS="python3 python3-pytest python3-slixmpp python3-aioxmpp python3-openssl python3-cryptography \
libstrophe-dev go-sendxmpp \
sqlite3 openssl dnsmasq-base prosody ejabberd biboumi ngircd"

want="$BUILD_PKGS"
[ "${1:-build}" = test ] && want="$BUILD_PKGS $TEST_PKGS"

missing=""
for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0

echo "Installing Debian packages:$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# The test suite runs private Prosody, ejabberd and ngircd instances of its own; the
# packages' system services must not start (and take ports 5222/5269/6667) on
# install. Debian's policy-rc.d hook says so, unless the machine already has one.
policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    trap '$SUDO rm -f "$policy"' EXIT
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
fi
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
