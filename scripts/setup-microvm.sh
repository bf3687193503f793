#!/usr/bin/env bash
# Sets up the `microvm` worker backend: QEMU (from the distribution's packages) and a guest kernel
# taken from Debian's cloud kernel package, with the virtio modules the guest needs.
# Everything goes to ${PADDOCK_MICROVM_DIR:-~/.cache/paddock/microvm}; nothing is fetched at run
# time. Re-running it is cheap: it stops at what is already there.
set -euo pipefail
dir="${PADDOCK_MICROVM_DIR:-$HOME/.cache/paddock/microvm}"
mkdir -p "$dir"

need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v lz4 >/dev/null || need+=(lz4)
"$(dirname "$0")/apt-install-missing" setup-microvm --no-install-recommends "${need[@]}"

if [[ -f "$dir/kernel/vmlinux" && -f "$dir/kernel/release" ]]; then
    echo "setup-microvm: guest kernel $(cat "$dir/kernel/release") in $dir/kernel"
    exit 0
fi

# The newest cloud kernel the package index knows (a small kernel made for VMs, with PVH entry).
pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
if [[ -z "$pkg" ]]; then
    apt-get update -qq
    pkg=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
fi
release=${pkg#linux-image-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "setup-microvm: fetching $pkg"
(cd "$work" && apt-get download -qq "$pkg" 2>/dev/null)
dpkg -x "$work"/"$pkg"_*.deb "$work/root"

# QEMU's microvm boots an uncompressed kernel through its PVH entry: take the LZ4 payload out of
# the bzImage (the frame magic 02 21 4c 18 starts it).
vmlinuz="$work/root/boot/vmlinuz-$release"
offset=$(grep -obUaP '\x02\x21\x4c\x18' "$vmlinuz" | head -1 | cut -d: -f1)
if [[ -z "$offset" ]]; then
    echo "setup-microvm: no LZ4 payload in $vmlinuz" >&2
    exit 1
fi
tail -c +"$((offset + 1))" "$vmlinuz" | lz4 -dc > "$work/vmlinux" 2>/dev/null || true
if ! head -c 4 "$work/vmlinux" | grep -q 'ELF'; then
    echo "setup-microvm: extracting the kernel from $vmlinuz failed" >&2
    exit 1
fi

mkdir -p "$work/kernel/modules"
mods="$work/root/lib/modules/$release/kernel"
for m in drivers/virtio/virtio.ko drivers/virtio/virtio_ring.ko drivers/virtio/virtio_mmio.ko drivers/char/virtio_console.ko; do
    cp "$mods/$m" "$work/kernel/modules/"
done
mv "$work/vmlinux" "$work/kernel/vmlinux"
echo "$release" > "$work/kernel/release"
rm -rf "$dir/kernel"
mv "$work/kernel" "$dir/kernel"
echo "setup-microvm: guest kernel $release in $dir/kernel"
