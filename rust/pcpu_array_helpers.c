// SPDX-License-Identifier: GPL-2.0
/*
 * One-line wrappers around the macros and inline functions that the Rust side
 * of pcpu_array cannot call directly. No logic lives here: what each wrapper
 * guarantees is documented where Rust calls it (rust/ffi.rs).
 */

#include <linux/cpuhotplug.h>
#include <linux/cpumask.h>
#include <linux/hardirq.h>
#include <linux/irqflags.h>
#include <linux/kasan.h>
#include <linux/kasan-checks.h>
#include <linux/local_lock.h>
#include <linux/mutex.h>
#include <linux/percpu.h>
#include <linux/preempt.h>
#include <linux/sched.h>
#include <linux/shrinker.h>
#include <linux/smp.h>
#include <linux/workqueue.h>

#include "pcpu_array_helpers.h"

/*
 * On PREEMPT_RT the per-CPU lock is a sleeping spinlock, so the task is pinned
 * by disabling migration; elsewhere by disabling preemption.
 */
void pcpu_array_migrate_disable(void)
{
	migrate_disable();
}

void pcpu_array_migrate_enable(void)
{
	migrate_enable();
}

void pcpu_array_preempt_disable(void)
{
	preempt_disable();
}

void pcpu_array_preempt_enable(void)
{
	preempt_enable();
}

/*
 * The slow path of the preempt_enable() that rust/this_cpu.rs inlines: the
 * count reached zero with a reschedule pending.
 */
void pcpu_array_preempt_schedule(void)
{
#ifdef CONFIG_PREEMPTION
	__preempt_schedule();
#endif
}

unsigned int pcpu_array_cpu_id(void)
{
	return smp_processor_id();
}

int pcpu_array_preempt_count(void)
{
	return preempt_count();
}

bool pcpu_array_in_hardirq(void)
{
	return in_hardirq() || in_nmi();
}

bool pcpu_array_irqs_disabled(void)
{
	return irqs_disabled();
}

void __percpu *pcpu_array_alloc_percpu(size_t size, size_t align)
{
	return __alloc_percpu(size, align);
}

void *pcpu_array_per_cpu_ptr(void __percpu *ptr, unsigned int cpu)
{
	return per_cpu_ptr(ptr, cpu);
}

unsigned int pcpu_array_next_possible_cpu(int cpu)
{
	return cpumask_next(cpu, cpu_possible_mask);
}

unsigned int pcpu_array_nr_cpu_ids(void)
{
	return nr_cpu_ids;
}

unsigned int pcpu_array_next_online_cpu(int cpu)
{
	return cpumask_next(cpu, cpu_online_mask);
}

unsigned long pcpu_array_local_irq_save(void)
{
	unsigned long flags;

	local_irq_save(flags);
	return flags;
}

void pcpu_array_local_irq_restore(unsigned long flags)
{
	local_irq_restore(flags);
}

void pcpu_array_local_trylock_init(local_trylock_t *lock)
{
	local_trylock_init(lock);
}

bool pcpu_array_local_trylock(local_trylock_t __percpu *lock)
{
	return local_trylock(lock);
}

void pcpu_array_local_unlock(local_trylock_t __percpu *lock)
{
	local_unlock(lock);
}

/*
 * The dead-CPU teardown of a prepare state runs on a control CPU once the CPU
 * is gone, so its arrays can be flushed without their locks.
 */
int pcpu_array_cpuhp_setup_multi(const char *name,
				 int (*teardown)(unsigned int cpu, struct hlist_node *node))
{
	return cpuhp_setup_state_multi(CPUHP_BP_PREPARE_DYN, name, NULL, teardown);
}

void pcpu_array_cpuhp_remove_multi(int state)
{
	cpuhp_remove_multi_state(state);
}

int pcpu_array_cpuhp_add_instance(int state, struct hlist_node *node)
{
	return cpuhp_state_add_instance_nocalls(state, node);
}

int pcpu_array_cpuhp_remove_instance(int state, struct hlist_node *node)
{
	return cpuhp_state_remove_instance_nocalls(state, node);
}

long pcpu_array_work_on_cpu(int cpu, long (*fn)(void *), void *arg)
{
	return work_on_cpu(cpu, fn, arg);
}

void pcpu_array_set_make_it_fail(bool fail)
{
#ifdef CONFIG_FAULT_INJECTION
	current->make_it_fail = fail;
#endif
}

/*
 * Running a function on every online CPU, for pcpu_array_shrink() and the
 * shrinkers. As SLUB's flush_all() does for its sheaves, per-CPU work items go
 * to a WQ_MEM_RECLAIM workqueue, so that a shrinker called under memory
 * pressure makes progress. Unlike flush_all(), no cpus_read_lock(): a shrinker
 * must not take it (CPU hotplug allocates memory with it held). A work item
 * queued to a CPU that goes away meanwhile runs on another CPU, which is
 * harmless here: the function acts on the CPU it runs on, and a dead CPU's
 * array is flushed by the hotplug teardown.
 */
struct pcpu_array_cpu_work {
	struct work_struct work;
	unsigned long (*fn)(void *arg);
	void *arg;
	unsigned long ret;
};

static DEFINE_PER_CPU(struct pcpu_array_cpu_work, pcpu_array_cpu_works);
static DEFINE_MUTEX(pcpu_array_cpu_works_lock);
static struct workqueue_struct *pcpu_array_wq;

int pcpu_array_wq_init(void)
{
	pcpu_array_wq = alloc_workqueue("pcpu_array_flush", WQ_PERCPU | WQ_MEM_RECLAIM, 0);
	return pcpu_array_wq ? 0 : -ENOMEM;
}

void pcpu_array_wq_exit(void)
{
	destroy_workqueue(pcpu_array_wq);
}

static void pcpu_array_cpu_work_fn(struct work_struct *work)
{
	struct pcpu_array_cpu_work *w =
		container_of(work, struct pcpu_array_cpu_work, work);

	w->ret = w->fn(w->arg);
}

unsigned long pcpu_array_on_each_cpu(unsigned long (*fn)(void *arg), void *arg)
{
	struct pcpu_array_cpu_work *w;
	unsigned long sum = 0;
	int cpu;

	mutex_lock(&pcpu_array_cpu_works_lock);
	for_each_online_cpu(cpu) {
		w = per_cpu_ptr(&pcpu_array_cpu_works, cpu);
		INIT_WORK(&w->work, pcpu_array_cpu_work_fn);
		w->fn = fn;
		w->arg = arg;
		w->ret = 0;
		queue_work_on(cpu, pcpu_array_wq, &w->work);
	}
	for_each_possible_cpu(cpu) {
		w = per_cpu_ptr(&pcpu_array_cpu_works, cpu);
		if (w->fn != fn || w->arg != arg)
			continue;
		flush_work(&w->work);
		sum += w->ret;
		w->fn = NULL;
	}
	mutex_unlock(&pcpu_array_cpu_works_lock);
	return sum;
}

/* shrinker_alloc() takes a format: the name is passed as an argument to "%s". */
struct shrinker *pcpu_array_shrinker_create(const char *name,
					    unsigned long (*count)(struct shrinker *,
								   struct shrink_control *),
					    unsigned long (*scan)(struct shrinker *,
								  struct shrink_control *),
					    void *private_data)
{
	struct shrinker *s = shrinker_alloc(0, "pcpu_array-%s", name);

	if (!s)
		return NULL;
	s->count_objects = count;
	s->scan_objects = scan;
	s->private_data = private_data;
	shrinker_register(s);
	return s;
}

/*
 * KASAN (generic mode) sees the objects parked in an array as freed. Only
 * kasan_poison() is exported (for KASAN's own tests); unpoisoning is the same
 * call with the shadow values that kasan_unpoison() writes: 0 for each whole
 * granule, the count of valid bytes for a partial last one.
 */
#ifdef CONFIG_KASAN_GENERIC
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
#endif
