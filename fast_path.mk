# SPDX-License-Identifier: GPL-2.0
#
# The fast path's build-time choices, stated once for pcpu_array.ko (Kbuild) and
# for the Rust binding its consumers compile (consumer.mk), as rustc cfgs (see
# rust/percpu/this_cpu.rs, rust/percpu/local_trylock.rs and rust/abi/inline_hit.rs). The inline
# versions do what the C macros compile to, so they are used only where no
# debug option instruments those macros:
# - pcpu_array_inline_percpu: %gs-relative this_cpu_*() on x86-64 SMP;
# - pcpu_array_inline_preempt: preempt_disable()/enable() inline as well;
# - pcpu_array_inline_trylock: local_trylock() as a plain byte (no lockdep, !RT);
# - pcpu_array_inline_hit: the consumers' inline hit path, which also needs the
#   arrays to leave their objects alone (no KASAN poisoning, no kmemleak
#   clearing) and no might_alloc() check (DEBUG_ATOMIC_SLEEP), which the
#   exported functions make: PCPU_ARRAY_INLINE_HIT of include/pcpu_array.h, in C.

pcpu_array_inline_percpu := $(and $(CONFIG_X86_64),$(CONFIG_SMP))
pcpu_array_inline_preempt := $(if $(CONFIG_DEBUG_PREEMPT)$(CONFIG_TRACE_PREEMPT_TOGGLE)$(CONFIG_PREEMPT_RT),,$(and $(pcpu_array_inline_percpu),$(CONFIG_PREEMPT_COUNT)))
pcpu_array_inline_trylock := $(if $(CONFIG_DEBUG_LOCK_ALLOC)$(CONFIG_PREEMPT_RT),,y)
pcpu_array_inline_hit := $(if $(CONFIG_DEBUG_ATOMIC_SLEEP)$(CONFIG_KASAN)$(CONFIG_DEBUG_KMEMLEAK),,$(and $(pcpu_array_inline_preempt),$(pcpu_array_inline_trylock)))

rustflags-y += $(if $(pcpu_array_inline_percpu),--cfg pcpu_array_inline_percpu)
rustflags-y += $(if $(pcpu_array_inline_preempt),--cfg pcpu_array_inline_preempt)
rustflags-y += $(if $(pcpu_array_inline_trylock),--cfg pcpu_array_inline_trylock)
rustflags-y += $(if $(pcpu_array_inline_hit),--cfg pcpu_array_inline_hit)
