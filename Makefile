# Convenience targets; each wraps scripts/dev.py, which needs only Python 3.11 and pip.
PY ?= python3

.PHONY: demo test bench soak clean
demo:
	$(PY) scripts/dev.py demo
test:
	$(PY) scripts/dev.py test
bench:
	$(PY) scripts/dev.py bench
clean:
	rm -rf .venv .pytest_cache .hypothesis
