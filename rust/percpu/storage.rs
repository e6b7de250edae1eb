// SPDX-License-Identifier: GPL-2.0

//! Typed per-CPU storage.

#[cfg(pcpu_array_kunit)]
use crate::percpu::cpu_pin::CpuPin;
use crate::sys::ffi;
use core::{
    marker::PhantomData,
    ptr::NonNull, //
};
use kernel::{
    ffi::c_void,
    prelude::*, //
};

/// Iterator over the CPUs of a mask, in increasing order.
///
/// # Invariants
///
/// `mask_next` is `pcpu_array_next_possible_cpu` or `pcpu_array_next_online_cpu`.
pub(crate) struct Cpus {
    next: i32,
    /// `cpumask_next()` on the mask: the first CPU after the one given, `>= nr_cpu_ids` when
    /// there is none.
    mask_next: unsafe extern "C" fn(cpu: kernel::ffi::c_int) -> kernel::ffi::c_uint,
}

impl Iterator for Cpus {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        // SAFETY: `mask_next` reads the possible or the online mask (type invariant); reading a
        // CPU mask or `nr_cpu_ids` has no preconditions.
        let (cpu, nr) = unsafe { ((self.mask_next)(self.next), ffi::pcpu_array_nr_cpu_ids()) };
        if cpu >= nr {
            return None;
        }
        self.next = i32::try_from(cpu).ok()?;
        Some(cpu)
    }
}

/// The possible CPUs: every CPU that may ever come online.
pub(crate) fn possible_cpus() -> Cpus {
    // INVARIANT: The possible mask's reader.
    Cpus {
        next: -1,
        mask_next: ffi::pcpu_array_next_possible_cpu,
    }
}

/// The CPUs online now. Racy against CPU hotplug, which the caller must tolerate: a CPU may go
/// or come while (or right after) it is listed.
pub(crate) fn online_cpus() -> Cpus {
    // INVARIANT: The online mask's reader.
    Cpus {
        next: -1,
        mask_next: ffi::pcpu_array_next_online_cpu,
    }
}

/// One `T` for every possible CPU, in per-CPU memory.
///
/// `T` is reached through [`PerCpu::this_cpu`], which needs a [`CpuPin`] so that "this CPU"
/// cannot change while the reference lives, or through [`PerCpu::on_cpu`] for any CPU. Both give
/// shared references, so `T` must be `Sync`: the same instance can be reached from an interrupt
/// on its CPU and from other CPUs. Exclusive access to every instance is
/// [`PerCpu::for_each_mut`].
///
/// # Invariants
///
/// `ptr` is a `__percpu` pointer returned by `__alloc_percpu()` for `size_of::<T>()` bytes
/// aligned for `T`, owned by this object, and every possible CPU's instance holds an
/// initialised, pinned `T`.
pub(crate) struct PerCpu<T> {
    ptr: NonNull<c_void>,
    _p: PhantomData<T>,
}

// SAFETY: `PerCpu<T>` owns `T`s; sending it sends them.
unsafe impl<T: Send> Send for PerCpu<T> {}
// SAFETY: `&PerCpu<T>` gives out only `&T`.
unsafe impl<T: Sync> Sync for PerCpu<T> {}

impl<T: Sync> PerCpu<T> {
    /// Allocates per-CPU memory and initialises each possible CPU's `T` with `init(cpu)`.
    pub(crate) fn new<I, E, F>(mut init: F) -> Result<Self>
    where
        I: PinInit<T, E>,
        Error: From<E>,
        F: FnMut(u32) -> I,
    {
        let size = core::mem::size_of::<T>().max(1);
        // SAFETY: `size` is non-zero; the alignment is the type's.
        let raw = unsafe { ffi::pcpu_array_alloc_percpu(size, core::mem::align_of::<T>()) };
        let ptr = NonNull::new(raw).ok_or(ENOMEM)?;
        let mut done = KVec::<u32>::new();
        for cpu in possible_cpus() {
            done.push(cpu, GFP_KERNEL).inspect_err(|_| {
                // SAFETY: `ptr` is the allocation above, the CPUs in `done` hold initialised
                // values and nothing else refers to them.
                unsafe { Self::unwind(ptr, &done) }
            })?;
            // SAFETY: `ptr` is a live per-CPU allocation and `cpu` is possible.
            let slot = unsafe { ffi::pcpu_array_per_cpu_ptr(ptr.as_ptr(), cpu) }.cast::<T>();
            // SAFETY: `slot` is valid, aligned, uninitialised memory for a `T` that never moves.
            if let Err(e) = unsafe { crate::sys::pin_init_compat::raw_try_init(slot, init(cpu)) } {
                done.pop();
                // SAFETY: As above; `cpu` was removed from `done` since it was not initialised.
                unsafe { Self::unwind(ptr, &done) };
                return Err(e.into());
            }
        }
        // INVARIANT: Every possible CPU's instance was initialised above.
        Ok(Self {
            ptr,
            _p: PhantomData,
        })
    }

    /// Drops the values of `cpus` and frees `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must be a per-CPU allocation owned by the caller whose instances on `cpus` (and
    /// only those) hold initialised `T`s that nothing else refers to.
    unsafe fn unwind(ptr: NonNull<c_void>, cpus: &[u32]) {
        for &cpu in cpus {
            // SAFETY: Guaranteed by the caller.
            unsafe {
                let slot = ffi::pcpu_array_per_cpu_ptr(ptr.as_ptr(), cpu).cast::<T>();
                core::ptr::drop_in_place(slot);
            }
        }
        // SAFETY: `ptr` came from `__alloc_percpu()` and is owned by the caller.
        unsafe { kernel::bindings::free_percpu(ptr.as_ptr()) };
    }

    /// The instance of the CPU the task is pinned to.
    #[cfg(pcpu_array_kunit)]
    #[inline]
    pub(crate) fn this_cpu<'a>(&'a self, pin: &'a CpuPin) -> &'a T {
        // SAFETY: The pinned CPU is possible; by the type invariant its instance is initialised
        // and lives as long as `self`.
        unsafe { &*pin.this_cpu_ptr(self.ptr.as_ptr()).cast::<T>() }
    }

    /// The instance of `cpu`, or `None` when `cpu` is not a possible CPU.
    pub(crate) fn on_cpu(&self, cpu: u32) -> Option<&T> {
        possible_cpus().find(|&c| c == cpu)?;
        // SAFETY: `cpu` is possible; by the type invariant its instance is initialised and
        // lives as long as `self`.
        Some(unsafe { &*ffi::pcpu_array_per_cpu_ptr(self.ptr.as_ptr(), cpu).cast::<T>() })
    }

    /// Each online CPU's instance, with its CPU. Racy against CPU hotplug, as [`online_cpus`].
    pub(crate) fn online(&self) -> impl Iterator<Item = (u32, &T)> + '_ {
        online_cpus().map(move |cpu| {
            // SAFETY: An online CPU is a possible one; by the type invariant its instance is
            // initialised and lives as long as `self`.
            let value =
                unsafe { &*ffi::pcpu_array_per_cpu_ptr(self.ptr.as_ptr(), cpu).cast::<T>() };
            (cpu, value)
        })
    }

    /// Calls `f` with each possible CPU's instance.
    pub(crate) fn for_each(&self, mut f: impl FnMut(u32, &T)) {
        for cpu in possible_cpus() {
            // SAFETY: As in `on_cpu`.
            f(cpu, unsafe {
                &*ffi::pcpu_array_per_cpu_ptr(self.ptr.as_ptr(), cpu).cast::<T>()
            });
        }
    }

    /// Calls `f` with exclusive access to each possible CPU's instance.
    ///
    /// No lock is needed: `&mut self` means nobody else can reach any instance.
    pub(crate) fn for_each_mut(&mut self, mut f: impl FnMut(u32, &mut T)) {
        for cpu in possible_cpus() {
            // SAFETY: As in `on_cpu`; `&mut self` makes the access exclusive.
            f(cpu, unsafe {
                &mut *ffi::pcpu_array_per_cpu_ptr(self.ptr.as_ptr(), cpu).cast::<T>()
            });
        }
    }

    /// The `__percpu` address of the allocation, for per-CPU C macros.
    #[inline]
    pub(crate) fn as_percpu_ptr(&self) -> *mut c_void {
        self.ptr.as_ptr()
    }
}

impl<T> Drop for PerCpu<T> {
    fn drop(&mut self) {
        for cpu in possible_cpus() {
            // SAFETY: By the type invariant every possible CPU's instance is initialised, and
            // `&mut self` means nothing refers to it any more.
            unsafe {
                let slot = ffi::pcpu_array_per_cpu_ptr(self.ptr.as_ptr(), cpu).cast::<T>();
                core::ptr::drop_in_place(slot);
            }
        }
        // SAFETY: By the type invariant `ptr` came from `__alloc_percpu()` and is ours.
        unsafe { kernel::bindings::free_percpu(self.ptr.as_ptr()) };
    }
}

#[cfg(pcpu_array_kunit)]
#[path = "storage_tests.rs"]
mod tests;
