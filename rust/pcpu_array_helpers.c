// SPDX-License-Identifier: GPL-2.0
/*
 * One-line wrappers around the macros and inline functions that the Rust side
 * of pcpu_array cannot call directly. No logic lives here: what each wrapper
 * guarantees is documented where Rust calls it (rust/sys/ffi.rs). The per-CPU work
 * engine is in pcpu_array_cpu_work.c, the KASAN shadow writes in
 * pcpu_array_kasan.c, and the wrappers only the tests use in
 * pcpu_array_kunit_helpers.c.
 */

#include <linux/cpuhotplug.h>
#include <linux/cpumask.h>
#include <linux/hardirq.h>
#include <linux/irqflags.h>
#include <linux/kmemleak.h>
#include <linux/local_lock.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/percpu.h>
#include <linux/preempt.h>
#include <linux/rcupdate.h>
#include <linux/sched/mm.h>
#include <linux/smp.h>
#include <linux/spinlock.h>
#include <linux/topology.h>

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

unsigned int pcpu_array_cpu_id(void)
{
	return smp_processor_id();
}

/* The mask rust/percpu/this_cpu.rs uses where it inlines preempt_count(). */
static_assert((HARDIRQ_MASK | NMI_MASK) == 0xff * HARDIRQ_OFFSET);

bool pcpu_array_in_hardirq(void)
{
	return in_hardirq() || in_nmi();
}

bool pcpu_array_in_nmi(void)
{
	return in_nmi();
}

/*
 * Whether a depot may be used here: where the slab bulk calls may be made,
 * with interrupts enabled and not in a hard interrupt or NMI (in a task or a
 * softirq, such as an RCU callback that frees objects). The depot's lock is
 * taken with spin_lock_irqsave(), so no interrupt on its CPU can take it while
 * it is held. On PREEMPT_RT, where it sleeps, only where the task may sleep
 * (softirqs run in tasks there).
 */
bool pcpu_array_depot_allowed(void)
{
	if (IS_ENABLED(CONFIG_PREEMPT_RT))
		return preemptible();
	return !irqs_disabled() && !in_hardirq() && !in_nmi();
}

unsigned long pcpu_array_spin_lock_irqsave(spinlock_t *lock)
{
	unsigned long flags;

	spin_lock_irqsave(lock, flags);
	return flags;
}

bool pcpu_array_spin_trylock_irqsave(spinlock_t *lock, unsigned long *flags)
{
	return spin_trylock_irqsave(lock, *flags);
}

void pcpu_array_spin_unlock_irqrestore(spinlock_t *lock, unsigned long flags)
{
	spin_unlock_irqrestore(lock, flags);
}

void pcpu_array_cpus_read_lock(void)
{
	cpus_read_lock();
}

void pcpu_array_cpus_read_unlock(void)
{
	cpus_read_unlock();
}

/*
 * this_cpu_add() on a u64, where rust/percpu/this_cpu.rs does not inline it: one
 * operation that an interrupt on this CPU cannot split.
 */
void pcpu_array_this_cpu_add_u64(u64 __percpu *ptr, u64 n)
{
	this_cpu_add(*ptr, n);
}

void pcpu_array_this_cpu_write_u64(u64 __percpu *ptr, u64 v)
{
	this_cpu_write(*ptr, v);
}

bool pcpu_array_try_module_get(void *mod)
{
	return try_module_get(mod);
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

unsigned int pcpu_array_next_online_cpu(int cpu)
{
	return cpumask_next(cpu, cpu_online_mask);
}

unsigned int pcpu_array_nr_cpu_ids(void)
{
	return nr_cpu_ids;
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
				 int (*startup)(unsigned int cpu, struct hlist_node *node),
				 int (*teardown)(unsigned int cpu, struct hlist_node *node))
{
	return cpuhp_setup_state_multi(CPUHP_BP_PREPARE_DYN, name, startup, teardown);
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

/*
 * What SLUB decides per object from its slab (mm/slub.c: can_free_to_pcs(),
 * slab_post_alloc_hook()), for objects the arrays serve; see rust/semantics/placement.rs
 * and rust/semantics/object_hooks.rs.
 */
int pcpu_array_obj_node(const void *obj)
{
	return folio_nid(virt_to_folio(obj));
}

/*
 * slab_test_pfmemalloc(): SLUB keeps "allocated from the reserves" in PG_active
 * of the slab's folio (SL_pfmemalloc = PG_active, mm/slub.c).
 */
bool pcpu_array_obj_pfmemalloc(const void *obj)
{
	return test_bit(PG_active, &virt_to_folio(obj)->flags.f);
}


int pcpu_array_numa_mem_id(void)
{
	return numa_mem_id();
}

int pcpu_array_cpu_to_mem(unsigned int cpu)
{
	return cpu_to_mem(cpu);
}

unsigned int pcpu_array_nr_node_ids(void)
{
	return nr_node_ids;
}

void pcpu_array_call_rcu_hurry(struct rcu_head *head, rcu_callback_t func)
{
	call_rcu_hurry(head, func);
}

/*
 * A full grace-period cookie as Rust holds it: two unsigned longs, opaque
 * there, since the type is not in every kernel's Rust bindings, nor of one
 * name: struct rcu_gp_oldstate up to 7.2, struct rcu_gp_seq from 7.3 on.
 */
#ifdef PCPU_ARRAY_KERNEL_7_3	/* kernel_version.mk */
#define pcpu_array_gp_state rcu_gp_seq
#else
#define pcpu_array_gp_state rcu_gp_oldstate
#endif
static_assert(sizeof(struct pcpu_array_gp_state) <=
	      PCPU_ARRAY_GP_COOKIE_WORDS * sizeof(unsigned long));
static_assert(__alignof__(struct pcpu_array_gp_state) <=
	      __alignof__(unsigned long));

void pcpu_array_gp_start(unsigned long *cookie)
{
	start_poll_synchronize_rcu_full((struct pcpu_array_gp_state *)cookie);
}

bool pcpu_array_gp_elapsed(unsigned long *cookie)
{
	return poll_state_synchronize_rcu_full((struct pcpu_array_gp_state *)cookie);
}

void pcpu_array_gp_wait(unsigned long *cookie)
{
	cond_synchronize_rcu_full((struct pcpu_array_gp_state *)cookie);
}

void pcpu_array_might_alloc(gfp_t gfp)
{
	might_alloc(gfp);
}

#ifdef CONFIG_DEBUG_KMEMLEAK
void pcpu_array_kmemleak_alloc(const void *obj, size_t size, gfp_t gfp)
{
	kmemleak_alloc(obj, size, 1, gfp);
}

void pcpu_array_kmemleak_free(const void *obj)
{
	kmemleak_free(obj);
}
#endif
