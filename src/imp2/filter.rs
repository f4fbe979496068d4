// SPDX-License-Identifier: GPL-2.0

//! What a v2 listener asks to hear about. Pure `core` code, host-tested.

use crate::{
    imp2::{
        event::EVENT_MAX,
        packet::{IpHeader, IpVersion, IPPROTO_ICMP},
    },
    wire::{self, nlattr::NLA_HDRLEN},
};
use core::sync::atomic::{AtomicU64, Ordering};

const WORD_BITS: usize = u64::BITS as usize;

/// A bit per L4 protocol number.
pub(crate) type ProtocolBits = [u64; 256 / WORD_BITS];

const NO_PROTOCOLS: ProtocolBits = [0; 256 / WORD_BITS];

/// Where protocol `proto` sits in [`ProtocolBits`]: its word and its mask.
fn protocol_bit(proto: u8) -> (usize, u64) {
    let p = usize::from(proto);
    (p / WORD_BITS, 1 << (p % WORD_BITS))
}

/// Where a listener's packets are seen (`IMP2_HOOK_*`, whose numbers are
/// netfilter's `NF_INET_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hook {
    PreRouting = 0,
    Input = 1,
    Forward = 2,
    Output = 3,
    PostRouting = 4,
}

impl Hook {
    /// How many there are.
    pub(crate) const COUNT: usize = 5;

    /// Every hook, in `IMP2_HOOK_*` order.
    pub(crate) const ALL: [Hook; Hook::COUNT] =
        [Hook::PreRouting, Hook::Input, Hook::Forward, Hook::Output, Hook::PostRouting];

    /// The hook an `IMP2_A_HOOK` value names.
    pub(crate) fn from_wire(value: u32) -> Option<Hook> {
        Self::ALL.get(usize::try_from(value).ok()?).copied()
    }

    /// Its `IMP2_HOOK_*` value, also its index in [`Hook::ALL`].
    pub(crate) const fn wire(self) -> u32 {
        self as u32
    }

    const fn index(self) -> usize {
        self as usize
    }

    /// Whether packets have an output interface here (`IMP2_A_OUT_IFINDEX`).
    pub(crate) const fn has_output(self) -> bool {
        matches!(self, Hook::Forward | Hook::Output | Hook::PostRouting)
    }
}

/// A set of (IP version, hook) pairs: the netfilter hooks some listeners
/// need, one per family and hook point.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct HookSet(u16);

impl HookSet {
    /// The empty set.
    pub(crate) const NONE: HookSet = HookSet(0);

    const fn bit(version: IpVersion, hook: Hook) -> u16 {
        let v6 = matches!(version, IpVersion::V6) as usize;
        1 << (hook.index() * 2 + v6)
    }

    /// The set with `(version, hook)` added.
    pub(crate) const fn with(self, version: IpVersion, hook: Hook) -> HookSet {
        HookSet(self.0 | Self::bit(version, hook))
    }

    /// Both sets' pairs.
    pub(crate) const fn union(self, other: HookSet) -> HookSet {
        HookSet(self.0 | other.0)
    }

    /// Whether `(version, hook)` is in the set.
    #[inline]
    pub(crate) const fn contains(self, version: IpVersion, hook: Hook) -> bool {
        self.0 & Self::bit(version, hook) != 0
    }

    /// Every pair, each in the set or not, with whether it is. (An array,
    /// not an iterator adapter chain: its callers' closures made symbol
    /// names too long for objtool's `__pfx_` symbols.)
    pub(crate) fn each(self) -> [(IpVersion, Hook, bool); 2 * Hook::COUNT] {
        let mut all = [(IpVersion::V4, Hook::PreRouting, false); 2 * Hook::COUNT];
        for (i, slot) in all.iter_mut().enumerate() {
            let version = if i % 2 == 0 { IpVersion::V4 } else { IpVersion::V6 };
            let hook = Hook::ALL[i / 2];
            *slot = (version, hook, self.contains(version, hook));
        }
        all
    }
}

/// A listener's filter: where it listens, address families and L4
/// protocols.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Filter {
    /// `IMP2_FAMILY_*` bits, never 0.
    pub(crate) families: u32,
    /// A bit per L4 protocol number, or `None` for the default: ICMP for
    /// IPv4 and ICMPv6 for IPv6.
    pub(crate) protos: Option<ProtocolBits>,
    /// The hook it sees packets at.
    pub(crate) hook: Hook,
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

    /// The netfilter hooks this filter needs: its hook, in its families.
    pub(crate) fn hooks(&self) -> HookSet {
        [IpVersion::V4, IpVersion::V6]
            .into_iter()
            .filter(|&v| self.wants(v))
            .fold(HookSet::NONE, |set, v| set.with(v, self.hook))
    }

    /// Whether a packet with header `ip`, seen at `hook`, matches.
    #[inline]
    pub(crate) fn matches(&self, ip: &IpHeader, hook: Hook) -> bool {
        if self.hook != hook || !self.wants(ip.version) {
            return false;
        }
        match &self.protos {
            None => ip.is_icmp(),
            Some(bits) => Self::has(bits, ip.protocol),
        }
    }

    fn has(bits: &ProtocolBits, proto: u8) -> bool {
        let (word, mask) = protocol_bit(proto);
        bits[word] & mask != 0
    }

    /// The IPv4 protocols this filter accepts.
    pub(crate) fn ipv4_protocols(&self) -> ProtocolBits {
        if !self.wants(IpVersion::V4) {
            return NO_PROTOCOLS;
        }
        self.protos.unwrap_or_else(|| {
            let (mut bits, (word, mask)) = (NO_PROTOCOLS, protocol_bit(IPPROTO_ICMP));
            bits[word] |= mask;
            bits
        })
    }

    /// The protocols listed, in increasing order (none for the default).
    pub(crate) fn protocols(&self) -> impl Iterator<Item = u8> + '_ {
        (0..=u8::MAX).filter(move |&p| self.protos.as_ref().is_some_and(|bits| Self::has(bits, p)))
    }
}

/// The IPv4 protocols that some listener of a netns may want at one hook,
/// for the hook to pass over all other traffic with one load and without
/// an RCU read-side section. A superset while the listeners change: it is widened
/// before a new set of listeners is published and narrowed after.
#[derive(Debug, Default)]
pub(crate) struct ProtocolInterest([AtomicU64; 256 / WORD_BITS]);

impl ProtocolInterest {
    /// Whether some listener may want IPv4 protocol `proto`.
    #[inline]
    pub(crate) fn may_want(&self, proto: u8) -> bool {
        let (word, mask) = protocol_bit(proto);
        self.0[word].load(Ordering::Relaxed) & mask != 0
    }

    /// Adds `bits` (before the listeners that want them are published).
    pub(crate) fn widen(&self, bits: &ProtocolBits) {
        for (word, add) in self.0.iter().zip(bits) {
            word.fetch_or(*add, Ordering::Relaxed);
        }
    }

    /// Becomes exactly `bits` (once no published listener wants others).
    pub(crate) fn set(&self, bits: &ProtocolBits) {
        for (word, new) in self.0.iter().zip(bits) {
            word.store(*new, Ordering::Relaxed);
        }
    }
}

/// The union of the IPv4 protocols the `filters` accept, for each hook
/// (indexed by [`Hook::wire`]).
pub(crate) fn ipv4_protocols<'a>(filters: impl Iterator<Item = &'a Filter>) -> [ProtocolBits; Hook::COUNT] {
    filters.fold([NO_PROTOCOLS; Hook::COUNT], |mut all, f| {
        for (word, add) in all[f.hook.index()].iter_mut().zip(f.ipv4_protocols()) {
            *word |= add;
        }
        all
    })
}

/// The bytes `IMP2_A_PAYLOAD` takes in an event for a snaplen of
/// `snaplen`, padding included; none for 0.
pub(crate) const fn payload_room(snaplen: u32) -> usize {
    if snaplen == 0 {
        0
    } else {
        (NLA_HDRLEN + snaplen as usize + 3) & !3
    }
}

/// The most bytes an event with `payload_len` packet bytes takes.
pub(crate) const fn event_room(payload_len: usize) -> usize {
    EVENT_MAX + payload_room(payload_len as u32)
}

// What `IMP2_SNAPLEN_BATCH_MAX` promises: an event with that many bytes
// fits a batch.
const _: () = assert!(EVENT_MAX + payload_room(wire::IMP2_SNAPLEN_BATCH_MAX) <= wire::IMP2_BATCH_BYTES_MAX);

/// How a listener wants its events delivered: in batches or not, and with
/// how many of the packet's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Delivery {
    /// Up to this many events per datagram; 1: each in its own.
    pub(crate) batch: u32,
    /// A batch waits at most this long after its first event.
    pub(crate) flush_ms: u32,
    /// Up to this many bytes of each packet in its event; 0: none. At most
    /// `IMP2_SNAPLEN_BATCH_MAX` if batched (the policy's check).
    pub(crate) snaplen: u32,
}

impl Delivery {
    /// One event per datagram, sent at once, without packet bytes.
    pub(crate) const UNBATCHED: Delivery = Delivery { batch: 1, flush_ms: 0, snaplen: 0 };

    /// Whether events are gathered into batches.
    pub(crate) fn batched(&self) -> bool {
        self.batch > 1
    }

    /// The most bytes one event takes.
    pub(crate) fn event_max(&self) -> usize {
        event_room(self.snaplen as usize)
    }

    /// How many packet bytes an event of a packet of `len` bytes carries.
    #[inline]
    pub(crate) fn payload_len(&self, len: u32) -> usize {
        self.snaplen.min(len) as usize
    }

    /// The bytes a batch may hold: room for `batch` of the largest events,
    /// at most `IMP2_BATCH_BYTES_MAX`.
    pub(crate) fn capacity(&self) -> usize {
        (self.batch as usize).saturating_mul(self.event_max()).min(wire::IMP2_BATCH_BYTES_MAX)
    }

    /// Whether a batch of `events` events in `bytes` bytes of a datagram
    /// of `capacity` bytes is due: it is full, or not even an event without
    /// packet bytes would fit any more. (One with them that does not fit
    /// sends the batch before it.) The capacity is the datagram's own,
    /// which an earlier delivery may have sized.
    pub(crate) fn batch_full(&self, events: u32, bytes: usize, capacity: usize) -> bool {
        events >= self.batch || bytes + EVENT_MAX > capacity
    }
}
