.PHONY: test lint fmt demo bench

test:          ## lint, types and the whole test suite (what CI runs)
	bash scripts/test

lint:
	.venv/bin/ruff check src tests benchmarks && .venv/bin/mypy

fmt:
	.venv/bin/ruff format src tests benchmarks && .venv/bin/ruff check --fix src tests benchmarks

demo:
	.venv/bin/tradelake demo

bench:
	.venv/bin/python benchmarks/ingest_atas.py
