// SPDX-License-Identifier: GPL-2.0

//! Netlink kernel sockets, deferred requests and the port-release notifier.

use super::{
    net::Net,
    rcu,
    sched::BhDisabled,
    skbuff::{NlMsgBuf, SkBuff},
};
use crate::{
    bindings,
    wire::nlmsg::{Message, Messages},
};
use core::{
    marker::{PhantomData, PhantomPinned},
    ptr::{self, NonNull},
    sync::atomic::{AtomicPtr, AtomicUsize, Ordering},
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

// SAFETY: a kernel socket may be released from any context that may sleep,
// and used for unicast with MSG_DONTWAIT from process or softirq context on
// any CPU. Not from hard IRQ context: with an nlmon tap,
// `__netlink_deliver_tap_skb()` calls `dev_queue_xmit()`, whose
// `rcu_read_unlock_bh()` warns there (`WARN_ON_ONCE(in_hardirq())` in
// `__local_bh_enable_ip()`, kernel/softirq.c); nothing of ours runs in hard
// IRQ context.
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

    /// Sends `msg` to the socket `to` refers to, without blocking, as
    /// [`KernelSocket::unicast`] does; `ECONNREFUSED` (nothing sent) once
    /// that socket is closing ([`SocketRef::is_closing`]).
    ///
    /// Netlink delivers by port id only (`netlink_unicast()` looks the port
    /// up; the functions that take a `struct sock`, `netlink_attachskb()`
    /// and `netlink_sendskb()`, are not exported). So the check and the
    /// lookup are two steps, and one window remains between them: a
    /// datagram whose check passed just before the socket's file lost its
    /// last reference reaches whoever binds the port before the lookup, a
    /// moment later. That is at most one datagram per sending context that
    /// had passed the check by then. Both steps run with bottom halves
    /// disabled, so the window is a few instructions wide wherever the
    /// caller runs: the receive softirq, the timer, or a preemptible task
    /// (the LOCAL_OUT and POST_ROUTING hooks in `sendmsg()`, packets NFQUEUE
    /// reinjects), which can then be neither preempted nor interrupted by
    /// softirq work in between (on `PREEMPT_RT` it can still be preempted).
    /// Not for hard IRQ context (see [`BhDisabled`]).
    pub(crate) fn unicast_to(&self, msg: NlMsgBuf, to: SocketRef<'_>) -> Result {
        let _bh = BhDisabled::new();
        if to.is_closing() {
            return Err(crate::wire::errno::ECONNREFUSED());
        }
        self.unicast(msg, to.portid)
    }
}

/// A user netlink socket that the holder keeps alive, and its port id.
///
/// # Invariants
///
/// `sk` is a user netlink socket bound to `portid`, alive for `'a`.
#[derive(Clone, Copy)]
pub(crate) struct SocketRef<'a> {
    sk: NonNull<bindings::sock>,
    portid: u32,
    _alive: PhantomData<&'a ()>,
}

impl SocketRef<'_> {
    /// Whether the socket is closed or being closed: its file has lost its
    /// last reference, which happens before `netlink_release()` unhashes
    /// the port, or it is marked `SOCK_DEAD` (`sock_orphan()`, after the
    /// unhash and before the `NETLINK_URELEASE` notifiers run). See
    /// `imp2_sock_closing()` in `src/helpers.c`.
    pub(crate) fn is_closing(&self) -> bool {
        // SAFETY: the socket is alive (type invariant).
        unsafe { bindings::imp2_sock_closing(self.sk.as_ptr()) }
    }
}

/// A counted reference to a user netlink socket (`sock_hold()`), with the
/// port id it was bound to: what a subscription is tied to. A port id
/// alone is no identity: once its socket closes, anyone may bind it.
///
/// # Invariants
///
/// We own one reference to `sk`, a user netlink socket bound to `portid`
/// (a bound netlink socket never changes its port id: `netlink_bind()`
/// refuses another one).
pub(crate) struct SockRef {
    sk: NonNull<bindings::sock>,
    portid: u32,
}

// SAFETY: a socket reference may be used and dropped on any CPU; dropping
// the last one (`sock_put()` -> `sk_free()`) is allowed in any context but
// hard IRQ, as netlink itself does from softirq (`netlink_sendskb()` puts
// the receiver it looked up, also from hooks and timers).
unsafe impl Send for SockRef {}
// SAFETY: shared use only reads the socket's flags.
unsafe impl Sync for SockRef {}

impl SockRef {
    /// The port id the socket was bound to.
    pub(crate) fn portid(&self) -> u32 {
        self.portid
    }

    /// The socket, for as long as this reference lives.
    pub(crate) fn get(&self) -> SocketRef<'_> {
        // INVARIANT: our reference keeps the socket alive.
        SocketRef { sk: self.sk, portid: self.portid, _alive: PhantomData }
    }
}

impl Clone for SockRef {
    fn clone(&self) -> Self {
        // SAFETY: the socket is alive: we hold a reference (type invariant).
        unsafe { bindings::imp2_sock_hold(self.sk.as_ptr()) };
        // INVARIANT: the reference was just taken.
        Self { sk: self.sk, portid: self.portid }
    }
}

impl Drop for SockRef {
    fn drop(&mut self) {
        // SAFETY: we own this reference (type invariant).
        unsafe { bindings::imp2_sock_put(self.sk.as_ptr()) };
    }
}

/// A [`SockRef`] that RCU readers use, and that its owner can let go of
/// before the holder itself is freed (its readers may still see the
/// holder, but no longer the socket).
///
/// # Invariants
///
/// `sk` is null or a user netlink socket bound to `portid` of which we own
/// one reference. Only [`RcuSockRef::release`] makes it null, and it drops
/// that reference only after a grace period.
pub(crate) struct RcuSockRef {
    sk: AtomicPtr<bindings::sock>,
    portid: u32,
}

// SAFETY: as for `SockRef`.
unsafe impl Send for RcuSockRef {}
// SAFETY: as for `SockRef`; `sk` is atomic.
unsafe impl Sync for RcuSockRef {}

impl RcuSockRef {
    /// Takes over `sock`'s reference.
    pub(crate) fn new(sock: SockRef) -> Self {
        let (sk, portid) = (sock.sk.as_ptr(), sock.portid);
        core::mem::forget(sock);
        // INVARIANT: the reference `sock` owned is ours now.
        Self { sk: AtomicPtr::new(sk), portid }
    }

    /// The socket, unless released; valid while `guard` is held.
    pub(crate) fn get<'a>(&'a self, _guard: &'a rcu::Guard) -> Option<SocketRef<'a>> {
        let sk = NonNull::new(self.sk.load(Ordering::Acquire))?;
        // INVARIANT: our reference is dropped only a grace period after
        // `sk` is cleared, and `_guard` keeps this reader in a section that
        // grace period waits for.
        Some(SocketRef { sk, portid: self.portid, _alive: PhantomData })
    }

    /// Whether the socket was released here or has been closed.
    pub(crate) fn closed(&self) -> bool {
        let guard = rcu::read_lock();
        match self.get(&guard) {
            Some(sock) => sock.is_closing(),
            None => true,
        }
    }

    /// Whether this is the socket that sent `request` (false once released).
    pub(crate) fn sent(&self, request: &Request) -> bool {
        // Only addresses are compared. A socket we load here cannot be
        // freed before the guard ends (`release` waits for a grace period),
        // so no other socket, such as the sender, can have its address.
        let _guard = rcu::read_lock();
        let sk = self.sk.load(Ordering::Acquire);
        !sk.is_null() && sk == request.sender_sk()
    }

    /// Lets go of the socket: readers that begin now see none, and the
    /// reference is dropped after a grace period. Sleeps: process context.
    pub(crate) fn release(&self) {
        let sk = self.sk.swap(ptr::null_mut(), Ordering::AcqRel);
        if sk.is_null() {
            return;
        }
        rcu::synchronize();
        // SAFETY: the reference was ours (type invariant) and no reader can
        // still use it: every one that loaded `sk` has left its section.
        unsafe { bindings::imp2_sock_put(sk) };
    }
}

impl Drop for RcuSockRef {
    fn drop(&mut self) {
        let sk = *self.sk.get_mut();
        if !sk.is_null() {
            // SAFETY: we own this reference (type invariant); being dropped,
            // we have no readers left (the holder's own grace period).
            unsafe { bindings::imp2_sock_put(sk) };
        }
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

    /// Whether the sending socket has been closed, or is being closed,
    /// since it sent ([`SocketRef::is_closing`]). Both marks precede the
    /// `NETLINK_URELEASE` notifiers in `netlink_release()`, so a check made
    /// under the same lock that the notifier handler takes cannot miss
    /// both.
    pub(crate) fn sender_closed(&self) -> bool {
        // SAFETY: the skb is valid and we hold a reference on the sending
        // socket (type invariant).
        unsafe { bindings::imp2_netlink_request_sender_dead(self.skb.as_ptr()) }
    }

    fn sender_sk(&self) -> *mut bindings::sock {
        // SAFETY: the skb is valid (type invariant).
        unsafe { bindings::imp2_netlink_request_sender(self.skb.as_ptr()) }
    }

    /// A reference to the sending socket, for a subscription to keep.
    pub(crate) fn sender(&self) -> SockRef {
        let sk = self.sender_sk();
        // SAFETY: we hold a reference on the sending socket (type
        // invariant), so it is alive to take another.
        unsafe { bindings::imp2_sock_hold(sk) };
        // INVARIANT: the reference was just taken; the sender is a user
        // socket bound to its port (`netlink_sendmsg()` autobinds).
        // SAFETY: `sk` is not null (the sending socket).
        SockRef { sk: unsafe { NonNull::new_unchecked(sk) }, portid: self.sender_portid() }
    }

    /// Whether `sock` is the socket that sent this request.
    pub(crate) fn sent_by(&self, sock: &SockRef) -> bool {
        // As in `RcuSockRef::sent`: both sockets are held, so equal
        // addresses mean the same socket.
        sock.sk.as_ptr() == self.sender_sk()
    }

    /// The memory the request holds (`skb->truesize`), charged to our
    /// kernel socket (`netlink_unicast_kernel()`).
    pub(crate) fn truesize(&self) -> usize {
        // SAFETY: the skb is valid (type invariant).
        unsafe { bindings::imp2_skb_truesize(self.skb.as_ptr()) as usize }
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
    /// [`Request::reply`]). `netlink_ack()` allocates the ack with
    /// `GFP_KERNEL` between that check and its send, so the window of
    /// [`KernelSocket::unicast_to`] is wider here: the ack (the request's
    /// header, and its payload with an error) may reach whoever binds the
    /// sender's port id during that allocation.
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
    /// (`ECONNREFUSED`) once the sending socket is closing; the window of
    /// [`KernelSocket::unicast_to`] remains.
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

/// A FIFO of [`Request`]s (an `sk_buff_head`, with its own spinlock),
/// bounded in the memory its requests hold.
///
/// # Invariants
///
/// `head` is initialised and pinned; every skb on it is owned by a
/// [`Request`] whose ownership was transferred to the queue. `bytes` is
/// the sum of their truesizes, plus that of pushes in progress.
#[pin_data(PinnedDrop)]
pub(crate) struct RequestQueue {
    #[pin]
    head: Opaque<bindings::sk_buff_head>,
    bytes: AtomicUsize,
    limit: usize,
    #[pin]
    _pin: PhantomPinned,
}

// SAFETY: `sk_buff_head` operations take the queue's own spinlock.
unsafe impl Send for RequestQueue {}
// SAFETY: see above.
unsafe impl Sync for RequestQueue {}

impl RequestQueue {
    /// Returns an initialiser for an empty queue that holds requests of at
    /// most `limit` bytes of truesize in all.
    pub(crate) fn new(limit: usize) -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `slot` is valid for writes during the call.
            head <- Opaque::ffi_init(|slot| unsafe { bindings::imp2_skb_queue_head_init(slot) }),
            bytes: AtomicUsize::new(0),
            limit,
            _pin: PhantomPinned,
        })
    }

    /// Appends a request, or gives it back if it would take the queue past
    /// its limit.
    pub(crate) fn push(&self, req: Request) -> Result<(), Request> {
        let size = req.truesize();
        // Never fits: refused without reserving, which could make
        // concurrent pushes that fit fail.
        if size > self.limit {
            return Err(req);
        }
        // Reserved first, so that concurrent pushes cannot pass the limit
        // together.
        let before = self.bytes.fetch_add(size, Ordering::Relaxed);
        if before.saturating_add(size) > self.limit {
            self.bytes.fetch_sub(size, Ordering::Relaxed);
            return Err(req);
        }
        let skb = req.skb.as_ptr();
        core::mem::forget(req);
        // SAFETY: the queue is initialised; it now owns the request's
        // references (type invariant).
        unsafe { bindings::skb_queue_tail(self.head.get(), skb) };
        Ok(())
    }

    /// Removes the oldest request.
    pub(crate) fn pop(&self) -> Option<Request> {
        // SAFETY: the queue is initialised; `skb_dequeue` takes its lock.
        let skb = NonNull::new(unsafe { bindings::skb_dequeue(self.head.get()) })?;
        // INVARIANT: the skb was pushed from a `Request`, whose references
        // the queue owned until now.
        let req = Request { skb };
        self.bytes.fetch_sub(req.truesize(), Ordering::Relaxed);
        Some(req)
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
