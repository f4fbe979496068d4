// SPDX-License-Identifier: GPL-2.0

//! Safe abstractions over the kernel APIs imp2 uses, which the kernel's own
//! `rust/kernel/` lacks (in 6.12, and mostly in 7.3 too).
//!
//! Modelled on mainline Rust-for-Linux: `Opaque` C state, pin-init,
//! registrations that undo themselves on drop, `unsafe extern "C"`
//! trampolines generic over a trait. Nothing here knows about imp2's
//! protocol; all `unsafe` code of the module lives here and in
//! `compat`/`params`/`test_knobs`.

pub(crate) mod bpf;
pub(crate) mod net;
pub(crate) mod netfilter;
pub(crate) mod netlink;
pub(crate) mod pernet;
pub(crate) mod rcu;
pub(crate) mod rwlock;
pub(crate) mod sched;
pub(crate) mod semaphore;
pub(crate) mod skbuff;
pub(crate) mod spinlock_bh;
pub(crate) mod time;
pub(crate) mod timer;
pub(crate) mod work;
