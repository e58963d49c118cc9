# Vigil's entry point. `make test` is what CI runs (.ci/run): it installs
# and starts whatever the tests need, then runs the whole suite.

GO       ?= go
PKGS     := ./...
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)

.PHONY: all build test test-deps test-go test-race fuzz bench lint fmt demo clean

all: build

build: ## build bin/vigil
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/vigil ./cmd/vigil

test: test-deps test-go test-race ## the whole suite, as CI runs it

# test-deps installs what the suite needs. Today the suite needs nothing
# outside Go: NATS runs embedded, captures come from ../shared. Later
# suites (ClickHouse, Chromium, nftables) add their installs here.
test-deps:
	@$(GO) version
	@$(GO) mod download

test-go: ## every test, fuzz seeds included
	$(GO) vet $(PKGS)
	$(GO) test -count=1 -timeout 20m $(PKGS)

# The packages with goroutines and shared state run again under the race
# detector.
test-race:
	$(GO) test -count=1 -race -timeout 20m ./events/... ./baseline/... ./inventory/... ./policy/... ./cmd/...

fuzz: ## run each fuzz target for FUZZTIME (default 30s)
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $${FUZZTIME:-30s} $$pkg || exit 1; \
	  done; \
	done

bench: ## benchmarks, 6 runs each, for benchstat
	$(GO) test -run '^$$' -bench . -benchmem -count 6 $(PKGS) | tee bench.txt

lint: ## formatting and vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

demo: ## the README's first command
	$(GO) run ./cmd/vigil demo

clean:
	rm -rf bin bench.txt
