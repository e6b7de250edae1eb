# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Sourced by every script of the project: the pinned versions, $top (the repository
# root) and the toolchain on PATH. This is the one place that sets PATH: the Makefile
# only calls scripts, and each of them sources this file.

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=versions.env
. "$top/scripts/versions.env"
# Debian's llvm-19 is not on the default PATH; cargo installs bindgen in ~/.cargo/bin.
export PATH="/usr/lib/llvm-$LLVM_MAJOR/bin:$HOME/.cargo/bin:$PATH"
# Debian's rust-src puts the standard library's source here, not in rustc's sysroot; the
# kernel build and its rust-analyzer target read it.
export RUST_LIB_SRC=${RUST_LIB_SRC:-/usr/src/rustc-$RUSTC_VERSION/library}
# FLAVOR=distro's kernel configuration, as install-deps.sh unpacks it from the pinned headers
# package (DISTRO_HEADERS_PACKAGE, DISTRO_HEADERS_VERSION).
distro_config=${PCPU_ARRAY_CACHE:-$HOME/.cache/pcpu_array}/distro/${DISTRO_HEADERS_PACKAGE}_${DISTRO_HEADERS_VERSION}.config
# What a kernel build's own configuration says about its C compiler, as make arguments for
# kbuild: LLVM=1 for a kernel built by clang, nothing for one built by GCC. An external
# module must be built with the kernel's own compiler.
kbuild_cc_args() {
	sed -n 's/^CONFIG_CC_IS_CLANG=y$/LLVM=1/p' "$1/.config"
}
