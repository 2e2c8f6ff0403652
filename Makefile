# Switchboard: a Kubernetes operator for customer-engagement SaaS tenants.
#
# The two commands a newcomer needs:
#   make dev    # the whole system on this machine, in the foreground
#   make test   # every test, against real Postgres, Vault and kube-apiserver

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec
ROOT := $(shell pwd)
BIN := $(ROOT)/bin
CONTROLLER_TOOLS_VERSION ?= v0.23.0
CONTROLLER_GEN := $(BIN)/controller-gen
IMG ?= switchboard/operator:dev
RUNTIME_IMG ?= switchboard/runtime:dev
CONTAINER_TOOL ?= docker

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-15s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate CRDs (config/crd/bases), RBAC (config/rbac) and the chart's copies.
	$(CONTROLLER_GEN) rbac:roleName=switchboard-operator crd paths="./api/..." paths="./controllers/..." \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac
	@mkdir -p charts/switchboard/crds
	@cp config/crd/bases/*.yaml charts/switchboard/crds/
	@hack/sync-chart-rbac.sh

.PHONY: generate
generate: controller-gen ## Generate DeepCopy methods.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## go fmt.
	go fmt ./...

.PHONY: vet
vet: ## go vet.
	go vet ./...

.PHONY: lint
lint: vet ## go vet, and fail on unformatted files.
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^hack/tools/')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

.PHONY: test
test: ## Run every test; builds and starts Postgres, Vault, etcd and kube-apiserver itself.
	hack/test.sh

.PHONY: bench
bench: ## Operator, runtime and backup benchmarks against real dependencies (print tables).
	hack/build-tools.sh etcd kube-apiserver vault versitygw
	go run ./bench/provision $(BENCH_ARGS)
	go run ./bench/runtime $(BENCH_ARGS)
	go run ./bench/backup $(BACKUP_BENCH_ARGS)

.PHONY: bench-backup
bench-backup: ## Backup benchmark only: encrypted vs plain dump and restore, S3 purge, GC through the controller (docs/backups.md).
	hack/build-tools.sh etcd kube-apiserver vault versitygw
	go run ./bench/backup $(BACKUP_BENCH_ARGS)

.PHONY: dev
dev: ## Run the whole system locally in the foreground (Ctrl-C stops it).
	hack/install-deps.sh
	hack/build-tools.sh etcd kube-apiserver kube-controller-manager kube-scheduler kubectl vault versitygw
	go build -o $(BIN)/switchboard-runtime ./runtime/cmd/switchboard-runtime
	go build -o $(BIN)/switchboard-dev ./hack/dev
	$(BIN)/switchboard-dev $(DEV_ARGS)

##@ Build

.PHONY: build
build: ## Build the operator (bin/switchboard) and the tenant runtime (bin/switchboard-runtime).
	go build -o $(BIN)/switchboard .
	go build -o $(BIN)/switchboard-runtime ./runtime/cmd/switchboard-runtime

.PHONY: run
run: ## Run the operator against the current kubeconfig (configure with SWITCHBOARD_* env).
	go run .

.PHONY: vendor-js
vendor-js: ## Vendor htmx and idiomorph from npm into the runtime's embedded static files.
	hack/vendor-js.sh

.PHONY: docker-build
docker-build: ## Build the operator and runtime images (needs a container engine).
	@if ! $(CONTAINER_TOOL) info >/dev/null 2>&1; then \
		echo "docker-build: no container engine answers ('$(CONTAINER_TOOL) info' failed)."; \
		echo "docker-build: on a machine with one, run: $(CONTAINER_TOOL) build -t $(IMG) . && $(CONTAINER_TOOL) build -f runtime/Dockerfile -t $(RUNTIME_IMG) ."; \
		echo "docker-build: without one, go test ./test/deploy -run TestDockerfilesBuild runs both Dockerfiles' build steps on their exact build context."; \
		exit 1; fi
	$(CONTAINER_TOOL) build -t $(IMG) .
	$(CONTAINER_TOOL) build -f runtime/Dockerfile -t $(RUNTIME_IMG) .

.PHONY: helm
helm: manifests ## Sync CRDs into charts/switchboard, then lint and render the chart with bin/helm (built from Go modules).
	hack/build-tools.sh helm
	$(BIN)/helm lint --strict charts/switchboard
	$(BIN)/helm template switchboard charts/switchboard --namespace switchboard-system >/dev/null
	@echo "helm: charts/switchboard lints and renders; the chart test (test/deploy) installs it into a real API server"


##@ Tools

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN) ## Install controller-gen into bin/.
$(CONTROLLER_GEN):
	@echo "installing controller-gen $(CONTROLLER_TOOLS_VERSION) into bin/"
	GOBIN=$(BIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)

.PHONY: tools
tools: ## Build etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, Vault, helm and versitygw into bin/.
	hack/build-tools.sh etcd kube-apiserver kube-controller-manager kube-scheduler kubectl vault helm versitygw
