// SPDX-License-Identifier: GPL-2.0

//! Network namespaces (`struct net`).

use crate::bindings;
use kernel::types::Opaque;

/// A borrowed network namespace.
///
/// # Invariants
///
/// The wrapped `struct net` is alive for the lifetime of the reference.
#[repr(transparent)]
pub(crate) struct Net(Opaque<bindings::net>);

// SAFETY: `struct net` is shared by every task and CPU of the namespace.
unsafe impl Sync for Net {}

impl Net {
    /// Creates a reference from a raw pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a `struct net` that stays alive for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::net) -> &'a Self {
        // SAFETY: `repr(transparent)`; liveness is the caller's promise.
        unsafe { &*ptr.cast() }
    }

    pub(crate) fn as_raw(&self) -> *mut bindings::net {
        self.0.get()
    }

    /// The namespace's cookie: a unique, never reused 64-bit id, handy to
    /// tell namespaces apart in logs.
    pub(crate) fn cookie(&self) -> u64 {
        // SAFETY: the namespace is alive (type invariant).
        unsafe { bindings::imp2_net_cookie(self.as_raw()) }
    }
}
