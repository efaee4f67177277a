# otj-edge build. The two set-up commands are `make demo` and `make test`.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
# The commit's time: the build date stamped into the binary (a lower bound for a sane clock,
# see `otj-edge check`) and the file times in packages (reproducible builds).
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null)
BUILD_DATE ?= $(if $(SOURCE_DATE_EPOCH),$(shell date -u -d @$(SOURCE_DATE_EPOCH) +%Y-%m-%dT%H:%M:%SZ))
PKG := github.com/otj-edge/otj-edge
LDFLAGS := -X $(PKG)/agent.Version=$(VERSION) -X $(PKG)/agent.Commit=$(COMMIT) -X $(PKG)/agent.BuildDate=$(BUILD_DATE)
# -race needs cgo; use it wherever a C compiler is present.
RACE := $(shell $(GO) env CGO_ENABLED 2>/dev/null | grep -q 1 && command -v gcc >/dev/null && echo -race)
DIST_TARGETS := linux/amd64 linux/arm64 windows/amd64
DIST ?= dist
# A release binary: static, stripped, CGO off. $(call release_build,GOOS,GOARCH,OUT)
release_build = CGO_ENABLED=0 GOOS=$(1) GOARCH=$(2) $(GO) build -trimpath -ldflags "-s -w $(LDFLAGS)" -o $(3) ./cmd/otj-edge

# Packages: nfpm's CLI from the Go module proxy, pinned, so go.mod does not carry nfpm's
# dependency tree (v2.46 and later need modules the proxy here refuses; see packaging/README).
NFPM_VERSION := v2.45.2
NFPM ?= $(GO) run github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION)
PKG_ARCHS ?= amd64 arm64
PKG_FORMATS ?= deb rpm
COMMITS ?= $(shell git rev-list --count HEAD 2>/dev/null || echo 0)
PKG_VERSION ?= $(shell sh packaging/pkgversion.sh "$(VERSION)" "$(COMMITS)")

.PHONY: all build dist package package-linux windows-zip test vet fmt-check bench soak demo clean

all: build

## build: bin/otj-edge and bin/otj-sim for this host
build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/otj-edge ./cmd/otj-edge
	$(GO) build -trimpath -o bin/otj-sim ./cmd/otj-sim

## dist: static, stripped, CGO-off binaries for every target in dist/
dist:
	@set -e; for t in $(DIST_TARGETS); do \
		os=$${t%/*}; arch=$${t#*/}; ext=; [ $$os = windows ] && ext=.exe; \
		out=$(DIST)/otj-edge-$$os-$$arch$$ext; \
		echo "build $$out"; \
		$(call release_build,$$os,$$arch,$$out); \
	done

## package: .deb and .rpm for amd64 and arm64, and the Windows zip, in dist/
package: package-linux windows-zip

## package-linux: the .deb and .rpm only (PKG_ARCHS, PKG_FORMATS narrow them)
package-linux:
	@set -e; [ -n "$(PKG_VERSION)" ] || { echo "package: no package version"; exit 1; }; \
	export SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) PKG_VERSION=$(PKG_VERSION); \
	for arch in $(PKG_ARCHS); do \
		bin=$(DIST)/otj-edge-linux-$$arch; \
		echo "build $$bin"; \
		$(call release_build,linux,$$arch,$$bin); \
		for f in $(PKG_FORMATS); do \
			ARCH=$$arch BINARY=$$bin $(NFPM) package --config packaging/nfpm.yaml --packager $$f --target $(DIST)/; \
		done; \
	done

## windows-zip: otj-edge.exe, the example config and the install guide in one zip
windows-zip:
	@set -e; out=$(DIST)/otj-edge-windows-amd64.exe; \
	echo "build $$out"; \
	$(call release_build,windows,amd64,$$out); \
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) $(GO) run ./packaging/winzip -exe $$out -config packaging/config.example.yaml \
		-guide packaging/windows/INSTALL.txt -out $(DIST)/otj-edge_$(PKG_VERSION)_windows_amd64.zip

## vet: go vet (for Linux and for the Windows service build) and gofmt
vet: fmt-check
	$(GO) vet ./...
	GOOS=windows $(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## test: vet + every test (with -race where cgo is available; -count=1: never a cached pass)
test: vet
	$(GO) test $(RACE) -count=1 -timeout 30m ./...

## bench: Go benchmarks and scale scenarios → bench/report.json (32 min at the last timed full run, before the ews, graph_notify and fleet scenarios; shorter runs:
## BENCH_ROOMS=100 BENCH_SCALE=10,100 BENCH_WINDOW=1m BENCH_SCENARIOS=scale,baseline, see simulators/README.md)
bench:
	$(GO) run ./simulators/bench -out bench/report.json

## soak: fault scenarios against the real binaries → bench/soak.json (SOAK_SCENARIOS=kill9,leaks
## runs some; SOAK_KILLS, SOAK_EVENTS, SOAK_ROOMS, SOAK_OUTAGE, SOAK_STORM, SOAK_CHURN size them)
soak:
	$(GO) run ./simulators/soak -out bench/soak.json

## demo: simulators + agent on a generated config; prints the status page and a live summary
## (OTJ_DEMO_SOURCE=google make demo: the rooms are Google resource calendars, read through googlesim; ews: EWS)
OTJ_DEMO_SOURCE ?= graph
demo: build
	$(GO) run ./simulators/demo --agent bin/otj-edge --sim bin/otj-sim --dir sim --source $(OTJ_DEMO_SOURCE)

clean:
	rm -rf bin dist bench/report.json bench/soak.json
