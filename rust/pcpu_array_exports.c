// SPDX-License-Identifier: GPL-2.0
/*
 * Exports of the C ABI declared in include/pcpu_array.h. The functions are
 * defined in Rust (rust/capi.rs), so, as rust/exports.c does for the kernel
 * crate, only the export table lives here; checkpatch's EXPORT_SYMBOL rule
 * (export right after the definition) cannot apply and scripts/lint.sh skips
 * it for this file alone.
 */

#include <linux/export.h>
#include <pcpu_array.h>

EXPORT_SYMBOL_GPL(pcpu_array_create);
EXPORT_SYMBOL_GPL(pcpu_array_create_args);
EXPORT_SYMBOL_GPL(pcpu_array_destroy);
EXPORT_SYMBOL_GPL(pcpu_array_shrink);
EXPORT_SYMBOL_GPL(pcpu_array_alloc);
EXPORT_SYMBOL_GPL(pcpu_array_alloc_node);
EXPORT_SYMBOL_GPL(pcpu_array_free);
EXPORT_SYMBOL_GPL(pcpu_array_alloc_bulk);
EXPORT_SYMBOL_GPL(pcpu_array_free_bulk);
EXPORT_SYMBOL_GPL(pcpu_array_prefill);
EXPORT_SYMBOL_GPL(pcpu_array_reserve);
EXPORT_SYMBOL_GPL(pcpu_array_alloc_reserved);
EXPORT_SYMBOL_GPL(pcpu_array_unreserve);
EXPORT_SYMBOL_GPL(pcpu_array_cache);
EXPORT_SYMBOL_GPL(pcpu_array_get_stats);
