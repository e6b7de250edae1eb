// SPDX-License-Identifier: GPL-2.0
/*
 * A C consumer of pcpu_array: proves that a module written against
 * include/pcpu_array.h alone can use every entry point, and that bad input gets
 * a clear error. Its KUnit suite runs when the module loads.
 */

#include <kunit/test.h>
#include <linux/err.h>
#include <linux/module.h>
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
	/* No-ops. */
	pcpu_array_destroy(NULL);
	pcpu_array_unreserve(NULL);
}

static void c_abi_alloc_free(struct kunit *test)
{
	struct pcpu_array *pa = create_or_fail(test, "pcpu_array_c_alloc", 16);
	struct kmem_cache *s = pcpu_array_cache(pa);
	struct pcpu_array_stats st;
	void *obj, *node;

	KUNIT_ASSERT_NOT_NULL(test, s);
	KUNIT_EXPECT_GE(test, kmem_cache_size(s), OBJ_SIZE);

	obj = pcpu_array_alloc(pa, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, obj);
	memset(obj, 0x5a, OBJ_SIZE);
	pcpu_array_free(pa, obj);
	obj = pcpu_array_alloc(pa, GFP_KERNEL | __GFP_ZERO);
	KUNIT_ASSERT_NOT_NULL(test, obj);
	KUNIT_EXPECT_NULL(test, memchr_inv(obj, 0, OBJ_SIZE));

	node = pcpu_array_alloc_node(pa, GFP_KERNEL, numa_node_id());
	KUNIT_ASSERT_NOT_NULL(test, node);
	pcpu_array_free(pa, node);
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
	 * The last unreserve destroys each cache; an object left behind would
	 * be reported there ("Objects remaining") and fail the run.
	 */
	pcpu_array_unreserve(ra);
	pcpu_array_unreserve(rb);
}

static struct kunit_case pcpu_array_c_abi_cases[] = {
	KUNIT_CASE(c_abi_create_rejects_bad_input),
	KUNIT_CASE(c_abi_alloc_free),
	KUNIT_CASE(c_abi_bulk),
	KUNIT_CASE(c_abi_prefill),
	KUNIT_CASE(c_abi_create_args_and_shrink),
	KUNIT_CASE(c_abi_reservation),
	KUNIT_CASE(c_abi_destroy_with_reservations_outstanding),
	{}
};

static struct kunit_suite pcpu_array_c_abi_suite = {
	.name = "pcpu_array_c_abi",
	.test_cases = pcpu_array_c_abi_cases,
};
kunit_test_suite(pcpu_array_c_abi_suite);

MODULE_DESCRIPTION("C consumer of pcpu_array and KUnit tests of its C ABI");
MODULE_LICENSE("GPL");
