#!/usr/bin/env bash
# Installs everything vmcert and its tests need on a fresh Debian 12 machine (run as root or with sudo).
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

APT_PACKAGES=(
  qemu-system-x86 qemu-utils ovmf        # boots (TCG or KVM), image conversion, UEFI firmware
  fdisk e2fsprogs dosfstools             # partition tables and file systems for test images
  mtools                                 # the gen2 test image's EFI system partition, written unmounted
  btrfs-progs xfsprogs lvm2              # file-system signatures for inspection tests
  mmdebstrap debootstrap                 # the Debian test-image recipe
  extlinux syslinux-common               # the test image's bootloader
  genisoimage                            # the NoCloud cidata seed
  openssh-server openssh-client          # a real sshd for SSH-session tests
  sudo                                   # SSH-session tests: sudo -n as a non-root user
  python3-pip                            # pip for Debian's own python3 (a pyenv python has its own)
  cpio busybox gawk                      # probe-text tests: the shells, awks and cpio a guest may have
  zstd lz4 bzip2 xz-utils                # probe-text tests: every initramfs compression
  db5.3-util                             # offline family tests: rpm Berkeley DB files (db5.3_load)
  shellcheck                             # fact-text lint: every probe text as shipped
  postgresql                             # publishing pipeline tests: a PostgreSQL started by the tests
  chromium                               # web console tests: Playwright drives Debian's Chromium
)
# Azurite, the local blob-storage default, needs Node.js and npm; a machine may already have them.
command -v npm >/dev/null 2>&1 || APT_PACKAGES+=(nodejs npm)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# The gen2 recipe fetches systemd-boot-efi with the host's `apt-get download`: it needs package lists.
if [ "${#missing[@]}" -gt 0 ] || ! compgen -G '/var/lib/apt/lists/*_Packages' >/dev/null; then
  $SUDO apt-get update -qq
fi
if [ "${#missing[@]}" -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Debian's own python3 is marked externally managed (PEP 668); installing there as root is the intent.
PIP_FLAGS=(-q --disable-pip-version-check)
if python3 -c 'import os, sys, sysconfig
sys.exit(not os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")))'; then
  PIP_FLAGS+=(--break-system-packages)
fi
python3 -m pip install "${PIP_FLAGS[@]}" -e '.[test,lint,dev]'
if [ -f package.json ]; then
  npm ci --silent --no-audit --no-fund
fi
