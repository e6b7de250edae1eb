// SPDX-License-Identifier: GPL-2.0
/*
 * A C consumer of pcpu_array: proves that a module written against
 * include/pcpu_array.h alone can use every entry point, and that bad input gets
 * a clear error. Its KUnit suite runs when the module loads.
 */

#include <kunit/test.h>
#include <linux/completion.h>
#include <linux/err.h>
#include <linux/hardirq.h>
#include <linux/hrtimer.h>
#include <linux/irqflags.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/nodemask.h>
#include <linux/preempt.h>
#include <linux/rcupdate.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/topology.h>
#include <pcpu_array.h>

#define OBJ_SIZE 128

static struct pcpu_array *create_or_fail(struct kunit *test, const char *name,
					 unsigned int capacity)
{
	struct pcpu_array *pa = pcpu_array_create(name, OBJ_SIZE, 0, 0, capacity);

	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(pa), "create failed: %ld", PTR_ERR(pa));
	return pa;
}

static void c_abi_create_rejects_bad_input(struct kunit *test)
{
	KUNIT_EXPECT_EQ(test, PTR_ERR(pcpu_array_create(NULL, OBJ_SIZE, 0, 0, 8)), -EINVAL);
	KUNIT_EXPECT_EQ(test, PTR_ERR(pcpu_array_create("pcpu_array_c_bad", 0, 0, 0, 8)),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, PTR_ERR(pcpu_array_create("pcpu_array_c_bad", OBJ_SIZE, 0, 0, 0)),
			-EINVAL);
	KUNIT_EXPECT_EQ(test,
			PTR_ERR(pcpu_array_create("pcpu_array_c_bad", OBJ_SIZE, 0, 0,
						  PCPU_ARRAY_MAX_CAPACITY + 1)),
			-EINVAL);
	/* An alignment that is not a power of two; a flag this kernel does not define. */
	KUNIT_EXPECT_EQ(test, PTR_ERR(pcpu_array_create("pcpu_array_c_bad", OBJ_SIZE, 3, 0, 8)),
			-EINVAL);
	KUNIT_EXPECT_EQ(test,
			PTR_ERR(pcpu_array_create("pcpu_array_c_bad", OBJ_SIZE, 0,
						  (__force slab_flags_t)(1U << 31), 8)),
			-EINVAL);
	/* No-ops, as for what a failed create or reserve returned. */
	pcpu_array_destroy(NULL);
	pcpu_array_destroy(ERR_PTR(-EINVAL));
	pcpu_array_unreserve(NULL);
	pcpu_array_unreserve(ERR_PTR(-ENOMEM));
	pcpu_array_rsv_release(NULL);
	pcpu_array_rsv_release(ERR_PTR(-ENOMEM));
}

/*
 * Every other entry point refuses a NULL or ERR_PTR() handle: it fails as
 * documented and warns once (per entry point), never dereferences it.
 */
static void c_abi_bad_handles_are_refused(struct kunit *test)
{
	struct pcpu_array *bad[] = { NULL, ERR_PTR(-ENOMEM) };
	struct pcpu_array_stats st;
	void *p[2] = {};
	struct pcpu_array_rsv rsv = PCPU_ARRAY_RSV_INIT(p);
	int i;

	kunit_warning_suppress(test) {
		for (i = 0; i < ARRAY_SIZE(bad); i++) {
			KUNIT_EXPECT_EQ(test, pcpu_array_shrink(bad[i]), 0);
			KUNIT_EXPECT_NULL(test, pcpu_array_alloc(bad[i], GFP_KERNEL));
			KUNIT_EXPECT_NULL(test, pcpu_array_alloc_node(bad[i], GFP_KERNEL, 0));
			pcpu_array_free(bad[i], p);
			KUNIT_EXPECT_FALSE(test, pcpu_array_alloc_bulk(bad[i], GFP_KERNEL, 2, p));
			pcpu_array_free_bulk(bad[i], 2, p);
			KUNIT_EXPECT_EQ(test, pcpu_array_prefill(bad[i], 1, GFP_KERNEL), -EINVAL);
			KUNIT_EXPECT_EQ(test, PTR_ERR(pcpu_array_reserve(bad[i], 1, GFP_KERNEL)),
					-EINVAL);
			KUNIT_EXPECT_NULL(test, pcpu_array_alloc_reserved(
				(struct pcpu_array_reservation *)bad[i], GFP_KERNEL));
			KUNIT_EXPECT_EQ(test, pcpu_array_rsv_fill(bad[i], &rsv, 1, GFP_KERNEL),
					-EINVAL);
			KUNIT_EXPECT_NULL(test, pcpu_array_rsv_alloc(
				(struct pcpu_array_rsv *)bad[i], GFP_KERNEL));
			memset(&st, 0xff, sizeof(st));
			pcpu_array_get_stats(bad[i], &st);
			KUNIT_EXPECT_EQ(test, st.alloc_array, 0);
			KUNIT_EXPECT_NULL(test, pcpu_array_cache(bad[i]));
		}
		KUNIT_EXPECT_NULL(test, rsv.pa);
		/* Once per entry point: 13 of them, the first time each is hit. */
		KUNIT_EXPECT_SUPPRESSED_WARNING_COUNT(test, 13);
	}
}

/* What each entry point does with interrupts disabled and in hard interrupt. */
struct c_abi_ctx {
	struct pcpu_array *pa;
	struct pcpu_array_reservation *r;
	bool bulk;
	int prefill;
	long reserve;
	int rsv_fill;
	void *obj, *obj_inline, *reserved;
	bool in_hardirq;
	struct hrtimer timer;
	struct completion done;
};

static void c_abi_restricted_calls(struct c_abi_ctx *c)
{
	void *p[2];

	c->bulk = pcpu_array_alloc_bulk(c->pa, GFP_ATOMIC, ARRAY_SIZE(p), p);
	if (c->bulk)
		pcpu_array_free_bulk(c->pa, ARRAY_SIZE(p), p);
	c->prefill = pcpu_array_prefill(c->pa, 1, GFP_ATOMIC);
	c->reserve = PTR_ERR_OR_ZERO(pcpu_array_reserve(c->pa, 1, GFP_ATOMIC));
	{
		void *slot[1];
		struct pcpu_array_rsv rsv = PCPU_ARRAY_RSV_INIT(slot);

		c->rsv_fill = pcpu_array_rsv_fill(c->pa, &rsv, 1, GFP_ATOMIC);
		pcpu_array_rsv_release(&rsv);
	}
	/* Any context: reserved objects (freed by the caller, in process context). */
	c->reserved = pcpu_array_alloc_reserved(c->r, GFP_ATOMIC);
	/*
	 * Single objects too, except on PREEMPT_RT, where the slab allocator
	 * may not be called with interrupts off or in hard interrupt, and a
	 * miss would call it (as kmem_cache_alloc() there).
	 */
	if (!IS_ENABLED(CONFIG_PREEMPT_RT)) {
		c->obj = pcpu_array_alloc(c->pa, GFP_ATOMIC);
		pcpu_array_free(c->pa, c->obj);
		c->obj_inline = pcpu_array_alloc_inline(c->pa, GFP_ATOMIC);
		pcpu_array_free_inline(c->pa, c->obj_inline);
	}
}

static enum hrtimer_restart c_abi_hardirq(struct hrtimer *timer)
{
	struct c_abi_ctx *c = container_of(timer, struct c_abi_ctx, timer);

	c->in_hardirq = in_hardirq();
	c_abi_restricted_calls(c);
	complete(&c->done);
	return HRTIMER_NORESTART;
}

static void c_abi_expect_refused(struct kunit *test, struct c_abi_ctx *c)
{
	KUNIT_EXPECT_FALSE(test, c->bulk);
	KUNIT_EXPECT_EQ(test, c->prefill, -EINVAL);
	KUNIT_EXPECT_EQ(test, c->reserve, -EINVAL);
	KUNIT_EXPECT_EQ(test, c->rsv_fill, -EINVAL);
	if (!IS_ENABLED(CONFIG_PREEMPT_RT)) {
		KUNIT_EXPECT_NOT_NULL(test, c->obj);
		KUNIT_EXPECT_NOT_NULL(test, c->obj_inline);
	}
	KUNIT_EXPECT_NOT_NULL(test, c->reserved);
	pcpu_array_free(c->pa, c->reserved);
}

static void c_abi_contexts(struct kunit *test)
{
	struct c_abi_ctx c = { .pa = create_or_fail(test, "pcpu_array_c_ctx", 8) };
	struct pcpu_array_stats st;

	c.r = pcpu_array_reserve(c.pa, 2, GFP_KERNEL);
	KUNIT_ASSERT_FALSE(test, IS_ERR(c.r));

	/* Interrupts disabled: the bulk API may not be used. */
	local_irq_disable();
	c_abi_restricted_calls(&c);
	local_irq_enable();
	c_abi_expect_refused(test, &c);

	/* Hard interrupt: the same. */
	init_completion(&c.done);
	hrtimer_setup_on_stack(&c.timer, c_abi_hardirq, CLOCK_MONOTONIC, HRTIMER_MODE_REL_HARD);
	hrtimer_start(&c.timer, ns_to_ktime(1000), HRTIMER_MODE_REL_HARD);
	wait_for_completion(&c.done);
	hrtimer_cancel(&c.timer);
	destroy_hrtimer_on_stack(&c.timer);
	KUNIT_EXPECT_TRUE(test, c.in_hardirq);
	c_abi_expect_refused(test, &c);

	pcpu_array_unreserve(c.r);
	pcpu_array_get_stats(c.pa, &st);
	KUNIT_EXPECT_EQ(test, st.alloc_array + st.alloc_backing, st.free_array + st.free_backing);
	pcpu_array_destroy(c.pa);
}

static void c_abi_alloc_free(struct kunit *test)
{
	struct pcpu_array *pa = create_or_fail(test, "pcpu_array_c_alloc", 16);
	struct kmem_cache *s = pcpu_array_cache(pa);
	struct pcpu_array_stats st;
	void *obj, *node;
	int n;

	KUNIT_ASSERT_NOT_NULL(test, s);
	KUNIT_EXPECT_GE(test, kmem_cache_size(s), OBJ_SIZE);

	obj = pcpu_array_alloc(pa, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, obj);
	memset(obj, 0x5a, OBJ_SIZE);
	pcpu_array_free(pa, obj);
	obj = pcpu_array_alloc(pa, GFP_KERNEL | __GFP_ZERO);
	KUNIT_ASSERT_NOT_NULL(test, obj);
	KUNIT_EXPECT_NULL(test, memchr_inv(obj, 0, OBJ_SIZE));

	/* On each node: from the array on this CPU's, else from the backing cache. */
	for_each_node_state(n, N_MEMORY) {
		node = pcpu_array_alloc_node(pa, GFP_KERNEL, n);
		KUNIT_ASSERT_NOT_NULL(test, node);
		KUNIT_EXPECT_EQ(test, folio_nid(virt_to_folio(node)), n);
		pcpu_array_free(pa, node);
	}
	node = pcpu_array_alloc_node(pa, GFP_KERNEL, NUMA_NO_NODE);
	KUNIT_ASSERT_NOT_NULL(test, node);
	pcpu_array_free(pa, node);

	pcpu_array_free(pa, obj);
	pcpu_array_free(pa, NULL);

	/* A refill, then the one object went back into the array. */
	pcpu_array_get_stats(pa, &st);
	KUNIT_EXPECT_GE(test, st.array_refill, 1);
	KUNIT_EXPECT_GE(test, st.alloc_array, 1);
	KUNIT_EXPECT_EQ(test, st.alloc_array + st.alloc_backing,
			st.free_array + st.free_backing);
	KUNIT_EXPECT_GE(test, st.objects_cached, 1);
	pcpu_array_destroy(pa);
}

/* Objects in use: what the cache handed out and did not get back. */
static s64 c_abi_in_use(struct pcpu_array *pa)
{
	struct pcpu_array_stats st;

	pcpu_array_get_stats(pa, &st);
	return st.alloc_array + st.alloc_backing - st.free_array - st.free_backing;
}

/*
 * The inline hit path (compiled in where PCPU_ARRAY_INLINE_HIT is 1, as on the
 * perf kernel of `make bench`; elsewhere these are the exported functions):
 * a hit pops the object last freed on this CPU and counts it, __GFP_ZERO
 * zeroes it, and past the loaded array the calls take over without losing an
 * object or a count.
 */
/*
 * The inline paths fail closed: an allocation takes the inline hit only with
 * the bits of PCPU_ARRAY_CHECK_ALLOC_INLINE set, a free only with NUMA (and the
 * init_on_free exemption); any other bit of the word of checks, one the header
 * does not know included, takes the call. Checked on every kernel: the
 * decisions are compiled whether or not the inline hit is.
 */
static void c_abi_inline_fails_closed(struct kunit *test)
{
	const s64 exempt = PCPU_ARRAY_CHECK_INIT_EXEMPT;
	bool wipe = want_init_on_free();
	int bit;

	KUNIT_EXPECT_TRUE(test, pcpu_array_inline_alloc_allowed(0, GFP_KERNEL));
	KUNIT_EXPECT_FALSE(test, pcpu_array_inline_alloc_allowed(0, GFP_KERNEL_ACCOUNT));
	KUNIT_EXPECT_EQ(test, pcpu_array_inline_free_allowed(0), !wipe);
	KUNIT_EXPECT_TRUE(test, pcpu_array_inline_free_allowed(exempt));
	for (bit = 0; bit < 64; bit++) {
		s64 checks = (s64)BIT_ULL(bit);
		bool known = checks & PCPU_ARRAY_CHECK_ALLOC_INLINE;

		KUNIT_EXPECT_EQ_MSG(test, pcpu_array_inline_alloc_allowed(checks, GFP_KERNEL),
				    known, "bit %d", bit);
		KUNIT_EXPECT_EQ_MSG(test, pcpu_array_inline_free_allowed(checks),
				    (checks == PCPU_ARRAY_CHECK_NUMA && !wipe) || checks == exempt,
				    "bit %d", bit);
		KUNIT_EXPECT_EQ_MSG(test, pcpu_array_inline_free_allowed(checks | exempt),
				    checks == PCPU_ARRAY_CHECK_NUMA || checks == exempt,
				    "bit %d", bit);
	}
	/* The bits the header knows: every bit but the sign bit is taken. */
	KUNIT_EXPECT_EQ(test, (u64)PCPU_ARRAY_CHECK_ALLOC_INLINE | PCPU_ARRAY_CHECK_SLAB_ACCOUNTED,
			(u64)S64_MAX);
}

static void c_abi_inline_alloc_free(struct kunit *test)
{
	struct pcpu_array *pa = create_or_fail(test, "pcpu_array_c_inline", 8);
	struct pcpu_array_stats st0, st1, st2;
	void *objs[3 * 8];
	void *obj, *again;
	bool zero;
	int i;

	KUNIT_EXPECT_EQ(test, pcpu_array_prefill(pa, 8, GFP_KERNEL), 0);
	/* One CPU's array throughout: no sleeping allocation, no migration. */
	preempt_disable();
	pcpu_array_get_stats(pa, &st0);
	obj = pcpu_array_alloc_inline(pa, GFP_NOWAIT);
	pcpu_array_get_stats(pa, &st1);
	if (obj) {
		memset(obj, 0x5a, OBJ_SIZE);
		pcpu_array_free_inline(pa, obj);
	}
	pcpu_array_get_stats(pa, &st2);
	again = pcpu_array_alloc_inline(pa, GFP_NOWAIT | __GFP_ZERO);
	zero = again && !memchr_inv(again, 0, OBJ_SIZE);
	pcpu_array_free_inline(pa, again);
	pcpu_array_free_inline(pa, NULL);
	preempt_enable();

	KUNIT_EXPECT_NOT_NULL(test, obj);
	KUNIT_EXPECT_EQ(test, st1.alloc_array, st0.alloc_array + 1);
	KUNIT_EXPECT_EQ(test, st1.alloc_backing, st0.alloc_backing);
	KUNIT_EXPECT_EQ(test, st1.objects_cached, st0.objects_cached - 1);
	KUNIT_EXPECT_EQ(test, st2.free_array, st1.free_array + 1);
	KUNIT_EXPECT_EQ(test, st2.objects_cached, st0.objects_cached);
	KUNIT_EXPECT_PTR_EQ(test, again, obj);
	KUNIT_EXPECT_TRUE(test, zero);

	/*
	 * Through both arrays and past them, then back: every object is
	 * counted once, by the inline hit or by the call.
	 */
	pcpu_array_get_stats(pa, &st0);
	for (i = 0; i < ARRAY_SIZE(objs); i++)
		objs[i] = pcpu_array_alloc_inline(pa, GFP_KERNEL);
	pcpu_array_get_stats(pa, &st1);
	for (i = 0; i < ARRAY_SIZE(objs); i++) {
		KUNIT_EXPECT_NOT_NULL(test, objs[i]);
		pcpu_array_free_inline(pa, objs[i]);
	}
	pcpu_array_get_stats(pa, &st2);
	KUNIT_EXPECT_EQ(test, st1.alloc_array + st1.alloc_backing,
			st0.alloc_array + st0.alloc_backing + ARRAY_SIZE(objs));
	KUNIT_EXPECT_EQ(test, st2.free_array + st2.free_backing,
			st1.free_array + st1.free_backing + ARRAY_SIZE(objs));
	KUNIT_EXPECT_EQ(test, c_abi_in_use(pa), 0);
	KUNIT_EXPECT_LE(test, st2.objects_cached, 2 * PCPU_ARRAY_MAX_CAPACITY);
	pcpu_array_destroy(pa);
}

/*
 * With several memory nodes, an object of another node than this CPU's never
 * goes into this CPU's array, inline or not: it goes back to the backing
 * cache.
 */
static void c_abi_inline_remote_node_free(struct kunit *test)
{
	struct pcpu_array_stats st0, st1;
	struct pcpu_array *pa;
	int node, other = NUMA_NO_NODE;
	void *obj;

	for_each_online_node(node) {
		if (node != numa_node_id()) {
			other = node;
			break;
		}
	}
	if (other == NUMA_NO_NODE)
		kunit_skip(test, "one memory node: no remote object to free");
	pa = create_or_fail(test, "pcpu_array_c_remote", 8);
	obj = pcpu_array_alloc_node(pa, GFP_KERNEL, other);
	if (!obj) {
		pcpu_array_destroy(pa);
		KUNIT_FAIL(test, "no object on node %d", other);
		return;
	}

	preempt_disable();
	node = folio_nid(virt_to_folio(obj));
	pcpu_array_get_stats(pa, &st0);
	pcpu_array_free_inline(pa, obj);
	pcpu_array_get_stats(pa, &st1);
	preempt_enable();

	if (node == numa_node_id()) {
		/* The task moved to the object's node meanwhile: nothing to see. */
		kunit_info(test, "the task moved to node %d", node);
	} else {
		KUNIT_EXPECT_EQ(test, st1.free_array, st0.free_array);
		KUNIT_EXPECT_EQ(test, st1.free_backing, st0.free_backing + 1);
		KUNIT_EXPECT_EQ(test, st1.objects_cached, st0.objects_cached);
	}
	pcpu_array_destroy(pa);
}

static void c_abi_bulk(struct kunit *test)
{
	struct pcpu_array *pa = create_or_fail(test, "pcpu_array_c_bulk", 16);
	void *p[40];
	int i;

	KUNIT_EXPECT_FALSE(test, pcpu_array_alloc_bulk(pa, GFP_KERNEL, 0, p));
	KUNIT_ASSERT_TRUE(test, pcpu_array_alloc_bulk(pa, GFP_KERNEL, ARRAY_SIZE(p), p));
	for (i = 0; i < ARRAY_SIZE(p); i++)
		KUNIT_EXPECT_NOT_NULL(test, p[i]);
	pcpu_array_free_bulk(pa, ARRAY_SIZE(p), p);
	pcpu_array_free_bulk(pa, 0, p);
	pcpu_array_destroy(pa);
}

static void c_abi_prefill(struct kunit *test)
{
	struct pcpu_array *pa = create_or_fail(test, "pcpu_array_c_prefill", 16);

	KUNIT_EXPECT_EQ(test, pcpu_array_prefill(pa, 17, GFP_KERNEL), -EINVAL);
	KUNIT_EXPECT_EQ(test, pcpu_array_prefill(pa, 16, GFP_KERNEL), 0);
	KUNIT_EXPECT_EQ(test, pcpu_array_prefill(pa, 0, GFP_KERNEL), 0);
	pcpu_array_destroy(pa);
}

static void c_abi_create_args_and_shrink(struct kunit *test)
{
	struct pcpu_array_args args = { .size = OBJ_SIZE, .capacity = 8 };
	struct pcpu_array_stats st;
	struct pcpu_array *pa;
	void *obj;

	KUNIT_EXPECT_EQ(test, PTR_ERR(pcpu_array_create_args("pcpu_array_c_args", NULL)),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, PTR_ERR(pcpu_array_create_args(NULL, &args)), -EINVAL);
	args.capacity = PCPU_ARRAY_MAX_CAPACITY + 1;
	KUNIT_EXPECT_EQ(test, PTR_ERR(pcpu_array_create_args("pcpu_array_c_args", &args)),
			-EINVAL);
	args.capacity = 8;
	args.size = 0;
	KUNIT_EXPECT_EQ(test, PTR_ERR(pcpu_array_create_args("pcpu_array_c_args", &args)),
			-EINVAL);

	/* Over a backing cache that keeps SLUB's sheaves. */
	args.size = OBJ_SIZE;
	args.keep_sheaves = true;
	pa = pcpu_array_create_args("pcpu_array_c_args", &args);
	KUNIT_ASSERT_FALSE(test, IS_ERR(pa));
	KUNIT_EXPECT_GE(test, kmem_cache_size(pcpu_array_cache(pa)), OBJ_SIZE);
	obj = pcpu_array_alloc(pa, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, obj);
	pcpu_array_free(pa, obj);

	/* The refill parked objects; shrink gives back every one of them. */
	pcpu_array_get_stats(pa, &st);
	KUNIT_EXPECT_GE(test, st.objects_cached, 1);
	KUNIT_EXPECT_EQ(test, pcpu_array_shrink(pa), st.objects_cached);
	pcpu_array_get_stats(pa, &st);
	KUNIT_EXPECT_EQ(test, st.objects_cached, 0);
	KUNIT_EXPECT_EQ(test, pcpu_array_shrink(pa), 0);
	pcpu_array_destroy(pa);
}

static DEFINE_SPINLOCK(c_abi_lock);

static void c_abi_reservation(struct kunit *test)
{
	struct pcpu_array *pa = create_or_fail(test, "pcpu_array_c_reserve", 8);
	struct pcpu_array_reservation *r;
	void *objs[12];
	int i;

	KUNIT_EXPECT_EQ(test,
			PTR_ERR(pcpu_array_reserve(pa, PCPU_ARRAY_MAX_RESERVE + 1, GFP_KERNEL)),
			-EINVAL);

	/* More than the array holds: the rest comes from one bulk allocation. */
	r = pcpu_array_reserve(pa, ARRAY_SIZE(objs), GFP_KERNEL);
	KUNIT_ASSERT_FALSE(test, IS_ERR(r));

	/* Under a spinlock, with interrupts off: it cannot fail until empty. */
	spin_lock_irq(&c_abi_lock);
	for (i = 0; i < ARRAY_SIZE(objs); i++)
		objs[i] = pcpu_array_alloc_reserved(r, GFP_NOWAIT | __GFP_ZERO);
	spin_unlock_irq(&c_abi_lock);
	for (i = 0; i < ARRAY_SIZE(objs); i++) {
		KUNIT_EXPECT_NOT_NULL(test, objs[i]);
		if (objs[i])
			KUNIT_EXPECT_NULL(test, memchr_inv(objs[i], 0, OBJ_SIZE));
	}
	KUNIT_EXPECT_NULL(test, pcpu_array_alloc_reserved(r, GFP_NOWAIT));
	pcpu_array_unreserve(r);
	for (i = 0; i < ARRAY_SIZE(objs); i++)
		pcpu_array_free(pa, objs[i]);

	/* Unused objects go back on unreserve. */
	r = pcpu_array_reserve(pa, 5, GFP_KERNEL);
	KUNIT_ASSERT_FALSE(test, IS_ERR(r));
	objs[0] = pcpu_array_alloc_reserved(r, GFP_KERNEL);
	KUNIT_EXPECT_NOT_NULL(test, objs[0]);
	pcpu_array_unreserve(r);
	pcpu_array_free(pa, objs[0]);

	/* Destroy finds nothing allocated: the backing cache would report it. */
	pcpu_array_destroy(pa);
}

/* A caller-stored reservation: the same guarantees, no allocation of its own. */
static void c_abi_stored_reservation(struct kunit *test)
{
	struct pcpu_array *pa = create_or_fail(test, "pcpu_array_c_rsv", 8);
	struct pcpu_array *other = create_or_fail(test, "pcpu_array_c_rsv_other", 8);
	void *slots[12], *objs[12];
	struct pcpu_array_rsv rsv = PCPU_ARRAY_RSV_INIT(slots);
	struct pcpu_array_stats st;
	int i;

	KUNIT_EXPECT_EQ(test, pcpu_array_rsv_fill(pa, &rsv, ARRAY_SIZE(slots) + 1, GFP_KERNEL),
			-EINVAL);
	KUNIT_EXPECT_NULL(test, rsv.pa);
	KUNIT_EXPECT_NULL(test, pcpu_array_rsv_alloc(&rsv, GFP_NOWAIT));

	KUNIT_ASSERT_EQ(test, pcpu_array_rsv_fill(pa, &rsv, 4, GFP_KERNEL), 0);
	KUNIT_EXPECT_EQ(test, rsv.count, 4);
	KUNIT_EXPECT_PTR_EQ(test, rsv.pa, pa);
	/* Topped up from the same cache only. */
	KUNIT_EXPECT_EQ(test, pcpu_array_rsv_fill(other, &rsv, 6, GFP_KERNEL), -EINVAL);
	KUNIT_EXPECT_EQ(test, pcpu_array_rsv_fill(pa, &rsv, 2, GFP_KERNEL), 0);
	KUNIT_EXPECT_EQ(test, rsv.count, 4);
	KUNIT_ASSERT_EQ(test, pcpu_array_rsv_fill(pa, &rsv, ARRAY_SIZE(slots), GFP_KERNEL), 0);
	KUNIT_EXPECT_EQ(test, rsv.count, ARRAY_SIZE(slots));
	/* Reserved objects count as allocated from the start. */
	pcpu_array_get_stats(pa, &st);
	KUNIT_EXPECT_EQ(test, st.alloc_array + st.alloc_backing, ARRAY_SIZE(slots));

	/* Under a spinlock, with interrupts off: it cannot fail until empty. */
	spin_lock_irq(&c_abi_lock);
	for (i = 0; i < ARRAY_SIZE(objs); i++)
		objs[i] = pcpu_array_rsv_alloc(&rsv, GFP_NOWAIT | __GFP_ZERO);
	spin_unlock_irq(&c_abi_lock);
	for (i = 0; i < ARRAY_SIZE(objs); i++) {
		KUNIT_EXPECT_NOT_NULL(test, objs[i]);
		if (objs[i])
			KUNIT_EXPECT_NULL(test, memchr_inv(objs[i], 0, OBJ_SIZE));
	}
	KUNIT_EXPECT_NULL(test, pcpu_array_rsv_alloc(&rsv, GFP_NOWAIT));
	pcpu_array_rsv_release(&rsv);
	KUNIT_EXPECT_NULL(test, rsv.pa);
	for (i = 0; i < ARRAY_SIZE(objs); i++)
		pcpu_array_free(pa, objs[i]);

	/* Filled again after a release; the unused objects go back on release. */
	KUNIT_ASSERT_EQ(test, pcpu_array_rsv_fill(pa, &rsv, 5, GFP_KERNEL), 0);
	objs[0] = pcpu_array_rsv_alloc(&rsv, GFP_KERNEL);
	KUNIT_EXPECT_NOT_NULL(test, objs[0]);
	pcpu_array_rsv_release(&rsv);
	pcpu_array_free(pa, objs[0]);
	pcpu_array_get_stats(pa, &st);
	KUNIT_EXPECT_EQ(test, st.alloc_array + st.alloc_backing, st.free_array + st.free_backing);

	/*
	 * A reservation holds a reference: destroy with one outstanding leaves
	 * the destruction to its release (the warning was printed already, by
	 * c_abi_destroy_with_reservations_outstanding).
	 */
	KUNIT_ASSERT_EQ(test, pcpu_array_rsv_fill(other, &rsv, 3, GFP_KERNEL), 0);
	kunit_warning_suppress(test) {
		pcpu_array_destroy(other);
	}
	spin_lock(&c_abi_lock);
	pcpu_array_rsv_release(&rsv);
	spin_unlock(&c_abi_lock);
	pcpu_array_destroy(pa);
}

static void c_abi_destroy_with_reservations_outstanding(struct kunit *test)
{
	struct pcpu_array *pa = create_or_fail(test, "pcpu_array_c_orphan_a", 8);
	struct pcpu_array *pb = create_or_fail(test, "pcpu_array_c_orphan_b", 8);
	struct pcpu_array_reservation *ra, *rb;

	ra = pcpu_array_reserve(pa, 4, GFP_KERNEL);
	KUNIT_ASSERT_FALSE(test, IS_ERR(ra));
	rb = pcpu_array_reserve(pb, 2, GFP_KERNEL);
	KUNIT_ASSERT_FALSE(test, IS_ERR(rb));

	/*
	 * Misuse: destroy with a reservation outstanding. It warns once (not
	 * once per cache) and defers the destruction to the last unreserve.
	 */
	kunit_warning_suppress(test) {
		pcpu_array_destroy(pa);
		pcpu_array_destroy(pb);
		KUNIT_EXPECT_SUPPRESSED_WARNING_COUNT(test, 1);
	}

	/*
	 * The last unreserve leaves the destruction of each cache to the
	 * module's workqueue, so it may be called where nothing may sleep (with
	 * DEBUG_ATOMIC_SLEEP a sleep here would splat). An object left behind
	 * would be reported there ("Objects remaining") and fail the run.
	 */
	spin_lock(&c_abi_lock);
	pcpu_array_unreserve(ra);
	pcpu_array_unreserve(rb);
	spin_unlock(&c_abi_lock);
}

/*
 * The entry points as a C consumer may keep them: in a table of function
 * pointers of the header's types (an ops structure), called indirectly. On a
 * kernel with CONFIG_CFI each indirect call checks the callee's type id, which
 * clang derives from the pointer's type and rustc from the Rust definition's,
 * and traps ("CFI failure at ...", then an Oops) where they differ: every call
 * below proves that the function, defined in Rust, has the type of its
 * prototype in the header. Without CONFIG_CFI nothing is checked, and the case
 * passes as a plain test of the calls.
 */
struct c_abi_ops {
	typeof(pcpu_array_create) *create;
	typeof(pcpu_array_create_args) *create_args;
	typeof(pcpu_array_destroy) *destroy;
	typeof(pcpu_array_shrink) *shrink;
	typeof(pcpu_array_alloc) *alloc;
	typeof(pcpu_array_alloc_node) *alloc_node;
	typeof(pcpu_array_free) *free;
	typeof(pcpu_array_free_rcu) *free_rcu;
	typeof(pcpu_array_alloc_bulk) *alloc_bulk;
	typeof(pcpu_array_free_bulk) *free_bulk;
	typeof(pcpu_array_prefill) *prefill;
	typeof(pcpu_array_reserve) *reserve;
	typeof(pcpu_array_alloc_reserved) *alloc_reserved;
	typeof(pcpu_array_unreserve) *unreserve;
	typeof(pcpu_array_rsv_fill) *rsv_fill;
	typeof(pcpu_array_rsv_alloc) *rsv_alloc;
	typeof(pcpu_array_rsv_release) *rsv_release;
	typeof(pcpu_array_cache) *cache;
	typeof(pcpu_array_get_stats) *get_stats;
};

static const struct c_abi_ops c_abi_ops = {
	.create = pcpu_array_create,
	.create_args = pcpu_array_create_args,
	.destroy = pcpu_array_destroy,
	.shrink = pcpu_array_shrink,
	.alloc = pcpu_array_alloc,
	.alloc_node = pcpu_array_alloc_node,
	.free = pcpu_array_free,
	.free_rcu = pcpu_array_free_rcu,
	.alloc_bulk = pcpu_array_alloc_bulk,
	.free_bulk = pcpu_array_free_bulk,
	.prefill = pcpu_array_prefill,
	.reserve = pcpu_array_reserve,
	.alloc_reserved = pcpu_array_alloc_reserved,
	.unreserve = pcpu_array_unreserve,
	.rsv_fill = pcpu_array_rsv_fill,
	.rsv_alloc = pcpu_array_rsv_alloc,
	.rsv_release = pcpu_array_rsv_release,
	.cache = pcpu_array_cache,
	.get_stats = pcpu_array_get_stats,
};

static void c_abi_indirect_calls(struct kunit *test)
{
	struct pcpu_array_args args = { .size = OBJ_SIZE, .capacity = 8 };
	const struct c_abi_ops *ops = &c_abi_ops;
	struct pcpu_array_reservation *r;
	void *slots[4], *p[12], *obj;
	struct pcpu_array_rsv rsv = PCPU_ARRAY_RSV_INIT(slots);
	struct pcpu_array_stats st;
	struct pcpu_array *pa;

	/*
	 * The compiler no longer knows which table @ops points to, so each call
	 * loads its pointer and is indirect (checked), not a direct call.
	 */
	OPTIMIZER_HIDE_VAR(ops);

	pa = ops->create_args("pcpu_array_c_indirect_args", &args);
	KUNIT_ASSERT_FALSE(test, IS_ERR(pa));
	KUNIT_EXPECT_GE(test, kmem_cache_size(ops->cache(pa)), OBJ_SIZE);
	ops->destroy(pa);

	pa = ops->create("pcpu_array_c_indirect", OBJ_SIZE, 0, 0, 8);
	KUNIT_ASSERT_FALSE(test, IS_ERR(pa));
	KUNIT_EXPECT_EQ(test, ops->prefill(pa, 4, GFP_KERNEL), 0);
	obj = ops->alloc(pa, GFP_KERNEL);
	KUNIT_EXPECT_NOT_NULL(test, obj);
	ops->free(pa, obj);
	obj = ops->alloc_node(pa, GFP_KERNEL, numa_node_id());
	KUNIT_EXPECT_NOT_NULL(test, obj);
	ops->free(pa, obj);

	if (ops->alloc_bulk(pa, GFP_KERNEL, ARRAY_SIZE(p), p))
		ops->free_bulk(pa, ARRAY_SIZE(p), p);
	else
		KUNIT_FAIL(test, "pcpu_array_alloc_bulk() failed");

	r = ops->reserve(pa, 2, GFP_KERNEL);
	if (!IS_ERR(r)) {
		obj = ops->alloc_reserved(r, GFP_KERNEL);
		KUNIT_EXPECT_NOT_NULL(test, obj);
		ops->unreserve(r);
		ops->free(pa, obj);
	} else {
		KUNIT_FAIL(test, "pcpu_array_reserve() failed: %ld", PTR_ERR(r));
	}

	KUNIT_EXPECT_EQ(test, ops->rsv_fill(pa, &rsv, 2, GFP_KERNEL), 0);
	obj = ops->rsv_alloc(&rsv, GFP_KERNEL);
	KUNIT_EXPECT_NOT_NULL(test, obj);
	ops->rsv_release(&rsv);
	ops->free(pa, obj);

	/* Everything came back, and the arrays hold some of it for shrink. */
	ops->get_stats(pa, &st);
	KUNIT_EXPECT_EQ(test, st.alloc_array + st.alloc_backing, st.free_array + st.free_backing);
	KUNIT_EXPECT_GE(test, st.objects_cached, 1);
	KUNIT_EXPECT_GE(test, ops->shrink(pa), 1);
	/* Pending when the cache is destroyed, which waits for its grace period. */
	obj = ops->alloc(pa, GFP_KERNEL);
	KUNIT_EXPECT_NOT_NULL(test, obj);
	ops->free_rcu(pa, obj);
	ops->destroy(pa);
}

/* A cache with an object parked in this CPU's array, for its teardown to flush. */
static struct pcpu_array *used_cache(struct kunit *test, const char *name)
{
	struct pcpu_array *pa = create_or_fail(test, name, 8);
	void *obj = pcpu_array_alloc(pa, GFP_KERNEL);

	KUNIT_EXPECT_NOT_NULL(test, obj);
	pcpu_array_free(pa, obj);
	return pa;
}

/*
 * Destroy may be called where nothing may sleep: the teardown (which sleeps,
 * and with DEBUG_ATOMIC_SLEEP would splat here) then goes to pcpu_array's
 * workqueue. A create under the same name right after waits for it instead of
 * failing: the backing cache's sysfs directory and the debugfs directory
 * carry the name. The last destroy, from process context, runs at once.
 */
static void c_abi_destroy_in_any_context(struct kunit *test)
{
	static const char name[] = "pcpu_array_c_any_context";
	struct pcpu_array *pa = used_cache(test, name);
	unsigned long flags;

	spin_lock(&c_abi_lock);
	pcpu_array_destroy(pa);
	spin_unlock(&c_abi_lock);

	pa = used_cache(test, name);
	local_bh_disable();
	pcpu_array_destroy(pa);
	local_bh_enable();

	pa = used_cache(test, name);
	rcu_read_lock();
	pcpu_array_destroy(pa);
	rcu_read_unlock();

	pa = used_cache(test, name);
	/* PREEMPT_RT does not free memory with interrupts off (the handle's). */
	if (!IS_ENABLED(CONFIG_PREEMPT_RT)) {
		local_irq_save(flags);
		pcpu_array_destroy(pa);
		local_irq_restore(flags);
		pa = used_cache(test, name);
	}
	pcpu_array_destroy(pa);
}

/*
 * The last unreserve of a destroyed cache queues its teardown; a create under
 * its name right after succeeds.
 */
static void c_abi_recreate_after_the_last_unreserve(struct kunit *test)
{
	static const char name[] = "pcpu_array_c_orphan_again";
	struct pcpu_array *pa = used_cache(test, name);
	struct pcpu_array_reservation *r = pcpu_array_reserve(pa, 2, GFP_KERNEL);

	KUNIT_ASSERT_FALSE(test, IS_ERR(r));
	kunit_warning_suppress(test) {
		pcpu_array_destroy(pa);
	}
	spin_lock(&c_abi_lock);
	pcpu_array_unreserve(r);
	spin_unlock(&c_abi_lock);
	pa = pcpu_array_create(name, OBJ_SIZE, 0, 0, 8);
	KUNIT_EXPECT_FALSE_MSG(test, IS_ERR(pa), "create over a queued teardown: %ld",
			       PTR_ERR(pa));
	pcpu_array_destroy(pa);
}

static struct kunit_case pcpu_array_c_abi_cases[] = {
	KUNIT_CASE(c_abi_create_rejects_bad_input),
	KUNIT_CASE(c_abi_bad_handles_are_refused),
	KUNIT_CASE(c_abi_contexts),
	KUNIT_CASE(c_abi_alloc_free),
	KUNIT_CASE(c_abi_inline_fails_closed),
	KUNIT_CASE(c_abi_inline_alloc_free),
	KUNIT_CASE(c_abi_inline_remote_node_free),
	KUNIT_CASE(c_abi_bulk),
	KUNIT_CASE(c_abi_prefill),
	KUNIT_CASE(c_abi_create_args_and_shrink),
	KUNIT_CASE(c_abi_reservation),
	KUNIT_CASE(c_abi_destroy_with_reservations_outstanding),
	/* After it: the warning of a destroy with reservations is printed once. */
	KUNIT_CASE(c_abi_stored_reservation),
	KUNIT_CASE(c_abi_indirect_calls),
	KUNIT_CASE(c_abi_recreate_after_the_last_unreserve),
	KUNIT_CASE(c_abi_destroy_in_any_context),
	{}
};

static struct kunit_suite pcpu_array_c_abi_suite = {
	.name = "pcpu_array_c_abi",
	.test_cases = pcpu_array_c_abi_cases,
};
kunit_test_suite(pcpu_array_c_abi_suite);

MODULE_DESCRIPTION("C consumer of pcpu_array and KUnit tests of its C ABI");
MODULE_LICENSE("GPL");
