//! Host-side tests of the kernel module's own protocol v2 code, which is
//! plain `core` Rust and compiles here as is: packet parsing
//! (`src/imp2/packet.rs`), filters (`filter.rs`), message encoding
//! (`event.rs`, `src/wire/nlattr.rs`). What the module encodes is decoded
//! with the tool's decoder, so both sides of the ABI are checked together.

#![allow(dead_code, unreachable_pub)]

include!("common/module.rs");

use ::imp2::proto::{decode, Message};
use ::imp2::v2;
use crate::imp2::{
    event::{encode_done, encode_listener, EventFacts, ListenerPart, ListenerReport, EVENT_MAX, LISTENER_MAX},
    filter::{event_room, Delivery, Filter, Hook, HookSet},
    limit::{LimitState, Limits, Rate},
    packet::{IpHeader, IpVersion, Ipv6UpperLayer},
};
use std::net::IpAddr;

const NO_LIMITS: Limits = Limits { sample: 1, rate: None };

#[test]
fn ipv4_header_and_icmp_type_are_read() {
    let p = ipv4(1, 0, &[8, 0, 0, 0]);
    let ip = IpHeader::ipv4(&p).unwrap();
    assert_eq!((ip.version, ip.protocol, ip.starts_datagram), (IpVersion::V4, 1, true));
    assert!(ip.is_icmp());
    assert_eq!(ip.icmp_type_code(&p), Some((8, 0)));
}

#[test]
fn later_fragments_do_not_start_a_datagram() {
    // More-fragments set, offset 0: the first fragment.
    assert!(IpHeader::ipv4(&ipv4(1, 0x2000, &[8, 0])).unwrap().starts_datagram);
    // Offset 185 (1480 bytes): a later fragment, with no ICMP header.
    let later = ipv4(1, 0x2000 | 185, &[0xde, 0xad]);
    let ip = IpHeader::ipv4(&later).unwrap();
    assert!(!ip.starts_datagram);
    assert_eq!(ip.icmp_type_code(&later), None);
}

#[test]
fn short_or_wrong_headers_are_skipped() {
    assert!(IpHeader::ipv4(&Bytes { data: vec![0x45; 19], upper: None }).is_none());
    let mut v6 = ipv4(1, 0, &[]);
    v6.data[0] = 0x65;
    assert!(IpHeader::ipv4(&v6).is_none(), "version 6 in the IPv4 hook");
    let mut ihl = ipv4(1, 0, &[]);
    ihl.data[0] = 0x44;
    assert!(IpHeader::ipv4(&ihl).is_none(), "IHL below 5");
    // ICMP header cut off: the header is reported, its type is not.
    let cut = ipv4(1, 0, &[8]);
    assert_eq!(IpHeader::ipv4(&cut).unwrap().icmp_type_code(&cut), None);
}

#[test]
fn ipv6_upper_layer_comes_from_the_extension_header_walk() {
    // ICMPv6 behind an 8-byte hop-by-hop header.
    let upper = Ipv6UpperLayer { protocol: 58, offset: 48, first_fragment: true };
    let p = ipv6(upper, &[128, 0, 0, 0]);
    let ip = IpHeader::ipv6(&p).unwrap();
    assert_eq!((ip.version, ip.protocol), (IpVersion::V6, 58));
    assert_eq!(ip.icmp_type_code(&p), Some((128, 0)));
    let later = ipv6(Ipv6UpperLayer { first_fragment: false, ..upper }, &[128, 0]);
    assert!(!IpHeader::ipv6(&later).unwrap().starts_datagram);
    let unwalkable = Bytes { upper: None, ..ipv6(upper, &[]) };
    assert!(IpHeader::ipv6(&unwalkable).is_none());
}

fn protos(list: &[u8]) -> Option<[u64; 4]> {
    let mut bits = [0u64; 4];
    for &p in list {
        bits[usize::from(p) / 64] |= 1 << (p % 64);
    }
    Some(bits)
}

#[test]
fn filters_match_family_and_protocol() {
    let icmp4 = IpHeader::ipv4(&ipv4(1, 0, &[8, 0])).unwrap();
    let udp4 = IpHeader::ipv4(&ipv4(17, 0, &[])).unwrap();
    let icmp6 =
        IpHeader::ipv6(&ipv6(Ipv6UpperLayer { protocol: 58, offset: 40, first_fragment: true }, &[128, 0]))
            .unwrap();
    let default = Filter { families: 3, protos: None, hook: Hook::PreRouting };
    assert!(default.matches(&icmp4, Hook::PreRouting) && default.matches(&icmp6, Hook::PreRouting) && !default.matches(&udp4, Hook::PreRouting));
    let v4_only = Filter { families: 1, protos: None, hook: Hook::PreRouting };
    assert!(v4_only.matches(&icmp4, Hook::PreRouting) && !v4_only.matches(&icmp6, Hook::PreRouting));
    assert!(!v4_only.wants(IpVersion::V6));
    let udp = Filter { families: 3, protos: protos(&[17, 255]), hook: Hook::PreRouting };
    assert!(udp.matches(&udp4, Hook::PreRouting) && !udp.matches(&icmp4, Hook::PreRouting));
    assert_eq!(udp.protocols().collect::<Vec<_>>(), vec![17, 255]);
    assert_eq!(default.protocols().count(), 0);
}

#[test]
fn events_decode_as_the_tool_reads_them() {
    let upper = Ipv6UpperLayer { protocol: 58, offset: 40, first_fragment: true };
    let p = ipv6(upper, &[128, 0, 0, 0]);
    let ip = IpHeader::ipv6(&p).unwrap();
    let facts = EventFacts { icmp: Some((128, 0)), hook: Hook::PreRouting, ifindex: 7, out_ifindex: None, len: 104, tstamp_ns: 1 << 60 };
    let mut buf = [0u8; EVENT_MAX];
    let bytes = encode_event(&mut buf, 41, &ip, &facts).unwrap();
    let decoded = decode(bytes);
    let [Ok(Message::V2Event(ev))] = &decoded[..] else { panic!("{decoded:?}") };
    assert_eq!(ev.unknown_attrs, 0);
    let ev = &ev.value;
    assert_eq!(ev.seq, 41);
    assert_eq!(ev.src, "fd00:99::2".parse::<IpAddr>().unwrap());
    assert_eq!(ev.dest, "fd00:99::1".parse::<IpAddr>().unwrap());
    assert_eq!((ev.proto, ev.icmp_type, ev.icmp_code), (Some(58), Some(128), Some(0)));
    assert_eq!((ev.ifindex, ev.len, ev.tstamp_ns), (Some(7), Some(104), Some(1 << 60)));

    assert_eq!((ev.hook, ev.out_ifindex), (Some(0), None));

    // At a hook with an output interface, the event carries it.
    let out = EventFacts { hook: Hook::PostRouting, ifindex: 0, out_ifindex: Some(9), ..facts };
    let bytes = encode_event(&mut buf, 42, &ip, &out).unwrap();
    let [Ok(Message::V2Event(ev))] = &decode(bytes)[..] else { panic!() };
    assert_eq!(ev.unknown_attrs, 0);
    assert_eq!((ev.value.hook, ev.value.ifindex, ev.value.out_ifindex), (Some(4), Some(0), Some(9)));
    assert!(v2::decode_module_layout(42, &bytes[16..]).is_some(), "the fast decoder reads it");

    // IPv4 UDP: no ICMP attributes at all.
    let udp = IpHeader::ipv4(&ipv4(17, 0, &[])).unwrap();
    let bytes = encode_event(&mut buf, 0, &udp, &EventFacts { icmp: None, ..facts }).unwrap();
    let [Ok(Message::V2Event(ev))] = &decode(bytes)[..] else { panic!() };
    assert_eq!(ev.value.src, "10.99.0.2".parse::<IpAddr>().unwrap());
    assert_eq!((ev.value.proto, ev.value.icmp_type), (Some(17), None));
}

#[test]
fn events_that_do_not_fit_are_refused_whole() {
    let ip = IpHeader::ipv4(&ipv4(1, 0, &[8, 0])).unwrap();
    let facts = EventFacts { icmp: Some((8, 0)), hook: Hook::PreRouting, ifindex: 1, out_ifindex: None, len: 84, tstamp_ns: 0 };
    let mut small = [0u8; 40];
    assert!(encode_event(&mut small, 0, &ip, &facts).is_err());
}

#[test]
fn listener_reports_and_done_decode_as_the_tool_reads_them() {
    let mut buf = vec![0u8; LISTENER_MAX];
    let udp_tcp = Filter { families: 2, protos: protos(&[6, 17]), hook: Hook::PreRouting };
    let report = ListenerReport { portid: 99, filter: &udp_tcp, delivery: Delivery { batch: 64, flush_ms: 10, snaplen: 0 }, events_sent: 5, send_failures: 1, limits: NO_LIMITS, bpf_insns: None, suppressed_total: 0 };
    let mut datagram = encode_listener(&mut buf, 3, &report).unwrap().to_vec();
    let default = Filter { families: 3, protos: None, hook: Hook::Forward };
    let report = ListenerReport { portid: 7, filter: &default, delivery: Delivery::UNBATCHED, events_sent: 0, send_failures: 0, limits: NO_LIMITS, bpf_insns: None, suppressed_total: 0 };
    datagram.extend_from_slice(encode_listener(&mut buf, 3, &report).unwrap());
    let mut done = [0u8; 20];
    datagram.extend_from_slice(encode_done(&mut done, 3).unwrap());

    let decoded = decode(&datagram);
    let [Ok(Message::Listener { seq: 3, listener: first }), Ok(Message::Listener { listener: second, .. }), Ok(Message::Done { seq: 3, errno: 0 })] =
        &decoded[..]
    else {
        panic!("{decoded:?}")
    };
    assert_eq!(first.value.portid, 99);
    assert_eq!(first.value.families, Some(2));
    assert_eq!(first.value.protos.as_deref(), Some(&[6u8, 17][..]));
    assert_eq!((first.value.events_sent, first.value.send_failures), (5, 1));
    assert_eq!(second.value.protos, None, "the default filter has no IMP2_A_PROTOS");
    assert_eq!((first.value.batch, first.value.flush_ms), (Some(64), Some(10)));
    assert_eq!((second.value.batch, second.value.flush_ms), (None, None), "no batching: no attributes");
    assert_eq!((first.value.hook, second.value.hook), (Some(0), Some(2)), "IMP2_A_HOOK always");

    // The largest report: all 256 protocols.
    let all = Filter { families: 3, protos: Some([u64::MAX; 4]), hook: Hook::PostRouting };
    let batched = Delivery { batch: 1024, flush_ms: 10_000, snaplen: 0 };
    let report = ListenerReport { portid: 1, filter: &all, delivery: batched, events_sent: 0, send_failures: 0, limits: NO_LIMITS, bpf_insns: None, suppressed_total: 0 };
    let bytes = encode_listener(&mut buf, 0, &report).unwrap();
    let [Ok(Message::Listener { listener, .. })] = &decode(bytes)[..] else { panic!() };
    assert_eq!(listener.value.protos.as_ref().map(Vec::len), Some(256));
}

#[test]
fn a_batch_is_events_back_to_back_and_the_tool_reads_each() {
    let ip = IpHeader::ipv4(&ipv4(1, 0, &[8, 0])).unwrap();
    let facts = EventFacts { icmp: Some((8, 0)), hook: Hook::PreRouting, ifindex: 2, out_ifindex: None, len: 84, tstamp_ns: 7 };
    let mut datagram = Vec::new();
    for seq in 10..13 {
        let mut buf = [0u8; EVENT_MAX];
        datagram.extend_from_slice(encode_event(&mut buf, seq, &ip, &facts).unwrap());
    }
    let seqs: Vec<u32> = decode(&datagram)
        .into_iter()
        .map(|m| match m {
            Ok(Message::V2Event(ev)) => ev.value.seq,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(seqs, [10, 11, 12]);
}

#[test]
fn a_batch_is_due_when_full_or_when_the_largest_event_might_not_fit() {
    let d = Delivery { batch: 64, flush_ms: 10, snaplen: 0 };
    assert_eq!(d.capacity(), 64 * EVENT_MAX);
    assert!(!d.batch_full(63, 63 * EVENT_MAX, d.capacity()));
    assert!(d.batch_full(64, 64 * 100, d.capacity()));
    // A datagram sized under an earlier, smaller batch is due when it fills.
    let small = Delivery { batch: 4, flush_ms: 10, snaplen: 0 };
    assert!(d.batch_full(4, 4 * EVENT_MAX, small.capacity()));
    // Capped at IMP2_BATCH_BYTES_MAX: 1024 events never fit in one datagram.
    let big = Delivery { batch: 1024, flush_ms: 10, snaplen: 0 };
    assert_eq!(big.capacity(), ::imp2::abi::IMP2_BATCH_BYTES_MAX as usize);
    assert!(!big.batch_full(1, big.capacity() - EVENT_MAX, big.capacity()));
    assert!(big.batch_full(1, big.capacity() - EVENT_MAX + 1, big.capacity()));
    assert!(!Delivery::UNBATCHED.batched() && d.batched());
}

#[test]
fn the_fast_test_reads_the_ipv4_protocol_byte_alone() {
    assert_eq!(IpHeader::ipv4_protocol(&ipv4(1, 0, &[8, 0])), Some(1));
    assert_eq!(IpHeader::ipv4_protocol(&ipv4(6, 0x2000, &[])), Some(6));
    // Too short to tell: left to the full parse, which refuses it.
    let short = Bytes { data: vec![0x45; 9], upper: None };
    assert_eq!(IpHeader::ipv4_protocol(&short), None);
    assert!(IpHeader::ipv4(&short).is_none());
}

#[test]
fn protocol_interest_is_the_union_of_the_ipv4_filters() {
    let default = Filter { families: 3, protos: None, hook: Hook::PreRouting };
    let v6_udp = Filter { families: 2, protos: protos(&[17]), hook: Hook::PreRouting };
    let v4_tcp_255 = Filter { families: 1, protos: protos(&[6, 255]), hook: Hook::PreRouting };
    let interest = filter::ProtocolInterest::default();
    assert!((0..=255).all(|p| !interest.may_want(p)));
    let output_udp = Filter { families: 1, protos: protos(&[17]), hook: Hook::Output };
    let per_hook = filter::ipv4_protocols([default, v6_udp, v4_tcp_255, output_udp].iter());
    interest.set(&per_hook[Hook::PreRouting.wire() as usize]);
    let wanted: Vec<u8> = (0..=255).filter(|&p| interest.may_want(p)).collect();
    assert_eq!(wanted, vec![1, 6, 255]);
    // Each hook has its own: the output listener's UDP is not prerouting's.
    let output = filter::ProtocolInterest::default();
    output.set(&per_hook[Hook::Output.wire() as usize]);
    assert_eq!((0..=255).filter(|&p| output.may_want(p)).collect::<Vec<u8>>(), vec![17]);
    for hook in [Hook::Input, Hook::Forward, Hook::PostRouting] {
        assert_eq!(per_hook[hook.wire() as usize], [0; 4], "{hook:?}");
    }
    // Widening keeps what was there; setting narrows.
    interest.widen(&filter::ipv4_protocols([Filter { families: 1, protos: protos(&[17]), hook: Hook::PreRouting }].iter())[0]);
    assert!(interest.may_want(17) && interest.may_want(6));
    interest.set(&filter::ipv4_protocols([v6_udp].iter())[0]);
    assert!((0..=255).all(|p| !interest.may_want(p)));
}

#[test]
fn filters_match_at_their_own_hook_and_need_its_netfilter_hooks() {
    let icmp4 = IpHeader::ipv4(&ipv4(1, 0, &[8, 0])).unwrap();
    let output = Filter { families: 3, protos: None, hook: Hook::Output };
    assert!(output.matches(&icmp4, Hook::Output));
    for other in [Hook::PreRouting, Hook::Input, Hook::Forward, Hook::PostRouting] {
        assert!(!output.matches(&icmp4, other), "{other:?}");
    }
    // One netfilter hook per family it wants, at its hook.
    let needed: Vec<(IpVersion, Hook)> =
        output.hooks().each().into_iter().filter(|&(_, _, needed)| needed).map(|(v, h, _)| (v, h)).collect();
    assert_eq!(needed, vec![(IpVersion::V4, Hook::Output), (IpVersion::V6, Hook::Output)]);
    let v6_forward = Filter { families: 2, protos: None, hook: Hook::Forward };
    let both = output.hooks().union(v6_forward.hooks());
    assert!(both.contains(IpVersion::V6, Hook::Forward) && !both.contains(IpVersion::V4, Hook::Forward));
    assert_eq!(both.each().into_iter().filter(|&(_, _, needed)| needed).count(), 3);
    assert_eq!(both.each().len(), 10, "every family and hook pair, to switch off what is not needed");
    assert_eq!(HookSet::NONE.each().into_iter().filter(|&(_, _, needed)| needed).count(), 0);
    // IMP2_A_HOOK values: netfilter's numbers, nothing past postrouting.
    assert_eq!(Hook::from_wire(3), Some(Hook::Output));
    assert_eq!(Hook::from_wire(5), None);
    assert_eq!(Hook::from_wire(u32::MAX), None);
    assert!(Hook::ALL.iter().enumerate().all(|(i, h)| h.wire() as usize == i));
    assert!(!Hook::PreRouting.has_output() && !Hook::Input.has_output());
    assert!(Hook::Forward.has_output() && Hook::Output.has_output() && Hook::PostRouting.has_output());
}

#[test]
fn the_encoder_writes_every_byte_it_reports() {
    // In the kernel it writes into an skb's uninitialised tail room: what
    // was there before must not show through, padding included.
    let ip4 = IpHeader::ipv4(&ipv4(1, 0, &[8, 0])).unwrap();
    let upper = Ipv6UpperLayer { protocol: 17, offset: 40, first_fragment: true };
    let ip6 = IpHeader::ipv6(&ipv6(upper, &[])).unwrap();
    for (ip, icmp) in [(&ip4, Some((8, 0))), (&ip6, None)] {
        let facts = EventFacts { icmp, hook: Hook::PreRouting, ifindex: 3, out_ifindex: None, len: 84, tstamp_ns: 5 };
        let mut zeroed = [0u8; EVENT_MAX];
        let mut dirty = [0xa5u8; EVENT_MAX];
        let clean = encode_event(&mut zeroed, 9, ip, &facts).unwrap().to_vec();
        assert_eq!(encode_event(&mut dirty, 9, ip, &facts).unwrap(), &clean[..]);
    }
    let udp = Filter { families: 2, protos: protos(&[6, 17, 255]), hook: Hook::PreRouting };
    let report = ListenerReport { portid: 4, filter: &udp, delivery: Delivery { batch: 8, flush_ms: 5, snaplen: 0 }, events_sent: 1, send_failures: 2, limits: NO_LIMITS, bpf_insns: None, suppressed_total: 0 };
    let (mut zeroed, mut dirty) = (vec![0u8; LISTENER_MAX], vec![0xa5u8; LISTENER_MAX]);
    let clean = encode_listener(&mut zeroed, 1, &report).unwrap().to_vec();
    assert_eq!(encode_listener(&mut dirty, 1, &report).unwrap(), &clean[..]);
    let (mut zeroed, mut dirty) = ([0u8; 20], [0xa5u8; 20]);
    let clean = encode_done(&mut zeroed, 1).unwrap().to_vec();
    assert_eq!(encode_done(&mut dirty, 1).unwrap(), &clean[..]);
}

#[test]
fn payload_is_the_packets_first_bytes_and_the_suppressed_count_is_kept() {
    let p = ipv4(1, 0, &[8, 0, 0xab, 0xcd, 0x11, 0x22, 0x33]);
    let ip = IpHeader::ipv4(&p).unwrap();
    let facts = EventFacts { icmp: Some((8, 0)), hook: Hook::PreRouting, ifindex: 3, out_ifindex: None, len: p.data.len() as u32, tstamp_ns: 5 };
    let mut buf = [0u8; EVENT_MAX + 64];
    for payload_len in [1, 20, 23, 26, 27] {
        let part = ListenerPart { suppressed: Some(9), payload_len };
        let bytes = encode_event_with(&mut buf, 8, &ip, &facts, &part, &p.data[..]).unwrap();
        assert_eq!(bytes.len() % 4, 0, "the last attribute is padded too");
        let [Ok(Message::V2Event(ev))] = &decode(bytes)[..] else { panic!() };
        assert_eq!(ev.value.payload.as_deref(), Some(&p.data[..payload_len]));
        assert_eq!((ev.value.suppressed, ev.value.len), (Some(9), Some(27)));
    }
    // Never past the packet's end: a source that is shorter refuses the event.
    let part = ListenerPart { suppressed: None, payload_len: 28 };
    assert!(encode_event_with(&mut buf, 8, &ip, &facts, &part, &p.data[..]).is_err());
    // Room for the largest event with a snaplen (what Delivery sizes).
    let v6 = ipv6(Ipv6UpperLayer { protocol: 58, offset: 40, first_fragment: true }, &[128, 0]);
    let ip6 = IpHeader::ipv6(&v6).unwrap();
    let delivery = Delivery { snaplen: 41, ..Delivery::UNBATCHED };
    let mut exact = vec![0u8; delivery.event_max()];
    let part = ListenerPart { suppressed: Some(u64::MAX), payload_len: delivery.payload_len(v6.data.len() as u32) };
    let largest = EventFacts { hook: Hook::Output, out_ifindex: Some(1), ..facts };
    let written = encode_event_with(&mut exact, 1, &ip6, &largest, &part, &v6.data[..]).unwrap().len();
    assert_eq!(written, delivery.event_max());
}

#[test]
fn a_snaplen_sizes_events_and_batches() {
    assert_eq!(Delivery::UNBATCHED.event_max(), EVENT_MAX);
    let d = Delivery { batch: 8, flush_ms: 10, snaplen: 128 };
    assert_eq!(d.event_max(), EVENT_MAX + 4 + 128);
    assert_eq!(d.capacity(), 8 * d.event_max());
    assert_eq!((d.payload_len(84), d.payload_len(1500)), (84, 128));
    // Due when not even an event without bytes fits: one with bytes that
    // does not fit sends the batch before it (v2.rs).
    assert!(!d.batch_full(7, d.capacity() - EVENT_MAX, d.capacity()));
    assert!(d.batch_full(7, d.capacity() - EVENT_MAX + 1, d.capacity()));
    // Events are sized by the bytes they carry, not by the snaplen.
    assert_eq!(event_room(0), EVENT_MAX);
    assert_eq!(event_room(84), EVENT_MAX + 88);
    // The largest snaplen a batching listener may have still fits one event.
    let largest = Delivery { batch: 2, flush_ms: 10, snaplen: ::imp2::abi::IMP2_SNAPLEN_BATCH_MAX };
    assert!(largest.event_max() <= largest.capacity());
    // The largest snaplen of all fits an attribute's u16 length.
    let max = Delivery { snaplen: ::imp2::abi::IMP2_SNAPLEN_MAX, ..Delivery::UNBATCHED };
    let big = vec![0x45u8; 70_000];
    let ip = IpHeader::ipv4(&ipv4(1, 0, &[8, 0])).unwrap();
    let facts = EventFacts { icmp: Some((8, 0)), hook: Hook::PreRouting, ifindex: 1, out_ifindex: None, len: 70_000, tstamp_ns: 0 };
    let mut buf = vec![0u8; max.event_max()];
    let part = ListenerPart { suppressed: None, payload_len: max.payload_len(70_000) };
    let written = encode_event_with(&mut buf, 0, &ip, &facts, &part, &big[..]).unwrap().len();
    assert_eq!(part.payload_len, 65_531);
    assert!(written <= event_room(65_531));
    let over = ListenerPart { suppressed: None, payload_len: 65_532 };
    let mut bigger = vec![0u8; event_room(65_532)];
    assert!(encode_event_with(&mut bigger, 0, &ip, &facts, &over, &big[..]).is_err(), "nla_len would overflow");
}

/// Offers `packets` matching packets at `now_ns(i)`; returns the
/// suppressed counts of the events admitted.
fn offer(state: &LimitState, limits: &Limits, packets: u64, now_ns: impl Fn(u64) -> u64) -> Vec<u64> {
    (0..packets).filter_map(|i| state.admit(limits, || now_ns(i))).collect()
}

#[test]
fn sampling_takes_one_in_n_and_the_counts_add_up() {
    let state = LimitState::default();
    let limits = Limits { sample: 10, rate: None };
    let events = offer(&state, &limits, 1000, |_| 0);
    assert_eq!(events.len(), 100);
    // The first packet is taken; each later event stands for 9 left out.
    assert_eq!(events[0], 0);
    assert!(events[1..].iter().all(|&s| s == 9));
    // events x (1 + suppressed) = packets up to the last event; the 9
    // after it wait for the next.
    assert_eq!(events.iter().map(|s| 1 + s).sum::<u64>(), 991);
    assert_eq!(state.total(), 900);
}

#[test]
fn the_rate_limit_allows_a_burst_then_the_rate() {
    let state = LimitState::default();
    let limits = Limits { sample: 1, rate: Some(Rate { per_sec: 50, burst: 5 }) };
    // A packet every millisecond for two seconds, from a clock far from 0.
    let start = 7_000_000_000_000;
    let events = offer(&state, &limits, 2000, |i| start + i * 1_000_000);
    assert_eq!(events.len(), 5 + 100 - 1, "the burst, then one every 20 ms");
    assert_eq!(events.len() as u64 + state.total(), 2000);
    // An idle bucket fills up to the burst only.
    let later = start + 60 * 1_000_000_000;
    assert_eq!(offer(&state, &limits, 100, |_| later).len(), 5);
    // Burst 1: exactly the rate.
    let strict = LimitState::default();
    let one = Limits { sample: 1, rate: Some(Rate { per_sec: 1000, burst: 1 }) };
    assert_eq!(offer(&strict, &one, 10_000, |i| i * 100_000).len(), 1000);
}

#[test]
fn sampling_comes_before_the_rate_limit() {
    let state = LimitState::default();
    let limits = Limits { sample: 2, rate: Some(Rate { per_sec: 1, burst: 1 }) };
    let events = offer(&state, &limits, 10, |_| 1);
    assert_eq!(events, [0]);
    assert_eq!(state.total(), 9);
    let later = 10_000_000_000;
    // The 11th packet passes both, 9 left out before it; the 12th is sampled out.
    assert_eq!(offer(&state, &limits, 2, |_| later), [9]);
    assert_eq!(state.total(), 10);
}

#[test]
fn a_faster_rate_forgets_what_a_slower_one_booked() {
    let state = LimitState::default();
    // 1/s with a burst of a million: a flood books the bucket far ahead.
    let slow = Limits { sample: 1, rate: Some(Rate { per_sec: 1, burst: 1_000_000 }) };
    assert_eq!(offer(&state, &slow, 1000, |_| 5).len(), 1000);
    // 1000/s with a burst of 10 starts afresh instead of waiting 1000 s.
    let fast = Limits { sample: 1, rate: Some(Rate { per_sec: 1000, burst: 10 }) };
    assert_eq!(offer(&state, &fast, 100, |_| 1_000_000).len(), 10);
    // ... and keeps up with a packet per millisecond.
    assert_eq!(offer(&state, &fast, 100, |i| 2_000_000_000 + i * 1_000_000).len(), 100);
}

#[test]
fn concurrent_admissions_account_for_every_packet() {
    let state = std::sync::Arc::new(LimitState::default());
    let limits = Limits { sample: 7, rate: Some(Rate { per_sec: 1_000_000, burst: 100 }) };
    let clock = std::time::Instant::now();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let state = state.clone();
            std::thread::spawn(move || {
                let events = offer(&state, &limits, 100_000, |_| clock.elapsed().as_nanos() as u64);
                (events.len() as u64, events.iter().sum::<u64>())
            })
        })
        .collect();
    let (mut events, mut reported) = (0, 0);
    for t in threads {
        let (e, r) = t.join().unwrap();
        events += e;
        reported += r;
    }
    // Exactly one in 7 passes sampling, whichever CPU counts it.
    assert!(events <= 400_000 / 7 + 1);
    assert_eq!(events + state.total(), 400_000, "every packet is an event or counted as left out");
    // Each left-out packet is reported by at most one event.
    assert!(reported <= state.total());
}
