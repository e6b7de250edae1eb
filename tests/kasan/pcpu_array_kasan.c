// SPDX-License-Identifier: GPL-2.0
/*
 * KASAN sees the objects parked in a pcpu_array: a use after free of an object
 * that sits in an array, and a second free of it, are reported.
 *
 * The bad accesses are deliberate, so this module runs in a boot of its own:
 * `make test` boots it with kasan_multi_shot and expects exactly one report
 * from each of pcpu_array_kasan_uaf_read() and PcpuArray::free() (the
 * double-free check behind pcpu_array_free()), and no other splat. They are made
 * from a kworker, not from the KUnit thread, because KASAN fails the running
 * KUnit case on any report unless its own test suite is executing. The KUnit
 * cases check the rest: the object was parked, the second free was refused,
 * and nothing is handed out twice.
 */

#include <kunit/test.h>
#include <linux/compiler.h>
#include <linux/err.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/string.h>
#include <linux/workqueue.h>
#include <pcpu_array.h>

#define OBJ_SIZE 64

struct kasan_ctx {
	struct pcpu_array *pa;
	struct pcpu_array_stats before, parked, after;
	void *obj, *again, *other;
	u8 byte;
};

/* The use after free the harness expects KASAN to report, by this name. */
static noinline u8 pcpu_array_kasan_uaf_read(const void *obj)
{
	return READ_ONCE(*(const u8 *)obj);
}

/* Runs on one CPU, so that the freed object stays in that CPU's array. */
static long uaf_on_cpu(void *arg)
{
	struct kasan_ctx *c = arg;

	pcpu_array_get_stats(c->pa, &c->before);
	c->obj = pcpu_array_alloc(c->pa, GFP_KERNEL);
	if (!c->obj)
		return -ENOMEM;
	memset(c->obj, 0x5a, OBJ_SIZE);
	pcpu_array_free(c->pa, c->obj);
	pcpu_array_get_stats(c->pa, &c->parked);
	/* Parked in this CPU's array: poisoned, so this read is reported. */
	c->byte = pcpu_array_kasan_uaf_read(c->obj);
	/* Handed out again (the array is a stack): valid again, no report. */
	c->again = pcpu_array_alloc(c->pa, GFP_KERNEL);
	if (c->again) {
		c->byte = pcpu_array_kasan_uaf_read(c->again);
		pcpu_array_free(c->pa, c->again);
	}
	pcpu_array_get_stats(c->pa, &c->after);
	return 0;
}

static long double_free_on_cpu(void *arg)
{
	struct kasan_ctx *c = arg;

	c->obj = pcpu_array_alloc(c->pa, GFP_KERNEL);
	if (!c->obj)
		return -ENOMEM;
	pcpu_array_get_stats(c->pa, &c->before);
	pcpu_array_free(c->pa, c->obj);
	/* Reported by the check in pcpu_array_free(), and refused. */
	pcpu_array_free(c->pa, c->obj);
	pcpu_array_get_stats(c->pa, &c->parked);
	/* Were the object in the array twice, both would get it. */
	c->again = pcpu_array_alloc(c->pa, GFP_KERNEL);
	c->other = pcpu_array_alloc(c->pa, GFP_KERNEL);
	pcpu_array_free(c->pa, c->again);
	pcpu_array_free(c->pa, c->other);
	pcpu_array_get_stats(c->pa, &c->after);
	return 0;
}

static long double_free_bulk_on_cpu(void *arg)
{
	struct kasan_ctx *c = arg;
	void *objs[2];

	c->obj = pcpu_array_alloc(c->pa, GFP_KERNEL);
	c->other = pcpu_array_alloc(c->pa, GFP_KERNEL);
	if (!c->obj || !c->other) {
		pcpu_array_free(c->pa, c->obj);
		pcpu_array_free(c->pa, c->other);
		return -ENOMEM;
	}
	pcpu_array_free(c->pa, c->obj);
	pcpu_array_get_stats(c->pa, &c->before);
	/*
	 * c->obj is cached already: the check in pcpu_array_free_bulk() reports
	 * it once and skips it; c->other is freed as usual.
	 */
	objs[0] = c->obj;
	objs[1] = c->other;
	pcpu_array_free_bulk(c->pa, ARRAY_SIZE(objs), objs);
	pcpu_array_get_stats(c->pa, &c->parked);
	/* Were c->obj in the array twice, both would get it. */
	c->again = pcpu_array_alloc(c->pa, GFP_KERNEL);
	objs[0] = c->again;
	objs[1] = pcpu_array_alloc(c->pa, GFP_KERNEL);
	c->byte = objs[0] != objs[1];
	pcpu_array_free_bulk(c->pa, ARRAY_SIZE(objs), objs);
	pcpu_array_get_stats(c->pa, &c->after);
	return 0;
}

static long duplicate_in_bulk_on_cpu(void *arg)
{
	struct kasan_ctx *c = arg;
	void *objs[3];

	c->obj = pcpu_array_alloc(c->pa, GFP_KERNEL);
	c->other = pcpu_array_alloc(c->pa, GFP_KERNEL);
	if (!c->obj || !c->other) {
		pcpu_array_free(c->pa, c->obj);
		pcpu_array_free(c->pa, c->other);
		return -ENOMEM;
	}
	pcpu_array_get_stats(c->pa, &c->before);
	/*
	 * c->obj twice in one call: the first goes into the array, the second
	 * is reported by the check in the push and left out.
	 */
	objs[0] = c->obj;
	objs[1] = c->other;
	objs[2] = c->obj;
	pcpu_array_free_bulk(c->pa, ARRAY_SIZE(objs), objs);
	pcpu_array_get_stats(c->pa, &c->parked);
	/* Were c->obj in the array twice, the next two allocations would get it. */
	c->again = pcpu_array_alloc(c->pa, GFP_KERNEL);
	objs[0] = c->again;
	objs[1] = pcpu_array_alloc(c->pa, GFP_KERNEL);
	c->byte = objs[0] != objs[1];
	pcpu_array_free_bulk(c->pa, 2, objs);
	pcpu_array_get_stats(c->pa, &c->after);
	return 0;
}

static void run_on_cpu(struct kunit *test, long (*fn)(void *), struct kasan_ctx *c,
		       const char *name)
{
	/* Without KASAN nothing refuses the misuse: it would corrupt the slab. */
	if (!IS_ENABLED(CONFIG_KASAN_GENERIC))
		kunit_skip(test, "needs generic KASAN, which reports and refuses the misuse");
	c->pa = pcpu_array_create(name, OBJ_SIZE, 0, 0, 8);
	KUNIT_ASSERT_FALSE(test, IS_ERR(c->pa));
	KUNIT_EXPECT_EQ(test, work_on_cpu(cpumask_first(cpu_online_mask), fn, c), 0);
}

static void kasan_reports_uaf_of_cached_object(struct kunit *test)
{
	struct kasan_ctx c = {};

	run_on_cpu(test, uaf_on_cpu, &c, "pcpu_array_kasan_uaf");
	KUNIT_EXPECT_EQ(test, c.parked.free_array - c.before.free_array, 1);
	KUNIT_EXPECT_GE(test, c.parked.objects_cached, 1);
	KUNIT_EXPECT_PTR_EQ(test, c.again, c.obj);
	/*
	 * The object handed out again keeps its data, unless the kernel wipes
	 * objects on the way out (init_on_alloc) or in (init_on_free).
	 */
	KUNIT_EXPECT_EQ(test, c.byte,
			want_init_on_alloc(GFP_KERNEL) || want_init_on_free() ? 0 : 0x5a);
	KUNIT_EXPECT_EQ(test, c.after.alloc_array + c.after.alloc_backing,
			c.after.free_array + c.after.free_backing);
	pcpu_array_destroy(c.pa);
}

static void kasan_reports_and_refuses_double_free(struct kunit *test)
{
	struct kasan_ctx c = {};

	run_on_cpu(test, double_free_on_cpu, &c, "pcpu_array_kasan_dfree");
	/* One free went into the array; the second went nowhere. */
	KUNIT_EXPECT_EQ(test, c.parked.free_array - c.before.free_array, 1);
	KUNIT_EXPECT_EQ(test, c.parked.free_backing, c.before.free_backing);
	KUNIT_EXPECT_PTR_EQ(test, c.again, c.obj);
	KUNIT_EXPECT_NOT_NULL(test, c.other);
	KUNIT_EXPECT_PTR_NE(test, c.other, c.obj);
	KUNIT_EXPECT_EQ(test, c.after.alloc_array + c.after.alloc_backing,
			c.after.free_array + c.after.free_backing);
	pcpu_array_destroy(c.pa);
}

static void kasan_bulk_free_skips_double_free(struct kunit *test)
{
	struct kasan_ctx c = {};

	run_on_cpu(test, double_free_bulk_on_cpu, &c, "pcpu_array_kasan_dfree_bulk");
	/* Only c->other went in (into the array: it has room), c->obj nowhere. */
	KUNIT_EXPECT_EQ(test, c.parked.free_array - c.before.free_array, 1);
	KUNIT_EXPECT_EQ(test, c.parked.free_backing, c.before.free_backing);
	KUNIT_EXPECT_EQ(test, c.byte, 1);
	KUNIT_EXPECT_EQ(test, c.after.alloc_array + c.after.alloc_backing,
			c.after.free_array + c.after.free_backing);
	pcpu_array_destroy(c.pa);
}

static void kasan_bulk_free_skips_duplicate(struct kunit *test)
{
	struct kasan_ctx c = {};

	run_on_cpu(test, duplicate_in_bulk_on_cpu, &c, "pcpu_array_kasan_dup_bulk");
	/* Two objects went in, the duplicate nowhere. */
	KUNIT_EXPECT_EQ(test, c.parked.free_array - c.before.free_array, 2);
	KUNIT_EXPECT_EQ(test, c.parked.free_backing, c.before.free_backing);
	KUNIT_EXPECT_EQ(test, c.byte, 1);
	KUNIT_EXPECT_EQ(test, c.after.alloc_array + c.after.alloc_backing,
			c.after.free_array + c.after.free_backing);
	pcpu_array_destroy(c.pa);
}

static struct kunit_case pcpu_array_kasan_cases[] = {
	KUNIT_CASE(kasan_reports_uaf_of_cached_object),
	KUNIT_CASE(kasan_reports_and_refuses_double_free),
	KUNIT_CASE(kasan_bulk_free_skips_double_free),
	KUNIT_CASE(kasan_bulk_free_skips_duplicate),
	{}
};

static struct kunit_suite pcpu_array_kasan_suite = {
	.name = "pcpu_array_kasan",
	.test_cases = pcpu_array_kasan_cases,
};
kunit_test_suite(pcpu_array_kasan_suite);

MODULE_DESCRIPTION("pcpu_array: KASAN reports misuse of cached objects (expects reports)");
MODULE_LICENSE("GPL");
