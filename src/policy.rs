// SPDX-License-Identifier: GPL-2.0

//! Protocol v2 request validation, with the kernel's own policy machinery
//! (`nla_policy` tables and strict `nlmsg_parse()` in `src/policy.c`; 6.12
//! has no Rust binding for them). On error the extended ack names the
//! offending attribute.

use crate::{
    abstractions::{
        bpf::ClassicProgram,
        netlink::{ExtAck, RequestMessage},
    },
    bindings,
    imp2::{
        filter::{Delivery, Filter, Hook},
        limit::{Limits, Rate},
    },
};
use core::{marker::PhantomData, ptr::NonNull};
use kernel::prelude::*;

/// A validated `IMP2_V2_SUBSCRIBE`.
pub(crate) struct Subscribe<'a> {
    pub(crate) filter: Filter,
    pub(crate) delivery: Delivery,
    pub(crate) limits: Limits,
    /// Its `IMP2_A_BPF`, not loaded yet: loading is for senders allowed to
    /// subscribe.
    pub(crate) bpf: Option<UnloadedProgram<'a>>,
}

/// An `IMP2_A_BPF` of a request, framed and sized (whole instructions).
///
/// # Invariants
///
/// `attr` is that attribute, within the request's data, which outlives `'a`.
pub(crate) struct UnloadedProgram<'a> {
    attr: NonNull<bindings::nlattr>,
    insns: u32,
    _request: PhantomData<&'a [u8]>,
}

impl UnloadedProgram<'_> {
    /// Has the kernel check and load the program: `EINVAL` with the reason
    /// in `extack` if it refuses it, `ENOMEM`. Process context.
    pub(crate) fn load(&self, extack: Pin<&mut ExtAck>) -> Result<ClassicProgram> {
        let mut prog = core::ptr::null_mut();
        // SAFETY: `attr` is valid, within data we hold (type invariant),
        // and read only; `prog` and `extack` are valid for writes.
        kernel::error::to_result(unsafe {
            bindings::imp2_v2_load_bpf(self.attr.as_ptr(), &mut prog, extack.as_raw())
        })?;
        // SAFETY: `imp2_v2_load_bpf()` succeeded: `prog` is a new program
        // of the attribute's `insns` instructions from `bpf_prog_create()`,
        // ours to own.
        unsafe { ClassicProgram::from_raw(prog, self.insns) }
    }
}

/// Validates an `IMP2_V2_SUBSCRIBE` and returns the filter, the delivery
/// the limits and the program it asks for.
pub(crate) fn parse_subscribe<'a>(msg: RequestMessage<'a>, extack: Pin<&mut ExtAck>) -> Result<Subscribe<'a>> {
    let mut raw = bindings::imp2_v2_filter::default();
    // SAFETY: `msg` is a complete message within data we hold (its type
    // invariant), which the parser only reads; `raw` and `extack` are
    // valid for writes, and `extack` is pinned.
    kernel::error::to_result(unsafe {
        bindings::imp2_v2_parse_subscribe(msg.as_raw(), &mut raw, extack.as_raw())
    })?;
    let bits = kernel::ffi::c_ulong::BITS as usize;
    let protos = (!raw.default_protos).then(|| {
        let mut set = [0u64; 4];
        for p in 0..256 {
            if (raw.protos[p / bits] >> (p % bits)) & 1 != 0 {
                set[p / 64] |= 1 << (p % 64);
            }
        }
        set
    });
    let delivery = if raw.batch > 1 {
        Delivery { batch: raw.batch, flush_ms: raw.flush_ms, snaplen: raw.snaplen }
    } else {
        Delivery { snaplen: raw.snaplen, ..Delivery::UNBATCHED }
    };
    let rate = (raw.rate_limit > 0).then_some(Rate { per_sec: raw.rate_limit, burst: raw.rate_burst });
    let limits = Limits { sample: raw.sample, rate };
    // INVARIANT: the parser set `bpf` to the attribute within `msg`.
    let bpf = NonNull::new(raw.bpf.cast_mut())
        .map(|attr| UnloadedProgram { attr, insns: raw.bpf_insns, _request: PhantomData });
    // The policy allows only IMP2_HOOK_* values.
    let hook = Hook::from_wire(raw.hook).ok_or(EINVAL)?;
    Ok(Subscribe { filter: Filter { families: raw.families, protos, hook }, delivery, limits, bpf })
}

/// Whether `msg` carries an `IMP2_A_BPF` (a scan that validates nothing).
pub(crate) fn carries_program(msg: RequestMessage<'_>) -> bool {
    // SAFETY: as in `parse_subscribe`; the scan stays within the message
    // (`nlmsg_find_attr()` checks every attribute's length against it).
    unsafe { bindings::imp2_v2_carries_bpf(msg.as_raw()) }
}

/// Validates a v2 request that takes no attributes.
pub(crate) fn parse_empty(msg: RequestMessage<'_>, extack: Pin<&mut ExtAck>) -> Result {
    // SAFETY: as in `parse_subscribe`.
    kernel::error::to_result(unsafe { bindings::imp2_v2_parse_empty(msg.as_raw(), extack.as_raw()) })
}
