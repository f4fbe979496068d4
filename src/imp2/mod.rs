// SPDX-License-Identifier: GPL-2.0

//! The imp2 protocol logic, per network namespace, in safe Rust:
//!
//! - [`v1`]: the 2007 protocol, one subscriber, IPv4 ICMP, `packet_info`;
//! - [`v2`]: protocol v2, many listeners with filters, IPv4 and IPv6;
//! - [`packet`]: what the hooks read from a packet;
//! - [`filter`], [`limit`], [`event`]: v2 filters, sampling and rate
//!   limits, and message encoding (pure, host-tested);
//! - here: the per-netns state, the hooks' dispatch and switching (a
//!   netns's hooks are registered on first use), requests (queued, bounded,
//!   and drained under a `down_trylock` semaphore) and the counters.

#![deny(unsafe_code)]

pub(crate) mod event;
pub(crate) mod filter;
pub(crate) mod limit;
pub(crate) mod packet;
mod v1;
mod v2;

use crate::{
    abstractions::{
        net::Net,
        netfilter::{Family, HookPoint, HookSpec, Verdict},
        netlink::{ExtAck, InputSkb, Request, RequestQueue},
        pernet::{NetHooks, NetId, NetService, PacketContext, RequestContext, TimerContext},
        sched::cond_resched,
        semaphore::Semaphore,
        skbuff::{AllocContext, NlMsgBuf, SkBuff, SkbTail},
        time::Jiffies,
    },
    params, policy, test_knobs,
    wire::{self, errno, nlmsg::Message, Stats},
};
use core::{
    pin::pin,
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
};
use event::{EventFacts, ListenerPart};
use filter::{Hook, HookSet};
use kernel::{
    error::code::*,
    new_mutex,
    prelude::*,
    sync::{Arc, Mutex},
};
use packet::{IpHeader, IpVersion, Ipv6UpperLayer, PacketBytes, IPPROTO_ICMP};

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

/// The netns counters of `IMP2_STATS`. The event counters are v1's; v2
/// listeners have their own (`IMP2_LISTENERS_GET`).
#[derive(Default)]
struct Counters {
    events_sent: Counter,
    send_failures: Counter,
    /// Event allocations that failed in the hooks, v1 and v2.
    alloc_failures: Counter,
    /// Malformed, unknown or refused requests, v1 and v2.
    rejected_msgs: Counter,
    /// ICMP datagrams (first fragments) at the IPv4 PRE_ROUTING hook,
    /// which is registered from the first listener there on (v1, or a v2
    /// IPv4 listener at prerouting).
    packets_seen: Counter,
    send_refused: Counter,
    /// Datagrams refused because the request queue was full.
    requests_refused: Counter,
}

/// The messages one drain call handles, at the least, before it hands the
/// rest to the netns's work item (it finishes the request it is in). A
/// sender drains at least as many as it sent itself, so that the kworker,
/// whose time nobody is charged for, only finishes what senders leave when
/// they stop; the queue bound (`IMP2_INBOX_ADMIN_BYTES`) bounds that.
const DRAIN_BUDGET: usize = 1024;

/// How many messages of one request are handled between two
/// `cond_resched()`: a request of the largest size holds about 32,000.
const RESCHED_EVERY: usize = 64;

/// A packet as the hooks see it: the skb from its network header on.
struct SkbPacket<'a>(&'a SkBuff);

impl PacketBytes for SkbPacket<'_> {
    #[inline]
    fn read<const N: usize>(&self, offset: usize) -> Option<[u8; N]> {
        let mut buf = [0u8; N];
        self.0.header_pointer(offset, &mut buf).copied()
    }

    fn len(&self) -> u32 {
        self.0.len()
    }

    fn ipv6_upper_layer(&self, nexthdr: u8) -> Option<Ipv6UpperLayer> {
        let (protocol, offset, first_fragment) = self.0.ipv6_upper_layer(nexthdr)?;
        Some(Ipv6UpperLayer { protocol, offset, first_fragment })
    }
}

/// Per-netns imp2 state.
#[pin_data]
pub(crate) struct Imp2Net {
    #[pin]
    v1: v1::V1,
    #[pin]
    v2: v2::Listeners,
    /// Requests from senders with CAP_NET_ADMIN over the netns, awaiting
    /// processing. Others' requests are never queued (see `input`).
    #[pin]
    inbox: RequestQueue,
    /// Whoever holds it drains `inbox`.
    #[pin]
    drain_lock: Semaphore,
    /// Serialises the changes of the v1 subscriber and the v2 listeners with
    /// the switching of the hooks they need (see `change_listeners`).
    #[pin]
    listeners_change: Mutex<()>,
    counters: Counters,
    /// Identifies the netns in log lines.
    net_cookie: u64,
}

/// The imp2 hook that netfilter's `point` is.
#[inline]
const fn hook_at(point: HookPoint) -> Hook {
    match point {
        HookPoint::PreRouting => Hook::PreRouting,
        HookPoint::LocalIn => Hook::Input,
        HookPoint::Forward => Hook::Forward,
        HookPoint::LocalOut => Hook::Output,
        HookPoint::PostRouting => Hook::PostRouting,
    }
}

// `IMP2_A_HOOK` carries netfilter's numbers, as the header promises.
const _: () = {
    let wire = wire::IMP2_HOOKS;
    let mut i = 0;
    while i < Hook::COUNT {
        assert!(Hook::ALL[i].wire() == wire[i] && HookPoint::ALL[i].hooknum() == wire[i]);
        assert!(hook_at(HookPoint::ALL[i]).wire() == wire[i]);
        i += 1;
    }
};

/// Netfilter's hook point and family for an imp2 hook and IP version.
const fn netfilter_hook(version: IpVersion, hook: Hook) -> (Family, HookPoint) {
    let family = match version {
        IpVersion::V4 => Family::Ipv4,
        IpVersion::V6 => Family::Ipv6,
    };
    let point = match hook {
        Hook::PreRouting => HookPoint::PreRouting,
        Hook::Input => HookPoint::LocalIn,
        Hook::Forward => HookPoint::Forward,
        Hook::Output => HookPoint::LocalOut,
        Hook::PostRouting => HookPoint::PostRouting,
    };
    (family, point)
}

impl NetService for Imp2Net {
    // Every hook just before the filter table, where the 2007 module hooked
    // PRE_ROUTING.
    fn hook_spec(family: Family, point: HookPoint) -> HookSpec {
        HookSpec::before_filter(family, point)
    }

    fn net_id() -> &'static NetId {
        &NET_ID
    }

    fn init(net: &Net) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            v1 <- v1::V1::new(),
            v2 <- v2::Listeners::new(),
            inbox <- RequestQueue::new(wire::INBOX_ADMIN_BYTES),
            drain_lock <- Semaphore::new(),
            listeners_change <- new_mutex!((), "imp2_listeners_change"),
            counters: Counters::default(),
            net_cookie: net.cookie(),
        }? Error)
    }

    // Inlined into each netfilter callback, with `family` and `point`
    // constant: a packet that nobody wants, the common case, costs a
    // protocol byte and one load.
    #[inline]
    fn may_want(&self, family: Family, point: HookPoint, skb: &SkBuff) -> bool {
        if family == Family::Ipv6 {
            return true;
        }
        // Too short to tell: `packet` skips it.
        let Some(protocol) = IpHeader::ipv4_protocol(&SkbPacket(skb)) else {
            return true;
        };
        // v1 reports ICMP at PRE_ROUTING; v2 listeners publish their IPv4
        // protocols per hook.
        let hook = hook_at(point);
        (hook == Hook::PreRouting && protocol == IPPROTO_ICMP) || self.v2.may_want_ipv4(hook, protocol)
    }

    // Out of line: its stack frame is not the fast path's to pay for.
    #[inline(never)]
    fn packet(&self, ctx: &PacketContext<'_>, skb: &SkBuff) -> Verdict {
        let packet = SkbPacket(skb);
        let hook = hook_at(ctx.point);
        match ctx.family {
            Family::Ipv4 => {
                // Reads only what is present: a short packet is simply skipped.
                let Some(ip) = IpHeader::ipv4(&packet) else {
                    return Verdict::Accept;
                };
                if hook == Hook::PreRouting && ip.is_icmp() && ip.starts_datagram {
                    test_knobs::hook_delay();
                    self.counters.packets_seen.inc();
                    self.v1.packet(ctx.socket, &ip, &self.counters);
                }
                // Only the 2007 protocol listens, commonly: no call at all.
                if !self.v2.is_empty() {
                    self.v2_packet(ctx, hook, &packet, Some(ip));
                }
            }
            Family::Ipv6 => self.v2_packet(ctx, hook, &packet, None),
        }
        Verdict::Accept
    }

    fn input(&self, skb: &InputSkb, ctx: &RequestContext<'_>) {
        let request = Request::new(skb);
        // Without CAP_NET_ADMIN a sender can change nothing that needs the
        // drain's serialisation: a close or unsubscribe of its own takes the
        // listeners' mutex itself, everything else is refused or only read.
        // So its request is handled here, in its own `sendmsg()` and on its
        // own CPU time, and it never holds the semaphore: it could not make
        // the administrators' requests wait by starving itself (SCHED_IDLE
        // needs no privilege), nor make a kworker work for it, nor fill a
        // queue.
        //
        // A datagram that loads a BPF program is handled here too, whoever
        // sends it: `bpf_prog_create()` checks the capabilities of the task
        // it runs in and charges it the memory (`bpf_jit_charge_modmem()`,
        // the JIT's constant blinding, `__GFP_ACCOUNT`), which must be the
        // sender, never a kworker or another administrator draining the
        // queue. It may thus overtake what the same sender queued before.
        if !request.sender_net_admin() || self.loads_program(&request) {
            self.handle_request(&request, ctx.hooks);
            return;
        }
        let own = request.messages().count();
        if let Err(refused) = self.inbox.push(request) {
            self.refuse(&refused);
        }
        self.drain(ctx, own.max(DRAIN_BUDGET));
    }

    fn deferred(&self, ctx: &RequestContext<'_>) {
        self.drain(ctx, DRAIN_BUDGET);
    }

    fn port_released(&self, portid: u32, hooks: &NetHooks) {
        test_knobs::release_delay();
        // Only a listener whose socket this was goes, with what was batched
        // for it.
        let (v1, v2) = self
            .change_listeners(hooks, HookSet::NONE, || {
                Ok((self.v1.port_released(portid), self.v2.port_released(portid)))
            })
            .unwrap_or_default();
        if v1 {
            self.log_change(portid, "subscriber closed without IMP2_CLOSE, unsubscribed");
        }
        if v2 {
            self.log_change(portid, "v2 listener closed, removed");
        }
    }

    fn timer_expired(&self, ctx: &TimerContext<'_>) {
        test_knobs::timer_delay();
        let now = Jiffies::now();
        let next = self.v2.with_set(|set, guard| {
            let mut next: Option<Jiffies> = None;
            for listener in set.all() {
                match listener.batch_due(now) {
                    v2::Due::Empty => {}
                    v2::Due::Now(batch) => listener.send(ctx.socket, batch.msg, batch.events, guard),
                    v2::Due::Later(due) => {
                        next = Some(next.map_or(due, |n| if due.is_before(n) { due } else { n }));
                    }
                }
            }
            next
        });
        if let Some(Some(due)) = next {
            ctx.timer.fire_by(due);
        }
    }
}

/// The hook the v1 subscriber needs.
const V1_HOOKS: HookSet = HookSet::NONE.with(IpVersion::V4, Hook::PreRouting);

impl Imp2Net {
    /// The hooks the current v1 subscriber and v2 listeners need.
    fn hooks_needed(&self) -> HookSet {
        let v1 = if self.v1.subscriber().is_some() { V1_HOOKS } else { HookSet::NONE };
        v1.union(self.v2.hooks_needed())
    }

    /// Runs `change`, a change of the v1 subscriber or the v2 listeners,
    /// with the hooks in step: those of `adding` are switched on before it
    /// (a new listener's first packet must not pass unseen, nor may an ack
    /// precede the hook). They stay on until the netns exits: every
    /// successful `nf_unregister_net_hook()` drops the packets that NFQUEUE users of
    /// the netns have queued (`nf_queue_nf_hook_drop()`), and every
    /// registration shifts the hook indices that `nf_reinject()` resumes
    /// from. With `hooks_on_demand=1` those nobody needs any more are
    /// switched off after it, whether it succeeded or not. Serialised, so
    /// that a concurrent change cannot switch off a hook between the two.
    fn change_listeners<R>(&self, hooks: &NetHooks, adding: HookSet, change: impl FnOnce() -> Result<R>) -> Result<R> {
        let _serialised = self.listeners_change.lock();
        let mut switched_on = Ok(());
        for (version, hook, add) in adding.each() {
            if add && switched_on.is_ok() {
                let (family, point) = netfilter_hook(version, hook);
                switched_on = hooks.get(family, point).enable();
            }
        }
        let result = switched_on.and_then(|()| change());
        if !params::hooks_on_demand() {
            return result;
        }
        for (version, hook, needed) in self.hooks_needed().each() {
            if !needed {
                let (family, point) = netfilter_hook(version, hook);
                hooks.get(family, point).disable();
            }
        }
        result
    }

    fn log_change(&self, portid: u32, what: &str) {
        if params::log_allowed() {
            pr_info!("netns {}: port {}: {}\n", self.net_cookie, portid, what);
        }
    }

    /// Reports a packet seen at `hook` to the v2 listeners that want it.
    /// `ipv4` is the header the IPv4 hook has already read; the IPv6 hook
    /// reads its own, and only if some listener wants IPv6 there.
    fn v2_packet(&self, ctx: &PacketContext<'_>, hook: Hook, packet: &SkbPacket<'_>, ipv4: Option<IpHeader>) {
        let skb = packet.0;
        // The common case with only a v1 subscriber: no read-side section.
        if self.v2.is_empty() {
            return;
        }
        self.v2.with_set(|set, guard| {
            let version = if ipv4.is_some() { packet::IpVersion::V4 } else { packet::IpVersion::V6 };
            if !set.wants(version, hook) {
                return;
            }
            let Some(ip) = ipv4.or_else(|| IpHeader::ipv6(packet)) else {
                return;
            };
            if !ip.starts_datagram {
                return;
            }
            let mut facts: Option<EventFacts> = None;
            for listener in set.matching(&ip, hook) {
                // Its expression, then sampling and the rate limit: a packet
                // any of them leaves out costs no event.
                if !listener.program_accepts(skb) {
                    continue;
                }
                let Some(suppressed) = listener.admit(crate::abstractions::time::monotonic_ns) else {
                    continue;
                };
                test_knobs::v2_event_delay();
                // Gathered once, for the first listener that takes it.
                let facts = *facts.get_or_insert_with(|| EventFacts {
                    icmp: ip.icmp_type_code(packet),
                    hook,
                    ifindex: ctx.state.in_ifindex(),
                    out_ifindex: hook.has_output().then(|| ctx.state.out_ifindex()),
                    len: packet.len(),
                    tstamp_ns: crate::abstractions::time::realtime_ns(),
                });
                let payload_len = listener.payload_len(facts.len);
                let part = ListenerPart { suppressed, payload_len };
                // Sized for this packet's bytes, not the snaplen's.
                let need = filter::event_room(payload_len);
                // Each path has its own writer closure: one shared by both was
                // compiled out of line (make bench: +150 instructions per event).
                if listener.batched() {
                    let write = |tail: &mut SkbTail<'_>, seq| event::write_event(tail, seq, &ip, &facts, &part, skb);
                    match listener.batch_event(ctx.timer, need, write) {
                        v2::Batched::Queued => {}
                        v2::Batched::Ready(batch) => listener.send(ctx.socket, batch.msg, batch.events, guard),
                        v2::Batched::Lost { no_memory, earlier } => {
                            if no_memory {
                                self.counters.alloc_failures.inc();
                            }
                            if let Some(batch) = earlier {
                                listener.send(ctx.socket, batch.msg, batch.events, guard);
                            }
                        }
                    }
                    continue;
                }
                // Taken before the allocation, as in v1: a failed one leaves
                // a gap the listener sees.
                let seq = listener.next_seq();
                let gfp = AllocContext::atomic(payload_len > 0);
                let Ok(mut msg) = NlMsgBuf::with_capacity(need as u32, gfp) else {
                    self.counters.alloc_failures.inc();
                    continue;
                };
                // Written in place: `need` fits the event.
                if msg.append_with(|tail| event::write_event(tail, seq, &ip, &facts, &part, skb)).is_ok() {
                    listener.send(ctx.socket, msg, 1, guard);
                }
            }
        });
    }

    /// Whether a message of `request` is a subscribe with a BPF program.
    fn loads_program(&self, request: &Request) -> bool {
        request.messages().any(|frame| {
            frame.ok().is_some_and(|msg| {
                msg.header.msg_type == wire::IMP2_V2_SUBSCRIBE
                    && request.message(&msg).is_some_and(policy::carries_program)
            })
        })
    }

    /// Drains the request queue for as long as it gets the semaphore and
    /// something is queued, handling about `budget` messages at most; what
    /// is left then goes to the netns's work item.
    fn drain(&self, ctx: &RequestContext<'_>, mut budget: usize) {
        loop {
            // Somebody else is draining: they will see our request, because
            // they check the queues again after releasing the semaphore.
            let Some(draining) = self.drain_lock.try_down() else {
                return;
            };
            let finished = self.drain_pass(ctx.hooks, &mut budget);
            drop(draining);
            if !finished {
                // This sender (or kworker turn) has done its share; the
                // work item goes on, and another turn may drain meanwhile.
                ctx.defer();
                return;
            }
            // A request queued after our last pop whose sender failed the
            // try-lock (we still held it) would be stranded: look again.
            if self.inbox.is_empty() {
                return;
            }
        }
    }

    /// Handles queued requests until none is left (true) or `budget`
    /// messages are spent (false).
    fn drain_pass(&self, hooks: &NetHooks, budget: &mut usize) -> bool {
        while *budget > 0 {
            let Some(request) = self.inbox.pop() else {
                return true;
            };
            test_knobs::drain_delay();
            let handled = self.handle_request(&request, hooks);
            drop(request);
            cond_resched();
            *budget = budget.saturating_sub(handled.max(1));
        }
        false
    }

    /// A datagram the queue had no room for: counted, dropped, and answered
    /// with `ENOBUFS` if its first message asks for an ack.
    fn refuse(&self, request: &Request) {
        self.counters.requests_refused.inc();
        if let Some(Ok(msg)) = request.messages().next() {
            if msg.header.flags & wire::NLM_F_ACK != 0 {
                request.ack(&msg, Some(errno::ENOBUFS()), None);
            }
        }
        if params::log_allowed() {
            pr_info!(
                "netns {}: request queue full: datagram from port {} refused\n",
                self.net_cookie,
                request.sender_portid()
            );
        }
    }

    /// Handles the messages of one request; returns how many.
    fn handle_request(&self, request: &Request, hooks: &NetHooks) -> usize {
        let mut handled = 0;
        for frame in request.messages() {
            handled += 1;
            if handled % RESCHED_EVERY == 0 {
                cond_resched();
            }
            match frame {
                Ok(msg) => self.handle_message(request, &msg, hooks),
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
        handled
    }

    fn handle_message(&self, request: &Request, msg: &Message<'_>, hooks: &NetHooks) {
        let mut extack = pin!(ExtAck::new());
        let result = match msg.header.msg_type {
            wire::IMP2_U_PID => self.v1_subscribe(request, hooks),
            wire::IMP2_CLOSE => self.v1_unsubscribe(request, hooks),
            wire::IMP2_STATS_GET => self.send_stats(request, msg),
            wire::IMP2_LISTENERS_GET => self.send_listeners(request, msg, extack.as_mut()),
            wire::IMP2_V2_SUBSCRIBE => self.v2_subscribe(request, msg, extack.as_mut(), hooks),
            wire::IMP2_V2_UNSUBSCRIBE => self.v2_unsubscribe(request, msg, extack.as_mut(), hooks),
            _ => Err(errno::EOPNOTSUPP()),
        };
        if result.is_err() {
            self.counters.rejected_msgs.inc();
        }
        // The 2007 client never reads acks: send one only when asked to.
        if msg.header.flags & wire::NLM_F_ACK != 0 {
            request.ack(msg, result.err(), Some(extack));
        }
    }

    /// The common checks of every subscribe, v1 and v2.
    fn may_subscribe(request: &Request) -> Result {
        if !ACCEPTING_SUBSCRIBERS.load(Ordering::Acquire) {
            return Err(EAGAIN);
        }
        if !request.sender_net_admin() {
            return Err(EPERM);
        }
        Ok(())
    }

    fn v1_subscribe(&self, request: &Request, hooks: &NetHooks) -> Result {
        Self::may_subscribe(request)?;
        let change = self.change_listeners(hooks, V1_HOOKS, || self.v1.subscribe(request))?;
        let v1::Change::Subscribed { replaced } = change else {
            return Ok(());
        };
        let what = if replaced { "subscribed (replacing previous subscriber)" } else { "subscribed" };
        self.log_change(request.sender_portid(), what);
        Ok(())
    }

    fn v1_unsubscribe(&self, request: &Request, hooks: &NetHooks) -> Result {
        // Anyone may send IMP2_CLOSE: refuse a stranger before taking any
        // lock that subscribers or the hooks' writers need.
        if !self.v1.is_subscriber(request) {
            return Err(EPERM);
        }
        self.change_listeners(hooks, HookSet::NONE, || self.v1.unsubscribe(request))?;
        self.log_change(request.sender_portid(), "unsubscribed");
        Ok(())
    }

    fn v2_subscribe(
        &self,
        request: &Request,
        msg: &Message<'_>,
        extack: Pin<&mut ExtAck>,
        hooks: &NetHooks,
    ) -> Result {
        let message = request.message(msg).ok_or(EINVAL)?;
        let mut extack = extack;
        let parsed = policy::parse_subscribe(message, extack.as_mut())?;
        Self::may_subscribe(request)?;
        let portid = request.sender_portid();
        if portid == 0 {
            return Err(EINVAL);
        }
        // Only for senders that may subscribe, and that there is room for:
        // loading checks and compiles. (`input` has seen to it that this is
        // the sender's own task.)
        if parsed.bpf.is_some() && !self.v2.has_room(request, params::max_listeners()) {
            return Err(ENOSPC);
        }
        let bpf = match &parsed.bpf {
            Some(program) => Some(Arc::new(program.load(extack)?, GFP_KERNEL)?),
            None => None,
        };
        let (filter, delivery, limits) = (parsed.filter, parsed.delivery, parsed.limits);
        let adding = filter.hooks();
        let earlier_batch = self.change_listeners(hooks, adding, || {
            self.v2
                .subscribe(request, v2::Wants { filter, bpf, delivery, limits }, params::max_listeners())
                .map_err(|e| match e {
                    v2::SubscribeError::Full => ENOSPC,
                    v2::SubscribeError::SenderClosed => errno::ECONNREFUSED(),
                    v2::SubscribeError::NoMemory => ENOMEM,
                })
        })?;
        // Events batched under the listener's previous delivery go first,
        // before the ack, to the listener itself, and count as its own.
        if let Some((batch, state)) = earlier_batch {
            let events = batch.events;
            state.count_sends(events, request.reply(batch.msg).is_ok());
        }
        self.log_change(portid, "v2 listener subscribed");
        Ok(())
    }

    fn v2_unsubscribe(
        &self,
        request: &Request,
        msg: &Message<'_>,
        extack: Pin<&mut ExtAck>,
        hooks: &NetHooks,
    ) -> Result {
        policy::parse_empty(request.message(msg).ok_or(EINVAL)?, extack)?;
        let portid = request.sender_portid();
        // Only the listener itself: its own socket, neither a claim nor a
        // port id, which another socket may have bound since it closed. A
        // stranger is refused before any lock is taken.
        if !self.v2.is_listener(request) {
            return Err(EPERM);
        }
        let removed = self.change_listeners(hooks, HookSet::NONE, || Ok(self.v2.unsubscribe(request)))?;
        let Some(state) = removed else {
            return Err(EPERM);
        };
        // Events still batched for it go before the ack (the same socket
        // delivers both, in order); nothing else can reach them any more.
        if let Some(batch) = state.take_batch() {
            let _ = request.reply(batch.msg);
        }
        self.log_change(portid, "v2 listener unsubscribed");
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
            requests_refused: c.requests_refused.get(),
            // For CAP_NET_ADMIN only, as the ABI says. No secret (port ids
            // are in /proc/net/netlink) and, subscriptions being tied to
            // sockets, no power either.
            subscriber_portid: if request.sender_net_admin() { self.v1.subscriber().unwrap_or(0) } else { 0 },
            unit: params::unit() as u32,
        };
        let reply = NlMsgBuf::new(wire::IMP2_STATS, 0, msg.header.seq, 0, &stats, AllocContext::Process)?;
        request.reply(reply)
    }

    /// `IMP2_LISTENERS_GET`: one `IMP2_LISTENER` per listener, then
    /// `NLMSG_DONE`, each in its own skb. For CAP_NET_ADMIN only.
    fn send_listeners(&self, request: &Request, msg: &Message<'_>, extack: Pin<&mut ExtAck>) -> Result {
        policy::parse_empty(request.message(msg).ok_or(EINVAL)?, extack)?;
        if !request.sender_net_admin() {
            return Err(EPERM);
        }
        let seq = msg.header.seq;
        let send = |bytes: &[u8]| request.reply(NlMsgBuf::from_bytes(bytes, AllocContext::Process)?);
        self.v2.report(seq, send)?;
        let mut buf = [0u8; event::DONE_MAX];
        send(event::encode_done(&mut buf, seq).map_err(|_| errno::EMSGSIZE())?)
    }
}
