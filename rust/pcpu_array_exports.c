// SPDX-License-Identifier: GPL-2.0
/*
 * Exports of the C ABI declared in include/pcpu_array.h. The functions are
 * defined in Rust (rust/capi.rs); only the export table lives here.
 */

#include <linux/export.h>
#include <pcpu_array.h>

EXPORT_SYMBOL_GPL(pcpu_array_create);
EXPORT_SYMBOL_GPL(pcpu_array_destroy);
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
