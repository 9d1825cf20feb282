#!/usr/bin/env bash
# Installs Debian's Chromium (package chromium, /usr/bin/chromium) for the
# checkout page's browser tests (e2e/checkout_test.go, chromedp) when it is
# missing. As root it runs apt-get; otherwise it says what to install and
# fails. It prints the browser's path on stdout.
#
#   scripts/chromium.sh
#
# CHROMIUM_PATH names another browser binary to use instead; the tests read
# the same variable.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

browser=${CHROMIUM_PATH:-/usr/bin/chromium}
if [ -x "$browser" ]; then
	echo "$browser"
	exit 0
fi
[ -z "${CHROMIUM_PATH:-}" ] || die "CHROMIUM_PATH=$CHROMIUM_PATH is not an executable file"

is_root || die "chromium is missing: as root, run: apt-get install -y chromium"
apt_install chromium || die "could not install chromium: apt-get install -y chromium failed"
[ -x "$browser" ] || die "apt-get installed chromium, but $browser is still missing"
"$browser" --version >&2 || die "$browser does not run"
echo "$browser"
