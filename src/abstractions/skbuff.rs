// SPDX-License-Identifier: GPL-2.0

//! Read-only views of socket buffers and an owned netlink message builder.

use crate::{
    bindings,
    compat::AsBytes,
    wire::nlattr::{CopySource, MsgOut},
};
use core::{mem::MaybeUninit, ptr::NonNull};
use kernel::{
    error::{code::*, Result},
    types::Opaque,
};

/// A borrowed `struct sk_buff`.
///
/// # Invariants
///
/// The wrapped `sk_buff` is valid and nobody modifies its data while this
/// reference exists.
#[repr(transparent)]
pub(crate) struct SkBuff(Opaque<bindings::sk_buff>);

impl SkBuff {
    /// Creates a reference from a raw pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a valid `sk_buff` that stays valid, and whose data
    /// is not modified, for the lifetime `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::sk_buff) -> &'a Self {
        // SAFETY: `SkBuff` is `repr(transparent)` over the C type; validity
        // for `'a` is the caller's promise.
        unsafe { &*ptr.cast() }
    }

    pub(crate) fn as_raw(&self) -> *mut bindings::sk_buff {
        self.0.get()
    }

    pub(crate) fn as_nonnull(&self) -> NonNull<bindings::sk_buff> {
        NonNull::from(self).cast()
    }

    /// The linear part of the data (`skb->data`, `skb_headlen()` bytes).
    #[inline]
    pub(crate) fn linear_data(&self) -> &[u8] {
        let skb = self.as_raw();
        // SAFETY: the skb is valid (type invariant). `data` points to
        // `len - data_len` readable linear bytes, which nobody modifies while
        // `self` is borrowed (type invariant).
        unsafe {
            let headlen = ((*skb).len - (*skb).data_len) as usize;
            if headlen == 0 {
                return &[];
            }
            core::slice::from_raw_parts((*skb).data, headlen)
        }
    }

    /// `skb_header_pointer()`: the `N` bytes at `offset` (from `skb->data`),
    /// straight from the linear area when they are there (the fast path,
    /// no copy), else copied into `buf` from the fragments. `None` if the
    /// packet is shorter: it never reads past its end.
    #[inline]
    pub(crate) fn header_pointer<'a, const N: usize>(
        &'a self,
        offset: usize,
        buf: &'a mut [u8; N],
    ) -> Option<&'a [u8; N]> {
        let end = offset.checked_add(N)?;
        if let Some(linear) = self.linear_data().get(offset..end) {
            return linear.try_into().ok();
        }
        self.copy_bits_cold(offset, buf)
    }

    /// The rare half of [`SkBuff::header_pointer`], out of line.
    #[cold]
    #[inline(never)]
    fn copy_bits_cold<'a, const N: usize>(&self, offset: usize, buf: &'a mut [u8; N]) -> Option<&'a [u8; N]> {
        self.copy_bits(offset, buf).ok()?;
        Some(buf)
    }

    /// Copies `buf.len()` bytes starting at `offset` (from `skb->data`) into
    /// `buf`, whether they are linear or in fragments. Fails with `EFAULT`
    /// if the packet is too short: it never reads past its end.
    pub(crate) fn copy_bits(&self, offset: usize, buf: &mut [u8]) -> Result {
        let offset = i32::try_from(offset).map_err(|_| EINVAL)?;
        let len = i32::try_from(buf.len()).map_err(|_| EINVAL)?;
        // SAFETY: the skb is valid; `buf` is writable for `len` bytes and
        // `skb_copy_bits` checks `offset + len` against the packet length.
        let ret = unsafe {
            bindings::skb_copy_bits(self.as_raw(), offset, buf.as_mut_ptr().cast(), len)
        };
        kernel::error::to_result(ret)
    }
}

// SAFETY: `copy_to_uninit` returns `true` only when `skb_copy_bits()`
// returned 0, and it then has copied all `len` bytes: it refuses
// `offset + len > skb->len` with `-EFAULT` before copying anything, and
// otherwise copies the linear part, the page fragments and the frag list
// in turn, returning 0 only once `len` is used up. It can also fail part
// way (unreadable fragments, a failed frag-list step), having written a
// prefix of `dst` and never past it; the caller then counts nothing as
// written (`skb_copy_bits()` in net/core/skbuff.c, 6.12 and 7.3).
unsafe impl CopySource for SkBuff {
    fn copy_to(&self, dst: &mut [u8]) -> bool {
        self.copy_bits(0, dst).is_ok()
    }

    fn copy_to_uninit(&self, dst: &mut [MaybeUninit<u8>]) -> bool {
        let Ok(len) = i32::try_from(dst.len()) else {
            return false;
        };
        // SAFETY: the skb is valid (type invariant) and `dst` is writable
        // for `len` bytes; `skb_copy_bits()` checks `len` against the
        // packet's length and writes nothing but `dst`.
        unsafe { bindings::skb_copy_bits(self.as_raw(), 0, dst.as_mut_ptr().cast(), len) == 0 }
    }
}

impl SkBuff {
    /// The packet's length from `skb->data` on (`skb->len`).
    pub(crate) fn len(&self) -> u32 {
        // SAFETY: the skb is valid (type invariant).
        unsafe { (*self.as_raw()).len }
    }

    /// For an IPv6 packet whose `skb->data` is the IPv6 header: walks the
    /// extension headers with `ipv6_skip_exthdr()`, starting from the
    /// header's next-header field `nexthdr`. Returns the upper-layer
    /// protocol, the offset of its header, and whether this is a first
    /// fragment (or no fragment); `None` if the chain cannot be walked.
    pub(crate) fn ipv6_upper_layer(&self, nexthdr: u8) -> Option<(u8, usize, bool)> {
        let (mut proto, mut first_fragment) = (nexthdr, false);
        // SAFETY: the skb is valid (type invariant); `ipv6_skip_exthdr()`
        // reads it with `skb_header_pointer()`, never past its end.
        let offset = unsafe {
            bindings::imp2_ipv6_upper_layer(self.as_raw(), &mut proto, &mut first_fragment)
        };
        Some((proto, usize::try_from(offset).ok()?, first_fragment))
    }
}

/// The context an allocation happens in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AllocContext {
    /// Atomic context (the hooks: softirq, or a task that must not sleep
    /// there): `GFP_ATOMIC | __GFP_NOWARN`, since a failure there is
    /// counted, not worth a warning.
    Atomic,
    /// The same without the emergency reserves (`GFP_NOWAIT |
    /// __GFP_NOWARN`): for allocations as large as a packet, which are
    /// better lost than taken from what the network's own receive path
    /// may need.
    AtomicNoReserves,
    /// Process context that may sleep: `GFP_KERNEL`.
    Process,
}

impl AllocContext {
    /// Atomic context, for a message that holds packet bytes or not: those
    /// that do, as large as a packet, do without the reserves.
    pub(crate) fn atomic(holds_packet_bytes: bool) -> Self {
        if holds_packet_bytes {
            AllocContext::AtomicNoReserves
        } else {
            AllocContext::Atomic
        }
    }

    fn gfp(self) -> bindings::gfp_t {
        // SAFETY: reading `const` gfp values defined in helpers.c.
        unsafe {
            match self {
                AllocContext::Atomic => bindings::IMP2_GFP_ATOMIC_NOWARN,
                AllocContext::AtomicNoReserves => bindings::IMP2_GFP_NOWAIT_NOWARN,
                AllocContext::Process => bindings::IMP2_GFP_KERNEL,
            }
        }
    }
}

/// An outgoing netlink message: an owned skb holding one `nlmsghdr` and its
/// payload, or several ready-made messages.
///
/// # Invariants
///
/// `skb` is a valid skb owned by this object (freed on drop unless sent),
/// linear and not cloned: it comes from `alloc_skb()` or `nlmsg_new()`,
/// and nothing here adds fragments or clones it, so its data is ours
/// alone.
pub(crate) struct NlMsgBuf {
    skb: NonNull<bindings::sk_buff>,
}

// SAFETY: an owned skb may be freed or sent on any CPU, from process or
// softirq context (hard IRQ context would need `dev_kfree_skb_any()`, and
// sending warns there, see `KernelSocket`); ours are used from the request
// paths, the hooks and the timer only.
unsafe impl Send for NlMsgBuf {}

impl NlMsgBuf {
    /// Allocates a message of type `msg_type` whose payload is a copy of
    /// `payload`. Returns `ENOMEM` if allocation fails.
    pub(crate) fn new<T: AsBytes>(
        msg_type: u16,
        portid: u32,
        seq: u32,
        flags: u16,
        payload: &T,
        context: AllocContext,
    ) -> Result<Self> {
        let size = core::mem::size_of::<T>();
        let gfp = context.gfp();
        // SAFETY: plain allocation; NULL on failure.
        let skb = NonNull::new(unsafe { bindings::imp2_nlmsg_new(size, gfp) }).ok_or(ENOMEM)?;
        // INVARIANT: we own the freshly allocated skb.
        let msg = Self { skb };
        // SAFETY: `skb` is valid and has room for one message of `size`
        // bytes, since `nlmsg_new` sized it so. The returned pointer, if not
        // NULL, points to `size` writable payload bytes.
        let data = unsafe {
            bindings::imp2_nlmsg_put(
                skb.as_ptr(),
                portid,
                seq,
                msg_type.into(),
                size as i32,
                flags.into(),
            )
        };
        if data.is_null() {
            return Err(crate::wire::errno::EMSGSIZE());
        }
        // SAFETY: `data` has room for `size` bytes (see above), `payload` is
        // `size` initialised bytes (`AsBytes`), and they cannot overlap.
        unsafe {
            core::ptr::copy_nonoverlapping(core::ptr::from_ref(payload).cast::<u8>(), data.cast(), size)
        };
        Ok(msg)
    }

    /// Allocates an skb holding a copy of `messages`: one or more complete
    /// netlink messages, already encoded (see `wire::nlattr`).
    pub(crate) fn from_bytes(messages: &[u8], context: AllocContext) -> Result<Self> {
        let len = u32::try_from(messages.len()).map_err(|_| crate::wire::errno::EMSGSIZE())?;
        // SAFETY: `messages` is valid for reads of `len` bytes; the helper
        // copies them into a fresh skb, or returns NULL.
        let skb = unsafe { bindings::imp2_skb_from_bytes(messages.as_ptr().cast(), len, context.gfp()) };
        // INVARIANT: we own the freshly allocated skb.
        Ok(Self { skb: NonNull::new(skb).ok_or(ENOMEM)? })
    }

    /// An skb with room for `capacity` bytes of messages, holding none yet:
    /// filled with [`NlMsgBuf::append_with`].
    pub(crate) fn with_capacity(capacity: u32, context: AllocContext) -> Result<Self> {
        // SAFETY: plain allocation; NULL on failure.
        let skb = unsafe { bindings::imp2_skb_alloc(capacity, context.gfp()) };
        // INVARIANT: we own the freshly allocated skb.
        Ok(Self { skb: NonNull::new(skb).ok_or(ENOMEM)? })
    }

    /// Appends the messages `write` puts in the skb's tail room, in place,
    /// if it returns `Ok`; if it returns `Err`, the message is unchanged.
    #[inline(always)]
    pub(crate) fn append_with<R, E>(&mut self, write: impl FnOnce(&mut SkbTail<'_>) -> Result<R, E>) -> Result<R, E> {
        let skb = self.skb.as_ptr();
        let mut room: u32 = 0;
        // SAFETY: `skb` is valid (type invariant); the helper only reads it.
        let tail = unsafe { bindings::imp2_skb_tail(skb, &mut room) };
        // SAFETY: `skb_tail_pointer()` starts `skb_tailroom()` bytes of the
        // skb's own data buffer (`skb->end` bounds both). We own the skb and
        // nobody else sees it before it is sent (type invariant), and
        // `&mut self` keeps it from being sent or freed while the slice
        // lives, so the slice is exclusive. `MaybeUninit`: `alloc_skb()`
        // does not clear the buffer.
        let room = unsafe { core::slice::from_raw_parts_mut(tail.cast::<MaybeUninit<u8>>(), room as usize) };
        // INVARIANT: nothing written yet.
        let mut out = SkbTail { room, len: 0 };
        let result = write(&mut out)?;
        if out.len == 0 {
            return Ok(result);
        }
        // SAFETY: we own the skb, which is linear (type invariant); `out.len` bytes at its tail were written
        // and `out.len <= skb_tailroom()` (`SkbTail` invariant), so
        // `skb_put()` neither exposes uninitialised bytes nor overruns (it
        // would `skb_over_panic()`).
        unsafe { bindings::skb_put(skb, out.len as u32) };
        Ok(result)
    }

    /// Gives up ownership of the skb (the caller must free or send it).
    pub(crate) fn into_raw(self) -> *mut bindings::sk_buff {
        let skb = self.skb.as_ptr();
        core::mem::forget(self);
        skb
    }
}

/// An skb's tail room, being written by [`NlMsgBuf::append_with`].
///
/// # Invariants
///
/// `len <= room.len()`, and `room[..len]` has been written.
pub(crate) struct SkbTail<'a> {
    room: &'a mut [MaybeUninit<u8>],
    len: usize,
}

impl MsgOut for SkbTail<'_> {
    #[inline(always)]
    fn written(&self) -> usize {
        self.len
    }

    #[inline(always)]
    fn room(&self) -> usize {
        self.room.len() - self.len
    }

    #[inline(always)]
    fn push<const N: usize>(&mut self, bytes: [u8; N]) {
        if let Some(dst) = self.room.get_mut(self.len..).and_then(<[MaybeUninit<u8>]>::first_chunk_mut::<N>) {
            store(dst, bytes);
            // INVARIANT: the N bytes after `len` were just written.
            self.len += N;
        }
    }

    #[inline(always)]
    fn patch<const N: usize>(&mut self, at: usize, bytes: [u8; N]) {
        let written = self.room.get_mut(..self.len).unwrap_or_default();
        if let Some(dst) = written.get_mut(at..).and_then(<[MaybeUninit<u8>]>::first_chunk_mut::<N>) {
            store(dst, bytes);
        }
    }

    #[inline(always)]
    fn push_copy<S: CopySource + ?Sized>(&mut self, src: &S, len: usize) -> bool {
        let end = self.len.saturating_add(len);
        let Some(dst) = self.room.get_mut(self.len..end) else {
            return false;
        };
        if !src.copy_to_uninit(dst) {
            return false;
        }
        // INVARIANT: `CopySource` guarantees that all `len` bytes after
        // `len` were written, and they lie within `room`.
        self.len = end;
        true
    }
}

/// Writes `bytes` to `dst` as one N-byte write. A per-byte loop
/// (`iter_mut().zip(bytes)`) compiled to a loop that moved the iterator's
/// state (72 bytes for the 16-byte header) with `rep movsq` about 30 times
/// per event: `make bench` measured the kernel side of a batched v2 event
/// at 4,370 instructions with it and 989 with this.
#[inline(always)]
fn store<const N: usize>(dst: &mut [MaybeUninit<u8>; N], bytes: [u8; N]) {
    // SAFETY: `[MaybeUninit<u8>; N]` has the size and alignment (1) of
    // `[u8; N]`, and `dst` is an exclusive reference to N bytes, so it is
    // valid for one write of a `[u8; N]`; writing initialises them.
    unsafe { core::ptr::from_mut(dst).cast::<[u8; N]>().write(bytes) };
}

impl Drop for NlMsgBuf {
    fn drop(&mut self) {
        // SAFETY: we own the skb (type invariant).
        unsafe { bindings::imp2_kfree_skb(self.skb.as_ptr()) };
    }
}
