#!/usr/bin/env bash
# Runs every check CI runs (make test, .ci/run):
#   1. installs what is missing: litecoind; PostgreSQL only when no server
#      answers (scripts/deps.sh, scripts/postgres.sh); Chromium for the
#      browser tests (scripts/chromium.sh); RabbitMQ, installed and started
#      only when no broker answers (scripts/rabbitmq.sh)
#   2. sets TEST_DATABASE_URL to a server that answers (the local one, else a
#      throwaway cluster) unless TEST_DATABASE_URL or DATABASE_URL is set
#   3. gofmt -l: fails on any file listed
#   4. go vet ./...
#   5. go test -race -count=1 -timeout 18m ./...: fails unless every package
#      with test files reports ok with tests run
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$root"

"$root/scripts/deps.sh" litecoind
# The AMQP tests' broker (the machine's, else one started here).
"$root/scripts/rabbitmq.sh"
# The browser tests' Chromium (scripts/chromium.sh prints its path).
if [ -f "$root/scripts/chromium.sh" ] && [ -z "${CHROMIUM_PATH:-}" ]; then
	CHROMIUM_PATH=$(bash "$root/scripts/chromium.sh")
	export CHROMIUM_PATH
fi

if [ -z "${TEST_DATABASE_URL:-}${DATABASE_URL:-}" ]; then
	before=$(scripts/postgres.sh status)
	TEST_DATABASE_URL=$(scripts/postgres.sh url)
	export TEST_DATABASE_URL
	if [ "${before%% *}" != throwaway ] && [ "$(scripts/postgres.sh status | cut -d' ' -f1)" = throwaway ]; then
		trap 'scripts/postgres.sh stop' EXIT
	fi
	say "PostgreSQL for the tests: $TEST_DATABASE_URL"
fi

say "gofmt -l"
mapfile -d '' gofiles < <(find . \( -path ./.git -o -path ./.cache -o -path ./bin -o -name testdata \) -prune -o -name '*.go' -print0)
[ ${#gofiles[@]} -gt 0 ] || die "no Go files found"
unformatted=$(gofmt -l "${gofiles[@]}")
if [ -n "$unformatted" ]; then
	say "these files are not gofmt-formatted (run make fmt):"
	echo "$unformatted" >&2
	exit 1
fi

say "go vet ./..."
go vet ./...

say "go test -race -count=1 -timeout 18m ./..."
log=$(mktemp)
set +e
go test -race -count=1 -timeout 18m ./... 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

# Every package with test files must say "ok", and not "[no tests to run]".
mapfile -t tested < <(go list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}' ./... | sed '/^$/d')
passed=0 failed=0
for pkg in "${tested[@]}"; do
	if awk -v p="$pkg" '$1 == "ok" && $2 == p && !/\[no tests to run\]/ { found = 1 } END { exit !found }' "$log"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		say "FAIL: $pkg did not report ok with tests run"
	fi
done
if grep -q 'testing: warning: no tests to run' "$log"; then
	say "FAIL: a test binary ran no tests (testing: warning: no tests to run)"
	failed=$((failed + 1))
fi
rm -f "$log"
echo "packages: $passed passed, $failed failed"
if [ "$status" != 0 ] || [ "$failed" != 0 ] || [ "$passed" = 0 ]; then
	say "FAILED (go test exit status $status)"
	exit 1
fi
