// SPDX-License-Identifier: GPL-2.0

//! Protocol v2 request validation, with the kernel's own policy machinery
//! (`nla_policy` tables and strict `nlmsg_parse()` in `src/policy.c`; 6.12
//! has no Rust binding for them). On error the extended ack names the
//! offending attribute.

use crate::{
    abstractions::netlink::{ExtAck, RequestMessage},
    bindings,
    imp2::{
        filter::{Delivery, Filter},
        limit::{Limits, Rate},
    },
};
use kernel::prelude::*;

/// Validates an `IMP2_V2_SUBSCRIBE` and returns the filter, the delivery
/// and the limits it asks for.
pub(crate) fn parse_subscribe(
    msg: RequestMessage<'_>,
    extack: Pin<&mut ExtAck>,
) -> Result<(Filter, Delivery, Limits)> {
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
    Ok((Filter { families: raw.families, protos }, delivery, limits))
}

/// Validates a v2 request that takes no attributes.
pub(crate) fn parse_empty(msg: RequestMessage<'_>, extack: Pin<&mut ExtAck>) -> Result {
    // SAFETY: as in `parse_subscribe`.
    kernel::error::to_result(unsafe { bindings::imp2_v2_parse_empty(msg.as_raw(), extack.as_raw()) })
}
