#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Install what pcpu_array needs to build and test, idempotently. Prints each
# thing it installs; prints nothing more when everything is present.
# Versions come from scripts/versions.env. `make` runs it only when no KDIR is given:
# with KDIR, the user brings the kernel and the toolchain that built it.

set -euo pipefail

# shellcheck source=common.sh
. "$(dirname "$0")/common.sh"

say() { echo "install-deps: $*"; }
die() { echo "install-deps: error: $*" >&2; exit 1; }

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo

apt_updated=
apt_update() {
	[ -n "$apt_updated" ] && return
	$SUDO apt-get update -qq
	apt_updated=1
}

# The two backports suites, with a low priority so that nothing is pulled from
# them unless asked for by version or with -t.
setup_backports() {
	local src=/etc/apt/sources.list.d/pcpu-backports.sources
	local pref=/etc/apt/preferences.d/pcpu-backports

	if [ ! -f "$src" ]; then
		say "adding trixie-backports and bookworm-backports (priority 50)"
		$SUDO tee "$src" >/dev/null <<EOS
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie-backports bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOS
		apt_updated=
	fi
	if [ ! -f "$pref" ]; then
		$SUDO tee "$pref" >/dev/null <<EOS
Package: *
Pin: release n=trixie-backports
Pin-Priority: 50

Package: *
Pin: release n=bookworm-backports
Pin-Priority: 50
EOS
		apt_updated=
	fi
}

installed_version() {
	dpkg-query -W -f='${Status} ${Version}\n' "$1" 2>/dev/null |
		awk '$3 == "installed" { print $4 }'
}

# apt_pin PACKAGE VERSION SUITE HINT: install exactly VERSION, taking its
# dependencies from SUITE, or stop with a message naming the package and how to
# override it.
apt_pin() {
	local pkg=$1 ver=$2 suite=$3 hint=$4

	[ "$(installed_version "$pkg")" = "$ver" ] && return
	apt_update
	if ! apt-cache madison "$pkg" | awk -F' [|] ' '{ print $2 }' |
		grep -qxF "$ver"; then
		die "$pkg=$ver is not in the archive any more. $hint"
	fi
	say "installing $pkg=$ver"
	$SUDO env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends -t "$suite" \
		"$pkg=$ver" >/dev/null
}

# apt_plain PACKAGE...: install from the machine's own suite when missing.
apt_plain() {
	local missing=() p

	for p in "$@"; do
		[ -n "$(installed_version "$p")" ] || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return
	apt_update
	say "installing ${missing[*]}"
	$SUDO env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

setup_backports

apt_plain build-essential flex bison bc libelf-dev libssl-dev cpio \
	busybox-static kmod xz-utils python3 python3-pip python3-matplotlib rsync \
	"clang-$LLVM_MAJOR" "lld-$LLVM_MAJOR" "llvm-$LLVM_MAJOR" \
	"libclang-$LLVM_MAJOR-dev"

# Build from a tree of our own only when no KDIR was given.
if [ -z "${KDIR:-}" ]; then
	apt_pin "linux-source-$LINUX_SERIES" "$LINUX_SOURCE_VERSION" trixie-backports \
		"Set LINUX_SOURCE_VERSION to another $LINUX_SERIES.x from 'apt-cache madison linux-source-$LINUX_SERIES', or KDIR= to an existing Rust-enabled kernel build."
fi

# FLAVOR=distro: the distribution's own kernel config, from its headers package of the
# same kernel, downloaded and unpacked into the kernel cache, not installed (the package
# depends on the distribution's compiler, gcc-14, which this machine's archives lack).
if [ -z "${KDIR:-}" ] && [ "${FLAVOR:-}" = distro ] && [ ! -f "$distro_config" ]; then
	apt_update
	apt-cache madison "$DISTRO_HEADERS_PACKAGE" | awk -F' [|] ' '{ print $2 }' |
		grep -qxF "$DISTRO_HEADERS_VERSION" ||
		die "$DISTRO_HEADERS_PACKAGE=$DISTRO_HEADERS_VERSION is not in the archive any more. Set DISTRO_HEADERS_VERSION to a version from 'apt-cache madison $DISTRO_HEADERS_PACKAGE' (and LINUX_SOURCE_VERSION to the same kernel)."
	say "unpacking Debian's config from $DISTRO_HEADERS_PACKAGE=$DISTRO_HEADERS_VERSION"
	tmp=$(mktemp -d)
	(cd "$tmp" && apt-get -qq -o APT::Sandbox::User="$(id -un)" download \
		"$DISTRO_HEADERS_PACKAGE=$DISTRO_HEADERS_VERSION") ||
		die "could not download $DISTRO_HEADERS_PACKAGE=$DISTRO_HEADERS_VERSION"
	mkdir -p "$(dirname "$distro_config")"
	dpkg-deb --fsys-tarfile "$tmp"/*.deb |
		tar -xOf - "./usr/src/$DISTRO_HEADERS_PACKAGE/.config" >"$distro_config.tmp" ||
		die "no .config in $DISTRO_HEADERS_PACKAGE"
	grep -q '^CONFIG_RUST=y' "$distro_config.tmp" ||
		die "$DISTRO_HEADERS_PACKAGE's config has no CONFIG_RUST=y: pcpu_array cannot build on it"
	mv "$distro_config.tmp" "$distro_config"
	rm -rf "$tmp"
fi

have_rustc=$(rustc --version 2>/dev/null | awk '{ print $2 }')
[ "$have_rustc" = "$RUSTC_VERSION" ] ||
	die "rustc $RUSTC_VERSION expected, found '${have_rustc:-none}'. Set RUSTC_VERSION and RUST_SRC_VERSION to a matching pair."
apt_pin rust-src "$RUST_SRC_VERSION" trixie-backports \
	"Set RUST_SRC_VERSION to the rust-src build matching rustc $RUSTC_VERSION ('apt-cache madison rust-src')."

apt_pin qemu-system-x86 "$QEMU_VERSION" bookworm-backports \
	"Set QEMU_VERSION to a version from 'apt-cache madison qemu-system-x86'."

if [ "$(bindgen --version 2>/dev/null | awk '{ print $2 }')" != "$BINDGEN_VERSION" ]; then
	say "installing bindgen-cli $BINDGEN_VERSION (cargo)"
	cargo install --quiet --locked --version "$BINDGEN_VERSION" bindgen-cli
fi

if [ "$(pip3 show virtme-ng 2>/dev/null | awk '/^Version:/ { print $2 }')" != "$VIRTME_NG_VERSION" ]; then
	say "installing virtme-ng $VIRTME_NG_VERSION (pip)"
	pip3 install --quiet --disable-pip-version-check "virtme-ng==$VIRTME_NG_VERSION"
fi
