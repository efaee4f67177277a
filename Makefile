# otj-edge build. The two set-up commands are `make demo` and `make test`.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
PKG := github.com/otj-edge/otj-edge
LDFLAGS := -X $(PKG)/agent.Version=$(VERSION) -X $(PKG)/agent.Commit=$(COMMIT)
# -race needs cgo; use it wherever a C compiler is present.
RACE := $(shell $(GO) env CGO_ENABLED 2>/dev/null | grep -q 1 && command -v gcc >/dev/null && echo -race)
DIST_TARGETS := linux/amd64 linux/arm64 windows/amd64

.PHONY: all build dist test vet fmt-check bench demo clean

all: build

## build: bin/otj-edge and bin/otj-sim for this host
build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/otj-edge ./cmd/otj-edge
	$(GO) build -trimpath -o bin/otj-sim ./cmd/otj-sim

## dist: static, stripped, CGO-off binaries for every target in dist/
dist:
	@set -e; for t in $(DIST_TARGETS); do \
		os=$${t%/*}; arch=$${t#*/}; ext=; [ $$os = windows ] && ext=.exe; \
		out=dist/otj-edge-$$os-$$arch$$ext; \
		echo "build $$out"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags "-s -w $(LDFLAGS)" -o $$out ./cmd/otj-edge; \
	done

## vet: go vet and gofmt
vet: fmt-check
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## test: vet + every test (with -race where cgo is available; -count=1: never a cached pass)
test: vet
	$(GO) test $(RACE) -count=1 -timeout 30m ./...

## bench: Go benchmarks and scale scenarios → bench/report.json
bench:
	$(GO) run ./simulators/bench -out bench/report.json

## demo: simulators + agent on a generated config (see README)
demo:
	@echo "make demo: the end-to-end demo arrives with the agent wiring (issue 8)."
	@echo "Today it is not there yet; 'make build' and 'otj-sim --dir sim' start the simulators that exist."
	@exit 1

clean:
	rm -rf bin dist bench/report.json
