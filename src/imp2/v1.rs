// SPDX-License-Identifier: GPL-2.0

//! The 2007 protocol (v1): one subscriber per netns, behind an rwlock that
//! the IPv4 hook reads; an `IMP2_K_MSG` with `struct packet_info` for
//! every ICMP datagram. Unchanged on the wire.

use super::{packet::IpAddr, packet::IpHeader, Counters};
use crate::{
    abstractions::{
        netlink::{KernelSocket, Request},
        rwlock::{RwLock, WriteGuard},
        skbuff::{AllocContext, NlMsgBuf},
    },
    static_lock_class, test_knobs,
    wire::{self, errno, PacketInfo},
};
use core::sync::atomic::{AtomicU32, Ordering};
use kernel::{c_str, prelude::*};

/// The subscriber's netlink port id; 0 (the kernel's own port) means none.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct Subscriber(u32);

impl Subscriber {
    const NONE: Subscriber = Subscriber(0);

    fn portid(self) -> Option<u32> {
        (self.0 != 0).then_some(self.0)
    }
}

/// The v1 state of a netns.
#[pin_data]
pub(super) struct V1 {
    /// Read in the hook (softirq), written with BHs disabled.
    #[pin]
    subscriber: RwLock<Subscriber>,
    /// `nlmsg_seq` of the next event.
    next_seq: AtomicU32,
}

/// What a v1 subscribe or close did, for the log.
pub(super) enum Change {
    Subscribed { replaced: bool },
    Unsubscribed,
}

impl V1 {
    pub(super) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            subscriber <- RwLock::new(Subscriber::NONE, c_str!("imp2_subscriber"), static_lock_class!()),
            next_seq: AtomicU32::new(0),
        })
    }

    /// Takes the subscriber's write lock (timed by the test knobs).
    fn write(&self) -> WriteGuard<'_, Subscriber> {
        test_knobs::timed_write_lock(|| self.subscriber.write_bh())
    }

    /// The subscribed port, if any.
    pub(super) fn subscriber(&self) -> Option<u32> {
        self.subscriber.read_bh().portid()
    }

    /// An ICMP datagram crossed the IPv4 hook: tell the subscriber.
    pub(super) fn packet(&self, socket: &KernelSocket, ip: &IpHeader, counters: &Counters) {
        let (IpAddr::V4(src), IpAddr::V4(dest)) = (ip.src, ip.dst) else {
            return;
        };
        // The read section only copies the port id: readers in softirq
        // context may pass a waiting writer (qrwlock), so allocating and
        // sending under the lock could starve subscribe, close and
        // NETLINK_URELEASE. A copied id is never 0 (the kernel's own port).
        //
        // The copy may outlive the subscription by one event, which then
        // goes to a closed port (ECONNREFUSED, counted) or, if the id has
        // been reused meanwhile, to its new owner. That window exists with or
        // without the lock: `netlink_release()` unhashes the port before the
        // NETLINK_URELEASE notifier clears the subscriber.
        let Some(portid) = self.subscriber.read().portid() else {
            return;
        };
        // Taken before the allocation, on any CPU: events can reach the
        // subscriber out of order, so a gap may be a late event, not a loss.
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        test_knobs::send_delay();
        // Addresses exactly as on the wire (network byte order).
        let info = PacketInfo { src: u32::from_ne_bytes(src), dest: u32::from_ne_bytes(dest) };
        match NlMsgBuf::new(wire::IMP2_K_MSG, 0, seq, 0, &info, AllocContext::Atomic) {
            Ok(msg) => match socket.unicast(msg, portid) {
                Ok(()) => counters.events_sent.inc(),
                Err(e) => {
                    // EAGAIN: the subscriber's receive buffer is full.
                    counters.send_failures.inc();
                    // The port is gone: closed, its NETLINK_URELEASE
                    // notification not yet run, or the copy above is stale.
                    if e.to_errno() == errno::ECONNREFUSED().to_errno() {
                        counters.send_refused.inc();
                    }
                }
            },
            Err(_) => counters.alloc_failures.inc(),
        }
    }

    /// `IMP2_U_PID`: the sender becomes the subscriber (the last one wins).
    pub(super) fn subscribe(&self, request: &Request) -> Result<Change> {
        let portid = request.sender_portid();
        if portid == 0 {
            return Err(EINVAL);
        }
        let mut subscriber = self.write();
        // The sender may have closed its socket after sending, while this
        // request waited in the inbox; its NETLINK_URELEASE then found
        // nothing to clear, and its port id is free for anyone to bind.
        // Checked under the lock the notifier handler takes: either we see
        // the socket dead, or the handler runs after us and clears it.
        if request.sender_closed() {
            return Err(errno::ECONNREFUSED());
        }
        let previous = core::mem::replace(&mut *subscriber, Subscriber(portid));
        Ok(Change::Subscribed { replaced: previous.portid().is_some() })
    }

    /// `IMP2_CLOSE`: only the subscriber itself may unsubscribe; the
    /// header's `nlmsg_pid` is not trusted.
    pub(super) fn unsubscribe(&self, request: &Request) -> Result<Change> {
        let mut subscriber = self.write();
        if subscriber.portid() != Some(request.sender_portid()) {
            return Err(EPERM);
        }
        *subscriber = Subscriber::NONE;
        Ok(Change::Unsubscribed)
    }

    /// Port `portid` closed: if it was the subscriber, nobody is now.
    pub(super) fn port_released(&self, portid: u32) -> bool {
        let mut subscriber = self.write();
        if subscriber.portid() != Some(portid) {
            return false;
        }
        *subscriber = Subscriber::NONE;
        true
    }
}
