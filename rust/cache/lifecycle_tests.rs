// SPDX-License-Identifier: GPL-2.0

//! The KUnit cases of `crate::cache::lifecycle`.

#[kernel::prelude::kunit_tests(pcpu_array_lifecycle)]
mod cases {
    use crate::percpu::deferred::*;
    use crate::{
        cache::handle::Cache,
        semantics::gfp::Gfp,
        testing::{
            bh_off,
            fixed_config,
            in_rcu_callback,
            irqs_off,
            module_refs,
            rcu_read,
            skip, //
        },
    };
    use kernel::{
        new_spinlock,
        prelude::*, //
    };

    /// Where a last drop happens in the cases below.
    #[derive(Clone, Copy, Debug)]
    enum Context {
        Softirq,
        IrqsOff,
        Spinlock,
        RcuReader,
        RcuCallback,
    }

    const CONTEXTS: [Context; 5] = [
        Context::Softirq,
        Context::IrqsOff,
        Context::Spinlock,
        Context::RcuReader,
        Context::RcuCallback,
    ];

    /// Runs `f` in `ctx`; `None` when it could not (no memory for the lock, or the RCU callback
    /// did not run).
    fn run_in<R: Send>(ctx: Context, f: impl FnOnce() -> R + Send) -> Option<R> {
        match ctx {
            Context::Softirq => Some(bh_off(f)),
            // Nothing in these cases frees memory with interrupts off, which PREEMPT_RT forbids.
            Context::IrqsOff => Some(irqs_off(f)),
            Context::Spinlock => {
                let lock =
                    KBox::pin_init(new_spinlock!((), "pcpu_array_test::end_lock"), GFP_KERNEL)
                        .ok()?;
                let _guard = lock.lock();
                Some(f())
            }
            Context::RcuReader => Some(rcu_read(f)),
            Context::RcuCallback => in_rcu_callback(f),
        }
    }

    /// A cache with an object parked in this CPU's array, so that its teardown has something
    /// to flush.
    fn used_cache(name: &CStr) -> Result<Cache> {
        let c = Cache::new(name, fixed_config(8))?;
        let obj = c.alloc(Gfp::KERNEL).ok_or(ENOMEM)?;
        // SAFETY: Just allocated from `c`, unused.
        unsafe { c.free(obj) };
        Ok(c)
    }

    #[test]
    fn may_sleep_only_in_a_preemptible_task() -> Result {
        let task = may_sleep();
        let mut elsewhere = KVec::with_capacity(CONTEXTS.len(), GFP_KERNEL)?;
        for ctx in CONTEXTS {
            elsewhere.push((ctx, run_in(ctx, may_sleep)), GFP_KERNEL)?;
        }
        assert!(task);
        for (ctx, sleepable) in elsewhere {
            pr_info!("{:?}: may sleep: {:?}\n", ctx, sleepable);
            assert_eq!(sleepable, Some(false));
        }
        Ok(())
    }

    /// The last drop of a cache where nothing may sleep queues its teardown instead of running
    /// it there (which `DEBUG_ATOMIC_SLEEP` would report: `shrinker_free()`,
    /// `cancel_delayed_work_sync()`, `cpus_read_lock()`), and the teardown completes: the cache's
    /// reference to the module is dropped once the queue is flushed.
    #[test]
    fn last_drop_where_nothing_may_sleep_is_deferred() -> Result {
        let before = module_refs();
        let mut seen = KVec::with_capacity(CONTEXTS.len(), GFP_KERNEL)?;
        for ctx in CONTEXTS {
            let c = used_cache(c"pcpu_array_test_end")?;
            let held = module_refs();
            // Read right after the drop, in the same context: the teardown is queued, not done.
            let queued = run_in(ctx, move || {
                drop(c);
                module_refs()
            });
            wait_for_deferred_drops();
            seen.push((ctx, held, queued, module_refs()), GFP_KERNEL)?;
        }
        for (ctx, held, queued, after) in seen {
            pr_info!(
                "{:?}: module refs {} held, {:?} queued, {} after\n",
                ctx,
                held,
                queued,
                after
            );
            assert_eq!(held, before + 1);
            assert_eq!(queued, Some(before + 1));
            assert_eq!(after, before);
        }
        Ok(())
    }

    /// A cache created under the name of one whose teardown is queued waits for it: the backing
    /// cache (its sysfs directory) and the debugfs directory carry the name. Rounds go on until
    /// the teardown was still queued at the create in one of them (at least 4, at most 64: the
    /// teardown's work item may run first on a busy host); when it never was, the case skips
    /// with the reason, the names having been reused all the same.
    #[test]
    fn a_name_is_free_again_while_its_teardown_is_queued() -> Result {
        const MIN_ROUNDS: usize = 4;
        const MAX_ROUNDS: usize = 64;
        let name = c"pcpu_array_test_reuse";
        let before = module_refs();
        let (mut rounds, mut pending, mut recreated) = (0, 0, 0);
        while rounds < MAX_ROUNDS && (rounds < MIN_ROUNDS || pending == 0) {
            let c = used_cache(name)?;
            let queued = bh_off(move || {
                drop(c);
                module_refs()
            });
            pending += usize::from(module_refs() == before + 1 && queued == before + 1);
            let again = Cache::new(name, fixed_config(8));
            if let Err(e) = &again {
                pr_err!("create after a queued teardown: {:?}\n", e);
            }
            recreated += usize::from(again.is_ok());
            rounds += 1;
        }
        wait_for_deferred_drops();
        pr_info!(
            "{} of {} rounds created over a queued teardown\n",
            pending,
            rounds
        );
        assert_eq!(recreated, rounds);
        assert_eq!(module_refs(), before);
        if pending == 0 {
            skip(c"every teardown ran before the create: no name was reused while queued");
        }
        Ok(())
    }
}
