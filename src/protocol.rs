// SPDX-License-Identifier: GPL-2.0

//! The imp2 protocol: one subscriber per netns receives an event for every
//! ICMP packet that crosses the IPv4 PRE_ROUTING hook.
//!
//! Pure protocol logic on top of the safe abstractions: no `unsafe` here
//! (only `static_lock_class!`'s audited expansion is allowed through).

#![deny(unsafe_code)]

use crate::{
    net::Net,
    netfilter::{HookSpec, Verdict},
    netlink::{InputSkb, Request, RequestQueue},
    nlmsg::Message,
    params,
    pernet::{NetId, NetService, PacketContext},
    rwlock::RwLock,
    semaphore::Semaphore,
    skbuff::{AllocContext, NlMsgBuf, SkBuff},
    static_lock_class, test_knobs,
    wire::{self, errno, PacketInfo, Stats},
};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use kernel::{c_str, error::code::*, prelude::*};

static NET_ID: NetId = NetId::new();

/// Subscriptions are refused until the module is fully set up (the port
/// release notifier registered), so that none can go stale unnoticed.
static ACCEPTING_SUBSCRIBERS: AtomicBool = AtomicBool::new(false);

/// Allows subscriptions; called once module init has completed.
pub(crate) fn start_accepting_subscribers() {
    ACCEPTING_SUBSCRIBERS.store(true, Ordering::Release);
}

/// Refuses new subscriptions; called first thing on module exit.
pub(crate) fn stop_accepting_subscribers() {
    ACCEPTING_SUBSCRIBERS.store(false, Ordering::Release);
}

/// A monotonically increasing event counter.
#[derive(Default)]
struct Counter(AtomicU64);

impl Counter {
    fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

#[derive(Default)]
struct Counters {
    events_sent: Counter,
    send_failures: Counter,
    alloc_failures: Counter,
    rejected_msgs: Counter,
    packets_seen: Counter,
    send_refused: Counter,
}

/// The subscriber's netlink port id; 0 (the kernel's own port) means none.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct Subscriber(u32);

impl Subscriber {
    const NONE: Subscriber = Subscriber(0);

    fn portid(self) -> Option<u32> {
        (self.0 != 0).then_some(self.0)
    }
}

/// The fields of an IPv4 header the hook reports.
struct Ipv4Addrs {
    protocol: u8,
    /// Fragment offset in 8-byte units (0 for an unfragmented datagram and
    /// for a datagram's first fragment).
    fragment_offset: u16,
    /// Source and destination exactly as on the wire (network byte order).
    src: u32,
    dest: u32,
}

impl Ipv4Addrs {
    const MIN_HEADER_LEN: usize = 20;
    /// `IP_OFFSET`: the offset bits of `frag_off`.
    const OFFSET_MASK: u16 = 0x1fff;

    fn parse(hdr: &[u8; Self::MIN_HEADER_LEN]) -> Option<Self> {
        let version = hdr[0] >> 4;
        let ihl = hdr[0] & 0xf;
        if version != 4 || ihl < 5 {
            return None;
        }
        Some(Self {
            protocol: hdr[9],
            fragment_offset: u16::from_be_bytes([hdr[6], hdr[7]]) & Self::OFFSET_MASK,
            src: u32::from_ne_bytes([hdr[12], hdr[13], hdr[14], hdr[15]]),
            dest: u32::from_ne_bytes([hdr[16], hdr[17], hdr[18], hdr[19]]),
        })
    }

    /// Whether this packet starts an ICMP datagram: one event per datagram.
    ///
    /// Only a datagram's first fragment (offset 0) counts; later fragments
    /// carry no ICMP header. When IPv4 defragmentation is active
    /// (conntrack's defrag hook runs at priority -400, before ours), the
    /// hook sees whole datagrams, which have offset 0 as well.
    fn starts_icmp_datagram(&self) -> bool {
        self.protocol == wire::IPPROTO_ICMP && self.fragment_offset == 0
    }
}

/// Per-netns imp2 state.
#[pin_data]
pub(crate) struct Imp2Net {
    /// Read in the hook (softirq), written with BHs disabled.
    #[pin]
    subscriber: RwLock<Subscriber>,
    /// Received requests awaiting processing.
    #[pin]
    inbox: RequestQueue,
    /// Whoever holds it drains `inbox`.
    #[pin]
    drain_lock: Semaphore,
    /// `nlmsg_seq` of the next event.
    next_seq: AtomicU32,
    counters: Counters,
    /// Identifies the netns in log lines.
    net_cookie: u64,
}

impl NetService for Imp2Net {
    const HOOK_SPEC: HookSpec = HookSpec::IPV4_PRE_ROUTING_BEFORE_FILTER;

    fn net_id() -> &'static NetId {
        &NET_ID
    }

    fn init(net: &Net) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            subscriber <- RwLock::new(
                Subscriber::NONE,
                c_str!("imp2_subscriber"),
                static_lock_class!()
            ),
            inbox <- RequestQueue::new(),
            drain_lock <- Semaphore::new(),
            next_seq: AtomicU32::new(0),
            counters: Counters::default(),
            net_cookie: net.cookie(),
        }? Error)
    }

    fn packet(&self, ctx: &PacketContext<'_>, skb: &SkBuff) -> Verdict {
        let mut buf = [0u8; Ipv4Addrs::MIN_HEADER_LEN];
        // Reads only what is present: a short packet is simply skipped.
        let Some(ip) = skb.header_pointer(0, &mut buf).and_then(Ipv4Addrs::parse) else {
            return Verdict::Accept;
        };
        if !ip.starts_icmp_datagram() {
            return Verdict::Accept;
        }
        test_knobs::hook_delay();
        self.counters.packets_seen.inc();

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
            return Verdict::Accept;
        };
        // Taken before the allocation, on any CPU: events can reach the
        // subscriber out of order, so a gap may be a late event, not a loss.
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        test_knobs::send_delay();
        let info = PacketInfo { src: ip.src, dest: ip.dest };
        match NlMsgBuf::new(wire::IMP2_K_MSG, 0, seq, 0, &info, AllocContext::Atomic) {
            Ok(msg) => match ctx.socket.unicast(msg, portid) {
                Ok(()) => self.counters.events_sent.inc(),
                Err(e) => {
                    // EAGAIN: the subscriber's receive buffer is full.
                    self.counters.send_failures.inc();
                    // The port is gone: closed, its NETLINK_URELEASE
                    // notification not yet run, or the copy above is stale.
                    if e.to_errno() == errno::ECONNREFUSED().to_errno() {
                        self.counters.send_refused.inc();
                    }
                }
            },
            Err(_) => self.counters.alloc_failures.inc(),
        }
        Verdict::Accept
    }

    fn input(&self, skb: &InputSkb) {
        self.inbox.push(Request::new(skb));
        loop {
            // Somebody else is draining: they will see our request, because
            // they check the queue again after releasing the semaphore.
            let Some(draining) = self.drain_lock.try_down() else {
                return;
            };
            while let Some(request) = self.inbox.pop() {
                test_knobs::drain_delay();
                self.handle_request(&request);
            }
            drop(draining);
            // A request queued after our last pop whose sender failed the
            // try-lock (we still held it) would be stranded: look again.
            if self.inbox.is_empty() {
                return;
            }
        }
    }

    fn port_released(&self, portid: u32) {
        let mut subscriber = self.write_subscriber();
        if subscriber.portid() == Some(portid) {
            *subscriber = Subscriber::NONE;
            drop(subscriber);
            if params::log_allowed() {
                pr_info!(
                    "netns {}: subscriber port {} closed without IMP2_CLOSE, unsubscribed\n",
                    self.net_cookie,
                    portid
                );
            }
        }
    }
}

impl Imp2Net {
    /// Takes the subscriber's write lock (timed by the test knobs).
    fn write_subscriber(&self) -> crate::rwlock::WriteGuard<'_, Subscriber> {
        test_knobs::timed_write_lock(|| self.subscriber.write_bh())
    }

    fn handle_request(&self, request: &Request) {
        for frame in request.messages() {
            match frame {
                Ok(msg) => self.handle_message(request, &msg),
                Err(err) => {
                    // The rest of the datagram cannot be framed: drop it.
                    self.counters.rejected_msgs.inc();
                    if params::log_allowed() {
                        pr_info!(
                            "netns {}: malformed request from port {}: {:?}\n",
                            self.net_cookie,
                            request.sender_portid(),
                            err
                        );
                    }
                    break;
                }
            }
        }
    }

    fn handle_message(&self, request: &Request, msg: &Message<'_>) {
        let result = match msg.header.msg_type {
            wire::IMP2_U_PID => self.subscribe(request),
            wire::IMP2_CLOSE => self.unsubscribe(request),
            wire::IMP2_STATS_GET => self.send_stats(request, msg),
            _ => Err(errno::EOPNOTSUPP()),
        };
        if result.is_err() {
            self.counters.rejected_msgs.inc();
        }
        // The 2007 client never reads acks: send one only when asked to.
        if msg.header.flags & wire::NLM_F_ACK != 0 {
            request.ack(msg, result.err());
        }
    }

    fn subscribe(&self, request: &Request) -> Result {
        if !ACCEPTING_SUBSCRIBERS.load(Ordering::Acquire) {
            return Err(EAGAIN);
        }
        if !request.sender_net_admin() {
            return Err(EPERM);
        }
        let portid = request.sender_portid();
        if portid == 0 {
            return Err(EINVAL);
        }
        let mut subscriber = self.write_subscriber();
        // The sender may have closed its socket after sending, while this
        // request waited in the inbox; its NETLINK_URELEASE then found
        // nothing to clear, and its port id is free for anyone to bind.
        // Checked under the lock the notifier handler takes: either we see
        // the socket dead, or the handler runs after us and clears it.
        if request.sender_closed() {
            return Err(errno::ECONNREFUSED());
        }
        let previous = core::mem::replace(&mut *subscriber, Subscriber(portid));
        drop(subscriber);
        if params::log_allowed() {
            pr_info!(
                "netns {}: port {} subscribed{}\n",
                self.net_cookie,
                portid,
                if previous.portid().is_some() { " (replacing previous subscriber)" } else { "" }
            );
        }
        Ok(())
    }

    fn unsubscribe(&self, request: &Request) -> Result {
        let portid = request.sender_portid();
        let mut subscriber = self.write_subscriber();
        // Only the subscriber itself may close; `nlmsg_pid` is not trusted.
        if subscriber.portid() != Some(portid) {
            return Err(EPERM);
        }
        *subscriber = Subscriber::NONE;
        drop(subscriber);
        if params::log_allowed() {
            pr_info!("netns {}: port {} unsubscribed\n", self.net_cookie, portid);
        }
        Ok(())
    }

    fn send_stats(&self, request: &Request, msg: &Message<'_>) -> Result {
        let c = &self.counters;
        let stats = Stats {
            events_sent: c.events_sent.get(),
            send_failures: c.send_failures.get(),
            alloc_failures: c.alloc_failures.get(),
            rejected_msgs: c.rejected_msgs.get(),
            packets_seen: c.packets_seen.get(),
            send_refused: c.send_refused.get(),
            // Who is subscribed is for CAP_NET_ADMIN only: the port id is
            // all it takes to impersonate the subscriber once it closes.
            subscriber_portid: if request.sender_net_admin() { self.subscriber.read_bh().0 } else { 0 },
            unit: params::unit() as u32,
        };
        let reply = NlMsgBuf::new(wire::IMP2_STATS, 0, msg.header.seq, 0, &stats, AllocContext::Process)?;
        request.reply(reply)
    }
}

