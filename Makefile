# Two commands do all the set-up: `make demo` (the default pipeline) and `make test` (all tests).
# Both create .venv if missing and install the project into it first.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# CPU wheel of PyTorch pinned first, so no dependency can pull a multi-GB CUDA build. On a GPU
# machine install your CUDA torch into .venv first, then run make (the pin is then satisfied).
TORCH  ?= torch==2.13.0
STAMP  := $(VENV)/.installed
CORES  ?= all

# Rules call the `gpt2zh` CLI: make the venv's scripts visible to Snakemake's jobs.
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: demo test test-fast test-deps lint bench clean help

help:
	@echo "make demo   - install into $(VENV) if needed, then build the data, train and evaluate the demo GPT-2 (snakemake --cores $(CORES) [train|eval])"
	@echo "make test   - install if needed, then run every test (unit + Snakemake end-to-end)"
	@echo "make test-fast - the quick loop while editing: every test not marked slow (no end-to-end runs)"
	@echo "make test-deps - apt-get chromium + fonts-noto-cjk (report tests) and slurm-wlm, slurmdbd, mariadb-server, munge (SLURM tests), if missing"
	@echo "make lint   - ruff, snakefmt --check, snakemake --lint"
	@echo "make bench  - stage benchmarks on the default corpus (prints MB/s); scale: benchmarks/scale_check.py"
	@echo "make clean  - remove results/, logs/ and .snakemake/"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $@

demo: $(STAMP)
	$(BIN)/snakemake --cores $(CORES)
	$(BIN)/snakemake --cores $(CORES) train
	$(BIN)/snakemake --cores $(CORES) eval
	@$(BIN)/python -c "import yaml; r = yaml.safe_load(open('config.yaml', encoding='utf-8'))['run']; \
	  print(f'Run {r} (config.yaml): reports results/reports/index.html (corpus) and results/reports/{r}/index.html (model), model results/train/{r}/model, eval results/eval/{r}/eval.md, training log logs/train/{r}.log')"

# The tests also run eval's next-line cloze under lm-evaluation-harness (the optional extra).
LMEVAL := $(VENV)/.lmeval
$(LMEVAL): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[dev,lmeval]"
	@touch $@

test: $(STAMP) $(LMEVAL) test-deps
	$(BIN)/python -m pytest

# The edit loop: every test not marked slow (the slow ones run Snakemake end to end, launch
# training, or start a browser or a cluster).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

# The report tests render the pages in headless Chromium, with Noto Sans CJK for Chinese text; the
# SLURM tests bring up a single-node cluster with accounting (tests/slurm/cluster.sh). Debian
# packages, installed only when missing (as root, or with passwordless sudo); quiet when present.
TEST_DEBS := chromium fonts-noto-cjk fontconfig slurm-wlm slurmdbd mariadb-server munge
test-deps:
	@command -v chromium >/dev/null && fc-list ':family=Noto Sans CJK SC' 2>/dev/null | grep -q . \
	  && test -x /usr/sbin/slurmctld && test -x /usr/sbin/slurmd && test -x /usr/sbin/slurmdbd \
	  && test -x /usr/sbin/mariadbd && test -x /usr/sbin/munged || { \
	  if [ "$$(id -u)" = 0 ]; then sudo=; elif sudo -n true 2>/dev/null; then sudo=sudo; \
	  else echo "as root: apt-get install $(TEST_DEBS)" >&2; exit 1; fi; \
	  $$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends $(TEST_DEBS); }

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/snakefmt --check Snakefile rules
	$(BIN)/snakemake --lint

POETRY := results/download/chinese_poetry/files

bench: $(STAMP)
	$(BIN)/snakemake --cores $(CORES)
	$(BIN)/python benchmarks/extract_bench.py $(POETRY)
	$(BIN)/python benchmarks/clean_bench.py $(POETRY)
	$(BIN)/python benchmarks/convert_bench.py $(POETRY)
	$(BIN)/python benchmarks/dedup_bench.py speed
	$(BIN)/python benchmarks/tokenize_bench.py results/dedup --tokenizer results/tokenizer
	$(BIN)/python benchmarks/mix_bench.py
	$(BIN)/python benchmarks/train_gpu.py --tiny

clean:
	rm -rf results logs .snakemake
