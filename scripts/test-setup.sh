#!/usr/bin/env bash
# What `npm test` needs beyond npm packages: Debian's chromium (browser and IDE tests), iproute2 and openssl
# (cluster tests make network namespaces and certificates), Debian's postgresql
# (the SQL tests start a server with its initdb and pg_ctl) and code-server (a real VS Code, for the IDE
# tests). Installs what is missing — Debian packages through apt as root (or with sudo that asks no
# password), code-server into its own cache folder — and is quiet when all are there. Where it cannot
# install, it says the exact command in one line; the tests that need it then fail saying so.
set -uo pipefail
cd "$(dirname "$0")/.."

# apt_install PACKAGE: installs a Debian package, or says how to.
apt_install() {
  local as_root=()
  [ "$(id -u)" -eq 0 ] || as_root=(sudo -n)
  if [ "$(id -u)" -eq 0 ] || sudo -n true 2>/dev/null; then
    echo "rdpipe tests: installing Debian's $1 (apt-get install $1)"
    "${as_root[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq "$1" >/dev/null \
      || echo "rdpipe tests: installing $1 failed; run: sudo apt-get install -y $1" >&2
  else
    echo "rdpipe tests: Debian's $1 is missing; install it with: sudo apt-get install -y $1" >&2
  fi
}

[ -x /usr/bin/chromium ] || apt_install chromium
command -v ip >/dev/null || apt_install iproute2
command -v openssl >/dev/null || apt_install openssl
command -v initdb >/dev/null || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || apt_install postgresql
bash scripts/install-code-server.sh >/dev/null \
  || echo "rdpipe tests: code-server is not installed; run: bash scripts/install-code-server.sh" >&2
exit 0
