# Meridian: `make run` for the demo, `make test` for the tests.
GO       ?= go
BIN      := bin
MERIDIAN := $(BIN)/meridian

.PHONY: all build test race lint bench run clean

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

test:
	$(GO) test -count=1 -timeout 20m ./...

# race runs the packages that run concurrent code (workflows against a real
# server, providers and their fakes, the CLI) under the race detector.
race:
	$(GO) test -race -count=1 -timeout 30m ./workflows/... ./providers/... ./cmd/...

lint:
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
	$(GO) run go.temporal.io/sdk/contrib/tools/workflowcheck@v0.6.0 ./workflows/...

# bench installs the CUE command BenchmarkPlanVsCueExport compares with, if missing.
bench: build
	@bin=$$($(GO) env GOBIN); bin=$${bin:-$$($(GO) env GOPATH)/bin}; \
	"$$bin/cue" version 2>/dev/null | grep -q 'cue version v0.17.1' || $(GO) install cuelang.org/go/cmd/cue@v0.17.1
	$(GO) test -run '^$$' -bench . -benchtime 1x ./...

run: build
	$(MERIDIAN) dev --spec testdata/demo --tour

clean:
	rm -rf $(BIN)
