// SPDX-License-Identifier: GPL-2.0

//! Encoding of protocol v2 messages: events, listener reports and the end
//! of a report. Pure `core` code over a [`MsgOut`]: in the kernel an
//! skb's tail room for events, a caller's buffer for the rest; host-tested
//! against the tool's decoder.

use crate::{
    imp2::{
        filter::{Delivery, Filter, Hook},
        limit::Limits,
        packet::{IpAddr, IpHeader, IpVersion},
    },
    wire::{
        self,
        nlattr::{BufferFull, CopySource, MsgOut, MsgWriter},
    },
};

/// What an event reports besides the IP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct EventFacts {
    /// ICMP or ICMPv6 type and code, if the packet has them.
    pub(crate) icmp: Option<(u8, u8)>,
    /// The hook that saw it.
    pub(crate) hook: Hook,
    /// Input interface index, 0 if none.
    pub(crate) ifindex: u32,
    /// Output interface index, at the hooks that have one.
    pub(crate) out_ifindex: Option<u32>,
    /// Packet length from the IP header on.
    pub(crate) len: u32,
    /// When the hook saw it, `CLOCK_REALTIME` ns.
    pub(crate) tstamp_ns: u64,
}

/// What one listener's event carries besides the packet's facts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ListenerPart {
    /// `IMP2_A_SUPPRESSED`, for listeners whose limits leave packets out.
    pub(crate) suppressed: Option<u64>,
    /// How many of the packet's bytes go in `IMP2_A_PAYLOAD`; 0: none.
    pub(crate) payload_len: usize,
}

/// Room for the largest event without its payload: header; family; two
/// IPv6 addresses; protocol, ICMP type and code; hook, ifindex, output
/// ifindex, length, timestamp, sequence, suppressed count.
pub(crate) const EVENT_MAX: usize = 16 + 8 + 2 * 20 + 3 * 8 + 3 * 8 + 8 + 12 + 8 + 12;

/// Room for one listener report: header, port, families, hook, two counters,
/// batch and flush delay, snaplen, sample, rate and burst, the suppressed
/// total, the program's length, and a nest with up to 256 one-byte
/// protocol entries (8 bytes each).
pub(crate) const LISTENER_MAX: usize = 16 + 8 + 8 + 8 + 2 * 12 + 2 * 8 + 4 * 8 + 12 + 8 + 4 + 256 * 8;

/// Room for the `NLMSG_DONE` that ends a report.
pub(crate) const DONE_MAX: usize = 16 + 4;

fn finish<O: MsgOut>(mut w: MsgWriter<O>) -> usize {
    w.end();
    w.written()
}

/// Writes the `IMP2_V2_EVENT` with sequence number `seq` to `out` (all of
/// it, or, if it does not fit, `BufferFull` with the output's tail
/// undefined); returns its length. The payload, if any, is copied from
/// `packet`, which starts at the IP header.
#[inline(always)]
pub(crate) fn write_event<O: MsgOut, P: CopySource + ?Sized>(
    out: O,
    seq: u32,
    ip: &IpHeader,
    facts: &EventFacts,
    part: &ListenerPart,
    packet: &P,
) -> Result<usize, BufferFull> {
    let start = out.written();
    let mut w = MsgWriter::to(out);
    w.begin(wire::IMP2_V2_EVENT, 0, seq, 0)?;
    let family = match ip.version {
        IpVersion::V4 => wire::AF_INET,
        IpVersion::V6 => wire::AF_INET6,
    };
    w.put_u8(wire::IMP2_A_FAMILY, family)?;
    for (attr, addr) in [(wire::IMP2_A_SRC, ip.src), (wire::IMP2_A_DST, ip.dst)] {
        match addr {
            IpAddr::V4(a) => w.put_array(attr, a)?,
            IpAddr::V6(a) => w.put_array(attr, a)?,
        }
    }
    w.put_u8(wire::IMP2_A_PROTO, ip.protocol)?;
    if let Some((icmp_type, code)) = facts.icmp {
        w.put_u8(wire::IMP2_A_ICMP_TYPE, icmp_type)?;
        w.put_u8(wire::IMP2_A_ICMP_CODE, code)?;
    }
    w.put_u32(wire::IMP2_A_HOOK, facts.hook.wire())?;
    w.put_u32(wire::IMP2_A_IFINDEX, facts.ifindex)?;
    if let Some(out) = facts.out_ifindex {
        w.put_u32(wire::IMP2_A_OUT_IFINDEX, out)?;
    }
    w.put_u32(wire::IMP2_A_LEN, facts.len)?;
    w.put_u64(wire::IMP2_A_TSTAMP_NS, facts.tstamp_ns)?;
    w.put_u32(wire::IMP2_A_SEQ, seq)?;
    if let Some(suppressed) = part.suppressed {
        w.put_u64(wire::IMP2_A_SUPPRESSED, suppressed)?;
    }
    // Last: the only attribute of variable length.
    if part.payload_len > 0 {
        w.put_copy(wire::IMP2_A_PAYLOAD, packet, part.payload_len)?;
    }
    Ok(finish(w) - start)
}

/// A listener as reported by `IMP2_LISTENERS_GET`.
pub(crate) struct ListenerReport<'a> {
    pub(crate) portid: u32,
    pub(crate) filter: &'a Filter,
    pub(crate) delivery: Delivery,
    pub(crate) limits: Limits,
    /// The length of its program, if it has one.
    pub(crate) bpf_insns: Option<u32>,
    pub(crate) events_sent: u64,
    pub(crate) send_failures: u64,
    /// Packets the limits left out, for listeners that have some.
    pub(crate) suppressed_total: u64,
}

/// Encodes one `IMP2_LISTENER` message of the reply to request `seq`.
/// `IMP2_A_PROTOS` is left out exactly when the filter uses the default.
pub(crate) fn encode_listener<'b>(
    buf: &'b mut [u8],
    seq: u32,
    l: &ListenerReport<'_>,
) -> Result<&'b [u8], BufferFull> {
    let mut w = MsgWriter::new(buf);
    w.begin(wire::IMP2_LISTENER, wire::NLM_F_MULTI, seq, 0)?;
    w.put_u32(wire::IMP2_A_PORTID, l.portid)?;
    w.put_u32(wire::IMP2_A_FAMILIES, l.filter.families)?;
    w.put_u32(wire::IMP2_A_HOOK, l.filter.hook.wire())?;
    if l.filter.protos.is_some() {
        let nest = w.nest_start(wire::IMP2_A_PROTOS)?;
        for p in l.filter.protocols() {
            w.put_u8(wire::IMP2_A_PROTO, p)?;
        }
        w.nest_end(nest)?;
    }
    w.put_u64(wire::IMP2_A_EVENTS_SENT, l.events_sent)?;
    w.put_u64(wire::IMP2_A_SEND_FAILURES, l.send_failures)?;
    // Batching only if asked for: the report of a plain listener is as before.
    if l.delivery.batched() {
        w.put_u32(wire::IMP2_A_BATCH, l.delivery.batch)?;
        w.put_u32(wire::IMP2_A_FLUSH_MS, l.delivery.flush_ms)?;
    }
    // Likewise, each only if it is not the default.
    if l.delivery.snaplen > 0 {
        w.put_u32(wire::IMP2_A_SNAPLEN, l.delivery.snaplen)?;
    }
    if l.limits.sample > 1 {
        w.put_u32(wire::IMP2_A_SAMPLE, l.limits.sample)?;
    }
    if let Some(rate) = l.limits.rate {
        w.put_u32(wire::IMP2_A_RATE_LIMIT, rate.per_sec)?;
        w.put_u32(wire::IMP2_A_RATE_BURST, rate.burst)?;
    }
    if l.limits.any() {
        w.put_u64(wire::IMP2_A_SUPPRESSED_TOTAL, l.suppressed_total)?;
    }
    if let Some(insns) = l.bpf_insns {
        w.put_u32(wire::IMP2_A_BPF_INSNS, insns)?;
    }
    let len = finish(w);
    Ok(&buf[..len])
}

/// Encodes the `NLMSG_DONE` (error 0) that ends the reply to request `seq`.
pub(crate) fn encode_done(buf: &mut [u8], seq: u32) -> Result<&[u8], BufferFull> {
    let mut w = MsgWriter::new(buf);
    w.begin(wire::NLMSG_DONE, wire::NLM_F_MULTI, seq, 0)?;
    w.put_raw(0i32.to_ne_bytes())?;
    let len = finish(w);
    Ok(&buf[..len])
}
