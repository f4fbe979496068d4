//! `imp2 monitor -w FILE`: events with their packet bytes as a pcapng
//! file, for Wireshark and `tcpdump -r`. The blocks are the pcap-file
//! crate's.
//!
//! - Link type raw IP (`LINKTYPE_RAW`): the bytes start at the IP header,
//!   IPv4 or IPv6, as `IMP2_A_PAYLOAD` does.
//! - One interface description block per interface, when its first event
//!   comes: its name (`if_name`) and nanosecond timestamps (`if_tsresol`
//!   9, which is what the crate writes). A packet's interface is the one
//!   it leaves by at the hooks that have one (forward, output,
//!   postrouting), as tcpdump on that interface would show it, else the
//!   one it came in on.
//! - Per packet: the timestamp of `IMP2_A_TSTAMP_NS`, the original length
//!   of `IMP2_A_LEN`, the direction (`epb_flags`: inbound at prerouting and
//!   input, outbound at the others), and a comment with the hook, the
//!   listener's sequence number and, for listeners with limits, the
//!   packets left out before it.

use crate::v2::{self, Event};
use crate::abi;
use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::{InterfaceDescriptionBlock, InterfaceDescriptionOption};
use pcap_file::pcapng::blocks::section_header::{SectionHeaderBlock, SectionHeaderOption};
use pcap_file::pcapng::PcapNgWriter;
use pcap_file::{DataLink, Endianness, PcapError};
use std::borrow::Cow;
use std::io::{self, Write};
use std::time::Duration;

/// Nanoseconds: `if_tsresol` 9 (10^-9 s).
const TSRESOL_NS: u8 = 9;

/// `epb_flags` direction bits (pcapng, section 4.3.1).
const EPB_INBOUND: u32 = 1;
const EPB_OUTBOUND: u32 = 2;

/// A pcapng file being written from events.
pub struct PcapNgOut<W: Write> {
    writer: PcapNgWriter<W>,
    /// The ifindex of each interface block written, by interface id.
    interfaces: Vec<Option<u32>>,
    /// The listener's snaplen, the interfaces' `snaplen`.
    snaplen: u32,
}

fn io_error(e: PcapError) -> io::Error {
    match e {
        PcapError::IoError(e) => e,
        other => io::Error::other(other.to_string()),
    }
}

impl<W: Write> PcapNgOut<W> {
    /// Starts the file (its section header) on `out`.
    pub fn new(out: W, snaplen: u32) -> io::Result<Self> {
        let section = SectionHeaderBlock {
            endianness: Endianness::native(),
            options: vec![SectionHeaderOption::UserApplication(Cow::Owned(format!(
                "imp2 {}",
                env!("CARGO_PKG_VERSION")
            )))],
            ..SectionHeaderBlock::default()
        };
        let writer = PcapNgWriter::with_section_header(out, section).map_err(io_error)?;
        Ok(Self { writer, interfaces: Vec::new(), snaplen })
    }

    /// The interface id of `ifindex`, writing its description block first
    /// if it is new; `name` gives its name.
    fn interface(&mut self, ifindex: Option<u32>, name: impl FnOnce(u32) -> Option<String>) -> io::Result<u32> {
        if let Some(id) = self.interfaces.iter().position(|&known| known == ifindex) {
            return Ok(id as u32);
        }
        let name = match ifindex {
            Some(index) => name(index).unwrap_or_else(|| format!("ifindex {index}")),
            None => "unknown".to_string(),
        };
        let block = InterfaceDescriptionBlock {
            linktype: DataLink::RAW,
            snaplen: self.snaplen,
            options: vec![
                InterfaceDescriptionOption::IfName(Cow::Owned(name)),
                InterfaceDescriptionOption::IfTsResol(TSRESOL_NS),
            ],
        };
        self.writer.write_pcapng_block(block).map_err(io_error)?;
        self.interfaces.push(ifindex);
        Ok((self.interfaces.len() - 1) as u32)
    }

    /// Writes one event as a packet; `name` names a new interface.
    pub fn write(&mut self, ev: &Event, name: impl FnOnce(u32) -> Option<String>) -> io::Result<()> {
        let ifindex = ev.out_ifindex.filter(|&i| i != 0).or(ev.ifindex);
        let interface_id = self.interface(ifindex, name)?;
        let data = ev.payload.as_deref().unwrap_or_default();
        // An event without a hook is from a module before hooks: prerouting.
        let hook = ev.hook.unwrap_or(abi::IMP2_HOOK_PREROUTING);
        let mut comment = format!("hook {}, seq {}", v2::hook_text(hook), ev.seq);
        if let Some(suppressed) = ev.suppressed {
            comment += &format!(", {suppressed} suppressed before");
        }
        let mut options = vec![EnhancedPacketOption::Comment(Cow::Owned(comment))];
        if let Some(inbound) = v2::hook_is_inbound(hook) {
            options.push(EnhancedPacketOption::Flags(if inbound { EPB_INBOUND } else { EPB_OUTBOUND }));
        }
        let block = EnhancedPacketBlock {
            interface_id,
            timestamp: Duration::from_nanos(ev.tstamp_ns.unwrap_or(0)),
            original_len: ev.len.unwrap_or(data.len() as u32),
            data: Cow::Borrowed(data),
            options,
        };
        self.writer.write_pcapng_block(block).map_err(io_error)?;
        Ok(())
    }

    /// Flushes what is written so far (a reader on a pipe sees it now).
    pub fn flush(&mut self) -> io::Result<()> {
        self.writer.get_mut().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcap_file::pcapng::{Block, PcapNgReader};
    use std::net::IpAddr;

    fn event(seq: u32, ifindex: u32, tstamp_ns: u64, payload: &[u8], len: u32) -> Event {
        Event {
            ifindex: Some(ifindex),
            tstamp_ns: Some(tstamp_ns),
            len: Some(len),
            payload: Some(payload.to_vec()),
            proto: Some(1),
            ..Event::new(seq, IpAddr::from([10, 99, 0, 2]), IpAddr::from([10, 99, 0, 1]))
        }
    }

    #[test]
    fn round_trips_through_the_crates_reader() {
        let mut file = Vec::new();
        let mut out = PcapNgOut::new(&mut file, 64).unwrap();
        let names = |index| Some(format!("veth{index}"));
        let packets = [
            event(1, 5, 1_700_000_000_123_456_789, &[0x45; 64], 84),
            event(2, 7, 1_700_000_000_223_456_789, &[0x60; 40], 40),
            Event { suppressed: Some(9), ..event(3, 5, 1_700_000_001_000_000_001, &[0x45; 20], 1500) },
            // Sent by the host: filed under the interface it leaves by.
            Event {
                hook: Some(abi::IMP2_HOOK_OUTPUT),
                out_ifindex: Some(9),
                ..event(4, 0, 1_700_000_002_000_000_000, &[0x45; 20], 84)
            },
            Event { hook: Some(abi::IMP2_HOOK_INPUT), ..event(5, 7, 1_700_000_003_000_000_000, &[0x45; 20], 84) },
        ];
        for ev in &packets {
            out.write(ev, names).unwrap();
        }
        out.flush().unwrap();
        drop(out);

        let mut reader = PcapNgReader::new(&file[..]).unwrap();
        let mut interfaces = Vec::new();
        let mut got = Vec::new();
        while let Some(block) = reader.next_block() {
            match block.unwrap() {
                Block::InterfaceDescription(idb) => interfaces.push(idb.into_owned()),
                Block::EnhancedPacket(epb) => got.push(epb.into_owned()),
                _ => {}
            }
        }
        // One interface block per ifindex seen, named, raw IP, ns resolution.
        assert_eq!(interfaces.len(), 3);
        for (idb, name) in interfaces.iter().zip(["veth5", "veth7", "veth9"]) {
            assert_eq!(idb.linktype, DataLink::RAW);
            assert_eq!(idb.snaplen, 64);
            assert!(idb.options.contains(&InterfaceDescriptionOption::IfName(Cow::Borrowed(name))));
            assert!(idb.options.contains(&InterfaceDescriptionOption::IfTsResol(9)));
        }
        assert_eq!(got.len(), 5);
        let ids: Vec<u32> = got.iter().map(|p| p.interface_id).collect();
        assert_eq!(ids, [0, 1, 0, 2, 1]);
        for (epb, ev) in got.iter().zip(&packets) {
            assert_eq!(epb.timestamp, Duration::from_nanos(ev.tstamp_ns.unwrap()));
            assert_eq!(epb.original_len, ev.len.unwrap());
            assert_eq!(&epb.data[..], ev.payload.as_deref().unwrap());
        }
        let comment = |epb: &EnhancedPacketBlock<'_>| match &epb.options[..] {
            [EnhancedPacketOption::Comment(text), EnhancedPacketOption::Flags(direction)] => {
                format!("{text} / {direction}")
            }
            other => panic!("{other:?}"),
        };
        // Prerouting by default (a module before hooks sends none).
        assert_eq!(comment(&got[0]), "hook prerouting, seq 1 / 1");
        assert_eq!(comment(&got[2]), "hook prerouting, seq 3, 9 suppressed before / 1");
        assert_eq!(comment(&got[3]), "hook output, seq 4 / 2");
        assert_eq!(comment(&got[4]), "hook input, seq 5 / 1");
    }

    #[test]
    fn an_interface_without_a_name_is_named_by_its_index() {
        let mut file = Vec::new();
        let mut out = PcapNgOut::new(&mut file, 256).unwrap();
        out.write(&event(1, 42, 1, &[0x45; 20], 20), |_| None).unwrap();
        drop(out);
        let mut reader = PcapNgReader::new(&file[..]).unwrap();
        let idb = reader.interfaces().first().cloned();
        let idb = idb.or_else(|| {
            let _ = reader.next_block();
            reader.interfaces().first().cloned()
        });
        let idb = idb.expect("an interface block");
        assert!(idb.options.contains(&InterfaceDescriptionOption::IfName(Cow::Borrowed("ifindex 42"))));
    }
}
