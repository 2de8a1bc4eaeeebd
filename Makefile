# vkdeit build, test and benchmark entry points. `make help` lists them.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(HOME)/go/bin:$(PATH)

GO      ?= go
BIN     := bin/vkdeit
VIEW    := bin/vkdeit-view
# Debian/Ubuntu packages: the Vulkan loader, lavapipe (Vulkan on the CPU), the
# shader compiler and validator, the validation layer, and gcc for cgo.
# qemu-user runs the arm64 build of the CPU kernels (make test-arm64).
DEB_PKGS := mesa-vulkan-drivers libvulkan1 libvulkan-dev glslc spirv-tools libjpeg62-turbo-dev \
            vulkan-validationlayers gcc make ca-certificates qemu-user
# The viewer (cmd/vkdeit-view, make view) only: GLFW's X11 headers and
# libraries (GLFW is compiled from source by cgo and links -lGL), and for its
# window test an X server without a display, xwd and xdotool. The CLI needs
# none of them.
VIEW_DEB_PKGS := libx11-dev libxrandr-dev libxinerama-dev libxcursor-dev libxi-dev libxxf86vm-dev \
                 libgl-dev xvfb x11-apps xdotool
# Tests run with the Khronos validation layer and synchronization validation;
# any message it prints fails the test that caused it.
TEST_ENV := VKDEIT_VALIDATION=1 \
            VK_LAYER_ENABLES=VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT
FUZZTIME ?= 4s
# package:target pairs run for FUZZTIME each by `make fuzz` (and so by `make test`), through
# scripts/fuzz.sh (which retries once a bare deadline failure of Go 1.26's fuzz coordinator).
FUZZ := loader/checkpoint:FuzzSafetensorsHeader loader/checkpoint:FuzzUnpickle loader/checkpoint:FuzzSniff loader/checkpoint:FuzzTorchZip loader/checkpoint:FuzzTorchLegacy loader/imageio:FuzzDecodeImage loader/imageio:FuzzEXIF loader/imageio:FuzzPreprocessorConfig loader/hub:FuzzRepoID loader/hub:FuzzHubHeaders deit:FuzzHFConfig deit:FuzzLayout server:FuzzParseREST server:FuzzScanREST server:FuzzCheckInferWire eval:FuzzParseLabels eval:FuzzImageNetGroundTruth

.PHONY: help deps build view test vet fmt-check go-test fuzz lint shaders proto bench demo gpu-prep gpu-check clean test-coopmat test-arm64

help:
	@echo "make demo       install deps, build, classify samples/grace_hopper.jpg"
	@echo "make test       install deps, vet, run every test on lavapipe with validation, short fuzz"
	@echo "make build      build $(BIN)"
	@echo "make view       build the desktop viewer $(VIEW) (needs the X11 packages make deps installs)"
	@echo "make shaders    recompile shaders/*.comp into committed shaders/*.spv"
	@echo "make test-coopmat  cooperative-matrix and fp16 tests on the coopmat lane (Mesa 26 lavapipe)"
	@echo "make test-arm64 the CPU kernels (NEON) built for arm64 and tested under qemu-aarch64"
	@echo "make proto      regenerate server/inference (gRPC code) from its .proto"
	@echo "make bench      go benchmarks + vkdeit bench on random deit-small weights"
	@echo "make lint       staticcheck"
	@echo "make gpu-prep   build .gpubin/ to carry to a GPU machine without Go"
	@echo "make gpu-check  the one-call GPU check (see scripts/gpu-check.sh)"

# deps installs the Debian packages (the viewer's too: make test runs its
# test) when run as root, otherwise prints the exact command and stops.
# Already-installed packages are not reinstalled.
deps:
	@missing=""; for p in $(DEB_PKGS) $(VIEW_DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" -ne 0 ]; then \
	  echo "missing packages:$$missing"; \
	  echo "run: sudo apt-get update && sudo apt-get install -y$$missing"; exit 1; \
	fi; \
	echo "installing:$$missing"; \
	DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends$$missing

build:
	$(GO) build -buildvcs=auto -o $(BIN) ./cmd/vkdeit

view:
	$(GO) build -buildvcs=auto -o $(VIEW) ./cmd/vkdeit-view

test: deps vet fmt-check test-coopmat test-arm64 go-test fuzz

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

go-test:
	$(TEST_ENV) $(GO) test -timeout 30m -count=1 ./...

fuzz:
	@GO=$(GO) bash scripts/fuzz.sh $(FUZZTIME) $(FUZZ)

lint:
	$(GO) vet ./...
	command -v staticcheck >/dev/null || $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2
	staticcheck ./...

shaders:
	bash scripts/vulkan-lane.sh >/dev/null
	bash shaders/build.sh

# test-coopmat runs the cooperative-matrix and fp16 kernel tests and the fp16
# engine parity on the coopmat lane (scripts/vulkan-lane.sh: Mesa 26
# lavapipe, trixie's loader and validation layer, unpacked under
# $$VKDEIT_LANE_DIR), validation on. A lane that cannot be set up fails under
# CI and is skipped with a note elsewhere. The fp16 kernel tests without
# cooperative matrices (Test*F16) run in go-test on the system's lavapipe:
# Mesa 26 takes ~30 s to build each attention_regblock_f16 pipeline. The
# swapchain tests of gpu run here too: they present to a VK_EXT_headless_surface,
# which Mesa 26's lavapipe has and bookworm's lacks (there the viewer's window
# test presents to X11 instead).
COOPMAT_TESTS := DeviceFeatures|CoopMat|FP16|Precision|Swapchain|Engines|GPUStaging
test-coopmat:
	@lane=$$(bash scripts/vulkan-lane.sh) || { \
	  if [ -n "$$CI" ]; then echo "test-coopmat: FAILED: the coopmat lane cannot be set up (reason above)"; exit 1; fi; \
	  echo "test-coopmat: SKIPPED: the coopmat lane cannot be set up here (reason above); CI=true makes this a failure"; exit 0; }; \
	echo "test-coopmat on $$(head -1 $$lane/versions.txt)"; \
	$(TEST_ENV) CI=true VKDEIT_REQUIRE_COOPMAT=1 VKDEIT_REQUIRE_FP16=1 VKDEIT_REQUIRE_HEADLESS=1 VKDEIT_TEST_ENGINES=gpu/fp16 \
	  $(GO) test -timeout 20m -count=1 -exec "$$lane/bin/run" -run '$(COOPMAT_TESTS)' ./gpu/ ./engine/

# test-arm64 builds the tests of the CPU kernels (cpu, with its float64
# oracle internal/ref) for arm64, without cgo, and runs them under
# qemu-aarch64 (Debian's qemu-user): the NEON kernels against their generic
# twins and internal/ref with each ISA forced, tails, epilogues and
# NaN-poisoned outputs included (-short: about a minute). The emulated CPU
# is qemu's "max", which has FEAT_BF16, so the BFDOT bf16 kernel runs too;
# the unit selection is checked first on "max" (BFDOT) and on a Cortex-A72
# (no FEAT_BF16: the Go twin), each run told the unit it must find
# (VKDEIT_ARM64_BF16). Correctness only: emulated speed says nothing about
# real arm64 hardware. go vet checks the arm64 assembly first. A host where
# qemu-aarch64 cannot run the binary fails under CI and is skipped with a
# note elsewhere.
ARM64_ENV := GOARCH=arm64 CGO_ENABLED=0
ARM64_CPUS := max:neonbf16 cortex-a72:generic
test-arm64:
	@set -e; dir=$$(mktemp -d); trap 'rm -rf "$$dir"' EXIT; \
	$(ARM64_ENV) $(GO) vet ./cpu/ ./internal/ref/; \
	$(ARM64_ENV) $(GO) test -c -o $$dir/cpu.test ./cpu/; \
	if ! out=$$(qemu-aarch64 $$dir/cpu.test -test.run '^$$' 2>&1); then \
	  echo "test-arm64: qemu-aarch64 cannot run an arm64 binary here: $$out"; \
	  if [ -n "$$CI" ]; then echo "test-arm64: FAILED (make deps installs qemu-user)"; exit 1; fi; \
	  echo "test-arm64: SKIPPED (make deps installs qemu-user); CI=true makes this a failure"; exit 0; \
	fi; \
	echo "test-arm64 under $$(qemu-aarch64 --version | head -1)"; \
	for c in $(ARM64_CPUS); do \
	  out=$$(cd cpu && QEMU_CPU=$${c%%:*} VKDEIT_ARM64_BF16=$${c##*:} qemu-aarch64 $$dir/cpu.test -test.run '^TestARM64' -test.v 2>&1) || { echo "$$out"; exit 1; }; \
	  echo "test-arm64: -cpu $${c%%:*}: $$(echo "$$out" | grep -o 'bf16 unit: .*')"; \
	done; \
	QEMU_CPU=max VKDEIT_ARM64_BF16=neonbf16 $(ARM64_ENV) $(GO) test -short -timeout 20m -count=1 -exec qemu-aarch64 ./cpu/ ./internal/ref/

# proto regenerates the committed gRPC code of server/inference with Debian's
# protoc (package protobuf-compiler) and pinned plugins installed into a
# temporary GOBIN. The .proto has no go_package option (like the official
# one), so the Go import path is given with M.
PROTOC_GEN_GO      := google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
PROTOC_GEN_GO_GRPC := google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
PROTO_MAP          := Mopen_inference_grpc.proto=github.com/vkdeit/vkdeit/server/inference
proto:
	@command -v protoc >/dev/null || { echo "protoc missing: apt-get install -y protobuf-compiler"; exit 1; }
	@set -e; gobin=$$(mktemp -d); trap 'rm -rf "$$gobin"' EXIT; \
	GOBIN=$$gobin $(GO) install $(PROTOC_GEN_GO); \
	GOBIN=$$gobin $(GO) install $(PROTOC_GEN_GO_GRPC); \
	cd server/inference && PATH=$$gobin:$$PATH protoc -I . \
	  --go_out=. --go_opt=paths=source_relative,$(PROTO_MAP) \
	  --go-grpc_out=. --go-grpc_opt=paths=source_relative,$(PROTO_MAP) \
	  open_inference_grpc.proto

bench: build
	$(GO) test -run '^$$' -bench . -benchtime 5x ./gpu/ ./engine/ ./bench/
	$(BIN) bench --config small-distilled --device auto,cpu --ref --max-time 2m

demo: deps build
	bash scripts/demo.sh

# gpu-prep builds .gpubin/ (the CLI and test binaries) to carry to a GPU
# machine without Go; gpu-check runs there (or anywhere with a GPU and Go).
gpu-prep:
	bash scripts/gpu-prep.sh

gpu-check:
	bash scripts/gpu-check.sh

clean:
	rm -rf bin out
