// SPDX-License-Identifier: GPL-2.0
/*
 * What KASAN sees of the objects parked in an array (rust/semantics/kasan.rs is the Rust
 * side). In generic mode an object in an array is shown as freed. Only
 * kasan_poison() is exported (for KASAN's own tests); unpoisoning is the same
 * call with the shadow values that kasan_unpoison() writes: 0 for each whole
 * granule, the count of valid bytes for a partial last one.
 *
 * The internals of mm/kasan/kasan.h this needs are mirrored here, and only
 * here. When the kernel source is at hand (Kbuild passes its path), the build
 * checks the mirrors against it.
 */

#include <linux/kasan.h>
#include <linux/kasan-checks.h>
#include <linux/math.h>

#include "pcpu_array_helpers.h"

#ifdef CONFIG_KASAN_GENERIC

/*
 * mm/kasan/kasan.h, exported (GPL) for KASAN's tests: sets the shadow of
 * [addr, addr + size) to value; both must be granule-aligned.
 */
void kasan_poison(const void *addr, size_t size, u8 value, bool init);
/* KASAN_GRANULE_SIZE of mm/kasan/kasan.h (generic mode): bytes per shadow byte. */
#define PCPU_ARRAY_KASAN_GRANULE (1UL << KASAN_SHADOW_SCALE_SHIFT)
/* KASAN_SLAB_FREE of mm/kasan/kasan.h: reports read "slab-use-after-free". */
#define PCPU_ARRAY_KASAN_SLAB_FREE 0xFB

#ifdef PCPU_ARRAY_KASAN_INTERNAL_H
#include PCPU_ARRAY_KASAN_INTERNAL_H
static_assert(PCPU_ARRAY_KASAN_GRANULE == KASAN_GRANULE_SIZE);
static_assert(PCPU_ARRAY_KASAN_SLAB_FREE == KASAN_SLAB_FREE);
#endif

void pcpu_array_kasan_poison(const void *obj, size_t size)
{
	kasan_poison(obj, round_up(size, PCPU_ARRAY_KASAN_GRANULE),
		     PCPU_ARRAY_KASAN_SLAB_FREE, false);
}

void pcpu_array_kasan_unpoison(const void *obj, size_t size)
{
	size_t whole = round_down(size, PCPU_ARRAY_KASAN_GRANULE);

	if (whole)
		kasan_poison(obj, whole, 0, false);
	if (size != whole)
		kasan_poison(obj + whole, PCPU_ARRAY_KASAN_GRANULE, size - whole, false);
}

bool pcpu_array_kasan_check(const void *obj)
{
	return kasan_check_read(obj, 1);
}

#endif /* CONFIG_KASAN_GENERIC */
