// SPDX-License-Identifier: GPL-2.0

//! A `spinlock_t` taken with `spin_lock_bh()`: a lock shared between
//! softirq context (netfilter hooks, timers) and process context, as a
//! backend of the kernel crate's generic `Lock`, like mainline's
//! `SpinLock`. Neither 6.12 nor 7.3 has a BH-disabling spinlock in Rust.

use crate::bindings;
use kernel::sync::lock::{Backend, Lock};

/// A spinlock whose holder runs with bottom halves disabled.
pub(crate) type SpinLockBh<T> = Lock<T, SpinLockBhBackend>;

/// Creates a [`SpinLockBh`] initialiser with a name and a new lock class.
#[macro_export]
macro_rules! new_spinlock_bh {
    ($inner:expr, $name:literal $(,)?) => {
        $crate::abstractions::spinlock_bh::SpinLockBh::new(
            $inner,
            ::kernel::c_str!($name),
            ::kernel::static_lock_class!(),
        )
    };
}

/// The `spin_lock_bh()` backend.
pub(crate) struct SpinLockBhBackend;

// SAFETY: `spinlock_t` ensures mutual exclusion; `relock` uses the default
// implementation, which calls `lock` again.
unsafe impl Backend for SpinLockBhBackend {
    type State = kernel::bindings::spinlock_t;
    type GuardState = ();

    unsafe fn init(
        ptr: *mut Self::State,
        name: *const kernel::ffi::c_char,
        key: *mut kernel::bindings::lock_class_key,
    ) {
        // SAFETY: `ptr` is valid for writes, `name` and `key` for reads
        // indefinitely (the trait's contract). The kernel crate's helper
        // picks the debug or plain initialiser, as for its own `SpinLock`.
        unsafe { kernel::bindings::__spin_lock_init(ptr, name, key) }
    }

    unsafe fn lock(ptr: *mut Self::State) -> Self::GuardState {
        // SAFETY: `ptr` is an initialised lock (the trait's contract).
        unsafe { bindings::imp2_spin_lock_bh(ptr.cast()) }
    }

    unsafe fn unlock(ptr: *mut Self::State, _guard_state: &Self::GuardState) {
        // SAFETY: `ptr` is an initialised lock that the caller holds.
        unsafe { bindings::imp2_spin_unlock_bh(ptr.cast()) }
    }

    #[cfg(imp2_v7)]
    unsafe fn try_lock(ptr: *mut Self::State) -> Option<Self::GuardState> {
        // SAFETY: `ptr` is an initialised lock (the trait's contract).
        (unsafe { bindings::imp2_spin_trylock_bh(ptr.cast()) }).then_some(())
    }

    #[cfg(imp2_v7)]
    unsafe fn assert_is_held(ptr: *mut Self::State) {
        // SAFETY: `ptr` is an initialised lock (the trait's contract).
        unsafe { bindings::imp2_spin_assert_is_held(ptr.cast()) }
    }
}
