#!/usr/bin/env bash
# Installs code-server (a real VS Code in the browser) for the end-to-end IDE tests and `npm run ide`,
# into its own prefix so the repo's `npm ci` stays lean. A no-op when it is already installed.
set -euo pipefail
code_server_version=4.100.3
prefix="${RDPIPE_CODE_SERVER_DIR:-$HOME/.cache/rdpipe/code-server-$code_server_version}"
binary="$prefix/node_modules/.bin/code-server"
# Written last, so an install that failed halfway (code-server's postinstall builds native modules) is redone.
installed_marker="$prefix/.installed"
if [ -f "$installed_marker" ]; then
  echo "$binary"
  exit 0
fi

as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo)
# Native modules of code-server build against these; ripgrep provides the rg binary seeded below.
build_packages=(libkrb5-dev libsecret-1-dev libx11-dev libxkbfile-dev pkg-config ripgrep)
missing_packages=()
for package in "${build_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing_packages+=("$package")
done
if [ "${#missing_packages[@]}" -gt 0 ]; then
  "${as_root[@]}" apt-get update
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y "${missing_packages[@]}"
fi

# @vscode/ripgrep downloads rg from GitHub at install time; seeding its download cache with
# Debian's rg keeps the install offline.
ripgrep_cache="${TMPDIR:-/tmp}/vscode-ripgrep-cache-1.15.11"
ripgrep_tarball="$ripgrep_cache/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz"
if [ ! -f "$ripgrep_tarball" ]; then
  mkdir -p "$ripgrep_cache"
  tarball_staging="$(mktemp -d)"
  cp /usr/bin/rg "$tarball_staging/rg"
  tar -czf "$ripgrep_tarball" -C "$tarball_staging" rg
  rm -rf "$tarball_staging"
fi

mkdir -p "$prefix"
npm_config_yes=true npm_config_unsafe_perm=true \
  npm install --prefix "$prefix" --no-audit --no-fund --no-save "code-server@$code_server_version"
touch "$installed_marker"
echo "$binary"
