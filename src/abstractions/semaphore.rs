// SPDX-License-Identifier: GPL-2.0

//! A counting semaphore (`struct semaphore`), used here only as a try-lock.

use crate::bindings;
use core::marker::PhantomPinned;
use kernel::{
    prelude::{pin_init, PinInit},
    types::Opaque,
};

/// A binary semaphore that is only ever try-locked.
///
/// Unlike a mutex it may be released by a different context than the one
/// that took it, and `down_trylock` never sleeps, which is the 2007
/// "whoever gets it drains the queue" pattern.
///
/// # Invariants
///
/// `sem` was initialised by `sema_init(sem, 1)` and is pinned.
#[kernel::prelude::pin_data]
pub(crate) struct Semaphore {
    #[pin]
    sem: Opaque<bindings::semaphore>,
    #[pin]
    _pin: PhantomPinned,
}

// SAFETY: a `struct semaphore` is designed to be used from any thread.
unsafe impl Send for Semaphore {}
// SAFETY: all operations go through the kernel's internally locked API.
unsafe impl Sync for Semaphore {}

impl Semaphore {
    /// Returns an initialiser for an available (count 1) semaphore.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `slot` is valid for writes during the call.
            sem <- Opaque::ffi_init(|slot| unsafe { bindings::imp2_sema_init(slot, 1) }),
            _pin: PhantomPinned,
        })
    }

    /// Takes the semaphore if it is available, without sleeping.
    pub(crate) fn try_down(&self) -> Option<SemaphoreGuard<'_>> {
        // SAFETY: by the type invariant `sem` is initialised. `down_trylock`
        // returns 0 on success.
        if unsafe { bindings::down_trylock(self.sem.get()) } == 0 {
            // INVARIANT: we just took the semaphore.
            Some(SemaphoreGuard { sem: self })
        } else {
            None
        }
    }
}

/// Holds a [`Semaphore`]; releases it (`up`) when dropped.
///
/// # Invariants
///
/// This guard owns one count of `sem`.
#[must_use = "the semaphore is released as soon as the guard is dropped"]
pub(crate) struct SemaphoreGuard<'a> {
    sem: &'a Semaphore,
}

impl Drop for SemaphoreGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: the guard owns a count (type invariant), which `up` returns.
        unsafe { bindings::up(self.sem.sem.get()) };
    }
}
