// SPDX-License-Identifier: GPL-2.0
/*
 * pcpu_array_bench: allocation benchmarks of pcpu_array against SLUB's sheaves,
 * measured in one boot. At load it creates every backend for 64- and 256-byte
 * objects, runs the scenarios that mode= selects, prints one line per
 * (scenario, backend, size, rep):
 *
 *   pcpu_array_bench: scenario=S backend=B size=N ops=N ns=N cycles=N hits=N misses=N rep=N
 *
 * and stays loaded; unloading frees the caches. Any allocation failure fails
 * the load. scripts/bench_report.py reads these lines (and the same lines from
 * other modules). See Documentation/performance.rst.
 *
 * Backends (caches created with SLAB_NO_MERGE, so that no other user of the
 * guest shares their slabs, sheaves or statistics):
 *   sheaves            kmem_cache_create(): SLUB's per-CPU sheaves (Linux 7.2)
 *   nosheaves          the same with SLAB_NOLEAKTRACE, which disables sheaves
 *   pcpu_array         pcpu_array_create(), capacity 64, backing without sheaves
 *   pcpu_array_inline  the pcpu_array cache through pcpu_array_alloc_inline() and
 *                      pcpu_array_free_inline(): the hit without a call
 *   pcpu_array_sheaves pcpu_array_create_args() with keep_sheaves, capacity 64
 *   pcpu_array_reserve the pcpu_array cache through pcpu_array_reserve() (maple)
 *   pcpu_array_rsv     the pcpu_array cache through a caller-stored reservation,
 *                      pcpu_array_rsv_fill() into the scratch space (maple)
 *   bulk_prealloc      the nosheaves cache through kmem_cache_alloc_bulk() into
 *                      a private array, what the maple tree did before sheaves
 *                      (maple)
 *   sheaves_account    kmem_cache_create() with SLAB_ACCOUNT (hot_pair, batch64)
 *   pcpu_array_account pcpu_array_create() with SLAB_ACCOUNT (hot_pair, batch64):
 *                      while kernel memory accounting is online its objects go
 *                      to the backing cache, which charges them; scripts/guest.sh
 *                      runs the benchmarks in a child memory cgroup, so they are
 *                      charged
 *
 * An op is one object allocated and freed. Single-CPU scenarios run in a
 * kthread bound to cpu=, timed with ktime_get_ns() around ops operations, each
 * after an untimed warm-up pass of the same:
 *   hot_pair       alloc, free, repeated
 *   batchN         allocate N, free them in allocation order (N = 16 .. 1024)
 *   mapleK         a maple-tree write needing K = 4 or 16 nodes: reserve the
 *                  worst case, 2K, outside the "lock" (prefill, reserve or bulk
 *                  allocation; nothing for sheaves/nosheaves), allocate K with
 *                  GFP_NOWAIT and preemption disabled, then free the K nodes and
 *                  give back the unused K (unreserve, kmem_cache_free_bulk; a
 *                  prefill leaves them in the array). 2K because the maple
 *                  tree's worst case (a split at every level) exceeds what a
 *                  write uses, so the give-back path is part of the cost.
 *   handoff512     allocate 512 on cpu=, move to the next online CPU, free them
 *                  there, move back: one CPU allocates, another frees, as a
 *                  producer and a consumer do in bursts. Under icount the
 *                  clock counts the instructions of both CPUs, and the two
 *                  migrations of each round (the same for every backend).
 *   rcu_churn      alloc, free after a grace period, repeated (a cond_resched()
 *                  every 256, so that grace periods end during the run):
 *                  pcpu_array_free_rcu() for pcpu_array and pcpu_array_inline,
 *                  kfree_rcu() (kvfree_call_rcu() with the object's first
 *                  bytes as its rcu_head) for sheaves, whose rcu_free sheaf
 *                  batches it, and for nosheaves; 10 * ops of them
 *                  (RCU_OPS_SCALE), on caches of their own (the churn
 *                  through the slabs would weigh on the other scenarios);
 *                  the untimed run before each measurement leaves it the
 *                  steady state of a churn (the objects of the run before
 *                  waiting for their grace periods); after it, untimed,
 *                  every pending free is waited for. Then, untimed,
 *                  how long the objects waited (rcu_wait lines, below).
 * rcu_wait lines:  "rcu_wait backend=B size=N ops=N grace_periods=N
 *                  tracked=N reused=N wait_gp_x100=N wait_ns=N": during
 *                  another pass of rcu_churn, every 64th object freed
 *                  is tracked until an allocation returns it; grace_periods
 *                  ended during the pass, wait_gp_x100 is the mean number
 *                  that ended between a tracked free and its reuse (x100),
 *                  wait_ns the mean time.
 * Multi-CPU scenarios (mode=multi), timed as wall time from the first worker's
 * start to the last one's end:
 *   cross_cpu          the first online CPU allocates, the second frees,
 *                      through a bounded single-producer single-consumer ring
 *   all_cpus_hot_pair  hot_pair on every online CPU at once (ops per CPU; the
 *   all_cpus_batch64   line's ops is the total), batch64 likewise;
 *   one_cpu_hot_pair   the same on the first online CPU alone, for the
 *   one_cpu_batch64    scaling of all_cpus_* against it.
 * hits/misses are deltas of pcpu_array_get_stats() over the timed pass. A hit
 * is an allocation or free the array served without the backing cache; a miss
 * is one that went to it: a refill or a flush (one per batch of objects, each
 * counted once) or a bypass. So hits = alloc_array + free_array -
 * array_refill - array_flush and misses = alloc_backing + free_backing +
 * array_refill + array_flush; 0/0 for the slab backends.
 */

#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/completion.h>
#include <linux/cpumask.h>
#include <linux/err.h>
#include <linux/hash.h>
#include <linux/kthread.h>
#include <linux/log2.h>
#include <linux/memcontrol.h>
#include <linux/sched/mm.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/preempt.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/timex.h>
#include <pcpu_array.h>

static char *mode = "single";
module_param(mode, charp, 0444);
MODULE_PARM_DESC(mode, "single (one CPU, for icount) or multi (several CPUs, wall time)");
static unsigned int reps = 3;
module_param(reps, uint, 0444);
MODULE_PARM_DESC(reps, "timed repetitions of each measurement");
static unsigned int ops = 20000;
module_param(ops, uint, 0444);
MODULE_PARM_DESC(ops, "objects allocated and freed per measurement (per CPU for all_cpus_*)");
static unsigned int cpu;
module_param(cpu, uint, 0444);
MODULE_PARM_DESC(cpu, "CPU the single-CPU scenarios run on");
static char *only = "";
module_param(only, charp, 0444);
MODULE_PARM_DESC(only, "comma-separated scenarios to run (default: all of the mode)");

#define BENCH_CAPACITY PCPU_ARRAY_MAX_CAPACITY
#define BENCH_MAX_BATCH 1024
#define RING_SIZE 256

enum backend_id {
	BK_SHEAVES,
	BK_NOSHEAVES,
	BK_PCPU,
	BK_PCPU_INLINE,
	BK_PCPU_SHEAVES,
	BK_PCPU_RESERVE,
	BK_PCPU_RSV,
	BK_BULK,
	BK_SHEAVES_ACCOUNT,
	BK_PCPU_ACCOUNT,
	NR_BACKENDS,
};

static const char * const backend_names[NR_BACKENDS] = {
	[BK_SHEAVES] = "sheaves",
	[BK_NOSHEAVES] = "nosheaves",
	[BK_PCPU] = "pcpu_array",
	[BK_PCPU_INLINE] = "pcpu_array_inline",
	[BK_PCPU_SHEAVES] = "pcpu_array_sheaves",
	[BK_PCPU_RESERVE] = "pcpu_array_reserve",
	[BK_PCPU_RSV] = "pcpu_array_rsv",
	[BK_BULK] = "bulk_prealloc",
	[BK_SHEAVES_ACCOUNT] = "sheaves_account",
	[BK_PCPU_ACCOUNT] = "pcpu_array_account",
};

/* Only the maple scenarios have a reservation step to compare. */
static bool backend_maple_only(enum backend_id id)
{
	return id == BK_PCPU_RESERVE || id == BK_PCPU_RSV || id == BK_BULK;
}

/* What memcg charging costs is measured on the hot pair and batch64 only. */
static bool backend_skips(enum backend_id id, const char *scenario)
{
	if (!strcmp(scenario, "rcu_churn"))
		return id != BK_SHEAVES && id != BK_NOSHEAVES && id != BK_PCPU &&
		       id != BK_PCPU_INLINE;
	if (id != BK_SHEAVES_ACCOUNT && id != BK_PCPU_ACCOUNT)
		return false;
	return strcmp(scenario, "hot_pair") && strcmp(scenario, "batch64");
}

static const unsigned int sizes[] = { 64, 256 };

struct backend {
	enum backend_id id;
	unsigned int size;
	struct kmem_cache *s;	/* the slab backends */
	struct pcpu_array *pa;	/* the pcpu_array backends */
	bool inline_hit;	/* pcpu_array_inline */
};

static struct backend backends[ARRAY_SIZE(sizes)][NR_BACKENDS];
/*
 * The same backends on caches of their own for the frees after a grace period,
 * whose churn through the slabs would otherwise weigh on the other scenarios.
 */
static struct backend rcu_backends[ARRAY_SIZE(sizes)][NR_BACKENDS];
static struct kmem_cache *caches[ARRAY_SIZE(sizes)][5];
static struct pcpu_array *arrays[ARRAY_SIZE(sizes)][4];

static const char * const cache_names[ARRAY_SIZE(sizes)][5] = {
	{ "pcpu_array_bench_sheaves_64", "pcpu_array_bench_nosheaves_64",
	  "pcpu_array_bench_account_64", "pcpu_array_bench_rcu_sheaves_64",
	  "pcpu_array_bench_rcu_nosheaves_64" },
	{ "pcpu_array_bench_sheaves_256", "pcpu_array_bench_nosheaves_256",
	  "pcpu_array_bench_account_256", "pcpu_array_bench_rcu_sheaves_256",
	  "pcpu_array_bench_rcu_nosheaves_256" },
};

static const char * const array_names[ARRAY_SIZE(sizes)][4] = {
	{ "pcpu_array_bench_64", "pcpu_array_bench_sheaves_pa_64", "pcpu_array_bench_pa_account_64",
	  "pcpu_array_bench_rcu_64" },
	{ "pcpu_array_bench_256", "pcpu_array_bench_sheaves_pa_256",
	  "pcpu_array_bench_pa_account_256", "pcpu_array_bench_rcu_256" },
};

/* Which API a backend's single-object calls go through. */
enum api { API_SLAB, API_PCPU, API_PCPU_INLINE };

static enum api b_api(const struct backend *b)
{
	if (b->inline_hit)
		return API_PCPU_INLINE;
	return b->pa ? API_PCPU : API_SLAB;
}

static __always_inline void *api_alloc(enum api api, struct kmem_cache *s,
				       struct pcpu_array *pa, gfp_t gfp)
{
	switch (api) {
	case API_PCPU_INLINE:
		return pcpu_array_alloc_inline(pa, gfp);
	case API_PCPU:
		return pcpu_array_alloc(pa, gfp);
	default:
		return kmem_cache_alloc(s, gfp);
	}
}

static __always_inline void api_free(enum api api, struct kmem_cache *s,
				     struct pcpu_array *pa, void *obj)
{
	switch (api) {
	case API_PCPU_INLINE:
		pcpu_array_free_inline(pa, obj);
		break;
	case API_PCPU:
		pcpu_array_free(pa, obj);
		break;
	default:
		kmem_cache_free(s, obj);
		break;
	}
}

/* One object through @b's API, chosen at each call (the scenarios but two). */
static __always_inline void *b_alloc(struct backend *b, gfp_t gfp)
{
	return api_alloc(b_api(b), b->s, b->pa, gfp);
}

static __always_inline void b_free(struct backend *b, void *obj)
{
	api_free(b_api(b), b->s, b->pa, obj);
}

/*
 * The loop of @fn compiled once per API, the API chosen once per run: the
 * hot_pair and batchN loops call one API with nothing around it, so that what
 * they count is the allocator's work, not the benchmark's.
 */
#define RUN_PER_API(fn, b, ...)							\
	({									\
		enum api __api = b_api(b);					\
										\
		__api == API_PCPU_INLINE ? fn(API_PCPU_INLINE, b, __VA_ARGS__) :	\
		__api == API_PCPU ? fn(API_PCPU, b, __VA_ARGS__) :		\
				    fn(API_SLAB, b, __VA_ARGS__);		\
	})

/* Scratch space of one worker. */
struct scratch {
	void *obj[BENCH_MAX_BATCH];
	void *pre[2 * 16];
};

static __always_inline int hot_pair_loop(enum api api, struct backend *b,
					  unsigned long n)
{
	struct kmem_cache *s = b->s;
	struct pcpu_array *pa = b->pa;
	unsigned long i;
	void *obj;

	for (i = 0; i < n; i++) {
		obj = api_alloc(api, s, pa, GFP_KERNEL);
		if (!obj)
			return -ENOMEM;
		api_free(api, s, pa, obj);
	}
	return 0;
}

static int run_hot_pair(struct backend *b, struct scratch *sc, unsigned long n)
{
	return RUN_PER_API(hot_pair_loop, b, n);
}

/* Frees @obj after a grace period: kfree_rcu() with its first bytes as the head. */
static __always_inline void api_free_rcu(enum api api, struct pcpu_array *pa, void *obj)
{
	if (api == API_SLAB)
		kvfree_call_rcu(obj, obj);
	else
		pcpu_array_free_rcu(pa, obj);
}

/*
 * RCU's grace-period sequence: rcu_get_gp_seq() is exported for rcutorture and
 * declared only in kernel/rcu/rcu.h. Above its low RCU_SEQ_CTR_SHIFT bits (the
 * state of the current grace period) it counts those that have ended, from a
 * start near the wrap.
 */
unsigned long rcu_get_gp_seq(void);

/* Grace periods that have ended since @seq, a value of rcu_get_gp_seq(). */
static unsigned long gp_since(unsigned long seq)
{
	return ((rcu_get_gp_seq() >> RCU_SEQ_CTR_SHIFT) - (seq >> RCU_SEQ_CTR_SHIFT)) &
	       (ULONG_MAX >> RCU_SEQ_CTR_SHIFT);
}

/* A hash table of the tracked objects: a slot is looked up at every allocation. */
#define WAIT_SLOTS 1024
#define WAIT_PROBES 8
#define WAIT_EVERY 64

struct wait_slot {
	void *obj;
	unsigned long gp;
	u64 ns;
};

struct rcu_wait {
	struct wait_slot slot[WAIT_SLOTS];
	unsigned long tracked, reused, sum_gp;
	u64 sum_ns;
};

static unsigned int wait_hash(void *obj, unsigned int probe)
{
	return (hash_ptr(obj, ilog2(WAIT_SLOTS)) + probe) & (WAIT_SLOTS - 1);
}

/* Ends the wait of a tracked object that @obj, just allocated, is. */
static void wait_seen(struct rcu_wait *w, void *obj)
{
	unsigned int p;

	for (p = 0; p < WAIT_PROBES; p++) {
		struct wait_slot *t = &w->slot[wait_hash(obj, p)];

		if (t->obj != obj)
			continue;
		w->reused++;
		w->sum_gp += gp_since(t->gp);
		w->sum_ns += ktime_get_ns() - t->ns;
		t->obj = NULL;
		return;
	}
}

/* Tracks @obj, about to be freed, where it has room. */
static void wait_track(struct rcu_wait *w, void *obj)
{
	unsigned int p;

	for (p = 0; p < WAIT_PROBES; p++) {
		struct wait_slot *t = &w->slot[wait_hash(obj, p)];

		if (t->obj)
			continue;
		*t = (struct wait_slot){ obj, rcu_get_gp_seq(), ktime_get_ns() };
		w->tracked++;
		return;
	}
}

/* The churn; with @w, it also tracks how long objects wait (NULL when timed). */
static __always_inline int rcu_churn_loop(enum api api, struct backend *b,
					  unsigned long n, struct rcu_wait *w)
{
	struct kmem_cache *s = b->s;
	struct pcpu_array *pa = b->pa;
	unsigned long i;
	void *obj;

	for (i = 0; i < n; i++) {
		obj = api_alloc(api, s, pa, GFP_KERNEL);
		if (!obj)
			return -ENOMEM;
		if (w) {
			wait_seen(w, obj);
			if (!(i % WAIT_EVERY))
				wait_track(w, obj);
		}
		api_free_rcu(api, pa, obj);
		if (!(i % 256))
			cond_resched();
	}
	return 0;
}

static int run_rcu_churn(struct backend *b, struct scratch *sc, unsigned long n,
			 unsigned int arg)
{
	return RUN_PER_API(rcu_churn_loop, b, n, NULL);
}

/*
 * Waits for what a run freed after a grace period, so that it does not weigh on
 * the next one. 7.3 no longer exports kvfree_rcu_barrier(): there the
 * kfree_rcu() batches are left to kmem_cache_destroy(), which waits for them.
 */
static void wait_for_rcu_frees(void)
{
#ifndef PCPU_ARRAY_KERNEL_7_3
	kvfree_rcu_barrier();
#endif
	rcu_barrier();
}

/* Untimed: how long objects freed after a grace period wait until reused. */
static int measure_rcu_wait(struct backend *b, unsigned long n)
{
	struct rcu_wait *w = kvzalloc(sizeof(*w), GFP_KERNEL);
	unsigned long gp;
	u64 ns;
	int ret;

	if (!w)
		return -ENOMEM;
	/* As for the timed runs: the pass meets a churn's steady state. */
	ret = RUN_PER_API(rcu_churn_loop, b, n, NULL);
	gp = rcu_get_gp_seq();
	ns = ktime_get_ns();
	if (!ret)
		ret = RUN_PER_API(rcu_churn_loop, b, n, w);
	if (!ret)
		pr_info("rcu_wait backend=%s size=%u ops=%lu grace_periods=%lu ns=%llu tracked=%lu reused=%lu wait_gp_x100=%lu wait_ns=%llu\n",
			backend_names[b->id], b->size, n, gp_since(gp),
			ktime_get_ns() - ns, w->tracked, w->reused,
			w->reused ? 100 * w->sum_gp / w->reused : 0,
			w->reused ? div64_u64(w->sum_ns, w->reused) : 0);
	kvfree(w);
	wait_for_rcu_frees();
	return ret;
}

static __always_inline int batch_loop(enum api api, struct backend *b,
				      struct scratch *sc, unsigned long n,
				      unsigned int batch)
{
	struct kmem_cache *s = b->s;
	struct pcpu_array *pa = b->pa;
	unsigned long r;
	unsigned int i, j;

	for (r = 0; r < n / batch; r++) {
		for (i = 0; i < batch; i++) {
			sc->obj[i] = api_alloc(api, s, pa, GFP_KERNEL);
			if (!sc->obj[i]) {
				for (j = 0; j < i; j++)
					api_free(api, s, pa, sc->obj[j]);
				return -ENOMEM;
			}
		}
		for (i = 0; i < batch; i++)
			api_free(api, s, pa, sc->obj[i]);
	}
	return 0;
}

static int run_batch(struct backend *b, struct scratch *sc, unsigned long n,
		     unsigned int batch)
{
	return RUN_PER_API(batch_loop, b, sc, n, batch);
}

/*
 * Allocate arg objects with one bulk call, free them with one: the per-object
 * cost of the bulk API, which is what a pcpu_array refill plus flush costs per
 * object on top of its array operations (batches beyond the capacity).
 */
static int run_bulk(struct backend *b, struct scratch *sc, unsigned long n,
		    unsigned int batch)
{
	unsigned long r;

	for (r = 0; r < n / batch; r++) {
		if (b->pa) {
			if (!pcpu_array_alloc_bulk(b->pa, GFP_KERNEL, batch, sc->obj))
				return -ENOMEM;
			pcpu_array_free_bulk(b->pa, batch, sc->obj);
		} else {
			if (!kmem_cache_alloc_bulk(b->s, GFP_KERNEL, batch, sc->obj))
				return -ENOMEM;
			kmem_cache_free_bulk(b->s, batch, sc->obj);
		}
	}
	return 0;
}

/* One maple-tree-like write: reserve 2k outside the "lock", use k inside it. */
static int maple_write(struct backend *b, struct scratch *sc, unsigned int k)
{
	struct pcpu_array_reservation *res = NULL;
	struct pcpu_array_rsv rsv = PCPU_ARRAY_RSV_INIT(sc->pre);
	unsigned int worst = 2 * k, i, got = 0;
	int ret;

	switch (b->id) {
	case BK_PCPU:
	case BK_PCPU_SHEAVES:
		/* Opportunistic: -EAGAIN only means the NOWAIT allocations may miss. */
		ret = pcpu_array_prefill(b->pa, worst, GFP_KERNEL);
		if (ret && ret != -EAGAIN)
			return ret;
		break;
	case BK_PCPU_RESERVE:
		res = pcpu_array_reserve(b->pa, worst, GFP_KERNEL);
		if (IS_ERR(res))
			return PTR_ERR(res);
		break;
	case BK_PCPU_RSV:
		ret = pcpu_array_rsv_fill(b->pa, &rsv, worst, GFP_KERNEL);
		if (ret)
			return ret;
		break;
	case BK_BULK:
		if (!kmem_cache_alloc_bulk(b->s, GFP_KERNEL, worst, sc->pre))
			return -ENOMEM;
		break;
	default:
		break;
	}

	preempt_disable();
	for (i = 0; i < k; i++) {
		switch (b->id) {
		case BK_PCPU_RESERVE:
			sc->obj[i] = pcpu_array_alloc_reserved(res, GFP_NOWAIT);
			break;
		case BK_PCPU_RSV:
			sc->obj[i] = pcpu_array_rsv_alloc(&rsv, GFP_NOWAIT);
			break;
		case BK_BULK:
			sc->obj[i] = sc->pre[i];
			break;
		default:
			sc->obj[i] = b_alloc(b, GFP_NOWAIT);
			break;
		}
		if (!sc->obj[i])
			break;
		got++;
	}
	preempt_enable();

	if (res)
		pcpu_array_unreserve(res);
	pcpu_array_rsv_release(&rsv);
	if (b->id == BK_BULK)
		kmem_cache_free_bulk(b->s, worst - got, sc->pre + got);
	for (i = 0; i < got; i++)
		b_free(b, sc->obj[i]);
	return got == k ? 0 : -ENOMEM;
}

static int run_maple(struct backend *b, struct scratch *sc, unsigned long n,
		     unsigned int k)
{
	unsigned long r;
	int ret;

	for (r = 0; r < n / k; r++) {
		ret = maple_write(b, sc, k);
		if (ret)
			return ret;
	}
	return 0;
}

enum kind { SINGLE, CROSS, ALL_CPUS, ONE_CPU };

/* The first online CPU other than @home, or nr_cpu_ids when there is none. */
static unsigned int other_online_cpu(unsigned int home)
{
	unsigned int c;

	for_each_online_cpu(c) {
		if (c != home)
			return c;
	}
	return nr_cpu_ids;
}

static int run_handoff(struct backend *b, struct scratch *sc, unsigned long n,
		       unsigned int arg)
{
	unsigned int home = raw_smp_processor_id();
	unsigned int other = other_online_cpu(home);
	unsigned long done, i, got;
	int ret = 0;

	if (other >= nr_cpu_ids)
		return -ENODEV;
	for (done = 0; done < n && !ret; done += arg) {
		for (got = 0; got < arg; got++) {
			sc->obj[got] = b_alloc(b, GFP_KERNEL);
			if (!sc->obj[got]) {
				ret = -ENOMEM;
				break;
			}
		}
		ret = ret ?: set_cpus_allowed_ptr(current, cpumask_of(other));
		for (i = 0; i < got; i++)
			b_free(b, sc->obj[i]);
		if (set_cpus_allowed_ptr(current, cpumask_of(home)) && !ret)
			ret = -EIO;
	}
	return ret;
}

struct scenario {
	const char *name;
	enum kind kind;
	int (*run)(struct backend *b, struct scratch *sc, unsigned long n,
		   unsigned int arg);
	unsigned int arg;	/* batch size, or nodes per maple write */
	bool maple;
	bool rcu;	/* frees after a grace period, waited for after each run */
};

/* The backend a scenario runs on: @b, or its twin on caches of its own for RCU. */
static struct backend *backend_for(const struct scenario *sn, struct backend *b)
{
	return sn->rcu ? &rcu_backends[0][0] + (b - &backends[0][0]) : b;
}

static int run_hot_pair_arg(struct backend *b, struct scratch *sc, unsigned long n,
			    unsigned int arg)
{
	return run_hot_pair(b, sc, n);
}

static const struct scenario scenarios[] = {
	{ "hot_pair", SINGLE, run_hot_pair_arg, 1 },
	{ "batch16", SINGLE, run_batch, 16 },
	{ "batch64", SINGLE, run_batch, 64 },
	{ "batch256", SINGLE, run_batch, 256 },
	{ "batch1024", SINGLE, run_batch, 1024 },
	{ "bulk32", SINGLE, run_bulk, 32 },
	{ "maple4", SINGLE, run_maple, 4, true },
	{ "maple16", SINGLE, run_maple, 16, true },
	{ "handoff512", SINGLE, run_handoff, 512 },
	{ "rcu_churn", SINGLE, run_rcu_churn, 1, false, true },
	{ "cross_cpu", CROSS, NULL, 1 },
	{ "all_cpus_hot_pair", ALL_CPUS, run_hot_pair_arg, 1 },
	{ "all_cpus_batch64", ALL_CPUS, run_batch, 64 },
	{ "one_cpu_hot_pair", ONE_CPU, run_hot_pair_arg, 1 },
	{ "one_cpu_batch64", ONE_CPU, run_batch, 64 },
};

static bool selected(const struct scenario *sn)
{
	size_t len = strlen(sn->name);
	const char *p = only;

	if (!*only)
		return strcmp(mode, "single") ? sn->kind != SINGLE : sn->kind == SINGLE;
	while ((p = strstr(p, sn->name))) {
		if ((p == only || p[-1] == ',') && (p[len] == ',' || !p[len]))
			return true;
		p += len;
	}
	return false;
}

/*
 * The frees after a grace period run ten times as many ops: a run of ops=20000
 * lasts about 5 ms of guest time, about a grace period on a HZ=250 kernel, so
 * that it would measure a churn's first grace periods rather than its steady
 * state.
 */
#define RCU_OPS_SCALE 10

/* Objects per measurement: a whole number of rounds, at least one. */
static unsigned long round_ops(const struct scenario *sn)
{
	unsigned long n = ops * (sn->rcu ? RCU_OPS_SCALE : 1);

	return max_t(unsigned long, n / sn->arg, 1) * sn->arg;
}

struct sample {
	u64 ns, cycles;
	struct pcpu_array_stats st;
};

static void sample_start(struct backend *b, struct sample *s)
{
	memset(&s->st, 0, sizeof(s->st));
	if (b->pa)
		pcpu_array_get_stats(b->pa, &s->st);
	s->cycles = get_cycles();
	s->ns = ktime_get_ns();
}

static void report(const struct scenario *sn, struct backend *b, struct sample *s,
		   u64 ns, u64 cycles, unsigned long n, unsigned int rep)
{
	struct pcpu_array_stats st = {};
	u64 served, trips, bypass;

	if (b->pa)
		pcpu_array_get_stats(b->pa, &st);
	served = st.alloc_array + st.free_array -
		 s->st.alloc_array - s->st.free_array;
	trips = st.array_refill + st.array_flush -
		s->st.array_refill - s->st.array_flush;
	bypass = st.alloc_backing + st.free_backing -
		 s->st.alloc_backing - s->st.free_backing;
	pr_info("scenario=%s backend=%s size=%u ops=%lu ns=%llu cycles=%llu hits=%llu misses=%llu rep=%u\n",
		sn->name, backend_names[b->id], b->size, n, ns, cycles,
		served - min(trips, served), bypass + trips, rep);
}

/* A worker kthread: runs one measurement on its CPU once @start completes. */
struct worker {
	struct task_struct *task;
	struct completion done;
	struct completion *start;
	const struct scenario *sn;
	struct backend *b;
	struct scratch *sc;
	unsigned long n;
	u64 t_start, t_end, c_start, c_end;
	int ret;
	/* cross_cpu */
	bool producer;
	struct ring *ring;
};

struct ring {
	void *slot[RING_SIZE];
	unsigned long head ____cacheline_aligned_in_smp;	/* written by the producer */
	unsigned long tail ____cacheline_aligned_in_smp;	/* written by the consumer */
};

static void ring_produce(struct worker *w)
{
	struct ring *ring = w->ring;
	unsigned long i, head = 0;
	void *obj;

	for (i = 0; i < w->n; i++) {
		obj = b_alloc(w->b, GFP_KERNEL);
		if (!obj)
			w->ret = -ENOMEM;	/* the consumer still gets n slots */
		/* Waits for a free slot: pairs with the consumer's release of tail. */
		while (head - smp_load_acquire(&ring->tail) == RING_SIZE)
			cond_resched();
		ring->slot[head % RING_SIZE] = obj;
		/* Publishes the slot: pairs with the consumer's acquire of head. */
		smp_store_release(&ring->head, ++head);
	}
}

static void ring_consume(struct worker *w)
{
	struct ring *ring = w->ring;
	unsigned long i, tail = 0;
	void *obj;

	for (i = 0; i < w->n; i++) {
		/* Waits for a full slot: pairs with the producer's release of head. */
		while (smp_load_acquire(&ring->head) == tail)
			cond_resched();
		obj = ring->slot[tail % RING_SIZE];
		/* Empties the slot: pairs with the producer's acquire of tail. */
		smp_store_release(&ring->tail, ++tail);
		if (obj)
			b_free(w->b, obj);
	}
}

static int worker_fn(void *data)
{
	struct worker *w = data;

	wait_for_completion(w->start);
	w->c_start = get_cycles();
	w->t_start = ktime_get_ns();
	if (w->sn->kind == CROSS) {
		if (w->producer)
			ring_produce(w);
		else
			ring_consume(w);
	} else {
		w->ret = w->sn->run(w->b, w->sc, w->n, w->sn->arg);
	}
	w->t_end = ktime_get_ns();
	w->c_end = get_cycles();
	kthread_complete_and_exit(&w->done, 0);
}

/*
 * Starts one worker per CPU of @cpus together. Fills @s with the wall time and
 * cycles from the first start to the last end.
 */
static int run_workers(struct worker *w, const unsigned int *cpus, unsigned int nr,
		       struct sample *s)
{
	DECLARE_COMPLETION_ONSTACK(start);
	u64 first = U64_MAX, last = 0, cfirst = U64_MAX, clast = 0;
	unsigned int i;
	int ret = 0;

	for (i = 0; i < nr; i++) {
		init_completion(&w[i].done);
		w[i].start = &start;
		w[i].ret = 0;
		w[i].task = kthread_create_on_cpu(worker_fn, &w[i], cpus[i],
						  "pcpu_array_bench/%u");
		if (IS_ERR(w[i].task)) {
			ret = PTR_ERR(w[i].task);
			/* Never woken: they stop before running worker_fn. */
			while (i--)
				kthread_stop(w[i].task);
			return ret;
		}
	}
	for (i = 0; i < nr; i++)
		wake_up_process(w[i].task);
	complete_all(&start);
	for (i = 0; i < nr; i++) {
		wait_for_completion(&w[i].done);
		first = min(first, w[i].t_start);
		last = max(last, w[i].t_end);
		cfirst = min(cfirst, w[i].c_start);
		clast = max(clast, w[i].c_end);
		if (w[i].ret)
			ret = w[i].ret;
	}
	s->ns = last - first;
	s->cycles = clast - cfirst;
	return ret;
}

/* One scratch area, worker and CPU slot per possible CPU (nr_cpu_ids). */
static struct scratch **scratch_pool;
static struct worker *workers;
static unsigned int *worker_cpus;
static struct ring bench_ring;

static int measure_multi(const struct scenario *sn, struct backend *b, unsigned int rep,
			 bool print)
{
	unsigned int *cpus = worker_cpus, nr = 0, c;
	struct worker *w = workers;
	struct sample s;
	unsigned long n = round_ops(sn);
	int ret;

	for_each_online_cpu(c) {
		cpus[nr++] = c;
		if (sn->kind == ONE_CPU || (sn->kind == CROSS && nr == 2))
			break;
	}
	if (sn->kind == CROSS && nr < 2) {
		if (print)
			pr_info("%s: skipped, needs two online CPUs\n", sn->name);
		return 0;
	}
	memset(w, 0, nr * sizeof(*w));
	for (c = 0; c < nr; c++) {
		w[c].sn = sn;
		w[c].b = b;
		w[c].sc = scratch_pool[c];
		w[c].n = n;
		w[c].producer = c == 0;
		w[c].ring = &bench_ring;
	}
	bench_ring.head = 0;
	bench_ring.tail = 0;
	sample_start(b, &s);
	ret = run_workers(w, cpus, nr, &s);
	if (ret)
		return ret;
	if (print)
		report(sn, b, &s, s.ns, s.cycles, sn->kind == CROSS ? n : n * nr, rep);
	return 0;
}

/* Runs in the kthread bound to cpu=. */
static int measure_single(const struct scenario *sn, struct backend *b, unsigned int rep,
			  bool print)
{
	unsigned long n = round_ops(sn);
	struct sample s;
	u64 ns, cycles;
	int ret;

	sample_start(b, &s);
	ret = sn->run(b, scratch_pool[0], n, sn->arg);
	ns = ktime_get_ns() - s.ns;
	cycles = get_cycles() - s.cycles;
	if (sn->rcu)
		wait_for_rcu_frees();
	if (ret)
		return ret;
	if (print)
		report(sn, b, &s, ns, cycles, n, rep);
	return 0;
}

static int run_all(void)
{
	unsigned int rep, si, z, id;
	int ret;

	/*
	 * Repetitions outermost, so that a disturbance during a wall-time run hits
	 * every backend alike. Each single-CPU measurement follows an untimed run
	 * of the same, so that it does not depend on what the scenario before it
	 * left; the first repetition warms the multi-CPU ones up.
	 */
	for (rep = 0; rep < reps; rep++) {
		for (si = 0; si < ARRAY_SIZE(scenarios); si++) {
			const struct scenario *sn = &scenarios[si];

			if (!selected(sn))
				continue;
			for (z = 0; z < ARRAY_SIZE(sizes); z++) {
				for (id = 0; id < NR_BACKENDS; id++) {
					struct backend *b = backend_for(sn, &backends[z][id]);
					int (*m)(const struct scenario *sn, struct backend *b,
						 unsigned int rep, bool print);

					if (!b->s || (backend_maple_only(id) && !sn->maple) ||
					    backend_skips(id, sn->name))
						continue;
					m = sn->kind == SINGLE ? measure_single : measure_multi;
					ret = rep && sn->kind != SINGLE ? 0 : m(sn, b, rep, false);
					if (!ret)
						ret = m(sn, b, rep, true);
					if (!ret && sn->rcu && sn->kind == SINGLE &&
					    rep == reps - 1)
						ret = measure_rcu_wait(b, round_ops(sn));
					if (ret) {
						pr_err("scenario=%s backend=%s size=%u failed: %d\n",
						       sn->name, backend_names[id], sizes[z], ret);
						return ret;
					}
				}
			}
		}
	}
	return 0;
}

static struct completion single_done;
static int single_ret;
/* The memory cgroup of the task that loads the module, charged by the kthread. */
static struct mem_cgroup *single_memcg;

static int single_fn(void *unused)
{
	struct mem_cgroup *old = set_active_memcg(single_memcg);

	single_ret = run_all();
	set_active_memcg(old);
	kthread_complete_and_exit(&single_done, 0);
}

static void destroy_backends(void)
{
	unsigned int z, i;

	for (z = 0; z < ARRAY_SIZE(sizes); z++) {
		for (i = 0; i < ARRAY_SIZE(arrays[z]); i++) {
			pcpu_array_destroy(arrays[z][i]);
			arrays[z][i] = NULL;
		}
		for (i = 0; i < ARRAY_SIZE(caches[z]); i++) {
			kmem_cache_destroy(caches[z][i]);
			caches[z][i] = NULL;
		}
	}
	memset(backends, 0, sizeof(backends));
	memset(rcu_backends, 0, sizeof(rcu_backends));
}

static int create_backends(void)
{
	unsigned int z, id;

	for (z = 0; z < ARRAY_SIZE(sizes); z++) {
		unsigned int size = sizes[z];
		struct pcpu_array_args args = {
			.size = size,
			.capacity = BENCH_CAPACITY,
			.keep_sheaves = true,
		};

		caches[z][0] = kmem_cache_create(cache_names[z][0], size, 0, SLAB_NO_MERGE, NULL);
		caches[z][1] = kmem_cache_create(cache_names[z][1], size, 0,
						 SLAB_NO_MERGE | SLAB_NOLEAKTRACE, NULL);
		caches[z][2] = kmem_cache_create(cache_names[z][2], size, 0,
						 SLAB_NO_MERGE | SLAB_ACCOUNT, NULL);
		caches[z][3] = kmem_cache_create(cache_names[z][3], size, 0, SLAB_NO_MERGE, NULL);
		caches[z][4] = kmem_cache_create(cache_names[z][4], size, 0,
						 SLAB_NO_MERGE | SLAB_NOLEAKTRACE, NULL);
		if (!caches[z][0] || !caches[z][1] || !caches[z][2] || !caches[z][3] ||
		    !caches[z][4])
			return -ENOMEM;
		arrays[z][0] = pcpu_array_create(array_names[z][0], size, 0, 0, BENCH_CAPACITY);
		if (IS_ERR(arrays[z][0])) {
			int ret = PTR_ERR(arrays[z][0]);

			arrays[z][0] = NULL;
			return ret;
		}
		arrays[z][1] = pcpu_array_create_args(array_names[z][1], &args);
		if (IS_ERR(arrays[z][1])) {
			int ret = PTR_ERR(arrays[z][1]);

			arrays[z][1] = NULL;
			return ret;
		}
		arrays[z][2] = pcpu_array_create(array_names[z][2], size, 0, SLAB_ACCOUNT,
						 BENCH_CAPACITY);
		if (IS_ERR(arrays[z][2])) {
			int ret = PTR_ERR(arrays[z][2]);

			arrays[z][2] = NULL;
			return ret;
		}
		arrays[z][3] = pcpu_array_create(array_names[z][3], size, 0, 0, BENCH_CAPACITY);
		if (IS_ERR(arrays[z][3])) {
			int ret = PTR_ERR(arrays[z][3]);

			arrays[z][3] = NULL;
			return ret;
		}

		for (id = 0; id < NR_BACKENDS; id++) {
			struct backend *b = &backends[z][id];

			b->id = id;
			b->size = size;
			switch (id) {
			case BK_SHEAVES:
				b->s = caches[z][0];
				break;
			case BK_NOSHEAVES:
			case BK_BULK:
				b->s = caches[z][1];
				break;
			case BK_PCPU_INLINE:
				b->inline_hit = true;
				fallthrough;
			case BK_PCPU:
			case BK_PCPU_RESERVE:
			case BK_PCPU_RSV:
				b->pa = arrays[z][0];
				break;
			case BK_PCPU_SHEAVES:
				b->pa = arrays[z][1];
				break;
			case BK_SHEAVES_ACCOUNT:
				b->s = caches[z][2];
				break;
			case BK_PCPU_ACCOUNT:
				b->pa = arrays[z][2];
				break;
			default:
				break;
			}
			if (b->pa)
				b->s = pcpu_array_cache(b->pa);
			rcu_backends[z][id] = *b;
			b = &rcu_backends[z][id];
			switch (id) {
			case BK_SHEAVES:
				b->s = caches[z][3];
				break;
			case BK_NOSHEAVES:
				b->s = caches[z][4];
				break;
			case BK_PCPU:
			case BK_PCPU_INLINE:
				b->pa = arrays[z][3];
				b->s = pcpu_array_cache(b->pa);
				break;
			default:
				break;
			}
		}
	}
	return 0;
}

static void free_scratch(void)
{
	unsigned int i;

	for (i = 0; scratch_pool && i < nr_cpu_ids; i++)
		kfree(scratch_pool[i]);
	kfree(scratch_pool);
	scratch_pool = NULL;
	kfree(workers);
	workers = NULL;
	kfree(worker_cpus);
	worker_cpus = NULL;
}

static int __init pcpu_array_bench_init(void)
{
	struct task_struct *t;
	unsigned int i;
	int ret;

	if (strcmp(mode, "single") && strcmp(mode, "multi")) {
		pr_err("mode=%s: expected single or multi\n", mode);
		return -EINVAL;
	}
	if (!reps || !ops || !cpu_online(cpu)) {
		pr_err("reps and ops must be positive and cpu=%u online\n", cpu);
		return -EINVAL;
	}
	ret = -ENOMEM;
	scratch_pool = kzalloc_objs(*scratch_pool, nr_cpu_ids);
	workers = kzalloc_objs(*workers, nr_cpu_ids);
	worker_cpus = kzalloc_objs(*worker_cpus, nr_cpu_ids);
	if (!scratch_pool || !workers || !worker_cpus)
		goto out;
	for (i = 0; i < nr_cpu_ids; i++) {
		scratch_pool[i] = kmalloc_obj(*scratch_pool[i]);
		if (!scratch_pool[i])
			goto out;
	}
	ret = create_backends();
	if (ret) {
		pr_err("creating the caches failed: %d\n", ret);
		goto out;
	}
	pr_info("config mode=%s reps=%u ops=%u cpu=%u online_cpus=%u\n", mode, reps, ops,
		cpu, num_online_cpus());

	if (!strcmp(mode, "single")) {
		init_completion(&single_done);
		/* NULL without memory cgroups: the kthread's own (none). */
		single_memcg = get_mem_cgroup_from_mm(current->mm);
		t = kthread_create_on_cpu(single_fn, NULL, cpu, "pcpu_array_bench/%u");
		if (IS_ERR(t)) {
			mem_cgroup_put(single_memcg);
			ret = PTR_ERR(t);
			goto out;
		}
		wake_up_process(t);
		wait_for_completion(&single_done);
		mem_cgroup_put(single_memcg);
		ret = single_ret;
	} else {
		ret = run_all();
	}
	if (!ret) {
		pr_info("done\n");
		free_scratch();
		return 0;
	}
out:
	destroy_backends();
	free_scratch();
	return ret;
}

static void __exit pcpu_array_bench_exit(void)
{
	destroy_backends();
}

module_init(pcpu_array_bench_init);
module_exit(pcpu_array_bench_exit);

MODULE_DESCRIPTION("Allocation benchmarks: pcpu_array against SLUB sheaves");
MODULE_LICENSE("GPL");
