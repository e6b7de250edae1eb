/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Wrappers around the macros and inline functions that the Rust side of
 * pcpu_array cannot call. Each is one line; the logic lives in Rust.
 */
#ifndef _PCPU_ARRAY_HELPERS_H
#define _PCPU_ARRAY_HELPERS_H

#include <linux/compiler_types.h>
#include <linux/local_lock.h>
#include <linux/types.h>

void pcpu_array_migrate_disable(void);
void pcpu_array_migrate_enable(void);
void pcpu_array_preempt_disable(void);
void pcpu_array_preempt_enable(void);
void pcpu_array_preempt_schedule(void);
unsigned int pcpu_array_cpu_id(void);
int pcpu_array_preempt_count(void);
bool pcpu_array_in_hardirq(void);
bool pcpu_array_irqs_disabled(void);

void __percpu *pcpu_array_alloc_percpu(size_t size, size_t align);
void *pcpu_array_per_cpu_ptr(void __percpu *ptr, unsigned int cpu);
unsigned int pcpu_array_next_possible_cpu(int cpu);
unsigned int pcpu_array_nr_cpu_ids(void);
unsigned int pcpu_array_next_online_cpu(int cpu);
unsigned long pcpu_array_local_irq_save(void);
void pcpu_array_local_irq_restore(unsigned long flags);

void pcpu_array_local_trylock_init(local_trylock_t *lock);
bool pcpu_array_local_trylock(local_trylock_t __percpu *lock);
void pcpu_array_local_unlock(local_trylock_t __percpu *lock);

struct hlist_node;
int pcpu_array_cpuhp_setup_multi(const char *name,
				 int (*teardown)(unsigned int cpu, struct hlist_node *node));
void pcpu_array_cpuhp_remove_multi(int state);
int pcpu_array_cpuhp_add_instance(int state, struct hlist_node *node);
int pcpu_array_cpuhp_remove_instance(int state, struct hlist_node *node);

long pcpu_array_work_on_cpu(int cpu, long (*fn)(void *), void *arg);
void pcpu_array_set_make_it_fail(bool fail);

int pcpu_array_wq_init(void);
void pcpu_array_wq_exit(void);
unsigned long pcpu_array_on_each_cpu(unsigned long (*fn)(void *arg), void *arg);

struct shrinker;
struct shrink_control;
struct shrinker *pcpu_array_shrinker_create(const char *name,
					    unsigned long (*count)(struct shrinker *,
								   struct shrink_control *),
					    unsigned long (*scan)(struct shrinker *,
								  struct shrink_control *),
					    void *private_data);

#ifdef CONFIG_KASAN_GENERIC
/*
 * mm/kasan/kasan.h, exported (GPL) for KASAN's tests: sets the shadow of
 * [addr, addr + size) to value; both must be granule-aligned.
 */
void kasan_poison(const void *addr, size_t size, u8 value, bool init);
/* KASAN_GRANULE_SIZE of mm/kasan/kasan.h: bytes per shadow byte. */
#define PCPU_ARRAY_KASAN_GRANULE (1UL << KASAN_SHADOW_SCALE_SHIFT)
/* KASAN_SLAB_FREE of mm/kasan/kasan.h: reports read "slab-use-after-free". */
#define PCPU_ARRAY_KASAN_SLAB_FREE 0xFB

void pcpu_array_kasan_poison(const void *obj, size_t size);
void pcpu_array_kasan_unpoison(const void *obj, size_t size);
bool pcpu_array_kasan_check(const void *obj);
#endif

#endif /* _PCPU_ARRAY_HELPERS_H */
