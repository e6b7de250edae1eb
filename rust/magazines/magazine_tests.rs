// SPDX-License-Identifier: GPL-2.0

//! The KUnit cases of `crate::magazines::magazine`.

#[kernel::prelude::kunit_tests(pcpu_array_cpu_array)]
mod cases {
    use super::super::*;

    fn fake(i: usize) -> NonNull<c_void> {
        NonNull::new((0x1000 + 64 * i) as *mut c_void).unwrap_or(NonNull::dangling())
    }

    fn push(a: &mut Magazine, obj: NonNull<c_void>) -> Result<(), NonNull<c_void>> {
        // SAFETY: The tests' arrays come from `Magazine::new`, which never touches its objects,
        // so fake addresses are fine.
        unsafe { a.push(obj) }
    }

    #[test]
    fn stack_order_and_capacity() {
        let mut a = Magazine::new(4);
        for i in 0..4 {
            assert!(push(&mut a, fake(i)).is_ok());
        }
        assert!(a.is_full());
        assert_eq!(push(&mut a, fake(9)), Err(fake(9)));
        assert_eq!(a.pop(), Some(fake(3)));
        assert_eq!(a.len(), 3);
    }

    #[test]
    fn capacity_is_clamped() {
        let mut a = Magazine::new(MAX_CAPACITY + 10);
        for i in 0..MAX_CAPACITY {
            assert!(push(&mut a, fake(i)).is_ok());
        }
        assert!(push(&mut a, fake(0)).is_err());
    }

    #[test]
    fn batch_moves_half() {
        let mut a = Magazine::new(8);
        for i in 0..8 {
            assert!(push(&mut a, fake(i)).is_ok());
        }
        let mut b = Batch::new();
        assert_eq!(a.take_into(batch_for(8), &mut b), 4);
        assert_eq!(a.len(), 4);
        assert_eq!(b.len(), 4);
        assert_eq!(b.pop(), Some(fake(7)));
        // Only the room left in the array is filled; the rest stays in the batch.
        assert!(push(&mut a, fake(20)).is_ok());
        assert!(push(&mut a, fake(21)).is_ok());
        // SAFETY: As in `push`.
        assert_eq!(unsafe { a.fill_from(&mut b) }, 2);
        assert_eq!(b.len(), 1);
        assert!(a.is_full());
    }

    #[test]
    fn oldest_leave_first() {
        let mut a = Magazine::new(8);
        for i in 0..6 {
            assert!(push(&mut a, fake(i)).is_ok());
        }
        let mut b = Batch::new();
        assert_eq!(a.take_oldest_into(2, &mut b), 2);
        assert_eq!(b.pop(), Some(fake(1)));
        assert_eq!(b.pop(), Some(fake(0)));
        // The newest stay, in stack order.
        assert_eq!(a.len(), 4);
        assert_eq!(a.pop(), Some(fake(5)));
        assert_eq!(a.take_oldest_into(10, &mut b), 3);
        assert_eq!(a.len(), 0);
        assert_eq!(b.pop(), Some(fake(4)));
        assert_eq!(b.pop(), Some(fake(3)));
    }

    #[test]
    fn batch_fill_rejects_failure_and_nulls() {
        let mut b = Batch::new();
        assert!(!b.fill_with(3, |_| false));
        assert!(b.is_empty());
        assert!(!b.fill_with(3, |s| {
            s[0] = fake(1).as_ptr();
            true
        }));
        assert!(b.is_empty());
        assert!(b.fill_with(3, |s| {
            s.iter_mut()
                .enumerate()
                .for_each(|(i, p)| *p = fake(i).as_ptr());
            true
        }));
        assert_eq!(b.len(), 3);
        assert_eq!(batch_for(1), 1);
        assert_eq!(batch_for(64), 32);
    }
}
