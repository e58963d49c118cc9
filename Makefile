# Vigil's entry point. `make test` is what CI runs (.ci/run): it installs
# and starts whatever the tests need, then runs the whole suite.

GO       ?= go
PKGS     := ./...
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)

.PHONY: all build test test-deps test-go test-race fuzz bench bench-capture bench-store bench-enforce lint fmt demo rig screenshots clean

all: build

build: ## build bin/vigil
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/vigil ./cmd/vigil

test: test-deps test-go test-race ## the whole suite, as CI runs it

# test-deps installs what the suite needs: Go modules, Debian's ClickHouse
# server (the store tests start their own on free ports), and the Debian
# packages of the recording rig of real daemons (dcmtk, python3-hl7,
# dnsmasq, lldpd, snmpd, openssh, busybox telnetd, nginx, avahi), tcpdump
# (capture filters) and tshark (the rig's checks). NATS runs embedded;
# shared captures come from ../shared. Tests that need root (the rig, live
# AF_PACKET capture in a network namespace) run as root in CI.
test-deps:
	@$(GO) version
	@$(GO) mod download
	bash rig/install-deps.sh

test-go: ## every test, fuzz seeds included
	$(GO) vet $(PKGS)
	$(GO) test -count=1 -timeout 20m $(PKGS)

# The packages with goroutines and shared state run again under the race
# detector.
test-race:
	$(GO) test -count=1 -race -timeout 20m ./events/... ./capture ./baseline/... ./inventory/... ./policy/... ./vuln/... ./risk/... ./alerts/... ./enforce/... ./scanner/... ./web/... ./store/... ./cmd/...
	$(GO) test -count=1 -race -short -timeout 10m ./cluster/...

fuzz: ## run each fuzz target for FUZZTIME (default 30s)
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $${FUZZTIME:-30s} $$pkg || exit 1; \
	  done; \
	done

bench: ## benchmarks, 6 runs each, for benchstat
	$(GO) test -short -run '^$$' -bench . -benchmem -count 6 $(PKGS) | tee bench.txt

bench-store: ## sensor -> JetStream -> ClickHouse: publish, insert and sustained rates, medians (EVENTS, RUNS)
	GO=$(GO) ./bench/store/bench-store.sh

bench-capture: ## Vigil's sensor against ndpiReader on one core (BENCH_SMALL=1: smoke run, under a minute)
	GO=$(GO) ./bench/bench-capture.sh

bench-enforce: ## alert to installed nftables rule (median, p99) and reconciliation of 10,000 blocks, in network namespaces (root)
	$(GO) test -run '^$$' -bench 'AlertToRule' -benchtime 500x -count 1 ./enforce/nft/ && $(GO) test -run '^$$' -bench 'Reconcile10k' -benchtime 10x -count 1 -v ./enforce/nft/

lint: ## formatting and vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

rig: ## record the rig of real peers into rig-out/ (needs root)
	bash rig/record.sh rig-out

screenshots: build ## PNG screenshots of every dashboard page of a demo run into docs/screenshots (needs chromium)
	$(GO) run ./web/screenshots -vigil bin/vigil -out docs/screenshots

demo: ## the README's first command
	$(GO) run ./cmd/vigil demo

clean:
	rm -rf bin bench.txt
