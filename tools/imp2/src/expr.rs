//! tcpdump expressions for `imp2 monitor EXPRESSION`: compiled by libpcap
//! (the pcap crate) for raw IP (`DLT_RAW`: packets start at the IP header,
//! IPv4 or IPv6), sent to the module as a classic BPF program
//! (`IMP2_A_BPF`), with the families and L4 protocols the program can
//! accept, derived from it, as the listener's filter: the module's hook
//! then passes over all other traffic as cheaply as before.

use pcap::{BpfProgram, Capture, Linktype};

/// `DLT_RAW` as `pcap_open_dead()` takes it (Linux's value; `LINKTYPE_RAW`
/// 101 is the file format's, which libpcap refuses here).
const DLT_RAW: i32 = 12;

/// One classic BPF instruction, `struct sock_filter`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

impl Insn {
    /// The 8 bytes of a `struct sock_filter`, native byte order.
    pub fn to_bytes(self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[..2].copy_from_slice(&self.code.to_ne_bytes());
        b[2] = self.jt;
        b[3] = self.jf;
        b[4..].copy_from_slice(&self.k.to_ne_bytes());
        b
    }
}

/// A compiled expression: libpcap's program and its instructions.
pub struct Compiled {
    pub program: BpfProgram,
    pub insns: Vec<Insn>,
}

/// Compiles `expression` as tcpdump does (optimised), for raw IP. The
/// error is libpcap's own message, or why the kernel could not run it.
pub fn compile(expression: &str) -> Result<Compiled, String> {
    let dead = Capture::dead(Linktype(DLT_RAW)).map_err(|e| e.to_string())?;
    let program = dead.compile(expression, true).map_err(|e| e.to_string())?;
    // The crate keeps the fields private; its Display is "code jt jf k".
    let insns = program
        .get_instructions()
        .iter()
        .map(|insn| {
            let text = insn.to_string();
            let f: Vec<u32> = text.split(' ').filter_map(|n| n.parse().ok()).collect();
            match f[..] {
                [code, jt, jf, k] => Ok(Insn { code: code as u16, jt: jt as u8, jf: jf as u8, k }),
                _ => Err(format!("unexpected BPF instruction text from the pcap crate: {text:?}")),
            }
        })
        .collect::<Result<Vec<Insn>, _>>()?;
    runnable(&insns)?;
    Ok(Compiled { program, insns })
}

/// Whether the kernel can take `insns` as far as their shape goes (it
/// checks the rest): at most `IMP2_BPF_MAXINSNS`, every jump forward and
/// within the program, a return at the end.
fn runnable(insns: &[Insn]) -> Result<(), String> {
    let max = crate::abi::IMP2_BPF_MAXINSNS as usize;
    if insns.len() > max {
        return Err(format!("{} BPF instructions, more than the kernel takes ({max})", insns.len()));
    }
    for (pc, insn) in insns.iter().enumerate() {
        if insn.code & 0x07 != 0x05 {
            continue;
        }
        let targets = if insn.code & 0xf0 == 0x00 {
            vec![u64::from(insn.k)]
        } else {
            vec![u64::from(insn.jt), u64::from(insn.jf)]
        };
        if targets.iter().any(|&t| pc as u64 + 1 + t >= insns.len() as u64) {
            return Err("it loops or jumps backwards (as ip6 protochain does), which the kernel's \
                        classic BPF does not allow"
                .into());
        }
    }
    match insns.last() {
        Some(last) if last.code & 0x07 == 0x06 => Ok(()),
        _ => Err("the program does not end with a return".into()),
    }
}

/// The families and protocols a program can accept: a superset, sound for
/// every packet (what it cannot tell, it allows).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interest {
    /// L4 protocols of IPv4 packets it may accept (none: no IPv4 at all).
    pub ipv4: [bool; 256],
    /// The same for IPv6: the upper-layer protocol.
    pub ipv6: [bool; 256],
}

impl Interest {
    fn none() -> Self {
        Interest { ipv4: [false; 256], ipv6: [false; 256] }
    }

    fn everything() -> Self {
        Interest { ipv4: [true; 256], ipv6: [true; 256] }
    }

    /// `IMP2_FAMILY_*` bits of the families it may accept.
    pub fn families(&self) -> u32 {
        let v4 = if self.ipv4.iter().any(|&b| b) { crate::abi::IMP2_FAMILY_IPV4 } else { 0 };
        let v6 = if self.ipv6.iter().any(|&b| b) { crate::abi::IMP2_FAMILY_IPV6 } else { 0 };
        v4 | v6
    }

    /// The protocols, over both families (the listener filter has one set).
    pub fn protocols(&self) -> Vec<u8> {
        (0..=255u8).filter(|&p| self.ipv4[usize::from(p)] || self.ipv6[usize::from(p)]).collect()
    }
}

/// What register A is known to hold, on one path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Value {
    Unknown,
    /// Byte 0 (IPv4 and IPv6: the version in its top nibble).
    Byte0,
    /// The version nibble, shifted (`byte0 >> 4`) or masked (`byte0 & 0xf0`).
    Version { shifted: bool },
    /// A byte at this offset from the IP header.
    Byte(u32),
}

/// What a path has learnt about one packet byte: its value, or values it
/// does not have.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Known {
    Is(u8),
    IsNot(Vec<u8>),
}

impl Known {
    fn allows(&self, v: u8) -> bool {
        match self {
            Known::Is(x) => *x == v,
            Known::IsNot(xs) => !xs.contains(&v),
        }
    }
}

/// A path's state.
#[derive(Clone, Debug)]
struct Path {
    pc: usize,
    a: Value,
    version: Known,
    /// Bytes compared: (offset, what is known).
    bytes: Vec<(u32, Known)>,
}

impl Path {
    fn byte(&self, offset: u32) -> Option<&Known> {
        self.bytes.iter().find(|(o, _)| *o == offset).map(|(_, k)| k)
    }

    /// Records that A (holding `value`) equals `k` (`eq`) or not.
    fn learn(&mut self, value: Value, k: u32, eq: bool) -> bool {
        let (slot, v): (Option<&mut Known>, u32) = match value {
            // A masked nibble never equals a k with bits outside it: only
            // the false branch is possible, and it says nothing.
            Value::Version { shifted: false } if k & !0xf0 != 0 => return !eq,
            Value::Version { shifted: true } if k > 0xf => return !eq,
            Value::Version { shifted } => (Some(&mut self.version), if shifted { k } else { k >> 4 }),
            Value::Byte(offset) => {
                if self.byte(offset).is_none() {
                    self.bytes.push((offset, Known::IsNot(Vec::new())));
                }
                let slot = self.bytes.iter_mut().find(|(o, _)| *o == offset).map(|(_, k)| k);
                (slot, k)
            }
            _ => return true,
        };
        let Some(slot) = slot else { return true };
        let Ok(v) = u8::try_from(v) else {
            // A byte never equals a value above 255: only the false branch is possible.
            return !eq;
        };
        if eq {
            if !slot.allows(v) {
                return false;
            }
            *slot = Known::Is(v);
        } else {
            match slot {
                Known::Is(x) if *x == v => return false,
                Known::Is(_) => {}
                Known::IsNot(xs) => xs.push(v),
            }
        }
        true
    }
}

/// IPv6 extension headers that libpcap's programs look past only for the
/// fragment header (44); behind any of them the upper-layer protocol is
/// not at byte 6.
const IPV6_EXTENSION_HEADERS: [u8; 10] = [0, 43, 44, 50, 51, 60, 135, 139, 140, 253];

/// At most this many instructions are stepped over all paths; past it, the
/// program is taken to accept everything.
const STEP_BUDGET: usize = 200_000;

/// The families and protocols `insns` may accept, found by following every
/// path through the program (classic BPF only jumps forward) and the
/// comparisons libpcap emits for raw IP: the version nibble, IPv4's
/// protocol byte (9), IPv6's next header (6) and, behind a fragment header,
/// its next header (40).
pub fn interest(insns: &[Insn]) -> Interest {
    let mut out = Interest::none();
    let mut stack = vec![Path { pc: 0, a: Value::Unknown, version: Known::IsNot(Vec::new()), bytes: Vec::new() }];
    let mut steps = 0;
    while let Some(mut path) = stack.pop() {
        loop {
            steps += 1;
            if steps > STEP_BUDGET {
                return Interest::everything();
            }
            let Some(&insn) = insns.get(path.pc) else {
                return Interest::everything(); // not a program the kernel takes: be safe
            };
            let class = insn.code & 0x07;
            match class {
                // BPF_LD: ABS byte loads are tracked, everything else is unknown.
                0x00 => {
                    path.a = match insn.code {
                        0x30 if insn.k == 0 => Value::Byte0,
                        0x30 => Value::Byte(insn.k),
                        _ => Value::Unknown,
                    };
                    path.pc += 1;
                }
                // BPF_ALU
                0x04 => {
                    path.a = match (path.a, insn.code) {
                        (Value::Byte0, 0x54) if insn.k == 0xf0 => Value::Version { shifted: false },
                        (Value::Byte0, 0x74) if insn.k == 4 => Value::Version { shifted: true },
                        _ => Value::Unknown,
                    };
                    path.pc += 1;
                }
                // BPF_JMP
                0x05 => {
                    let op = insn.code & 0xf0;
                    let src_k = insn.code & 0x08 == 0;
                    if op == 0x00 {
                        // JA
                        path.pc += 1 + insn.k as usize;
                        continue;
                    }
                    let (t, f) = (path.pc + 1 + usize::from(insn.jt), path.pc + 1 + usize::from(insn.jf));
                    if op == 0x10 && src_k {
                        // JEQ #k: both branches, each with what it implies.
                        let mut taken = path.clone();
                        taken.pc = t;
                        if taken.learn(path.a, insn.k, true) {
                            stack.push(taken);
                        }
                        path.pc = f;
                        if !path.learn(path.a, insn.k, false) {
                            break;
                        }
                    } else {
                        let mut taken = path.clone();
                        taken.pc = t;
                        stack.push(taken);
                        path.pc = f;
                    }
                }
                // BPF_RET
                0x06 => {
                    let accepts = match insn.code & 0x18 {
                        0x00 => insn.k != 0, // RET #k
                        _ => true,           // RET A or X: may accept
                    };
                    if accepts {
                        accept(&path, &mut out);
                    }
                    break;
                }
                // LDX, ST, STX, MISC: A unknown where it changes.
                _ => {
                    if class == 0x07 && insn.code & 0xf8 == 0x80 {
                        path.a = Value::Unknown; // TXA
                    }
                    path.pc += 1;
                }
            }
        }
    }
    out
}

/// Adds what an accepting path allows.
fn accept(path: &Path, out: &mut Interest) {
    let all = |k: Option<&Known>, p: u8| k.is_none_or(|k| k.allows(p));
    if path.version.allows(4) {
        for p in 0..=255u8 {
            if all(path.byte(9), p) {
                out.ipv4[usize::from(p)] = true;
            }
        }
    }
    if path.version.allows(6) {
        for p in 0..=255u8 {
            if ipv6_upper_layer_allowed(path.byte(6), path.byte(40), p) {
                out.ipv6[usize::from(p)] = true;
            }
        }
    }
}

/// Whether an IPv6 packet with upper-layer protocol `p` (as the kernel
/// finds it, past the extension headers) can take a path that knows
/// `next` of its next-header byte (6) and `frag_next` of byte 40 (the
/// next header after a fragment header).
fn ipv6_upper_layer_allowed(next: Option<&Known>, frag_next: Option<&Known>, p: u8) -> bool {
    let allows = |k: Option<&Known>, v: u8| k.is_none_or(|k| k.allows(v));
    // Whether an extension header (other than the fragment header, if
    // `but_fragment`) may come next: behind it, any protocol.
    let extension = |k: Option<&Known>, but_fragment: bool| {
        IPV6_EXTENSION_HEADERS.iter().any(|&h| !(but_fragment && h == 44) && allows(k, h))
    };
    let is_extension = IPV6_EXTENSION_HEADERS.contains(&p);
    (allows(next, p) && !is_extension)
        || extension(next, true)
        || (allows(next, 44) && ((allows(frag_next, p) && !is_extension) || extension(frag_next, false)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interest_of(expression: &str) -> Interest {
        interest(&compile(expression).unwrap().insns)
    }

    fn protos(set: &[bool; 256]) -> Vec<u8> {
        (0..=255u8).filter(|&p| set[usize::from(p)]).collect()
    }

    #[test]
    fn simple_expressions_give_their_family_and_protocol() {
        let icmp = interest_of("icmp");
        assert_eq!((protos(&icmp.ipv4), protos(&icmp.ipv6)), (vec![1], vec![]));
        let icmp6 = interest_of("icmp6");
        assert_eq!(protos(&icmp6.ipv4), Vec::<u8>::new());
        assert!(icmp6.ipv6[58]);
        let dns = interest_of("udp port 53");
        assert_eq!(protos(&dns.ipv4), vec![17]);
        assert!(dns.ipv6[17] && !dns.ipv6[6]);
        let tcp6 = interest_of("ip6 and tcp");
        assert_eq!(protos(&tcp6.ipv4), Vec::<u8>::new());
        assert!(tcp6.ipv6[6] && !tcp6.ipv6[17]);
        assert_eq!(interest_of("tcp[tcpflags] & tcp-syn != 0").families(), crate::abi::IMP2_FAMILY_IPV4);
    }

    #[test]
    fn what_cannot_be_derived_is_everything_of_the_family() {
        let net = interest_of("src net 10.99.0.0/24");
        assert_eq!(protos(&net.ipv4).len(), 256);
        assert_eq!(net.families(), crate::abi::IMP2_FAMILY_IPV4);
        let not_icmp = interest_of("not icmp");
        assert!(!not_icmp.ipv4[1] && not_icmp.ipv4[6]);
        assert_eq!(protos(&not_icmp.ipv6).len(), 256);
    }

    #[test]
    fn libpcaps_own_message_for_a_bad_expression() {
        let err = compile("udp port").err().unwrap();
        assert!(err.contains("syntax error"), "{err}");
        let err = compile("port 99999").err().unwrap();
        assert!(err.contains("99999"), "{err}");
        // libpcap can loop over IPv6 extension headers; the kernel cannot.
        let err = compile("ip6 protochain 6").err().unwrap();
        assert!(err.contains("loops or jumps backwards"), "{err}");
    }

    /// A packet from its IP header: IPv4 or IPv6 with `proto`, some ports.
    fn packet(v6: bool, proto: u8, frag_header: bool) -> Vec<u8> {
        let l4 = [0x04, 0xd2, 0x00, 0x35, 0, 8, 0, 0, 0x02, 0, 0, 0, 0, 0x12, 0, 0, 0, 0, 0, 0];
        if v6 {
            let mut p = vec![0x60, 0, 0, 0, 0, 28, if frag_header { 44 } else { proto }, 64];
            p.extend_from_slice(&[0xfd, 0, 0, 0x99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
            p.extend_from_slice(&[0xfd, 0, 0, 0x99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
            if frag_header {
                p.extend_from_slice(&[proto, 0, 0, 0, 0, 0, 0, 1]);
            }
            p.extend_from_slice(&l4);
            p
        } else {
            let mut p = vec![0x45, 0, 0, 40, 0, 0, 0, 0, 64, proto, 0, 0, 10, 99, 0, 2, 10, 99, 0, 1];
            p.extend_from_slice(&l4);
            p
        }
    }

    #[test]
    fn the_interest_covers_every_packet_libpcap_accepts() {
        let expressions = [
            "icmp", "icmp6", "udp port 53", "src net 10.99.0.0/24", "tcp[tcpflags] & tcp-syn != 0", "ip6 and tcp",
            "not icmp", "tcp or udp", "ip proto 132", "ip6 proto 17", "udp and not port 53", "ip", "ip6",
            // The masked version compared with a value it cannot have.
            "link[0] & 0xf0 != 0x45 or icmp", "link[0] & 0xf0 = 0x45 or icmp6", "(link[0] >> 4) != 20 or tcp",
        ];
        for expression in expressions {
            let compiled = compile(expression).unwrap();
            let interest = interest(&compiled.insns);
            for v6 in [false, true] {
                for frag in [false, true] {
                    for proto in 0..=255u8 {
                        let p = packet(v6, proto, frag && v6);
                        if compiled.program.filter(&p) {
                            let set = if v6 { &interest.ipv6 } else { &interest.ipv4 };
                            assert!(set[usize::from(proto)], "{expression}: v6 {v6} frag {frag} proto {proto} accepted but not in the interest");
                        }
                    }
                }
            }
        }
    }
}
