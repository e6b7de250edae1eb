// SPDX-License-Identifier: GPL-2.0
/*
 * Exports of the C ABI declared in include/pcpu_array.h. The functions are
 * defined in Rust (rust/abi/capi.rs), so, as rust/exports.c does for the kernel
 * crate, only the export table lives here; checkpatch's EXPORT_SYMBOL rule
 * (export right after the definition) cannot apply and scripts/lint.sh skips
 * it for this file alone.
 */

#include <linux/align.h>
#include <linux/build_bug.h>
#include <linux/export.h>
#include <linux/stddef.h>
#include <pcpu_array.h>

/*
 * The layout of the ABI types, as rust/sys/abi_types.rs asserts it on the Rust side:
 * a change to the header or to the Rust mirror alone fails the build.
 */
static_assert(sizeof(struct pcpu_array_stats) == 56);
static_assert(offsetof(struct pcpu_array_stats, alloc_array) == 0);
static_assert(offsetof(struct pcpu_array_stats, free_array) == 8);
static_assert(offsetof(struct pcpu_array_stats, array_refill) == 16);
static_assert(offsetof(struct pcpu_array_stats, array_flush) == 24);
static_assert(offsetof(struct pcpu_array_stats, alloc_backing) == 32);
static_assert(offsetof(struct pcpu_array_stats, free_backing) == 40);
static_assert(offsetof(struct pcpu_array_stats, objects_cached) == 48);
static_assert(sizeof(struct pcpu_array_args) == 20);
static_assert(offsetof(struct pcpu_array_args, size) == 0);
static_assert(offsetof(struct pcpu_array_args, align) == 4);
static_assert(offsetof(struct pcpu_array_args, flags) == 8);
static_assert(offsetof(struct pcpu_array_args, capacity) == 12);
static_assert(offsetof(struct pcpu_array_args, keep_sheaves) == 16);
static_assert(offsetof(struct pcpu_array_args, fixed_capacity) == 17);
static_assert(sizeof(struct pcpu_array_rsv) == 24);
static_assert(offsetof(struct pcpu_array_rsv, pa) == 0);
static_assert(offsetof(struct pcpu_array_rsv, objs) == 8);
static_assert(offsetof(struct pcpu_array_rsv, size) == 16);
static_assert(offsetof(struct pcpu_array_rsv, count) == 20);
static_assert(PCPU_ARRAY_MAX_CAPACITY == 64);
static_assert(PCPU_ARRAY_MAX_RESERVE == 256);
static_assert(sizeof(struct pcpu_array_magazine) == 24 + 8 * PCPU_ARRAY_MAX_CAPACITY);
static_assert(offsetof(struct pcpu_array_magazine, len) == 0);
static_assert(offsetof(struct pcpu_array_magazine, capacity) == 8);
static_assert(offsetof(struct pcpu_array_magazine, objs) == 24);
static_assert(offsetof(struct pcpu_array_cpu, loaded) ==
	      ALIGN(sizeof(local_trylock_t), sizeof(void *)));
static_assert(offsetof(struct pcpu_array_hot, cpu) == 0);
static_assert(offsetof(struct pcpu_array_hot, stats) == 8);
static_assert(offsetof(struct pcpu_array_hot, checks) == 16);
static_assert(offsetof(struct pcpu_array_hot, object_size) == 24);
static_assert(PCPU_ARRAY_CHECK_NUMA == 1ULL << 62);
static_assert(PCPU_ARRAY_CHECK_SLAB_ACCOUNTED == 1ULL << 61);
static_assert(PCPU_ARRAY_STAT_ALLOC_ARRAY == 0);
static_assert(PCPU_ARRAY_STAT_FREE_ARRAY == 1);
static_assert(PCPU_ARRAY_LAYOUT == 2);
/*
 * The header's choice of the inline hit path is Kbuild's pcpu_array_inline_hit,
 * which the Rust binding compiles with: the two conditions must agree.
 */
static_assert(PCPU_ARRAY_INLINE_HIT == PCPU_ARRAY_INLINE_HIT_KBUILD);

EXPORT_SYMBOL_GPL(pcpu_array_create);
EXPORT_SYMBOL_GPL(pcpu_array_create_args);
EXPORT_SYMBOL_GPL(pcpu_array_destroy);
EXPORT_SYMBOL_GPL(pcpu_array_shrink);
EXPORT_SYMBOL_GPL(pcpu_array_alloc);
EXPORT_SYMBOL_GPL(pcpu_array_alloc_node);
EXPORT_SYMBOL_GPL(pcpu_array_free);
EXPORT_SYMBOL_GPL(pcpu_array_free_rcu);
EXPORT_SYMBOL_GPL(pcpu_array_alloc_bulk);
EXPORT_SYMBOL_GPL(pcpu_array_free_bulk);
EXPORT_SYMBOL_GPL(pcpu_array_prefill);
EXPORT_SYMBOL_GPL(pcpu_array_reserve);
EXPORT_SYMBOL_GPL(pcpu_array_alloc_reserved);
EXPORT_SYMBOL_GPL(pcpu_array_unreserve);
EXPORT_SYMBOL_GPL(pcpu_array_rsv_fill);
EXPORT_SYMBOL_GPL(pcpu_array_rsv_alloc);
EXPORT_SYMBOL_GPL(pcpu_array_rsv_release);
EXPORT_SYMBOL_GPL(pcpu_array_cache);
EXPORT_SYMBOL_GPL(pcpu_array_get_stats);
EXPORT_SYMBOL_GPL(pcpu_array_layout_v2);
