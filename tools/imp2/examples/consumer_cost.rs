//! What `imp2 monitor --quiet` spends per event once a datagram is in
//! memory, on datagrams the module's own encoder produced: the same
//! `Consumer::datagram` the monitor calls, without the socket.
//!
//!   consumer_cost [--rounds N] [--batch B] [--datagrams D] [--ipv6]
//!
//! Run it under callgrind (`scripts/consumer-profile.sh`) with two round
//! counts: the difference is the per-event cost, free of start-up.

#![allow(dead_code, unreachable_pub)]

include!("../tests/common/module.rs");

use crate::imp2::{
    event::{EventFacts, EVENT_MAX},
    filter::Hook,
    packet::{IpHeader, Ipv6UpperLayer},
};
use ::imp2::consumer::{Consumer, Flow, Seen, Summary};
use std::hint::black_box;

fn arg(args: &[String], name: &str, default: usize) -> usize {
    match args.iter().position(|a| a == name) {
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| {
                eprintln!("consumer_cost: {name} needs a number");
                std::process::exit(2)
            }),
        None => default,
    }
}

/// The measured part (callgrind's `--toggle-collect=*consume*`): what the
/// monitor does with each datagram after `recv`, with `--quiet`.
#[inline(never)]
fn consume(datagrams: &[Vec<u8>]) -> Consumer {
    let mut consumer =
        Consumer { summary: Summary::new(true), subscribe_seq: u32::MAX - 1, unsubscribe_seq: u32::MAX, count: None };
    for datagram in datagrams {
        let flow = consumer.datagram(black_box(datagram), |seen| {
            black_box(matches!(seen, Seen::V2(_)));
            true
        });
        assert_eq!(flow, Flow::More);
    }
    consumer
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rounds = arg(&args, "--rounds", 1);
    let batch = arg(&args, "--batch", 64);
    let datagrams = arg(&args, "--datagrams", 16);
    let packet = if args.iter().any(|a| a == "--ipv6") {
        ipv6(
            Ipv6UpperLayer {
                protocol: 58,
                offset: 40,
                first_fragment: true,
            },
            &[128, 0, 0, 0],
        )
    } else {
        ipv4(1, 0, &[8, 0, 0, 0])
    };
    let ip = IpHeader::ipv4(&packet)
        .or_else(|| IpHeader::ipv6(&packet))
        .expect("a valid packet");
    let facts = EventFacts {
        icmp: Some((8, 0)),
        hook: Hook::PreRouting,
        ifindex: 2,
        out_ifindex: None,
        len: 84,
        tstamp_ns: 1_764_000_000_000_000_000,
    };

    // Consecutive sequence numbers across datagrams and rounds, as a
    // listener sees them: no gaps to account for.
    let mut seq = 0u32;
    let mut built = Vec::new();
    for _ in 0..rounds * datagrams {
        let mut datagram = Vec::with_capacity(batch * EVENT_MAX);
        for _ in 0..batch {
            let mut buf = [0u8; EVENT_MAX];
            datagram.extend_from_slice(encode_event(&mut buf, seq, &ip, &facts).expect("fits"));
            seq = seq.wrapping_add(1);
        }
        built.push(datagram);
    }

    let mut consumer = Consumer {
        summary: Summary::new(true),
        subscribe_seq: u32::MAX - 1,
        unsubscribe_seq: u32::MAX,
        count: None,
    };
    for datagram in &built {
        let flow = consumer.datagram(black_box(datagram), |seen| {
            black_box(matches!(seen, Seen::V2(_)));
            true
        });
        assert_eq!(flow, Flow::More);
    }
    let s = &consumer.summary;
    assert_eq!(
        (s.events, s.missed, s.malformed),
        ((rounds * datagrams * batch) as u64, 0, 0),
        "{}",
        s.text()
    );
    println!("{}", s.text());
}
