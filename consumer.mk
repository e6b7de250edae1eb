# SPDX-License-Identifier: GPL-2.0
#
# What a module that uses pcpu_array includes from its Kbuild, after its obj-m lines:
#
#   obj-m += my_module.o
#   include $(PCPU_ARRAY)/consumer.mk
#
# with PCPU_ARRAY, the absolute path of a built pcpu_array tree, on the make command line,
# and the kernel's own C compiler: LLVM=1 where the kernel's config says CONFIG_CC_IS_CLANG,
# nothing for a GCC-built kernel, which the sed below picks from that config:
#
#   make -C $KDIR M=$PWD PCPU_ARRAY=/path/to/pcpu_array \
#       $(sed -n 's/^CONFIG_CC_IS_CLANG=y$/LLVM=1/p' $KDIR/.config)
#
# It gives C files include/pcpu_array.h, modpost pcpu_array's Module.symvers, and each Rust
# module of the directory (an obj-m entry whose source is a .rs file) the Rust binding: a
# self-contained pcpu_array.rs, written next to the module's source by binding/generate.sh
# before the module is compiled, that the module declares with `mod pcpu_array;`. See
# Documentation/pcpu_array.rst, "Using pcpu_array from your Rust module".

ifeq ($(PCPU_ARRAY),)
$(error PCPU_ARRAY must name the pcpu_array tree: make ... PCPU_ARRAY=/path/to/pcpu_array)
endif

# The compiler must be the kernel's own (clang with LLVM=1, or GCC): the kernel's flags are
# that compiler's, and kbuild itself only warns when they differ, then fails on the first
# flag the other compiler does not know. CC is this build's compiler (the kernel's Makefile
# exports it); the CONFIG_ lines are the kernel's configuration.
ifneq ($(CONFIG_CC_IS_CLANG)$(CONFIG_CC_IS_GCC),)
pcpu_array_kernel_cc := $(if $(CONFIG_CC_IS_CLANG),clang,gcc)
pcpu_array_this_cc := $(if $(findstring clang,$(notdir $(CC))),clang,gcc)
ifneq ($(pcpu_array_kernel_cc),$(pcpu_array_this_cc))
$(error the kernel in $(objtree) was built by $(pcpu_array_kernel_cc), this build uses \
	$(pcpu_array_this_cc) ($(CC)): $(if $(CONFIG_CC_IS_CLANG),add LLVM=1,drop LLVM=1), or use the \
	command line of consumer.mk, which takes it from the kernel's config)
endif
endif

# The binding compiles rust/api/typed*.rs, which picks code per kernel version, and its
# inline hit path (rust/abi/inline_hit.rs), whose build-time choices are the module's.
include $(PCPU_ARRAY)/kernel_version.mk
include $(PCPU_ARRAY)/fast_path.mk

ccflags-y += -I$(PCPU_ARRAY)/include
KBUILD_EXTRA_SYMBOLS += $(PCPU_ARRAY)/Module.symvers

pcpu_array_rust_mods := $(foreach m,$(obj-m),$(if $(wildcard $(src)/$(m:.o=.rs)),$(m)))
pcpu_array_binding_of = $(patsubst ./%,%,$(dir $(1)))pcpu_array.rs
pcpu_array_bindings := $(sort $(foreach m,$(pcpu_array_rust_mods),$(call pcpu_array_binding_of,$(m))))
pcpu_array_binding_src := $(PCPU_ARRAY)/binding/generate.sh $(PCPU_ARRAY)/binding/pcpu_array.rs \
	$(PCPU_ARRAY)/rust/sys/abi_types.rs $(PCPU_ARRAY)/rust/sys/pin_init_compat.rs \
	$(PCPU_ARRAY)/rust/semantics/gfp.rs $(PCPU_ARRAY)/rust/semantics/hardening.rs \
	$(PCPU_ARRAY)/rust/api/typed.rs $(PCPU_ARRAY)/rust/api/typed_array.rs \
	$(PCPU_ARRAY)/rust/api/typed_box.rs $(PCPU_ARRAY)/rust/abi/inline_hit.rs \
	$(PCPU_ARRAY)/rust/magazines/hit.rs \
	$(PCPU_ARRAY)/rust/percpu/inline_percpu.rs

$(foreach m,$(pcpu_array_rust_mods),$(eval $(obj)/$(m): $(obj)/$(call pcpu_array_binding_of,$(m))))

quiet_cmd_pcpu_array_binding = GEN     $@
      cmd_pcpu_array_binding = $(CONFIG_SHELL) $(PCPU_ARRAY)/binding/generate.sh $@

$(addprefix $(obj)/,$(pcpu_array_bindings)): $(pcpu_array_binding_src)
	$(call cmd,pcpu_array_binding)

clean-files += $(pcpu_array_bindings)
