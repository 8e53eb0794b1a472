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

# every bench script (modules shared by them start with _ or have no main); the memory-pressure bench needs a
# GPU and runs its small dry run on the CPU
bench: setup-test
	@source .host/host.env && export COMFYUI_DIR COMFYUI_PYTHON && for b in bench/[a-z]*.py; do \
	  grep -q '__main__' "$$b" || continue; echo "== $$b"; extra=""; \
	  if [ "$$b" = bench/memory_pressure.py ]; then \
	    "$$COMFYUI_PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" \
	      && extra="--out bench/results/memory" || extra="--tiny --sizes 8 --out bench/results/memory"; fi; \
	  "$$COMFYUI_PYTHON" "$$b" $$extra || exit 1; done

clean-host:
	rm -rf .host
