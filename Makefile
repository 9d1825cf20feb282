# Transient's developer commands. `make` (or `make help`) lists them.
#
#   make run                         the local stack in the foreground; Ctrl-C stops it
#   make pay PAYMENT=<id> [AMOUNT=]  pay a payment from the dev miner wallet
#   make mine [BLOCKS=1]             mine blocks on the dev chain
#   make test                        what CI runs: gofmt, go vet, go test -race
#   make chaos                       the long fault-injection suite and the soak; prints their reports
#   make bench                       the benchmark: writes docs/benchmarks.md
#   make fuzz [FUZZTIME=30s]         run every fuzz target for a while

SHELL := /bin/bash
# Go from PATH, else the usual install location.
GO ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
GOFMT ?= $(dir $(GO))gofmt
BLOCKS ?= 1

.DEFAULT_GOAL := help
.PHONY: help run test chaos fuzz bench build pay mine fmt vet deps clean

help: ## list the targets
	@echo 'usage: make TARGET'
	@echo
	@awk 'BEGIN { FS = ":.*## " } /^[a-z][a-z-]*:.*## / { printf "  %-7s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

run: deps build ## run the local stack (PostgreSQL, litecoind regtest, transientd, a webhook receiver) until Ctrl-C; PORT=8080 by default
	@./bin/transient-dev up

test: ## install what is missing, then gofmt -l, go vet and go test -race on every package (what CI runs)
	@scripts/test.sh

# The soak runs after the chaos suite and without the race detector, whose
# shadow memory would make its RSS figures meaningless; its short version
# runs under -race in make test. SOAK_DURATION (default 10m) and
# SOAK_CLIENTS (default 100) resize it.
chaos: deps ## the long fault-injection suite (e2e/chaos_test.go, CHAOS_LONG=1): crash storms, receiver, PostgreSQL and node restarts, then the 10-minute soak (e2e/soak_test.go); prints the invariant reports (full log: .cache/chaos.log)
	@mkdir -p .cache
	set -o pipefail; { CHAOS_LONG=1 $(GO) test -race -count=1 -timeout 60m -v -run 'TestChaos' ./e2e/; suite=$$?; \
		CHAOS_LONG=1 $(GO) test -count=1 -timeout 40m -v -run 'TestSoak$$' ./e2e/; soak=$$?; \
		[ $$suite = 0 ] && [ $$soak = 0 ]; } 2>&1 | tee .cache/chaos.log | grep -E '^(chaos|=== RUN|--- |PASS|FAIL|ok)|(chaos|soak)_test.go'; \
		status=$$?; echo "full output: .cache/chaos.log"; exit $$status

fuzz: ## run every fuzz target FUZZTIME each (default 30s; FUZZ=regexp picks targets) and report time, inputs tried and failures
	@FUZZTIME='$(FUZZTIME)' FUZZ='$(FUZZ)' scripts/fuzz.sh

bench: deps build ## measure the local stack beside the limits of its parts (several minutes); writes docs/benchmarks.md
	@./bin/transient-dev bench

# The hook binaries are built without cgo: the node starts one per
# transaction, and a cgo binary is dynamically linked, so every start pays
# for the dynamic loader, libc and cgo's runtime set-up (about 1 ms of the
# ~3.5 ms CPU a spawn cost). Without cgo, name lookups use Go's resolver,
# which reads /etc/hosts and DNS as the libc one does for usual set-ups.
build: ## build bin/transientd, bin/notify-tx, bin/notify-block and bin/transient-dev
	$(GO) build -o bin/ ./cmd/transientd ./cmd/transient-dev
	CGO_ENABLED=0 $(GO) build -o bin/ ./cmd/notify-tx ./cmd/notify-block

pay: ## pay a payment of the running stack: make pay PAYMENT=<id> [AMOUNT=0.5] (default: the amount still due)
	@test -n '$(PAYMENT)' || { echo 'usage: make pay PAYMENT=<id> [AMOUNT=0.5]' >&2; exit 2; }
	@$(GO) build -o bin/transient-dev ./cmd/transient-dev
	@./bin/transient-dev pay '$(PAYMENT)' $(AMOUNT)

mine: ## mine blocks on the running stack's chain: make mine [BLOCKS=1]
	@$(GO) build -o bin/transient-dev ./cmd/transient-dev
	@./bin/transient-dev mine '$(BLOCKS)'

fmt: ## gofmt -w every Go file
	@find . \( -path ./.git -o -path ./.cache -o -path ./bin -o -name testdata \) -prune -o -name '*.go' -print0 | xargs -0 $(GOFMT) -l -w

vet: ## go vet ./...
	$(GO) vet ./...

deps: ## install missing Debian packages: litecoind, and postgresql when no server answers
	@scripts/deps.sh

clean: ## stop and delete the throwaway PostgreSQL, remove bin/ and .cache/
	@scripts/postgres.sh clean
	rm -rf bin .cache
