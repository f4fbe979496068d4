// SPDX-License-Identifier: GPL-2.0

//! Netlink kernel sockets, deferred requests and the port-release notifier.

use super::{
    net::Net,
    skbuff::{NlMsgBuf, SkBuff},
};
use crate::{
    bindings,
    wire::nlmsg::{Message, Messages},
};
use core::{
    marker::{PhantomData, PhantomPinned},
    ptr::NonNull,
};
use kernel::{
    error::{code::EBUSY, Error, Result},
    prelude::*,
    types::Opaque,
};

/// Receives the messages userspace sends to a [`KernelSocket`].
pub(crate) trait InputHandler {
    /// Called once per received skb, in the sender's process context.
    fn input(skb: &InputSkb);
}

/// An skb handed to a netlink kernel socket's input callback.
///
/// # Invariants
///
/// We are in the sender's context inside the input callback: the skb came
/// from `netlink_unicast_kernel`, `NETLINK_CB(skb).sk` is the live sending
/// socket and `skb->sk` our kernel socket.
#[repr(transparent)]
pub(crate) struct InputSkb(SkBuff);

impl core::ops::Deref for InputSkb {
    type Target = SkBuff;

    fn deref(&self) -> &SkBuff {
        &self.0
    }
}

/// A netlink kernel socket (`netlink_kernel_create`), released on drop.
///
/// # Invariants
///
/// `sk` is a kernel netlink socket created by us and not yet released.
pub(crate) struct KernelSocket {
    sk: NonNull<bindings::sock>,
}

// SAFETY: a kernel socket may be used and released from any context that
// may sleep (release) or any context at all (unicast with MSG_DONTWAIT).
unsafe impl Send for KernelSocket {}
// SAFETY: `netlink_unicast` on a kernel socket is safe concurrently.
unsafe impl Sync for KernelSocket {}

/// Netlink's view of [`InputHandler::input`].
///
/// # Safety
///
/// Only the netlink core may call this, as the input callback of a kernel
/// socket, with a valid skb.
unsafe extern "C" fn input_callback<H: InputHandler>(skb: *mut bindings::sk_buff) {
    // SAFETY: netlink calls us with a valid skb that it frees after we
    // return and that nobody else touches meanwhile; `InputSkb` is
    // `repr(transparent)` over `SkBuff`.
    let skb: &InputSkb = unsafe { &*core::ptr::from_ref(SkBuff::from_raw(skb)).cast() };
    H::input(skb);
}

impl KernelSocket {
    /// Opens the kernel side of netlink protocol `unit` in `net`, delivering
    /// input to `H`.
    ///
    /// `netlink_kernel_create()` returns NULL both when the unit is already
    /// served in this netns and when memory runs out, and does not say
    /// which: this fails with `EBUSY` ("could not get the unit") in both
    /// cases, and the caller's log line names both causes.
    pub(crate) fn new<H: InputHandler>(net: &Net, unit: i32) -> Result<Self> {
        // SAFETY: `net` is alive; the callback is a valid function for the
        // whole life of the socket (it is code of this module, which cannot
        // be unloaded while the socket exists).
        let sk = unsafe {
            bindings::imp2_netlink_kernel_create(net.as_raw(), unit, Some(input_callback::<H>))
        };
        // INVARIANT: on success we own a fresh kernel socket.
        Ok(Self { sk: NonNull::new(sk).ok_or(EBUSY)? })
    }

    /// Sends `msg` to `portid` without blocking. The message is consumed
    /// either way. Errors are those of `netlink_unicast(..., MSG_DONTWAIT)`:
    /// `EAGAIN` when the receiver's buffer is full (the receiver then reads
    /// `ENOBUFS`, from `netlink_overrun()`), `ECONNREFUSED` if no socket has
    /// the port. `Ok` means the receiving socket took the message: queued
    /// it, or dropped it by its own socket filter (`sk_filter()`), which
    /// `netlink_unicast()` reports exactly like a delivery.
    pub(crate) fn unicast(&self, msg: NlMsgBuf, portid: u32) -> Result {
        // SAFETY: `sk` is a live kernel socket (type invariant).
        unsafe { unicast_from(self.sk.as_ptr(), msg, portid) }
    }
}

/// `netlink_unicast(sk, msg, portid, MSG_DONTWAIT)`, consuming `msg`.
///
/// # Safety
///
/// `sk` must be a live kernel netlink socket.
unsafe fn unicast_from(sk: *mut bindings::sock, msg: NlMsgBuf, portid: u32) -> Result {
    // SAFETY: `sk` is live (caller's promise); the skb's ownership passes to
    // `netlink_unicast`, which frees it on error too.
    let ret = unsafe { bindings::netlink_unicast(sk, msg.into_raw(), portid, 1) };
    if ret < 0 {
        Err(Error::from_errno(ret))
    } else {
        Ok(())
    }
}

impl Drop for KernelSocket {
    fn drop(&mut self) {
        // SAFETY: `sk` is ours and not yet released (type invariant).
        unsafe { bindings::netlink_kernel_release(self.sk.as_ptr()) };
    }
}

/// A received request kept for deferred processing.
///
/// Holds a reference to the skb and to the sending socket (which
/// `netlink_ack` dereferences), and remembers whether the sender had
/// `CAP_NET_ADMIN` over the socket's netns when it sent: capabilities can
/// only be checked in the sender's own context.
///
/// # Invariants
///
/// `skb` came from an [`InputSkb`]; we own one reference to it and one to
/// `NETLINK_CB(skb).sk`, taken by `imp2_netlink_request_hold`.
pub(crate) struct Request {
    skb: NonNull<bindings::sk_buff>,
}

// SAFETY: the references we own may be dropped from any process context.
unsafe impl Send for Request {}

impl Request {
    /// Takes a request out of an input callback.
    pub(crate) fn new(skb: &InputSkb) -> Self {
        let raw = skb.as_raw();
        // SAFETY: in the input callback (`InputSkb` invariant) the sender's
        // socket and credentials are current, as `netlink_net_capable` needs.
        let net_admin =
            unsafe { bindings::netlink_net_capable(raw, bindings::CAP_NET_ADMIN as i32) };
        // SAFETY: `raw` is valid; `skb_get` takes a reference the core's
        // own free after the callback won't drop, and `..._hold` takes one
        // on the live sending socket.
        unsafe {
            bindings::imp2_skb_get(raw);
            bindings::imp2_netlink_request_hold(raw, net_admin);
        }
        // INVARIANT: both references were just taken.
        Self { skb: skb.as_nonnull() }
    }

    fn skb(&self) -> &SkBuff {
        // SAFETY: we hold a reference (type invariant) and never modify the data.
        unsafe { SkBuff::from_raw(self.skb.as_ptr()) }
    }

    /// The sender's port id, as set by the netlink core: unlike the
    /// `nlmsg_pid` in the header, it cannot be spoofed.
    pub(crate) fn sender_portid(&self) -> u32 {
        // SAFETY: the skb is valid (type invariant).
        unsafe { bindings::imp2_netlink_skb_portid(self.skb.as_ptr()) }
    }

    /// Whether the sending socket has been closed since it sent: it is
    /// orphaned (`SOCK_DEAD`). `netlink_release()` sets that flag in
    /// `sock_orphan()`, after unhashing the port and before running the
    /// `NETLINK_URELEASE` notifiers, so a check made under the same lock
    /// that the notifier handler takes cannot miss both.
    pub(crate) fn sender_closed(&self) -> bool {
        // SAFETY: the skb is valid and we hold a reference on the sending
        // socket (type invariant).
        unsafe { bindings::imp2_netlink_request_sender_dead(self.skb.as_ptr()) }
    }

    /// Whether the sender had `CAP_NET_ADMIN` over the netns when it sent.
    pub(crate) fn sender_net_admin(&self) -> bool {
        // SAFETY: the skb is valid and its cb was set by `..._hold` (type invariant).
        unsafe { bindings::imp2_netlink_request_net_admin(self.skb.as_ptr()) }
    }

    /// Frames the datagram into netlink messages (netlink input is linear).
    pub(crate) fn messages(&self) -> Messages<'_> {
        Messages::new(self.skb().linear_data())
    }

    /// The message at `msg.offset` of this request, checked to be complete
    /// in this request's own data (`msg` could come from another request).
    pub(crate) fn message(&self, msg: &Message<'_>) -> Option<RequestMessage<'_>> {
        let rest = self.skb().linear_data().get(msg.offset..)?;
        if !matches!(Messages::new(rest).next(), Some(Ok(_))) {
            return None;
        }
        // INVARIANT: a complete message inside data we hold a reference to.
        Some(RequestMessage { nlh: NonNull::from(rest).cast(), _data: PhantomData })
    }

    /// Sends an ack (`err == None`) or error message for `msg`, a message of
    /// this request, to the sender, with `extack`'s message and attribute
    /// if there is one and the sender asked for extended acks.
    ///
    /// Nothing is sent if the sender has closed its socket meanwhile (see
    /// [`Request::reply`]).
    pub(crate) fn ack(&self, msg: &Message<'_>, err: Option<Error>, extack: Option<Pin<&mut ExtAck>>) {
        if self.sender_closed() {
            return;
        }
        let Some(message) = self.message(msg) else { return };
        let extack = extack.map_or(core::ptr::null(), |e| e.as_raw().cast_const());
        // SAFETY: `message` is a complete message within this request's data
        // (type invariant), which `netlink_ack` copies from; the sending
        // socket is held (type invariant). `extack` is NULL or a valid,
        // pinned `netlink_ext_ack` whose attribute pointer, if any, points
        // into this message (it was filled in from it).
        unsafe {
            bindings::netlink_ack(
                self.skb.as_ptr(),
                message.as_raw().cast_mut(),
                err.map_or(0, |e| e.to_errno()),
                extack,
            )
        };
    }

    /// Sends `reply` to the sender, without blocking.
    ///
    /// Replies go to the sender's port id (`netlink_unicast()`), and a
    /// request may be processed after its sender has closed: someone else
    /// may have bound that port id since. So nothing is sent
    /// (`ECONNREFUSED`) once the sending socket is orphaned. A window
    /// remains between `netlink_remove()` and `sock_orphan()` in
    /// `netlink_release()`, in which the port is free but the socket not yet
    /// marked dead.
    pub(crate) fn reply(&self, reply: NlMsgBuf) -> Result {
        if self.sender_closed() {
            return Err(crate::wire::errno::ECONNREFUSED());
        }
        // SAFETY: the skb is valid (type invariant); `skb->sk` is our kernel
        // socket, which outlives every request queued on it.
        unsafe { unicast_from((*self.skb.as_ptr()).sk, reply, self.sender_portid()) }
    }
}

/// One complete netlink message inside a [`Request`]'s data.
///
/// # Invariants
///
/// `nlh` points to a well-formed message (`nlmsg_len` checked) lying
/// entirely within the data of a request that outlives `'a`.
#[derive(Clone, Copy)]
pub(crate) struct RequestMessage<'a> {
    nlh: NonNull<bindings::nlmsghdr>,
    _data: PhantomData<&'a [u8]>,
}

impl RequestMessage<'_> {
    /// The message, for C code that reads it (never writes).
    pub(crate) fn as_raw(&self) -> *const bindings::nlmsghdr {
        self.nlh.as_ptr()
    }
}

/// An extended ack (`struct netlink_ext_ack`): the message and offending
/// attribute that validation reports along with an error.
///
/// # Invariants
///
/// `inner` is a valid `netlink_ext_ack`, zeroed when created. The kernel
/// may point its `_msg` into its own `_msg_buf`, so it never moves once
/// used: it is only handed out pinned.
pub(crate) struct ExtAck {
    inner: Opaque<bindings::netlink_ext_ack>,
    _pin: PhantomPinned,
}

impl ExtAck {
    /// An empty extended ack. Pin it (`core::pin::pin!`) before use.
    pub(crate) fn new() -> Self {
        // INVARIANT: all-zero is the empty `netlink_ext_ack`
        // (`struct netlink_ext_ack extack = {};` in C).
        Self { inner: Opaque::new(bindings::netlink_ext_ack::default()), _pin: PhantomPinned }
    }

    /// For C code that fills it in.
    pub(crate) fn as_raw(self: Pin<&mut Self>) -> *mut bindings::netlink_ext_ack {
        self.inner.get()
    }
}

impl Drop for Request {
    fn drop(&mut self) {
        // SAFETY: we own both references (type invariant).
        unsafe { bindings::imp2_netlink_request_release(self.skb.as_ptr()) };
    }
}

/// A FIFO of [`Request`]s (an `sk_buff_head`, with its own spinlock).
///
/// # Invariants
///
/// `head` is initialised and pinned; every skb on it is owned by a
/// [`Request`] whose ownership was transferred to the queue.
#[pin_data(PinnedDrop)]
pub(crate) struct RequestQueue {
    #[pin]
    head: Opaque<bindings::sk_buff_head>,
    #[pin]
    _pin: PhantomPinned,
}

// SAFETY: `sk_buff_head` operations take the queue's own spinlock.
unsafe impl Send for RequestQueue {}
// SAFETY: see above.
unsafe impl Sync for RequestQueue {}

impl RequestQueue {
    /// Returns an initialiser for an empty queue.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `slot` is valid for writes during the call.
            head <- Opaque::ffi_init(|slot| unsafe { bindings::imp2_skb_queue_head_init(slot) }),
            _pin: PhantomPinned,
        })
    }

    /// Appends a request.
    pub(crate) fn push(&self, req: Request) {
        let skb = req.skb.as_ptr();
        core::mem::forget(req);
        // SAFETY: the queue is initialised; it now owns the request's
        // references (type invariant).
        unsafe { bindings::skb_queue_tail(self.head.get(), skb) };
    }

    /// Removes the oldest request.
    pub(crate) fn pop(&self) -> Option<Request> {
        // SAFETY: the queue is initialised; `skb_dequeue` takes its lock.
        let skb = NonNull::new(unsafe { bindings::skb_dequeue(self.head.get()) })?;
        // INVARIANT: the skb was pushed from a `Request`, whose references
        // the queue owned until now.
        Some(Request { skb })
    }

    /// Whether the queue is empty (a lockless snapshot).
    pub(crate) fn is_empty(&self) -> bool {
        // SAFETY: the queue is initialised.
        unsafe { bindings::imp2_skb_queue_empty_lockless(self.head.get()) }
    }
}

#[pinned_drop]
impl PinnedDrop for RequestQueue {
    fn drop(self: Pin<&mut Self>) {
        // Release each request properly (skb and sender socket references).
        while self.pop().is_some() {}
    }
}

/// Receives `NETLINK_URELEASE` notifications: a bound netlink user socket
/// was closed (explicitly, or because its process died).
pub(crate) trait PortReleaseHandler: Sync {
    /// Port `portid` of protocol `protocol` in `net` is gone.
    fn port_released(&self, net: &Net, protocol: i32, portid: u32);
}

/// A registered netlink notifier; unregistered on drop.
///
/// # Invariants
///
/// `nb` is registered with `netlink_register_notifier` and pinned.
#[pin_data(PinnedDrop)]
pub(crate) struct ReleaseNotifier<H: PortReleaseHandler> {
    #[pin]
    nb: Opaque<bindings::notifier_block>,
    handler: H,
    #[pin]
    _pin: PhantomPinned,
}

// SAFETY: the handler is `Sync`; the block is only touched by the notifier core.
unsafe impl<H: PortReleaseHandler + Send> Send for ReleaseNotifier<H> {}
// SAFETY: see above.
unsafe impl<H: PortReleaseHandler> Sync for ReleaseNotifier<H> {}

/// The notifier chain's view of [`PortReleaseHandler::port_released`].
///
/// # Safety
///
/// Only the netlink notifier chain may call this, with the `nb` of a
/// registered [`ReleaseNotifier<H>`].
unsafe extern "C" fn notifier_callback<H: PortReleaseHandler>(
    nb: *mut bindings::notifier_block,
    action: kernel::ffi::c_ulong,
    data: *mut kernel::ffi::c_void,
) -> kernel::ffi::c_int {
    if action != bindings::NETLINK_URELEASE as kernel::ffi::c_ulong {
        return bindings::NOTIFY_DONE as i32;
    }
    // SAFETY: `nb` is the `nb` field of a live, pinned `ReleaseNotifier<H>`
    // (only registered from there, unregistered before it is freed).
    let this = unsafe {
        &*kernel::container_of!(nb.cast::<Opaque<bindings::notifier_block>>(), ReleaseNotifier<H>, nb)
    };
    // SAFETY: for NETLINK_URELEASE, `data` is a valid `struct netlink_notify`
    // whose `net` is alive for the duration of the call.
    let (net, protocol, portid) = unsafe {
        let n = &*data.cast::<bindings::netlink_notify>();
        (Net::from_raw(n.net), n.protocol, n.portid)
    };
    this.handler.port_released(net, protocol, portid);
    bindings::NOTIFY_DONE as i32
}

impl<H: PortReleaseHandler> ReleaseNotifier<H> {
    /// Registers `handler` for port-release events.
    pub(crate) fn new(handler: H) -> impl PinInit<Self, Error> {
        let register = |slot: *mut Opaque<bindings::notifier_block>| {
            let nb = crate::compat::opaque_cast_into(slot);
            // SAFETY: `slot` is valid for writes; being pinned, it
            // stays put until `drop` unregisters it.
            unsafe {
                nb.write(bindings::notifier_block {
                    notifier_call: Some(notifier_callback::<H>),
                    ..Default::default()
                });
                kernel::error::to_result(bindings::netlink_register_notifier(nb))
            }
        };
        try_pin_init!(Self {
            handler,
            _pin: PhantomPinned,
            // Initialised last: callbacks may run (and use `handler`) as
            // soon as the block is registered.
            //
            // SAFETY: `register` fully initialises `slot` before returning
            // `Ok`, and leaves nothing registered when returning an error.
            nb <- unsafe { crate::compat::pin_init_from_closure(register) },
        }? Error)
    }
}

#[pinned_drop]
impl<H: PortReleaseHandler> PinnedDrop for ReleaseNotifier<H> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: `nb` is registered (type invariant). Unregistering waits
        // for running callbacks, so none can use `self` afterwards: the
        // netlink chain is a blocking notifier chain, whose callers hold its
        // rwsem for reading (`blocking_notifier_call_chain()`) and whose
        // `blocking_notifier_chain_unregister()` takes it for writing.
        unsafe { bindings::netlink_unregister_notifier(self.nb.get()) };
    }
}
