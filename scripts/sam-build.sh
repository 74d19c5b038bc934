#!/usr/bin/env bash
# Builds the SAM application offline (`sam build`, x86_64, cargo-lambda with the zig linker)
# into .aws-sam/build, then checks that no function's bootstrap needs a glibc newer than Amazon
# Linux 2023's 2.34.
#
# sam build hashes and may copy the whole CodeUri folder, the repository, whose target/ takes
# gigabytes. So the script builds from a copy of the files git tracks or would track, in
# .local/sam-src, with Cargo's target folder kept beside it for incremental builds.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/env.sh
scripts/bootstrap.sh

# cargo-lambda finds zig through the venv's python, so the venv comes first on PATH.
export PATH="$root/.venv/bin:$PATH" SAM_CLI_TELEMETRY=0 CARGO_NET_OFFLINE=true
source_copy="$root/.local/sam-src"
rm -rf "$source_copy"
mkdir -p "$source_copy"
git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$source_copy"
export CARGO_TARGET_DIR="$root/.local/sam-target"

echo "== sam build"
(cd "$source_copy" && sam build --build-dir "$root/.aws-sam/build" --cache-dir "$root/.aws-sam/cache")

max_glibc="2.34"
status=0
for bootstrap in .aws-sam/build/*/bootstrap; do
  needed=$(objdump -T "$bootstrap" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -1)
  if [[ -z "$needed" ]]; then
    echo "$bootstrap: links no glibc symbols"
  elif [[ "$(printf '%s\n%s\n' "$needed" "$max_glibc" | sort -V | tail -1)" != "$max_glibc" ]]; then
    echo "$bootstrap: needs GLIBC_$needed, newer than Amazon Linux 2023's $max_glibc" >&2
    status=1
  else
    echo "$bootstrap: needs at most GLIBC_$needed ($(du -h "$bootstrap" | cut -f1))"
  fi
done
exit "$status"
