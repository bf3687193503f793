#!/usr/bin/env bash
# What the desktop simulator (gui/, bevy) needs from the distribution: udev's headers for
# gamepads (gilrs) to build; and to run its screenshot tests, a virtual X display (Xvfb) and
# Mesa's Vulkan drivers (lavapipe renders on the CPU where there is no GPU).
# Re-running it is cheap: it installs only what is missing.
set -euo pipefail
need=()
pkg-config --exists libudev 2>/dev/null || need+=(libudev-dev pkg-config)
command -v xvfb-run >/dev/null || need+=(xvfb xauth)
ls /usr/share/vulkan/icd.d/lvp_icd.*.json >/dev/null 2>&1 || need+=(mesa-vulkan-drivers libvulkan1)
ldconfig -p | grep -q libxkbcommon-x11.so.0 || need+=(libxkbcommon-x11-0)
"$(dirname "$0")/apt-install-missing" setup-gui --no-install-recommends "${need[@]}"
echo "setup-gui: $(ls /usr/share/vulkan/icd.d/ | tr '\n' ' ')"
