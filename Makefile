# eksgate developer commands. Each target installs what it needs into .venv first.
.PHONY: setup test demo bench lint-template

setup:
	scripts/bootstrap.sh

test:
	scripts/test.sh

demo:
	scripts/demo.sh

bench:
	scripts/bench.sh import
	scripts/bench.sh tag-events
	scripts/bench.sh session
