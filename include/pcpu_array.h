/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pcpu_array: a per-CPU array cache of objects in front of a slab cache.
 *
 * Exported by pcpu_array.ko (EXPORT_SYMBOL_GPL). A consumer module builds with
 * KBUILD_EXTRA_SYMBOLS pointing at pcpu_array's Module.symvers and loads after it
 * (modprobe resolves the dependency; with insmod, load pcpu_array.ko first, or the
 * consumer fails with "Unknown symbol pcpu_array_create").
 *
 * Contexts: create, destroy, reserve with a blocking gfp and prefill may sleep;
 * alloc/free follow their gfp flags and may run in any context, interrupts
 * included; alloc_bulk, free_bulk, prefill and reserve need interrupts enabled;
 * alloc_reserved never sleeps and never fails while the reservation has objects.
 * See Documentation/pcpu_array.rst.
 */
#ifndef _PCPU_ARRAY_H
#define _PCPU_ARRAY_H

#include <linux/gfp_types.h>
#include <linux/slab.h>
#include <linux/types.h>

/* Objects each CPU's array may hold at most. */
#define PCPU_ARRAY_MAX_CAPACITY 64
/* Objects one reservation may hold at most. */
#define PCPU_ARRAY_MAX_RESERVE 256

struct pcpu_array;
struct pcpu_array_reservation;

/*
 * Counters summed over every CPU (see Documentation/pcpu_array.rst; the same
 * as /sys/kernel/debug/pcpu_array/<name>/).
 */
struct pcpu_array_stats {
	u64 alloc_array;	/* allocations served from an array */
	u64 free_array;	/* frees into an array */
	u64 array_refill;
	u64 array_flush;
	u64 alloc_backing;	/* objects from the backing cache to a caller */
	u64 free_backing;	/* objects from a caller to the backing cache */
	u64 objects_cached;	/* objects the arrays hold now */
};

/*
 * Creates a backing cache @name of @size-byte objects aligned to @align (0 for
 * the default) with @flags, and a per-CPU array of @capacity objects in front of
 * it. ERR_PTR(-EINVAL) for a NULL name, a zero size or a capacity of 0 or above
 * PCPU_ARRAY_MAX_CAPACITY; ERR_PTR(-ENOMEM) when memory runs out.
 */
struct pcpu_array *pcpu_array_create(const char *name, unsigned int size,
				     unsigned int align, slab_flags_t flags,
				     unsigned int capacity);
/*
 * Flushes every CPU's array, then destroys the backing cache. NULL is a no-op.
 * Every object must have been freed. With reservations outstanding it WARNs once
 * and defers the destruction to the last pcpu_array_unreserve().
 */
void pcpu_array_destroy(struct pcpu_array *pa);

/*
 * pcpu_array_create() with every option: zero-initialise, set what you need.
 * @keep_sheaves keeps SLUB's own per-CPU sheaves below the arrays (by default
 * the backing cache has none and the arrays are its only per-CPU layer; see
 * Documentation/pcpu_array.rst). Errors as pcpu_array_create(), and
 * ERR_PTR(-EINVAL) for a NULL @args.
 */
struct pcpu_array_args {
	unsigned int size;
	unsigned int align;
	slab_flags_t flags;
	unsigned int capacity;
	bool keep_sheaves;
};

struct pcpu_array *pcpu_array_create_args(const char *name,
					  const struct pcpu_array_args *args);
/*
 * Gives every object parked in every CPU's array back to the backing cache and
 * returns how many that was. May sleep. The cache's shrinker does the same
 * under memory pressure.
 */
unsigned long pcpu_array_shrink(struct pcpu_array *pa);
void *pcpu_array_alloc(struct pcpu_array *pa, gfp_t gfp);
/* Any node other than NUMA_NO_NODE bypasses the arrays. */
void *pcpu_array_alloc_node(struct pcpu_array *pa, gfp_t gfp, int node);
/* NULL is a no-op. */
void pcpu_array_free(struct pcpu_array *pa, void *obj);
/* All or nothing; false for n == 0. */
bool pcpu_array_alloc_bulk(struct pcpu_array *pa, gfp_t gfp, size_t n, void **p);
void pcpu_array_free_bulk(struct pcpu_array *pa, size_t n, void **p);
/*
 * Opportunistically makes this CPU's array hold at least @count objects:
 * -EINVAL above the capacity or with interrupts off, -ENOMEM on allocation
 * failure, -EAGAIN when the array kept changing.
 */
int pcpu_array_prefill(struct pcpu_array *pa, unsigned int count, gfp_t gfp);
/*
 * Reserves @count objects owned by the caller: ERR_PTR(-EINVAL) above
 * PCPU_ARRAY_MAX_RESERVE, ERR_PTR(-ENOMEM) on allocation failure.
 */
struct pcpu_array_reservation *pcpu_array_reserve(struct pcpu_array *pa,
						  unsigned int count, gfp_t gfp);
/* Cannot fail until the reservation is empty; NULL once it is. */
void *pcpu_array_alloc_reserved(struct pcpu_array_reservation *r, gfp_t gfp);
/* Gives the unused objects back. NULL is a no-op. */
void pcpu_array_unreserve(struct pcpu_array_reservation *r);
/* The backing cache: the kmem_cache behind the arrays, created by the module. */
struct kmem_cache *pcpu_array_cache(struct pcpu_array *pa);
/* Fills @st with the counters. */
void pcpu_array_get_stats(struct pcpu_array *pa, struct pcpu_array_stats *st);

#endif /* _PCPU_ARRAY_H */
