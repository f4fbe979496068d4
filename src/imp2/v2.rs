// SPDX-License-Identifier: GPL-2.0

//! Protocol v2 listeners: up to `max_listeners` per netns, each with its
//! own filter and counters, reported to with one `IMP2_V2_EVENT` per
//! matching packet, each in its own datagram or gathered into batches.
//!
//! The hooks read the listener set under RCU and never take a lock that
//! subscribers write: subscribe, unsubscribe and `NETLINK_URELEASE` publish
//! a new copy of the set under the set's update mutex and free the old one
//! after a grace period.
//!
//! A listener is its socket, held (`RcuSockRef`), not its port id, which
//! anyone may bind once the socket closes: nothing is sent to a closed
//! socket, only the socket itself may unsubscribe or change its filter,
//! and a port release removes only the listener whose socket it was.
//!
//! A batching listener's pending datagram sits behind its own BH-safe
//! spinlock, which the hooks (any CPU), the netns timer and unsubscribe
//! take: appending an event, and taking the datagram out when it is full,
//! due (the timer) or the listener leaves (unsubscribe). Sending happens
//! outside the lock.

use super::{
    event::{self, ListenerReport},
    filter::{self, Delivery, Filter, Hook, HookSet, ProtocolInterest},
    limit::{LimitState, Limits},
    packet::{IpHeader, IpVersion},
};
use crate::{
    abstractions::{
        bpf::ClassicProgram,
        netlink::{KernelSocket, RcuSockRef, Request},
        rcu::{self, RcuBox, Updater},
        skbuff::{AllocContext, NlMsgBuf, SkBuff, SkbTail},
        spinlock_bh::SpinLockBh,
        time::Jiffies,
        timer::Timer,
    },
    new_spinlock_bh,
    wire::nlattr::BufferFull,
};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use kernel::{prelude::*, sync::Arc};

/// A listener's sequence number, counters and pending batch. Shared by
/// every published copy of the listener, so that replacing the filter
/// keeps them.
#[pin_data]
pub(super) struct ListenerState {
    /// The listener has been removed: the hooks and the timer skip it,
    /// even if publishing the set without it failed.
    closed: AtomicBool,
    /// The listener's socket.
    sock: RcuSockRef,
    /// `nlmsg_seq` and `IMP2_A_SEQ` of the next event.
    next_seq: AtomicU32,
    events_sent: AtomicU64,
    send_failures: AtomicU64,
    /// What sampling and the rate limit let through and left out.
    limits: LimitState,
    /// Events gathered for one datagram (batching listeners only).
    #[pin]
    batch: SpinLockBh<Batch>,
}

impl ListenerState {
    fn new(sock: RcuSockRef) -> impl PinInit<Self> {
        pin_init!(Self {
            closed: AtomicBool::new(false),
            sock,
            next_seq: AtomicU32::new(0),
            events_sent: AtomicU64::new(0),
            send_failures: AtomicU64::new(0),
            limits: LimitState::default(),
            batch <- new_spinlock_bh!(Batch::EMPTY, "imp2_listener_batch"),
        })
    }

    /// Takes the batch out, whatever its state: for a listener that leaves.
    pub(super) fn take_batch(&self) -> Option<ReadyBatch> {
        self.batch.lock().take()
    }

    /// Records whether a datagram of `events` events reached the socket.
    pub(super) fn count_sends(&self, events: u32, sent: bool) {
        let counter = if sent { &self.events_sent } else { &self.send_failures };
        counter.fetch_add(events.into(), Ordering::Relaxed);
    }

    /// Whether the listener is gone or its socket closed.
    fn gone(&self) -> bool {
        self.closed.load(Ordering::Acquire) || self.sock.closed()
    }
}

/// Events waiting to go to a listener as one datagram.
struct Batch {
    /// The datagram; `None` while no event waits.
    msg: Option<NlMsgBuf>,
    /// The bytes it was allocated for.
    capacity: usize,
    events: u32,
    bytes: usize,
    /// When the batch is due, counted from its first event.
    deadline: Jiffies,
}

impl Batch {
    const EMPTY: Batch = Batch { msg: None, capacity: 0, events: 0, bytes: 0, deadline: Jiffies::ZERO };

    /// Empties the batch; its datagram, unless it holds no event.
    fn take(&mut self) -> Option<ReadyBatch> {
        let msg = self.msg.take()?;
        let events = core::mem::replace(&mut self.events, 0);
        self.bytes = 0;
        (events > 0).then_some(ReadyBatch { msg, events })
    }
}

/// A datagram of `events` events, ready to send.
pub(super) struct ReadyBatch {
    pub(super) msg: NlMsgBuf,
    pub(super) events: u32,
}

/// What became of an event offered to a batching listener.
pub(super) enum Batched {
    /// It waits in the batch.
    Queued,
    /// It completed the batch, or started a new one because the batch had
    /// no room for it: send this.
    Ready(ReadyBatch),
    /// The event is lost, a gap in the listener's sequence: no memory for
    /// a new batch (`no_memory`), or it could not be written. Send
    /// `earlier`, the batch it did not fit, if any.
    Lost { no_memory: bool, earlier: Option<ReadyBatch> },
}

/// Whether a listener's batch is due, for the netns timer.
pub(super) enum Due {
    /// Nothing waits.
    Empty,
    /// Send this now.
    Now(ReadyBatch),
    /// Due at this time.
    Later(Jiffies),
}

/// One listener, as published in a [`ListenerSet`].
pub(super) struct Listener {
    /// Its socket's port id: for reports, and to find it when a socket
    /// bound to that port is released.
    pub(super) portid: u32,
    filter: Filter,
    /// Its program (`IMP2_A_BPF`), shared by the set's copies of the
    /// listener: the last to go, after a grace period, destroys it.
    bpf: Option<Arc<ClassicProgram>>,
    delivery: Delivery,
    limits: Limits,
    state: Arc<ListenerState>,
}

/// A listener's filter, program, delivery, sampling and rate limit: what
/// its socket asked for in its latest subscribe.
pub(super) struct Wants {
    pub(super) filter: Filter,
    pub(super) bpf: Option<Arc<ClassicProgram>>,
    pub(super) delivery: Delivery,
    pub(super) limits: Limits,
}

impl Listener {
    /// Whether the listener's program, if it has one, accepts `skb`.
    #[inline]
    pub(super) fn program_accepts(&self, skb: &SkBuff) -> bool {
        match &self.bpf {
            Some(prog) => prog.run(skb) != 0,
            None => true,
        }
    }

    /// Whether this listener takes an event for a packet that matches it:
    /// `None` if its limits leave the packet out, else what the event
    /// reports as left out before it (`None` for listeners without limits).
    /// `now_ns` reads the monotonic clock, for rate limits only.
    #[inline]
    pub(super) fn admit(&self, now_ns: impl FnOnce() -> u64) -> Option<Option<u64>> {
        if !self.limits.any() {
            return Some(None);
        }
        self.state.limits.admit(&self.limits, now_ns).map(Some)
    }

    /// How many bytes of a packet of `len` bytes its event carries.
    #[inline]
    pub(super) fn payload_len(&self, len: u32) -> usize {
        self.delivery.payload_len(len)
    }

    /// Takes the sequence number of this listener's next event.
    pub(super) fn next_seq(&self) -> u32 {
        self.state.next_seq.fetch_add(1, Ordering::Relaxed)
    }

    /// Sends `msg`, holding `events` events, to the listener's socket, if
    /// it is not closed, and counts it.
    pub(super) fn send(&self, socket: &KernelSocket, msg: NlMsgBuf, events: u32, guard: &rcu::Guard) {
        let sent = match self.state.sock.get(guard) {
            Some(sock) => socket.unicast_to(msg, sock).is_ok(),
            None => false,
        };
        self.count_sends(events, sent);
    }

    /// Records whether a datagram of `events` events reached the socket.
    pub(super) fn count_sends(&self, events: u32, sent: bool) {
        self.state.count_sends(events, sent);
    }

    /// Whether this listener gathers its events into batches.
    pub(super) fn batched(&self) -> bool {
        self.delivery.batched()
    }

    /// Adds an event of at most `need` bytes to the listener's batch.
    /// `encode` writes the event with the sequence number it is given, in
    /// place at the end of the batch's datagram, and returns its length; it
    /// runs under the batch lock, so that the events of a batch are in
    /// sequence order even when they come from several CPUs. A new batch
    /// arms `timer` for its deadline. Any context.
    pub(super) fn batch_event(
        &self,
        timer: &Timer,
        need: usize,
        encode: impl FnOnce(&mut SkbTail<'_>, u32) -> Result<usize, BufferFull>,
    ) -> Batched {
        let mut batch = self.state.batch.lock();
        // A batch without room for this event goes now: one that holds
        // events with payloads, or that another delivery of this listener
        // sized (hooks still using the listener's previous copy, until
        // subscribe has waited for them).
        let earlier = if batch.msg.is_some() && batch.bytes + need > batch.capacity {
            batch.take()
        } else {
            None
        };
        // Taken before the allocation, as for unbatched events: a lost event
        // is a gap the listener sees.
        let seq = self.next_seq();
        if batch.msg.is_none() {
            // At least `need`: the capacity fits the delivery's largest event.
            let capacity = self.delivery.capacity();
            let gfp = AllocContext::atomic(self.delivery.snaplen > 0);
            let Ok(msg) = NlMsgBuf::with_capacity(capacity as u32, gfp) else {
                return Batched::Lost { no_memory: true, earlier };
            };
            batch.msg = Some(msg);
            batch.capacity = capacity;
            batch.deadline = Jiffies::after_ms(self.delivery.flush_ms);
            timer.fire_by(batch.deadline);
        }
        let appended = batch.msg.as_mut().map(|msg| msg.append_with(|tail| encode(tail, seq)));
        let Some(Ok(len)) = appended else {
            return Batched::Lost { no_memory: false, earlier };
        };
        batch.events += 1;
        batch.bytes += len;
        let full = self.delivery.batch_full(batch.events, batch.bytes, batch.capacity);
        // One datagram per call: if the earlier batch goes, a new one that is
        // already full waits for its deadline or the next event.
        match earlier.or_else(|| full.then(|| batch.take()).flatten()) {
            Some(ready) => Batched::Ready(ready),
            None => Batched::Queued,
        }
    }

    /// Takes the batch out if it is due at `now`, for the netns timer. A
    /// removed listener's batch, or a closed socket's, is left alone:
    /// unsubscribe, which removed it, sends it to the listener itself, and
    /// a port release drops it.
    pub(super) fn batch_due(&self, now: Jiffies) -> Due {
        if self.state.gone() {
            return Due::Empty;
        }
        let mut batch = self.state.batch.lock();
        if batch.msg.is_none() {
            return Due::Empty;
        }
        if now.is_before(batch.deadline) {
            return Due::Later(batch.deadline);
        }
        batch.take().map_or(Due::Empty, Due::Now)
    }

    fn duplicate(&self) -> Self {
        Self {
            portid: self.portid,
            filter: self.filter,
            bpf: self.bpf.clone(),
            delivery: self.delivery,
            limits: self.limits,
            state: self.state.clone(),
        }
    }
}

/// The listeners of a netns at one point in time. Never modified once
/// published: every change publishes a new set.
pub(super) struct ListenerSet {
    listeners: KVec<Listener>,
    /// Where its listeners listen, and to which families.
    hooks: HookSet,
}

impl ListenerSet {
    fn new(listeners: KVec<Listener>) -> Self {
        let hooks = listeners.iter().fold(HookSet::NONE, |set, l| set.union(l.filter.hooks()));
        Self { listeners, hooks }
    }

    /// Whether any listener wants packets of IP version `version` at
    /// `hook`: a hook of a family nobody wants there returns before parsing.
    #[inline]
    pub(super) fn wants(&self, version: IpVersion, hook: Hook) -> bool {
        self.hooks.contains(version, hook)
    }

    /// Every listener, open or closed.
    pub(super) fn all(&self) -> impl Iterator<Item = &Listener> + '_ {
        self.listeners.iter()
    }

    /// The listeners not removed whose filter matches `ip` seen at `hook`
    /// (a closed socket is checked when sending).
    pub(super) fn matching<'a>(&'a self, ip: &'a IpHeader, hook: Hook) -> impl Iterator<Item = &'a Listener> + 'a {
        self.listeners
            .iter()
            .filter(move |l| l.filter.matches(ip, hook) && !l.state.closed.load(Ordering::Acquire))
    }
}

/// Why a v2 subscribe was refused.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum SubscribeError {
    /// `max_listeners` listeners exist already.
    Full,
    /// The sending socket closed before the request was processed.
    SenderClosed,
    /// No memory for the new set.
    NoMemory,
}

/// The v2 listeners of one netns.
#[pin_data]
pub(super) struct Listeners {
    #[pin]
    set: RcuBox<ListenerSet>,
    /// The IPv4 protocols the listeners of `set` may want, per hook
    /// (indexed by [`Hook::wire`]).
    ipv4_interest: [ProtocolInterest; Hook::COUNT],
}

impl Listeners {
    pub(super) fn new() -> impl PinInit<Self> {
        pin_init!(Self { set <- RcuBox::new(), ipv4_interest: Default::default() })
    }

    /// Whether nobody listens at this instant (no read-side section).
    pub(super) fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// Whether some listener may want IPv4 packets of L4 protocol `proto`
    /// at `hook` (no read-side section). A hint: `true` while a change that
    /// drops the protocol is being published, `false` before a listener
    /// that adds it is.
    #[inline]
    pub(super) fn may_want_ipv4(&self, hook: Hook, proto: u8) -> bool {
        self.ipv4_interest[hook.wire() as usize].may_want(proto)
    }

    /// Runs `f` on the current set, if anybody listens, in an RCU read-side
    /// section (so `f` must not sleep), which it gets to send with.
    pub(super) fn with_set<R>(&self, f: impl FnOnce(&ListenerSet, &rcu::Guard) -> R) -> Option<R> {
        let guard = rcu::read_lock();
        self.set.get(&guard).map(|set| f(set, &guard))
    }

    /// The hooks the listeners need (one left behind by a failed removal
    /// does not count).
    pub(super) fn hooks_needed(&self) -> HookSet {
        self.with_set(|set, _| {
            set.listeners
                .iter()
                .filter(|l| !l.state.closed.load(Ordering::Relaxed))
                .fold(HookSet::NONE, |hooks, l| hooks.union(l.filter.hooks()))
        })
        .unwrap_or_default()
    }

    /// Publishes the listeners that `edit` makes of the current ones.
    fn republish(
        &self,
        updater: &mut Updater<'_, ListenerSet>,
        edit: impl FnOnce(&[Listener], &mut KVec<Listener>) -> Result<(), SubscribeError>,
    ) -> Result<(), SubscribeError> {
        let current = updater.current().map_or(&[][..], |s| &s.listeners[..]);
        let mut next =
            KVec::with_capacity(current.len() + 1, GFP_KERNEL).map_err(|_| SubscribeError::NoMemory)?;
        edit(current, &mut next)?;
        let next_interest = filter::ipv4_protocols(next.iter().map(|l| &l.filter));
        let next = if next.is_empty() {
            None
        } else {
            Some(KBox::new(ListenerSet::new(next), GFP_KERNEL).map_err(|_| SubscribeError::NoMemory)?)
        };
        // The hooks test the interest before the set: it covers the old set
        // and the new one while both may be in use.
        for (interest, bits) in self.ipv4_interest.iter().zip(&next_interest) {
            interest.widen(bits);
        }
        updater.replace(next);
        for (interest, bits) in self.ipv4_interest.iter().zip(&next_interest) {
            interest.set(bits);
        }
        Ok(())
    }

    /// Makes the socket that sent `request` a listener with what it
    /// `wants`, or replaces that if it is one already. Whether the sender has
    /// closed is checked under the update lock, which [`Listeners::remove`]
    /// (the `NETLINK_URELEASE` path) takes too: either the closed sender is
    /// seen here, or its release runs after and removes it. A change of
    /// delivery returns the batch gathered under the old one, if any, with
    /// the listener's state to count it on.
    ///
    /// Another socket that had the same port id before is not this
    /// listener: its entry, if its release has not removed it yet, is
    /// dropped here, and this socket starts afresh.
    pub(super) fn subscribe(
        &self,
        request: &Request,
        wants: Wants,
        max_listeners: usize,
    ) -> Result<Option<(ReadyBatch, Arc<ListenerState>)>, SubscribeError> {
        let mut updater = self.set.lock();
        if request.sender_closed() {
            return Err(SubscribeError::SenderClosed);
        }
        let own = |l: &Listener| l.state.sock.sent(request) && !l.state.closed.load(Ordering::Relaxed);
        let old = updater.current().and_then(|s| s.listeners.iter().find(|l| own(l)));
        let old_delivery = old.map(|l| l.delivery);
        let Wants { filter, bpf, delivery, limits } = wants;
        // Subscribing again with the same filter changes nothing: spare the
        // grace period. (A program is new each time: it always republishes.)
        let same = |l: &Listener| {
            l.filter == filter && l.delivery == delivery && l.limits == limits && l.bpf.is_none() && bpf.is_none()
        };
        if old.is_some_and(same) {
            return Ok(None);
        }
        self.republish(&mut updater, |current, next| {
            let mut replaced = false;
            // Listeners left behind by a failed removal go now, and so do
            // those whose socket has closed (their release removes nothing
            // then).
            for l in current.iter().filter(|l| !l.state.gone()) {
                let mut copy = l.duplicate();
                if own(l) {
                    copy.filter = filter;
                    copy.bpf = bpf.clone();
                    copy.delivery = delivery;
                    copy.limits = limits;
                    replaced = true;
                }
                next.push(copy, GFP_KERNEL).map_err(|_| SubscribeError::NoMemory)?;
            }
            if !replaced {
                if next.len() >= max_listeners {
                    return Err(SubscribeError::Full);
                }
                let sock = RcuSockRef::new(request.sender());
                let state =
                    Arc::pin_init(ListenerState::new(sock), GFP_KERNEL).map_err(|_| SubscribeError::NoMemory)?;
                let portid = request.sender_portid();
                next.push(Listener { portid, filter, bpf: bpf.clone(), delivery, limits, state }, GFP_KERNEL)
                    .map_err(|_| SubscribeError::NoMemory)?;
            }
            Ok(())
        })?;
        // A new delivery (batching or snaplen) starts with a new batch: the
        // one gathered under the old one goes to the caller to send first (publishing waited for a
        // grace period, so no hook still fills it the old way).
        match old_delivery {
            Some(old) if old != delivery => {}
            _ => return Ok(None),
        }
        Ok(updater
            .current()
            .and_then(|s| s.listeners.iter().find(|l| own(l)))
            .and_then(|l| Some((l.state.take_batch()?, l.state.clone()))))
    }

    /// Whether the socket that sent `request` could subscribe now without
    /// exceeding `max_listeners`: it is a listener already, or there is a
    /// free slot (a hint: a read-side section only).
    pub(super) fn has_room(&self, request: &Request, max_listeners: usize) -> bool {
        self.with_set(|set, _| {
            let open = set.listeners.iter().filter(|l| !l.state.gone()).count();
            open < max_listeners || set.listeners.iter().any(|l| !l.state.gone() && l.state.sock.sent(request))
        })
        .unwrap_or(true)
    }

    /// Whether the socket that sent `request` is a listener (a read-side
    /// section only).
    pub(super) fn is_listener(&self, request: &Request) -> bool {
        self.with_set(|set, _| {
            set.listeners
                .iter()
                .any(|l| !l.state.closed.load(Ordering::Relaxed) && l.state.sock.sent(request))
        })
        .unwrap_or(false)
    }

    /// Removes the listener that sent `request` and returns its state, with
    /// any batch still pending; `None` if it is not one.
    pub(super) fn unsubscribe(&self, request: &Request) -> Option<Arc<ListenerState>> {
        self.remove(|l| l.state.sock.sent(request))
    }

    /// Removes a listener on `portid` whose socket has closed, as the
    /// socket just released there has, and drops what was batched for it;
    /// whether there was one. (The notifier names no socket: if several
    /// closed sockets had the port in turn, each release removes one of
    /// them.) A listener on the same port id whose socket is open is
    /// another socket that has bound it since, and stays.
    pub(super) fn port_released(&self, portid: u32) -> bool {
        // Released means closed: `netlink_release()` marks the socket dead
        // (`sock_orphan()`) before it runs the NETLINK_URELEASE notifiers.
        let removed = self.remove(|l| l.portid == portid && l.state.sock.closed());
        removed.map(|state| drop(state.take_batch())).is_some()
    }

    /// Removes the first listener `which` picks and returns its state, with
    /// any batch still pending; `None` if there is none. Cannot fail: if
    /// there is no memory for the new set, the listener stays in it marked
    /// closed (the hooks skip it, the timer leaves its batch alone), lets go
    /// of its socket, and goes with the next update. Either way no hook and
    /// no timer run takes or fills its batch any more when this returns.
    fn remove(&self, which: impl Fn(&Listener) -> bool) -> Option<Arc<ListenerState>> {
        let mut updater = self.set.lock();
        let state = updater
            .current()
            .and_then(|s| s.listeners.iter().find(|l| !l.state.closed.load(Ordering::Relaxed) && which(l)))
            .map(|l| l.state.clone())?;
        // Before republishing, which may fail: from now on no hook sends to
        // the port (Release pairs with the Acquire in `matching`).
        state.closed.store(true, Ordering::Release);
        // On failure the tombstone stays; later updates drop it (below).
        let published = self.republish(&mut updater, |current, next| {
            // Tombstones of earlier failed removals go too.
            for l in current.iter().filter(|l| !Arc::ptr_eq(&l.state, &state) && !l.state.closed.load(Ordering::Relaxed)) {
                next.push(l.duplicate(), GFP_KERNEL).map_err(|_| SubscribeError::NoMemory)?;
            }
            Ok(())
        });
        // Publishing waited for a grace period; without it, wait here: hooks
        // and timer runs that saw the listener open have finished then. The
        // tombstone must not keep the socket, which holds its netns.
        if published.is_err() {
            rcu::synchronize();
            state.sock.release();
        }
        Some(state)
    }

    /// Calls `send` with one encoded `IMP2_LISTENER` message per listener,
    /// for the reply to request `seq`.
    pub(super) fn report(&self, seq: u32, mut send: impl FnMut(&[u8]) -> Result) -> Result {
        // Under the update lock rather than RCU: `send` allocates and sleeps.
        let updater = self.set.lock();
        let Some(set) = updater.current() else {
            return Ok(());
        };
        // On the heap: a report listing 256 protocols is too big for the stack.
        let mut buf = KVec::from_elem(0u8, event::LISTENER_MAX, GFP_KERNEL)?;
        for l in set.listeners.iter() {
            let report = ListenerReport {
                portid: l.portid,
                filter: &l.filter,
                delivery: l.delivery,
                limits: l.limits,
                bpf_insns: l.bpf.as_ref().map(|prog| prog.len()),
                events_sent: l.state.events_sent.load(Ordering::Relaxed),
                send_failures: l.state.send_failures.load(Ordering::Relaxed),
                suppressed_total: l.state.limits.total(),
            };
            let msg = event::encode_listener(&mut buf, seq, &report)
                .map_err(|_| crate::wire::errno::EMSGSIZE())?;
            send(msg)?;
        }
        Ok(())
    }
}
