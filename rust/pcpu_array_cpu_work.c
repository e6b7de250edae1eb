// SPDX-License-Identifier: GPL-2.0
/*
 * Running a function on chosen CPUs, for pcpu_array_shrink() and the shrinkers
 * (rust/cpu_work.rs is the Rust side). As SLUB's flush_all() does for its
 * sheaves, per-CPU work items go to a WQ_MEM_RECLAIM workqueue, so that a
 * shrinker called under memory pressure makes progress.
 *
 * Each cache owns its work items, one per possible CPU, and a mutex that the
 * caller queueing them holds until it has waited for them: callers on
 * different caches never wait for each other, and only the CPUs a caller
 * names get a work item. Unlike flush_all(), no cpus_read_lock(): a shrinker
 * must not take it (CPU hotplug allocates memory with it held). A work item
 * queued to a CPU that goes away meanwhile runs on another CPU, which is
 * harmless here: the function acts on the CPU it runs on, and a dead CPU's
 * array is flushed by the hotplug teardown.
 */

#include <linux/cpumask.h>
#include <linux/lockdep.h>
#include <linux/mutex.h>
#include <linux/percpu.h>
#include <linux/slab.h>
#include <linux/workqueue.h>

#include "pcpu_array_helpers.h"

struct pcpu_array_cpu_work {
	struct work_struct work;
	unsigned long (*fn)(void *arg, unsigned long budget);
	void *arg;
	unsigned long budget;
	unsigned long ret;
	bool queued;
};

struct pcpu_array_cpu_works {
	/* Held by the one caller whose items are queued, until they have run. */
	struct mutex lock;
	struct pcpu_array_cpu_work __percpu *items;
};

static struct workqueue_struct *pcpu_array_wq;

int pcpu_array_cpu_work_init(void)
{
	pcpu_array_wq = alloc_workqueue("pcpu_array_flush", WQ_PERCPU | WQ_MEM_RECLAIM, 0);
	return pcpu_array_wq ? 0 : -ENOMEM;
}

void pcpu_array_cpu_work_exit(void)
{
	destroy_workqueue(pcpu_array_wq);
}

/*
 * Runs @fn on the module's workqueue, for teardown that must not run in its
 * caller's context; module exit waits for it (destroy_workqueue()).
 */
void pcpu_array_defer(struct work_struct *work, void (*fn)(struct work_struct *work))
{
	INIT_WORK(work, fn);
	queue_work(pcpu_array_wq, work);
}

static void pcpu_array_cpu_work_fn(struct work_struct *work)
{
	struct pcpu_array_cpu_work *w =
		container_of(work, struct pcpu_array_cpu_work, work);

	w->ret = w->fn(w->arg, w->budget);
}

struct pcpu_array_cpu_works *pcpu_array_cpu_works_alloc(void)
{
	struct pcpu_array_cpu_works *works;
	int cpu;

	works = kzalloc_obj(*works);
	if (!works)
		return NULL;
	works->items = alloc_percpu(struct pcpu_array_cpu_work);
	if (!works->items) {
		kfree(works);
		return NULL;
	}
	mutex_init(&works->lock);
	for_each_possible_cpu(cpu)
		INIT_WORK(&per_cpu_ptr(works->items, cpu)->work, pcpu_array_cpu_work_fn);
	return works;
}

void pcpu_array_cpu_works_free(struct pcpu_array_cpu_works *works)
{
	mutex_destroy(&works->lock);
	free_percpu(works->items);
	kfree(works);
}

bool pcpu_array_cpu_works_lock(struct pcpu_array_cpu_works *works, bool wait)
{
	if (!wait)
		return mutex_trylock(&works->lock);
	mutex_lock(&works->lock);
	return true;
}

void pcpu_array_cpu_works_unlock(struct pcpu_array_cpu_works *works)
{
	mutex_unlock(&works->lock);
}

bool pcpu_array_cpu_work_queue(struct pcpu_array_cpu_works *works, unsigned int cpu,
			       unsigned long (*fn)(void *arg, unsigned long budget),
			       void *arg, unsigned long budget)
{
	struct pcpu_array_cpu_work *w;

	lockdep_assert_held(&works->lock);
	if (cpu >= nr_cpu_ids || !cpu_possible(cpu))
		return false;
	w = per_cpu_ptr(works->items, cpu);
	if (w->queued)
		return false;
	w->fn = fn;
	w->arg = arg;
	w->budget = budget;
	w->ret = 0;
	w->queued = true;
	queue_work_on(cpu, pcpu_array_wq, &w->work);
	return true;
}

unsigned long pcpu_array_cpu_works_wait(struct pcpu_array_cpu_works *works)
{
	struct pcpu_array_cpu_work *w;
	unsigned long sum = 0;
	int cpu;

	lockdep_assert_held(&works->lock);
	for_each_possible_cpu(cpu) {
		w = per_cpu_ptr(works->items, cpu);
		if (!w->queued)
			continue;
		flush_work(&w->work);
		sum += w->ret;
		w->queued = false;
	}
	return sum;
}
