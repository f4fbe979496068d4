// SPDX-License-Identifier: GPL-2.0

//! Netlink message framing: splits a received buffer into messages,
//! validating every `nlmsg_len` so that nothing is ever read past the end.
//!
//! Pure, safe code over a byte slice: it never trusts the lengths it reads.

/// Size of `struct nlmsghdr` on the wire.
pub(crate) const NLMSG_HDRLEN: usize = 16;

/// Rounds up to the netlink 4-byte alignment (`NLMSG_ALIGN`).
pub(crate) const fn nlmsg_align(len: usize) -> usize {
    (len + 3) & !3
}

/// A decoded `struct nlmsghdr` (host byte order, as on the wire).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) len: u32,
    pub(crate) msg_type: u16,
    pub(crate) flags: u16,
    pub(crate) seq: u32,
    /// What the sender wrote; never used to identify it (it can be spoofed).
    pub(crate) claimed_pid: u32,
}

/// One well-formed message inside a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Message<'a> {
    /// Offset of the header from the start of the buffer.
    pub(crate) offset: usize,
    pub(crate) header: Header,
    /// Ties the message to the buffer it was framed from.
    _buf: core::marker::PhantomData<&'a [u8]>,
}

/// Why framing stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FramingError {
    /// Fewer than `NLMSG_HDRLEN` bytes left (includes an empty buffer).
    Truncated { offset: usize, remaining: usize },
    /// `nlmsg_len` smaller than the header or larger than what is left.
    BadLength { offset: usize, len: u32, remaining: usize },
}

/// Iterator over the messages of one buffer. After the first error it
/// yields nothing more: the position of any following message is unknown.
///
/// Stricter than the kernel's `netlink_rcv_skb()`, which silently stops at
/// a remainder of 1 to 15 bytes: such a remainder is a `Truncated` error
/// here, so the module counts it as a malformed request. An empty
/// remainder after the last message is not an error.
pub(crate) struct Messages<'a> {
    buf: &'a [u8],
    offset: usize,
    done: bool,
}

impl<'a> Messages<'a> {
    /// Frames `buf`. An empty buffer yields one `Truncated` error.
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, offset: 0, done: false }
    }
}

fn read_u32(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn read_u16(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<Message<'a>, FramingError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || (self.offset >= self.buf.len() && self.offset > 0) {
            return None;
        }
        let rest = &self.buf[self.offset..];
        let offset = self.offset;
        if rest.len() < NLMSG_HDRLEN {
            self.done = true;
            return Some(Err(FramingError::Truncated { offset, remaining: rest.len() }));
        }
        let header = Header {
            len: read_u32(rest, 0),
            msg_type: read_u16(rest, 4),
            flags: read_u16(rest, 6),
            seq: read_u32(rest, 8),
            claimed_pid: read_u32(rest, 12),
        };
        let len = header.len as usize;
        if len < NLMSG_HDRLEN || len > rest.len() {
            self.done = true;
            return Some(Err(FramingError::BadLength {
                offset,
                len: header.len,
                remaining: rest.len(),
            }));
        }
        self.offset += nlmsg_align(len).min(rest.len());
        Some(Ok(Message { offset, header, _buf: core::marker::PhantomData }))
    }
}
