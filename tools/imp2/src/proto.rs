//! Encoding requests to, and decoding messages from, the imp2 module.
//!
//! Requests are framed with `netlink_packet_core::NetlinkHeader`; what
//! the kernel sends is split by hand (`Messages`, on the event hot path).
//! The generic `NetlinkMessage` parser must NOT be used on this protocol. imp2's 2007 message types collide with the netlink
//! control types: `IMP2_K_MSG` (1) is `NLMSG_NOOP` and `IMP2_CLOSE` (2) is
//! `NLMSG_ERROR`, so a generic parser would swallow every event as a no-op.
//! From the kernel, type 2 can only be an ack/error (the module never sends
//! `IMP2_CLOSE`), so we decode it as `NLMSG_ERROR` explicitly here; type 3
//! from the kernel is `NLMSG_DONE`, the end of the v2 listener list.

use crate::abi;
use crate::v2::{self, AttrError, Decoded, Listener};
use netlink_packet_core::{NetlinkHeader, NlaBuffer, NlasIterator, NLM_F_ACK, NLM_F_REQUEST};
use netlink_packet_core::Emitable;
use std::fmt;
use std::net::Ipv4Addr;

/// `sizeof(struct nlmsghdr)`.
pub const NLMSG_HDRLEN: usize = 16;
/// `NLMSG_ERROR`: the kernel's ack/error message (same number as `IMP2_CLOSE`).
pub const NLMSG_ERROR: u16 = 2;
/// `NLMSG_DONE`: ends a multipart reply (the v2 listener list).
pub const NLMSG_DONE: u16 = 3;
/// Flags of an `NLMSG_ERROR` (linux/netlink.h): the echoed request was
/// cut to its header (`NETLINK_CAP_ACK`, or any ack), and extended-ack
/// TLVs follow it.
pub const NLM_F_CAPPED: u16 = 0x100;
pub const NLM_F_ACK_TLVS: u16 = 0x200;
/// `enum nlmsgerr_attrs`: the extended-ack text, and the offset of the
/// offending attribute in the request.
const NLMSGERR_ATTR_MSG: u16 = 1;
const NLMSGERR_ATTR_OFFS: u16 = 2;

const PACKET_INFO_LEN: usize = std::mem::size_of::<abi::packet_info>();
const STATS_LEN: usize = std::mem::size_of::<abi::imp2_stats>();
/// Modules before `requests_refused` send the first 56 bytes only.
const STATS_LEN_BEFORE_REFUSED: usize = std::mem::offset_of!(abi::imp2_stats, requests_refused);

/// Rounds up to netlink's 4-byte alignment.
fn nlmsg_align(len: usize) -> usize {
    (len + 3) & !3
}

/// A request to send to the module: a bare `nlmsghdr`, as in 2007.
pub fn encode_request(msg_type: u16, flags: u16, seq: u32, portid: u32) -> Vec<u8> {
    encode_request_with_attrs(msg_type, flags, seq, portid, &[])
}

/// A v2 request: the `nlmsghdr`, then the (already aligned) attributes.
pub fn encode_request_with_attrs(msg_type: u16, flags: u16, seq: u32, portid: u32, attrs: &[u8]) -> Vec<u8> {
    let mut header = NetlinkHeader::default();
    header.length = (NLMSG_HDRLEN + attrs.len()) as u32;
    header.message_type = msg_type;
    header.flags = flags;
    header.sequence_number = seq;
    header.port_number = portid;
    let mut buf = vec![0u8; header.buffer_len()];
    header.emit(&mut buf);
    buf.extend_from_slice(attrs);
    buf
}

/// Subscribe, asking for an ack so that a refusal (EPERM) is visible.
pub fn subscribe_request(seq: u32, portid: u32) -> Vec<u8> {
    encode_request(abi::U_PID, NLM_F_REQUEST | NLM_F_ACK, seq, portid)
}

/// Unsubscribe. No ack: we close the socket right after.
pub fn close_request(seq: u32, portid: u32) -> Vec<u8> {
    encode_request(abi::CLOSE, NLM_F_REQUEST, seq, portid)
}

/// Ask for the netns counters.
pub fn stats_request(seq: u32, portid: u32) -> Vec<u8> {
    encode_request(abi::STATS_GET, NLM_F_REQUEST | NLM_F_ACK, seq, portid)
}

/// Become a v2 listener for `filter` (or replace our own filter), acked.
pub fn v2_subscribe_request(seq: u32, portid: u32, filter: &v2::Filter) -> Vec<u8> {
    let attrs = v2::subscribe_attrs(filter);
    encode_request_with_attrs(abi::V2_SUBSCRIBE, NLM_F_REQUEST | NLM_F_ACK, seq, portid, &attrs)
}

/// Stop listening. Acked: events still batched for the listener arrive
/// before the ack, so reading up to it loses none.
pub fn v2_unsubscribe_request(seq: u32, portid: u32) -> Vec<u8> {
    encode_request(abi::V2_UNSUBSCRIBE, NLM_F_REQUEST | NLM_F_ACK, seq, portid)
}

/// Ask for the v2 listener list: `IMP2_LISTENER`s, `NLMSG_DONE`, the ack.
pub fn listeners_request(seq: u32, portid: u32) -> Vec<u8> {
    encode_request(abi::LISTENERS_GET, NLM_F_REQUEST | NLM_F_ACK, seq, portid)
}

/// The type of the attribute that starts at byte `offset` of `request`,
/// as an extended ack points at it (`NLMSGERR_ATTR_OFFS`).
pub fn attr_type_at(request: &[u8], offset: u32) -> Option<u16> {
    let offset = usize::try_from(offset).ok().filter(|&offset| offset >= NLMSG_HDRLEN)?;
    let nla = NlaBuffer::new_checked(request.get(offset..)?).ok()?;
    Some(nla.kind())
}

/// One event: an ICMP packet seen by the hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    pub seq: u32,
    pub src: Ipv4Addr,
    pub dest: Ipv4Addr,
}

/// The module's per-netns counters (`struct imp2_stats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    pub events_sent: u64,
    pub send_failures: u64,
    pub alloc_failures: u64,
    pub rejected_msgs: u64,
    pub packets_seen: u64,
    /// Of `send_failures`: ECONNREFUSED, the subscriber's port was gone.
    pub send_refused: u64,
    /// 0 when nobody is subscribed.
    pub subscriber_portid: u32,
    pub unit: u32,
    /// Datagrams refused because the netns's request queue for their
    /// sender's class was full (0 from modules that predate it).
    pub requests_refused: u64,
}

/// The kernel's answer to a request: an ack (`errno == 0`) or an error.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ack {
    /// The request's `nlmsg_seq`.
    pub seq: u32,
    pub errno: i32,
    /// The extended-ack text (`NLMSGERR_ATTR_MSG`), if any.
    pub ext_msg: Option<String>,
    /// Where in the request the offending attribute starts
    /// (`NLMSGERR_ATTR_OFFS`, from the start of its `nlmsghdr`).
    pub bad_attr_offset: Option<u32>,
}

/// A decoded message from the module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    Event(Event),
    Stats { seq: u32, stats: Stats },
    Ack(Ack),
    /// One v2 event (`IMP2_V2_EVENT`).
    V2Event(Decoded<v2::Event>),
    /// One v2 listener of a listener list (`IMP2_LISTENER`).
    Listener { seq: u32, listener: Decoded<Listener> },
    /// The end of a multipart reply; `errno` is the error the dump ended
    /// with (the `int` payload, negated), 0 if none.
    Done { seq: u32, errno: i32 },
    /// A well-framed message of a type we do not know; skipped.
    Unknown { msg_type: u16 },
}

/// Why a message could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The buffer ends inside a header, or `nlmsg_len` is impossible.
    Framing(String),
    /// A known type whose payload is too short.
    ShortPayload { msg_type: u16, len: usize, need: usize },
    /// A v2 message with malformed attributes.
    Attributes { msg_type: u16, error: AttrError },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Framing(why) => write!(f, "bad framing: {why}"),
            DecodeError::ShortPayload { msg_type, len, need } => {
                write!(f, "message type {msg_type} has a {len}-byte payload, need {need}")
            }
            DecodeError::Attributes { msg_type, error } => write!(f, "message type {msg_type:#x}: {error}"),
        }
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(b[at..at + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_ne_bytes(b[at..at + 8].try_into().unwrap())
}

/// Decodes an `NLMSG_ERROR` payload: `struct nlmsgerr` (the error, then
/// the request's header, and its payload unless `NLM_F_CAPPED`), then
/// extended-ack TLVs if `NLM_F_ACK_TLVS`. Broken TLVs lose only the text.
fn decode_ack(flags: u16, payload: &[u8]) -> Ack {
    let errno = (u32_at(payload, 0) as i32).wrapping_neg();
    let request = &payload[4..];
    let mut ack = Ack { seq: u32_at(request, 8), errno, ..Ack::default() };
    if flags & NLM_F_ACK_TLVS == 0 {
        return ack;
    }
    let echoed = if flags & NLM_F_CAPPED != 0 {
        NLMSG_HDRLEN
    } else {
        nlmsg_align(u32_at(request, 0) as usize)
    };
    let Some(tlvs) = request.get(echoed..) else { return ack };
    for nla in NlasIterator::new(tlvs).map_while(Result::ok) {
        match nla.kind() {
            NLMSGERR_ATTR_MSG => {
                let text = nla.value().split(|&b| b == 0).next().unwrap_or_default();
                ack.ext_msg = Some(String::from_utf8_lossy(text).into_owned());
            }
            NLMSGERR_ATTR_OFFS if nla.value().len() == 4 => ack.bad_attr_offset = Some(u32_at(nla.value(), 0)),
            _ => {}
        }
    }
    ack
}

fn decode_one(msg_type: u16, flags: u16, seq: u32, payload: &[u8]) -> Result<Message, DecodeError> {
    let need = |need: usize| {
        if payload.len() < need {
            Err(DecodeError::ShortPayload { msg_type, len: payload.len(), need })
        } else {
            Ok(())
        }
    };
    match msg_type {
        abi::K_MSG => {
            need(PACKET_INFO_LEN)?;
            // Addresses are in network byte order: the bytes as on the wire.
            let addr = |at: usize| Ipv4Addr::from(<[u8; 4]>::try_from(&payload[at..at + 4]).unwrap());
            Ok(Message::Event(Event { seq, src: addr(0), dest: addr(4) }))
        }
        abi::STATS => {
            need(STATS_LEN_BEFORE_REFUSED)?;
            let stats = Stats {
                events_sent: u64_at(payload, 0),
                send_failures: u64_at(payload, 8),
                alloc_failures: u64_at(payload, 16),
                rejected_msgs: u64_at(payload, 24),
                packets_seen: u64_at(payload, 32),
                send_refused: u64_at(payload, 40),
                subscriber_portid: u32_at(payload, 48),
                unit: u32_at(payload, 52),
                requests_refused: if payload.len() >= STATS_LEN { u64_at(payload, 56) } else { 0 },
            };
            Ok(Message::Stats { seq, stats })
        }
        NLMSG_ERROR => {
            // struct nlmsgerr { int error; struct nlmsghdr msg; ... }
            need(4 + NLMSG_HDRLEN)?;
            Ok(Message::Ack(decode_ack(flags, payload)))
        }
        NLMSG_DONE => {
            let errno = if payload.len() >= 4 { (u32_at(payload, 0) as i32).wrapping_neg() } else { 0 };
            Ok(Message::Done { seq, errno })
        }
        abi::V2_EVENT => v2::decode_event(seq, payload)
            .map(Message::V2Event)
            .map_err(|error| DecodeError::Attributes { msg_type, error }),
        abi::LISTENER => v2::decode_listener(payload)
            .map(|listener| Message::Listener { seq, listener })
            .map_err(|error| DecodeError::Attributes { msg_type, error }),
        other => Ok(Message::Unknown { msg_type: other }),
    }
}

/// The messages of one received datagram, decoded one at a time (the
/// monitor's path: nothing is collected). After a framing error nothing
/// more can be found: it is the last item.
///
/// The header is read by hand, like the event attributes (`v2.rs`):
/// `NetlinkBuffer::new_checked` and its accessors cost about 200
/// instructions per message in `examples/consumer_cost.rs`, which is most
/// of a batched event's framing.
pub struct Messages<'a> {
    rest: &'a [u8],
}

/// Iterates over the messages in `buf`.
pub fn messages(buf: &[u8]) -> Messages<'_> {
    Messages { rest: buf }
}

impl Iterator for Messages<'_> {
    type Item = Result<Message, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let rest = self.rest;
        // struct nlmsghdr { __u32 nlmsg_len; __u16 nlmsg_type, nlmsg_flags; __u32 nlmsg_seq, nlmsg_pid; }
        let Some(header) = rest.get(..NLMSG_HDRLEN) else {
            self.rest = &[];
            let why = format!("{} bytes left, less than a netlink header", rest.len());
            return Some(Err(DecodeError::Framing(why)));
        };
        let len = u32_at(header, 0) as usize;
        let Some(payload) = rest.get(NLMSG_HDRLEN..len) else {
            self.rest = &[];
            return Some(Err(DecodeError::Framing(format!("nlmsg_len {len} with {} bytes left", rest.len()))));
        };
        let msg_type = u16::from_ne_bytes([header[4], header[5]]);
        let flags = u16::from_ne_bytes([header[6], header[7]]);
        let msg = decode_one(msg_type, flags, u32_at(header, 8), payload);
        self.rest = rest.get(nlmsg_align(len)..).unwrap_or_default();
        Some(msg)
    }
}

/// Splits one received datagram into messages. Each item is decoded on its
/// own; after a framing error nothing more can be found and decoding stops.
pub fn decode(buf: &[u8]) -> Vec<Result<Message, DecodeError>> {
    messages(buf).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(msg_type: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut buf = encode_request(msg_type, 0, seq, 0);
        buf.extend_from_slice(payload);
        let len = buf.len() as u32;
        buf[0..4].copy_from_slice(&len.to_ne_bytes());
        buf.resize(nlmsg_align(buf.len()), 0);
        buf
    }

    fn event(seq: u32, src: [u8; 4], dest: [u8; 4]) -> Vec<u8> {
        message(abi::K_MSG, seq, &[src, dest].concat())
    }

    #[test]
    fn requests_are_bare_2007_headers() {
        let buf = subscribe_request(7, 1234);
        assert_eq!(buf.len(), 16);
        assert_eq!(u32_at(&buf, 0), 16);
        assert_eq!(u16::from_ne_bytes([buf[4], buf[5]]), 0, "IMP2_U_PID");
        assert_eq!(u16::from_ne_bytes([buf[6], buf[7]]), NLM_F_REQUEST | NLM_F_ACK);
        assert_eq!(u32_at(&buf, 8), 7);
        assert_eq!(u32_at(&buf, 12), 1234);
        let close = close_request(8, 1234);
        assert_eq!(u16::from_ne_bytes([close[4], close[5]]), 2, "IMP2_CLOSE");
        assert_eq!(u16::from_ne_bytes([close[6], close[7]]) & NLM_F_ACK, 0);
        assert_eq!(u16::from_ne_bytes(stats_request(1, 0)[4..6].try_into().unwrap()), 0x10);
    }

    #[test]
    fn abi_layout_matches_the_2007_protocol() {
        assert_eq!(abi::DEFAULT_UNIT, 31);
        assert_eq!((abi::U_PID, abi::K_MSG, abi::CLOSE), (0, 1, 2));
        assert_eq!(PACKET_INFO_LEN, 8);
        assert_eq!((STATS_LEN_BEFORE_REFUSED, STATS_LEN), (56, 64));
    }

    #[test]
    fn event_is_not_swallowed_as_noop() {
        // Type 1 is NLMSG_NOOP to a generic parser; to us it is an event.
        let got = decode(&event(5, [10, 0, 0, 2], [10, 0, 0, 1]));
        assert_eq!(
            got,
            vec![Ok(Message::Event(Event {
                seq: 5,
                src: Ipv4Addr::new(10, 0, 0, 2),
                dest: Ipv4Addr::new(10, 0, 0, 1),
            }))]
        );
    }

    #[test]
    fn ack_and_error_decode_errno_and_request_seq() {
        let mut payload = (-1i32).to_ne_bytes().to_vec(); // -EPERM
        payload.extend_from_slice(&subscribe_request(42, 9));
        let want = Ack { seq: 42, errno: 1, ..Ack::default() };
        assert_eq!(decode(&message(NLMSG_ERROR, 42, &payload)), vec![Ok(Message::Ack(want))]);
        let mut ok = 0i32.to_ne_bytes().to_vec();
        ok.extend_from_slice(&subscribe_request(43, 9));
        let want = Ack { seq: 43, errno: 0, ..Ack::default() };
        assert_eq!(decode(&message(NLMSG_ERROR, 43, &ok)), vec![Ok(Message::Ack(want))]);
    }

    #[test]
    fn stats_decode() {
        let mut payload = Vec::new();
        for v in [1u64, 2, 3, 4, 5, 6] {
            payload.extend_from_slice(&v.to_ne_bytes());
        }
        payload.extend_from_slice(&77u32.to_ne_bytes());
        payload.extend_from_slice(&31u32.to_ne_bytes());
        let got = decode(&message(abi::STATS, 3, &payload));
        let mut want = Stats {
            events_sent: 1,
            send_failures: 2,
            alloc_failures: 3,
            rejected_msgs: 4,
            packets_seen: 5,
            send_refused: 6,
            subscriber_portid: 77,
            unit: 31,
            requests_refused: 0,
        };
        // A module before requests_refused: 56 bytes, read as 0.
        assert_eq!(got, vec![Ok(Message::Stats { seq: 3, stats: want })]);
        payload.extend_from_slice(&9u64.to_ne_bytes());
        want.requests_refused = 9;
        let got = decode(&message(abi::STATS, 3, &payload));
        assert_eq!(got, vec![Ok(Message::Stats { seq: 3, stats: want })]);
        // Shorter than the oldest layout: refused.
        assert!(decode(&message(abi::STATS, 3, &payload[..52]))[0].is_err());
    }

    #[test]
    fn multi_message_buffer() {
        let mut buf = event(1, [1, 1, 1, 1], [2, 2, 2, 2]);
        buf.extend(message(0x55, 0, &[0xaa; 3])); // unknown, unaligned payload
        buf.extend(event(2, [3, 3, 3, 3], [4, 4, 4, 4]));
        let got = decode(&buf);
        assert_eq!(got.len(), 3);
        assert!(matches!(got[0], Ok(Message::Event(Event { seq: 1, .. }))));
        assert_eq!(got[1], Ok(Message::Unknown { msg_type: 0x55 }));
        assert!(matches!(got[2], Ok(Message::Event(Event { seq: 2, .. }))));
    }

    #[test]
    fn truncated_header_is_an_error() {
        let buf = event(1, [1, 1, 1, 1], [2, 2, 2, 2]);
        for cut in [1, 8, 15] {
            let got = decode(&buf[..cut]);
            assert!(matches!(got.as_slice(), [Err(DecodeError::Framing(_))]), "cut at {cut}: {got:?}");
        }
        assert!(decode(&[]).is_empty());
    }

    #[test]
    fn wrong_nlmsg_len_is_an_error() {
        let mut buf = event(1, [1, 1, 1, 1], [2, 2, 2, 2]);
        buf[0..4].copy_from_slice(&200u32.to_ne_bytes()); // longer than the datagram
        assert!(matches!(decode(&buf).as_slice(), [Err(DecodeError::Framing(_))]));
        buf[0..4].copy_from_slice(&4u32.to_ne_bytes()); // shorter than a header
        assert!(matches!(decode(&buf).as_slice(), [Err(DecodeError::Framing(_))]));
        buf[0..4].copy_from_slice(&0u32.to_ne_bytes());
        assert!(matches!(decode(&buf).as_slice(), [Err(DecodeError::Framing(_))]));
    }

    #[test]
    fn short_event_payload_is_reported_not_panicking() {
        let got = decode(&message(abi::K_MSG, 1, &[1, 2, 3]));
        assert_eq!(got, vec![Err(DecodeError::ShortPayload { msg_type: 1, len: 3, need: 8 })]);
        let got = decode(&message(abi::STATS, 1, &[0; 55]));
        assert!(matches!(got.as_slice(), [Err(DecodeError::ShortPayload { need: 56, .. })]));
    }

    #[test]
    fn good_messages_before_a_bad_one_survive() {
        let mut buf = event(1, [1, 1, 1, 1], [2, 2, 2, 2]);
        buf.extend_from_slice(&[0xff; 10]);
        let got = decode(&buf);
        assert_eq!(got.len(), 2);
        assert!(got[0].is_ok());
        assert!(got[1].is_err());
    }
}
