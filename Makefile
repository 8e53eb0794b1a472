# GenAssist: `make run` serves ComfyUI with the pack loaded; `make test` runs the whole suite.
# Both set up what is missing first (scripts/setup_host.sh). COMFYUI_DIR=/path/to/ComfyUI (and
# COMFYUI_PYTHON=/path/to/python) use an existing ComfyUI instead of the local .host build.
SHELL := /bin/bash
PORT ?= 8188
PYTEST_ARGS ?=

.PHONY: setup setup-test run test test-gpu lint bench clean-host

setup:
	@scripts/setup_host.sh

setup-test:
	@scripts/setup_host.sh --test

run: setup
	@scripts/run_host.sh --port $(PORT)

test: setup-test
	@scripts/run_tests.sh $(PYTEST_ARGS)

# the host and e2e layers with ComfyUI on CUDA (no --cpu), as users run it
test-gpu: setup-test
	@GENASSIST_TEST_DEVICE=cuda scripts/run_tests.sh host e2e $(PYTEST_ARGS)

lint: setup-test
	@source .host/host.env && "$$COMFYUI_PYTHON" -m ruff check .

bench: setup-test
	@source .host/host.env && for b in bench/*.py; do echo "== $$b"; "$$COMFYUI_PYTHON" "$$b" || exit 1; done

clean-host:
	rm -rf .host
