// SPDX-License-Identifier: GPL-2.0

//! Writing netlink messages with attributes (`struct nlattr` TLVs):
//! `nlmsg_put()`, `nla_put()` and `nla_nest_start()`/`_end()` over an
//! output that is appended to in order ([`MsgOut`]): a slice, or, in the
//! kernel, an skb's tail room, so that an event is written where it is
//! sent from, with no buffer to clear and no copy.
//!
//! Pure, safe `core` code: it also compiles on the host, where the tool's
//! tests check it against the tool's own decoder.

use crate::wire::nlmsg::{nlmsg_align, NLMSG_HDRLEN};
use core::mem::MaybeUninit;

/// Size of `struct nlattr`.
pub(crate) const NLA_HDRLEN: usize = 4;
/// `NLA_F_NESTED`: the attribute holds attributes.
pub(crate) const NLA_F_NESTED: u16 = 1 << 15;

/// The buffer is too small for what was being added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BufferFull;

/// A nest opened by [`MsgWriter::nest_start`], to be closed by
/// [`MsgWriter::nest_end`].
#[must_use = "a nest must be closed with nest_end"]
pub(crate) struct Nest {
    start: usize,
}

/// Where a [`MsgWriter`] writes: bytes appended in order, of which those
/// already written may be overwritten (the lengths, once known). Every
/// byte of what is reported as written has been written: an output may
/// start out uninitialised.
pub(crate) trait MsgOut {
    /// Bytes written so far.
    fn written(&self) -> usize;
    /// Bytes that can still be appended.
    fn room(&self) -> usize;
    /// Appends `bytes`; the caller has checked [`MsgOut::room`], and
    /// nothing is written if it is short.
    fn push<const N: usize>(&mut self, bytes: [u8; N]);
    /// Overwrites written bytes at `at`; nothing if they are not all written.
    fn patch<const N: usize>(&mut self, at: usize, bytes: [u8; N]);
    /// Appends the first `len` bytes of `src`, copied straight in; nothing
    /// (`false`) if they do not fit or `src` has fewer.
    fn push_copy<S: CopySource + ?Sized>(&mut self, src: &S, len: usize) -> bool;
}

/// Bytes a [`MsgOut`] copies into itself from their start: in the kernel,
/// a packet's, copied into the event's skb with no buffer between.
///
/// # Safety
///
/// `copy_to_uninit` returns `true` only if it has written every byte of
/// `dst`: outputs that start out uninitialised count them as written.
pub(crate) unsafe trait CopySource {
    /// Copies the first `dst.len()` bytes into `dst`; `false` if there are fewer.
    fn copy_to(&self, dst: &mut [u8]) -> bool;
    /// The same, into memory that may be uninitialised.
    fn copy_to_uninit(&self, dst: &mut [MaybeUninit<u8>]) -> bool;
}

// SAFETY: `copy_to_uninit` writes every byte of `dst` before it returns
// `true`.
unsafe impl CopySource for [u8] {
    fn copy_to(&self, dst: &mut [u8]) -> bool {
        let Some(src) = self.get(..dst.len()) else {
            return false;
        };
        dst.copy_from_slice(src);
        true
    }

    fn copy_to_uninit(&self, dst: &mut [MaybeUninit<u8>]) -> bool {
        let Some(src) = self.get(..dst.len()) else {
            return false;
        };
        for (d, s) in dst.iter_mut().zip(src) {
            d.write(*s);
        }
        true
    }
}

impl<T: MsgOut> MsgOut for &mut T {
    #[inline(always)]
    fn written(&self) -> usize {
        (**self).written()
    }
    #[inline(always)]
    fn room(&self) -> usize {
        (**self).room()
    }
    #[inline(always)]
    fn push<const N: usize>(&mut self, bytes: [u8; N]) {
        (**self).push(bytes)
    }
    #[inline(always)]
    fn patch<const N: usize>(&mut self, at: usize, bytes: [u8; N]) {
        (**self).patch(at, bytes)
    }
    #[inline(always)]
    fn push_copy<S: CopySource + ?Sized>(&mut self, src: &S, len: usize) -> bool {
        (**self).push_copy(src, len)
    }
}

/// A [`MsgOut`] over a byte slice, from its start.
pub(crate) struct SliceOut<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> SliceOut<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, len: 0 }
    }
}

impl MsgOut for SliceOut<'_> {
    #[inline(always)]
    fn written(&self) -> usize {
        self.len
    }
    #[inline(always)]
    fn room(&self) -> usize {
        self.buf.len() - self.len
    }
    #[inline(always)]
    fn push<const N: usize>(&mut self, bytes: [u8; N]) {
        if let Some(dst) = self.buf.get_mut(self.len..).and_then(<[u8]>::first_chunk_mut) {
            *dst = bytes;
            self.len += N;
        }
    }
    #[inline(always)]
    fn patch<const N: usize>(&mut self, at: usize, bytes: [u8; N]) {
        let written = self.buf.get_mut(..self.len).unwrap_or_default();
        if let Some(dst) = written.get_mut(at..).and_then(<[u8]>::first_chunk_mut) {
            *dst = bytes;
        }
    }
    fn push_copy<S: CopySource + ?Sized>(&mut self, src: &S, len: usize) -> bool {
        let end = self.len.saturating_add(len);
        let copied = self.buf.get_mut(self.len..end).is_some_and(|dst| src.copy_to(dst));
        if copied {
            self.len = end;
        }
        copied
    }
}

/// Appends netlink messages, each with attributes, to an output.
///
/// Every `put` either writes a whole, aligned attribute or nothing. The
/// fixed-size writers are inlined and store arrays, padding included:
/// with the sizes known at compile time, an attribute becomes a few
/// stores, where slice copies called `memset` and `memcpy` several times
/// each.
pub(crate) struct MsgWriter<O: MsgOut> {
    out: O,
    /// Where the open message's header starts.
    msg_start: Option<usize>,
}

impl<'a> MsgWriter<SliceOut<'a>> {
    /// Writes into `buf`, from its start.
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Self::to(SliceOut::new(buf))
    }
}

impl<O: MsgOut> MsgWriter<O> {
    /// Writes to `out`, after what it holds.
    #[inline(always)]
    pub(crate) fn to(out: O) -> Self {
        Self { out, msg_start: None }
    }

    /// Bytes written so far.
    #[inline(always)]
    pub(crate) fn written(&self) -> usize {
        self.out.written()
    }

    /// Checks that `len` bytes plus alignment padding fit.
    #[inline(always)]
    fn reserve(&self, len: usize) -> Result<(), BufferFull> {
        if self.out.room() < nlmsg_align(len) {
            return Err(BufferFull);
        }
        Ok(())
    }

    /// Zeroes up to the next 4-byte boundary after `len` bytes.
    #[inline(always)]
    fn pad(&mut self, len: usize) {
        match nlmsg_align(len) - len {
            1 => self.out.push([0u8; 1]),
            2 => self.out.push([0u8; 2]),
            3 => self.out.push([0u8; 3]),
            _ => {}
        }
    }

    /// Starts a message (`nlmsg_put()`); its length is filled in by
    /// [`MsgWriter::end`].
    #[inline(always)]
    pub(crate) fn begin(
        &mut self,
        msg_type: u16,
        flags: u16,
        seq: u32,
        portid: u32,
    ) -> Result<(), BufferFull> {
        self.reserve(NLMSG_HDRLEN)?;
        self.msg_start = Some(self.out.written());
        let [t0, t1] = msg_type.to_ne_bytes();
        let [f0, f1] = flags.to_ne_bytes();
        let [s0, s1, s2, s3] = seq.to_ne_bytes();
        let [p0, p1, p2, p3] = portid.to_ne_bytes();
        self.out.push([0, 0, 0, 0, t0, t1, f0, f1, s0, s1, s2, s3, p0, p1, p2, p3]);
        Ok(())
    }

    /// Finishes the open message (`nlmsg_end()`).
    #[inline(always)]
    pub(crate) fn end(&mut self) {
        if let Some(start) = self.msg_start.take() {
            let len = (self.out.written() - start) as u32;
            self.out.patch(start, len.to_ne_bytes());
        }
    }

    /// Appends `data` to the open message as is (a fixed payload header,
    /// such as `NLMSG_DONE`'s error code), padded to alignment.
    pub(crate) fn put_raw<const N: usize>(&mut self, data: [u8; N]) -> Result<(), BufferFull> {
        self.reserve(N)?;
        self.out.push(data);
        self.pad(N);
        Ok(())
    }

    /// Appends attribute `attr_type` with payload `data` (`nla_put()`).
    #[inline(always)]
    pub(crate) fn put_array<const N: usize>(&mut self, attr_type: u16, data: [u8; N]) -> Result<(), BufferFull> {
        let nla_len = NLA_HDRLEN + N;
        let [l0, l1] = u16::try_from(nla_len).map_err(|_| BufferFull)?.to_ne_bytes();
        self.reserve(nla_len)?;
        let [t0, t1] = attr_type.to_ne_bytes();
        self.out.push([l0, l1, t0, t1]);
        self.out.push(data);
        self.pad(nla_len);
        Ok(())
    }

    #[inline(always)]
    pub(crate) fn put_u8(&mut self, attr_type: u16, value: u8) -> Result<(), BufferFull> {
        self.put_array(attr_type, [value])
    }

    #[inline(always)]
    pub(crate) fn put_u32(&mut self, attr_type: u16, value: u32) -> Result<(), BufferFull> {
        self.put_array(attr_type, value.to_ne_bytes())
    }

    /// A 64-bit attribute. Not padded to 8 bytes (`nla_put_u64_64bit()`
    /// only pads on architectures without efficient unaligned access;
    /// readers must accept both).
    #[inline(always)]
    pub(crate) fn put_u64(&mut self, attr_type: u16, value: u64) -> Result<(), BufferFull> {
        self.put_array(attr_type, value.to_ne_bytes())
    }

    /// Appends attribute `attr_type` with the first `len` bytes of `src` as
    /// its payload, copied straight into the output. `BufferFull` if they do
    /// not fit, or `src` has fewer (the output's tail is undefined then).
    pub(crate) fn put_copy<S: CopySource + ?Sized>(
        &mut self,
        attr_type: u16,
        src: &S,
        len: usize,
    ) -> Result<(), BufferFull> {
        let nla_len = NLA_HDRLEN.checked_add(len).ok_or(BufferFull)?;
        let [l0, l1] = u16::try_from(nla_len).map_err(|_| BufferFull)?.to_ne_bytes();
        self.reserve(nla_len)?;
        let [t0, t1] = attr_type.to_ne_bytes();
        self.out.push([l0, l1, t0, t1]);
        if !self.out.push_copy(src, len) {
            return Err(BufferFull);
        }
        self.pad(nla_len);
        Ok(())
    }

    /// Opens nested attribute `attr_type` (`nla_nest_start()`, which sets
    /// `NLA_F_NESTED`).
    pub(crate) fn nest_start(&mut self, attr_type: u16) -> Result<Nest, BufferFull> {
        self.reserve(NLA_HDRLEN)?;
        let start = self.out.written();
        let [t0, t1] = (attr_type | NLA_F_NESTED).to_ne_bytes();
        self.out.push([0, 0, t0, t1]);
        Ok(Nest { start })
    }

    /// Closes a nest: its length now covers everything added since.
    pub(crate) fn nest_end(&mut self, nest: Nest) -> Result<(), BufferFull> {
        let len = u16::try_from(self.out.written() - nest.start).map_err(|_| BufferFull)?;
        self.out.patch(nest.start, len.to_ne_bytes());
        Ok(())
    }
}
