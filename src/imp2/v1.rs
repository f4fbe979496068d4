// SPDX-License-Identifier: GPL-2.0

//! The 2007 protocol (v1): one subscriber per netns, behind an rwlock that
//! the IPv4 hook reads; an `IMP2_K_MSG` with `struct packet_info` for
//! every ICMP datagram. Unchanged on the wire.

use super::{packet::IpAddr, packet::IpHeader, Counters};
use crate::{
    abstractions::{
        netlink::{KernelSocket, Request, SockRef},
        rwlock::{RwLock, WriteGuard},
        skbuff::{AllocContext, NlMsgBuf},
    },
    static_lock_class, test_knobs,
    wire::{self, errno, PacketInfo},
};
use core::sync::atomic::{AtomicU32, Ordering};
use kernel::{c_str, prelude::*};

/// The subscribed socket, held: its port id alone could be bound by
/// anyone once it closes.
type Subscriber = Option<SockRef>;

/// The v1 state of a netns.
#[pin_data]
pub(super) struct V1 {
    /// Read in the hook (softirq, or process context for packets NFQUEUE
    /// reinjects: `RwLock::read`), written with BHs disabled.
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
            subscriber <- RwLock::new(None, c_str!("imp2_subscriber"), static_lock_class!()),
            next_seq: AtomicU32::new(0),
        })
    }

    /// Takes the subscriber's write lock (timed by the test knobs).
    fn write(&self) -> WriteGuard<'_, Subscriber> {
        test_knobs::timed_write_lock(|| self.subscriber.write_bh())
    }

    /// The subscribed port, if any.
    pub(super) fn subscriber(&self) -> Option<u32> {
        self.subscriber.read_bh().as_ref().map(SockRef::portid)
    }

    /// An ICMP datagram crossed the IPv4 hook: tell the subscriber.
    pub(super) fn packet(&self, socket: &KernelSocket, ip: &IpHeader, counters: &Counters) {
        let (IpAddr::V4(src), IpAddr::V4(dest)) = (ip.src, ip.dst) else {
            return;
        };
        // The read section only takes a reference to the socket: readers in
        // softirq context may pass a waiting writer (qrwlock), so allocating
        // and sending under the lock could starve subscribe, close and
        // NETLINK_URELEASE. Netlink itself takes and drops a reference to
        // the receiver for every unicast (`netlink_getsockbyportid()`).
        //
        // The reference may outlive the subscription by one event. Sending
        // checks that the socket is not closed: the event cannot reach a
        // new owner of the port id, except in the window that
        // `KernelSocket::unicast_to` describes.
        let Some(subscriber) = self.subscriber.read().clone() else {
            return;
        };
        // Taken before the allocation, on any CPU: events can reach the
        // subscriber out of order, so a gap may be a late event, not a loss.
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        test_knobs::send_delay();
        // Addresses exactly as on the wire (network byte order).
        let info = PacketInfo { src: u32::from_ne_bytes(src), dest: u32::from_ne_bytes(dest) };
        match NlMsgBuf::new(wire::IMP2_K_MSG, 0, seq, 0, &info, AllocContext::Atomic) {
            Ok(msg) => match socket.unicast_to(msg, subscriber.get()) {
                Ok(()) => counters.events_sent.inc(),
                Err(e) => {
                    // EAGAIN: the subscriber's receive buffer is full.
                    counters.send_failures.inc();
                    // The socket is closed, its NETLINK_URELEASE
                    // notification not yet run, or the reference above is
                    // stale.
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
        if request.sender_portid() == 0 {
            return Err(EINVAL);
        }
        let sender = request.sender();
        let mut subscriber = self.write();
        // The sender may have closed its socket after sending, while this
        // request waited in the inbox; its NETLINK_URELEASE then found
        // nothing to clear, and its port id is free for anyone to bind.
        // Checked under the lock the notifier handler takes: either we see
        // the socket dead, or the handler runs after us and clears it.
        if request.sender_closed() {
            return Err(errno::ECONNREFUSED());
        }
        // The previous subscriber's reference is dropped after the lock.
        let previous = core::mem::replace(&mut *subscriber, Some(sender));
        drop(subscriber);
        Ok(Change::Subscribed { replaced: previous.is_some() })
    }

    /// Whether the socket that sent `request` is the subscriber (a read
    /// section only).
    pub(super) fn is_subscriber(&self, request: &Request) -> bool {
        self.subscriber.read_bh().as_ref().is_some_and(|s| request.sent_by(s))
    }

    /// `IMP2_CLOSE`: only the subscribed socket itself may unsubscribe;
    /// neither the header's `nlmsg_pid` nor the sender's port id (another
    /// socket may have bound it since the subscriber closed) is trusted.
    pub(super) fn unsubscribe(&self, request: &Request) -> Result<Change> {
        let mut subscriber = self.write();
        if !subscriber.as_ref().is_some_and(|s| request.sent_by(s)) {
            return Err(EPERM);
        }
        let previous = subscriber.take();
        drop(subscriber);
        drop(previous);
        Ok(Change::Unsubscribed)
    }

    /// A socket bound to `portid` was released: if it was the subscriber,
    /// nobody is now. A subscriber that is not closed is another socket
    /// that has bound the port id since, and stays.
    pub(super) fn port_released(&self, portid: u32) -> bool {
        let mut subscriber = self.write();
        // Released means closed: `netlink_release()` marks the socket dead
        // (`sock_orphan()`) before it runs the NETLINK_URELEASE notifiers.
        if !subscriber.as_ref().is_some_and(|s| s.portid() == portid && s.get().is_closing()) {
            return false;
        }
        let previous = subscriber.take();
        drop(subscriber);
        drop(previous);
        true
    }
}
