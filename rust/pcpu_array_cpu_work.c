// SPDX-License-Identifier: GPL-2.0
/*
 * Running a function on every online CPU, for pcpu_array_shrink() and the
 * shrinkers (rust/cpu_work.rs is the Rust side). As SLUB's flush_all() does for
 * its sheaves, per-CPU work items go to a WQ_MEM_RECLAIM workqueue, so that a
 * shrinker called under memory pressure makes progress. Unlike flush_all(), no
 * cpus_read_lock(): a shrinker must not take it (CPU hotplug allocates memory
 * with it held). A work item queued to a CPU that goes away meanwhile runs on
 * another CPU, which is harmless here: the function acts on the CPU it runs
 * on, and a dead CPU's array is flushed by the hotplug teardown.
 */

#include <linux/cpumask.h>
#include <linux/mutex.h>
#include <linux/percpu.h>
#include <linux/workqueue.h>

#include "pcpu_array_helpers.h"

struct pcpu_array_cpu_work {
	struct work_struct work;
	unsigned long (*fn)(void *arg);
	void *arg;
	unsigned long ret;
};

static DEFINE_PER_CPU(struct pcpu_array_cpu_work, pcpu_array_cpu_works);
/* One caller at a time owns pcpu_array_cpu_works. */
static DEFINE_MUTEX(pcpu_array_cpu_works_lock);
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
