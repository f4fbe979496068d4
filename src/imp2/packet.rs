// SPDX-License-Identifier: GPL-2.0

//! What the hooks report about a packet, read from its IPv4 or IPv6 header
//! and, for ICMP and ICMPv6, the type and code.
//!
//! Pure, safe `core` code over a [`PacketBytes`] source, so that it also
//! compiles on the host and is tested there; in the module the source is
//! the skb (`header_pointer` semantics, and `ipv6_skip_exthdr()` for IPv6).

/// `IPPROTO_ICMP`.
pub(crate) const IPPROTO_ICMP: u8 = 1;
/// `IPPROTO_ICMPV6`.
pub(crate) const IPPROTO_ICMPV6: u8 = 58;

/// Where a packet's bytes come from.
pub(crate) trait PacketBytes {
    /// The `N` bytes at `offset` from the network header, or `None` if the
    /// packet is shorter. Never reads past its end.
    fn read<const N: usize>(&self, offset: usize) -> Option<[u8; N]>;

    /// Length of the packet from the network header on.
    fn len(&self) -> u32;

    /// For IPv6: the upper-layer protocol and where its header starts,
    /// past any extension headers, as `ipv6_skip_exthdr()` finds them
    /// starting from the fixed header's next-header field `nexthdr`.
    fn ipv6_upper_layer(&self, nexthdr: u8) -> Option<Ipv6UpperLayer>;
}

/// The result of walking an IPv6 packet's extension headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ipv6UpperLayer {
    pub(crate) protocol: u8,
    /// Offset of the upper-layer header from the network header.
    pub(crate) offset: usize,
    /// False for a fragment other than the first: it has no upper-layer
    /// header at `offset`.
    pub(crate) first_fragment: bool,
}

/// An IPv4 or IPv6 address, network byte order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IpAddr {
    V4([u8; 4]),
    V6([u8; 16]),
}

/// IP version of a packet (its hook).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IpVersion {
    V4,
    V6,
}

/// The header fields every report needs, read once per packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IpHeader {
    pub(crate) version: IpVersion,
    /// The upper-layer (L4) protocol.
    pub(crate) protocol: u8,
    pub(crate) src: IpAddr,
    pub(crate) dst: IpAddr,
    /// Offset of the L4 header from the network header.
    l4_offset: usize,
    /// Whether this packet starts its datagram: unfragmented, or the first
    /// fragment. Later fragments carry no L4 header and are not reported.
    pub(crate) starts_datagram: bool,
}

impl IpHeader {
    /// `IP_OFFSET`: the offset bits of IPv4 `frag_off`.
    const IPV4_OFFSET_MASK: u16 = 0x1fff;
    const IPV4_MIN_LEN: usize = 20;
    const IPV6_LEN: usize = 40;

    /// The protocol byte of an IPv4 header, read alone: the hook's cheap
    /// test of whether anybody may want the packet. `None` if the packet is
    /// too short to tell; [`IpHeader::ipv4`] then refuses it.
    #[inline]
    pub(crate) fn ipv4_protocol(p: &impl PacketBytes) -> Option<u8> {
        let [protocol] = p.read::<1>(9)?;
        Some(protocol)
    }

    /// Reads an IPv4 header. `None` if it is not one (short, wrong version
    /// or header length).
    pub(crate) fn ipv4(p: &impl PacketBytes) -> Option<Self> {
        let h: [u8; Self::IPV4_MIN_LEN] = p.read(0)?;
        let (version, ihl) = (h[0] >> 4, usize::from(h[0] & 0xf));
        if version != 4 || ihl < 5 {
            return None;
        }
        let fragment_offset = u16::from_be_bytes([h[6], h[7]]) & Self::IPV4_OFFSET_MASK;
        Some(Self {
            version: IpVersion::V4,
            protocol: h[9],
            src: IpAddr::V4([h[12], h[13], h[14], h[15]]),
            dst: IpAddr::V4([h[16], h[17], h[18], h[19]]),
            l4_offset: ihl * 4,
            starts_datagram: fragment_offset == 0,
        })
    }

    /// Reads an IPv6 header and finds the upper-layer protocol past its
    /// extension headers. `None` if it is not one, or the extension headers
    /// cannot be walked.
    pub(crate) fn ipv6(p: &impl PacketBytes) -> Option<Self> {
        let h: [u8; Self::IPV6_LEN] = p.read(0)?;
        if h[0] >> 4 != 6 {
            return None;
        }
        let upper = p.ipv6_upper_layer(h[6])?;
        let addr = |at: usize| {
            let mut a = [0u8; 16];
            a.copy_from_slice(&h[at..at + 16]);
            IpAddr::V6(a)
        };
        Some(Self {
            version: IpVersion::V6,
            protocol: upper.protocol,
            src: addr(8),
            dst: addr(24),
            l4_offset: upper.offset,
            starts_datagram: upper.first_fragment,
        })
    }

    /// Whether this is an ICMP (IPv4) or ICMPv6 (IPv6) packet.
    pub(crate) fn is_icmp(&self) -> bool {
        match self.version {
            IpVersion::V4 => self.protocol == IPPROTO_ICMP,
            IpVersion::V6 => self.protocol == IPPROTO_ICMPV6,
        }
    }

    /// ICMP or ICMPv6 type and code, for such packets that have them.
    pub(crate) fn icmp_type_code(&self, p: &impl PacketBytes) -> Option<(u8, u8)> {
        if !self.is_icmp() || !self.starts_datagram {
            return None;
        }
        let [icmp_type, code] = p.read::<2>(self.l4_offset)?;
        Some((icmp_type, code))
    }
}
