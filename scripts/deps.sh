#!/usr/bin/env bash
# Installs what make run and make test need and the machine lacks:
# litecoind (Debian package litecoind) and, only when no PostgreSQL server
# answers and no PostgreSQL binaries are installed, the postgresql package.
# As root it runs apt-get; otherwise it says what to install and fails.
#
#   scripts/deps.sh            everything
#   scripts/deps.sh litecoind  litecoind only
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v go >/dev/null 2>&1 ||
	die "Go is missing: install Go 1.26 (https://go.dev/dl/) into /usr/local/go"

if ! command -v litecoind >/dev/null 2>&1; then
	is_root || die "litecoind is missing: as root, run: apt-get install -y litecoind"
	apt_install litecoind || die "could not install litecoind: apt-get install -y litecoind failed"
fi

if [ "${1:-}" != litecoind ]; then
	"$root/scripts/postgres.sh" deps
fi
