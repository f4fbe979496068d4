//! Host-side tests of the kernel module's own netlink framing code
//! (`src/nlmsg.rs`), which is plain `core` Rust and compiles here as is.

#[allow(dead_code, unreachable_pub)]
#[path = "../../../src/wire/nlmsg.rs"]
mod nlmsg;

use nlmsg::{FramingError, Messages};

fn msg(len: u32, msg_type: u16, flags: u16, seq: u32, pid: u32, payload: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&len.to_ne_bytes());
    b.extend_from_slice(&msg_type.to_ne_bytes());
    b.extend_from_slice(&flags.to_ne_bytes());
    b.extend_from_slice(&seq.to_ne_bytes());
    b.extend_from_slice(&pid.to_ne_bytes());
    b.extend_from_slice(payload);
    b
}

#[test]
fn the_2007_subscribe_is_one_message() {
    let buf = msg(16, 0, 0, 0, 1234, &[]);
    let got: Vec<_> = Messages::new(&buf).collect();
    assert_eq!(got.len(), 1);
    let m = got[0].unwrap();
    assert_eq!((m.offset, m.header.msg_type, m.header.claimed_pid), (0, 0, 1234));
}

#[test]
fn several_messages_with_alignment_padding() {
    let mut buf = msg(18, 0x10, 4, 1, 0, &[7, 7]);
    buf.extend_from_slice(&[0, 0]); // NLMSG_ALIGN padding
    buf.extend(msg(16, 2, 0, 2, 0, &[]));
    let got: Vec<_> = Messages::new(&buf).map(|m| m.unwrap()).collect();
    assert_eq!(got.len(), 2);
    assert_eq!((got[1].offset, got[1].header.msg_type), (20, 2));
}

#[test]
fn empty_and_short_buffers_are_truncated() {
    let got: Vec<_> = Messages::new(&[]).collect();
    assert_eq!(got, vec![Err(FramingError::Truncated { offset: 0, remaining: 0 })]);
    let got: Vec<_> = Messages::new(&[1, 2, 3]).collect();
    assert_eq!(got, vec![Err(FramingError::Truncated { offset: 0, remaining: 3 })]);
}

#[test]
fn bad_lengths_stop_framing() {
    for len in [0u32, 15, 17, 0xffff_ffff] {
        let buf = msg(len, 0, 0, 0, 0, &[]);
        let got: Vec<_> = Messages::new(&buf).collect();
        assert!(
            matches!(got.as_slice(), [Err(FramingError::BadLength { .. })]),
            "len {len}: {got:?}"
        );
    }
}

#[test]
fn garbage_after_a_good_message_is_reported_once() {
    let mut buf = msg(16, 0, 0, 0, 0, &[]);
    buf.extend_from_slice(&[9; 5]);
    let got: Vec<_> = Messages::new(&buf).collect();
    assert_eq!(got.len(), 2);
    assert!(got[0].is_ok());
    assert_eq!(got[1], Err(FramingError::Truncated { offset: 16, remaining: 5 }));
}

#[test]
fn never_reads_past_the_end_on_random_input() {
    // A cheap deterministic fuzz: every prefix of a mixed buffer frames
    // without panicking and never yields a message beyond the buffer.
    let mut buf = Vec::new();
    let mut x: u32 = 0x1234_5678;
    for _ in 0..512 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf.push(x as u8);
    }
    for end in 0..buf.len() {
        for m in Messages::new(&buf[..end]).flatten() {
            assert!(m.offset + m.header.len as usize <= end);
        }
    }
}
