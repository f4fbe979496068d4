// SPDX-License-Identifier: GPL-2.0

//! The Rust-for-Linux API differences between the kernels imp2 builds for.
//!
//! Kbuild passes `--cfg imp2_v7` for Linux 7.x (tested: 7.3); without it
//! the 6.12 LTS API is used. Everything version-specific that is not a
//! `module!` key (see `imp2_main.rs`) or the `unit` parameter (see
//! `params.rs`) is here, so the rest of the module has one spelling.
//!
//! | what | 6.12 | 7.3 |
//! |---|---|---|
//! | `pin_init_from_closure` | `kernel::init` | the `pin_init` crate |
//! | `AsBytes` | `kernel::types` | `kernel::transmute` |
//! | `*mut Opaque<T>` to `*mut T` | `Opaque::raw_get` | `Opaque::cast_into` |
//! | run a `PinInit` on a slot | `PinInit::__pinned_init` | `PinInit::__init` |

use kernel::{prelude::PinInit, types::Opaque};

#[cfg(not(imp2_v7))]
pub(crate) use kernel::{init::pin_init_from_closure, types::AsBytes};

#[cfg(imp2_v7)]
pub(crate) use {kernel::transmute::AsBytes, pin_init::pin_init_from_closure};

/// Gets the `*mut T` inside a `*const Opaque<T>` (for instance the slot
/// handed to a [`pin_init_from_closure`] initialiser), without creating a
/// reference.
pub(crate) const fn opaque_cast_into<T>(this: *const Opaque<T>) -> *mut T {
    #[cfg(not(imp2_v7))]
    let inner = Opaque::raw_get(this);
    #[cfg(imp2_v7)]
    let inner = Opaque::cast_into(this);
    inner
}

/// Runs the pin-initialiser `init` on `slot`.
///
/// # Safety
///
/// As for `PinInit::__pinned_init`: `slot` is valid for writes and will not
/// move until the value is dropped; on error, `slot` is uninitialised and
/// the caller must not use it as initialised.
pub(crate) unsafe fn pin_init_at<T, E>(init: impl PinInit<T, E>, slot: *mut T) -> Result<(), E> {
    // SAFETY: the caller's promise is exactly the method's contract.
    #[cfg(not(imp2_v7))]
    let result = unsafe { init.__pinned_init(slot) };
    // SAFETY: as above (`__init` is 7.3's name for `__pinned_init`).
    #[cfg(imp2_v7)]
    let result = unsafe { init.__init(slot) };
    result
}
