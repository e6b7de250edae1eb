// SPDX-License-Identifier: GPL-2.0
/*
 * A consumer that leaks: it creates a cache, reserves from it, destroys it with
 * the reservation outstanding and never gives the reservation back. The cache
 * then lives on, and with it its shrinker and hotplug instance, so pcpu_array.ko
 * must stay loaded: scripts/guest.sh unloads this module and then requires
 * `rmmod pcpu_array` to fail with EBUSY, with no WARN. It runs last in the
 * boot, after the kmemleak scan (the leak is deliberate).
 */

#include <kunit/test.h>
#include <linux/err.h>
#include <linux/module.h>
#include <pcpu_array.h>

static void leak_a_reservation_after_destroy(struct kunit *test)
{
	struct pcpu_array *pa = pcpu_array_create("pcpu_array_leak", 64, 0, 0, 8);
	struct pcpu_array_reservation *r;

	KUNIT_ASSERT_FALSE(test, IS_ERR(pa));
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

MODULE_DESCRIPTION("pcpu_array: a consumer that leaks a cache (pcpu_array.ko must stay loaded)");
MODULE_LICENSE("GPL");
