// SPDX-License-Identifier: GPL-2.0
/*
 * memcg charging through pcpu_array, driven from cgroup v2 by
 * scripts/guest-memcg.sh (issue 12).
 *
 * Two caches of 4096-byte objects with SLAB_ACCOUNT: one behind pcpu_array
 * (through the C ABI, include/pcpu_array.h) and, as the control, a plain
 * kmem_cache. Each has a file in /sys/kernel/debug/pcpu_array_memcg/
 * ("pcpu_array", "plain") that takes one command per write, carried out in the
 * writer's task context, so that the writer's memory cgroup is the one charged:
 *
 *   fill N   allocate N objects and free them again: behind pcpu_array they stay
 *            parked in this CPU's array;
 *   take N   allocate N objects and keep them; all or nothing: when one
 *            allocation fails, those of this command are freed and the write
 *            fails with -ENOMEM;
 *   put      free every object kept.
 *
 * A third file, "reserved", is a pcpu_array cache without SLAB_ACCOUNT whose
 * objects come out of a reservation:
 *
 *   reserve N  reserve N objects with GFP_KERNEL (charged to no one);
 *   take N     take N of them with GFP_KERNEL_ACCOUNT and keep them: each is
 *              charged to the writer's memory cgroup as it is taken
 *              (pcpu_array_alloc_reserved(), as kmem_cache_alloc_from_sheaf());
 *   put        free every object kept and give the reservation back.
 *
 * A command runs with migration disabled, on one CPU; reading the file gives
 * that CPU and the number of objects kept ("cpu=0 kept=16"). The writers pin
 * themselves to a CPU (taskset), so that the arrays they meet are that CPU's.
 *
 * The allocations are GFP_KERNEL | __GFP_NORETRY: a charge above memory.max then
 * fails with -ENOMEM after one reclaim pass instead of invoking the memory
 * cgroup's OOM killer, for both caches alike.
 */

#include <linux/cpumask.h>
#include <linux/debugfs.h>
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/preempt.h>
#include <linux/slab.h>
#include <linux/smp.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <pcpu_array.h>

#define OBJ_SIZE	4096
#define CAPACITY	64
#define KEEP_MAX	256	/* objects one target keeps, and one command's most */
#define GFP		(GFP_KERNEL | __GFP_NORETRY | __GFP_NOWARN)

struct target {
	const char *name;
	struct pcpu_array *pa;		/* the pcpu_array target */
	struct pcpu_array_reservation *rsv;	/* "reserved": what it takes from */
	struct kmem_cache *plain;	/* the control */
	struct mutex lock;		/* the fields below, and one command at a time */
	void *kept[KEEP_MAX];
	unsigned int nkept;
	void *scratch[KEEP_MAX];
	int last_cpu;
};

static struct target targets[3] = {
	{ .name = "pcpu_array", .last_cpu = -1 },
	{ .name = "plain", .last_cpu = -1 },
	{ .name = "reserved", .last_cpu = -1 },
};

#define RESERVED (&targets[2])

static struct dentry *dir;

static void *target_alloc(struct target *t)
{
	if (t == RESERVED)
		return t->rsv ? pcpu_array_alloc_reserved(t->rsv, GFP_KERNEL_ACCOUNT) : NULL;
	return t->pa ? pcpu_array_alloc(t->pa, GFP) : kmem_cache_alloc(t->plain, GFP);
}

static void target_free(struct target *t, void *obj)
{
	if (t->pa)
		pcpu_array_free(t->pa, obj);
	else
		kmem_cache_free(t->plain, obj);
}

/* Allocates @n objects into t->scratch: all of them, or none and -ENOMEM. */
static int target_alloc_n(struct target *t, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		t->scratch[i] = target_alloc(t);
		if (!t->scratch[i]) {
			while (i--)
				target_free(t, t->scratch[i]);
			return -ENOMEM;
		}
	}
	return 0;
}

static void target_put(struct target *t)
{
	while (t->nkept)
		target_free(t, t->kept[--t->nkept]);
	pcpu_array_unreserve(t->rsv);
	t->rsv = NULL;
}

static int target_command(struct target *t, const char *cmd, unsigned int n, bool has_n)
{
	unsigned int i;
	int ret;

	if (!strcmp(cmd, "fill") && has_n && n <= KEEP_MAX) {
		ret = target_alloc_n(t, n);
		if (ret)
			return ret;
		for (i = 0; i < n; i++)
			target_free(t, t->scratch[i]);
		return 0;
	}
	if (!strcmp(cmd, "take") && has_n && n <= KEEP_MAX - t->nkept) {
		ret = target_alloc_n(t, n);
		if (ret)
			return ret;
		memcpy(&t->kept[t->nkept], t->scratch, n * sizeof(void *));
		t->nkept += n;
		return 0;
	}
	if (!strcmp(cmd, "reserve") && has_n && t == RESERVED && !t->rsv) {
		t->rsv = pcpu_array_reserve(t->pa, n, GFP);
		if (IS_ERR(t->rsv)) {
			ret = PTR_ERR(t->rsv);
			t->rsv = NULL;
			return ret;
		}
		return 0;
	}
	if (!strcmp(cmd, "put") && !has_n) {
		target_put(t);
		return 0;
	}
	return -EINVAL;
}

static ssize_t ctl_write(struct file *file, const char __user *ubuf, size_t len,
			 loff_t *ppos)
{
	struct target *t = file->private_data;
	char buf[32], cmd[8];
	unsigned int n = 0;
	int fields, ret;

	if (len >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = '\0';
	fields = sscanf(buf, "%7s %u", cmd, &n);
	if (fields < 1)
		return -EINVAL;

	mutex_lock(&t->lock);
	migrate_disable();
	t->last_cpu = raw_smp_processor_id();
	ret = target_command(t, cmd, n, fields == 2);
	migrate_enable();
	mutex_unlock(&t->lock);
	return ret ? ret : len;
}

static ssize_t ctl_read(struct file *file, char __user *ubuf, size_t len, loff_t *ppos)
{
	struct target *t = file->private_data;
	char buf[48];
	int n;

	mutex_lock(&t->lock);
	n = scnprintf(buf, sizeof(buf), "cpu=%d kept=%u\n", t->last_cpu, t->nkept);
	mutex_unlock(&t->lock);
	return simple_read_from_buffer(ubuf, len, ppos, buf, n);
}

static const struct file_operations ctl_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.read = ctl_read,
	.write = ctl_write,
	.llseek = default_llseek,
};

static void memcg_test_cleanup(void)
{
	unsigned int i;

	debugfs_remove_recursive(dir);
	for (i = 0; i < ARRAY_SIZE(targets); i++) {
		target_put(&targets[i]);
		pcpu_array_destroy(targets[i].pa);
		kmem_cache_destroy(targets[i].plain);
	}
}

static int __init pcpu_array_memcg_init(void)
{
	struct pcpu_array *pa;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(targets); i++)
		mutex_init(&targets[i].lock);

	pa = pcpu_array_create("pcpu_array_memcg", OBJ_SIZE, 0, SLAB_ACCOUNT, CAPACITY);
	if (IS_ERR(pa))
		return PTR_ERR(pa);
	targets[0].pa = pa;
	targets[1].plain = kmem_cache_create("pcpu_array_memcg_plain", OBJ_SIZE, 0,
					     SLAB_ACCOUNT, NULL);
	if (!targets[1].plain) {
		memcg_test_cleanup();
		return -ENOMEM;
	}
	pa = pcpu_array_create("pcpu_array_memcg_reserved", OBJ_SIZE, 0, 0, CAPACITY);
	if (IS_ERR(pa)) {
		memcg_test_cleanup();
		return PTR_ERR(pa);
	}
	RESERVED->pa = pa;

	dir = debugfs_create_dir("pcpu_array_memcg", NULL);
	for (i = 0; i < ARRAY_SIZE(targets); i++)
		debugfs_create_file(targets[i].name, 0600, dir, &targets[i], &ctl_fops);
	return 0;
}

static void __exit pcpu_array_memcg_exit(void)
{
	memcg_test_cleanup();
}

module_init(pcpu_array_memcg_init);
module_exit(pcpu_array_memcg_exit);

MODULE_DESCRIPTION("pcpu_array: memcg charging from cgroup v2, against a plain SLAB_ACCOUNT cache");
MODULE_LICENSE("GPL");
