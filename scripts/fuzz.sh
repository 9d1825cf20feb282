#!/usr/bin/env bash
# Runs every fuzz target (func FuzzXxx in a _test.go file) for FUZZTIME each
# (default 30s), one after the other, and prints how long each fuzzed (and
# the wall time with the build), how many inputs it tried and whether it
# found a failure (make fuzz):
#
#   FUZZTIME=30s      time per target (any go test -fuzztime value, e.g. 2m or 10000x)
#   FUZZ=regexp       only the targets whose name matches (e.g. FUZZ=Amount)
#   FUZZ_PARALLEL=n   fuzzing processes per target (go test -parallel; default: GOMAXPROCS)
#
# The seed corpora (f.Add and testdata/fuzz/) run in make test as ordinary
# tests. A failure found here is written by go test to
# <package>/testdata/fuzz/<target>/<hash>: fix the cause and commit that
# file, so that make test runs it from then on.
#
# Targets that create payments need PostgreSQL: TEST_DATABASE_URL, else
# the server scripts/postgres.sh finds or starts (as make test does).
# Exits 1 when any target failed.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$root"

fuzztime=${FUZZTIME:-30s}
filter=${FUZZ:-.}
parallel=()
if [ -n "${FUZZ_PARALLEL:-}" ]; then
	parallel=(-parallel "$FUZZ_PARALLEL")
fi

if [ -z "${TEST_DATABASE_URL:-}${DATABASE_URL:-}" ]; then
	before=$(scripts/postgres.sh status)
	TEST_DATABASE_URL=$(scripts/postgres.sh url)
	export TEST_DATABASE_URL
	if [ "${before%% *}" != throwaway ] && [ "$(scripts/postgres.sh status | cut -d' ' -f1)" = throwaway ]; then
		trap 'scripts/postgres.sh stop' EXIT
	fi
fi

# "dir name" per target, sorted.
mapfile -t targets < <(grep -rHo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*' . |
	sed -E 's|^\./(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)$|\1 \2|' | grep -E " .*${filter}" | sort)
[ ${#targets[@]} -gt 0 ] || die "no fuzz target matches FUZZ=$filter"
say "${#targets[@]} fuzz targets, $fuzztime each"

results=()
failed=0
for entry in "${targets[@]}"; do
	dir=${entry% *} name=${entry#* }
	log=$(mktemp)
	say "$name (./$dir)"
	start=$(date +%s)
	set +e
	go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "${parallel[@]}" "./$dir" 2>&1 | tee "$log" | grep -v '^fuzz: elapsed' >&2
	status=${PIPESTATUS[0]}
	set -e
	took=$(($(date +%s) - start))
	execs=$(grep -o 'execs: [0-9]*' "$log" | tail -1 | cut -d' ' -f2 || true)
	fuzzed=$(grep -o '^fuzz: elapsed: [0-9hms.]*' "$log" | tail -1 | cut -d' ' -f3 || true)
	if [ "$status" = 0 ]; then
		result=ok
	else
		failed=$((failed + 1))
		input=$(grep -o 'testdata/fuzz/[^ ]*' "$log" | head -1 || true)
		result="FAILED${input:+: ./$dir/$input}"
	fi
	results+=("$(printf '%-24s %-22s %8s %6ss %10s  %s' "$name" "$dir" "${fuzzed:-?}" "$took" "${execs:-?}" "$result")")
	rm -f "$log"
done

printf '\n%-24s %-22s %8s %7s %10s  %s\n' target package fuzzing wall execs result
printf '%s\n' "${results[@]}"
echo "fuzz targets: $((${#targets[@]} - failed)) passed, $failed failed"
[ "$failed" = 0 ]
