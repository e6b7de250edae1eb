// SPDX-License-Identifier: GPL-2.0

//! The KUnit cases of `crate::semantics::gfp`.

#[kernel::prelude::kunit_tests(pcpu_array_gfp)]
mod cases {
    use super::super::*;

    #[test]
    fn every_public_constant_maps_to_its_gfp_t() {
        for (f, raw) in PUBLIC {
            assert_eq!(Gfp::from(f).as_raw(), raw);
        }
        assert_eq!(Gfp::from(flags::GFP_KERNEL), Gfp::KERNEL);
        assert_eq!(Gfp::from(flags::GFP_NOWAIT), Gfp::NOWAIT);
        assert_eq!(Gfp::from(flags::GFP_ATOMIC), Gfp::ATOMIC);
        assert!(Gfp::from(flags::GFP_KERNEL).allows_blocking());
        assert!(!Gfp::from(flags::GFP_NOWAIT).allows_blocking());
        assert!(!Gfp::from(flags::GFP_ATOMIC).allows_blocking());
        assert!(Gfp::from(flags::GFP_KERNEL | flags::__GFP_ZERO).wants_zero());
    }

    #[test]
    fn refills_never_use_the_reserves_warn_or_zero() {
        let refill = Gfp::from(flags::GFP_KERNEL | flags::__GFP_ZERO).for_refill();
        assert_eq!(refill.as_raw() & NOMEMALLOC, NOMEMALLOC);
        assert_eq!(
            refill.as_raw() & bindings::__GFP_NOWARN,
            bindings::__GFP_NOWARN
        );
        assert!(!refill.wants_zero());
        assert!(refill.allows_blocking());
    }

    #[test]
    fn combinations_map_exactly() {
        let k = flags::GFP_KERNEL;
        assert_eq!(
            Gfp::from(k | flags::__GFP_ZERO | flags::__GFP_NOWARN).as_raw(),
            bindings::GFP_KERNEL | bindings::__GFP_ZERO | bindings::__GFP_NOWARN
        );
        assert_eq!(Gfp::from(!k).as_raw(), !bindings::GFP_KERNEL);
        assert_eq!(
            Gfp::from(flags::GFP_KERNEL_ACCOUNT & !k).as_raw(),
            bindings::GFP_KERNEL_ACCOUNT & !bindings::GFP_KERNEL
        );
        assert_eq!(Gfp::from(k & !k).as_raw(), 0);
        assert_eq!(Gfp::from(k | !k).as_raw(), !0);
    }

    /// Every union of atoms, built with the public operations only, maps to the union of their
    /// bits: with the atoms that are every `Flags` a module can build.
    #[test]
    fn every_union_of_atoms_maps_exactly() {
        let (all, _) = PUBLIC[0];
        let atoms = ATOMS.0.get(..ATOMS.1).unwrap_or(&[]);
        assert!(atoms.len() < 16);
        assert_eq!(atoms.iter().fold(0, |acc, a| acc | a.bits), !0);
        for set in 0u32..1 << atoms.len() {
            let mut f = all & !all;
            let mut raw = 0;
            for (j, atom) in atoms.iter().enumerate() {
                if set & (1 << j) != 0 {
                    let mut a = all | !all;
                    for (i, (g, _)) in PUBLIC.iter().enumerate() {
                        a = a & if atom.inside & (1 << i) != 0 { *g } else { !*g };
                    }
                    f = f | a;
                    raw |= atom.bits;
                }
            }
            assert_eq!(Gfp::from(f).as_raw(), raw);
        }
    }
}
