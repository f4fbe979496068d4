// SPDX-License-Identifier: GPL-2.0

//! Netfilter hook registration (`nf_register_net_hook`).

use super::{net::Net, skbuff::SkBuff};
use crate::bindings;
use core::marker::PhantomPinned;
use kernel::{
    error::{Error, Result},
    prelude::*,
    types::Opaque,
};

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

/// Where a hook attaches.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HookSpec {
    /// Protocol family.
    pub(crate) family: Family,
    /// Hook point, e.g. `NF_INET_PRE_ROUTING`.
    pub(crate) hooknum: u32,
    /// Priority; lower runs first.
    pub(crate) priority: i32,
}

impl HookSpec {
    /// IPv4 `PRE_ROUTING` at priority `NF_IP_PRI_FILTER - 1`: just before
    /// the filter table, as in the 2007 module.
    pub(crate) const IPV4_PRE_ROUTING_BEFORE_FILTER: HookSpec = HookSpec {
        family: Family::Ipv4,
        hooknum: bindings::NF_INET_PRE_ROUTING,
        priority: bindings::NF_IP_PRI_FILTER - 1,
    };

    /// IPv6 `PRE_ROUTING` at priority `NF_IP6_PRI_FILTER - 1`, the same
    /// place in the IPv6 stack.
    pub(crate) const IPV6_PRE_ROUTING_BEFORE_FILTER: HookSpec = HookSpec {
        family: Family::Ipv6,
        hooknum: bindings::NF_INET_PRE_ROUTING,
        priority: bindings::NF_IP6_PRI_FILTER - 1,
    };
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
}

/// Handles packets seen by a [`HookRegistration`].
pub(crate) trait Hook {
    /// Per-registration data handed to [`Hook::hook`].
    type Data: Sync;

    /// Called for each packet, in softirq context (or with BHs disabled).
    fn hook(data: &Self::Data, skb: &SkBuff, state: &HookState) -> Verdict;
}

/// A netfilter hook registered in one netns; unregistered on drop.
///
/// Dropping it does not wait for hooks that are already running: they may
/// still use the data for an RCU grace period (see [`HookRegistration::new`]).
///
/// # Invariants
///
/// `ops` is registered in `net` and pinned; `ops.priv_` points to a
/// `H::Data` that stays valid until an RCU grace period after the drop.
#[pin_data(PinnedDrop)]
pub(crate) struct HookRegistration<H: Hook> {
    #[pin]
    ops: Opaque<bindings::nf_hook_ops>,
    net: *mut bindings::net,
    #[pin]
    _pin: PhantomPinned,
    _h: core::marker::PhantomData<H>,
}

// SAFETY: registration and unregistration may happen from any process context.
unsafe impl<H: Hook> Send for HookRegistration<H> {}
// SAFETY: no method touches the registration through `&self`.
unsafe impl<H: Hook> Sync for HookRegistration<H> {}

/// Netfilter's view of [`Hook::hook`].
///
/// # Safety
///
/// Only netfilter may call this, for an `nf_hook_ops` set up by
/// [`HookRegistration::new`], with a valid skb.
unsafe extern "C" fn hook_callback<H: Hook>(
    priv_: *mut kernel::ffi::c_void,
    skb: *mut bindings::sk_buff,
    state: *const bindings::nf_hook_state,
) -> kernel::ffi::c_uint {
    // SAFETY: `priv_` is the `H::Data` given at registration. We run inside
    // `rcu_read_lock()` (`nf_hook()`), so it stays valid for the whole call
    // even if the hook is unregistered meanwhile (type invariant). The hook
    // core passes a valid skb that stays valid for the call.
    let (data, skb) = unsafe { (&*priv_.cast::<H::Data>(), SkBuff::from_raw(skb)) };
    // SAFETY: the hook core passes a state valid for the call; `HookState`
    // is `repr(transparent)` over it.
    let state = unsafe { &*state.cast::<HookState>() };
    H::hook(data, skb, state).to_raw()
}

impl<H: Hook> HookRegistration<H> {
    /// Registers `H` at `spec` in `net`, passing it `data` for every packet.
    ///
    /// # Safety
    ///
    /// `data`, and the memory the registration itself is pinned in, must
    /// stay valid until an RCU grace period has elapsed after the
    /// registration is dropped, not merely until the drop:
    /// `nf_unregister_net_hook()` does not wait for running hooks, and RCU
    /// readers of the old hook array may still follow its `orig_ops`
    /// pointer to our `nf_hook_ops`. `net` must outlive the registration.
    pub(crate) unsafe fn new(
        net: &Net,
        spec: HookSpec,
        data: *const H::Data,
    ) -> impl PinInit<Self, Error> {
        let net_ptr = net.as_raw();
        let register = move |slot: *mut Opaque<bindings::nf_hook_ops>| -> Result {
            let ops = crate::compat::opaque_cast_into(slot);
            // SAFETY: `slot` is valid for writes and pinned; it, `net` and
            // `data` stay valid long enough (the caller's promise).
            unsafe {
                ops.write(bindings::nf_hook_ops {
                    hook: Some(hook_callback::<H>),
                    priv_: data.cast_mut().cast(),
                    pf: spec.family.pf(),
                    hooknum: spec.hooknum,
                    priority: spec.priority,
                    ..Default::default()
                });
                kernel::error::to_result(bindings::nf_register_net_hook(net_ptr, ops))
            }
        };
        try_pin_init!(Self {
            net: net_ptr,
            _pin: PhantomPinned,
            _h: core::marker::PhantomData,
            // SAFETY: `register` fully initialises and registers `slot`
            // before returning `Ok`; on error nothing is registered.
            ops <- unsafe { crate::compat::pin_init_from_closure(register) },
        }? Error)
    }
}

#[pinned_drop]
impl<H: Hook> PinnedDrop for HookRegistration<H> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: `ops` is registered in `net` (type invariant). This does
        // NOT wait for hooks already running: `__nf_unregister_net_hook()`
        // (net/netfilter/core.c) swaps in a new hook array and frees the old
        // one with `call_rcu()`. Keeping `data` alive for a grace period is
        // the promise made to `new`.
        unsafe { bindings::nf_unregister_net_hook(self.net, self.ops.get()) };
    }
}
