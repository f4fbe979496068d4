// SPDX-License-Identifier: GPL-2.0

//! A per-network-namespace netlink + netfilter service.
//!
//! For every netns, [`Registration`] creates the service's per-net data, a
//! netlink kernel socket delivering input to it and a netfilter hook
//! feeding it packets, and tears them down in the reverse order (hook,
//! then socket, then data) when the netns or the registration goes away.
//! A netlink notifier reports closed user sockets of the service's unit.

use crate::{
    bindings,
    net::Net,
    netfilter::{self, HookRegistration, HookSpec, Verdict},
    netlink::{InputHandler, InputSkb, KernelSocket, PortReleaseHandler, ReleaseNotifier},
    skbuff::SkBuff,
};
use core::{
    marker::PhantomPinned,
    sync::atomic::{AtomicI32, AtomicU32, Ordering},
};
use kernel::{
    error::{Error, Result},
    prelude::*,
    types::Opaque,
};

/// Where the kernel stores a service's pernet id, next to the service's
/// netlink unit. Declare one as a `static` for each [`NetService`].
pub(crate) struct NetId {
    id: AtomicU32,
    unit: AtomicI32,
}

impl NetId {
    /// A not yet assigned id.
    pub(crate) const fn new() -> Self {
        Self { id: AtomicU32::new(0), unit: AtomicI32::new(0) }
    }
}

impl Default for NetId {
    fn default() -> Self {
        Self::new()
    }
}

/// Context handed to [`NetService::packet`].
pub(crate) struct PacketContext<'a> {
    /// The netns's kernel socket, to send events from.
    pub(crate) socket: &'a KernelSocket,
}

/// A service instantiated once per network namespace.
pub(crate) trait NetService: Sized + Send + Sync + 'static {
    /// Where the pernet id lives.
    fn net_id() -> &'static NetId;

    /// Where the netfilter hook attaches.
    const HOOK_SPEC: HookSpec;

    /// Initialises the per-net data.
    fn init(net: &Net) -> impl PinInit<Self, Error>;

    /// A packet crossed the hook (softirq context).
    fn packet(&self, ctx: &PacketContext<'_>, skb: &SkBuff) -> Verdict;

    /// A datagram arrived on the netlink socket (sender's process context).
    fn input(&self, skb: &InputSkb);

    /// A user socket of our unit with port `portid` was released.
    fn port_released(&self, portid: u32);
}

/// What lives in each netns's `net_generic` slot.
///
/// # Invariants
///
/// Fields are initialised in the order data, socket, hook and torn down
/// in the reverse order; `hook`'s data pointer is this struct.
struct PerNet<T: NetService> {
    data: T,
    socket: KernelSocket,
    hook: HookRegistration<HookAdapter<T>>,
}

struct HookAdapter<T>(core::marker::PhantomData<T>);

impl<T: NetService> netfilter::Hook for HookAdapter<T> {
    type Data = PerNet<T>;

    fn hook(per_net: &PerNet<T>, skb: &SkBuff) -> Verdict {
        per_net.data.packet(&PacketContext { socket: &per_net.socket }, skb)
    }
}

/// Returns the live per-net state of `T` in `net`.
///
/// # Safety
///
/// `T`'s pernet operations must be registered and `net` must be a netns
/// in which its init has completed and its exit not started.
unsafe fn per_net<T: NetService>(net: &Net) -> &PerNet<T> {
    let id = T::net_id().id.load(Ordering::Relaxed);
    // SAFETY: by the caller's promise the slot for `id` holds an initialised
    // `PerNet<T>` that stays alive while `net` is in use.
    unsafe { &*bindings::imp2_net_generic(net.as_raw(), id).cast::<PerNet<T>>() }
}

struct Input<T>(core::marker::PhantomData<T>);

impl<T: NetService> InputHandler for Input<T> {
    fn input(skb: &InputSkb) {
        // SAFETY: `skb->sk` is our kernel socket, so the skb belongs to a
        // netns whose `PerNet<T>` holds that socket: initialised before the
        // socket existed, torn down after it is released.
        let net = unsafe { Net::from_raw(bindings::imp2_skb_net(skb.as_raw())) };
        // SAFETY: see above.
        let per_net = unsafe { per_net::<T>(net) };
        per_net.data.input(skb);
    }
}

/// Pernet init: builds the `PerNet<T>` in the netns's generic slot.
///
/// # Safety
///
/// Only the pernet core may call this, for the operations registered by
/// [`PernetOps`], with a netns being set up.
unsafe extern "C" fn pernet_init<T: NetService>(net: *mut bindings::net) -> kernel::ffi::c_int {
    // SAFETY: the pernet core passes a live netns.
    let net_ref = unsafe { Net::from_raw(net) };
    let id = T::net_id().id.load(Ordering::Relaxed);
    // SAFETY: the core allocated a zeroed slot of `size_of::<PerNet<T>>()`
    // bytes for us before calling init; kmalloc alignment suffices (checked
    // at registration).
    let slot = unsafe { bindings::imp2_net_generic(net, id) }.cast::<PerNet<T>>();
    // SAFETY: `slot` is valid for writes and never moves until exit.
    match unsafe { init_per_net::<T>(net_ref, slot) } {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// Initialises `*slot` in the invariant's order, unwinding on failure.
///
/// # Safety
///
/// `slot` must be valid for writes, pinned, and belong to `net`.
unsafe fn init_per_net<T: NetService>(net: &Net, slot: *mut PerNet<T>) -> Result {
    let unit = T::net_id().unit.load(Ordering::Relaxed);
    // SAFETY: `slot` is valid and pinned (caller's promise).
    unsafe { crate::compat::pin_init_at(T::init(net), &raw mut (*slot).data)? };
    let socket = match KernelSocket::new::<Input<T>>(net, unit) {
        Ok(socket) => socket,
        Err(e) => {
            // SAFETY: `data` was just initialised and nothing else refers to it.
            unsafe { core::ptr::drop_in_place(&raw mut (*slot).data) };
            return Err(e);
        }
    };
    // SAFETY: `socket` field is valid for writes. Input may arrive from now
    // on and only uses `data`, already initialised.
    unsafe { (&raw mut (*slot).socket).write(socket) };
    // SAFETY: the hook reads `data` and `socket`, both initialised, through
    // `slot`, which stays valid until exit drops the hook first. `net`
    // outlives its own pernet state.
    let hook = unsafe { HookRegistration::<HookAdapter<T>>::new(net, T::HOOK_SPEC, slot) };
    // SAFETY: `hook` field is valid for writes and pinned.
    if let Err(e) = unsafe { crate::compat::pin_init_at(hook, &raw mut (*slot).hook) } {
        // SAFETY: both were initialised above; drop in reverse order.
        unsafe {
            core::ptr::drop_in_place(&raw mut (*slot).socket);
            core::ptr::drop_in_place(&raw mut (*slot).data);
        }
        return Err(e);
    }
    Ok(())
}

/// Pernet exit: tears down the `PerNet<T>` of a netns.
///
/// # Safety
///
/// Only the pernet core may call this, once, for a netns whose init
/// succeeded.
unsafe extern "C" fn pernet_exit<T: NetService>(net: *mut bindings::net) {
    let id = T::net_id().id.load(Ordering::Relaxed);
    // SAFETY: init succeeded for this netns, so the slot holds a `PerNet<T>`.
    let slot = unsafe { bindings::imp2_net_generic(net, id) }.cast::<PerNet<T>>();
    // SAFETY: nobody else can reach the state once the hook is unregistered
    // and the socket released; drop in the order of the type invariant:
    // the hook first (waits for running hooks), then the socket, then data.
    unsafe {
        core::ptr::drop_in_place(&raw mut (*slot).hook);
        core::ptr::drop_in_place(&raw mut (*slot).socket);
        core::ptr::drop_in_place(&raw mut (*slot).data);
    }
}

/// Forwards port-release notifications of our unit to the right netns.
struct ReleaseDispatch<T> {
    unit: i32,
    _t: core::marker::PhantomData<T>,
}

impl<T: NetService> PortReleaseHandler for ReleaseDispatch<T> {
    fn port_released(&self, net: &Net, protocol: i32, portid: u32) {
        if protocol != self.unit {
            return;
        }
        // SAFETY: the notifier is registered only while the pernet operations
        // are, and a user socket of our unit can only exist in a netns whose
        // init has completed (netns setup finishes before any task enters
        // it) and whose exit has not started (sockets hold the netns).
        unsafe { per_net::<T>(net) }.data.port_released(portid);
    }
}

/// Pernet operations of a [`NetService`]; unregistered on drop.
///
/// # Invariants
///
/// `ops` is registered with `register_pernet_subsys` and pinned.
#[pin_data(PinnedDrop)]
struct PernetOps<T: NetService> {
    #[pin]
    ops: Opaque<bindings::pernet_operations>,
    #[pin]
    _pin: PhantomPinned,
    _t: core::marker::PhantomData<T>,
}

// SAFETY: only the pernet core touches `ops`, under its own locking.
unsafe impl<T: NetService> Send for PernetOps<T> {}
// SAFETY: see above.
unsafe impl<T: NetService> Sync for PernetOps<T> {}

/// Compile-time check that `PerNet<T>` fits kmalloc's minimum alignment,
/// since the pernet core allocates it with plain `kzalloc`.
struct AlignCheck<T>(core::marker::PhantomData<T>);
impl<T: NetService> AlignCheck<T> {
    const OK: () = assert!(core::mem::align_of::<PerNet<T>>() <= 8);
}

impl<T: NetService> PernetOps<T> {
    fn new() -> impl PinInit<Self, Error> {
        #[allow(clippy::let_unit_value)]
        let () = AlignCheck::<T>::OK;
        let register = |slot: *mut Opaque<bindings::pernet_operations>| -> Result {
            let ops = crate::compat::opaque_cast_into(slot);
            // SAFETY: `slot` is valid for writes and pinned until
            // drop unregisters it; the id slot is a `'static`.
            unsafe {
                ops.write(bindings::pernet_operations {
                    init: Some(pernet_init::<T>),
                    exit: Some(pernet_exit::<T>),
                    id: T::net_id().id.as_ptr(),
                    size: core::mem::size_of::<PerNet<T>>(),
                    ..Default::default()
                });
                kernel::error::to_result(bindings::register_pernet_subsys(ops))
            }
        };
        try_pin_init!(Self {
            _pin: PhantomPinned,
            _t: core::marker::PhantomData,
            // SAFETY: `register` fully initialises and registers `slot`
            // before returning `Ok`; on error nothing is registered.
            ops <- unsafe { crate::compat::pin_init_from_closure(register) },
        }? Error)
    }
}

#[pinned_drop]
impl<T: NetService> PinnedDrop for PernetOps<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: `ops` is registered (type invariant). This runs the exit
        // of every netns, which drops each `PerNet<T>`.
        unsafe { bindings::unregister_pernet_subsys(self.ops.get()) };
    }
}

/// Registers a [`NetService`] in every netns, present and future.
///
/// Only one registration per service type may exist at a time.
#[pin_data]
pub(crate) struct Registration<T: NetService> {
    // Field order is drop order: the notifier must go before the per-net
    // state it dispatches to.
    #[pin]
    release: ReleaseNotifier<ReleaseDispatch<T>>,
    #[pin]
    pernet: PernetOps<T>,
}

impl<T: NetService> Registration<T> {
    /// Registers the service on netlink unit `unit`.
    pub(crate) fn new(unit: i32) -> impl PinInit<Self, Error> {
        T::net_id().unit.store(unit, Ordering::Relaxed);
        try_pin_init!(Self {
            pernet <- PernetOps::new(),
            // After `pernet`: per-net state exists in every netns before the
            // first notification can be dispatched to it.
            release <- ReleaseNotifier::new(ReleaseDispatch::<T> {
                unit,
                _t: core::marker::PhantomData,
            }),
        }? Error)
    }
}
