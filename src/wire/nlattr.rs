// SPDX-License-Identifier: GPL-2.0

//! Writing netlink messages with attributes (`struct nlattr` TLVs) into a
//! byte buffer: `nlmsg_put()`, `nla_put()` and `nla_nest_start()`/`_end()`
//! over a slice, so that events are encoded on the stack and copied into an
//! skb in one go.
//!
//! Pure, safe `core` code: it also compiles on the host, where the tool's
//! tests check it against the tool's own decoder.

use crate::wire::nlmsg::{nlmsg_align, NLMSG_HDRLEN};

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

/// Appends netlink messages, each with attributes, to a buffer.
///
/// Every `put` either writes a whole, aligned attribute or nothing. The
/// fixed-size writers are inlined and store arrays: with the sizes known at
/// compile time, an attribute becomes a few stores, where slice copies
/// called `copy_from_slice` and `memcpy` several times each.
pub(crate) struct MsgWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
    /// Where the open message's header starts.
    msg_start: Option<usize>,
}

impl<'a> MsgWriter<'a> {
    /// Writes into `buf`, from its start.
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, len: 0, msg_start: None }
    }

    /// The messages written so far.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Reserves `len` bytes plus alignment padding (zeroed) and returns
    /// where they start.
    #[inline(always)]
    fn reserve(&mut self, len: usize) -> Result<usize, BufferFull> {
        let start = self.len;
        let end = start.checked_add(nlmsg_align(len)).ok_or(BufferFull)?;
        let area = self.buf.get_mut(start..end).ok_or(BufferFull)?;
        area.fill(0);
        self.len = end;
        Ok(start)
    }

    /// Stores `bytes` at `at`, in an area [`MsgWriter::reserve`] returned
    /// (so they always fit).
    #[inline(always)]
    fn store<const N: usize>(&mut self, at: usize, bytes: [u8; N]) {
        if let Some(dst) = self.buf.get_mut(at..).and_then(<[u8]>::first_chunk_mut) {
            *dst = bytes;
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
        let at = self.reserve(NLMSG_HDRLEN)?;
        self.store(at + 4, msg_type.to_ne_bytes());
        self.store(at + 6, flags.to_ne_bytes());
        self.store(at + 8, seq.to_ne_bytes());
        self.store(at + 12, portid.to_ne_bytes());
        self.msg_start = Some(at);
        Ok(())
    }

    /// Finishes the open message (`nlmsg_end()`).
    #[inline(always)]
    pub(crate) fn end(&mut self) {
        if let Some(start) = self.msg_start.take() {
            let len = (self.len - start) as u32;
            self.store(start, len.to_ne_bytes());
        }
    }

    /// Appends `data` to the open message as is (a fixed payload header,
    /// such as `NLMSG_DONE`'s error code), padded to alignment.
    pub(crate) fn put_raw(&mut self, data: &[u8]) -> Result<(), BufferFull> {
        let at = self.reserve(data.len())?;
        self.buf[at..at + data.len()].copy_from_slice(data);
        Ok(())
    }

    /// Appends attribute `attr_type` with payload `data` (`nla_put()`).
    #[inline(always)]
    pub(crate) fn put_array<const N: usize>(&mut self, attr_type: u16, data: [u8; N]) -> Result<(), BufferFull> {
        let nla_len = NLA_HDRLEN + N;
        let nla_len16 = u16::try_from(nla_len).map_err(|_| BufferFull)?;
        let at = self.reserve(nla_len)?;
        self.store(at, nla_len16.to_ne_bytes());
        self.store(at + 2, attr_type.to_ne_bytes());
        self.store(at + NLA_HDRLEN, data);
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

    /// Opens nested attribute `attr_type` (`nla_nest_start()`, which sets
    /// `NLA_F_NESTED`).
    pub(crate) fn nest_start(&mut self, attr_type: u16) -> Result<Nest, BufferFull> {
        let start = self.reserve(NLA_HDRLEN)?;
        self.buf[start + 2..start + 4].copy_from_slice(&(attr_type | NLA_F_NESTED).to_ne_bytes());
        Ok(Nest { start })
    }

    /// Closes a nest: its length now covers everything added since.
    pub(crate) fn nest_end(&mut self, nest: Nest) -> Result<(), BufferFull> {
        let len = u16::try_from(self.len - nest.start).map_err(|_| BufferFull)?;
        self.buf[nest.start..nest.start + 2].copy_from_slice(&len.to_ne_bytes());
        Ok(())
    }
}
