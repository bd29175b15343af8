# Meridian: `make run` for the demo, `make test` for the tests.
GO       ?= go
BIN      := bin
MERIDIAN := $(BIN)/meridian

.PHONY: all build test race lint bench run clean temporal postgres cluster cluster-down soak soak-dev kube kube-up

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

test: kube
	$(GO) test -count=1 -timeout 20m ./...

# race runs the packages that run concurrent code (workflows against a real
# server, providers and their fakes, the CLI) under the race detector.
# -short skips the tests that drive built meridian binaries (built without
# the detector, so it would watch only the test's own harness) and the
# multi-cluster Kubernetes e2e tests; the driver's own tests still run.
race: kube
	$(GO) test -race -short -count=1 -timeout 30m ./workflows/... ./providers/... ./cmd/...

lint:
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
	$(GO) run go.temporal.io/sdk/contrib/tools/workflowcheck@v0.6.0 ./workflows/...

# bench installs the CUE command BenchmarkPlanVsCueExport compares with, if missing.
bench: build kube
	@bin=$$($(GO) env GOBIN); bin=$${bin:-$$($(GO) env GOPATH)/bin}; \
	"$$bin/cue" version 2>/dev/null | grep -q 'cue version v0.17.1' || $(GO) install cuelang.org/go/cmd/cue@v0.17.1
	$(GO) test -run '^$$' -bench . -benchtime 1x ./...

# temporal builds Temporal's own server and SQL tool from the pinned module
# (go.mod's tool directives).
temporal:
	$(GO) build -o $(BIN)/temporal-server go.temporal.io/server/cmd/server
	$(GO) build -o $(BIN)/temporal-sql-tool go.temporal.io/server/cmd/tools/sql

# kube builds the Kubernetes control plane the tests run (etcd,
# kube-apiserver, kube-controller-manager) from the wrapper module
# providers/kubernetes/controlplane, once: again only when its go.mod
# changes. Without symbol tables and DWARF (-s -w), which only a debugger
# would read. How long a cold build takes is in the README.
KUBE_BIN := $(BIN)/kube
KUBE_MOD := providers/kubernetes/controlplane
kube: $(KUBE_BIN)/.built
$(KUBE_BIN)/.built: $(KUBE_MOD)/go.mod $(KUBE_MOD)/go.sum $(KUBE_MOD)/etcd/main.go
	cd $(KUBE_MOD) && $(GO) build -ldflags='-s -w' -o $(abspath $(KUBE_BIN))/ ./etcd k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager
	touch $@

# kube-up runs local Kubernetes clusters (KUBE_CLUSTERS, the cells of
# testdata/kubernetes) until Ctrl-C, with a kubeconfig in .kube-local.
KUBE_CLUSTERS ?= eks-east,aks-west,gke-west,eks-gov
kube-up: build kube
	$(BIN)/meridian-kube --dir .kube-local --clusters $(KUBE_CLUSTERS)

# postgres installs Debian's PostgreSQL when it is missing.
postgres:
	@command -v pg_ctl >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

# cluster starts Meridian in its production shape (docs/production.md) in
# CLUSTER_DIR and returns; cluster-down stops it.
CLUSTER_DIR ?= .cluster
CLUSTER_SPEC ?= testdata/demo
cluster: build temporal postgres
	$(BIN)/meridian-cluster up --dir $(CLUSTER_DIR) --spec $(CLUSTER_SPEC)

cluster-down:
	$(BIN)/meridian-cluster down --dir $(CLUSTER_DIR)

# soak runs many releases at once on that shape while a fault loop kills
# and restarts its parts, then checks nothing was lost (README: Soak);
# soak-dev is its shorter form on meridian dev. SOAK_FOR bounds them.
SOAK_FOR ?= 10m
soak: build temporal postgres
	$(BIN)/meridian-soak --for $(SOAK_FOR)

soak-dev: build
	$(BIN)/meridian-soak --dev --services 20 --for $(or $(SOAK_DEV_FOR),2m)

run: build
	$(MERIDIAN) dev --spec testdata/demo --tour

clean:
	rm -rf $(BIN)
