// SPDX-License-Identifier: GPL-2.0
/*
 * A consumer that leaks: it creates a cache, reserves from it, destroys it with
 * the reservation outstanding and never gives the reservation back. The cache
 * then lives on, and with it its shrinker and hotplug instance, so pcpu_array.ko
 * must stay loaded: scripts/guest.sh unloads this module and then requires
 * `rmmod pcpu_array` to fail with EBUSY, with no WARN. It also leaks an object,
 * whose address it shows in /sys/kernel/debug/pcpu_array_leak/object, which
 * kmemleak must know (the backing cache tells kmemleak about its objects:
 * Documentation/pcpu_array.rst, "What an object means"); guest.sh asks it with
 * `dump=<address>`, which fails for an object kmemleak does not track. It runs
 * last in the boot, after the kmemleak scan of the other modules (the leaks are
 * deliberate).
 */

#include <kunit/test.h>
#include <linux/debugfs.h>
#include <linux/err.h>
#include <linux/module.h>
#include <pcpu_array.h>

static u64 leaked_object;
static struct dentry *dir;

static void leak_a_reservation_after_destroy(struct kunit *test)
{
	struct pcpu_array *pa = pcpu_array_create("pcpu_array_leak", 64, 0, 0, 8);
	struct pcpu_array_reservation *r;
	void *obj;

	KUNIT_ASSERT_FALSE(test, IS_ERR(pa));
	obj = pcpu_array_alloc(pa, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, obj);
	leaked_object = (u64)(unsigned long)obj;
	r = pcpu_array_reserve(pa, 4, GFP_KERNEL);
	KUNIT_ASSERT_FALSE(test, IS_ERR(r));
	/* Destroy with a reservation outstanding warns once, by design. */
	kunit_warning_suppress(test) {
		pcpu_array_destroy(pa);
		KUNIT_EXPECT_SUPPRESSED_WARNING_COUNT(test, 1);
	}
	/* The reservation still works; it is then leaked on purpose. */
	KUNIT_EXPECT_NOT_NULL(test, pcpu_array_alloc_reserved(r, GFP_KERNEL));
}

static struct kunit_case pcpu_array_leak_cases[] = {
	KUNIT_CASE(leak_a_reservation_after_destroy),
	{}
};

static struct kunit_suite pcpu_array_leak_suite = {
	.name = "pcpu_array_leak",
	.test_cases = pcpu_array_leak_cases,
};
kunit_test_suite(pcpu_array_leak_suite);

static int __init pcpu_array_leak_init(void)
{
	dir = debugfs_create_dir("pcpu_array_leak", NULL);
	debugfs_create_x64("object", 0400, dir, &leaked_object);
	return 0;
}
module_init(pcpu_array_leak_init);

static void __exit pcpu_array_leak_exit(void)
{
	debugfs_remove(dir);
}
module_exit(pcpu_array_leak_exit);

MODULE_DESCRIPTION("pcpu_array: a consumer that leaks a cache (pcpu_array.ko must stay loaded)");
MODULE_LICENSE("GPL");
