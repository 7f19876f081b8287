#!/bin/sh
# Install the host tools the image engine (image_builder/) and its boot tests need, and make
# arm64 builds work on an x86 host: qemu-user-static runs the tree's arm64 binaries through
# binfmt_misc (mounted here where the host has not), qemu-system-arm + qemu-efi-aarch64 boot
# arm64 images in the tests. GRUB's arm64-efi modules are not installed here: the engine takes
# them from the target's own grub-efi-arm64-bin, fetched from the mirror (an arm64 package).
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
grub-common
ovmf
qemu-system-x86
qemu-system-arm
qemu-efi-aarch64
qemu-utils
zstd
xz-utils
bmap-tools
uidmap
arch-test
debian-archive-keyring
device-tree-compiler
ca-certificates
binutils
busybox
cpio
"

# The host's own GRUB platform; an x86 host runs arm64 trees through qemu-user.
if [ "$(uname -m)" = aarch64 ]; then
    PACKAGES="$PACKAGES grub-efi-arm64-bin"
else
    PACKAGES="$PACKAGES grub-efi-amd64-bin qemu-user-static binfmt-support"
fi

missing=""
for package in $PACKAGES; do
    status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
    case "$status" in
        "install ok installed") ;;
        *) missing="$missing $package" ;;
    esac
done

if [ -n "$missing" ]; then
    echo "install-build-host.sh: installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # shellcheck disable=SC2086  # word splitting of the package list is intended
    apt-get install -y -q --no-install-recommends $missing
fi

# Foreign architectures: only where this host is not arm64 itself.
if [ "$(uname -m)" != aarch64 ]; then
    binfmt=/proc/sys/fs/binfmt_misc
    if [ ! -e "$binfmt/register" ]; then
        # Containers and minimal hosts often lack the mount systemd would make.
        mount -t binfmt_misc binfmt_misc "$binfmt" 2>/dev/null \
            || echo "install-build-host.sh: cannot mount $binfmt: arm64 builds stay off" >&2
    fi
    if [ -e "$binfmt/register" ] && ! grep -qs '^enabled' "$binfmt/qemu-aarch64"; then
        update-binfmts --enable qemu-aarch64 2>/dev/null \
            || echo "install-build-host.sh: could not enable qemu-aarch64 in binfmt_misc" >&2
    fi
    # Quiet when arm64 builds work (make run prints only what needs attention).
    if ! arch-test arm64 >/dev/null 2>&1; then
        echo "install-build-host.sh: arm64 binaries do not run here: arm64 builds stay off" >&2
    fi
fi
