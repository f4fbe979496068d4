//! Protocol v2: netlink attributes (`struct nlattr` TLVs, `IMP2_A_*`).
//!
//! Requests carry attributes right after the `nlmsghdr` (no family
//! header); so do the kernel's `IMP2_V2_EVENT` and `IMP2_LISTENER`
//! messages. TLV framing is netlink-packet-core's `nla` module; what each
//! attribute means, and which sizes are acceptable, is here.
//!
//! Decoding from the kernel is lenient where the ABI may grow and strict
//! where a value could be misread: unknown attribute types (and
//! `IMP2_A_PAD`) are skipped, unknown ones counted; a bad `nla_len`, a
//! known attribute of the wrong size or a missing mandatory attribute
//! make the whole message malformed. A repeated attribute: the last one
//! wins, as with the kernel's `nla_parse`.

use crate::abi::{self, attr};
use netlink_packet_core::{Emitable, Nla, NlaBuffer, NlasIterator, NLA_F_NESTED};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `AF_INET` and `AF_INET6` as carried in `IMP2_A_FAMILY` (a u8).
pub const AF_INET: u8 = libc::AF_INET as u8;
pub const AF_INET6: u8 = libc::AF_INET6 as u8;

/// L4 protocol numbers the CLI and the output know by name.
pub const IPPROTO_ICMP: u8 = 1;
pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;
pub const IPPROTO_ICMPV6: u8 = 58;

/// What a v2 listener asks for. `None` leaves the attribute out, which
/// the module reads as its default: both families; ICMP over IPv4 and
/// ICMPv6 over IPv6.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// `IMP2_FAMILY_*` bits.
    pub families: Option<u32>,
    /// L4 protocol numbers, each sent once, in the given order.
    pub protos: Option<Vec<u8>>,
    /// `IMP2_A_BATCH`: events per datagram (absent: one).
    pub batch: Option<u32>,
    /// `IMP2_A_FLUSH_MS`: the longest a batch waits (absent: the module's
    /// default).
    pub flush_ms: Option<u32>,
    /// `IMP2_A_SNAPLEN`: packet bytes per event (absent: none).
    pub snaplen: Option<u32>,
    /// `IMP2_A_SAMPLE`: one matching packet in N (absent: all).
    pub sample: Option<u32>,
    /// `IMP2_A_RATE_LIMIT`: events per second (absent: no limit).
    pub rate_limit: Option<u32>,
    /// `IMP2_A_RATE_BURST`: events at once (absent: the rate).
    pub rate_burst: Option<u32>,
    /// `IMP2_A_BPF`: a classic BPF program, `struct sock_filter`s back to back.
    pub bpf: Option<Vec<u8>>,
    /// `IMP2_A_HOOK`: an `IMP2_HOOK_*` (absent: PREROUTING).
    pub hook: Option<u32>,
}

/// One attribute of a v2 request.
enum RequestAttr<'a> {
    Families(u32),
    /// `IMP2_A_PROTOS`: one `IMP2_A_PROTO` u8 per protocol.
    Protos(&'a [u8]),
    Batch(u32),
    FlushMs(u32),
    /// A u32 attribute of this type.
    U32(u16, u32),
    /// An attribute of this type holding these bytes.
    Bytes(u16, &'a [u8]),
}

/// `IMP2_A_PROTO` inside `IMP2_A_PROTOS`.
struct ProtoEntry(u8);

impl Nla for ProtoEntry {
    fn value_len(&self) -> usize {
        1
    }
    fn kind(&self) -> u16 {
        attr::PROTO
    }
    fn emit_value(&self, buffer: &mut [u8]) {
        buffer[0] = self.0;
    }
}

impl RequestAttr<'_> {
    fn proto_entries(protos: &[u8]) -> Vec<ProtoEntry> {
        protos.iter().copied().map(ProtoEntry).collect()
    }
}

impl Nla for RequestAttr<'_> {
    fn value_len(&self) -> usize {
        match self {
            RequestAttr::Families(_) | RequestAttr::Batch(_) | RequestAttr::FlushMs(_) | RequestAttr::U32(..) => 4,
            RequestAttr::Protos(protos) => RequestAttr::proto_entries(protos).as_slice().buffer_len(),
            RequestAttr::Bytes(_, bytes) => bytes.len(),
        }
    }
    fn kind(&self) -> u16 {
        match self {
            RequestAttr::Families(_) => attr::FAMILIES,
            // NLA_F_NESTED: the kernel's strict validation (nlmsg_parse)
            // refuses a nested policy attribute without it.
            RequestAttr::Protos(_) => attr::PROTOS | NLA_F_NESTED,
            RequestAttr::Batch(_) => attr::BATCH,
            RequestAttr::FlushMs(_) => attr::FLUSH_MS,
            RequestAttr::U32(kind, _) | RequestAttr::Bytes(kind, _) => *kind,
        }
    }
    fn emit_value(&self, buffer: &mut [u8]) {
        match self {
            RequestAttr::Families(value)
            | RequestAttr::Batch(value)
            | RequestAttr::FlushMs(value)
            | RequestAttr::U32(_, value) => buffer.copy_from_slice(&value.to_ne_bytes()),
            RequestAttr::Protos(protos) => RequestAttr::proto_entries(protos).as_slice().emit(buffer),
            RequestAttr::Bytes(_, bytes) => buffer.copy_from_slice(bytes),
        }
    }
}

/// The attributes of an `IMP2_V2_SUBSCRIBE` request for `filter`.
pub fn subscribe_attrs(filter: &Filter) -> Vec<u8> {
    let mut attrs = Vec::new();
    if let Some(bits) = filter.families {
        attrs.push(RequestAttr::Families(bits));
    }
    if let Some(protos) = &filter.protos {
        attrs.push(RequestAttr::Protos(protos));
    }
    if let Some(batch) = filter.batch {
        attrs.push(RequestAttr::Batch(batch));
    }
    if let Some(ms) = filter.flush_ms {
        attrs.push(RequestAttr::FlushMs(ms));
    }
    for (kind, value) in [
        (attr::SNAPLEN, filter.snaplen),
        (attr::SAMPLE, filter.sample),
        (attr::RATE_LIMIT, filter.rate_limit),
        (attr::RATE_BURST, filter.rate_burst),
        (attr::HOOK, filter.hook),
    ] {
        if let Some(value) = value {
            attrs.push(RequestAttr::U32(kind, value));
        }
    }
    if let Some(program) = &filter.bpf {
        attrs.push(RequestAttr::Bytes(attr::BPF, program));
    }
    let mut buf = vec![0u8; attrs.as_slice().buffer_len()];
    attrs.as_slice().emit(&mut buf);
    buf
}

/// Why the attributes of a v2 message from the kernel cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttrError {
    /// `nla_len` shorter than the attribute header or past the message end.
    Framing(String),
    /// A known attribute whose value has a size it cannot have.
    WrongSize { attr: u16, len: usize, want: &'static str },
    /// A mandatory attribute is absent.
    Missing(u16),
    /// A value that contradicts the rest of the message.
    BadValue { attr: u16, why: String },
}

impl fmt::Display for AttrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttrError::Framing(why) => write!(f, "bad attribute framing: {why}"),
            AttrError::WrongSize { attr, len, want } => {
                write!(f, "{} is {len} bytes, need {want}", attr_name(*attr))
            }
            AttrError::Missing(attr) => write!(f, "{} is missing", attr_name(*attr)),
            AttrError::BadValue { attr, why } => write!(f, "{}: {why}", attr_name(*attr)),
        }
    }
}

/// The header's name for an attribute type, for messages.
pub fn attr_name(kind: u16) -> String {
    let name = match kind {
        attr::FAMILIES => "IMP2_A_FAMILIES",
        attr::PROTOS => "IMP2_A_PROTOS",
        attr::PROTO => "IMP2_A_PROTO",
        attr::FAMILY => "IMP2_A_FAMILY",
        attr::SRC => "IMP2_A_SRC",
        attr::DST => "IMP2_A_DST",
        attr::ICMP_TYPE => "IMP2_A_ICMP_TYPE",
        attr::ICMP_CODE => "IMP2_A_ICMP_CODE",
        attr::IFINDEX => "IMP2_A_IFINDEX",
        attr::LEN => "IMP2_A_LEN",
        attr::TSTAMP_NS => "IMP2_A_TSTAMP_NS",
        attr::SEQ => "IMP2_A_SEQ",
        attr::PORTID => "IMP2_A_PORTID",
        attr::EVENTS_SENT => "IMP2_A_EVENTS_SENT",
        attr::SEND_FAILURES => "IMP2_A_SEND_FAILURES",
        attr::PAD => "IMP2_A_PAD",
        attr::BATCH => "IMP2_A_BATCH",
        attr::FLUSH_MS => "IMP2_A_FLUSH_MS",
        attr::SNAPLEN => "IMP2_A_SNAPLEN",
        attr::PAYLOAD => "IMP2_A_PAYLOAD",
        attr::SAMPLE => "IMP2_A_SAMPLE",
        attr::RATE_LIMIT => "IMP2_A_RATE_LIMIT",
        attr::RATE_BURST => "IMP2_A_RATE_BURST",
        attr::SUPPRESSED => "IMP2_A_SUPPRESSED",
        attr::SUPPRESSED_TOTAL => "IMP2_A_SUPPRESSED_TOTAL",
        attr::BPF => "IMP2_A_BPF",
        attr::BPF_INSNS => "IMP2_A_BPF_INSNS",
        attr::HOOK => "IMP2_A_HOOK",
        attr::OUT_IFINDEX => "IMP2_A_OUT_IFINDEX",
        other => return format!("attribute type {other}"),
    };
    name.to_string()
}

/// Calls `each(type, value)` for every attribute in `buf`, skipping
/// `IMP2_A_PAD`. `each` returns whether it knew the type; the result is
/// the number of unknown attributes skipped.
fn walk(buf: &[u8], mut each: impl FnMut(u16, &[u8]) -> Result<bool, AttrError>) -> Result<u32, AttrError> {
    let mut unknown = 0;
    for nla in NlasIterator::new(buf) {
        let nla: NlaBuffer<&[u8]> = nla.map_err(|e| AttrError::Framing(e.to_string()))?;
        // kind() drops NLA_F_NESTED / NLA_F_NET_BYTEORDER: they do not change the type.
        let kind = nla.kind();
        if kind == attr::PAD {
            continue;
        }
        if !each(kind, nla.value())? {
            unknown += 1;
        }
    }
    Ok(unknown)
}

fn fixed<const N: usize>(kind: u16, value: &[u8], want: &'static str) -> Result<[u8; N], AttrError> {
    value.try_into().map_err(|_| AttrError::WrongSize { attr: kind, len: value.len(), want })
}

fn get_u8(kind: u16, value: &[u8]) -> Result<u8, AttrError> {
    Ok(fixed::<1>(kind, value, "1 (u8)")?[0])
}

fn get_u32(kind: u16, value: &[u8]) -> Result<u32, AttrError> {
    Ok(u32::from_ne_bytes(fixed(kind, value, "4 (u32)")?))
}

fn get_u64(kind: u16, value: &[u8]) -> Result<u64, AttrError> {
    Ok(u64::from_ne_bytes(fixed(kind, value, "8 (u64)")?))
}

/// An address in network byte order: 4 bytes IPv4, 16 bytes IPv6.
fn get_addr(kind: u16, value: &[u8]) -> Result<IpAddr, AttrError> {
    match value.len() {
        4 => Ok(IpAddr::V4(Ipv4Addr::from(fixed::<4>(kind, value, "")?))),
        16 => Ok(IpAddr::V6(Ipv6Addr::from(fixed::<16>(kind, value, "")?))),
        len => Err(AttrError::WrongSize { attr: kind, len, want: "4 (IPv4) or 16 (IPv6)" }),
    }
}

/// The entries of an `IMP2_A_PROTOS` nest. Entries of other types are
/// skipped and counted in `unknown`.
fn get_protos(value: &[u8], unknown: &mut u32) -> Result<Vec<u8>, AttrError> {
    let mut protos = Vec::new();
    *unknown += walk(value, |kind, value| {
        if kind != attr::PROTO {
            return Ok(false);
        }
        protos.push(get_u8(kind, value)?);
        Ok(true)
    })
    .map_err(|e| AttrError::BadValue { attr: attr::PROTOS, why: e.to_string() })?;
    Ok(protos)
}

/// A decoded value and the number of unknown attributes skipped on the way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded<T> {
    pub value: T,
    pub unknown_attrs: u32,
}

/// One packet reported by `IMP2_V2_EVENT`. The family is that of `src`
/// (checked to agree with `IMP2_A_FAMILY` and `dest`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub seq: u32,
    pub src: IpAddr,
    pub dest: IpAddr,
    pub proto: Option<u8>,
    pub icmp_type: Option<u8>,
    pub icmp_code: Option<u8>,
    /// The `IMP2_HOOK_*` that saw it.
    pub hook: Option<u32>,
    pub ifindex: Option<u32>,
    /// The output interface, at the hooks that have one.
    pub out_ifindex: Option<u32>,
    pub len: Option<u32>,
    /// CLOCK_REALTIME, ns.
    pub tstamp_ns: Option<u64>,
    /// Matching packets the listener's limits left out before this one.
    pub suppressed: Option<u64>,
    /// The packet's first bytes, from the IP header on (`IMP2_A_PAYLOAD`).
    pub payload: Option<Vec<u8>>,
}

impl Event {
    /// An event with only the mandatory fields.
    pub fn new(seq: u32, src: IpAddr, dest: IpAddr) -> Event {
        Event {
            seq,
            src,
            dest,
            proto: None,
            icmp_type: None,
            icmp_code: None,
            hook: None,
            ifindex: None,
            out_ifindex: None,
            len: None,
            tstamp_ns: None,
            suppressed: None,
            payload: None,
        }
    }

    /// `IMP2_A_FAMILY`'s value: `AF_INET` or `AF_INET6`.
    pub fn family(&self) -> u8 {
        if self.src.is_ipv4() {
            AF_INET
        } else {
            AF_INET6
        }
    }
}

/// `NLA_TYPE_MASK`: the type without `NLA_F_NESTED` and
/// `NLA_F_NET_BYTEORDER`, as netlink-packet-core's `NlaBuffer::kind`.
const NLA_TYPE_MASK: u16 = 0x3fff;

/// The attributes of one event, walked in place: each item is a type and
/// its value, borrowed from the datagram.
///
/// Hand-written rather than netlink-packet-core's `NlasIterator`, for the
/// event hot path only (everything else uses the crate). On the module's
/// IPv4 ICMP event (ten attributes), `examples/consumer_cost.rs` under
/// callgrind measured 2,873 instructions per event in the monitor with
/// the crate's iterator: 1,304 in `NlasIterator::next`, 680 in
/// `NlaBuffer::new_checked`, 676 in `parse_i16`, 390 in `NlaBuffer::value`
/// (its checked accessors re-validate the buffer on every call). The walk
/// below is what those do once per attribute. Framing is the crate's:
/// `nla_len` below 4 or past the end is an error, and so is a tail too
/// short for a header; the last attribute need not be padded.
struct EventAttrs<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for EventAttrs<'a> {
    type Item = Result<(u16, &'a [u8]), AttrError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest;
        if rest.is_empty() {
            return None;
        }
        let (len, kind) = match rest {
            [l0, l1, t0, t1, ..] => (usize::from(u16::from_ne_bytes([*l0, *l1])), u16::from_ne_bytes([*t0, *t1])),
            _ => {
                self.rest = &[];
                return Some(Err(AttrError::Framing(format!("{} bytes left, less than an attribute header", rest.len()))));
            }
        };
        let Some(value) = rest.get(NLA_HDRLEN..len) else {
            self.rest = &[];
            let why = format!("nla_len {len} with {} bytes left", rest.len());
            return Some(Err(AttrError::Framing(why)));
        };
        self.rest = rest.get((len + 3) & !3..).unwrap_or_default();
        Some(Ok((kind & NLA_TYPE_MASK, value)))
    }
}

/// `sizeof(struct nlattr)`.
const NLA_HDRLEN: usize = 4;

/// Decodes the attributes of an `IMP2_V2_EVENT` whose `nlmsg_seq` is `seq`.
/// Allocates nothing unless the event is malformed or carries packet bytes.
pub fn decode_event(seq: u32, attrs: &[u8]) -> Result<Decoded<Event>, AttrError> {
    match decode_module_layout(seq, attrs) {
        Some(ev) => Ok(Decoded { value: ev, unknown_attrs: 0 }),
        None => decode_event_attrs(seq, attrs),
    }
}

/// The attribute header (`nla_len`, `nla_type`) as one native-endian u32.
const fn nla_header(len: usize, kind: u16) -> u32 {
    if cfg!(target_endian = "little") {
        (len as u32) | (kind as u32) << 16
    } else {
        (len as u32) << 16 | kind as u32
    }
}

/// The event exactly as the module lays it out (`src/imp2/event.rs`
/// `write_event`): family, source, destination, protocol, ICMP type and
/// code if any, hook, ifindex, output ifindex if any, length, timestamp,
/// sequence, the suppressed count and the payload if any; nothing else. Such
/// an event is read at fixed offsets, checking each attribute header;
/// anything else is `None` and goes to the general walk, which gives the
/// same result for this layout (host-tested, `tests/decode_equivalence.rs`).
/// An IPv4 ICMP event costs 163 instructions in `decode_event` this way,
/// against 575 in the general walk (`examples/consumer_cost.rs` under
/// callgrind, `scripts/consumer-profile.sh`).
#[inline]
pub fn decode_module_layout(seq: u32, attrs: &[u8]) -> Option<Event> {
    let word = |at: usize| -> Option<u32> { Some(u32::from_ne_bytes(attrs.get(at..at + 4)?.try_into().ok()?)) };
    let header_is = |at: usize, len: usize, kind: u16| word(at) == Some(nla_header(len, kind));
    let byte = |at: usize| attrs.get(at).copied();
    // FAMILY (u8, padded to 8 bytes), then the two addresses.
    if !header_is(0, 5, attr::FAMILY) {
        return None;
    }
    let addr_len = match byte(4)? {
        AF_INET => 4,
        AF_INET6 => 16,
        _ => return None,
    };
    let addr = |at: usize| -> Option<IpAddr> {
        if !header_is(at, 4 + addr_len, if at == 8 { attr::SRC } else { attr::DST }) {
            return None;
        }
        let value = attrs.get(at + 4..at + 4 + addr_len)?;
        Some(match addr_len {
            4 => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(value).ok()?)),
            _ => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(value).ok()?)),
        })
    };
    let src = addr(8)?;
    let mut at = 8 + 2 * (4 + addr_len);
    let dest = addr(at - (4 + addr_len))?;
    let mut ev = Event::new(seq, src, dest);
    if !header_is(at, 5, attr::PROTO) {
        return None;
    }
    ev.proto = Some(byte(at + 4)?);
    at += 8;
    if header_is(at, 5, attr::ICMP_TYPE) {
        if !header_is(at + 8, 5, attr::ICMP_CODE) {
            return None;
        }
        ev.icmp_type = Some(byte(at + 4)?);
        ev.icmp_code = Some(byte(at + 12)?);
        at += 16;
    }
    // HOOK, IFINDEX (u32), OUT_IFINDEX (u32) if any, then LEN (u32),
    // TSTAMP_NS (u64, 4-aligned: no pad attribute), SEQ (u32).
    if !(header_is(at, 8, attr::HOOK) && header_is(at + 8, 8, attr::IFINDEX)) {
        return None;
    }
    ev.hook = Some(word(at + 4)?);
    ev.ifindex = Some(word(at + 12)?);
    at += 16;
    if header_is(at, 8, attr::OUT_IFINDEX) {
        ev.out_ifindex = Some(word(at + 4)?);
        at += 8;
    }
    if !(header_is(at, 8, attr::LEN)
        && header_is(at + 8, 12, attr::TSTAMP_NS)
        && header_is(at + 20, 8, attr::SEQ))
    {
        return None;
    }
    if word(at + 24)? != seq {
        return None;
    }
    ev.len = Some(word(at + 4)?);
    ev.tstamp_ns = Some(u64::from_ne_bytes(attrs.get(at + 12..at + 20)?.try_into().ok()?));
    at += 28;
    // SUPPRESSED (u64), then PAYLOAD (the last attribute, padded or not).
    if header_is(at, 12, attr::SUPPRESSED) {
        ev.suppressed = Some(u64::from_ne_bytes(attrs.get(at + 4..at + 12)?.try_into().ok()?));
        at += 12;
    }
    if at < attrs.len() {
        let len = usize::from(u16::from_ne_bytes(attrs.get(at..at + 2)?.try_into().ok()?));
        if u16::from_ne_bytes(attrs.get(at + 2..at + 4)?.try_into().ok()?) != attr::PAYLOAD || len < 4 {
            return None;
        }
        let end = at + len;
        if attrs.len() != end && attrs.len() != (end + 3) & !3 {
            return None;
        }
        ev.payload = Some(attrs.get(at + 4..end)?.to_vec());
        at = attrs.len();
    }
    (attrs.len() == at).then_some(ev)
}

/// [`decode_event`] for any attribute layout.
fn decode_event_attrs(seq: u32, attrs: &[u8]) -> Result<Decoded<Event>, AttrError> {
    let (mut family, mut src, mut dest, mut seq_attr) = (None, None, None, None);
    let unspecified = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    let mut ev = Event::new(seq, unspecified, unspecified);
    let mut unknown_attrs = 0;
    for item in (EventAttrs { rest: attrs }) {
        let (kind, value) = item?;
        match kind {
            attr::FAMILY => family = Some(get_u8(kind, value)?),
            attr::SRC => src = Some(get_addr(kind, value)?),
            attr::DST => dest = Some(get_addr(kind, value)?),
            attr::PROTO => ev.proto = Some(get_u8(kind, value)?),
            attr::ICMP_TYPE => ev.icmp_type = Some(get_u8(kind, value)?),
            attr::ICMP_CODE => ev.icmp_code = Some(get_u8(kind, value)?),
            attr::HOOK => ev.hook = Some(get_u32(kind, value)?),
            attr::IFINDEX => ev.ifindex = Some(get_u32(kind, value)?),
            attr::OUT_IFINDEX => ev.out_ifindex = Some(get_u32(kind, value)?),
            attr::LEN => ev.len = Some(get_u32(kind, value)?),
            attr::TSTAMP_NS => ev.tstamp_ns = Some(get_u64(kind, value)?),
            attr::SEQ => seq_attr = Some(get_u32(kind, value)?),
            attr::SUPPRESSED => ev.suppressed = Some(get_u64(kind, value)?),
            attr::PAYLOAD => ev.payload = Some(value.to_vec()),
            attr::PAD => {}
            // Listener-only and unknown types alike: not part of an event.
            _ => unknown_attrs += 1,
        }
    }
    let family = family.ok_or(AttrError::Missing(attr::FAMILY))?;
    ev.src = src.ok_or(AttrError::Missing(attr::SRC))?;
    ev.dest = dest.ok_or(AttrError::Missing(attr::DST))?;
    let want_len = match family {
        AF_INET => 4,
        AF_INET6 => 16,
        other => {
            let why = format!("{other} is neither AF_INET ({AF_INET}) nor AF_INET6 ({AF_INET6})");
            return Err(AttrError::BadValue { attr: attr::FAMILY, why });
        }
    };
    for (kind, addr) in [(attr::SRC, ev.src), (attr::DST, ev.dest)] {
        let got_len = if addr.is_ipv4() { 4 } else { 16 };
        if got_len != want_len {
            let why = format!("a {got_len}-byte address in an event of family {family}");
            return Err(AttrError::BadValue { attr: kind, why });
        }
    }
    if seq_attr.is_some_and(|s| s != seq) {
        let why = format!("{} differs from nlmsg_seq {seq}", seq_attr.unwrap_or_default());
        return Err(AttrError::BadValue { attr: attr::SEQ, why });
    }
    Ok(Decoded { value: ev, unknown_attrs })
}

/// One v2 listener, from an `IMP2_LISTENER` message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listener {
    pub portid: u32,
    /// `IMP2_FAMILY_*` bits; `None`: not reported (the default, both).
    pub families: Option<u32>,
    /// `None`: the default (ICMP over IPv4, ICMPv6 over IPv6).
    pub protos: Option<Vec<u8>>,
    pub events_sent: u64,
    pub send_failures: u64,
    /// Events per datagram and flush delay, if the listener batches.
    pub batch: Option<u32>,
    pub flush_ms: Option<u32>,
    /// Packet bytes per event, sampling and rate limit, if not the default.
    pub snaplen: Option<u32>,
    pub sample: Option<u32>,
    pub rate_limit: Option<u32>,
    pub rate_burst: Option<u32>,
    /// Packets sampling or the rate limit left out, for listeners with them.
    pub suppressed_total: Option<u64>,
    /// The length of the listener's program, if it has one.
    pub bpf_insns: Option<u32>,
    /// Its `IMP2_HOOK_*`; `None`: not reported (a module before hooks,
    /// PREROUTING).
    pub hook: Option<u32>,
}

/// Decodes the attributes of an `IMP2_LISTENER`. `IMP2_A_PORTID` is
/// mandatory; absent counters read as 0.
pub fn decode_listener(attrs: &[u8]) -> Result<Decoded<Listener>, AttrError> {
    let mut portid = None;
    let mut listener = Listener::default();
    let mut nested_unknown = 0;
    let unknown_attrs = walk(attrs, |kind, value| {
        match kind {
            attr::PORTID => portid = Some(get_u32(kind, value)?),
            attr::FAMILIES => listener.families = Some(get_u32(kind, value)?),
            attr::PROTOS => listener.protos = Some(get_protos(value, &mut nested_unknown)?),
            attr::EVENTS_SENT => listener.events_sent = get_u64(kind, value)?,
            attr::SEND_FAILURES => listener.send_failures = get_u64(kind, value)?,
            attr::BATCH => listener.batch = Some(get_u32(kind, value)?),
            attr::FLUSH_MS => listener.flush_ms = Some(get_u32(kind, value)?),
            attr::SNAPLEN => listener.snaplen = Some(get_u32(kind, value)?),
            attr::SAMPLE => listener.sample = Some(get_u32(kind, value)?),
            attr::RATE_LIMIT => listener.rate_limit = Some(get_u32(kind, value)?),
            attr::RATE_BURST => listener.rate_burst = Some(get_u32(kind, value)?),
            attr::SUPPRESSED_TOTAL => listener.suppressed_total = Some(get_u64(kind, value)?),
            attr::BPF_INSNS => listener.bpf_insns = Some(get_u32(kind, value)?),
            attr::HOOK => listener.hook = Some(get_u32(kind, value)?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    listener.portid = portid.ok_or(AttrError::Missing(attr::PORTID))?;
    Ok(Decoded { value: listener, unknown_attrs: unknown_attrs + nested_unknown })
}

/// `IMP2_HOOK_*` by name, for `--hook` and the output: netfilter's names,
/// in lower case, as nft writes them.
const HOOK_NAMES: [(&str, u32); 5] = [
    ("prerouting", abi::IMP2_HOOK_PREROUTING),
    ("input", abi::IMP2_HOOK_INPUT),
    ("forward", abi::IMP2_HOOK_FORWARD),
    ("output", abi::IMP2_HOOK_OUTPUT),
    ("postrouting", abi::IMP2_HOOK_POSTROUTING),
];

/// `prerouting`, ... or the number.
pub fn hook_text(hook: u32) -> String {
    match HOOK_NAMES.iter().find(|(_, number)| *number == hook) {
        Some((name, _)) => (*name).to_string(),
        None => hook.to_string(),
    }
}

/// Whether `hook` is a hook where packets are arriving (PREROUTING,
/// INPUT) rather than leaving (FORWARD goes on, OUTPUT and POSTROUTING
/// leave); `None` for an unknown number.
pub fn hook_is_inbound(hook: u32) -> Option<bool> {
    match hook {
        abi::IMP2_HOOK_PREROUTING | abi::IMP2_HOOK_INPUT => Some(true),
        abi::IMP2_HOOK_FORWARD
        | abi::IMP2_HOOK_OUTPUT
        | abi::IMP2_HOOK_POSTROUTING => Some(false),
        _ => None,
    }
}

/// Parses `--hook`: a hook name.
pub fn parse_hook(arg: &str) -> Result<u32, String> {
    let arg = arg.trim();
    match HOOK_NAMES.iter().find(|(name, _)| name.eq_ignore_ascii_case(arg)) {
        Some((_, number)) => Ok(*number),
        None => {
            let names: Vec<&str> = HOOK_NAMES.iter().map(|(name, _)| *name).collect();
            Err(format!("'{arg}' is not a hook: use {}", names.join(", ")))
        }
    }
}

/// `IMP2_FAMILY_*` bits by name, for `--family` and the output.
const FAMILY_NAMES: [(&str, u32); 2] = [("ipv4", abi::IMP2_FAMILY_IPV4), ("ipv6", abi::IMP2_FAMILY_IPV6)];

/// The names of the known bits set in `bits`.
pub fn family_names(bits: u32) -> Vec<&'static str> {
    FAMILY_NAMES.iter().filter(|(_, bit)| bits & bit != 0).map(|(name, _)| *name).collect()
}

/// `IMP2_FAMILY_*` bits as text, e.g. `ipv4,ipv6`; unknown bits in hex.
pub fn families_text(bits: u32) -> String {
    let mut names: Vec<String> = family_names(bits).into_iter().map(String::from).collect();
    let unknown = bits & !abi::IMP2_FAMILY_ALL;
    if unknown != 0 {
        names.push(format!("{unknown:#x}"));
    }
    if names.is_empty() {
        "none".into()
    } else {
        names.join(",")
    }
}

/// Protocol numbers by name, for `--proto` and the output.
const PROTO_NAMES: [(&str, u8); 4] =
    [("icmp", IPPROTO_ICMP), ("tcp", IPPROTO_TCP), ("udp", IPPROTO_UDP), ("icmpv6", IPPROTO_ICMPV6)];

/// `icmp`, `tcp`, ... or the number.
pub fn proto_text(proto: u8) -> String {
    match PROTO_NAMES.iter().find(|(_, number)| *number == proto) {
        Some((name, _)) => (*name).to_string(),
        None => proto.to_string(),
    }
}

/// Parses one `--proto` item: a name or a number 0 to 255.
pub fn parse_proto(arg: &str) -> Result<u8, String> {
    let arg = arg.trim();
    if let Some((_, number)) = PROTO_NAMES.iter().find(|(name, _)| name.eq_ignore_ascii_case(arg)) {
        return Ok(*number);
    }
    arg.parse::<u8>().map_err(|_| {
        let names: Vec<&str> = PROTO_NAMES.iter().map(|(name, _)| *name).collect();
        format!("'{arg}' is not a protocol: use {} or a number 0 to 255", names.join(", "))
    })
}

/// Parses one `--family` item into its `IMP2_FAMILY_*` bit.
pub fn parse_family(arg: &str) -> Result<u32, String> {
    let arg = arg.trim();
    match FAMILY_NAMES.iter().find(|(name, _)| name.eq_ignore_ascii_case(arg)) {
        Some((_, bit)) => Ok(*bit),
        None => Err(format!("'{arg}' is not a family: use ipv4, ipv6 or ipv4,ipv6")),
    }
}

/// The common ICMP (`proto` 1) and ICMPv6 (58) type names.
pub fn icmp_type_name(proto: u8, icmp_type: u8) -> Option<&'static str> {
    let name = match (proto, icmp_type) {
        (IPPROTO_ICMP, 0) => "echo-reply",
        (IPPROTO_ICMP, 3) => "destination-unreachable",
        (IPPROTO_ICMP, 4) => "source-quench",
        (IPPROTO_ICMP, 5) => "redirect",
        (IPPROTO_ICMP, 8) => "echo-request",
        (IPPROTO_ICMP, 9) => "router-advertisement",
        (IPPROTO_ICMP, 10) => "router-solicitation",
        (IPPROTO_ICMP, 11) => "time-exceeded",
        (IPPROTO_ICMP, 12) => "parameter-problem",
        (IPPROTO_ICMP, 13) => "timestamp-request",
        (IPPROTO_ICMP, 14) => "timestamp-reply",
        (IPPROTO_ICMPV6, 1) => "destination-unreachable",
        (IPPROTO_ICMPV6, 2) => "packet-too-big",
        (IPPROTO_ICMPV6, 3) => "time-exceeded",
        (IPPROTO_ICMPV6, 4) => "parameter-problem",
        (IPPROTO_ICMPV6, 128) => "echo-request",
        (IPPROTO_ICMPV6, 129) => "echo-reply",
        (IPPROTO_ICMPV6, 130) => "mld-listener-query",
        (IPPROTO_ICMPV6, 131) => "mld-listener-report",
        (IPPROTO_ICMPV6, 132) => "mld-listener-done",
        (IPPROTO_ICMPV6, 133) => "router-solicitation",
        (IPPROTO_ICMPV6, 134) => "router-advertisement",
        (IPPROTO_ICMPV6, 135) => "neighbor-solicitation",
        (IPPROTO_ICMPV6, 136) => "neighbor-advertisement",
        (IPPROTO_ICMPV6, 137) => "redirect",
        (IPPROTO_ICMPV6, 143) => "mldv2-listener-report",
        _ => return None,
    };
    Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One attribute, framed by hand (independently of the encoder under test).
    fn nla(kind: u16, value: &[u8]) -> Vec<u8> {
        let mut b = ((4 + value.len()) as u16).to_ne_bytes().to_vec();
        b.extend_from_slice(&kind.to_ne_bytes());
        b.extend_from_slice(value);
        b.resize((b.len() + 3) & !3, 0);
        b
    }

    #[test]
    fn default_subscribe_has_no_attributes() {
        assert!(subscribe_attrs(&Filter::default()).is_empty());
    }

    #[test]
    fn subscribe_families_is_a_u32() {
        let filter = Filter { families: Some(abi::IMP2_FAMILY_IPV6), protos: None, ..Filter::default() };
        assert_eq!(subscribe_attrs(&filter), nla(attr::FAMILIES, &2u32.to_ne_bytes()));
    }

    #[test]
    fn subscribe_protos_is_a_nest_of_u8_entries() {
        let filter = Filter { families: None, protos: Some(vec![1, 58, 17]), ..Filter::default() };
        let entries = [nla(attr::PROTO, &[1]), nla(attr::PROTO, &[58]), nla(attr::PROTO, &[17])].concat();
        let want = nla(attr::PROTOS | NLA_F_NESTED, &entries);
        let got = subscribe_attrs(&filter);
        assert_eq!(got, want);
        // 4-byte header + 3 entries of 8 bytes (5 used, 3 padding).
        assert_eq!(got.len(), 28);
        assert_eq!(u16::from_ne_bytes([got[0], got[1]]), 28);
        assert_eq!(&got[4..12], &[5, 0, 3, 0, 1, 0, 0, 0]);
    }

    #[test]
    fn subscribe_families_then_protos() {
        let filter = Filter { families: Some(abi::IMP2_FAMILY_ALL), protos: Some(vec![6]), ..Filter::default() };
        let want =
            [nla(attr::FAMILIES, &3u32.to_ne_bytes()), nla(attr::PROTOS | NLA_F_NESTED, &nla(attr::PROTO, &[6]))]
                .concat();
        assert_eq!(subscribe_attrs(&filter), want);
    }

    fn ipv6_event_attrs() -> Vec<u8> {
        let src: Ipv6Addr = "fd00::2".parse().unwrap();
        let dst: Ipv6Addr = "fd00::1".parse().unwrap();
        [
            nla(attr::FAMILY, &[AF_INET6]),
            nla(attr::SRC, &src.octets()),
            nla(attr::DST, &dst.octets()),
            nla(attr::PROTO, &[58]),
            nla(attr::ICMP_TYPE, &[128]),
            nla(attr::ICMP_CODE, &[0]),
            nla(attr::IFINDEX, &5u32.to_ne_bytes()),
            nla(attr::LEN, &104u32.to_ne_bytes()),
            nla(attr::PAD, &[]),
            nla(attr::TSTAMP_NS, &1_700_000_000_123_456_789u64.to_ne_bytes()),
            nla(attr::SEQ, &9u32.to_ne_bytes()),
        ]
        .concat()
    }

    #[test]
    fn ipv6_event_with_icmp_and_pad() {
        let got = decode_event(9, &ipv6_event_attrs()).unwrap();
        assert_eq!(got.unknown_attrs, 0, "IMP2_A_PAD is skipped, not counted");
        let ev = got.value;
        assert_eq!(ev.family(), AF_INET6);
        assert_eq!(ev.src, "fd00::2".parse::<IpAddr>().unwrap());
        assert_eq!(ev.dest, "fd00::1".parse::<IpAddr>().unwrap());
        assert_eq!((ev.proto, ev.icmp_type, ev.icmp_code), (Some(58), Some(128), Some(0)));
        assert_eq!((ev.ifindex, ev.len, ev.seq), (Some(5), Some(104), 9));
        assert_eq!(ev.tstamp_ns, Some(1_700_000_000_123_456_789));
    }

    #[test]
    fn ipv4_udp_event_without_icmp_attributes() {
        let attrs = [
            nla(attr::FAMILY, &[AF_INET]),
            nla(attr::SRC, &[10, 99, 0, 2]),
            nla(attr::DST, &[10, 99, 0, 1]),
            nla(attr::PROTO, &[17]),
            nla(attr::IFINDEX, &3u32.to_ne_bytes()),
            nla(attr::LEN, &30u32.to_ne_bytes()),
            nla(attr::TSTAMP_NS, &7u64.to_ne_bytes()),
            nla(attr::SEQ, &1u32.to_ne_bytes()),
        ]
        .concat();
        let ev = decode_event(1, &attrs).unwrap().value;
        assert_eq!(ev.src, IpAddr::V4(Ipv4Addr::new(10, 99, 0, 2)));
        assert_eq!(ev.dest, IpAddr::V4(Ipv4Addr::new(10, 99, 0, 1)));
        assert_eq!(ev.family(), AF_INET);
        assert_eq!((ev.proto, ev.icmp_type, ev.icmp_code), (Some(17), None, None));
        assert_eq!(ev.tstamp_ns, Some(7));
    }

    #[test]
    fn minimal_event_is_family_src_dst() {
        let attrs = [nla(attr::FAMILY, &[AF_INET]), nla(attr::SRC, &[1, 2, 3, 4]), nla(attr::DST, &[5, 6, 7, 8])];
        let ev = decode_event(3, &attrs.concat()).unwrap().value;
        assert_eq!((ev.seq, ev.proto, ev.ifindex, ev.len, ev.tstamp_ns), (3, None, None, None, None));
    }

    #[test]
    fn unknown_attributes_are_skipped_and_counted() {
        let mut attrs = nla(200, &[1, 2, 3]);
        attrs.extend(ipv6_event_attrs());
        attrs.extend(nla(201 | NLA_F_NESTED, &nla(1, &[0; 4])));
        // A listener-only attribute is not part of an event either.
        attrs.extend(nla(attr::PORTID, &7u32.to_ne_bytes()));
        let got = decode_event(9, &attrs).unwrap();
        assert_eq!(got.unknown_attrs, 3);
        assert_eq!(got.value.icmp_type, Some(128));
    }

    #[test]
    fn bad_nla_len_makes_the_event_malformed() {
        let mut attrs = ipv6_event_attrs();
        attrs.extend(nla(attr::LEN, &1u32.to_ne_bytes()));
        let last = attrs.len() - 8;
        // Longer than what is left of the message.
        attrs[last..last + 2].copy_from_slice(&12u16.to_ne_bytes());
        assert!(matches!(decode_event(9, &attrs), Err(AttrError::Framing(_))));
        // Shorter than the attribute header.
        attrs[last..last + 2].copy_from_slice(&3u16.to_ne_bytes());
        assert!(matches!(decode_event(9, &attrs), Err(AttrError::Framing(_))));
        // A truncated attribute header at the end.
        let mut attrs = ipv6_event_attrs();
        attrs.extend_from_slice(&[8, 0]);
        assert!(matches!(decode_event(9, &attrs), Err(AttrError::Framing(_))));
    }

    #[test]
    fn wrong_sizes_make_the_event_malformed() {
        let base = [nla(attr::FAMILY, &[AF_INET]), nla(attr::SRC, &[1, 2, 3, 4]), nla(attr::DST, &[5, 6, 7, 8])];
        let cases = [
            (nla(attr::FAMILY, &[2, 0]), attr::FAMILY),
            (nla(attr::SRC, &[1, 2, 3, 4, 5]), attr::SRC),
            (nla(attr::ICMP_TYPE, &[]), attr::ICMP_TYPE),
            (nla(attr::IFINDEX, &[1, 0]), attr::IFINDEX),
            (nla(attr::TSTAMP_NS, &4u32.to_ne_bytes()), attr::TSTAMP_NS),
            (nla(attr::SEQ, &1u64.to_ne_bytes()), attr::SEQ),
        ];
        for (bad, kind) in cases {
            let attrs = [base.concat(), bad].concat();
            match decode_event(0, &attrs) {
                Err(AttrError::WrongSize { attr, .. }) => assert_eq!(attr, kind),
                other => panic!("{}: {other:?}", attr_name(kind)),
            }
        }
    }

    #[test]
    fn missing_family_src_or_dst_makes_the_event_malformed() {
        let parts = [nla(attr::FAMILY, &[AF_INET]), nla(attr::SRC, &[1, 2, 3, 4]), nla(attr::DST, &[5, 6, 7, 8])];
        for (skip, kind) in [(0, attr::FAMILY), (1, attr::SRC), (2, attr::DST)] {
            let attrs: Vec<u8> =
                parts.iter().enumerate().filter(|(i, _)| *i != skip).flat_map(|(_, p)| p.clone()).collect();
            assert_eq!(decode_event(0, &attrs), Err(AttrError::Missing(kind)));
        }
        assert_eq!(decode_event(0, &[]), Err(AttrError::Missing(attr::FAMILY)));
    }

    #[test]
    fn inconsistent_events_are_malformed() {
        let v4 = [1u8, 2, 3, 4];
        let v6 = [0u8; 16];
        let event = |family: u8, src: &[u8], dst: &[u8]| {
            [nla(attr::FAMILY, &[family]), nla(attr::SRC, src), nla(attr::DST, dst)].concat()
        };
        let bad_attr = |attrs: &[u8], seq: u32| match decode_event(seq, attrs) {
            Err(AttrError::BadValue { attr, .. }) => attr,
            other => panic!("{other:?}"),
        };
        assert_eq!(bad_attr(&event(AF_INET, &v6, &v6), 0), attr::SRC);
        assert_eq!(bad_attr(&event(AF_INET6, &v6, &v4), 0), attr::DST);
        assert_eq!(bad_attr(&event(7, &v4, &v4), 0), attr::FAMILY);
        let mut with_seq = event(AF_INET, &v4, &v4);
        with_seq.extend(nla(attr::SEQ, &5u32.to_ne_bytes()));
        assert_eq!(bad_attr(&with_seq, 6), attr::SEQ, "IMP2_A_SEQ must equal nlmsg_seq");
        assert!(decode_event(5, &with_seq).is_ok());
    }

    #[test]
    fn repeated_attribute_last_wins() {
        let mut attrs = ipv6_event_attrs();
        attrs.extend(nla(attr::LEN, &200u32.to_ne_bytes()));
        assert_eq!(decode_event(9, &attrs).unwrap().value.len, Some(200));
    }

    fn listener_attrs(protos: &[u8]) -> Vec<u8> {
        [
            nla(attr::PORTID, &4242u32.to_ne_bytes()),
            nla(attr::FAMILIES, &abi::IMP2_FAMILY_IPV6.to_ne_bytes()),
            nla(attr::PROTOS | NLA_F_NESTED, protos),
            nla(attr::PAD, &[]),
            nla(attr::EVENTS_SENT, &10u64.to_ne_bytes()),
            nla(attr::PAD, &[]),
            nla(attr::SEND_FAILURES, &2u64.to_ne_bytes()),
        ]
        .concat()
    }

    #[test]
    fn listener_decodes() {
        let protos = [nla(attr::PROTO, &[58]), nla(attr::PROTO, &[17])].concat();
        let got = decode_listener(&listener_attrs(&protos)).unwrap();
        let want = Listener {
            portid: 4242,
            families: Some(abi::IMP2_FAMILY_IPV6),
            protos: Some(vec![58, 17]),
            events_sent: 10,
            send_failures: 2,
            ..Listener::default()
        };
        assert_eq!(got, Decoded { value: want, unknown_attrs: 0 });
    }

    #[test]
    fn listener_with_defaults_and_without_nested_flag() {
        let attrs = [nla(attr::PORTID, &1u32.to_ne_bytes())].concat();
        let got = decode_listener(&attrs).unwrap().value;
        assert_eq!((got.families, got.protos, got.events_sent), (None, None, 0));
        // NLA_F_NESTED is not required for the kernel's nest to be read.
        let attrs = [nla(attr::PORTID, &1u32.to_ne_bytes()), nla(attr::PROTOS, &nla(attr::PROTO, &[1]))].concat();
        assert_eq!(decode_listener(&attrs).unwrap().value.protos, Some(vec![1]));
    }

    #[test]
    fn listener_without_portid_is_malformed() {
        let attrs = nla(attr::EVENTS_SENT, &1u64.to_ne_bytes());
        assert_eq!(decode_listener(&attrs), Err(AttrError::Missing(attr::PORTID)));
    }

    #[test]
    fn nested_garbage_in_protos_makes_the_listener_malformed() {
        for garbage in [
            vec![0xff, 0xff, 0xff],                        // not even a header
            vec![200, 0, 3, 0, 1, 0, 0, 0],                // nla_len past the nest
            vec![2, 0, 3, 0],                              // nla_len below the header
            nla(attr::PROTO, &[1, 2]),                     // PROTO must be a u8
            [nla(attr::PROTO, &[1]), vec![9, 9]].concat(), // trailing bytes
        ] {
            match decode_listener(&listener_attrs(&garbage)) {
                Err(AttrError::BadValue { attr, .. }) => assert_eq!(attr, attr::PROTOS, "{garbage:?}"),
                other => panic!("{garbage:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn unknown_entries_in_protos_and_listener_are_counted() {
        let protos = [nla(attr::PROTO, &[6]), nla(99, &[0; 8])].concat();
        let mut attrs = listener_attrs(&protos);
        attrs.extend(nla(300, &[]));
        let got = decode_listener(&attrs).unwrap();
        assert_eq!(got.unknown_attrs, 2);
        assert_eq!(got.value.protos, Some(vec![6]));
    }

    #[test]
    fn cli_names() {
        assert_eq!(parse_family("ipv4"), Ok(abi::IMP2_FAMILY_IPV4));
        assert_eq!(parse_family("IPv6"), Ok(abi::IMP2_FAMILY_IPV6));
        assert!(parse_family("ipx").unwrap_err().contains("'ipx' is not a family"));
        assert_eq!(parse_proto("icmp"), Ok(1));
        assert_eq!(parse_proto("icmpv6"), Ok(58));
        assert_eq!(parse_proto("udp"), Ok(17));
        assert_eq!(parse_proto("tcp"), Ok(6));
        assert_eq!(parse_proto("132"), Ok(132));
        assert_eq!(parse_proto("0"), Ok(0));
        assert!(parse_proto("256").unwrap_err().contains("0 to 255"));
        assert!(parse_proto("sctpx").unwrap_err().contains("icmp, tcp, udp, icmpv6"));
        assert_eq!(proto_text(58), "icmpv6");
        assert_eq!(proto_text(132), "132");
        assert_eq!(families_text(3), "ipv4,ipv6");
        assert_eq!(families_text(0x6), "ipv6,0x4");
        assert_eq!(families_text(0), "none");
        assert_eq!(icmp_type_name(58, 128), Some("echo-request"));
        assert_eq!(icmp_type_name(1, 8), Some("echo-request"));
        assert_eq!(icmp_type_name(1, 128), None);
        assert_eq!(icmp_type_name(17, 0), None);
    }
}
