// SPDX-License-Identifier: GPL-2.0

//! A reader-writer spinlock (`rwlock_t`) with a lockdep class.
//!
//! Modelled on `kernel::sync::lock`, but with two guard kinds: a read guard
//! that only gives shared access and a write guard that gives exclusive
//! access. The `_bh` variants disable bottom halves, as required when the
//! same lock is also taken from softirq context (a netfilter hook).

use crate::bindings;
use core::{
    cell::UnsafeCell,
    marker::{PhantomData, PhantomPinned},
    ops::{Deref, DerefMut},
};
use kernel::{prelude::*, str::CStr, types::Opaque};

/// A lockdep lock class.
///
/// `kernel::sync::LockClassKey` cannot be passed to our own bindings (its
/// pointer accessor is crate-private), so this is the same idea for this
/// module. Use [`static_lock_class!`](crate::static_lock_class) to create one.
#[repr(transparent)]
pub(crate) struct LockClassKey(Opaque<bindings::lock_class_key>);

// SAFETY: lockdep synchronises all accesses to a `lock_class_key` itself.
unsafe impl Sync for LockClassKey {}

impl LockClassKey {
    /// Creates a key for a `static`, as lockdep requires.
    ///
    /// # Safety
    ///
    /// The result must be stored in a `static` and never moved: lockdep
    /// identifies classes by the address of statically allocated keys.
    pub(crate) const unsafe fn new_static() -> Self {
        Self(Opaque::uninit())
    }

    fn as_ptr(&self) -> *mut bindings::lock_class_key {
        self.0.get()
    }
}

/// Defines a static [`LockClassKey`] and evaluates to a `&'static` reference to it.
#[macro_export]
macro_rules! static_lock_class {
    () => {{
        #[allow(unsafe_code)]
        static CLASS: $crate::abstractions::rwlock::LockClassKey =
            // SAFETY: the key is a `static` and is never moved.
            unsafe { $crate::abstractions::rwlock::LockClassKey::new_static() };
        &CLASS
    }};
}

/// A reader-writer spinlock protecting a `T`.
///
/// # Invariants
///
/// `lock` was initialised by `imp2_rwlock_init` and is pinned for the
/// lifetime of the object.
#[kernel::prelude::pin_data]
pub(crate) struct RwLock<T> {
    #[pin]
    lock: Opaque<bindings::rwlock_t>,
    #[pin]
    _pin: PhantomPinned,
    data: UnsafeCell<T>,
}

// SAFETY: the lock can move to another thread whenever its data can.
unsafe impl<T: Send> Send for RwLock<T> {}
// SAFETY: readers only get `&T` (hence `T: Sync`); a writer gets exclusive
// access, which can hand the value to another thread (hence `T: Send`).
unsafe impl<T: Send + Sync> Sync for RwLock<T> {}

impl<T> RwLock<T> {
    /// Returns an initialiser for a lock holding `data`.
    pub(crate) fn new(data: T, name: &'static CStr, key: &'static LockClassKey) -> impl PinInit<Self> {
        pin_init!(Self {
            data: UnsafeCell::new(data),
            _pin: PhantomPinned,
            // SAFETY: `slot` is valid for writes during the call; `name` and
            // `key` are `'static`, as lockdep requires.
            lock <- Opaque::ffi_init(|slot| unsafe {
                bindings::imp2_rwlock_init(slot, name.as_char_ptr(), key.as_ptr())
            }),
        })
    }

    /// Takes the lock for reading, without touching bottom halves.
    ///
    /// For readers that softirqs on the same CPU may interrupt, or that run
    /// in one (the netfilter hooks: both, see `netfilter::Hook::hook`).
    /// Readers never wait for readers: a reader in interrupt context takes
    /// the lock even with a writer waiting (`queued_read_lock_slowpath()`),
    /// and writers use the `_bh` write lock, so no writer holds it on the
    /// CPU a softirq interrupts.
    pub(crate) fn read(&self) -> ReadGuard<'_, T> {
        // SAFETY: by the type invariant the lock is initialised.
        unsafe { bindings::imp2_read_lock(self.lock.get()) };
        // INVARIANT: the read lock was just taken without disabling BHs.
        ReadGuard { lock: self, bh: false, _not_send: PhantomData }
    }

    /// Takes the lock for reading with bottom halves disabled.
    pub(crate) fn read_bh(&self) -> ReadGuard<'_, T> {
        // SAFETY: by the type invariant the lock is initialised.
        unsafe { bindings::imp2_read_lock_bh(self.lock.get()) };
        // INVARIANT: the read lock was just taken with BHs disabled.
        ReadGuard { lock: self, bh: true, _not_send: PhantomData }
    }

    /// Takes the lock for writing with bottom halves disabled.
    pub(crate) fn write_bh(&self) -> WriteGuard<'_, T> {
        // SAFETY: by the type invariant the lock is initialised.
        unsafe { bindings::imp2_write_lock_bh(self.lock.get()) };
        // INVARIANT: the write lock was just taken with BHs disabled.
        WriteGuard { lock: self, _not_send: PhantomData }
    }
}

/// Shared access to the data of a read-locked [`RwLock`].
///
/// # Invariants
///
/// The read side of `lock` is held, with BHs disabled iff `bh`.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub(crate) struct ReadGuard<'a, T> {
    lock: &'a RwLock<T>,
    bh: bool,
    /// A lock must be released on the CPU (and BH state) that took it.
    _not_send: PhantomData<*mut ()>,
}

impl<T> Deref for ReadGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the read lock is held (type invariant), so no writer can
        // have `&mut T`; readers only ever get `&T`.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T> Drop for ReadGuard<'_, T> {
    fn drop(&mut self) {
        let lock = self.lock.lock.get();
        // SAFETY: the read lock is held, taken the way `bh` says (type invariant).
        unsafe {
            if self.bh {
                bindings::imp2_read_unlock_bh(lock)
            } else {
                bindings::imp2_read_unlock(lock)
            }
        }
    }
}

/// Exclusive access to the data of a write-locked [`RwLock`].
///
/// # Invariants
///
/// The write side of `lock` is held with BHs disabled.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub(crate) struct WriteGuard<'a, T> {
    lock: &'a RwLock<T>,
    /// A lock must be released on the CPU (and BH state) that took it.
    _not_send: PhantomData<*mut ()>,
}

impl<T> Deref for WriteGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the write lock is held (type invariant): nobody else has access.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T> DerefMut for WriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the write lock is held (type invariant): nobody else has access.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T> Drop for WriteGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: the write lock is held with BHs disabled (type invariant).
        unsafe { bindings::imp2_write_unlock_bh(self.lock.lock.get()) };
    }
}
