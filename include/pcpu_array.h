/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pcpu_array: a per-CPU array cache of objects in front of a slab cache.
 *
 * Exported by pcpu_array.ko (EXPORT_SYMBOL_GPL). A consumer module builds with
 * KBUILD_EXTRA_SYMBOLS pointing at pcpu_array's Module.symvers and loads after it
 * (modprobe resolves the dependency; with insmod, load pcpu_array.ko first, or the
 * consumer fails with "Unknown symbol pcpu_array_create").
 *
 * Handles: every function taking a struct pcpu_array *, a struct
 * pcpu_array_reservation * or a struct pcpu_array_rsv * refuses NULL and
 * ERR_PTR() values (what a failed create or reserve returns) with a one-time
 * WARN whose backtrace names the caller, and fails as documented below (NULL,
 * false, 0 or -EINVAL); pcpu_array_destroy(), pcpu_array_unreserve() and
 * pcpu_array_rsv_release() take them as no-ops.
 *
 * Each function says in which context it may be called ("Context:"). "Any"
 * includes hard interrupts and interrupts disabled; NMI is stated apart, since
 * the slab allocator may not be entered there. While a cache exists, it holds a
 * reference to pcpu_array.ko: rmmod fails with EBUSY, even for a cache that its
 * creator leaked. See Documentation/pcpu_array.rst.
 */
#ifndef _PCPU_ARRAY_H
#define _PCPU_ARRAY_H

#include <linux/align.h>
#include <linux/array_size.h>
#include <linux/bits.h>
#include <linux/build_bug.h>
#include <linux/err.h>
#include <linux/gfp_types.h>
#include <linux/kfence.h>
#include <linux/local_lock.h>
#include <linux/mm.h>
#include <linux/percpu.h>
#include <linux/slab.h>
#include <linux/stddef.h>
#include <linux/string.h>
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
 * the default, else a power of two) with @flags, and a per-CPU array of
 * @capacity objects in front of it. ERR_PTR(-EINVAL) for a NULL name, a zero
 * size, a capacity of 0 or above PCPU_ARRAY_MAX_CAPACITY, an @align that is not
 * a power of two or a flag the backing cache cannot take (SLAB_KMALLOC, or a bit
 * this kernel does not define); ERR_PTR(-ENOMEM) when memory runs out. It
 * first waits for the teardowns that pcpu_array_destroy() left to the module's
 * workqueue, so a name is free again as soon as its destroy has returned.
 * Context: process, may sleep.
 */
struct pcpu_array *pcpu_array_create(const char *name, unsigned int size,
				     unsigned int align, slab_flags_t flags,
				     unsigned int capacity);
/*
 * Flushes every CPU's array, then destroys the backing cache. NULL and ERR_PTR()
 * are no-ops. Every object must have been freed. With reservations outstanding
 * it WARNs once and leaves the destruction to the last pcpu_array_unreserve()
 * or pcpu_array_rsv_release(). Whichever call ends the cache, the teardown
 * runs in it only where it may sleep (a task with preemption, softirqs and
 * interrupts enabled, outside rcu_read_lock(); any context on a kernel without
 * CONFIG_PREEMPT_COUNT counts as atomic); elsewhere it goes to the module's
 * workqueue and completes after the call returns. The next pcpu_array_create()
 * waits for it; until then the cache keeps pcpu_array.ko loaded.
 * Context: any but NMI; on PREEMPT_RT not with interrupts off or in a hard
 * interrupt (it frees the handle, as kfree()).
 */
void pcpu_array_destroy(struct pcpu_array *pa);

/*
 * pcpu_array_create() with every option: zero-initialise, set what you need.
 * @keep_sheaves keeps SLUB's own per-CPU sheaves below the arrays (by default
 * the backing cache has none and the arrays are its only per-CPU layer; see
 * Documentation/pcpu_array.rst). @fixed_capacity keeps @capacity as it is (by
 * default it grows, up to PCPU_ARRAY_MAX_CAPACITY, while the depot is busy, and
 * comes back when the cache is quiet; see "Adaptive capacity" there). Errors
 * as pcpu_array_create(), and ERR_PTR(-EINVAL) for a NULL @args.
 * Context: process, may sleep.
 */
struct pcpu_array_args {
	unsigned int size;
	unsigned int align;
	slab_flags_t flags;
	unsigned int capacity;
	bool keep_sheaves;
	bool fixed_capacity;
};

struct pcpu_array *pcpu_array_create_args(const char *name,
					  const struct pcpu_array_args *args);
/*
 * Gives every object parked in every CPU's array back to the backing cache and
 * returns how many that was. Under memory pressure the cache's shrinker gives
 * back what reclaim asks for. Context: process, may sleep.
 */
unsigned long pcpu_array_shrink(struct pcpu_array *pa);
/*
 * An object: from this CPU's array, refilled by half when empty if @gfp may
 * block; else from the backing cache. NULL when memory runs out.
 * Context: any the gfp flags allow; in NMI only from the array (NULL on a miss).
 */
void *pcpu_array_alloc(struct pcpu_array *pa, gfp_t gfp);
/*
 * Any node other than NUMA_NO_NODE bypasses the arrays.
 * Context: as kmem_cache_alloc_node(); not NMI.
 */
void *pcpu_array_alloc_node(struct pcpu_array *pa, gfp_t gfp, int node);
/*
 * NULL is a no-op. Into this CPU's array, flushed by half when full if
 * interrupts are on; else to the backing cache.
 * Context: any but NMI (there, an object that does not fit the array is leaked
 * after a WARN: the slab allocator may not be entered).
 */
void pcpu_array_free(struct pcpu_array *pa, void *obj);
/*
 * NULL is a no-op. Frees @obj once every RCU reader that may have found it
 * has left its read-side section, as kfree_rcu() would, without an rcu_head
 * in the object: readers may read it until then (it is neither poisoned nor
 * wiped before). @obj must be unlinked and no longer written. It waits in this
 * CPU's pending magazine, which is sealed with one grace-period cookie when
 * full and comes back as a full magazine after the grace period.
 * Context: as pcpu_array_free(). In NMI an object that would fill the pending
 * magazine is leaked after a WARN. On PREEMPT_RT with interrupts off, where
 * the slab allocator may not be entered and nothing may wait, one that finds
 * no room is too: each CPU keeps a spare pending magazine, so that takes two
 * magazines' worth of such frees in a row, with no free after a grace period
 * on that CPU where it may allocate in between.
 */
void pcpu_array_free_rcu(struct pcpu_array *pa, void *obj);
/*
 * All or nothing; false for n == 0, and false without trying in a context
 * where the slab bulk API may not be used.
 * Context: process or softirq with interrupts enabled (as
 * kmem_cache_alloc_bulk()); refused (false) with interrupts disabled, in hard
 * interrupt and in NMI.
 */
bool pcpu_array_alloc_bulk(struct pcpu_array *pa, gfp_t gfp, size_t n, void **p);
/*
 * NULL entries are skipped; so is an object KASAN reports as already cached (a
 * double free). @p is scratch space afterwards, as for kmem_cache_free_bulk().
 * Context: any but NMI; with interrupts disabled the objects that do not fit
 * the array are freed one by one.
 */
void pcpu_array_free_bulk(struct pcpu_array *pa, size_t n, void **p);
/*
 * Opportunistically makes this CPU's array hold at least @count objects:
 * -EINVAL above the capacity or where the bulk API may not be used, -ENOMEM on
 * allocation failure, -EAGAIN when the array kept changing.
 * Context: process or softirq with interrupts enabled; may sleep if @gfp may.
 */
int pcpu_array_prefill(struct pcpu_array *pa, unsigned int count, gfp_t gfp);
/*
 * Reserves @count objects owned by the caller: ERR_PTR(-EINVAL) above
 * PCPU_ARRAY_MAX_RESERVE or where the bulk API may not be used,
 * ERR_PTR(-ENOMEM) on allocation failure.
 * Context: process or softirq with interrupts enabled; may sleep if @gfp may.
 */
struct pcpu_array_reservation *pcpu_array_reserve(struct pcpu_array *pa,
						  unsigned int count, gfp_t gfp);
/*
 * Cannot fail until the reservation is empty; NULL once it is. Never sleeps.
 * Context: any, NMI included; one context at a time per reservation.
 */
void *pcpu_array_alloc_reserved(struct pcpu_array_reservation *r, gfp_t gfp);
/*
 * Gives the unused objects back. NULL and ERR_PTR() are no-ops. When the cache
 * was destroyed meanwhile and this was its last reservation, this ends it as
 * pcpu_array_destroy() would: where nothing may sleep, on the module's
 * workqueue.
 * Context: any but NMI.
 */
void pcpu_array_unreserve(struct pcpu_array_reservation *r);
/*
 * A caller-stored reservation: the caller keeps it (on its stack, in its own
 * structure) with the storage for its objects, so that reserving allocates
 * nothing, as kmem_cache_prefill_sheaf() hands out a sheaf. Objects come from
 * this CPU's array, then whole arrays of the node's depot, then one bulk
 * allocation. Set it up with PCPU_ARRAY_RSV_INIT() and only read it afterwards;
 * the functions below own @pa and @count:
 *
 *	void *slots[8];
 *	struct pcpu_array_rsv rsv = PCPU_ARRAY_RSV_INIT(slots);
 *
 *	if (pcpu_array_rsv_fill(pa, &rsv, 8, GFP_KERNEL))
 *		return -ENOMEM;
 *	spin_lock(&lock);
 *	node = pcpu_array_rsv_alloc(&rsv, GFP_NOWAIT);	(cannot fail: 8 held)
 *	spin_unlock(&lock);
 *	pcpu_array_rsv_release(&rsv);
 */
struct pcpu_array_rsv {
	struct pcpu_array *pa;	/* while it holds a reference to the cache */
	void **objs;		/* the caller's storage of @size entries */
	unsigned int size;
	unsigned int count;	/* objects held: objs[0] to objs[count - 1] */
};

#define PCPU_ARRAY_RSV_INIT(storage) \
	{ .objs = (storage), .size = ARRAY_SIZE(storage) }

/*
 * Makes @rsv hold at least @count objects of @pa; one that holds objects
 * already is topped up (from the same cache only). From the first object on,
 * until pcpu_array_rsv_release(), it holds a reference to @pa as a
 * pcpu_array_reserve() reservation does. 0; -EINVAL for a bad @rsv, @count
 * above @rsv->size or PCPU_ARRAY_MAX_RESERVE, a reservation of another cache,
 * or where the bulk API may not be used; -ENOMEM when memory runs out (@rsv is
 * then as it was).
 * Context: process or softirq with interrupts enabled; may sleep if @gfp may.
 */
int pcpu_array_rsv_fill(struct pcpu_array *pa, struct pcpu_array_rsv *rsv,
			unsigned int count, gfp_t gfp);
/*
 * An object of @rsv, zeroed if @gfp has __GFP_ZERO or init_on_alloc is on;
 * NULL once @rsv is empty. Never sleeps.
 * Context: any, NMI included; one context at a time per reservation.
 */
void *pcpu_array_rsv_alloc(struct pcpu_array_rsv *rsv, gfp_t gfp);
/*
 * Gives the objects @rsv still holds back and drops its reference to the
 * cache (the last one of a destroyed cache ends it, as pcpu_array_unreserve()
 * does); @rsv may be filled again afterwards. NULL and an empty @rsv are
 * no-ops.
 * Context: any but NMI.
 */
void pcpu_array_rsv_release(struct pcpu_array_rsv *rsv);
/*
 * The backing cache: the kmem_cache behind the arrays, created by the module.
 * Context: any.
 */
struct kmem_cache *pcpu_array_cache(struct pcpu_array *pa);
/* Fills @st with the counters (zeroes for a bad handle). Context: any. */
void pcpu_array_get_stats(struct pcpu_array *pa, struct pcpu_array_stats *st);

/*
 * The inline hit path: pcpu_array_alloc_inline() and pcpu_array_free_inline()
 * do what pcpu_array_alloc() and pcpu_array_free() do, with the same contexts
 * and counters, and take the hit (an object in this CPU's loaded array, or
 * room in it) without a call. Anything else, a failed trylock included, calls
 * the exported function. On a kernel that is not x86-64 SMP, on PREEMPT_RT
 * and with a debug option that checks what the hit does (lockdep,
 * DEBUG_PREEMPT, DEBUG_ATOMIC_SLEEP, KASAN, kmemleak), they are the exported
 * functions:
 * PCPU_ARRAY_INLINE_HIT says which.
 *
 * The hit reads the cache's per-CPU state, laid out as below. That layout and
 * its protocol (the PCPU_ARRAY_CHECK_* and PCPU_ARRAY_STAT_* numbers) have a
 * version, PCPU_ARRAY_LAYOUT: every module compiled with this header
 * references the symbol pcpu_array_layout_v<PCPU_ARRAY_LAYOUT>, which only a
 * pcpu_array.ko of the same layout exports, so a module compiled against
 * another layout fails to load with "Unknown symbol pcpu_array_layout_v2".
 * PCPU_ARRAY_LAYOUT_FINGERPRINT_OF() hashes every size, offset and number of
 * the layout; the build fails unless it equals the fingerprint recorded for
 * the version (here and in rust/sys/abi_types.rs), so that no change of the
 * layout can ship without a new version.
 * The structures are for the inline functions alone: read or write them
 * nowhere else.
 */
#define PCPU_ARRAY_LAYOUT 2
#define PCPU_ARRAY_LAYOUT_V2_FINGERPRINT 0x0c7b795c62e9d80fULL
extern const unsigned int pcpu_array_layout_v2;
static const unsigned int *const pcpu_array_layout_ref __used = &pcpu_array_layout_v2;

#if defined(CONFIG_X86_64) && defined(CONFIG_SMP) && defined(CONFIG_PREEMPT_COUNT) && \
	!defined(CONFIG_PREEMPT_RT) && !defined(CONFIG_DEBUG_PREEMPT) && \
	!defined(CONFIG_TRACE_PREEMPT_TOGGLE) && !defined(CONFIG_DEBUG_LOCK_ALLOC) && \
	!defined(CONFIG_DEBUG_ATOMIC_SLEEP) && !defined(CONFIG_KASAN) && \
	!defined(CONFIG_DEBUG_KMEMLEAK)
#define PCPU_ARRAY_INLINE_HIT 1
#else
#define PCPU_ARRAY_INLINE_HIT 0
#endif

/* One array of a CPU (a magazine): a stack of free objects. */
struct pcpu_array_magazine {
	unsigned long len;
	unsigned long capacity;
	unsigned long kasan_size;	/* not 0: objects poisoned (never inline) */
	void *objs[PCPU_ARRAY_MAX_CAPACITY];
};

/* One CPU's lock and arrays; the inline path uses only the loaded one. */
struct pcpu_array_cpu {
	local_trylock_t lock;
	struct pcpu_array_magazine *loaded;
	struct pcpu_array_magazine *previous;
	int node;
};

/* The first bytes of every struct pcpu_array; set at creation. */
struct pcpu_array_hot {
	struct pcpu_array_cpu __percpu *cpu;	/* this CPU's: this_cpu_ptr() */
	u64 __percpu *stats;	/* indexed by PCPU_ARRAY_STAT_* */
	const s64 *checks;	/* placement rules: PCPU_ARRAY_CHECK_* and more */
	unsigned int object_size;
};

/*
 * The word *checks: why a free may have to look at its object, and what an
 * allocation must know. A free takes the inline path only when the word is 0 or
 * PCPU_ARRAY_CHECK_NUMA (PCPU_ARRAY_CHECK_INIT_EXEMPT aside), an allocation only
 * when it has no bit outside PCPU_ARRAY_CHECK_ALLOC_INLINE: a bit this header
 * does not know sends both to the call.
 */
#define PCPU_ARRAY_CHECK_NUMA BIT_ULL(62)		/* several memory nodes */
#define PCPU_ARRAY_CHECK_SLAB_ACCOUNTED BIT_ULL(61)	/* allocations are charged */
#define PCPU_ARRAY_CHECK_GFP_ACCOUNTED BIT_ULL(60)	/* some were charged */
#define PCPU_ARRAY_CHECK_INIT_EXEMPT BIT_ULL(59)	/* no init_on_alloc/free */
#define PCPU_ARRAY_CHECK_RESERVE_OBJECTS (BIT_ULL(59) - 1) /* reserve objects out */
#define PCPU_ARRAY_CHECK_ALLOC_INLINE (PCPU_ARRAY_CHECK_NUMA | \
				       PCPU_ARRAY_CHECK_GFP_ACCOUNTED | \
				       PCPU_ARRAY_CHECK_INIT_EXEMPT | \
				       PCPU_ARRAY_CHECK_RESERVE_OBJECTS)
#define PCPU_ARRAY_STAT_ALLOC_ARRAY 0
#define PCPU_ARRAY_STAT_FREE_ARRAY 1

/*
 * The fingerprint of the layout and protocol: the same values, in the same
 * order, as layout_fingerprint() in rust/sys/abi_types.rs. The lock's size depends
 * on the configuration (lockdep), so a CPU's slot enters by its offsets from
 * @loaded.
 */
#define PCPU_ARRAY_FP(i, v) ((u64)(v) * (2 * (i) + 1) * 0x9e3779b97f4a7c15ULL)
#define PCPU_ARRAY_LAYOUT_FINGERPRINT_OF() (				\
	PCPU_ARRAY_FP(0, sizeof(struct pcpu_array_hot)) +		\
	PCPU_ARRAY_FP(1, offsetof(struct pcpu_array_hot, cpu)) +	\
	PCPU_ARRAY_FP(2, offsetof(struct pcpu_array_hot, stats)) +	\
	PCPU_ARRAY_FP(3, offsetof(struct pcpu_array_hot, checks)) +	\
	PCPU_ARRAY_FP(4, offsetof(struct pcpu_array_hot, object_size)) + \
	PCPU_ARRAY_FP(5, offsetof(struct pcpu_array_cpu, loaded) -	\
			 ALIGN(sizeof(local_trylock_t), sizeof(void *))) + \
	PCPU_ARRAY_FP(6, offsetof(struct pcpu_array_cpu, previous) -	\
			 offsetof(struct pcpu_array_cpu, loaded)) +	\
	PCPU_ARRAY_FP(7, offsetof(struct pcpu_array_cpu, node) -	\
			 offsetof(struct pcpu_array_cpu, loaded)) +	\
	PCPU_ARRAY_FP(8, sizeof(struct pcpu_array_cpu) -		\
			 offsetof(struct pcpu_array_cpu, loaded)) +	\
	PCPU_ARRAY_FP(9, sizeof(struct pcpu_array_magazine)) +		\
	PCPU_ARRAY_FP(10, offsetof(struct pcpu_array_magazine, len)) +	\
	PCPU_ARRAY_FP(11, offsetof(struct pcpu_array_magazine, capacity)) + \
	PCPU_ARRAY_FP(12, offsetof(struct pcpu_array_magazine, kasan_size)) + \
	PCPU_ARRAY_FP(13, offsetof(struct pcpu_array_magazine, objs)) + \
	PCPU_ARRAY_FP(14, PCPU_ARRAY_MAX_CAPACITY) +			\
	PCPU_ARRAY_FP(15, PCPU_ARRAY_CHECK_NUMA) +			\
	PCPU_ARRAY_FP(16, PCPU_ARRAY_CHECK_SLAB_ACCOUNTED) +		\
	PCPU_ARRAY_FP(17, PCPU_ARRAY_CHECK_GFP_ACCOUNTED) +		\
	PCPU_ARRAY_FP(18, PCPU_ARRAY_CHECK_INIT_EXEMPT) +		\
	PCPU_ARRAY_FP(19, PCPU_ARRAY_CHECK_RESERVE_OBJECTS) +		\
	PCPU_ARRAY_FP(20, PCPU_ARRAY_CHECK_ALLOC_INLINE) +		\
	PCPU_ARRAY_FP(21, PCPU_ARRAY_STAT_ALLOC_ARRAY) +		\
	PCPU_ARRAY_FP(22, PCPU_ARRAY_STAT_FREE_ARRAY) +			\
	PCPU_ARRAY_FP(23, PCPU_ARRAY_LAYOUT))
static_assert(PCPU_ARRAY_LAYOUT_FINGERPRINT_OF() ==
	      __PASTE(__PASTE(PCPU_ARRAY_LAYOUT_V, PCPU_ARRAY_LAYOUT), _FINGERPRINT),
	      "pcpu_array: the inline layout changed: record it as a new PCPU_ARRAY_LAYOUT");

/*
 * Whether an allocation with @gfp may take the inline hit while the cache's
 * word of checks is @checks: not one that may be charged, and no bit outside
 * PCPU_ARRAY_CHECK_ALLOC_INLINE (fail closed: a bit this header does not know
 * takes the call).
 */
static __always_inline bool pcpu_array_inline_alloc_allowed(s64 checks, gfp_t gfp)
{
	return !(gfp & __GFP_ACCOUNT) && !(checks & ~PCPU_ARRAY_CHECK_ALLOC_INLINE);
}

/*
 * Whether a free may take the inline hit while the word of checks is @checks:
 * nothing to check but, on a kernel with several nodes, the object's node
 * (PCPU_ARRAY_CHECK_NUMA), and no init_on_free wipe to make
 * (slab_want_init_on_free(): exempt caches skip it). Any other bit, one this
 * header does not know included, takes the call.
 */
static __always_inline bool pcpu_array_inline_free_allowed(s64 checks)
{
	if (want_init_on_free() && !(checks & PCPU_ARRAY_CHECK_INIT_EXEMPT))
		return false;
	checks &= ~PCPU_ARRAY_CHECK_INIT_EXEMPT;
	return !checks || checks == PCPU_ARRAY_CHECK_NUMA;
}

#if PCPU_ARRAY_INLINE_HIT
/*
 * local_trylock() and local_unlock() of this CPU's lock, as they compile
 * without lockdep on !PREEMPT_RT (the only kernels PCPU_ARRAY_INLINE_HIT
 * allows): a byte that only its CPU writes, with preemption disabled. Written
 * out so that this CPU's slot is computed once per access, not three times.
 */
static_assert(sizeof(local_trylock_t) == sizeof(u8));

static __always_inline bool pcpu_array_inline_lock(const struct pcpu_array_hot *hot,
						    struct pcpu_array_cpu **cpup)
{
	struct pcpu_array_cpu *cpu;

	preempt_disable();
	cpu = this_cpu_ptr(hot->cpu);
	if (unlikely(READ_ONCE(cpu->lock.acquired))) {
		preempt_enable();
		return false;
	}
	WRITE_ONCE(cpu->lock.acquired, 1);
	barrier();
	*cpup = cpu;
	return true;
}

static __always_inline void pcpu_array_inline_unlock(struct pcpu_array_cpu *cpu)
{
	barrier();
	WRITE_ONCE(cpu->lock.acquired, 0);
	preempt_enable();
}
#endif

/*
 * pcpu_array_alloc(), with the hit inline. An allocation that may be charged
 * to a memory cgroup (__GFP_ACCOUNT, or a SLAB_ACCOUNT cache) takes the call,
 * which sends it to the backing cache, and so does any allocation while *checks
 * has a bit outside PCPU_ARRAY_CHECK_ALLOC_INLINE.
 * Context: as pcpu_array_alloc().
 */
static __always_inline void *pcpu_array_alloc_inline(struct pcpu_array *pa, gfp_t gfp)
{
#if PCPU_ARRAY_INLINE_HIT
	const struct pcpu_array_hot *hot = (const struct pcpu_array_hot *)pa;
	struct pcpu_array_magazine *mag;
	struct pcpu_array_cpu *cpu;
	void *obj;

	s64 checks;

	if (IS_ERR_OR_NULL(pa))
		goto call;
	checks = READ_ONCE(*hot->checks);
	if (unlikely(!pcpu_array_inline_alloc_allowed(checks, gfp)))
		goto call;
	if (!pcpu_array_inline_lock(hot, &cpu))
		goto call;
	mag = cpu->loaded;
	if (unlikely(!mag->len)) {
		pcpu_array_inline_unlock(cpu);
		goto call;
	}
	obj = mag->objs[--mag->len];
	this_cpu_inc(hot->stats[PCPU_ARRAY_STAT_ALLOC_ARRAY]);
	pcpu_array_inline_unlock(cpu);
	/* slab_want_init_on_alloc(): exempt caches zero for __GFP_ZERO alone. */
	if ((gfp & __GFP_ZERO) ||
	    (!(checks & PCPU_ARRAY_CHECK_INIT_EXEMPT) && want_init_on_alloc(gfp)))
		memset(obj, 0, hot->object_size);
	return obj;
call:
#endif
	return pcpu_array_alloc(pa, gfp);
}

#if PCPU_ARRAY_INLINE_HIT
/*
 * Pushes @obj onto this CPU's loaded array when it has room (and, with
 * @numa, when this CPU's objects are of @node); false when the caller must
 * call pcpu_array_free(). @numa is a constant: each caller gets its own copy.
 */
static __always_inline bool pcpu_array_inline_push(const struct pcpu_array_hot *hot,
						   void *obj, bool numa, int node)
{
	struct pcpu_array_magazine *mag;
	struct pcpu_array_cpu *cpu;

	if (!pcpu_array_inline_lock(hot, &cpu))
		return false;
	mag = cpu->loaded;
	if (unlikely(mag->len >= mag->capacity || (numa && node != cpu->node))) {
		pcpu_array_inline_unlock(cpu);
		return false;
	}
	mag->objs[mag->len++] = obj;
	this_cpu_inc(hot->stats[PCPU_ARRAY_STAT_FREE_ARRAY]);
	pcpu_array_inline_unlock(cpu);
	return true;
}
#endif

/*
 * pcpu_array_free(), with the hit inline. On a kernel with several memory
 * nodes an object goes inline only into an array of its own node. A free that
 * needs another placement check (memory cgroups, reserve objects out), a KFENCE
 * object and init_on_free (unless the cache is exempt) take the call, and so
 * does an object of another node.
 * Context: as pcpu_array_free().
 */
static __always_inline void pcpu_array_free_inline(struct pcpu_array *pa, void *obj)
{
#if PCPU_ARRAY_INLINE_HIT
	const struct pcpu_array_hot *hot = (const struct pcpu_array_hot *)pa;
	s64 checks;

	if (IS_ERR_OR_NULL(pa) || unlikely(!obj || is_kfence_address(obj)))
		goto call;
	checks = READ_ONCE(*hot->checks);
	if (unlikely(!pcpu_array_inline_free_allowed(checks)))
		goto call;
	if (likely(!(checks & ~PCPU_ARRAY_CHECK_INIT_EXEMPT))) {
		if (pcpu_array_inline_push(hot, obj, false, NUMA_NO_NODE))
			return;
	} else {
		/* Several memory nodes, and nothing else to check. */
		if (pcpu_array_inline_push(hot, obj, true, folio_nid(virt_to_folio(obj))))
			return;
	}
call:
#endif
	pcpu_array_free(pa, obj);
}

#endif /* _PCPU_ARRAY_H */
