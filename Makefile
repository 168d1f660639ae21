# Session Connector. `make help` lists the targets.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

BIN        ?= bin/sessionconnector
VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
IMAGE      ?= ghcr.io/sessionconnector/sessionconnector:$(VERSION)
GO         ?= go
FUZZTIME   ?= 30s
BENCHTIME  ?= 2s
CONTROLLER_GEN := $(GO) tool controller-gen

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN{FS=":.*## "} /^[a-zA-Z_-]+:.*## /{printf "  \033[1m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: player ## Build the sessionconnector binary (and the recording player beside it) into bin/.
	$(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o $(BIN) ./cmd/sessionconnector

PLAYER_DIR ?= $(dir $(BIN))player

.PHONY: player
player: ## Build the recording player (WebAssembly and its loader) into bin/player.
	mkdir -p $(PLAYER_DIR)
	GOOS=js GOARCH=wasm $(GO) build -trimpath -o $(PLAYER_DIR)/player.wasm ./recorder/player/wasm
	cp "$$($(GO) env GOROOT)/lib/wasm/wasm_exec.js" $(PLAYER_DIR)/wasm_exec.js

.PHONY: generate
generate: ## Regenerate deepcopy code.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths=./api/...

.PHONY: manifests
manifests: ## Regenerate CRDs (and RBAC) under config/.
	$(CONTROLLER_GEN) crd rbac:roleName=manager-role paths=./api/... paths=./controllers/... output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac

.PHONY: verify
verify: generate manifests ## Fail when generated files, go.mod or formatting are stale; run go vet.
	@git diff --exit-code -- api config || { echo "generated files are stale: run 'make generate manifests' and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- api config)" || { echo "untracked generated files:"; git status --porcelain -- api config; exit 1; }
	$(GO) mod tidy -diff
	@out=$$(gofmt -l $$(git ls-files '*.go')); test -z "$$out" || { echo "gofmt needed:"; echo "$$out"; exit 1; }
	$(GO) vet ./...
	hack/sync-chart-crds.sh --check
	$(MAKE) --no-print-directory helm-lint

.PHONY: chart-crds
chart-crds: ## Copy config/crd/bases and config/rbac/role.yaml into the Helm chart.
	hack/sync-chart-crds.sh

.PHONY: helm-lint
helm-lint: ## Lint the Helm chart (helm pinned in go.mod, run with go tool).
	$(GO) tool helm lint --strict charts/session-connector

.PHONY: lint
lint: ## gofmt and go vet.
	@out=$$(gofmt -l $$(git ls-files '*.go')); test -z "$$out" || { echo "gofmt needed:"; echo "$$out"; exit 1; }
	$(GO) vet ./...

.PHONY: deps
deps: ## Install what the tests need (Debian packages, envtest binaries built from Go modules).
	hack/install-deps.sh

.PHONY: test
test: deps ## Run every test: unit, envtest, real FreeRDP, fuzz smoke, demo smoke (as CI does).
	KUBEBUILDER_ASSETS=$$(hack/envtest/build.sh) SC_REQUIRE_PEERS=1 $(GO) test -race -count=1 -timeout 20m ./...
	$(MAKE) fuzz FUZZTIME=20000x
	DEMO_EXIT=1 hack/demo/run.sh

.PHONY: test-unit
test-unit: ## Run the tests that need nothing but Go (others skip).
	$(GO) test -race ./...

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME each (default 30s).
	hack/fuzz.sh $(FUZZTIME)

.PHONY: bench
bench: ## Run the benchmarks (ratios against baselines measured in the same run).
	KUBEBUILDER_ASSETS=$$(hack/envtest/build.sh) $(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) -benchmem ./ticket/ ./sessionstore/storebench/ ./proxy/
	$(GO) test -run '^$$' -bench . -benchtime 1x ./recorder/export/
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m ./test/officebench/

.PHONY: demo
demo: ## Run the product end to end on embedded defaults (emulator + standalone mode).
	hack/demo/run.sh

.PHONY: image
image: ## Build the container image (needs a Docker engine).
	docker build --build-arg VERSION=$(VERSION) -t $(IMAGE) .

.PHONY: clean
clean: ## Remove build output and demo state.
	rm -rf bin .state
