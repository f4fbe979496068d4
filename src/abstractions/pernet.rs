// SPDX-License-Identifier: GPL-2.0

//! A per-network-namespace netlink + netfilter service.
//!
//! For every netns, [`Registration`] creates the service's per-net data,
//! netfilter hooks feeding it packets, one per family (IPv4, IPv6) and
//! hook point, which the service switches on and off ([`NetHooks`]), and a netlink kernel socket
//! delivering input to it; it tears them down when the netns or the
//! registration goes away. A netlink notifier reports closed user sockets
//! of the service's unit.
//!
//! Teardown takes two steps because `nf_unregister_net_hook()` does not
//! wait for hooks that are still running (`__nf_unregister_net_hook()`
//! frees the old hook array with `call_rcu()`): `.pre_exit` shuts the hooks
//! down, the pernet core then waits for an RCU grace period, and only
//! `.exit` releases the socket, the data the hooks used and the hooks'
//! `nf_hook_ops`.

use super::{
    net::Net,
    netfilter::{self, Family, HookPoint, HookSpec, HookState, SwitchableHook, Verdict},
    netlink::{InputHandler, InputSkb, KernelSocket, PortReleaseHandler, ReleaseNotifier},
    skbuff::SkBuff,
    timer::Timer,
    work::Work,
};
use crate::bindings;
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
    /// The netns's timer, which calls [`NetService::timer_expired`].
    pub(crate) timer: &'a Timer,
    /// The family of the hook the packet crossed.
    pub(crate) family: Family,
    /// The hook point it crossed.
    pub(crate) point: HookPoint,
    /// What netfilter says about the packet.
    pub(crate) state: &'a HookState,
}

/// Context handed to the request paths of a [`NetService`]: the netns's
/// hooks, to switch them, and its work item, to finish later what a pass
/// left undone.
pub(crate) struct RequestContext<'a> {
    /// The netns's hooks.
    pub(crate) hooks: &'a NetHooks,
    work: &'a Work,
}

impl RequestContext<'_> {
    /// Has [`NetService::deferred`] called soon from a kworker (once, if
    /// asked several times before it runs).
    pub(crate) fn defer(&self) {
        self.work.schedule();
    }
}

/// A service instantiated once per network namespace.
pub(crate) trait NetService: Sized + Send + Sync + 'static {
    /// Where the pernet id lives.
    fn net_id() -> &'static NetId;

    /// Where the netfilter hook of `family` at `point` attaches.
    fn hook_spec(family: Family, point: HookPoint) -> HookSpec;

    /// Initialises the per-net data.
    fn init(net: &Net) -> impl PinInit<Self, Error>;

    /// A packet crossed the hook of `family` at `point`: whether the
    /// service may want it. The cheap test that most packets stop at, inlined
    /// into the hook (each hook has its own copy, with `family` and `point`
    /// constant); [`NetService::packet`] sees only those it passes.
    fn may_want(&self, family: Family, point: HookPoint, skb: &SkBuff) -> bool;

    /// A packet that [`NetService::may_want`] passed.
    ///
    /// Both run inside an RCU read-side section, in the contexts that
    /// `netfilter::Hook::hook` lists. They must not sleep.
    fn packet(&self, ctx: &PacketContext<'_>, skb: &SkBuff) -> Verdict;

    /// A datagram arrived on the netlink socket (sender's process context).
    fn input(&self, skb: &InputSkb, ctx: &RequestContext<'_>);

    /// What [`RequestContext::defer`] asked for (a kworker's process
    /// context).
    fn deferred(&self, ctx: &RequestContext<'_>);

    /// A user socket of our unit with port `portid` was released (process
    /// context). `hooks` switches the netns's hooks.
    fn port_released(&self, portid: u32, hooks: &NetHooks);

    /// The netns's timer fired (softirq context).
    fn timer_expired(&self, ctx: &TimerContext<'_>);
}

/// Context handed to [`NetService::timer_expired`].
pub(crate) struct TimerContext<'a> {
    /// The netns's kernel socket, to send events from.
    pub(crate) socket: &'a KernelSocket,
    /// The timer itself, to arm it again.
    pub(crate) timer: &'a Timer,
}

/// The netfilter hooks of a netns, one per family and hook point, off
/// until the service switches them on. They go off for good when the
/// netns or the service goes away.
#[pin_data]
pub(crate) struct NetHooks {
    #[pin]
    ipv4: FamilyHooks,
    #[pin]
    ipv6: FamilyHooks,
}

impl NetHooks {
    /// The hook of `family` at `point`.
    pub(crate) fn get(&self, family: Family, point: HookPoint) -> &SwitchableHook {
        match family {
            Family::Ipv4 => self.ipv4.get(point),
            Family::Ipv6 => self.ipv6.get(point),
        }
    }

    fn shutdown(&self) {
        for point in HookPoint::ALL {
            self.ipv4.get(point).shutdown();
            self.ipv6.get(point).shutdown();
        }
    }
}

/// The hooks of one family, a field per point: each is its own
/// `nf_hook_ops` with its own callback (`HookAdapter`).
#[pin_data]
struct FamilyHooks {
    #[pin]
    pre_routing: SwitchableHook,
    #[pin]
    local_in: SwitchableHook,
    #[pin]
    forward: SwitchableHook,
    #[pin]
    local_out: SwitchableHook,
    #[pin]
    post_routing: SwitchableHook,
}

impl FamilyHooks {
    /// Prepares `T`'s hooks of family `V6` in `net`, all off.
    ///
    /// # Safety
    ///
    /// As for [`SwitchableHook::new`], with `shared` as the data.
    unsafe fn new<T: NetService, const V6: bool>(net: &Net, shared: *const Shared<T>) -> impl PinInit<Self> {
        let family = if V6 { Family::Ipv6 } else { Family::Ipv4 };
        let spec = move |point| T::hook_spec(family, point);
        // SAFETY: the caller's promise, for each hook.
        let (pre_routing, local_in, forward, local_out, post_routing) = unsafe {
            (
                SwitchableHook::new::<HookAdapter<T, V6, PRE_ROUTING>>(net, spec(HookPoint::PreRouting), shared),
                SwitchableHook::new::<HookAdapter<T, V6, LOCAL_IN>>(net, spec(HookPoint::LocalIn), shared),
                SwitchableHook::new::<HookAdapter<T, V6, FORWARD>>(net, spec(HookPoint::Forward), shared),
                SwitchableHook::new::<HookAdapter<T, V6, LOCAL_OUT>>(net, spec(HookPoint::LocalOut), shared),
                SwitchableHook::new::<HookAdapter<T, V6, POST_ROUTING>>(net, spec(HookPoint::PostRouting), shared),
            )
        };
        pin_init!(Self {
            pre_routing <- pre_routing,
            local_in <- local_in,
            forward <- forward,
            local_out <- local_out,
            post_routing <- post_routing,
        })
    }

    fn get(&self, point: HookPoint) -> &SwitchableHook {
        match point {
            HookPoint::PreRouting => &self.pre_routing,
            HookPoint::LocalIn => &self.local_in,
            HookPoint::Forward => &self.forward,
            HookPoint::LocalOut => &self.local_out,
            HookPoint::PostRouting => &self.post_routing,
        }
    }
}

/// What lives in each netns's `net_generic` slot.
///
/// # Invariants
///
/// - Fields are initialised in the order `shared.data`, `hooks`,
///   `shared.timer`, `work`, `shared.socket`. Until all are, the struct is
///   reached only through raw field pointers, never through a `&PerNet<T>`.
/// - The work's callback finds the `PerNet<T>` from the work's address and
///   uses `shared.data`, `hooks` and `work`; only the input path and the
///   callback itself queue it, and `.pre_exit` cancels it (no user socket
///   of the unit is left in the netns then, see `Input::input`, so nothing
///   queues it again).
/// - The hooks' data pointer is `shared`; the timer's callback finds
///   `shared` from the timer's address. `.pre_exit` shuts the hooks down
///   (no hook is registered afterwards, nor can be again), then the timer
///   (its callback has returned and never runs again, even if a hook
///   still running arms it), then cancels the work; `.exit`, which the
///   pernet core runs an RCU grace period later, drops `shared.data`,
///   `shared.socket`, `hooks`, `shared.timer` and `work`.
struct PerNet<T: NetService> {
    shared: Shared<T>,
    hooks: NetHooks,
    work: Work,
}

/// The part of [`PerNet`] that the hooks and the timer use.
struct Shared<T: NetService> {
    data: T,
    socket: KernelSocket,
    timer: Timer,
}

const IPV4: bool = false;
const IPV6: bool = true;

// `HookAdapter`'s point parameter: its index in `HookPoint::ALL`.
const PRE_ROUTING: usize = 0;
const LOCAL_IN: usize = 1;
const FORWARD: usize = 2;
const LOCAL_OUT: usize = 3;
const POST_ROUTING: usize = 4;

/// Passes the packets of one family's hook at one point to the service.
struct HookAdapter<T, const V6: bool, const POINT: usize>(core::marker::PhantomData<T>);

impl<T: NetService, const V6: bool, const POINT: usize> netfilter::Hook for HookAdapter<T, V6, POINT> {
    type Data = Shared<T>;

    #[inline]
    fn hook(shared: &Shared<T>, skb: &SkBuff, state: &HookState) -> Verdict {
        let family = if V6 { Family::Ipv6 } else { Family::Ipv4 };
        let point = HookPoint::ALL[POINT];
        if !shared.data.may_want(family, point, skb) {
            return Verdict::Accept;
        }
        let ctx = PacketContext { socket: &shared.socket, timer: &shared.timer, family, point, state };
        shared.data.packet(&ctx, skb)
    }
}

/// The netns timer's callback: passes the expiry to the service.
///
/// # Safety
///
/// Only the timer core may call this, with the `timer_list` of the
/// `shared.timer` of a `PerNet<T>` whose `.pre_exit` has not shut the
/// timer down yet.
unsafe extern "C" fn timer_fired<T: NetService>(timer: *mut bindings::timer_list) {
    let offset = core::mem::offset_of!(Shared<T>, timer);
    // SAFETY: `timer` is the `timer_list` of `shared.timer`, at the same
    // address (`Timer` is `repr(transparent)`). Going back `offset` bytes
    // gives the `Shared<T>` that contains it.
    let shared = unsafe { timer.cast::<u8>().sub(offset).cast::<Shared<T>>() };
    // SAFETY: the timer only fires once `shared` is fully initialised (it
    // is armed from the hooks, which need a listener, which needs the
    // socket), and `shared` stays valid until `.exit`, after `.pre_exit`
    // has shut the timer down, which waits for this callback to return
    // (`timer_shutdown_sync()`).
    let shared = unsafe { &*shared };
    shared.data.timer_expired(&TimerContext { socket: &shared.socket, timer: &shared.timer });
}

/// The netns work item's callback: passes the work to the service.
///
/// # Safety
///
/// Only the workqueue core may call this, with the `work_struct` of the
/// `work` of a `PerNet<T>` whose `.pre_exit` has not cancelled it yet.
unsafe extern "C" fn work_run<T: NetService>(work: *mut bindings::work_struct) {
    let offset = core::mem::offset_of!(PerNet<T>, work);
    // SAFETY: `work` is the `work_struct` of `PerNet<T>::work`, at the same
    // address (`Work` is `repr(transparent)`); going back `offset` bytes
    // gives the `PerNet<T>`.
    let per_net = unsafe { work.cast::<u8>().sub(offset).cast::<PerNet<T>>() };
    // SAFETY: the work is queued only from input, which can begin before
    // init has written the socket (`__netlink_kernel_create()` hashes the
    // socket before returning it), or by itself: so only the fields
    // initialised before the socket are referenced, through place
    // projections, as in `service_data`. They stay valid until `.exit`,
    // after `.pre_exit` has cancelled the work, which waits for this
    // callback to return.
    let (data, ctx) = unsafe {
        (&(*per_net).shared.data, RequestContext { hooks: &(*per_net).hooks, work: &(*per_net).work })
    };
    data.deferred(&ctx);
}

/// Returns the `PerNet<T>` slot of `net` (possibly not yet initialised).
///
/// # Safety
///
/// `T`'s pernet operations must be registered, so that the id is valid,
/// and `net` must have a slot for it (its init has started).
unsafe fn per_net_slot<T: NetService>(net: &Net) -> *mut PerNet<T> {
    let id = T::net_id().id.load(Ordering::Relaxed);
    // SAFETY: `net` is alive (`Net` invariant) and has a slot for our
    // registered id (caller's promise).
    unsafe { bindings::imp2_net_generic(net.as_raw(), id) }.cast::<PerNet<T>>()
}

/// Returns the service data of `T` in `net` and its request context.
///
/// # Safety
///
/// `T`'s pernet operations must be registered, and `net` must be a netns
/// whose init has got past initialising the data, the hooks and the work
/// and whose exit has not started, for as long as the returned references
/// live.
unsafe fn service_data<T: NetService>(net: &Net) -> (&T, RequestContext<'_>) {
    // SAFETY: registered, and init has started (caller's promise).
    let slot = unsafe { per_net_slot::<T>(net) };
    // SAFETY: by the caller's promise `data`, `hooks` and `work` are
    // initialised and stay alive. The place projections through the raw
    // pointer form references to these fields only, not to the whole
    // struct, whose socket may still be being written (type invariant).
    unsafe { (&(*slot).shared.data, RequestContext { hooks: &(*slot).hooks, work: &(*slot).work }) }
}

struct Input<T>(core::marker::PhantomData<T>);

impl<T: NetService> InputHandler for Input<T> {
    fn input(skb: &InputSkb) {
        // SAFETY: `skb->sk` is our kernel socket, which holds no reference
        // on its netns, but the sender's socket does (`sk_alloc()` for a
        // user socket takes one) and the sender is inside `sendmsg`.
        let net = unsafe { Net::from_raw(bindings::imp2_skb_net(skb.as_raw())) };
        // The data, the hooks and the work were initialised before the
        // socket existed. It is dropped
        // only in `.exit`, which runs only once no user socket of our unit
        // exists: in a netns being dismantled (every user socket holds the
        // netns), or on module unload (every user socket of our unit holds a
        // module reference, see `netlink_create()`; NETLINK_USERSOCK, whose
        // registration af_netlink owns, is refused at load). The exception,
        // a load that fails with a client already connected, is described
        // in the README (Limitations).
        // SAFETY: the data, the hooks and the work, initialised before the
        // socket, outlive this call (above).
        let (data, ctx) = unsafe { service_data::<T>(net) };
        data.input(skb, &ctx);
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
/// No hook is registered yet: the service switches them on.
///
/// # Safety
///
/// `slot` must be valid for writes, pinned, and belong to `net`.
unsafe fn init_per_net<T: NetService>(net: &Net, slot: *mut PerNet<T>) -> Result {
    if crate::test_knobs::fail_pernet_init(net) {
        return Err(ENOMEM);
    }
    let unit = T::net_id().unit.load(Ordering::Relaxed);
    // SAFETY: `slot` is valid (caller's promise); no reference is formed.
    let data = unsafe { &raw mut (*slot).shared.data };
    // SAFETY: `slot` is valid and pinned (caller's promise).
    unsafe { crate::compat::pin_init_at(T::init(net), data)? };
    // SAFETY: `shared.data` is initialised, and `shared.socket` will be
    // before any hook can be switched on: only a subscriber makes the
    // service switch a hook on, and a subscription needs a request that
    // came through the socket (input). `shared` stays valid until `.exit`, which the
    // pernet core runs an RCU grace period after `.pre_exit` has shut the
    // hooks down (see `pernet_exit`), and so do the hooks themselves; `net`
    // outlives its own pernet state.
    let hooks = unsafe {
        let shared = &raw const (*slot).shared;
        pin_init!(NetHooks {
            ipv4 <- FamilyHooks::new::<T, IPV4>(net, shared),
            ipv6 <- FamilyHooks::new::<T, IPV6>(net, shared),
        })
    };
    // SAFETY: the `hooks` field is valid for writes and pinned.
    let Ok(()) = unsafe { crate::compat::pin_init_at(hooks, &raw mut (*slot).hooks) };
    // SAFETY: `timer_fired::<T>` may run once the timer is armed, which
    // only the service does, from the hooks (see `timer_fired`); `.pre_exit`
    // shuts it down before `.exit` frees anything.
    let timer = unsafe { Timer::new(timer_fired::<T>) };
    // SAFETY: the `shared.timer` field is valid for writes and pinned.
    let Ok(()) = unsafe { crate::compat::pin_init_at(timer, &raw mut (*slot).shared.timer) };
    // SAFETY: `work_run::<T>` may run once the work is queued, which only
    // input does (after the socket is written) and the callback itself;
    // `.pre_exit` cancels it before `.exit` frees anything.
    let work = unsafe { Work::new(work_run::<T>) };
    // SAFETY: the `work` field is valid for writes and pinned.
    let Ok(()) = unsafe { crate::compat::pin_init_at(work, &raw mut (*slot).work) };
    match KernelSocket::new::<Input<T>>(net, unit) {
        // SAFETY: the `socket` field is valid for writes. Input may arrive
        // from now on; it only uses `data` and `hooks`, through raw field
        // pointers.
        Ok(socket) => unsafe { (&raw mut (*slot).shared.socket).write(socket) },
        Err(e) => {
            // SAFETY: `data`, `hooks`, the timer and the work were just
            // initialised, no hook is registered, the timer is not armed,
            // the work not queued, and nothing else refers to them.
            unsafe {
                core::ptr::drop_in_place(&raw mut (*slot).work);
                core::ptr::drop_in_place(&raw mut (*slot).shared.timer);
                core::ptr::drop_in_place(&raw mut (*slot).hooks);
                core::ptr::drop_in_place(data);
            }
            return Err(e);
        }
    }
    Ok(())
}

/// Pernet pre_exit: shuts the hooks and the timer of a netns down, and
/// cancels its work.
///
/// Hooks may still be running afterwards (`nf_unregister_net_hook()` does
/// not wait for them); `pernet_exit` frees what they use.
///
/// # Safety
///
/// Only the pernet core may call this, once, for a netns whose init
/// succeeded.
unsafe extern "C" fn pernet_pre_exit<T: NetService>(net: *mut bindings::net) {
    // SAFETY: the pernet core passes a live netns whose init succeeded.
    let slot = unsafe { per_net_slot::<T>(Net::from_raw(net)) };
    // SAFETY: init succeeded, so the hooks are initialised, and only
    // `.exit` drops them (type invariant).
    let hooks = unsafe { &(*slot).hooks };
    hooks.shutdown();
    // Hooks still running may arm the timer: a no-op from now on.
    // SAFETY: init succeeded, so the timer is initialised; only `.exit`
    // drops it (type invariant).
    unsafe { &(*slot).shared.timer }.shutdown_sync();
    // Nothing queues the work any more (type invariant): after this it is
    // neither queued nor running.
    // SAFETY: init succeeded, so the work is initialised; only `.exit`
    // drops it (type invariant).
    unsafe { &(*slot).work }.cancel_sync();
}

/// Pernet exit: drops the data, the socket, the hooks, the timer and the
/// work of a netns.
///
/// # Safety
///
/// Only the pernet core may call this, once, for a netns whose
/// `pernet_pre_exit` has run.
unsafe extern "C" fn pernet_exit<T: NetService>(net: *mut bindings::net) {
    // SAFETY: the pernet core passes a live netns whose init succeeded.
    let slot = unsafe { per_net_slot::<T>(Net::from_raw(net)) };
    // No hook can still be using `shared`: hooks run inside
    // `rcu_read_lock()` (`nf_hook()`, include/linux/netfilter.h), the hooks
    // were unregistered in `.pre_exit`, and the pernet core calls
    // `synchronize_rcu()` between every `.pre_exit` and `.exit`
    // (`ops_undo_list()`, net/core/net_namespace.c, which netns cleanup,
    // `unregister_pernet_subsys()` and the unwinding of a failed
    // `register_pernet_subsys()` or netns setup all go through). No input
    // or port-release callback can run either (see `Input::input`), so the
    // data goes first: anything it still holds that was received on the
    // socket (queued requests, whose skbs' destructor charges the kernel
    // socket) is freed while the socket exists. Then the socket.
    // The hooks' `nf_hook_ops` go after them: RCU readers of an old hook
    // array could reach them until the grace period above. The timer and
    // the work last.
    // SAFETY: the five fields are initialised and unused from now on
    // (above); the hooks and the timer are shut down, the work cancelled.
    unsafe {
        core::ptr::drop_in_place(&raw mut (*slot).shared.data);
        core::ptr::drop_in_place(&raw mut (*slot).shared.socket);
        core::ptr::drop_in_place(&raw mut (*slot).hooks);
        core::ptr::drop_in_place(&raw mut (*slot).shared.timer);
        core::ptr::drop_in_place(&raw mut (*slot).work);
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
        // SAFETY: the notifier is registered only after
        // `register_pernet_subsys()` has returned (see `Registration::new`),
        // which ran our init in every netns that existed then
        // (`register_pernet_operations()`), and a netns created later runs
        // it in `setup_net()` before any task can enter it and create a
        // socket there. Its exit has not started: the released socket still
        // holds the netns (`sk_alloc()` takes a reference for a user
        // socket, `__sk_destruct()` drops it).
        let (data, ctx) = unsafe { service_data::<T>(net) };
        data.port_released(portid, ctx.hooks);
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
                    pre_exit: Some(pernet_pre_exit::<T>),
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
        // SAFETY: `ops` is registered (type invariant). This runs the
        // pre_exit and exit of every netns, which drop each `PerNet<T>`.
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
