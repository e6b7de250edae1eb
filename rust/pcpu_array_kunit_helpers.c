// SPDX-License-Identifier: GPL-2.0
/*
 * The C side of pcpu_array_kunit.ko, the test build. An object can be part of
 * one module only, so the test build compiles its own copy of the module's C
 * files here, then adds the wrappers that only the KUnit suites use (declared
 * in rust/sys/ffi.rs under the pcpu_array_kunit cfg).
 */

#include "pcpu_array_helpers.c"
#include "pcpu_array_cpu_work.c"
#include "pcpu_array_kasan.c"

#include <kunit/test.h>
#include <kunit/test-bug.h>
#include <linux/completion.h>
#include <linux/irq_work.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>

int pcpu_array_preempt_count(void)
{
	return preempt_count();
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

void pcpu_array_local_bh_disable(void)
{
	local_bh_disable();
}

void pcpu_array_local_bh_enable(void)
{
	local_bh_enable();
}

struct pcpu_array_hardirq_call {
	struct irq_work work;
	long (*fn)(void *arg);
	void *arg;
};

static void pcpu_array_hardirq_fn(struct irq_work *work)
{
	struct pcpu_array_hardirq_call *c =
		container_of(work, struct pcpu_array_hardirq_call, work);

	c->fn(c->arg);
}

/*
 * Runs @fn(@arg) in hard interrupt context on this CPU (a hard irq_work, which
 * x86 raises with a self-IPI, even on PREEMPT_RT) and waits for it.
 */
void pcpu_array_call_in_hardirq(long (*fn)(void *), void *arg)
{
	struct pcpu_array_hardirq_call c = { .fn = fn, .arg = arg };

	c.work = IRQ_WORK_INIT_HARD(pcpu_array_hardirq_fn);
	irq_work_queue(&c.work);
	irq_work_sync(&c.work);
}

/* current->migration_disabled: how many migrate_disable() the task holds. */
unsigned int pcpu_array_migration_disabled(void)
{
	return current->migration_disabled;
}

long pcpu_array_work_on_cpu(int cpu, long (*fn)(void *), void *arg)
{
	return work_on_cpu(cpu, fn, arg);
}

struct pcpu_array_side_work {
	struct work_struct work;
	long (*fn)(void *arg);
	void *arg;
};

static void pcpu_array_side_work_fn(struct work_struct *work)
{
	struct pcpu_array_side_work *w =
		container_of(work, struct pcpu_array_side_work, work);

	w->fn(w->arg);
}

void pcpu_array_in_parallel(long (*fa)(void *), void *a, long (*fb)(void *), void *b)
{
	struct pcpu_array_side_work w = { .fn = fa, .arg = a };

	INIT_WORK_ONSTACK(&w.work, pcpu_array_side_work_fn);
	queue_work(system_dfl_wq, &w.work);
	fb(b);
	flush_work(&w.work);
	destroy_work_on_stack(&w.work);
}

struct pcpu_array_rcu_call {
	struct rcu_head rcu;
	long (*fn)(void *arg);
	void *arg;
	struct completion done;
};

static void pcpu_array_rcu_call_fn(struct rcu_head *rcu)
{
	struct pcpu_array_rcu_call *c = container_of(rcu, struct pcpu_array_rcu_call, rcu);

	c->fn(c->arg);
	complete(&c->done);
}

/*
 * Runs @fn(@arg) in an RCU callback, where the documented uses of an owned
 * object end (a softirq, or an rcuc/rcuo kthread with softirqs disabled), and
 * waits for it. call_rcu_hurry(): a lazy callback could wait for seconds.
 */
void pcpu_array_in_rcu_callback(long (*fn)(void *), void *arg)
{
	struct pcpu_array_rcu_call c = { .fn = fn, .arg = arg };

	init_completion(&c.done);
	init_rcu_head_on_stack(&c.rcu);
	call_rcu_hurry(&c.rcu, pcpu_array_rcu_call_fn);
	wait_for_completion(&c.done);
	destroy_rcu_head_on_stack(&c.rcu);
}

void pcpu_array_rcu_read_lock(void)
{
	rcu_read_lock();
}

void pcpu_array_rcu_read_unlock(void)
{
	rcu_read_unlock();
}

void pcpu_array_set_make_it_fail(bool fail)
{
#ifdef CONFIG_FAULT_INJECTION
	current->make_it_fail = fail;
#endif
}

/* Marks the running KUnit case skipped, with @reason; no-op outside KUnit. */
void pcpu_array_kunit_skip(const char *reason)
{
	struct kunit *test = kunit_get_current_test();

	if (test)
		kunit_mark_skipped(test, "%s", reason);
}
