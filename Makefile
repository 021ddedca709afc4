# Front door for llem. A new machine needs two commands:
#   make run    install system packages, build, and run the quickstart
#   make test   install system packages, build, and run every test
#               (a -Werror build and an ASan+UBSan build)
# Other targets: build, install (PREFIX=/usr/local), docs, format, clean, deps.

PREFIX      ?= /usr/local
BUILD_DIR   ?= build
ASAN_DIR    ?= build-asan
JOBS        ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=

APT_PACKAGES = build-essential cmake pkg-config libfyaml-dev libjansson-dev \
               libcmocka-dev libopenblas-dev python3 python3-venv git patchelf
PY_VENV      = $(BUILD_DIR)/.venv
PY_PACKAGES  = pyyaml==6.0.2 jsonschema==4.23.0 torch==2.13.0 \
               transformers==5.24.0 safetensors==0.8.0 numpy==2.4.6 \
               pyarrow==26.0.1 duckdb==2.0.1 clang-format==18.1.8

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps build run test install docs clean pydeps format

all: build

# Installs only what is missing, so repeated runs are quick and offline.
deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' \
	    || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "llem: installing system packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_FLAGS)

build: deps $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS)

# The machine report, then the quickstart for real (results/ in this folder).
run: build
	./$(BUILD_DIR)/llem config
	./$(BUILD_DIR)/llem run examples/quickstart.yaml

# Python packages for the cross-checks (PyYAML, jsonschema, and torch +
# transformers for the engine check against Hugging Face) live in a venv
# inside the build tree, pinned, so the system Python is left alone.
pydeps: deps
	@[ -x $(PY_VENV)/bin/python ] || python3 -m venv $(PY_VENV)
	@$(PY_VENV)/bin/python -c 'import yaml, jsonschema, torch, transformers, safetensors, numpy, pyarrow, duckdb' 2>/dev/null \
	  && $(PY_VENV)/bin/clang-format --version 2>/dev/null | grep -q 'version 18.1.8' \
	  || $(PY_VENV)/bin/pip install -q $(PY_PACKAGES)

test: deps pydeps
	cmake -S . -B $(BUILD_DIR) -DLLEM_WERROR=ON \
	  -DPython3_EXECUTABLE=$(CURDIR)/$(PY_VENV)/bin/python $(CMAKE_FLAGS)
	cmake --build $(BUILD_DIR) -j $(JOBS)
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)
	cmake -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=Debug -DLLEM_WERROR=ON \
	  -DLLEM_SANITIZE=ON -DPython3_EXECUTABLE=$(CURDIR)/$(PY_VENV)/bin/python \
	  $(CMAKE_FLAGS)
	cmake --build $(ASAN_DIR) -j $(JOBS)
	cd $(ASAN_DIR) && ctest --output-on-failure -j $(JOBS) -LE python-only

install: build
	cmake --install $(BUILD_DIR) --prefix $(PREFIX)

# Regenerates docs/config-reference.md from the schema table.
docs: build
	./$(BUILD_DIR)/llem config --fields --format=markdown > docs/config-reference.md

# Rewrites every C file with the pinned clang-format (tests/format checks it).
format: pydeps
	find src include tests bench examples -name '*.[ch]' -print0 \
	  | xargs -0 $(PY_VENV)/bin/clang-format -i --style=file:.clang-format

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR)
