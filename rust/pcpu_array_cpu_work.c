// SPDX-License-Identifier: GPL-2.0
/*
 * Running a function on chosen CPUs, for pcpu_array_shrink() and the shrinkers
 * (rust/percpu/cpu_work.rs is the Rust side). As SLUB's flush_all() does for its
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
 *
 * It also ends caches (rust/cache/lifecycle.rs, SleepableDrop): the last owner of a
 * cache may let go of it where nothing may sleep (an RCU callback, a spinlock),
 * and the teardown sleeps, so it runs at once only where the caller may sleep
 * and otherwise goes to a workqueue of its own.
 */

#include <linux/cpumask.h>
#include <linux/irqflags.h>
#include <linux/jiffies.h>
#include <linux/lockdep.h>
#include <linux/mutex.h>
#include <linux/percpu.h>
#include <linux/preempt.h>
#include <linux/rcupdate.h>
#include <linux/slab.h>
#include <linux/timer.h>
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
/*
 * Deferred teardown has its own workqueue: destroying a cache takes
 * cpu_hotplug_lock (the hotplug instance) and waits for the capacity
 * adaptation, which waits for per-CPU items on pcpu_array_wq. On that
 * workqueue (whose rescuer runs one item at a time) a teardown could wait
 * for the items queued behind it.
 */
static struct workqueue_struct *pcpu_array_defer_wq;

int pcpu_array_cpu_work_init(void)
{
	pcpu_array_wq = alloc_workqueue("pcpu_array_flush", WQ_PERCPU | WQ_MEM_RECLAIM, 0);
	if (!pcpu_array_wq)
		return -ENOMEM;
	pcpu_array_defer_wq = alloc_workqueue("pcpu_array_defer", WQ_UNBOUND, 0);
	if (!pcpu_array_defer_wq) {
		destroy_workqueue(pcpu_array_wq);
		return -ENOMEM;
	}
	return 0;
}

void pcpu_array_cpu_work_exit(void)
{
	destroy_workqueue(pcpu_array_defer_wq);
	destroy_workqueue(pcpu_array_wq);
}

/*
 * Whether the caller may sleep, as far as the kernel can tell: a task, not a
 * hard or soft interrupt nor an NMI (in_task()), with preemption, softirqs and
 * interrupts enabled (preemptible(): no spinlock, preempt_disable() or
 * local_bh_disable() held) and outside an RCU read-side critical section
 * (rcu_preempt_depth(), which on PREEMPT_RT also counts the spinlocks and
 * local_bh_disable() sections that preempt_count() does not). Without
 * CONFIG_PREEMPT_COUNT a spinlock or rcu_read_lock() leaves no trace and
 * preemptible() is always false, so the answer there is always no.
 */
bool pcpu_array_may_sleep(void)
{
	return in_task() && preemptible() && !irqs_disabled() && !rcu_preempt_depth();
}

/*
 * Runs @fn(@work), a teardown that may sleep: at once when the caller may
 * sleep (pcpu_array_may_sleep()), else on the module's teardown workqueue,
 * where @work is initialised and queued. Not from NMI. Module exit waits for
 * the workqueue (destroy_workqueue()); pcpu_array_defer_flush() waits for what
 * is queued so far.
 */
void pcpu_array_run_sleepable(struct work_struct *work, void (*fn)(struct work_struct *work))
{
	if (pcpu_array_may_sleep()) {
		fn(work);
		return;
	}
	INIT_WORK(work, fn);
	queue_work(pcpu_array_defer_wq, work);
}

/* Waits for every teardown queued before the call. May sleep. */
void pcpu_array_defer_flush(void)
{
	flush_workqueue(pcpu_array_defer_wq);
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

/*
 * A periodic call, for the capacity adaptation (rust/magazines/capacity.rs): @fn(@arg)
 * runs every @period_ms on system_long_wq (it may wait for the per-CPU work
 * items above, so not on their workqueue) until pcpu_array_tick_stop(). The
 * timer is deferrable: an idle CPU is not woken for it, and an idle cache
 * adapts when its CPU wakes up anyway.
 */
struct pcpu_array_tick {
	struct delayed_work work;
	void (*fn)(void *arg);
	void *arg;
	unsigned long period;
};

static void pcpu_array_tick_fn(struct work_struct *work)
{
	struct pcpu_array_tick *t =
		container_of(to_delayed_work(work), struct pcpu_array_tick, work);

	t->fn(t->arg);
	queue_delayed_work(system_long_wq, &t->work, round_jiffies_relative(t->period));
}

struct pcpu_array_tick *pcpu_array_tick_start(void (*fn)(void *arg), void *arg,
					      unsigned int period_ms)
{
	struct pcpu_array_tick *t = kzalloc(sizeof(*t), GFP_KERNEL);

	if (!t)
		return NULL;
	t->fn = fn;
	t->arg = arg;
	t->period = msecs_to_jiffies(period_ms);
	INIT_DEFERRABLE_WORK(&t->work, pcpu_array_tick_fn);
	queue_delayed_work(system_long_wq, &t->work, round_jiffies_relative(t->period));
	return t;
}

/* Whether the tick's timer is deferrable, for the tests. */
bool pcpu_array_tick_deferrable(const struct pcpu_array_tick *t)
{
	return t->work.timer.flags & TIMER_DEFERRABLE;
}

/* Waits for a running call; the work item re-queueing itself is stopped too. */
void pcpu_array_tick_stop(struct pcpu_array_tick *t)
{
	cancel_delayed_work_sync(&t->work);
	kfree(t);
}
