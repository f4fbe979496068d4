//! Protocol v2 at the datagram level: requests as the module receives
//! them, and replies as the module sends them (listener lists with
//! NLMSG_DONE and the ack, events, extended acks), through `proto::decode`.

use imp2::abi::{self, attr};
use imp2::proto::{self, Ack, DecodeError, Message, NLMSG_DONE, NLMSG_ERROR, NLM_F_ACK_TLVS, NLM_F_CAPPED};
use imp2::v2::{self, AttrError, Filter, Listener};
use netlink_packet_core::{NLA_F_NESTED, NLM_F_ACK, NLM_F_MULTIPART, NLM_F_REQUEST};

const HDRLEN: usize = 16;

fn nla(kind: u16, value: &[u8]) -> Vec<u8> {
    let mut b = ((4 + value.len()) as u16).to_ne_bytes().to_vec();
    b.extend_from_slice(&kind.to_ne_bytes());
    b.extend_from_slice(value);
    b.resize((b.len() + 3) & !3, 0);
    b
}

/// One netlink message as the kernel frames it.
fn message(msg_type: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
    let mut b = ((HDRLEN + payload.len()) as u32).to_ne_bytes().to_vec();
    b.extend_from_slice(&msg_type.to_ne_bytes());
    b.extend_from_slice(&flags.to_ne_bytes());
    b.extend_from_slice(&seq.to_ne_bytes());
    b.extend_from_slice(&0u32.to_ne_bytes());
    b.extend_from_slice(payload);
    b.resize((b.len() + 3) & !3, 0);
    b
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(b[at..at + 4].try_into().unwrap())
}

/// An NLMSG_ERROR for `request`: capped (header only) or with the whole
/// request echoed, then extended-ack TLVs if any.
fn error_reply(errno: i32, request: &[u8], capped: bool, tlvs: &[u8]) -> Vec<u8> {
    let mut payload = (-errno).to_ne_bytes().to_vec();
    payload.extend_from_slice(if capped { &request[..HDRLEN] } else { request });
    payload.extend_from_slice(tlvs);
    let mut flags = if capped { NLM_F_CAPPED } else { 0 };
    if !tlvs.is_empty() {
        flags |= NLM_F_ACK_TLVS;
    }
    message(NLMSG_ERROR, flags, u32_at(request, 8), &payload)
}

#[test]
fn v2_requests_are_acked_requests_with_attributes() {
    let filter = Filter { families: Some(abi::IMP2_FAMILY_IPV4), protos: Some(vec![1]), ..Filter::default() };
    let req = proto::v2_subscribe_request(7, 99, &filter);
    let attrs =
        [nla(attr::FAMILIES, &1u32.to_ne_bytes()), nla(attr::PROTOS | NLA_F_NESTED, &nla(attr::PROTO, &[1]))].concat();
    assert_eq!(u32_at(&req, 0) as usize, HDRLEN + attrs.len());
    assert_eq!(u16_at(&req, 4), 0x20);
    assert_eq!(u16_at(&req, 6), NLM_F_REQUEST | NLM_F_ACK);
    assert_eq!((u32_at(&req, 8), u32_at(&req, 12)), (7, 99));
    assert_eq!(&req[HDRLEN..], &attrs[..]);

    let default = proto::v2_subscribe_request(1, 0, &Filter::default());
    assert_eq!((default.len(), u32_at(&default, 0), u16_at(&default, 4)), (16, 16, 0x20));

    let unsub = proto::v2_unsubscribe_request(2, 99);
    // Acked: the tool reads up to the ack, collecting batched events.
    assert_eq!((unsub.len(), u16_at(&unsub, 4), u16_at(&unsub, 6)), (16, 0x21, NLM_F_REQUEST | NLM_F_ACK));

    let batched = Filter { batch: Some(64), flush_ms: Some(10), ..Filter::default() };
    let req = proto::v2_subscribe_request(1, 0, &batched);
    let attrs = [nla(attr::BATCH, &64u32.to_ne_bytes()), nla(attr::FLUSH_MS, &10u32.to_ne_bytes())].concat();
    assert_eq!(&req[HDRLEN..], &attrs[..]);
    let list = proto::listeners_request(3, 99);
    assert_eq!((list.len(), u16_at(&list, 4), u16_at(&list, 6)), (16, 0x12, NLM_F_REQUEST | NLM_F_ACK));
}

#[test]
fn abi_numbers_match_the_header() {
    assert_eq!((abi::LISTENERS_GET, abi::LISTENER), (0x12, 0x13));
    assert_eq!((abi::V2_SUBSCRIBE, abi::V2_UNSUBSCRIBE, abi::V2_EVENT), (0x20, 0x21, 0x22));
    assert_eq!((abi::IMP2_FAMILY_IPV4, abi::IMP2_FAMILY_IPV6, abi::IMP2_FAMILY_ALL), (1, 2, 3));
    assert_eq!((attr::FAMILIES, attr::PROTOS, attr::PROTO, attr::FAMILY), (1, 2, 3, 4));
    assert_eq!((attr::SEQ, attr::PORTID, attr::PAD), (12, 13, 16));
}

fn listener_message(seq: u32, portid: u32, protos: &[u8]) -> Vec<u8> {
    let attrs = [
        nla(attr::PORTID, &portid.to_ne_bytes()),
        nla(attr::FAMILIES, &3u32.to_ne_bytes()),
        nla(attr::PROTOS | NLA_F_NESTED, protos),
        nla(attr::PAD, &[]),
        nla(attr::EVENTS_SENT, &5u64.to_ne_bytes()),
        nla(attr::PAD, &[]),
        nla(attr::SEND_FAILURES, &1u64.to_ne_bytes()),
    ]
    .concat();
    message(abi::LISTENER, NLM_F_MULTIPART, seq, &attrs)
}

#[test]
fn listener_list_then_done_then_ack() {
    let request = proto::listeners_request(2, 50);
    let protos = [nla(attr::PROTO, &[1]), nla(attr::PROTO, &[58])].concat();
    // The dump as the kernel sends it: two listeners in one datagram, then
    // NLMSG_DONE (payload: an int 0) and the ack in the next one.
    let mut first = listener_message(2, 100, &protos);
    first.extend(listener_message(2, 101, &nla(attr::PROTO, &[17])));
    let mut second = message(NLMSG_DONE, NLM_F_MULTIPART, 2, &0i32.to_ne_bytes());
    second.extend(error_reply(0, &request, true, &[]));

    let got: Vec<Message> = [first, second].iter().flat_map(|d| proto::decode(d)).map(Result::unwrap).collect();
    assert_eq!(got.len(), 4);
    let Message::Listener { seq: 2, listener } = &got[0] else { panic!("{:?}", got[0]) };
    assert_eq!(
        listener.value,
        Listener { portid: 100, families: Some(3), protos: Some(vec![1, 58]), events_sent: 5, send_failures: 1, ..Listener::default() }
    );
    assert!(matches!(&got[1], Message::Listener { listener, .. } if listener.value.protos == Some(vec![17])));
    assert_eq!(got[2], Message::Done { seq: 2, errno: 0 });
    assert_eq!(got[3], Message::Ack(Ack { seq: 2, errno: 0, ..Ack::default() }));
}

#[test]
fn empty_listener_list_is_done_and_ack() {
    let request = proto::listeners_request(2, 50);
    let mut datagram = message(NLMSG_DONE, NLM_F_MULTIPART, 2, &0i32.to_ne_bytes());
    datagram.extend(error_reply(0, &request, true, &[]));
    let got: Vec<_> = proto::decode(&datagram).into_iter().map(Result::unwrap).collect();
    assert_eq!(got, vec![Message::Done { seq: 2, errno: 0 }, Message::Ack(Ack { seq: 2, ..Ack::default() })]);
}

#[test]
fn malformed_listener_is_skipped_and_the_rest_survives() {
    let mut datagram = listener_message(2, 100, &[0xde, 0xad, 0xbe]);
    datagram.extend(listener_message(2, 101, &nla(attr::PROTO, &[6])));
    datagram.extend(message(NLMSG_DONE, NLM_F_MULTIPART, 2, &0i32.to_ne_bytes()));
    let got = proto::decode(&datagram);
    assert_eq!(got.len(), 3);
    match &got[0] {
        Err(DecodeError::Attributes { msg_type: 0x13, error: AttrError::BadValue { attr, .. } }) => {
            assert_eq!(*attr, attr::PROTOS)
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(&got[1], Ok(Message::Listener { listener, .. }) if listener.value.portid == 101));
    assert_eq!(got[2], Ok(Message::Done { seq: 2, errno: 0 }));
}

#[test]
fn done_carries_the_error_a_dump_ended_with() {
    let done = message(NLMSG_DONE, NLM_F_MULTIPART, 2, &(-libc::EPERM).to_ne_bytes());
    assert_eq!(proto::decode(&done), vec![Ok(Message::Done { seq: 2, errno: libc::EPERM })]);
    let bare = message(NLMSG_DONE, NLM_F_MULTIPART, 2, &[]);
    assert_eq!(proto::decode(&bare), vec![Ok(Message::Done { seq: 2, errno: 0 })]);
}

#[test]
fn listener_list_refused_without_cap_net_admin() {
    let request = proto::listeners_request(2, 50);
    let got = proto::decode(&error_reply(libc::EPERM, &request, true, &[]));
    assert_eq!(got, vec![Ok(Message::Ack(Ack { seq: 2, errno: libc::EPERM, ..Ack::default() }))]);
}

fn v2_event(seq: u32, extra: &[u8]) -> Vec<u8> {
    let attrs = [
        nla(attr::FAMILY, &[v2::AF_INET6]),
        nla(attr::SRC, &"fd00::2".parse::<std::net::Ipv6Addr>().unwrap().octets()),
        nla(attr::DST, &"fd00::1".parse::<std::net::Ipv6Addr>().unwrap().octets()),
        nla(attr::SEQ, &seq.to_ne_bytes()),
        extra.to_vec(),
    ]
    .concat();
    message(abi::V2_EVENT, 0, seq, &attrs)
}

#[test]
fn v2_events_in_one_datagram_malformed_one_skipped() {
    let mut datagram = v2_event(1, &nla(77, &[1]));
    datagram.extend(v2_event(2, &nla(attr::LEN, &[1, 2]))); // a u32 of 2 bytes
    datagram.extend(v2_event(3, &[]));
    let got = proto::decode(&datagram);
    assert_eq!(got.len(), 3);
    let Ok(Message::V2Event(first)) = &got[0] else { panic!("{:?}", got[0]) };
    assert_eq!((first.value.seq, first.unknown_attrs), (1, 1));
    let Err(e) = &got[1] else { panic!("{:?}", got[1]) };
    assert_eq!(e.to_string(), "message type 0x22: IMP2_A_LEN is 2 bytes, need 4 (u32)");
    assert!(matches!(&got[2], Ok(Message::V2Event(ev)) if ev.value.seq == 3));
}

#[test]
fn extack_message_and_offset_from_a_capped_error() {
    let filter = Filter { families: Some(8), protos: None, ..Filter::default() };
    let request = proto::v2_subscribe_request(1, 50, &filter);
    let tlvs = [nla(1, b"IMP2_A_FAMILIES: unknown family bits\0"), nla(2, &16u32.to_ne_bytes())].concat();
    let got = proto::decode(&error_reply(libc::EINVAL, &request, true, &tlvs));
    let Ok(Message::Ack(ack)) = &got[0] else { panic!("{got:?}") };
    assert_eq!(ack.errno, libc::EINVAL);
    assert_eq!(ack.seq, 1);
    assert_eq!(ack.ext_msg.as_deref(), Some("IMP2_A_FAMILIES: unknown family bits"));
    assert_eq!(ack.bad_attr_offset, Some(16));
    assert_eq!(proto::attr_type_at(&request, 16), Some(attr::FAMILIES));
}

#[test]
fn extack_after_an_echoed_request() {
    // Without NETLINK_CAP_ACK the kernel echoes the whole request first.
    let filter = Filter { families: None, protos: Some(vec![1, 2, 3]), ..Filter::default() };
    let request = proto::v2_subscribe_request(4, 50, &filter);
    let tlvs = nla(1, b"IMP2_A_PROTOS: duplicate protocol\0");
    let got = proto::decode(&error_reply(libc::EINVAL, &request, false, &tlvs));
    let Ok(Message::Ack(ack)) = &got[0] else { panic!("{got:?}") };
    assert_eq!((ack.seq, ack.errno), (4, libc::EINVAL));
    assert_eq!(ack.ext_msg.as_deref(), Some("IMP2_A_PROTOS: duplicate protocol"));
    // An offset into the nest names the entry.
    assert_eq!(proto::attr_type_at(&request, 20), Some(attr::PROTO));
}

#[test]
fn no_extack_without_the_tlv_flag_and_broken_tlvs_lose_only_the_text() {
    let request = proto::v2_subscribe_request(5, 50, &Filter::default());
    let plain = error_reply(libc::ENOSPC, &request, true, &[]);
    assert_eq!(proto::decode(&plain), vec![Ok(Message::Ack(Ack { seq: 5, errno: libc::ENOSPC, ..Ack::default() }))]);

    // ACK_TLVS set but the TLV claims more bytes than there are.
    let mut broken = error_reply(libc::EINVAL, &request, true, &nla(1, b"abc\0"));
    let tlv_at = HDRLEN + 4 + HDRLEN;
    broken[tlv_at..tlv_at + 2].copy_from_slice(&60u16.to_ne_bytes());
    let got = proto::decode(&broken);
    assert_eq!(got, vec![Ok(Message::Ack(Ack { seq: 5, errno: libc::EINVAL, ..Ack::default() }))]);

    // An echoed request whose nlmsg_len points past the message.
    let mut lying = error_reply(libc::EINVAL, &request, false, &nla(1, b"x\0"));
    lying[HDRLEN + 4..HDRLEN + 8].copy_from_slice(&4000u32.to_ne_bytes());
    let got = proto::decode(&lying);
    assert!(matches!(&got[..], [Ok(Message::Ack(Ack { errno: libc::EINVAL, ext_msg: None, .. }))]), "{got:?}");
}

#[test]
fn attr_type_at_refuses_offsets_outside_the_attributes() {
    let request = proto::v2_subscribe_request(1, 0, &Filter { families: Some(1), protos: None, ..Filter::default() });
    assert_eq!(proto::attr_type_at(&request, 0), None, "inside the nlmsghdr");
    assert_eq!(proto::attr_type_at(&request, 22), None, "past the end");
    assert_eq!(proto::attr_type_at(&request, 400), None);
}
