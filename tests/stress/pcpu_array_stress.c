// SPDX-License-Identifier: GPL-2.0
/*
 * Stress test of pcpu_array through its C ABI alone (include/pcpu_array.h).
 *
 * For stress_ms milliseconds, on one cache:
 * - a kthread per online CPU, bound to it, does a random mix of alloc, free,
 *   alloc_node, alloc_bulk/free_bulk, prefill, reserve/alloc_reserved/unreserve
 *   and its caller-stored form (rsv_fill/rsv_alloc/rsv_release),
 *   allocations with interrupts or preemption off, and cross-CPU frees (objects
 *   handed to another CPU's thread through an llist and freed there);
 * - an hrtimer per CPU (hard interrupt) and a timer per CPU (softirq) allocate
 *   with GFP_ATOMIC/GFP_NOWAIT and free, the timer also in bulk and through
 *   reservations;
 * - a kthread takes the CPUs other than 0 offline and online again;
 * - a kthread calls pcpu_array_shrink();
 * - a quarter of the objects are freed with pcpu_array_free_rcu(), in every
 *   context the frees run in, hard interrupts included (not on PREEMPT_RT with
 *   interrupts off), inside an RCU read-side section that checks the
 *   object is still intact after the call (nothing may reuse or wipe it before
 *   a grace period);
 * - failslab fails a share of the backing cache's allocations made by the CPU
 *   threads (scripts/vm.sh marks the cache SLAB_FAILSLAB, scripts/guest.sh sets
 *   the probability, the threads set make_it_fail).
 *
 * Every object carries a sequence number and a pattern derived from it; its
 * owner checks both before freeing it, so an object handed out twice or written
 * after being freed into an array is detected. At the end every object handed out
 * must have been freed, the arrays must be empty after a shrink and the counters
 * must balance (the frees after a grace period counted here).
 */

#include <kunit/test.h>
#include <linux/atomic.h>
#include <linux/cpu.h>
#include <linux/cpumask.h>
#include <linux/delay.h>
#include <linux/err.h>
#include <linux/hrtimer.h>
#include <linux/irqflags.h>
#include <linux/jiffies.h>
#include <linux/kthread.h>
#include <linux/llist.h>
#include <linux/module.h>
#include <linux/prandom.h>
#include <linux/preempt.h>
#include <linux/random.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/timer.h>
#include <linux/topology.h>
#include <pcpu_array.h>

static unsigned int stress_ms = 5000;
module_param(stress_ms, uint, 0444);
MODULE_PARM_DESC(stress_ms, "How long the stress runs, in milliseconds (default 5000)");

static unsigned long stress_ops = 5000000;
module_param(stress_ops, ulong, 0444);
MODULE_PARM_DESC(stress_ops, "Operations each CPU's thread does at most (default 5000000)");

#define STRESS_CACHE	"pcpu_array_stress"
#define OBJ_SIZE	192
#define CAPACITY	32
#define HOLD		64	/* objects a CPU thread keeps */
#define BULK_MAX	48	/* objects in one bulk call */
#define RESERVE_MAX	40	/* objects in one reservation */
#define IRQ_HOLD	8	/* objects an interrupt user keeps */
#define IRQ_BULK_MAX	8
#define HARDIRQ_PERIOD_NS	NSEC_PER_MSEC
#define OBJ_MAGIC	0x53545253u

struct stress_obj {
	u64 seq;
	u32 magic;
	u32 pad;
	struct llist_node node;	/* cross-CPU hand-over; not covered by the pattern */
	u8 data[OBJ_SIZE - 24];
};
static_assert(sizeof(struct stress_obj) == OBJ_SIZE);

/* An object owned by a user, with the sequence number it was given. */
struct held {
	struct stress_obj *obj;
	u64 seq;
};

/* The objects an interrupt user (hrtimer or timer callback) keeps between runs. */
struct irq_user {
	struct held hold[IRQ_HOLD];
	unsigned int nr;
	struct rnd_state rnd;
	void *bulk[IRQ_BULK_MAX];
};

struct stress_worker {
	int cpu;
	struct task_struct *task;
	struct llist_head inbox;	/* objects other users hand over, freed here */
	struct rnd_state rnd;
	struct held hold[HOLD];
	unsigned int nr;
	void *bulk[BULK_MAX];
	void *reserved[RESERVE_MAX];
	unsigned long ops;
	struct hrtimer hrtimer;
	struct irq_user hardirq;
	struct timer_list timer;
	struct irq_user softirq;
};

static struct stress_ctx {
	struct pcpu_array *pa;
	struct stress_worker *workers;
	unsigned int nr_workers;
	bool stop;
	atomic64_t seq;
	atomic_long_t in_flight;	/* objects handed out and not freed */
	atomic_long_t ops;
	atomic_long_t failed;		/* failed allocations seen by the CPU threads */
	atomic_long_t irq_failed;	/* failed allocations in interrupts */
	atomic_long_t hardirq_ops;
	atomic_long_t softirq_ops;
	atomic_long_t cross_frees;
	atomic_long_t rcu_frees;	/* objects freed with pcpu_array_free_rcu() */
	atomic_long_t rcu_hardirq_frees;	/* those in hard interrupts */
	atomic_long_t corrupt;
	atomic_long_t api_errors;	/* results the API promises never to return */
	atomic_long_t workers_done;
	atomic_long_t cycles;		/* CPU offline/online cycles */
	atomic_long_t hotplug_errors;
	atomic_long_t shrinks;
	atomic_long_t shrunk;		/* objects pcpu_array_shrink() gave back */
} ctx;

static void obj_fill(struct stress_obj *o, u64 seq)
{
	o->seq = seq;
	o->magic = OBJ_MAGIC;
	memset(o->data, (u8)(seq * 0x9d + 1), sizeof(o->data));
}

/* Checks that @o still holds what its owner wrote; @seq 0 takes the object's own. */
static bool obj_check(struct stress_obj *o, u64 seq)
{
	if (!seq)
		seq = o->seq;
	if (o->seq != seq || o->magic != OBJ_MAGIC ||
	    memchr_inv(o->data, (u8)(seq * 0x9d + 1), sizeof(o->data))) {
		if (atomic_long_inc_return(&ctx.corrupt) <= 5)
			pr_err("pcpu_array_stress: object %p corrupted: seq %llx (want %llx), magic %x\n",
			       o, o->seq, seq, o->magic);
		return false;
	}
	return true;
}

/* Takes ownership of a new object @p (allocated with @gfp); NULL when @p is. */
static struct stress_obj *got(void *p, gfp_t gfp, struct held *h)
{
	struct stress_obj *o = p;

	if (!o)
		return NULL;
	atomic_long_inc(&ctx.in_flight);
	if ((gfp & __GFP_ZERO) && memchr_inv(o, 0, OBJ_SIZE)) {
		if (atomic_long_inc_return(&ctx.api_errors) <= 5)
			pr_err("pcpu_array_stress: __GFP_ZERO object %p not zeroed\n", o);
	}
	h->obj = o;
	h->seq = atomic64_inc_return(&ctx.seq);
	obj_fill(o, h->seq);
	return o;
}

/*
 * Whether @seq's object is freed after a grace period: one in four, in every
 * context, but on PREEMPT_RT not with interrupts off.
 */
static bool rcu_share(u64 seq)
{
	if (IS_ENABLED(CONFIG_PREEMPT_RT) && irqs_disabled())
		return false;
	return seq % 4 == 0;
}

static void put(struct held *h)
{
	obj_check(h->obj, h->seq);
	if (rcu_share(h->seq)) {
		/* A reader that found the object before keeps seeing it. */
		rcu_read_lock();
		pcpu_array_free_rcu(ctx.pa, h->obj);
		obj_check(h->obj, h->seq);
		rcu_read_unlock();
		atomic_long_inc(&ctx.rcu_frees);
		if (in_hardirq())
			atomic_long_inc(&ctx.rcu_hardirq_frees);
	} else {
		pcpu_array_free(ctx.pa, h->obj);
	}
	atomic_long_dec(&ctx.in_flight);
}

/* Hands @h's object to the CPU thread at @idx, which frees it. */
static void hand_over(struct held *h, unsigned int idx)
{
	obj_check(h->obj, h->seq);
	llist_add(&h->obj->node, &ctx.workers[idx].inbox);
}

/* Frees what other users handed over to @w. */
static void drain_inbox(struct stress_worker *w)
{
	struct llist_node *n = llist_del_all(&w->inbox);
	struct stress_obj *o, *t;

	llist_for_each_entry_safe(o, t, n, node) {
		obj_check(o, 0);
		pcpu_array_free(ctx.pa, o);
		atomic_long_dec(&ctx.in_flight);
		atomic_long_inc(&ctx.cross_frees);
	}
}

static unsigned int other_worker(struct rnd_state *rnd, unsigned int self)
{
	unsigned int idx;

	if (ctx.nr_workers < 2)
		return self;
	idx = prandom_u32_state(rnd) % (ctx.nr_workers - 1);
	return idx >= self ? idx + 1 : idx;
}

/* Drops a random object of @hold (@nr in use) and returns the new count. */
static unsigned int drop_random(struct held *hold, unsigned int nr, struct rnd_state *rnd)
{
	unsigned int i = prandom_u32_state(rnd) % nr;

	put(&hold[i]);
	hold[i] = hold[nr - 1];
	return nr - 1;
}

/* Bulk-allocates @n objects into @p; false (and counted) when that failed. */
static bool bulk_get(void **p, size_t n, gfp_t gfp, atomic_long_t *failed)
{
	struct held h;
	size_t i;

	if (!pcpu_array_alloc_bulk(ctx.pa, gfp, n, p)) {
		atomic_long_inc(failed);
		return false;
	}
	for (i = 0; i < n; i++) {
		if (!got(p[i], gfp, &h)) {
			atomic_long_inc(&ctx.api_errors);
			continue;
		}
		obj_check(h.obj, h.seq);
	}
	return true;
}

static void bulk_put(void **p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		obj_check(p[i], 0);
	pcpu_array_free_bulk(ctx.pa, n, p);
	atomic_long_sub(n, &ctx.in_flight);
}

/*
 * Reserves @k objects, takes @take of them without sleeping, keeps them in @out.
 * @stored picks a caller-stored reservation (struct pcpu_array_rsv, here on the
 * stack) over a pcpu_array_reserve() one.
 */
static unsigned int reserve_take(unsigned int k, unsigned int take, gfp_t gfp,
				 bool irqs_off, bool stored, void **out,
				 atomic_long_t *failed)
{
	struct pcpu_array_reservation *r = NULL;
	void *slots[RESERVE_MAX];
	struct pcpu_array_rsv rsv = PCPU_ARRAY_RSV_INIT(slots);
	unsigned long flags = 0;
	unsigned int i, n = 0;
	struct held h;
	void *extra;
	int err;

	if (stored) {
		err = pcpu_array_rsv_fill(ctx.pa, &rsv, k, gfp);
	} else {
		r = pcpu_array_reserve(ctx.pa, k, gfp);
		err = PTR_ERR_OR_ZERO(r);
	}
	if (err) {
		if (err != -ENOMEM)
			atomic_long_inc(&ctx.api_errors);
		atomic_long_inc(failed);
		return 0;
	}
	if (stored && rsv.count != k)
		atomic_long_inc(&ctx.api_errors);
	if (irqs_off)
		local_irq_save(flags);
	for (i = 0; i < take; i++) {
		gfp_t g = GFP_NOWAIT | (i & 1 ? __GFP_ZERO : 0);
		void *p = stored ? pcpu_array_rsv_alloc(&rsv, g) :
			pcpu_array_alloc_reserved(r, g);

		if (got(p, g, &h))
			out[n++] = h.obj;
		else
			atomic_long_inc(&ctx.api_errors);	/* cannot fail */
	}
	if (take < k)
		extra = NULL;
	else if (stored)
		extra = pcpu_array_rsv_alloc(&rsv, GFP_NOWAIT);
	else
		extra = pcpu_array_alloc_reserved(r, GFP_NOWAIT);
	if (irqs_off)
		local_irq_restore(flags);
	if (extra) {
		/* More than reserved: must not happen, but give it back. */
		atomic_long_inc(&ctx.api_errors);
		pcpu_array_free(ctx.pa, extra);
	}
	if (stored)
		pcpu_array_rsv_release(&rsv);
	else
		pcpu_array_unreserve(r);
	return n;
}

/* One run of an interrupt user; @soft adds the calls that need interrupts on. */
static void irq_user_run(struct stress_worker *w, struct irq_user *u, bool soft)
{
	u32 r = prandom_u32_state(&u->rnd);
	gfp_t gfp = r & 0x100 ? GFP_ATOMIC : GFP_NOWAIT;
	unsigned int n, i;
	struct held h;
	int ret;

	if (r & 0x200)
		gfp |= __GFP_ZERO;
	switch (r % (soft ? 8 : 5)) {
	case 0:
	case 1:
		if (u->nr == IRQ_HOLD)
			u->nr = drop_random(u->hold, u->nr, &u->rnd);
		if (got(pcpu_array_alloc(ctx.pa, gfp), gfp, &u->hold[u->nr]))
			u->nr++;
		else
			atomic_long_inc(&ctx.irq_failed);
		break;
	case 2:
		if (u->nr)
			u->nr = drop_random(u->hold, u->nr, &u->rnd);
		break;
	case 3:
		/* Alloc and free at once: the object goes straight back. */
		if (got(pcpu_array_alloc(ctx.pa, gfp), gfp, &h))
			put(&h);
		else
			atomic_long_inc(&ctx.irq_failed);
		break;
	case 4:
		if (u->nr && ctx.nr_workers > 1) {
			u->nr--;
			hand_over(&u->hold[u->nr], other_worker(&u->rnd, w - ctx.workers));
		}
		break;
	case 5:
		n = 1 + (r >> 12) % IRQ_BULK_MAX;
		if (bulk_get(u->bulk, n, gfp, &ctx.irq_failed))
			bulk_put(u->bulk, n);
		break;
	case 6:
		n = 1 + (r >> 12) % IRQ_BULK_MAX;
		n = reserve_take(n, (r >> 20) % (n + 1), gfp, false, r & 0x40, u->bulk,
				 &ctx.irq_failed);
		for (i = 0; i < n; i++)
			obj_check(u->bulk[i], 0);
		if (n)
			bulk_put(u->bulk, n);
		break;
	case 7:
		ret = pcpu_array_prefill(ctx.pa, (r >> 12) % (CAPACITY + 1), GFP_NOWAIT);
		if (ret == -ENOMEM)
			atomic_long_inc(&ctx.irq_failed);
		else if (ret && ret != -EAGAIN)
			atomic_long_inc(&ctx.api_errors);
		break;
	}
}

static enum hrtimer_restart stress_hardirq(struct hrtimer *t)
{
	struct stress_worker *w = container_of(t, struct stress_worker, hrtimer);

	irq_user_run(w, &w->hardirq, false);
	if (in_hardirq())
		atomic_long_inc(&ctx.hardirq_ops);
	if (READ_ONCE(ctx.stop))
		return HRTIMER_NORESTART;
	hrtimer_forward_now(t, ns_to_ktime(HARDIRQ_PERIOD_NS));
	return HRTIMER_RESTART;
}

static void stress_softirq(struct timer_list *t)
{
	struct stress_worker *w = container_of(t, struct stress_worker, timer);

	irq_user_run(w, &w->softirq, true);
	atomic_long_inc(&ctx.softirq_ops);
	if (!READ_ONCE(ctx.stop))
		mod_timer(t, jiffies + 1);
}

static void irq_user_release(struct irq_user *u)
{
	while (u->nr)
		put(&u->hold[--u->nr]);
}

/* One operation of a CPU thread. */
static void worker_op(struct stress_worker *w)
{
	u32 r = prandom_u32_state(&w->rnd);
	unsigned int n, i, k;
	unsigned long flags;
	struct held h;
	gfp_t gfp;
	void *p;
	int ret;

	switch (r % 16) {
	case 0 ... 4:
		gfp = (r >> 8) % 4 == 0 ? GFP_NOWAIT : GFP_KERNEL;
		if (r & 0x4000)
			gfp |= __GFP_ZERO;
		if (w->nr == HOLD)
			w->nr = drop_random(w->hold, w->nr, &w->rnd);
		if (got(pcpu_array_alloc(ctx.pa, gfp), gfp, &w->hold[w->nr]))
			w->nr++;
		else
			atomic_long_inc(&ctx.failed);
		break;
	case 5 ... 7:
		n = 1 + (r >> 8) % 8;
		while (n-- && w->nr)
			w->nr = drop_random(w->hold, w->nr, &w->rnd);
		break;
	case 8:
		n = 1 + (r >> 8) % BULK_MAX;
		gfp = GFP_KERNEL | (r & 0x4000 ? __GFP_ZERO : 0);
		if (bulk_get(w->bulk, n, gfp, &ctx.failed))
			bulk_put(w->bulk, n);
		break;
	case 9:
		/* Free some held objects in one bulk call. */
		n = min_t(unsigned int, w->nr, 1 + (r >> 8) % BULK_MAX);
		for (i = 0; i < n; i++) {
			struct held *h = &w->hold[--w->nr];

			obj_check(h->obj, h->seq);
			w->bulk[i] = h->obj;
		}
		if (n)
			bulk_put(w->bulk, n);
		break;
	case 10:
		ret = pcpu_array_prefill(ctx.pa, (r >> 8) % (CAPACITY + 1), GFP_KERNEL);
		if (ret == -ENOMEM)
			atomic_long_inc(&ctx.failed);
		else if (ret && ret != -EAGAIN)
			atomic_long_inc(&ctx.api_errors);
		break;
	case 11:
		k = 1 + (r >> 8) % RESERVE_MAX;
		n = reserve_take(k, (r >> 16) % (k + 1), GFP_KERNEL, r & 0x80, r & 0x40,
				 w->reserved, &ctx.failed);
		for (i = 0; i < n; i++) {
			obj_check(w->reserved[i], 0);
			if (w->nr == HOLD)
				w->nr = drop_random(w->hold, w->nr, &w->rnd);
			w->hold[w->nr].obj = w->reserved[i];
			w->hold[w->nr].seq = ((struct stress_obj *)w->reserved[i])->seq;
			w->nr++;
		}
		break;
	case 12 ... 13:
		/* Cross-CPU free: another CPU's thread frees it. */
		if (w->nr && ctx.nr_workers > 1) {
			w->nr--;
			hand_over(&w->hold[w->nr], other_worker(&w->rnd, w - ctx.workers));
		}
		break;
	case 14:
		/* Node-specific, then alloc and free with interrupts or preemption off. */
		if (w->nr == HOLD)
			w->nr = drop_random(w->hold, w->nr, &w->rnd);
		p = pcpu_array_alloc_node(ctx.pa, GFP_KERNEL,
					  r & 0x100 ? numa_node_id() : NUMA_NO_NODE);
		if (got(p, GFP_KERNEL, &w->hold[w->nr]))
			w->nr++;
		else
			atomic_long_inc(&ctx.failed);
		if (IS_ENABLED(CONFIG_PREEMPT_RT)) {
			/*
			 * PREEMPT_RT forbids slab calls with interrupts or
			 * preemption off (the slab's locks sleep there);
			 * migration off is what RT code holds instead.
			 */
			migrate_disable();
			if (got(pcpu_array_alloc(ctx.pa, GFP_NOWAIT), GFP_NOWAIT, &h))
				put(&h);
			else
				atomic_long_inc(&ctx.failed);
			migrate_enable();
		} else if (r & 0x200) {
			local_irq_save(flags);
			if (got(pcpu_array_alloc(ctx.pa, GFP_ATOMIC), GFP_ATOMIC, &h))
				put(&h);
			else
				atomic_long_inc(&ctx.failed);
			local_irq_restore(flags);
		} else {
			preempt_disable();
			if (got(pcpu_array_alloc(ctx.pa, GFP_NOWAIT), GFP_NOWAIT, &h))
				put(&h);
			else
				atomic_long_inc(&ctx.failed);
			preempt_enable();
		}
		break;
	case 15:
		if (!(r & 0x700))
			usleep_range(20, 100);
		else
			cond_resched();
		break;
	}
}

static int stress_worker_fn(void *data)
{
	struct stress_worker *w = data;

#ifdef CONFIG_FAULT_INJECTION
	/* failslab fails this thread's allocations from the SLAB_FAILSLAB cache. */
	current->make_it_fail = 1;
#endif
	hrtimer_start(&w->hrtimer, ns_to_ktime(HARDIRQ_PERIOD_NS), HRTIMER_MODE_REL);
	while (!kthread_should_stop()) {
		if (w->ops >= stress_ops || READ_ONCE(ctx.stop)) {
			if (w->ops++ == stress_ops)
				atomic_long_inc(&ctx.workers_done);
			drain_inbox(w);
			schedule_timeout_interruptible(msecs_to_jiffies(10));
			continue;
		}
		drain_inbox(w);
		worker_op(w);
		w->ops++;
		atomic_long_inc(&ctx.ops);
		cond_resched();
	}
	while (w->nr)
		put(&w->hold[--w->nr]);
	drain_inbox(w);
#ifdef CONFIG_FAULT_INJECTION
	current->make_it_fail = 0;
#endif
	return 0;
}

/*
 * The worker of @cpu was moved elsewhere while its CPU was offline: move it
 * back. Done by the hotplug thread rather than by the worker itself, which on
 * PREEMPT_RT trips a scheduler warning when it changes its own affinity.
 */
static void rebind(unsigned int cpu)
{
	unsigned int i;

	for (i = 0; i < ctx.nr_workers; i++)
		if (ctx.workers[i].cpu == cpu && ctx.workers[i].task)
			set_cpus_allowed_ptr(ctx.workers[i].task, cpumask_of(cpu));
}

static int stress_hotplug_fn(void *data)
{
	struct rnd_state rnd;
	unsigned int cpu, pick, i;
	int ret;

	prandom_seed_state(&rnd, get_random_u64());
	while (!kthread_should_stop()) {
		cpus_read_lock();
		pick = prandom_u32_state(&rnd) % max(num_online_cpus() - 1, 1U);
		i = 0;
		cpu = nr_cpu_ids;
		for_each_online_cpu(cpu) {
			if (cpu != 0 && i++ == pick)
				break;
		}
		cpus_read_unlock();
		if (cpu >= nr_cpu_ids || cpu == 0) {
			msleep(20);
			continue;
		}
		ret = remove_cpu(cpu);
		if (ret) {
			atomic_long_inc(&ctx.hotplug_errors);
			msleep(20);
			continue;
		}
		msleep(5 + prandom_u32_state(&rnd) % 30);
		for (i = 0; i < 100; i++) {
			ret = add_cpu(cpu);
			if (!ret)
				break;
			atomic_long_inc(&ctx.hotplug_errors);
			msleep(20);
		}
		if (!ret) {
			atomic_long_inc(&ctx.cycles);
			rebind(cpu);
		}
		msleep(10 + prandom_u32_state(&rnd) % 40);
	}
	return 0;
}

static int stress_shrink_fn(void *data)
{
	struct rnd_state rnd;

	prandom_seed_state(&rnd, get_random_u64());
	while (!kthread_should_stop()) {
		atomic_long_add(pcpu_array_shrink(ctx.pa), &ctx.shrunk);
		atomic_long_inc(&ctx.shrinks);
		schedule_timeout_interruptible(msecs_to_jiffies(20 + prandom_u32_state(&rnd) % 60));
	}
	return 0;
}

static void stress_all(struct kunit *test)
{
	struct task_struct *hotplug = NULL, *shrink;
	unsigned int online = num_online_cpus();
	unsigned long end, start = jiffies;
	struct pcpu_array_stats st;
	struct stress_worker *w;
	unsigned int i, cpu;

	memset(&ctx, 0, sizeof(ctx));
	ctx.pa = pcpu_array_create(STRESS_CACHE, OBJ_SIZE, 0, 0, CAPACITY);
	KUNIT_ASSERT_FALSE_MSG(test, IS_ERR(ctx.pa), "create failed: %ld", PTR_ERR(ctx.pa));
	ctx.workers = kunit_kcalloc(test, nr_cpu_ids, sizeof(*ctx.workers), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, ctx.workers);

	/* No hotplug yet: every online CPU gets a thread and interrupt users. */
	for_each_online_cpu(cpu) {
		w = &ctx.workers[ctx.nr_workers];
		w->cpu = cpu;
		init_llist_head(&w->inbox);
		prandom_seed_state(&w->rnd, get_random_u64());
		prandom_seed_state(&w->hardirq.rnd, get_random_u64());
		prandom_seed_state(&w->softirq.rnd, get_random_u64());
		/*
		 * Not HRTIMER_MODE_HARD: that callback may take raw spinlocks only
		 * (the slab's locks are not). Without PREEMPT_RT it still runs in
		 * hard interrupt context.
		 */
		hrtimer_setup(&w->hrtimer, stress_hardirq, CLOCK_MONOTONIC, HRTIMER_MODE_REL);
		timer_setup(&w->timer, stress_softirq, 0);
		w->task = kthread_create_on_cpu(stress_worker_fn, w, cpu, "pa_stress/%u");
		if (IS_ERR(w->task)) {
			KUNIT_FAIL(test, "kthread on CPU %u: %ld", cpu, PTR_ERR(w->task));
			w->task = NULL;
		}
		ctx.nr_workers++;
	}
	for (i = 0; i < ctx.nr_workers; i++) {
		w = &ctx.workers[i];
		w->timer.expires = jiffies + 1;
		add_timer_on(&w->timer, w->cpu);
		if (w->task)
			wake_up_process(w->task);
	}
	if (online > 1) {
		hotplug = kthread_run(stress_hotplug_fn, NULL, "pa_stress_hp");
		if (IS_ERR(hotplug)) {
			KUNIT_FAIL(test, "hotplug kthread: %ld", PTR_ERR(hotplug));
			hotplug = NULL;
		}
	}
	shrink = kthread_run(stress_shrink_fn, NULL, "pa_stress_shrink");
	if (IS_ERR(shrink)) {
		KUNIT_FAIL(test, "shrink kthread: %ld", PTR_ERR(shrink));
		shrink = NULL;
	}

	end = jiffies + msecs_to_jiffies(stress_ms);
	while (time_before(jiffies, end) &&
	       atomic_long_read(&ctx.workers_done) < ctx.nr_workers)
		msleep(50);

	/* Interrupt users first, then hotplug and shrink, then the CPU threads. */
	WRITE_ONCE(ctx.stop, true);
	for (i = 0; i < ctx.nr_workers; i++) {
		w = &ctx.workers[i];
		hrtimer_cancel(&w->hrtimer);
		timer_shutdown_sync(&w->timer);
		irq_user_release(&w->hardirq);
		irq_user_release(&w->softirq);
	}
	if (hotplug)
		kthread_stop(hotplug);
	if (shrink)
		kthread_stop(shrink);
	for (i = 0; i < ctx.nr_workers; i++)
		if (ctx.workers[i].task)
			kthread_stop(ctx.workers[i].task);
	for (i = 0; i < ctx.nr_workers; i++)
		drain_inbox(&ctx.workers[i]);

	kunit_info(test,
		   "%u ms, %u CPUs: %ld ops, %ld failures injected (observed), %ld in interrupts, %ld hardirq and %ld softirq runs, %ld cross-CPU frees, %ld cpu offline/online cycles (%ld errors), %ld shrinks (%ld objects), %ld in flight at end\n",
		   jiffies_to_msecs(jiffies - start), online, atomic_long_read(&ctx.ops),
		   atomic_long_read(&ctx.failed), atomic_long_read(&ctx.irq_failed),
		   atomic_long_read(&ctx.hardirq_ops), atomic_long_read(&ctx.softirq_ops),
		   atomic_long_read(&ctx.cross_frees), atomic_long_read(&ctx.cycles),
		   atomic_long_read(&ctx.hotplug_errors), atomic_long_read(&ctx.shrinks),
		   atomic_long_read(&ctx.shrunk), atomic_long_read(&ctx.in_flight));

	KUNIT_EXPECT_EQ(test, atomic_long_read(&ctx.in_flight), 0);
	KUNIT_EXPECT_EQ(test, atomic_long_read(&ctx.corrupt), 0);
	KUNIT_EXPECT_EQ(test, atomic_long_read(&ctx.api_errors), 0);
	KUNIT_EXPECT_GT(test, atomic_long_read(&ctx.ops), 0);
	if (!IS_ENABLED(CONFIG_PREEMPT_RT))
		KUNIT_EXPECT_GT(test, atomic_long_read(&ctx.hardirq_ops), 0);
	KUNIT_EXPECT_GT(test, atomic_long_read(&ctx.softirq_ops), 0);
	KUNIT_EXPECT_GT(test, atomic_long_read(&ctx.shrinks), 0);
	if (online > 1)
		KUNIT_EXPECT_GT(test, atomic_long_read(&ctx.cycles), 0);
	KUNIT_EXPECT_EQ(test, num_online_cpus(), online);

	pcpu_array_shrink(ctx.pa);
	pcpu_array_get_stats(ctx.pa, &st);
	kunit_info(test, "stats: alloc_array %llu alloc_backing %llu free_array %llu free_backing %llu refills %llu flushes %llu cached %llu\n",
		   st.alloc_array, st.alloc_backing, st.free_array, st.free_backing,
		   st.array_refill, st.array_flush, st.objects_cached);
	KUNIT_EXPECT_EQ(test, st.objects_cached, 0);
	KUNIT_EXPECT_GT(test, atomic_long_read(&ctx.rcu_frees), 0);
	kunit_info(test, "frees after a grace period: %ld, %ld of them in hard interrupts\n",
		   atomic_long_read(&ctx.rcu_frees), atomic_long_read(&ctx.rcu_hardirq_frees));
	if (!IS_ENABLED(CONFIG_PREEMPT_RT))
		KUNIT_EXPECT_GT(test, atomic_long_read(&ctx.rcu_hardirq_frees), 0);
	KUNIT_EXPECT_EQ(test, st.alloc_array + st.alloc_backing,
			st.free_array + st.free_backing + atomic_long_read(&ctx.rcu_frees));
	pcpu_array_destroy(ctx.pa);
	ctx.pa = NULL;
}

static struct kunit_case pcpu_array_stress_cases[] = {
	KUNIT_CASE_SLOW(stress_all),
	{}
};

static struct kunit_suite pcpu_array_stress_suite = {
	.name = "pcpu_array_stress",
	.test_cases = pcpu_array_stress_cases,
};
kunit_test_suite(pcpu_array_stress_suite);

MODULE_DESCRIPTION("Stress test of pcpu_array through its C ABI");
MODULE_LICENSE("GPL");
