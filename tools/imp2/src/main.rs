//! `imp2`: subscribe to the imp2 kernel module and print the packets it
//! reports (protocol v2, or the 2007 protocol with `--v1`), or print its
//! counters and v2 listeners.

use clap::{Args, CommandFactory, Parser, Subcommand};
use imp2::consumer::{Consumer, Flow, Seen, Summary};
use imp2::proto::{self, Ack, Event, Message, Stats};
use imp2::v2::{self, Filter, Listener};
use imp2::pcapng::PcapNgOut;
use imp2::{abi, expr, output};
use netlink_sys::{Socket, SocketAddr};
use std::ffi::CStr;
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(name = "imp2", version, about = "Monitor packets reported by the imp2 kernel module")]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// `imp2` alone means `imp2 monitor`.
    #[command(flatten)]
    monitor: MonitorArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Subscribe and print one line per reported packet (the default).
    Monitor(MonitorArgs),
    /// Print the module's counters and v2 listeners for this network namespace.
    Stats(StatsArgs),
}

#[derive(Args, Clone)]
struct MonitorArgs {
    /// Print JSON lines (every field; with --v1: seq, src, dest) instead of text.
    #[arg(long)]
    json: bool,
    /// Use the 2007 protocol: the one subscriber slot, IPv4 ICMP, addresses only.
    #[arg(long)]
    v1: bool,
    /// Address families to report: ipv4, ipv6 or ipv4,ipv6 (default both).
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = v2::parse_family)]
    family: Vec<u32>,
    /// L4 protocols to report: icmp, icmpv6, udp, tcp or numbers 0-255, comma
    /// separated (default: ICMP over IPv4, ICMPv6 over IPv6).
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = v2::parse_proto)]
    proto: Vec<u8>,
    /// Have the module gather up to N events into one datagram (v2; 2 to
    /// IMP2_BATCH_MAX). A batch goes out when full, after --flush-ms, or
    /// when the tool stops.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=abi::IMP2_BATCH_MAX as i64))]
    batch: Option<u32>,
    /// With --batch: the longest a batch waits after its first event, in
    /// milliseconds (default: the module's, 10).
    #[arg(long, value_name = "MS", requires = "batch",
          value_parser = clap::value_parser!(u32).range(1..=abi::IMP2_FLUSH_MS_MAX as i64))]
    flush_ms: Option<u32>,
    /// Write the packets to FILE as pcapng (raw IP, nanosecond timestamps),
    /// `-` for stdout: `imp2 monitor -w - | tcpdump -r -`. No event lines;
    /// the summary goes to stderr. Implies --snaplen 256 unless given.
    #[arg(short = 'w', long = "write", value_name = "FILE")]
    write: Option<String>,
    /// Have the module copy up to N bytes of each packet, from its IP
    /// header on, into the event (v2; 0 to IMP2_SNAPLEN_MAX, at most
    /// IMP2_SNAPLEN_BATCH_MAX with --batch).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=abi::IMP2_SNAPLEN_MAX as i64))]
    snaplen: Option<u32>,
    /// With --json: add each event's packet bytes, as hex ("payload").
    /// Implies --snaplen 256 unless given.
    #[arg(long, requires = "json")]
    payload: bool,
    /// Report one matching packet in N (v2; sampled in the module: the
    /// others cost no event, and each event says how many it stands for).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    sample: Option<u32>,
    /// At most R events per second, up to BURST at once (default R), after
    /// sampling (v2; in the module, like --sample).
    #[arg(long, value_name = "R[/BURST]", value_parser = parse_rate)]
    rate: Option<(u32, Option<u32>)>,
    /// Where the module sees packets (v2): prerouting (the default, as v1:
    /// every packet received), input (received for this host), forward
    /// (routed through it), output (sent by it) or postrouting (leaving
    /// it, sent or forwarded).
    #[arg(long, value_name = "HOOK", value_parser = v2::parse_hook)]
    hook: Option<u32>,
    /// Stop after this many events.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECS")]
    timeout: Option<f64>,
    /// Netlink protocol unit (the module's `unit` parameter), 0 to 31.
    #[arg(long, value_name = "N", default_value_t = abi::DEFAULT_UNIT, value_parser = parse_unit)]
    unit: u32,
    /// Socket receive buffer size in bytes.
    #[arg(long, value_name = "BYTES")]
    rcvbuf: Option<usize>,
    /// Print no events, only the summary (with --json, as JSON).
    #[arg(long)]
    quiet: bool,
    /// A tcpdump expression (pcap-filter(7)), evaluated in the module for
    /// each packet: `imp2 monitor icmp6 or udp port 53`. Packets start at
    /// the IP header (raw IP): no link-layer primitives.
    #[arg(value_name = "EXPRESSION")]
    expression: Vec<String>,
}

#[derive(Args)]
struct StatsArgs {
    /// Print a JSON object.
    #[arg(long)]
    json: bool,
    /// Netlink protocol unit (the module's `unit` parameter), 0 to 31.
    #[arg(long, value_name = "N", default_value_t = abi::DEFAULT_UNIT, value_parser = parse_unit)]
    unit: u32,
}

/// Netlink has 32 protocol units (`MAX_LINKS`).
const MAX_LINKS: u32 = 32;

/// Parses `--unit`: a netlink protocol unit, 0 to 31.
fn parse_unit(arg: &str) -> Result<u32, String> {
    let unit: u32 = arg.parse().map_err(|_| format!("'{arg}' is not a number"))?;
    if unit >= MAX_LINKS {
        return Err(format!("{unit} is not a netlink protocol unit (0 to {})", MAX_LINKS - 1));
    }
    Ok(unit)
}

/// Parses `--rate R[/BURST]`: events per second, and how many at once.
fn parse_rate(arg: &str) -> Result<(u32, Option<u32>), String> {
    let (rate, burst) = match arg.split_once('/') {
        Some((rate, burst)) => (rate, Some(burst)),
        None => (arg, None),
    };
    let number = |text: &str, what: &str| -> Result<u32, String> {
        match text.trim().parse::<u32>() {
            Ok(n) if (1..=abi::IMP2_RATE_MAX).contains(&n) => Ok(n),
            _ => Err(format!("'{text}' is not a {what}: use a number 1 to {}", abi::IMP2_RATE_MAX)),
        }
    };
    Ok((number(rate, "rate (events per second)")?, burst.map(|b| number(b, "burst")).transpose()?))
}

/// A fatal error: what went wrong and what to do about it.
struct Fatal(String);

impl From<io::Error> for Fatal {
    fn from(e: io::Error) -> Self {
        Fatal(format!("netlink socket error: {e}"))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Stats(args)) => stats(&args),
        Some(Command::Monitor(args)) => monitor(&args),
        None => monitor(&cli.monitor),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fatal(msg)) => {
            eprintln!("imp2: error: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// Opens and binds a socket on `unit`, with a clear error if the module
/// is not there. Refusals come with their extended-ack text.
fn open(unit: u32) -> Result<(Socket, u32), Fatal> {
    let mut socket = Socket::new(unit as isize).map_err(|e| {
        if e.raw_os_error() == Some(libc::EPROTONOSUPPORT) {
            Fatal(format!("imp2 module not loaded (netlink unit {unit}): insmod imp2.ko"))
        } else {
            Fatal(format!("cannot open netlink unit {unit}: {e}"))
        }
    })?;
    let addr = socket.bind_auto()?;
    // Extended acks carry the module's explanation of an EINVAL; capped
    // acks do not echo our request back. Both only shape the kernel's
    // replies, so a kernel without them is no reason to stop.
    let _ = socket.set_ext_ack(true);
    let _ = socket.set_cap_ack(true);
    Ok((socket, addr.port_number()))
}

fn send(socket: &Socket, buf: &[u8]) -> Result<(), Fatal> {
    socket.send_to(buf, &SocketAddr::new(0, 0), 0)?;
    Ok(())
}

/// Waits up to `timeout` for the socket to become readable.
fn wait_readable(socket: &Socket, timeout: Duration) -> io::Result<bool> {
    let mut pfd = libc::pollfd { fd: socket.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: `pfd` is a valid pollfd array of length 1 for the call.
    let n = unsafe { libc::poll(&mut pfd, 1, ms) };
    match n {
        n if n > 0 => Ok(true),
        0 => Ok(false),
        _ => {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                Ok(false)
            } else {
                Err(e)
            }
        }
    }
}

/// What a receive got.
enum Received {
    /// A datagram of this many bytes.
    Datagram(usize),
    /// ENOBUFS: the kernel dropped messages because our receive buffer
    /// was full (an overrun).
    Overrun,
    /// Nothing was queued (only without waiting).
    Nothing,
}

/// Receives one datagram; with `wait` false, only one already queued.
fn recv(socket: &Socket, buf: &mut Vec<u8>, wait: bool) -> io::Result<Received> {
    buf.clear();
    match socket.recv(buf, if wait { 0 } else { libc::MSG_DONTWAIT }) {
        Ok(n) => Ok(Received::Datagram(n)),
        Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => Ok(Received::Overrun),
        Err(e) if !wait && e.kind() == io::ErrorKind::WouldBlock => Ok(Received::Nothing),
        Err(e) => Err(e),
    }
}

/// `strerror(errno)`, without Rust's " (os error N)" suffix.
fn strerror(errno: i32) -> String {
    let text = io::Error::from_raw_os_error(errno).to_string();
    match text.rfind(" (os error ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// `Invalid argument: <extended-ack text> (at IMP2_A_PROTOS)`: the error,
/// the module's explanation, and which attribute of `request` it blames.
fn refusal_reason(ack: &Ack, request: &[u8]) -> String {
    let mut reason = strerror(ack.errno);
    if let Some(text) = &ack.ext_msg {
        reason += &format!(": {text}");
    }
    if let Some(kind) = ack.bad_attr_offset.and_then(|offset| proto::attr_type_at(request, offset)) {
        reason += &format!(" (at {})", v2::attr_name(kind));
    }
    reason
}

/// What to tell the user when the module refuses a subscription.
fn subscribe_advice(protocol: &Protocol, ack: &Ack, request: &[u8]) -> String {
    match (ack.errno, protocol) {
        (libc::EPERM, _) => "permission denied: subscribing needs CAP_NET_ADMIN in this network \
                             namespace (run as root)"
            .into(),
        (libc::EAGAIN, _) => "the module is still loading: retry".into(),
        (libc::ENOSPC, Protocol::V2(_)) => "subscribe refused: the module's v2 listener limit is \
                                            reached (ENOSPC): stop a listener, or load imp2.ko \
                                            with a larger max_listeners=N"
            .into(),
        (libc::EOPNOTSUPP, Protocol::V2(_)) => "subscribe refused: the loaded imp2 module does not \
                                                speak protocol v2 (EOPNOTSUPP): load a current \
                                                imp2.ko, or use --v1"
            .into(),
        _ => format!("subscribe refused: {}", refusal_reason(ack, request)),
    }
}

/// Counts events and sequence gaps. Events from different CPUs can arrive
/// slightly out of order, so a late sequence number fills a gap instead of
/// being counted twice. The tool is one listener, so one sequence.
fn print_event(out: &mut impl Write, json: bool, ev: &Event) -> io::Result<()> {
    if json {
        // A struct, not json!(): keeps the documented key order seq, src, dest.
        #[derive(serde::Serialize)]
        struct EventLine {
            seq: u32,
            src: String,
            dest: String,
        }
        let line = EventLine { seq: ev.seq, src: ev.src.to_string(), dest: ev.dest.to_string() };
        writeln!(out, "{}", serde_json::to_string(&line).map_err(io::Error::other)?)?;
    } else {
        writeln!(out, "src: {}, dest: {}", ev.src, ev.dest)?;
    }
    out.flush()
}

/// The name of interface `ifindex` in the tool's network namespace.
fn interface_name(ifindex: u32) -> Option<String> {
    let mut name = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: `name` has IF_NAMESIZE bytes, the most if_indextoname writes
    // (NUL included); it does not keep the pointer.
    let found = unsafe { libc::if_indextoname(ifindex, name.as_mut_ptr()) };
    if found.is_null() {
        return None;
    }
    let bytes: Vec<u8> = name.iter().map(|&c| c as u8).collect();
    let name = CStr::from_bytes_until_nul(&bytes).ok()?;
    Some(name.to_string_lossy().into_owned())
}

fn print_v2_event(out: &mut impl Write, json: bool, payload: bool, ev: &v2::Event) -> io::Result<()> {
    let names = output::Names {
        input: ev.ifindex.filter(|&i| i != 0).and_then(interface_name),
        output: ev.out_ifindex.filter(|&i| i != 0).and_then(interface_name),
    };
    let line = if json { output::event_json(ev, &names, payload) } else { output::event_line(ev, &names) };
    writeln!(out, "{line}")?;
    out.flush()
}

fn set_rcvbuf(socket: &Socket, bytes: usize) -> Result<(), Fatal> {
    let val = libc::c_int::try_from(bytes).map_err(|_| Fatal(format!("--rcvbuf {bytes}: too large")))?;
    // SO_RCVBUFFORCE lets root exceed net.core.rmem_max; fall back otherwise.
    // SAFETY: `val` is a valid c_int for the duration of the call.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&val as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        socket.set_rx_buf_sz(val)?;
    }
    Ok(())
}

/// Which protocol `imp2 monitor` speaks.
enum Protocol {
    /// The 2007 protocol: `IMP2_U_PID` / `IMP2_K_MSG` / `IMP2_CLOSE`.
    V1,
    /// `IMP2_V2_SUBSCRIBE` with this filter.
    V2(Filter),
}

impl Protocol {
    /// From the command line; `--family`/`--proto` with `--v1` is a usage error.
    fn from_args(args: &MonitorArgs) -> Result<Protocol, String> {
        if args.v1 {
            if !args.family.is_empty() || !args.proto.is_empty() {
                return Err("--family and --proto need protocol v2: the 2007 protocol (--v1) \
                            reports IPv4 ICMP only; drop --v1 or the filter"
                    .into());
            }
            if args.batch.is_some() {
                return Err("--batch needs protocol v2: the 2007 protocol (--v1) sends each event \
                            on its own; drop --v1 or --batch"
                    .into());
            }
            let v2_only = [
                (!args.expression.is_empty(), "expressions"),
                (args.write.is_some(), "-w"),
                (args.snaplen.is_some() || args.payload, "--snaplen and --payload"),
                (args.sample.is_some() || args.rate.is_some(), "--sample and --rate"),
                (args.hook.is_some(), "--hook"),
            ];
            if let Some((_, what)) = v2_only.iter().find(|(given, _)| *given) {
                return Err(format!(
                    "{what} need protocol v2: the 2007 protocol (--v1) sends addresses only, of \
                     every packet; drop --v1 or {what}"
                ));
            }
            return Ok(Protocol::V1);
        }
        let mut filter = filter_from_args(&args.family, &args.proto);
        if !args.expression.is_empty() {
            expression_filter(&args.expression.join(" "), &args.proto, &mut filter)?;
        }
        filter.batch = args.batch;
        filter.flush_ms = args.flush_ms;
        let wants_bytes = args.write.is_some() || args.payload;
        filter.snaplen = args.snaplen.or(wants_bytes.then_some(DEFAULT_SNAPLEN));
        if let (Some(snaplen), Some(batch)) = (filter.snaplen, args.batch) {
            if batch > 1 && snaplen > abi::IMP2_SNAPLEN_BATCH_MAX {
                return Err(format!(
                    "--snaplen {snaplen} cannot fit an event in a batch datagram: at most {} with --batch",
                    abi::IMP2_SNAPLEN_BATCH_MAX
                ));
            }
        }
        filter.sample = args.sample.filter(|&n| n > 1);
        filter.rate_limit = args.rate.map(|(rate, _)| rate);
        filter.rate_burst = args.rate.and_then(|(_, burst)| burst);
        filter.hook = args.hook;
        Ok(Protocol::V2(filter))
    }

    fn subscribe_request(&self, seq: u32, portid: u32) -> Vec<u8> {
        match self {
            Protocol::V1 => proto::subscribe_request(seq, portid),
            Protocol::V2(filter) => proto::v2_subscribe_request(seq, portid, filter),
        }
    }

    fn unsubscribe_request(&self, seq: u32, portid: u32) -> Vec<u8> {
        match self {
            Protocol::V1 => proto::close_request(seq, portid),
            Protocol::V2(_) => proto::v2_unsubscribe_request(seq, portid),
        }
    }
}

/// Adds `expression`'s program to `filter`, with the families (those of
/// `--family`, if given, that it can match) and protocols it can match.
fn expression_filter(expression: &str, protos: &[u8], filter: &mut Filter) -> Result<(), String> {
    if !protos.is_empty() {
        return Err("an expression chooses the protocols itself: drop --proto, or say it in the expression \
                    (e.g. 'udp or icmp')"
            .into());
    }
    let compiled = expr::compile(expression).map_err(|e| format!("expression '{expression}': {e}"))?;
    let interest = expr::interest(&compiled.insns);
    let families = interest.families() & filter.families.unwrap_or(abi::IMP2_FAMILY_ALL);
    if families == 0 {
        return Err(format!("expression '{expression}' matches no packet of the families asked for"));
    }
    filter.families = Some(families);
    filter.protos = Some(interest.protocols());
    filter.bpf = Some(compiled.insns.iter().flat_map(|insn| insn.to_bytes()).collect());
    Ok(())
}

/// The snaplen that `-w` and `--payload` imply.
const DEFAULT_SNAPLEN: u32 = 256;

/// The v2 filter for `--family` and `--proto`: what was not given is left
/// to the module's default; repeated values are sent once.
fn filter_from_args(families: &[u32], protos: &[u8]) -> Filter {
    let mut unique_protos: Vec<u8> = Vec::new();
    for &proto in protos {
        if !unique_protos.contains(&proto) {
            unique_protos.push(proto);
        }
    }
    Filter {
        families: (!families.is_empty()).then(|| families.iter().fold(0, |bits, bit| bits | bit)),
        protos: (!unique_protos.is_empty()).then_some(unique_protos),
        ..Filter::default()
    }
}

fn monitor(args: &MonitorArgs) -> Result<(), Fatal> {
    let protocol = match Protocol::from_args(args) {
        Ok(protocol) => protocol,
        Err(msg) => Cli::command().error(clap::error::ErrorKind::ArgumentConflict, msg).exit(),
    };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    let (socket, portid) = open(args.unit)?;
    if let Some(bytes) = args.rcvbuf {
        set_rcvbuf(&socket, bytes)?;
    }
    const SUBSCRIBE_SEQ: u32 = 1;
    const UNSUBSCRIBE_SEQ: u32 = 2;
    let subscribe = protocol.subscribe_request(SUBSCRIBE_SEQ, portid);
    send(&socket, &subscribe)?;

    // A timeout too long to represent (--timeout inf) is none.
    let deadline = args
        .timeout
        .and_then(|s| Duration::try_from_secs_f64(s.max(0.0)).ok())
        .and_then(|d| Instant::now().checked_add(d));
    let limited = matches!(&protocol, Protocol::V2(f) if f.sample.is_some() || f.rate_limit.is_some());
    let mut summary = Summary::new(matches!(protocol, Protocol::V2(_)));
    if limited {
        summary.suppressed = Some(0);
    }
    let mut pcapng = match &args.write {
        None => None,
        Some(path) => Some(open_pcapng(path, filter_snaplen(&protocol))?),
    };
    let mut consumer = Consumer {
        summary,
        subscribe_seq: SUBSCRIBE_SEQ,
        unsubscribe_seq: UNSUBSCRIBE_SEQ,
        count: args.count,
    };
    // An unbatched event with a payload takes up to snaplen + 256 bytes.
    let mut buf = Vec::with_capacity((64 * 1024).max(filter_snaplen(&protocol) as usize + 256));
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let write_failed = std::cell::Cell::new(None);
    let mut print = |seen: Seen<'_>| {
        if let (Some(file), Seen::V2(ev)) = (pcapng.as_mut(), &seen) {
            return match file.write(ev, interface_name).and_then(|()| file.flush()) {
                Ok(()) => true,
                Err(e) => {
                    write_failed.set(Some(e));
                    false
                }
            };
        }
        args.quiet
            || match seen {
                Seen::V1(ev) => print_event(&mut out, args.json, ev),
                Seen::V2(ev) => print_v2_event(&mut out, args.json, args.payload, ev),
            }
            .is_ok()
    };
    // Receives until `deadline` (or stop, for the main phase) and feeds each
    // datagram to `datagram`. A queued datagram is taken without polling
    // first: under load that halves the system calls per datagram.
    let mut receive = |deadline: Option<Instant>, stoppable: bool, consumer: &mut Consumer| -> Result<Flow, Fatal> {
        let mut queued = true;
        loop {
            if stoppable && (stop.load(Ordering::Relaxed) || args.count.is_some_and(|n| consumer.summary.events >= n)) {
                return Ok(Flow::More);
            }
            let left = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) => Some(left),
                    None => return Ok(Flow::More),
                },
                None => None,
            };
            if !queued {
                let wait = left.unwrap_or(Duration::MAX).min(Duration::from_millis(200));
                if !wait_readable(&socket, wait)? {
                    continue;
                }
            }
            let n = match recv(&socket, &mut buf, false)? {
                Received::Datagram(n) => n,
                Received::Nothing => {
                    queued = false;
                    continue;
                }
                Received::Overrun => {
                    consumer.summary.overruns += 1;
                    eprintln!("imp2: receive buffer overrun (ENOBUFS): events were lost; see --rcvbuf");
                    continue;
                }
            };
            queued = true;
            match consumer.datagram(&buf[..n], &mut print) {
                Flow::More => {}
                Flow::Refused(ack) => return Err(Fatal(subscribe_advice(&protocol, &ack, &subscribe))),
                flow => return Ok(flow),
            }
        }
    };
    let flow = receive(deadline, true, &mut consumer)?;
    // Unsubscribe, then close: the order the 2007 client used. A v2
    // listener waits for the ack (up to 2 s), reading the events the module
    // still had batched for it, which it sends first.
    let unsubscribe = protocol.unsubscribe_request(UNSUBSCRIBE_SEQ, portid);
    let mut close_result = send(&socket, &unsubscribe);
    let wants_ack = matches!(protocol, Protocol::V2(_)) && close_result.is_ok() && flow == Flow::More;
    if wants_ack && args.count.is_none_or(|n| consumer.summary.events < n) {
        match receive(Some(Instant::now() + Duration::from_secs(2)), false, &mut consumer) {
            Ok(Flow::Unsubscribed | Flow::Done | Flow::Refused(_)) => {}
            Ok(Flow::More) => eprintln!("imp2: no ack for the unsubscribe within 2 s; closing anyway"),
            Err(e) => close_result = Err(e),
        }
    }
    drop(socket);
    let summary = consumer.summary;
    // A reader that has gone (`| tcpdump -c 5 -r -`) is not an error.
    if let Some(e) = write_failed.take().filter(|e| e.kind() != io::ErrorKind::BrokenPipe) {
        eprintln!("imp2: error: cannot write {}: {e}", args.write.as_deref().unwrap_or("-"));
        close_result = close_result.and(Err(Fatal(format!("writing the pcapng file failed: {e}"))));
    }
    if args.json {
        #[derive(serde::Serialize)]
        struct Wrapped<'a> {
            summary: &'a Summary,
        }
        let line = serde_json::to_string(&Wrapped { summary: &summary });
        eprintln!("{}", line.map_err(|e| Fatal(format!("cannot encode summary: {e}")))?);
    } else {
        eprintln!("{}", summary.text());
    }
    close_result
}

/// The snaplen a v2 subscription asks for.
fn filter_snaplen(protocol: &Protocol) -> u32 {
    match protocol {
        Protocol::V2(filter) => filter.snaplen.unwrap_or(0),
        Protocol::V1 => 0,
    }
}

/// Opens `-w`'s output: a new file, or stdout for `-`.
fn open_pcapng(path: &str, snaplen: u32) -> Result<PcapNgOut<Box<dyn Write>>, Fatal> {
    let out: Box<dyn Write> = if path == "-" {
        Box::new(io::BufWriter::new(io::stdout()))
    } else {
        let file = std::fs::File::create(path).map_err(|e| Fatal(format!("cannot create {path}: {e}")))?;
        Box::new(io::BufWriter::new(file))
    };
    PcapNgOut::new(out, snaplen).map_err(|e| Fatal(format!("cannot write {path}: {e}")))
}

/// Sends `request` (sequence `seq`, NLM_F_ACK set) and collects what the
/// module answers with that sequence, up to the ack, or up to the
/// `NLMSG_DONE` of a multipart reply: a dump run by the kernel's netlink
/// dump machinery ends there and is never acked, so the tool does not
/// wait for an ack after it (one that follows is left unread).
/// Malformed replies are reported and skipped.
fn transact(socket: &Socket, request: &[u8], seq: u32) -> Result<(Vec<Message>, Ack), Fatal> {
    send(socket, request)?;
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut replies = Vec::new();
    loop {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            return Err(Fatal("no reply from the imp2 module within 5 s".into()));
        };
        if !wait_readable(socket, left)? {
            continue;
        }
        let Received::Datagram(n) = recv(socket, &mut buf, true)? else { continue };
        for msg in proto::decode(&buf[..n]) {
            match msg {
                Ok(Message::Ack(ack)) if ack.seq == seq => return Ok((replies, ack)),
                Ok(Message::Done { seq: done_seq, errno }) if done_seq == seq => {
                    return Ok((replies, Ack { seq, errno, ..Ack::default() }))
                }
                Ok(msg @ (Message::Stats { .. } | Message::Listener { .. })) => replies.push(msg),
                Ok(_) => {}
                Err(e) => eprintln!("imp2: skipping malformed message from the kernel: {e}"),
            }
        }
    }
}

/// What `IMP2_LISTENERS_GET` gave.
enum ListenerList {
    Listed(Vec<Listener>),
    /// EPERM: the requester lacks CAP_NET_ADMIN.
    Refused,
    /// EOPNOTSUPP: a module without protocol v2.
    Unsupported,
    Failed(String),
}

fn list_listeners(socket: &Socket, portid: u32) -> Result<ListenerList, Fatal> {
    const LISTENERS_SEQ: u32 = 2;
    let request = proto::listeners_request(LISTENERS_SEQ, portid);
    let (replies, ack) = transact(socket, &request, LISTENERS_SEQ)?;
    Ok(match ack.errno {
        0 => ListenerList::Listed(listeners_of(replies, LISTENERS_SEQ)),
        libc::EPERM => ListenerList::Refused,
        libc::EOPNOTSUPP => ListenerList::Unsupported,
        _ => ListenerList::Failed(refusal_reason(&ack, &request)),
    })
}

/// The listeners of a reply to the request with sequence `seq`.
fn listeners_of(replies: Vec<Message>, seq: u32) -> Vec<Listener> {
    let mut listeners = Vec::new();
    let mut unknown_attrs = 0;
    for msg in replies {
        if let Message::Listener { seq: s, listener } = msg {
            if s == seq {
                unknown_attrs += listener.unknown_attrs;
                listeners.push(listener.value);
            }
        }
    }
    if unknown_attrs > 0 {
        eprintln!("imp2: skipped {unknown_attrs} unknown attributes in the listener list (a newer module?)");
    }
    listeners
}

fn stats(args: &StatsArgs) -> Result<(), Fatal> {
    let (socket, portid) = open(args.unit)?;
    const STATS_SEQ: u32 = 1;
    let (replies, ack) = transact(&socket, &proto::stats_request(STATS_SEQ, portid), STATS_SEQ)?;
    if ack.errno != 0 {
        return Err(Fatal(format!(
            "stats request refused: {} (is the loaded module older than this tool?)",
            strerror(ack.errno)
        )));
    }
    let stats = replies.iter().find_map(|msg| match msg {
        Message::Stats { seq: STATS_SEQ, stats } => Some(*stats),
        _ => None,
    });
    let stats = stats.ok_or_else(|| Fatal("the module acked the stats request without counters".into()))?;
    let listeners = list_listeners(&socket, portid)?;
    let text = if args.json {
        stats_json(&stats, &listeners) + "\n"
    } else {
        stats_text(&stats, &listeners)
    };
    write_output(&mut io::stdout().lock(), &text)
}

/// Writes `text` to `out` (stdout). A reader that has gone
/// (`imp2 stats | grep -q`) is not an error: what it wanted, it read.
fn write_output(out: &mut impl Write, text: &str) -> Result<(), Fatal> {
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(Fatal(format!("cannot write to stdout: {e}"))),
        _ => Ok(()),
    }
}

/// `imp2 stats --json`: the counters, after a `listeners` array when the
/// module listed them. The array comes first because tests/lib.sh reads a
/// counter with a greedy sed (the last `"events_sent":` on the line), and
/// listeners have their own `events_sent`.
fn stats_json(stats: &Stats, listeners: &ListenerList) -> String {
    #[derive(serde::Serialize)]
    struct StatsJson<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        listeners: Option<Vec<output::ListenerJson>>,
        #[serde(flatten)]
        counters: &'a Stats,
    }
    let listeners = match listeners {
        ListenerList::Listed(list) => Some(list.iter().map(output::ListenerJson::from).collect()),
        _ => None,
    };
    serde_json::to_string(&StatsJson { listeners, counters: stats }).expect("stats serialise")
}

/// The counters as `imp2 stats` prints them.
fn stats_text(s: &Stats, listeners: &ListenerList) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let subscriber = match s.subscriber_portid {
        // The module shows the subscriber to CAP_NET_ADMIN requesters only.
        0 => "none (or not shown: needs CAP_NET_ADMIN)".to_string(),
        p => format!("port {p}"),
    };
    _ = writeln!(out, "imp2 counters for this network namespace (netlink unit {}):", s.unit);
    _ = writeln!(out, "  packets_seen     {:>12}   ICMP datagrams at the IPv4 prerouting hook", s.packets_seen);
    _ = writeln!(out, "  events_sent      {:>12}   events the subscriber's socket took", s.events_sent);
    _ = writeln!(out, "  send_failures    {:>12}   subscriber buffer full (EAGAIN) or port gone", s.send_failures);
    _ = writeln!(out, "    send_refused   {:>12}   of which: port already gone (ECONNREFUSED)", s.send_refused);
    _ = writeln!(out, "  alloc_failures   {:>12}   event allocation failed in a hook", s.alloc_failures);
    _ = writeln!(out, "  rejected_msgs    {:>12}   malformed, unknown or unauthorised requests", s.rejected_msgs);
    _ = writeln!(out, "  requests_refused {:>12}   datagrams refused: request queue full (ENOBUFS)", s.requests_refused);
    _ = writeln!(out, "  subscriber       {subscriber}");
    match listeners {
        ListenerList::Listed(list) => {
            _ = writeln!(out, "  v2 listeners     {:>12}", list.len());
            for listener in list {
                _ = writeln!(out, "    {}", output::listener_line(listener));
            }
        }
        ListenerList::Refused => _ = writeln!(out, "  v2 listeners     not shown: listing them needs CAP_NET_ADMIN"),
        // A module without protocol v2 has no listeners to speak of.
        ListenerList::Unsupported => {}
        ListenerList::Failed(reason) => _ = writeln!(out, "  v2 listeners     not available: {reason}"),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that fails every write with `kind`.
    struct Failing(io::ErrorKind);
    impl Write for Failing {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(self.0.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn output_to_a_closed_pipe_is_quiet_success() {
        assert!(write_output(&mut Failing(io::ErrorKind::BrokenPipe), "x\n").is_ok());
        let Err(Fatal(msg)) = write_output(&mut Failing(io::ErrorKind::StorageFull), "x\n") else {
            panic!("a full disk must be an error");
        };
        assert!(msg.starts_with("cannot write to stdout"), "{msg}");
        let mut buf = Vec::new();
        assert!(write_output(&mut buf, "a\nb\n").is_ok());
        assert_eq!(buf, b"a\nb\n");
    }

    fn monitor_args(argv: &[&str]) -> Result<MonitorArgs, clap::Error> {
        let cli = Cli::try_parse_from([&["imp2", "monitor"], argv].concat())?;
        match cli.command {
            Some(Command::Monitor(args)) => Ok(args),
            _ => unreachable!(),
        }
    }

    fn filter_of(argv: &[&str]) -> Filter {
        match Protocol::from_args(&monitor_args(argv).unwrap()).unwrap() {
            Protocol::V2(filter) => filter,
            Protocol::V1 => panic!("v1"),
        }
    }

    #[test]
    fn v2_is_the_default_and_sends_the_module_defaults() {
        assert_eq!(filter_of(&[]), Filter::default());
        let bare = Cli::try_parse_from(["imp2", "--json"]).unwrap();
        assert!(matches!(Protocol::from_args(&bare.monitor), Ok(Protocol::V2(f)) if f == Filter::default()));
    }

    #[test]
    fn family_and_proto_lists() {
        let filter = filter_of(&["--family", "ipv4", "--proto", "icmp,udp,tcp,132,udp"]);
        assert_eq!(filter, Filter { families: Some(1), protos: Some(vec![1, 17, 6, 132]), ..Filter::default() });
        let filter = filter_of(&["--family", "ipv4,ipv6", "--proto", "icmpv6", "--proto", "0"]);
        assert_eq!(filter, Filter { families: Some(3), protos: Some(vec![58, 0]), ..Filter::default() });
    }

    #[test]
    fn bad_family_and_proto_values_are_refused() {
        let err = monitor_args(&["--family", "ipv5"]).err().unwrap().to_string();
        assert!(err.contains("'ipv5' is not a family"), "{err}");
        let err = monitor_args(&["--proto", "icmp,300"]).err().unwrap().to_string();
        assert!(err.contains("'300' is not a protocol"), "{err}");
        assert!(monitor_args(&["--proto", ""]).is_err());
    }

    #[test]
    fn v1_refuses_filters() {
        assert!(matches!(Protocol::from_args(&monitor_args(&["--v1"]).unwrap()), Ok(Protocol::V1)));
        for argv in [&["--v1", "--family", "ipv4"][..], &["--v1", "--proto", "icmp"]] {
            let err = Protocol::from_args(&monitor_args(argv).unwrap()).err().unwrap();
            assert!(err.contains("--family and --proto need protocol v2"), "{err}");
        }
    }

    #[test]
    fn capture_and_limit_options() {
        let filter = filter_of(&["-w", "x.pcapng"]);
        assert_eq!((filter.snaplen, filter.sample, filter.rate_limit), (Some(DEFAULT_SNAPLEN), None, None));
        let filter = filter_of(&["-w", "-", "--snaplen", "64", "--sample", "10", "--rate", "50/5"]);
        assert_eq!(filter.snaplen, Some(64));
        assert_eq!((filter.sample, filter.rate_limit, filter.rate_burst), (Some(10), Some(50), Some(5)));
        // --sample 1 is the default: not sent, the listener stays unlimited.
        let filter = filter_of(&["--sample", "1", "--rate", "20"]);
        assert_eq!((filter.sample, filter.rate_limit, filter.rate_burst), (None, Some(20), None));
        assert_eq!(filter_of(&["--json", "--payload"]).snaplen, Some(DEFAULT_SNAPLEN));
        assert_eq!(filter_of(&[]).snaplen, None);
        // What the module would refuse is refused here first, with the reason.
        let err = Protocol::from_args(&monitor_args(&["--batch", "8", "--snaplen", "16001"]).unwrap()).err().unwrap();
        assert!(err.contains("at most 16000 with --batch"), "{err}");
        assert!(Protocol::from_args(&monitor_args(&["--batch", "8", "--snaplen", "16000"]).unwrap()).is_ok());
        assert!(monitor_args(&["--snaplen", "65536"]).is_err());
        assert!(monitor_args(&["--sample", "0"]).is_err());
        assert!(monitor_args(&["--payload"]).is_err(), "--payload needs --json");
        for argv in [&["--v1", "-w", "-"][..], &["--v1", "--sample", "3"], &["--v1", "--snaplen", "64"]] {
            let err = Protocol::from_args(&monitor_args(argv).unwrap()).err().unwrap();
            assert!(err.contains("need protocol v2"), "{err}");
        }
    }

    #[test]
    fn expressions_become_a_program_with_its_interest() {
        let filter = filter_of(&["--json", "icmp"]);
        assert_eq!((filter.families, filter.protos.as_deref()), (Some(abi::IMP2_FAMILY_IPV4), Some(&[1u8][..])));
        let program = filter.bpf.unwrap();
        assert_eq!(program.len() % 8, 0);
        assert_eq!(program.len() / 8, expr::compile("icmp").unwrap().insns.len());
        // Trailing words are one expression, as tcpdump takes them.
        let filter = filter_of(&["udp", "port", "53"]);
        assert_eq!(filter.protos, Some(vec![17]));
        assert_eq!(filter.families, Some(abi::IMP2_FAMILY_ALL));
        // --family narrows what the expression can match.
        assert_eq!(filter_of(&["--family", "ipv6", "udp", "port", "53"]).families, Some(abi::IMP2_FAMILY_IPV6));
        let err = Protocol::from_args(&monitor_args(&["--family", "ipv6", "icmp"]).unwrap()).err().unwrap();
        assert!(err.contains("matches no packet"), "{err}");
        let err = Protocol::from_args(&monitor_args(&["--proto", "udp", "icmp"]).unwrap()).err().unwrap();
        assert!(err.contains("drop --proto"), "{err}");
        let err = Protocol::from_args(&monitor_args(&["udp", "port"]).unwrap()).err().unwrap();
        assert!(err.starts_with("expression 'udp port': ") && err.contains("syntax error"), "{err}");
        let err = Protocol::from_args(&monitor_args(&["--v1", "icmp"]).unwrap()).err().unwrap();
        assert!(err.contains("need protocol v2"), "{err}");
    }

    #[test]
    fn rates_and_bursts() {
        assert_eq!(parse_rate("50"), Ok((50, None)));
        assert_eq!(parse_rate("50/5"), Ok((50, Some(5))));
        assert_eq!(parse_rate("1000000000/1"), Ok((1_000_000_000, Some(1))));
        assert!(parse_rate("0").unwrap_err().contains("not a rate"));
        assert!(parse_rate("50/0").unwrap_err().contains("not a burst"));
        assert!(parse_rate("1000000001").is_err());
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("50/").is_err());
    }

    #[test]
    fn v1_requests_are_unchanged() {
        let v1 = Protocol::V1;
        assert_eq!(v1.subscribe_request(1, 5), proto::subscribe_request(1, 5));
        assert_eq!(v1.unsubscribe_request(2, 5), proto::close_request(2, 5));
    }

    #[test]
    fn refusals_say_what_to_do() {
        let v2 = Protocol::V2(Filter::default());
        let request = proto::v2_subscribe_request(1, 0, &Filter { families: Some(8), protos: None, ..Filter::default() });
        let ack = |errno| Ack { seq: 1, errno, ..Ack::default() };
        assert!(subscribe_advice(&v2, &ack(libc::EPERM), &request).contains("CAP_NET_ADMIN"));
        assert!(subscribe_advice(&v2, &ack(libc::ENOSPC), &request).contains("max_listeners"));
        assert!(subscribe_advice(&v2, &ack(libc::EOPNOTSUPP), &request).contains("--v1"));
        let einval = Ack {
            ext_msg: Some("unknown family bits".into()),
            bad_attr_offset: Some(16),
            ..ack(libc::EINVAL)
        };
        assert_eq!(
            subscribe_advice(&v2, &einval, &request),
            "subscribe refused: Invalid argument: unknown family bits (at IMP2_A_FAMILIES)"
        );
    }

    #[test]
    fn stats_json_puts_listeners_before_the_counters() {
        let stats = Stats { events_sent: 11, unit: 31, ..Stats::default() };
        let listed = ListenerList::Listed(vec![Listener { portid: 5, events_sent: 99, ..Listener::default() }]);
        let line = stats_json(&stats, &listed);
        assert!(line.starts_with(r#"{"listeners":[{"port":5,"#), "{line}");
        // tests/lib.sh's imp2_counter: the last "events_sent" is the netns counter.
        let last = line.rfind(r#""events_sent":"#).unwrap();
        assert!(line[last..].starts_with(r#""events_sent":11,"#), "{line}");
        let refused = stats_json(&stats, &ListenerList::Refused);
        assert!(refused.starts_with(r#"{"events_sent":11,"#), "{refused}");
        assert!(!refused.contains("listeners"));
    }

    #[test]
    fn strerror_drops_the_os_error_suffix() {
        assert_eq!(strerror(libc::EINVAL), "Invalid argument");
    }

    #[test]
    fn units_outside_0_to_31_are_refused() {
        assert_eq!(parse_unit("0"), Ok(0));
        assert_eq!(parse_unit("31"), Ok(31));
        assert!(parse_unit("32").unwrap_err().contains("0 to 31"));
        assert!(parse_unit("40").unwrap_err().contains("not a netlink protocol unit"));
        assert!(parse_unit("-1").unwrap_err().contains("not a number"));
    }
}
