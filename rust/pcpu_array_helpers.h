/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Prototypes of the C functions that the Rust side of pcpu_array calls
 * (declared for Rust in rust/sys/ffi.rs): the one-line wrappers of
 * pcpu_array_helpers.c, the per-CPU work of pcpu_array_cpu_work.c, the KASAN
 * shadow writes of pcpu_array_kasan.c and the test-only wrappers of
 * pcpu_array_kunit_helpers.c.
 */
#ifndef _PCPU_ARRAY_HELPERS_H
#define _PCPU_ARRAY_HELPERS_H

#include <linux/compiler_types.h>
#include <linux/local_lock.h>
#include <linux/gfp_types.h>
#include <linux/spinlock_types.h>
#include <linux/types.h>

/* pcpu_array_helpers.c */
void pcpu_array_migrate_disable(void);
void pcpu_array_migrate_enable(void);
void pcpu_array_preempt_disable(void);
void pcpu_array_preempt_enable(void);
unsigned int pcpu_array_cpu_id(void);
bool pcpu_array_in_hardirq(void);
bool pcpu_array_in_nmi(void);
bool pcpu_array_depot_allowed(void);
unsigned long pcpu_array_spin_lock_irqsave(spinlock_t *lock);
bool pcpu_array_spin_trylock_irqsave(spinlock_t *lock, unsigned long *flags);
void pcpu_array_spin_unlock_irqrestore(spinlock_t *lock, unsigned long flags);
void pcpu_array_cpus_read_lock(void);
void pcpu_array_cpus_read_unlock(void);
bool pcpu_array_irqs_disabled(void);
void pcpu_array_this_cpu_add_u64(u64 __percpu *ptr, u64 n);
void pcpu_array_this_cpu_write_u64(u64 __percpu *ptr, u64 v);
bool pcpu_array_try_module_get(void *mod);

int pcpu_array_obj_node(const void *obj);
bool pcpu_array_obj_pfmemalloc(const void *obj);
int pcpu_array_numa_mem_id(void);
int pcpu_array_cpu_to_mem(unsigned int cpu);
unsigned int pcpu_array_nr_node_ids(void);
struct rcu_head;
void pcpu_array_call_rcu_hurry(struct rcu_head *head,
			       void (*func)(struct rcu_head *head));
#define PCPU_ARRAY_GP_COOKIE_WORDS 2
void pcpu_array_gp_start(unsigned long *cookie);
bool pcpu_array_gp_elapsed(unsigned long *cookie);
void pcpu_array_gp_wait(unsigned long *cookie);
void pcpu_array_might_alloc(gfp_t gfp);
#ifdef CONFIG_DEBUG_KMEMLEAK
void pcpu_array_kmemleak_alloc(const void *obj, size_t size, gfp_t gfp);
void pcpu_array_kmemleak_free(const void *obj);
#endif

void __percpu *pcpu_array_alloc_percpu(size_t size, size_t align);
void *pcpu_array_per_cpu_ptr(void __percpu *ptr, unsigned int cpu);
unsigned int pcpu_array_next_possible_cpu(int cpu);
unsigned int pcpu_array_next_online_cpu(int cpu);
unsigned int pcpu_array_nr_cpu_ids(void);

void pcpu_array_local_trylock_init(local_trylock_t *lock);
bool pcpu_array_local_trylock(local_trylock_t __percpu *lock);
void pcpu_array_local_unlock(local_trylock_t __percpu *lock);

struct hlist_node;
int pcpu_array_cpuhp_setup_multi(const char *name,
				 int (*startup)(unsigned int cpu, struct hlist_node *node),
				 int (*teardown)(unsigned int cpu, struct hlist_node *node));
void pcpu_array_cpuhp_remove_multi(int state);
int pcpu_array_cpuhp_add_instance(int state, struct hlist_node *node);
int pcpu_array_cpuhp_remove_instance(int state, struct hlist_node *node);

/* pcpu_array_cpu_work.c */
struct pcpu_array_cpu_works;
int pcpu_array_cpu_work_init(void);
void pcpu_array_cpu_work_exit(void);
struct work_struct;
bool pcpu_array_may_sleep(void);
void pcpu_array_run_sleepable(struct work_struct *work, void (*fn)(struct work_struct *work));
void pcpu_array_defer_flush(void);
struct pcpu_array_cpu_works *pcpu_array_cpu_works_alloc(void);
void pcpu_array_cpu_works_free(struct pcpu_array_cpu_works *works);
bool pcpu_array_cpu_works_lock(struct pcpu_array_cpu_works *works, bool wait);
void pcpu_array_cpu_works_unlock(struct pcpu_array_cpu_works *works);
bool pcpu_array_cpu_work_queue(struct pcpu_array_cpu_works *works, unsigned int cpu,
			       unsigned long (*fn)(void *arg, unsigned long budget),
			       void *arg, unsigned long budget);
unsigned long pcpu_array_cpu_works_wait(struct pcpu_array_cpu_works *works);
struct pcpu_array_tick;
struct pcpu_array_tick *pcpu_array_tick_start(void (*fn)(void *arg), void *arg,
					      unsigned int period_ms);
void pcpu_array_tick_stop(struct pcpu_array_tick *t);
bool pcpu_array_tick_deferrable(const struct pcpu_array_tick *t);

/* pcpu_array_kasan.c */
#ifdef CONFIG_KASAN_GENERIC
void pcpu_array_kasan_poison(const void *obj, size_t size);
void pcpu_array_kasan_unpoison(const void *obj, size_t size);
bool pcpu_array_kasan_check(const void *obj);
#endif

/* pcpu_array_kunit_helpers.c */
int pcpu_array_preempt_count(void);
unsigned long pcpu_array_local_irq_save(void);
void pcpu_array_local_irq_restore(unsigned long flags);
void pcpu_array_local_bh_disable(void);
void pcpu_array_local_bh_enable(void);
long pcpu_array_work_on_cpu(int cpu, long (*fn)(void *), void *arg);
void pcpu_array_call_in_hardirq(long (*fn)(void *), void *arg);
unsigned int pcpu_array_migration_disabled(void);
void pcpu_array_in_parallel(long (*fa)(void *), void *a, long (*fb)(void *), void *b);
void pcpu_array_in_rcu_callback(long (*fn)(void *), void *arg);
void pcpu_array_rcu_read_lock(void);
void pcpu_array_rcu_read_unlock(void);
void pcpu_array_set_make_it_fail(bool fail);
void pcpu_array_kunit_skip(const char *reason);

#endif /* _PCPU_ARRAY_HELPERS_H */
