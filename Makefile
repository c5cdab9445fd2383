# Two commands do all set-up on a fresh machine:
#   make demo   — the demo suite on the shipped weights (http://127.0.0.1:7860)
#   make test   — the test suite (what CI runs through .ci/run)
# Both create or reuse the virtual environment in .venv.

VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
# PyTorch pinned to the build this project is tested with; override for another platform, e.g.
#   make demo TORCH="torch torchvision"
TORCH ?= torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.installed

.PHONY: demo test browser clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/translate demo

# Debian's Chromium for the browser test (Playwright drives it; nothing else is downloaded).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get install -y -qq chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)) \
	      || echo "chromium could not be installed: the browser test will be skipped"; \
	  else echo "chromium is not installed: the browser test will be skipped"; fi; }

test: $(STAMP) browser
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) .pytest_cache
