# Convenience targets; each wraps scripts/dev.py, which needs only Python 3.11 and pip.
PY ?= python3

.PHONY: demo test test-slow test-clients console-test bench bench-sync soak clean
demo:
	$(PY) scripts/dev.py demo
test:
	$(PY) scripts/dev.py test
test-slow:  # the heavier tests: more sync faults, a full disk, every stateful example
	$(PY) scripts/dev.py test -m slow
test-clients:  # real DVID clients (dvidtools) against dvidctl serve: installs the 'clients' extra
	$(PY) scripts/dev.py test-clients
console-test:  # the web console in Chromium alone (tests/console; apt-get install chromium)
	$(PY) scripts/dev.py test -m browser tests/console
bench:
	$(PY) scripts/dev.py bench
bench-sync:  # issue 10's sync benchmark at full size (ARGS=--quick for a small run)
	$(PY) scripts/dev.py bench sync $(ARGS)
clean:
	rm -rf .venv .pytest_cache .hypothesis
