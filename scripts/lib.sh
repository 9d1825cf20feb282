# shellcheck shell=bash
# Helpers shared by the scripts in this folder. Source it; do not run it.
#
# It sets root (the repository root) and puts Go on PATH when it is
# installed in /usr/local/go but missing from PATH.

# shellcheck disable=SC2034 # used by the scripts that source this file
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
	PATH=$PATH:/usr/local/go/bin
	export PATH
fi

# say prints one line on stderr, prefixed with the script's name.
say() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }

# die says why and exits 1.
die() {
	say "$*"
	exit 1
}

is_root() { [ "$(id -u)" = 0 ]; }

# apt_install installs Debian packages, refreshing the package lists and
# trying once more when the first attempt fails (stale or missing lists).
apt_install() {
	say "installing $* (apt-get)"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q "$@" >&2 && return 0
	apt-get update -q >&2 && apt-get install -y -q "$@" >&2
}
