# SPDX-License-Identifier: GPL-2.0
#
# What a module that uses pcpu_array includes from its Kbuild, after its obj-m lines:
#
#   obj-m += my_module.o
#   include $(PCPU_ARRAY)/consumer.mk
#
# with PCPU_ARRAY, the absolute path of a built pcpu_array tree, on the make command line:
#
#   make -C $KDIR M=$PWD LLVM=1 PCPU_ARRAY=/path/to/pcpu_array
#
# It gives C files include/pcpu_array.h, modpost pcpu_array's Module.symvers, and each Rust
# module of the directory (an obj-m entry whose source is a .rs file) the Rust binding: a
# self-contained pcpu_array.rs, written next to the module's source by binding/generate.sh
# before the module is compiled, that the module declares with `mod pcpu_array;`. See
# Documentation/pcpu_array.rst, "Using pcpu_array from your Rust module".

ifeq ($(PCPU_ARRAY),)
$(error PCPU_ARRAY must name the pcpu_array tree: make ... PCPU_ARRAY=/path/to/pcpu_array)
endif

# The binding compiles rust/typed.rs, which picks code per kernel version, and its
# inline hit path (rust/inline_hit.rs), whose build-time choices are the module's.
include $(PCPU_ARRAY)/kernel_version.mk
include $(PCPU_ARRAY)/fast_path.mk

ccflags-y += -I$(PCPU_ARRAY)/include
KBUILD_EXTRA_SYMBOLS += $(PCPU_ARRAY)/Module.symvers

pcpu_array_rust_mods := $(foreach m,$(obj-m),$(if $(wildcard $(src)/$(m:.o=.rs)),$(m)))
pcpu_array_binding_of = $(patsubst ./%,%,$(dir $(1)))pcpu_array.rs
pcpu_array_bindings := $(sort $(foreach m,$(pcpu_array_rust_mods),$(call pcpu_array_binding_of,$(m))))
pcpu_array_binding_src := $(PCPU_ARRAY)/binding/generate.sh $(PCPU_ARRAY)/binding/pcpu_array.rs \
	$(PCPU_ARRAY)/rust/abi_types.rs $(PCPU_ARRAY)/rust/gfp.rs $(PCPU_ARRAY)/rust/typed.rs \
	$(PCPU_ARRAY)/rust/hardening.rs $(PCPU_ARRAY)/rust/inline_hit.rs \
	$(PCPU_ARRAY)/rust/inline_percpu.rs

$(foreach m,$(pcpu_array_rust_mods),$(eval $(obj)/$(m): $(obj)/$(call pcpu_array_binding_of,$(m))))

quiet_cmd_pcpu_array_binding = GEN     $@
      cmd_pcpu_array_binding = $(CONFIG_SHELL) $(PCPU_ARRAY)/binding/generate.sh $@

$(addprefix $(obj)/,$(pcpu_array_bindings)): $(pcpu_array_binding_src)
	$(call cmd,pcpu_array_binding)

clean-files += $(pcpu_array_bindings)
