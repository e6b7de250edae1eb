# SPDX-License-Identifier: GPL-2.0
#
# The Rust cfgs that pick code per kernel version where the kernel's Rust API changed.
# Included by Kbuild (pcpu_array.ko and its test build) and by consumer.mk (every consumer,
# whose binding compiles rust/api/typed.rs too), so that both sides see the same cfgs.
#
# - pcpu_array_kernel_7_3: Linux 7.3 or later. pin-init's `PinInit::__pinned_init` became
#   `PinInit::__init` (called through `pin_init::raw_try_init`), and a module parameter's
#   `value()` returns the value instead of a reference to it.
#
# VERSION and PATCHLEVEL are the kernel build's own (its top Makefile exports them); the
# patch level is padded to two digits, so 7.3 compares as 703.

pcpu_array_kernel_code := $(VERSION)$(if $(filter 0 1 2 3 4 5 6 7 8 9,$(PATCHLEVEL)),0)$(PATCHLEVEL)
rustflags-y += $(if $(call test-ge,$(pcpu_array_kernel_code),703),--cfg pcpu_array_kernel_7_3)
# The same for the C files: PCPU_ARRAY_KERNEL_7_3 (checkpatch rejects LINUX_VERSION_CODE).
ccflags-y += $(if $(call test-ge,$(pcpu_array_kernel_code),703),-DPCPU_ARRAY_KERNEL_7_3)
