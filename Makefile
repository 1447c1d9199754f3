# The two commands of the README, and the steps they are made of.
#   make book   - create .venv, install the package with the book's extras, execute the chapters,
#                 write the HTML to _build/html
#   make test   - unit tests, every chapter under nbval (smoke profile), the book build, and a
#                 real-browser check of the built HTML
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# Chapters execute under this profile when the book is built (smoke: minutes; cpu: longer runs).
BOOK_PROFILE ?= smoke

.PHONY: help install book test unit notebooks mnist-torchvision browser-check browser-deps colab-check lint clean

help:
	@echo "make book   build the HTML book into _build/html"
	@echo "make test   run every test: unit tests, chapters under nbval, book build, browser check"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[book,test,text]"
	touch $(STAMP)

install: $(STAMP)

book: $(STAMP)
	$(BIN)/python tools/offline_assets.py
	rm -rf _build/html _build/.jupyter_cache
	DDPM_TUTORIAL_PROFILE=$(BOOK_PROFILE) DDPM_TUTORIAL_OFFLINE=1 \
		$(BIN)/jupyter-book build --all --warningiserror --keep-going .
	@echo "The book is in _build/html/index.html"

unit: $(STAMP)
	$(BIN)/python tools/colab_cell.py
	DDPM_TUTORIAL_OFFLINE=1 $(BIN)/python -m pytest tests --ignore=tests/book --ignore=tests/colab -q -p no:cacheprovider

# The chapters run on both MNIST sources: under nbval on torchvision's raw files, written here
# from the offline digits in another order and count (4,200 / 800, shuffled; what Colab's
# download gives, without a network), and in the book build on the offline digits (4,000 /
# 1,000, sorted by class). `make notebooks NOTEBOOKS_MNIST_ROOT=` runs nbval offline too.
NOTEBOOKS_MNIST_ROOT ?= $(CURDIR)/_build/mnist-torchvision

mnist-torchvision: $(STAMP)
	DDPM_TUTORIAL_OFFLINE=1 $(BIN)/python tools/fake_torchvision_mnist.py $(CURDIR)/_build/mnist-torchvision

notebooks: $(STAMP) mnist-torchvision
	DDPM_TUTORIAL_PROFILE=smoke DDPM_TUTORIAL_OFFLINE=1 \
		DDPM_TUTORIAL_MNIST_ROOT=$(NOTEBOOKS_MNIST_ROOT) \
		$(BIN)/python -m pytest --nbval-lax book -q -p no:cacheprovider

browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

browser-check: $(STAMP) browser-deps
	DDPM_TUTORIAL_REQUIRE_BOOK=1 $(BIN)/python -m pytest tests/book -q -p no:cacheprovider

# A reader in Colab: a fresh venv, a chapter's own install cell pointed at this checkout.
colab-check: $(STAMP)
	DDPM_TUTORIAL_COLAB_CHECK=1 $(BIN)/python -m pytest tests/colab -q -p no:cacheprovider

test: lint unit notebooks book browser-check colab-check

# ruff (lint and format) on the code, unused imports in the chapters, and the package's layers:
# every import points down them, with no circle (tools/check_layers.py)
lint: $(STAMP)
	$(BIN)/ruff check ddpm_tutorial tests benchmarks tools
	$(BIN)/ruff format --check ddpm_tutorial tests benchmarks tools
	$(BIN)/ruff check book --select F401
	$(BIN)/python tools/check_layers.py

clean:
	rm -rf _build $(VENV)
