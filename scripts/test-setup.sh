#!/usr/bin/env bash
# What `npm test` needs beyond npm packages: Debian's chromium (browser and IDE tests) and code-server
# (a real VS Code, for the IDE tests). Installs what is missing — chromium through apt as root (or with
# sudo that asks no password), code-server into its own cache folder — and is quiet when both are there.
# Where it cannot install, it says the exact command in one line; the tests that need it then fail saying so.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/chromium ]; then
  as_root=()
  [ "$(id -u)" -eq 0 ] || as_root=(sudo -n)
  if [ "$(id -u)" -eq 0 ] || sudo -n true 2>/dev/null; then
    echo "rdpipe tests: installing Debian's chromium (apt-get install chromium)"
    "${as_root[@]}" apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq chromium >/dev/null \
      || echo "rdpipe tests: installing chromium failed; run: sudo apt-get install -y chromium" >&2
  else
    echo "rdpipe tests: Debian's chromium is missing; install it with: sudo apt-get install -y chromium" >&2
  fi
fi
bash scripts/install-code-server.sh >/dev/null \
  || echo "rdpipe tests: code-server is not installed; run: bash scripts/install-code-server.sh" >&2
exit 0
