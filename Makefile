# eksgate developer commands. Each target installs what it needs into .venv first.
.PHONY: setup test demo bench build

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
	scripts/bench.sh faults --clusters 200 --regions 2 --runs 3 --fault-percents 0,5,20
	scripts/bench-cli.sh

# sam build for x86_64 (offline), then the glibc check of every bootstrap.
build:
	scripts/sam-build.sh
