# SPDX-License-Identifier: GPL-2.0
#
# Sourced by the project's scripts: the pinned versions, the toolchain on PATH, and
# $top, the repository root.

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=versions.env
. "$top/scripts/versions.env"
export PATH="/usr/lib/llvm-$LLVM_MAJOR/bin:$HOME/.cargo/bin:$PATH"
