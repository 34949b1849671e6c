#!/usr/bin/env bash
# Installs the Debian 12 packages releng-o-tron drives or builds against. Idempotent: installs only what is missing.
set -euo pipefail
packages=(ostree rpm createrepo-c rsync gnupg openssh-server libkrb5-dev dnf xz-utils make gcc pkg-config
          postgresql redis-server)  # the last two: the CeleryExecutor integration test (tests/integration)
# Debian's own python3 needs python3-venv (and headers for gssapi/krb5 wheels built from source).
if ! python3 -c "import ensurepip, venv" 2>/dev/null; then packages+=(python3-venv); fi
if ! python3 -c "import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h')))"; then packages+=(python3-dev); fi
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "installing Debian packages: ${missing[*]}"
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
