// SPDX-License-Identifier: GPL-2.0

//! The KUnit suite `pcpu_array_binding`: the typed API of the binding over the C ABI, as any
//! Rust consumer sees it (`binding/pcpu_array.rs`, compiled into this module).

use kernel::prelude::kunit_tests;

#[kunit_tests(pcpu_array_binding)]
mod tests {
    use crate::pcpu_array::{
        ArrayCache,
        Options,
        SharedArrayCache,
        NO_NODE, //
    };
    use kernel::{
        bindings,
        cpu::CpuId,
        prelude::*, //
    };

    /// Whether memory node `node` has memory (`node_state(node, N_MEMORY)`).
    fn node_has_memory(node: usize) -> bool {
        let bits = usize::BITS as usize;
        // SAFETY: `node_states` is a global array of node masks, read with a plain load; nodes
        // with memory change only on memory hotplug, which the tests do not do.
        let mask = unsafe {
            (*core::ptr::addr_of!(bindings::node_states))[bindings::node_states_N_MEMORY as usize]
        };
        mask.bits
            .get(node / bits)
            .is_some_and(|word| *word & (1 << (node % bits)) != 0)
    }

    /// An allocation on a node goes through the array only on the CPU's own node: each other
    /// node's object comes from the backing cache, however full the array is.
    #[test]
    fn alloc_node_takes_the_array_only_on_its_node() -> Result {
        let c = ArrayCache::<u64>::new(c"pcpu_array_binding_node", 16)?;
        // SAFETY: Reading `nr_node_ids` has no preconditions.
        let nodes = unsafe { bindings::nr_node_ids } as usize;
        let mut from_array = KVec::new();
        let mut values = 0;
        for node in (0..nodes).filter(|&n| node_has_memory(n)) {
            let mut served = None;
            // The task may move to a CPU of another node between the calls: try again then.
            for _ in 0..8 {
                let cpu = CpuId::current();
                if c.prefill(4, GFP_KERNEL).is_err() {
                    continue;
                }
                let before = c.stats();
                let b = c.alloc_node(node as u64, GFP_KERNEL, i32::try_from(node)?)?;
                let after = c.stats();
                values += *b;
                if CpuId::current() == cpu {
                    served = Some(after.alloc_array - before.alloc_array);
                    break;
                }
            }
            if let Some(n) = served {
                from_array.push(n, GFP_KERNEL)?;
            }
        }
        let any = c.alloc_node(7, GFP_KERNEL, NO_NODE)?;
        let any_value = *any;
        drop(any);
        let in_use = c.stats().in_use();
        drop(c);
        kernel::pr_info!(
            "alloc_node: from the arrays per node with memory: {:?}\n",
            &from_array[..]
        );
        // Exactly one node, the CPU's own, takes its object from the array.
        assert!(!from_array.is_empty());
        assert_eq!(from_array.iter().sum::<u64>(), 1);
        assert!(
            values
                >= (0..nodes as u64)
                    .filter(|&n| node_has_memory(n as usize))
                    .sum()
        );
        assert_eq!(any_value, 7);
        assert_eq!(in_use, 0);
        Ok(())
    }

    #[test]
    fn bulk_goes_through_the_c_abi() -> Result {
        let c = ArrayCache::<[u64; 8]>::new(c"pcpu_array_binding_bulk", 8)?;
        let s = SharedArrayCache::<u64>::new(c"pcpu_array_binding_bulk_shared", 8)?;
        let before = c.stats();
        let (sum, held, shared_sum, shared_held) = {
            let boxes = c.alloc_bulk::<24>(GFP_KERNEL, |i| [i as u64; 8])?;
            let sum: u64 = boxes.iter().map(|b| b[7]).sum();
            let held = c.stats().in_use();
            let owned = s.alloc_bulk::<4>(GFP_KERNEL, |i| 10 * i as u64)?;
            let shared_sum: u64 = owned.iter().map(|b| **b).sum();
            let shared_held = s.stats().in_use();
            c.free_bulk(boxes);
            s.free_bulk(owned);
            (sum, held, shared_sum, shared_held)
        };
        let after = c.stats();
        let in_use = c.stats().in_use() + s.stats().in_use();
        drop(c);
        drop(s);
        assert_eq!(sum, (0..24).sum::<u64>());
        assert_eq!(held, 24);
        assert_eq!(shared_sum, 60);
        assert_eq!(shared_held, 4);
        assert_eq!(
            (after.alloc_array + after.alloc_backing) - (before.alloc_array + before.alloc_backing),
            24
        );
        assert_eq!(
            (after.free_array + after.free_backing) - (before.free_array + before.free_backing),
            24
        );
        assert_eq!(in_use, 0);
        Ok(())
    }

    /// Bigger than half a cache line, smaller than one.
    struct FortyBytes {
        _bytes: [u64; 5],
    }

    #[test]
    fn flags_constants_reach_the_backing_cache() -> Result {
        let c = ArrayCache::<FortyBytes>::with_options(
            c"pcpu_array_binding_hwcache",
            &Options {
                flags: Options::HWCACHE_ALIGN | Options::ACCOUNT,
                ..Options::default()
            },
        )?;
        let line = bindings::L1_CACHE_BYTES as usize;
        let misaligned = {
            let boxes = c.alloc_bulk::<16>(GFP_KERNEL, |_| FortyBytes { _bytes: [3; 5] })?;
            let n = boxes
                .iter()
                .filter(|b| core::ptr::from_ref::<FortyBytes>(b) as usize % line != 0)
                .count();
            c.free_bulk(boxes);
            n
        };
        drop(c);
        assert_eq!(misaligned, 0);
        Ok(())
    }

    #[test]
    fn shrink_empties_the_arrays() -> Result {
        let c = SharedArrayCache::<u64>::new(c"pcpu_array_binding_shrink", 8)?;
        drop(c.alloc_bulk::<10>(GFP_KERNEL, |i| i as u64)?);
        let cached = c.stats().cached();
        let shrunk = c.shrink();
        let (left, again) = (c.stats().cached(), c.shrink());
        drop(c);
        assert!(cached > 0);
        assert_eq!(shrunk as u64, cached);
        assert_eq!(left, 0);
        assert_eq!(again, 0);
        Ok(())
    }

    #[test]
    fn shared_reservations_give_owned_boxes() -> Result {
        let s = SharedArrayCache::<u64>::new(c"pcpu_array_binding_shared_res", 8)?;
        let kept = {
            let mut r = s.reserve(2, GFP_KERNEL)?;
            let mut stored = s.reserve_stored::<4>(3, GFP_KERNEL)?;
            let a = r.alloc(1);
            let b = stored.alloc(2);
            let c = stored.alloc(3);
            let sum = a.as_deref().copied().unwrap_or(0)
                + b.as_deref().copied().unwrap_or(0)
                + c.as_deref().copied().unwrap_or(0);
            (a.ok(), sum, r.len() + stored.len())
        };
        let watch = s.clone();
        // The box keeps the cache: the handle may go first.
        drop(s);
        let (box_value, sum, left) = (kept.0.as_deref().copied(), kept.1, kept.2);
        let in_use = watch.stats().in_use();
        drop(kept);
        let after = watch.stats().in_use();
        drop(watch);
        assert_eq!(box_value, Some(1));
        assert_eq!(sum, 6);
        assert_eq!(left, 2);
        assert_eq!(in_use, 1);
        assert_eq!(after, 0);
        Ok(())
    }
}
