// SPDX-License-Identifier: GPL-2.0

//! Netfilter hook registration (`nf_register_net_hook`).

use super::{net::Net, skbuff::SkBuff};
use crate::bindings;
use core::marker::PhantomPinned;
use kernel::{error::Result, new_mutex, prelude::*, sync::Mutex, types::Opaque};

/// What a hook decides for a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Let the packet continue (`NF_ACCEPT`).
    Accept,
}

impl Verdict {
    fn to_raw(self) -> u32 {
        match self {
            Verdict::Accept => bindings::NF_ACCEPT,
        }
    }
}

/// The protocol family of a hook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    /// `NFPROTO_IPV4`.
    Ipv4,
    /// `NFPROTO_IPV6`.
    Ipv6,
}

impl Family {
    const fn pf(self) -> u8 {
        match self {
            Family::Ipv4 => bindings::NFPROTO_IPV4 as u8,
            Family::Ipv6 => bindings::NFPROTO_IPV6 as u8,
        }
    }
}

/// An inet hook point (`enum nf_inet_hooks`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HookPoint {
    /// `NF_INET_PRE_ROUTING`: received packets, before routing.
    PreRouting,
    /// `NF_INET_LOCAL_IN`: received packets routed to this host.
    LocalIn,
    /// `NF_INET_FORWARD`: received packets routed to another host.
    Forward,
    /// `NF_INET_LOCAL_OUT`: packets this host sends, routed (`state->out`
    /// is their device).
    LocalOut,
    /// `NF_INET_POST_ROUTING`: packets leaving, sent or forwarded.
    PostRouting,
}

impl HookPoint {
    /// Every point, in `NF_INET_*` order.
    pub(crate) const ALL: [HookPoint; 5] =
        [HookPoint::PreRouting, HookPoint::LocalIn, HookPoint::Forward, HookPoint::LocalOut, HookPoint::PostRouting];

    /// Its `NF_INET_*` number.
    pub(crate) const fn hooknum(self) -> u32 {
        match self {
            HookPoint::PreRouting => bindings::NF_INET_PRE_ROUTING,
            HookPoint::LocalIn => bindings::NF_INET_LOCAL_IN,
            HookPoint::Forward => bindings::NF_INET_FORWARD,
            HookPoint::LocalOut => bindings::NF_INET_LOCAL_OUT,
            HookPoint::PostRouting => bindings::NF_INET_POST_ROUTING,
        }
    }
}

/// Where a hook attaches.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HookSpec {
    /// Protocol family.
    pub(crate) family: Family,
    /// Hook point.
    pub(crate) point: HookPoint,
    /// Priority; lower runs first.
    pub(crate) priority: i32,
}

impl HookSpec {
    /// `point` of `family` at priority `NF_IP_PRI_FILTER - 1` (IPv6:
    /// `NF_IP6_PRI_FILTER - 1`): just before the filter table's place, as
    /// the 2007 module hooked IPv4 `PRE_ROUTING`.
    pub(crate) const fn before_filter(family: Family, point: HookPoint) -> HookSpec {
        let priority = match family {
            Family::Ipv4 => bindings::NF_IP_PRI_FILTER - 1,
            Family::Ipv6 => bindings::NF_IP6_PRI_FILTER - 1,
        };
        HookSpec { family, point, priority }
    }
}

/// The state netfilter passes with each packet (`struct nf_hook_state`).
///
/// # Invariants
///
/// Wraps a valid `nf_hook_state`, for the duration of one hook call.
#[repr(transparent)]
pub(crate) struct HookState(Opaque<bindings::nf_hook_state>);

impl HookState {
    /// The index of the interface the packet came in on, 0 if none.
    pub(crate) fn in_ifindex(&self) -> u32 {
        // SAFETY: the state is valid for the call (type invariant); the
        // helper reads `state->in`, which may be NULL, and its ifindex.
        unsafe { bindings::imp2_nf_state_in_ifindex(self.0.get()) }
    }

    /// The index of the interface the packet goes out on, 0 if none (the
    /// receiving hooks).
    pub(crate) fn out_ifindex(&self) -> u32 {
        // SAFETY: as in `in_ifindex`, for `state->out`.
        unsafe { bindings::imp2_nf_state_out_ifindex(self.0.get()) }
    }
}

/// Handles packets seen by a [`HookRegistration`].
pub(crate) trait Hook {
    /// Per-registration data handed to [`Hook::hook`].
    type Data: Sync;

    /// Called for each packet, inside an RCU read-side section
    /// (`nf_hook()`'s, include/linux/netfilter.h), with `skb->data` at the
    /// network header at every inet hook point (`ip_rcv_core()` and
    /// `ip6_rcv_core()` do not pull, `ip_local_deliver_finish()` and
    /// `ip6_protocol_deliver_rcu()` pull after `LOCAL_IN`, the output paths
    /// push and reset the network header before `__ip_local_out()` and
    /// `__ip6_local_out()`). In any of these contexts, none with hard IRQs
    /// off:
    /// - the receive softirq, or a caller that disabled BHs (threaded
    ///   NAPI, `netif_rx()`), for `PRE_ROUTING`, `LOCAL_IN` and `FORWARD`;
    /// - the sending task's process context, preemptible and with BHs
    ///   enabled (`udp_sendmsg()` down to `ip_local_out()`), or a softirq
    ///   (TCP ACKs, timers, `icmp_send()`), for `LOCAL_OUT` and
    ///   `POST_ROUTING`;
    /// - for packets that NFQUEUE reinjects through the hooks after the
    ///   queueing one (`nf_reinject()`), at any point: the verdict sender's
    ///   process context with BHs enabled, inside `nfnetlink_rcv_msg()`'s
    ///   RCU section (`nfqnl_recv_verdict()`, `nfqnl_recv_verdict_batch()`),
    ///   or the queueing softirq itself when a fail-open queue is full
    ///   (`__nfqnl_enqueue_packet()`).
    ///
    /// Must not sleep, and must not rely on staying on one CPU.
    fn hook(data: &Self::Data, skb: &SkBuff, state: &HookState) -> Verdict;
}

/// A netfilter hook of one netns that is registered only while switched
/// on ([`SwitchableHook::enable`]), so that idle traffic pays nothing.
///
/// Unregistering does not wait for hooks that are already running: they
/// may still use the data for an RCU grace period (see
/// [`SwitchableHook::new`]).
///
/// # Invariants
///
/// - `ops` is pinned and set up for one [`Hook`] type, with `priv_`
///   pointing to its data, from initialisation on.
/// - `state` is `On` exactly while `ops` is registered in `net`.
#[pin_data(PinnedDrop)]
pub(crate) struct SwitchableHook {
    #[pin]
    ops: Opaque<bindings::nf_hook_ops>,
    net: *mut bindings::net,
    #[pin]
    state: Mutex<SwitchState>,
    #[pin]
    _pin: PhantomPinned,
}

/// Whether a [`SwitchableHook`] is registered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SwitchState {
    Off,
    On,
    /// Shut down for good: `enable` refuses.
    Shutdown,
}

// SAFETY: registration and unregistration may happen from any process
// context; `state`'s mutex serialises them.
unsafe impl Send for SwitchableHook {}
// SAFETY: see above.
unsafe impl Sync for SwitchableHook {}

/// Netfilter's view of [`Hook::hook`].
///
/// # Safety
///
/// Only netfilter may call this, for an `nf_hook_ops` set up by
/// [`SwitchableHook::new`] for `H`, with a valid skb.
unsafe extern "C" fn hook_callback<H: Hook>(
    priv_: *mut kernel::ffi::c_void,
    skb: *mut bindings::sk_buff,
    state: *const bindings::nf_hook_state,
) -> kernel::ffi::c_uint {
    // SAFETY: `priv_` is the `H::Data` given to `SwitchableHook::new`. We
    // run inside `rcu_read_lock()` (`nf_hook()`'s, or for a reinjected
    // packet `nfnetlink_rcv_msg()`'s, see `Hook::hook`), so it stays valid
    // for the whole call even if the hook is unregistered meanwhile (the promise
    // made to `new`). The hook core passes a valid skb that stays valid
    // for the call.
    let (data, skb) = unsafe { (&*priv_.cast::<H::Data>(), SkBuff::from_raw(skb)) };
    // SAFETY: the hook core passes a state valid for the call; `HookState`
    // is `repr(transparent)` over it.
    let state = unsafe { &*state.cast::<HookState>() };
    H::hook(data, skb, state).to_raw()
}

impl SwitchableHook {
    /// Prepares `H` at `spec` in `net`, passing it `data` for every packet.
    /// Nothing is registered until [`SwitchableHook::enable`].
    ///
    /// # Safety
    ///
    /// `data`, and the memory the hook itself is pinned in, must stay valid
    /// until an RCU grace period has elapsed after the last
    /// [`SwitchableHook::disable`] (or the drop), not merely until then:
    /// `nf_unregister_net_hook()` does not wait for running hooks, and RCU
    /// readers of the old hook array (`nfnl_hook_dump_one()`, for `nft list
    /// hooks`) may still follow its `orig_ops` pointer to our
    /// `nf_hook_ops`. `net` must outlive the hook.
    pub(crate) unsafe fn new<H: Hook>(
        net: &Net,
        spec: HookSpec,
        data: *const H::Data,
    ) -> impl PinInit<Self> {
        let net_ptr = net.as_raw();
        let prepare = move |slot: *mut Opaque<bindings::nf_hook_ops>| -> Result<(), core::convert::Infallible> {
            let ops = crate::compat::opaque_cast_into(slot);
            // SAFETY: `slot` is valid for writes and pinned.
            unsafe {
                ops.write(bindings::nf_hook_ops {
                    hook: Some(hook_callback::<H>),
                    priv_: data.cast_mut().cast(),
                    pf: spec.family.pf(),
                    hooknum: spec.point.hooknum(),
                    priority: spec.priority,
                    ..Default::default()
                })
            };
            Ok(())
        };
        pin_init!(Self {
            net: net_ptr,
            state <- new_mutex!(SwitchState::Off, "imp2_hook_switch"),
            _pin: PhantomPinned,
            // SAFETY: `prepare` fully initialises `slot` and cannot fail.
            ops <- unsafe { crate::compat::pin_init_from_closure(prepare) },
        })
    }

    /// Registers the hook if it is not; `ENODEV` after
    /// [`SwitchableHook::shutdown`]. Sleeps.
    pub(crate) fn enable(&self) -> Result {
        let mut state = self.state.lock();
        match *state {
            SwitchState::On => Ok(()),
            SwitchState::Shutdown => Err(ENODEV),
            SwitchState::Off => {
                // SAFETY: `ops` is set up and not registered (type
                // invariant); `net` is alive (the promise made to `new`).
                kernel::error::to_result(unsafe { bindings::nf_register_net_hook(self.net, self.ops.get()) })?;
                *state = SwitchState::On;
                Ok(())
            }
        }
    }

    /// Unregisters the hook if it is registered. Sleeps. Packets may still
    /// be inside it afterwards, for an RCU grace period.
    pub(crate) fn disable(&self) {
        let mut state = self.state.lock();
        if *state == SwitchState::On {
            self.unregister(&mut state, SwitchState::Off);
        }
    }

    /// Unregisters the hook if it is registered, and refuses any later
    /// [`SwitchableHook::enable`]: for the owner's teardown.
    pub(crate) fn shutdown(&self) {
        let mut state = self.state.lock();
        match *state {
            SwitchState::On => self.unregister(&mut state, SwitchState::Shutdown),
            _ => *state = SwitchState::Shutdown,
        }
    }

    fn unregister(&self, state: &mut SwitchState, next: SwitchState) {
        // This does NOT wait for hooks already running: `nf_remove_net_hook()`
        // (net/netfilter/core.c) patches the live hook array in place (our
        // entry becomes `accept_all`, its `orig_ops` `dummy_ops`), then
        // `__nf_hook_entries_try_shrink()` publishes a smaller copy and frees
        // the old array with `call_rcu()` (or, out of memory, leaves the
        // patched one in place). Readers that loaded our hook, `priv` or
        // `orig_ops` before the patch may still use them.
        // SAFETY: `ops` is registered in `net` (type invariant, `state` is
        // `On`); the data and `ops` outlive a grace period (promise to `new`).
        unsafe { bindings::nf_unregister_net_hook(self.net, self.ops.get()) };
        *state = next;
    }
}

#[pinned_drop]
impl PinnedDrop for SwitchableHook {
    fn drop(self: Pin<&mut Self>) {
        self.shutdown();
    }
}
