#!/usr/bin/env bash
# Installs what stein needs and is missing: a Rust toolchain check, a Vulkan driver, and for
# the Python package's tests Python 3 with venv.
# On a machine without a GPU the driver is Mesa's lavapipe (Debian/Ubuntu: mesa-vulkan-drivers),
# a real Vulkan 1.3 device that runs on the CPU.
set -euo pipefail

if ! command -v cargo >/dev/null 2>&1; then
    echo "setup: cargo not found; install Rust from https://rustup.rs (stable, 1.89 or newer)" >&2
    exit 2
fi

have_vulkan_icd() {
    local d
    for d in /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/share/vulkan/icd.d; do
        if compgen -G "$d/*.json" >/dev/null 2>&1; then
            return 0
        fi
    done
    [ -n "${VK_ICD_FILENAMES:-}${VK_DRIVER_FILES:-}" ]
}

if [ "$(uname -s)" = "Linux" ] && ! have_vulkan_icd; then
    if command -v apt-get >/dev/null 2>&1; then
        echo "setup: no Vulkan driver found; installing Mesa's lavapipe (mesa-vulkan-drivers)" >&2
        sudo_cmd=""
        if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
        $sudo_cmd apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq mesa-vulkan-drivers >/dev/null
    else
        echo "setup: no Vulkan driver found; install your GPU's Vulkan driver or Mesa's lavapipe" >&2
        exit 2
    fi
fi

# The Python package's suite (scripts/test-python.sh) makes a virtualenv: Debian and Ubuntu
# ship `venv` (ensurepip) apart from python3.
if [ "$(uname -s)" = "Linux" ] && ! python3 -c "import ensurepip, venv" >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1; then
        echo "setup: python3 with venv not found; installing python3-venv" >&2
        sudo_cmd=""
        if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
        $sudo_cmd apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq python3 python3-venv >/dev/null
    else
        echo "setup: python3 with venv not found; install Python 3.9 or newer" >&2
        exit 2
    fi
fi
