#!/bin/sh
# Install the host tools the image engine (image_builder/) and its boot tests need.
# Idempotent: asks dpkg what is missing and only then runs apt-get update + install.
# Recommends are skipped on purpose: qemu-system-x86's recommends pull a desktop (~900 MB).
set -eu

if [ "$(id -u)" != 0 ]; then
    echo "install-build-host.sh: must run as root" >&2
    exit 1
fi

PACKAGES="
mmdebstrap
squashfs-tools
genimage
mtools
dosfstools
e2fsprogs
fdisk
grub-efi-amd64-bin
grub-common
ovmf
qemu-system-x86
qemu-utils
zstd
xz-utils
bmap-tools
uidmap
arch-test
debian-archive-keyring
ca-certificates
"

missing=""
for package in $PACKAGES; do
    status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
    case "$status" in
        "install ok installed") ;;
        *) missing="$missing $package" ;;
    esac
done

if [ -z "$missing" ]; then
    echo "install-build-host.sh: all build host packages present"
    exit 0
fi

echo "install-build-host.sh: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086  # word splitting of the package list is intended
apt-get install -y -q --no-install-recommends $missing
