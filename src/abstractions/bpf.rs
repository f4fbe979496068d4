// SPDX-License-Identifier: GPL-2.0

//! Classic BPF programs, checked and JIT-compiled by the kernel's own
//! filter machinery (`bpf_prog_create()`, as `xt_bpf` loads its programs)
//! and run on skbs the way socket filters and `xt_bpf` run them.

use crate::{abstractions::skbuff::SkBuff, bindings};
use core::ptr::NonNull;
use kernel::prelude::*;

/// A classic BPF program the kernel has accepted.
///
/// # Invariants
///
/// `prog` comes from a successful `bpf_prog_create()` and is owned by this
/// object, which destroys it on drop. It is never changed after creation.
pub(crate) struct ClassicProgram {
    prog: NonNull<bindings::bpf_prog>,
    insns: u32,
}

// SAFETY: the program is immutable once created (type invariant) and
// `bpf_prog_run_save_cb()` may run it on several CPUs at once, as every
// socket filter is; `bpf_prog_destroy()` may be called from any task.
unsafe impl Send for ClassicProgram {}
// SAFETY: as above: `&ClassicProgram` only runs the program.
unsafe impl Sync for ClassicProgram {}

impl ClassicProgram {
    /// Takes ownership of a program.
    ///
    /// # Safety
    ///
    /// `prog` comes from a successful `bpf_prog_create()` of a program of
    /// `insns` classic instructions, and nobody else owns or uses it.
    pub(crate) unsafe fn from_raw(prog: *mut bindings::bpf_prog, insns: u32) -> Result<Self> {
        let prog = NonNull::new(prog).ok_or(EINVAL)?;
        // INVARIANT: created successfully, and now ours.
        Ok(Self { prog, insns })
    }

    /// The program's length in classic instructions, as loaded.
    pub(crate) fn len(&self) -> u32 {
        self.insns
    }

    /// Runs the program on `skb`, from `skb->data` on: its return value (0:
    /// the packet is refused). Any context, the hooks' included: classic
    /// programs only read the packet, and only jump forward.
    #[inline]
    pub(crate) fn run(&self, skb: &SkBuff) -> u32 {
        // SAFETY: `prog` is a valid program (type invariant) and `skb` a
        // valid skb. `bpf_prog_run_save_cb()`, as socket filters run theirs,
        // disables migration itself; a classic program writes only its own
        // scratch memory (never `skb->cb`: `cb_access` is for eBPF).
        unsafe { bindings::imp2_bpf_run(self.prog.as_ptr(), skb.as_raw()) }
    }
}

impl Drop for ClassicProgram {
    fn drop(&mut self) {
        // SAFETY: we own the program (type invariant); whoever ran it held a
        // reference to us, so no run is in progress.
        unsafe { bindings::imp2_bpf_destroy(self.prog.as_ptr()) };
    }
}
