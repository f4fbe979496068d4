// The kernel module's own pure-Rust protocol v2 code (packet parsing,
// filters, message encoding), compiled on the host for the tests and the
// consumer cost harness: what the module encodes is what they decode.
// `include!`d at a crate root (tests/, examples/): the module's sources
// name these as `crate::wire` and `crate::imp2`, the paths below are
// relative to this file.

/// The module's `crate::wire`: its pure submodules, and the ABI constants
/// it takes from bindgen, here from the tool's bindgen run on the same header.
#[path = "../../../../src/wire/nlattr.rs"]
mod nlattr;
#[path = "../../../../src/wire/nlmsg.rs"]
mod nlmsg;
#[path = "../../../../src/imp2/event.rs"]
mod event;
#[path = "../../../../src/imp2/filter.rs"]
mod filter;
#[path = "../../../../src/imp2/limit.rs"]
mod limit;
#[path = "../../../../src/imp2/packet.rs"]
mod packet;

mod wire {
    use ::imp2::abi;

    pub(crate) use crate::{nlattr, nlmsg};

    pub const IMP2_V2_EVENT: u16 = abi::V2_EVENT;
    pub const IMP2_LISTENER: u16 = abi::LISTENER;
    pub const IMP2_A_FAMILIES: u16 = abi::attr::FAMILIES;
    pub const IMP2_A_PROTOS: u16 = abi::attr::PROTOS;
    pub const IMP2_A_PROTO: u16 = abi::attr::PROTO;
    pub const IMP2_A_FAMILY: u16 = abi::attr::FAMILY;
    pub const IMP2_A_SRC: u16 = abi::attr::SRC;
    pub const IMP2_A_DST: u16 = abi::attr::DST;
    pub const IMP2_A_ICMP_TYPE: u16 = abi::attr::ICMP_TYPE;
    pub const IMP2_A_ICMP_CODE: u16 = abi::attr::ICMP_CODE;
    pub const IMP2_A_IFINDEX: u16 = abi::attr::IFINDEX;
    pub const IMP2_A_LEN: u16 = abi::attr::LEN;
    pub const IMP2_A_TSTAMP_NS: u16 = abi::attr::TSTAMP_NS;
    pub const IMP2_A_SEQ: u16 = abi::attr::SEQ;
    pub const IMP2_A_PORTID: u16 = abi::attr::PORTID;
    pub const IMP2_A_EVENTS_SENT: u16 = abi::attr::EVENTS_SENT;
    pub const IMP2_A_SEND_FAILURES: u16 = abi::attr::SEND_FAILURES;
    pub const IMP2_A_BATCH: u16 = abi::attr::BATCH;
    pub const IMP2_A_FLUSH_MS: u16 = abi::attr::FLUSH_MS;
    pub const IMP2_A_SNAPLEN: u16 = abi::attr::SNAPLEN;
    pub const IMP2_A_PAYLOAD: u16 = abi::attr::PAYLOAD;
    pub const IMP2_A_SAMPLE: u16 = abi::attr::SAMPLE;
    pub const IMP2_A_RATE_LIMIT: u16 = abi::attr::RATE_LIMIT;
    pub const IMP2_A_RATE_BURST: u16 = abi::attr::RATE_BURST;
    pub const IMP2_A_SUPPRESSED: u16 = abi::attr::SUPPRESSED;
    pub const IMP2_A_SUPPRESSED_TOTAL: u16 = abi::attr::SUPPRESSED_TOTAL;
    pub const IMP2_A_BPF_INSNS: u16 = abi::attr::BPF_INSNS;
    pub const IMP2_A_HOOK: u16 = abi::attr::HOOK;
    pub const IMP2_A_OUT_IFINDEX: u16 = abi::attr::OUT_IFINDEX;
    pub const IMP2_BATCH_BYTES_MAX: usize = abi::IMP2_BATCH_BYTES_MAX as usize;
    pub const IMP2_SNAPLEN_BATCH_MAX: u32 = abi::IMP2_SNAPLEN_BATCH_MAX;
    pub const IMP2_FAMILY_IPV4: u32 = abi::IMP2_FAMILY_IPV4;
    pub const IMP2_FAMILY_IPV6: u32 = abi::IMP2_FAMILY_IPV6;
    pub const AF_INET: u8 = 2;
    pub const AF_INET6: u8 = 10;
    pub const NLM_F_MULTI: u16 = 2;
    pub const NLMSG_DONE: u16 = 3;
}

/// The module's `crate::imp2`, its pure parts.
mod imp2 {
    pub(crate) use crate::{event, filter, limit, packet};
}

/// The module's event writer over a slice: the bytes at the start of
/// `buf` (in the kernel it writes into the batch's skb).
fn encode_event<'b>(
    buf: &'b mut [u8],
    seq: u32,
    ip: &crate::imp2::packet::IpHeader,
    facts: &crate::imp2::event::EventFacts,
) -> Result<&'b [u8], nlattr::BufferFull> {
    encode_event_with(buf, seq, ip, facts, &event::ListenerPart { suppressed: None, payload_len: 0 }, &[])
}

/// [`encode_event`] for a listener with limits or a snaplen: `packet` is
/// what its payload is copied from.
#[allow(dead_code)] // for the tests, not the example
fn encode_event_with<'b>(
    buf: &'b mut [u8],
    seq: u32,
    ip: &crate::imp2::packet::IpHeader,
    facts: &crate::imp2::event::EventFacts,
    part: &crate::imp2::event::ListenerPart,
    packet: &[u8],
) -> Result<&'b [u8], nlattr::BufferFull> {
    let len = event::write_event(nlattr::SliceOut::new(buf), seq, ip, facts, part, packet)?;
    Ok(&buf[..len])
}

/// Packets built by hand, for the module's parser.
mod packets {
    use crate::imp2::packet::{Ipv6UpperLayer, PacketBytes};

/// A packet in a byte vector; the IPv6 extension-header walk is given.
pub(crate) struct Bytes {
    pub(crate) data: Vec<u8>,
    pub(crate) upper: Option<Ipv6UpperLayer>,
}

impl PacketBytes for Bytes {
    fn read<const N: usize>(&self, offset: usize) -> Option<[u8; N]> {
        self.data.get(offset..offset.checked_add(N)?)?.try_into().ok()
    }
    fn len(&self) -> u32 {
        self.data.len() as u32
    }
    fn ipv6_upper_layer(&self, _nexthdr: u8) -> Option<Ipv6UpperLayer> {
        self.upper
    }
}

pub(crate) fn ipv4(proto: u8, frag_off: u16, l4: &[u8]) -> Bytes {
    let mut h = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, proto, 0, 0, 10, 99, 0, 2, 10, 99, 0, 1];
    h[6..8].copy_from_slice(&frag_off.to_be_bytes());
    h.extend_from_slice(l4);
    Bytes { data: h, upper: None }
}

pub(crate) fn ipv6(upper: Ipv6UpperLayer, l4: &[u8]) -> Bytes {
    let mut h = vec![0x60, 0, 0, 0, 0, 0, upper.protocol, 64];
    h.extend_from_slice(&[0xfd, 0, 0, 0x99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    h.extend_from_slice(&[0xfd, 0, 0, 0x99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    h.resize(upper.offset, 0);
    h.extend_from_slice(l4);
    Bytes { data: h, upper: Some(upper) }
}
}
#[allow(unused_imports)] // Bytes: for the tests, not the example
use packets::{ipv4, ipv6, Bytes};
