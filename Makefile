# The two commands a new user needs: `make run` and `make test`.
# Each sets up its own virtual environment first (once; re-done when pyproject changes).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# torch 2.14.1 / torchvision 0.29.1 are pinned so the install needs no multi-GB
# download where a local wheel cache has them; any torch>=2.4 works for genlab.
TORCH  ?= torch==2.14.1 torchvision==0.29.1
PROMPT ?= two small yellow stars above a large purple hexagon at night

.PHONY: run test lint setup clean browser serve

$(VENV)/.stamp-setup: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e ".[dev,style,upscale,web,data]"
	touch $@

setup: $(VENV)/.stamp-setup

run: setup
	$(BIN)/genlab generate "$(PROMPT)" --batch-size 4 --seed 42 --out outputs

# The studio's browser test drives Debian's Chromium; install it where we can (root
# with apt), otherwise that one test says why it skipped.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } || true

test: setup browser
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 -q

serve: setup
	$(BIN)/genlab serve

lint: setup
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) outputs
