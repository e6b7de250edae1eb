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
#include <linux/local_lock.h>
#include <linux/percpu.h>
#include <linux/preempt.h>
#include <linux/sched.h>
#include <linux/smp.h>
#include <linux/workqueue.h>

#include "pcpu_array_helpers.h"

/*
 * On PREEMPT_RT the per-CPU lock is a sleeping spinlock, so only migration is
 * disabled; elsewhere preemption is.
 */
void pcpu_array_cpu_pin(void)
{
	if (IS_ENABLED(CONFIG_PREEMPT_RT))
		migrate_disable();
	else
		preempt_disable();
}

void pcpu_array_cpu_unpin(void)
{
	if (IS_ENABLED(CONFIG_PREEMPT_RT))
		migrate_enable();
	else
		preempt_enable();
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
