//! Userspace side of the imp2 protocol: wire ABI, message encoding and
//! decoding. Socket handling lives in the binary.

pub mod abi;
pub mod consumer;
pub mod expr;
pub mod output;
pub mod pcapng;
pub mod proto;
pub mod v2;
