//! The event decoder's fast paths against the decoder as it was before
//! them (netlink-packet-core's `NlasIterator`, kept here as the
//! reference): the same events, the same unknown-attribute counts and the
//! same errors, for everything the module's own encoder produces and for
//! random mutations of it; and no panic on any input.

#![allow(dead_code, unreachable_pub)]

include!("common/module.rs");

use crate::imp2::{
    event::{EventFacts, ListenerPart, EVENT_MAX},
    filter::Hook,
    packet::{IpHeader, Ipv6UpperLayer},
};
use ::imp2::abi::attr;
use ::imp2::proto::{decode, messages, Message};
use ::imp2::v2::{self, AttrError, Decoded, Event};
use netlink_packet_core::{NlaBuffer, NlasIterator};
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `decode_event` as it was: every attribute through the crate's iterator.
fn reference_decode_event(seq: u32, attrs: &[u8]) -> Result<Decoded<Event>, AttrError> {
    let (mut family, mut src, mut dest, mut seq_attr) = (None, None, None, None);
    let unspecified = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    let mut ev = Event::new(seq, unspecified, unspecified);
    let mut unknown_attrs = 0;
    let size = |kind: u16, value: &[u8], want: &'static str| AttrError::WrongSize { attr: kind, len: value.len(), want };
    for nla in NlasIterator::new(attrs) {
        let nla: NlaBuffer<&[u8]> = nla.map_err(|e| AttrError::Framing(e.to_string()))?;
        let (kind, value) = (nla.kind(), nla.value());
        let u8_of = |value: &[u8]| match value {
            [b] => Ok(*b),
            _ => Err(size(kind, value, "1 (u8)")),
        };
        let u32_of = |value: &[u8]| value.try_into().map(u32::from_ne_bytes).map_err(|_| size(kind, value, "4 (u32)"));
        match kind {
            attr::PAD => {}
            attr::FAMILY => family = Some(u8_of(value)?),
            attr::SRC | attr::DST => {
                let addr = match value.len() {
                    4 => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(value).unwrap())),
                    16 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(value).unwrap())),
                    _ => return Err(size(kind, value, "4 (IPv4) or 16 (IPv6)")),
                };
                if kind == attr::SRC {
                    src = Some(addr)
                } else {
                    dest = Some(addr)
                }
            }
            attr::PROTO => ev.proto = Some(u8_of(value)?),
            attr::ICMP_TYPE => ev.icmp_type = Some(u8_of(value)?),
            attr::ICMP_CODE => ev.icmp_code = Some(u8_of(value)?),
            attr::HOOK => ev.hook = Some(u32_of(value)?),
            attr::IFINDEX => ev.ifindex = Some(u32_of(value)?),
            attr::OUT_IFINDEX => ev.out_ifindex = Some(u32_of(value)?),
            attr::LEN => ev.len = Some(u32_of(value)?),
            attr::TSTAMP_NS => {
                let v = value.try_into().map(u64::from_ne_bytes).map_err(|_| size(kind, value, "8 (u64)"))?;
                ev.tstamp_ns = Some(v)
            }
            attr::SEQ => seq_attr = Some(u32_of(value)?),
            attr::SUPPRESSED => {
                let v = value.try_into().map(u64::from_ne_bytes).map_err(|_| size(kind, value, "8 (u64)"))?;
                ev.suppressed = Some(v)
            }
            attr::PAYLOAD => ev.payload = Some(value.to_vec()),
            _ => unknown_attrs += 1,
        }
    }
    let family = family.ok_or(AttrError::Missing(attr::FAMILY))?;
    ev.src = src.ok_or(AttrError::Missing(attr::SRC))?;
    ev.dest = dest.ok_or(AttrError::Missing(attr::DST))?;
    let want_len = match family {
        2 => 4,
        10 => 16,
        _ => return Err(AttrError::BadValue { attr: attr::FAMILY, why: String::new() }),
    };
    for (kind, addr) in [(attr::SRC, ev.src), (attr::DST, ev.dest)] {
        if (if addr.is_ipv4() { 4 } else { 16 }) != want_len {
            return Err(AttrError::BadValue { attr: kind, why: String::new() });
        }
    }
    if seq_attr.is_some_and(|s| s != seq) {
        return Err(AttrError::BadValue { attr: attr::SEQ, why: String::new() });
    }
    Ok(Decoded { value: ev, unknown_attrs })
}

/// Results compared as the monitor uses them: events and counts exactly,
/// errors by kind and attribute (the texts are worded differently).
fn same(a: &Result<Decoded<Event>, AttrError>, b: &Result<Decoded<Event>, AttrError>) -> bool {
    match (a, b) {
        (Ok(a), Ok(b)) => a == b,
        (Err(AttrError::Framing(_)), Err(AttrError::Framing(_))) => true,
        (Err(AttrError::BadValue { attr: x, .. }), Err(AttrError::BadValue { attr: y, .. })) => x == y,
        (Err(a), Err(b)) => a == b,
        _ => false,
    }
}

/// One event as the module encodes it.
fn module_event(ipv6_packet: bool, icmp: Option<(u8, u8)>, seq: u32, ifindex: u32, len: u32, tstamp_ns: u64) -> Vec<u8> {
    module_event_with(ipv6_packet, icmp, seq, ifindex, None, len, tstamp_ns, None, 0)
}

/// One event as the module encodes it for a listener with limits (the
/// suppressed count) or a snaplen (up to `payload_len` packet bytes), at
/// the output hook if it has an `out_ifindex`, else at prerouting.
#[allow(clippy::too_many_arguments)]
fn module_event_with(
    ipv6_packet: bool,
    icmp: Option<(u8, u8)>,
    seq: u32,
    ifindex: u32,
    out_ifindex: Option<u32>,
    len: u32,
    tstamp_ns: u64,
    suppressed: Option<u64>,
    payload_len: usize,
) -> Vec<u8> {
    let packet = if ipv6_packet {
        ipv6(Ipv6UpperLayer { protocol: if icmp.is_some() { 58 } else { 17 }, offset: 40, first_fragment: true }, &[128, 0])
    } else {
        ipv4(if icmp.is_some() { 1 } else { 17 }, 0, &[8, 0])
    };
    let ip = IpHeader::ipv4(&packet).or_else(|| IpHeader::ipv6(&packet)).unwrap();
    let mut buf = [0u8; EVENT_MAX + 128];
    let part = ListenerPart { suppressed, payload_len: payload_len.min(packet.data.len()) };
    let hook = if out_ifindex.is_some() { Hook::Output } else { Hook::PreRouting };
    let facts = EventFacts { icmp, hook, ifindex, out_ifindex, len, tstamp_ns };
    encode_event_with(&mut buf, seq, &ip, &facts, &part, &packet.data[..]).unwrap().to_vec()
}

const HDRLEN: usize = 16;

fn seq_of(msg: &[u8]) -> u32 {
    u32::from_ne_bytes(msg[8..12].try_into().unwrap())
}

#[test]
fn every_module_layout_takes_the_fixed_offset_path() {
    for ipv6_packet in [false, true] {
        for icmp in [None, Some((8, 0)), Some((255, 255))] {
            for (suppressed, payload_len, out) in [
                (None, 0, None),
                (Some(0), 0, Some(3)),
                (Some(u64::MAX), 0, None),
                (None, 1, Some(0)),
                (Some(9), 21, None),
                (None, 22, Some(u32::MAX)),
            ] {
                let msg =
                    module_event_with(ipv6_packet, icmp, 0xfeed_f00d, 7, out, 1500, u64::MAX - 1, suppressed, payload_len);
                let attrs = &msg[HDRLEN..];
                let fast = v2::decode_module_layout(seq_of(&msg), attrs);
                let reference = reference_decode_event(seq_of(&msg), attrs).unwrap();
                let case = format!("v6 {ipv6_packet}, icmp {icmp:?}, suppressed {suppressed:?}, payload {payload_len}, out {out:?}");
                assert_eq!(fast.as_ref(), Some(&reference.value), "{case}");
                assert_eq!(reference.value.suppressed, suppressed, "{case}");
                assert_eq!(reference.value.out_ifindex, out, "{case}");
                assert_eq!(reference.value.hook, Some(if out.is_some() { 3 } else { 0 }), "{case}");
                assert_eq!(reference.value.payload.as_ref().map_or(0, Vec::len), payload_len, "{case}");
                assert_eq!(reference.unknown_attrs, 0);
                assert!(same(&v2::decode_event(seq_of(&msg), attrs), &Ok(reference)));
            }
        }
    }
}

#[test]
fn a_batch_through_the_monitor_path_matches_the_collected_one() {
    let mut datagram = Vec::new();
    for seq in 0..64 {
        datagram.extend(module_event(seq % 2 == 0, Some((8, 0)), seq, seq, 84, u64::from(seq) << 40));
    }
    let collected = decode(&datagram);
    let streamed: Vec<_> = messages(&datagram).collect();
    assert_eq!(collected, streamed);
    assert!(collected.iter().all(|m| matches!(m, Ok(Message::V2Event(_)))));
}

/// One edit of an encoded event.
#[derive(Clone, Debug)]
enum Edit {
    /// Overwrite the byte at (index mod length).
    Set(usize, u8),
    /// Cut to (index mod length + 1) bytes.
    Truncate(usize),
    /// Append bytes.
    Append(Vec<u8>),
    /// Insert a 4-byte attribute header at (index mod length), 4-aligned.
    InsertHeader(usize, u16, u16),
}

fn edit_strategy() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Set(i, b)),
        1 => any::<usize>().prop_map(Edit::Truncate),
        1 => proptest::collection::vec(any::<u8>(), 1..24).prop_map(Edit::Append),
        1 => (any::<usize>(), 0u16..40, 0u16..20).prop_map(|(i, len, kind)| Edit::InsertHeader(i, len, kind)),
    ]
}

fn apply(mut attrs: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for edit in edits {
        let n = attrs.len().max(1);
        match edit {
            Edit::Set(i, b) if !attrs.is_empty() => attrs[i % n] = *b,
            Edit::Set(..) => {}
            Edit::Truncate(i) => attrs.truncate(i % n + 1),
            Edit::Append(bytes) => attrs.extend_from_slice(bytes),
            Edit::InsertHeader(i, len, kind) => {
                let at = (i % n) & !3;
                let header = [len.to_ne_bytes(), kind.to_ne_bytes()].concat();
                attrs.splice(at.min(attrs.len())..at.min(attrs.len()), header);
            }
        }
    }
    attrs
}

proptest! {
    // No regression files: a failure prints its minimal input, which a test can pin.
    #![proptest_config(ProptestConfig { cases: 20_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_module_events_decode_as_the_reference(
        ipv6_packet in any::<bool>(),
        icmp in proptest::option::of(any::<(u8, u8)>()),
        seq in any::<u32>(),
        ifindex in any::<u32>(),
        out_ifindex in proptest::option::of(any::<u32>()),
        len in any::<u32>(),
        tstamp in any::<u64>(),
        suppressed in proptest::option::of(any::<u64>()),
        payload_len in prop_oneof![3 => Just(0usize), 1 => 1usize..80],
        edits in proptest::collection::vec(edit_strategy(), 0..4),
        other_seq in proptest::option::of(any::<u32>()),
    ) {
        let msg = module_event_with(ipv6_packet, icmp, seq, ifindex, out_ifindex, len, tstamp, suppressed, payload_len);
        let attrs = apply(msg[HDRLEN..].to_vec(), &edits);
        let seq = other_seq.unwrap_or(seq);
        let reference = reference_decode_event(seq, &attrs);
        let decoded = v2::decode_event(seq, &attrs);
        prop_assert!(same(&decoded, &reference), "decoded {decoded:?}\nreference {reference:?}");
        if let Some(fast) = v2::decode_module_layout(seq, &attrs) {
            prop_assert_eq!(Ok(&fast), reference.as_ref().map(|d| &d.value));
        }
    }

    #[test]
    fn random_bytes_decode_as_the_reference(attrs in proptest::collection::vec(any::<u8>(), 0..160), seq in any::<u32>()) {
        prop_assert!(same(&v2::decode_event(seq, &attrs), &reference_decode_event(seq, &attrs)));
    }

    #[test]
    fn random_datagrams_do_not_panic(datagram in proptest::collection::vec(any::<u8>(), 0..400)) {
        let streamed: Vec<_> = messages(&datagram).collect();
        prop_assert_eq!(decode(&datagram), streamed);
    }
}
