# The two quick-start commands: `make demo` and `make test`. Both build their own virtual
# environments from PyPI, so a fresh clone needs nothing but python3 (>= 3.11) and make.
PY ?= python3
VENV := .venv
UPVENV := .venv-uploader
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
UPSTAMP := $(UPVENV)/.installed

.PHONY: demo test lint typecheck pytest deploy-tools uploader-only bench schema clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[bot,uploader,dev]'
	touch $@

# The uploader must install and pass its tests without discord.py, aiohttp or aiosqlite.
$(UPSTAMP): pyproject.toml
	$(PY) -m venv $(UPVENV)
	$(UPVENV)/bin/pip install --quiet --upgrade pip
	$(UPVENV)/bin/pip install --quiet -e '.[uploader]' 'pytest>=8' 'pytest-asyncio>=0.24' 'hypothesis>=6.100'
	touch $@

demo: $(STAMP)
	$(BIN)/colony-bot demo

lint: $(STAMP)
	$(BIN)/ruff check wire bot uploader tests bench deploy

typecheck: $(STAMP)
	$(BIN)/mypy --strict wire bot uploader deploy/colony-backup.py

pytest: $(STAMP) deploy-tools
	$(BIN)/pytest

# tests/deploy checks the systemd units with systemd-analyze. Where it is missing and cheap to get
# (root on Debian/Ubuntu) install it; elsewhere those checks skip and say so.
deploy-tools:
	@command -v systemd-analyze >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && { apt-get install -y -qq systemd >/dev/null 2>&1 \
	       || { apt-get update -qq && apt-get install -y -qq systemd; } >/dev/null 2>&1; }; } \
	  || echo "note: systemd-analyze is not installed; the systemd unit checks will be skipped"

uploader-only: $(UPSTAMP)
	COLONY_UPLOADER_ONLY=1 $(UPVENV)/bin/pytest -m uploader_only tests/wire tests/uploader

test: lint typecheck pytest uploader-only

bench: $(STAMP)
	$(BIN)/python -m bench

schema: $(STAMP)
	$(BIN)/python -m wire.schema

clean:
	rm -rf $(VENV) $(UPVENV) .mypy_cache .ruff_cache .pytest_cache
