#!/usr/bin/env bash
# Installs the Debian 12 packages releng-o-tron drives or builds against. Idempotent: installs only what is missing
# (and says nothing when nothing is); apt's output goes to the set-up log (scripts/quietly.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
packages=(ostree rpm createrepo-c rsync gnupg openssh-server libkrb5-dev dnf xz-utils make gcc pkg-config
          rabbitmq-server  # the sandbox's AMQP broker (relengotron_sandbox/broker.py), as Fedora runs RabbitMQ
          postgresql redis-server  # these two: the CeleryExecutor integration test (tests/integration)
          # the sandbox's image formats (relengotron_sandbox/imagebuild) and the tools that open them:
          xorriso isomd5sum squashfs-tools qemu-utils fdisk e2fsprogs file
          cpio  # the world's kernel package carries a newc cpio initramfs, as dracut writes it (worldbuild)
          chromium chromium-driver)  # headless browser tests (relengotron_sandbox/browser.py: selenium + chromedriver)
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
apt=($sudo env DEBIAN_FRONTEND=noninteractive apt-get)
"$here/quietly.sh" "updating the Debian package lists…" "${apt[@]}" update
"$here/quietly.sh" "installing system packages (${missing[*]})…" \
    "${apt[@]}" install -y --no-install-recommends "${missing[@]}"
