// SPDX-License-Identifier: GPL-2.0

//! What a v2 listener asks to hear about. Pure `core` code, host-tested.

use crate::{
    imp2::{
        event::EVENT_MAX,
        packet::{IpHeader, IpVersion},
    },
    wire,
};

const WORD_BITS: usize = u64::BITS as usize;

/// A listener's filter: address families and L4 protocols.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Filter {
    /// `IMP2_FAMILY_*` bits, never 0.
    pub(crate) families: u32,
    /// A bit per L4 protocol number, or `None` for the default: ICMP for
    /// IPv4 and ICMPv6 for IPv6.
    pub(crate) protos: Option<[u64; 256 / WORD_BITS]>,
}

impl Filter {
    fn family_bit(version: IpVersion) -> u32 {
        match version {
            IpVersion::V4 => wire::IMP2_FAMILY_IPV4,
            IpVersion::V6 => wire::IMP2_FAMILY_IPV6,
        }
    }

    /// Whether packets of IP version `version` can match at all.
    pub(crate) fn wants(&self, version: IpVersion) -> bool {
        self.families & Self::family_bit(version) != 0
    }

    /// Whether a packet with header `ip` matches.
    pub(crate) fn matches(&self, ip: &IpHeader) -> bool {
        if !self.wants(ip.version) {
            return false;
        }
        match &self.protos {
            None => ip.is_icmp(),
            Some(bits) => Self::has(bits, ip.protocol),
        }
    }

    fn has(bits: &[u64; 256 / WORD_BITS], proto: u8) -> bool {
        let p = usize::from(proto);
        bits[p / WORD_BITS] & (1 << (p % WORD_BITS)) != 0
    }

    /// The protocols listed, in increasing order (none for the default).
    pub(crate) fn protocols(&self) -> impl Iterator<Item = u8> + '_ {
        (0..=u8::MAX).filter(move |&p| self.protos.as_ref().is_some_and(|bits| Self::has(bits, p)))
    }
}

/// How a listener wants its events delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Delivery {
    /// Up to this many events per datagram; 1: each in its own.
    pub(crate) batch: u32,
    /// A batch waits at most this long after its first event.
    pub(crate) flush_ms: u32,
}

impl Delivery {
    /// One event per datagram, sent at once.
    pub(crate) const UNBATCHED: Delivery = Delivery { batch: 1, flush_ms: 0 };

    /// Whether events are gathered into batches.
    pub(crate) fn batched(&self) -> bool {
        self.batch > 1
    }

    /// The bytes a batch may hold: room for `batch` of the largest events,
    /// at most `IMP2_BATCH_BYTES_MAX`.
    pub(crate) fn capacity(&self) -> usize {
        (self.batch as usize).saturating_mul(EVENT_MAX).min(wire::IMP2_BATCH_BYTES_MAX)
    }

    /// Whether a batch of `events` events in `bytes` bytes of a datagram
    /// of `capacity` bytes is due: it is full, or the largest event might
    /// not fit any more. The capacity is the datagram's own, which an
    /// earlier delivery may have sized.
    pub(crate) fn batch_full(&self, events: u32, bytes: usize, capacity: usize) -> bool {
        events >= self.batch || bytes + EVENT_MAX > capacity
    }
}
