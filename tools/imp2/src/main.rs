//! `imp2`: subscribe to the imp2 kernel module and print the ICMP packets it
//! reports, or print its counters.

use clap::{Args, Parser, Subcommand};
use imp2::abi;
use imp2::proto::{self, Event, Message, Stats};
use netlink_sys::{Socket, SocketAddr};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(name = "imp2", version, about = "Monitor ICMP packets reported by the imp2 kernel module")]
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
    /// Subscribe and print one line per ICMP packet (the default).
    Monitor(MonitorArgs),
    /// Print the module's counters for this network namespace.
    Stats(StatsArgs),
}

#[derive(Args, Clone)]
struct MonitorArgs {
    /// Print JSON lines (seq, src, dest) instead of "src: A, dest: B".
    #[arg(long)]
    json: bool,
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
/// is not there.
fn open(unit: u32) -> Result<(Socket, u32), Fatal> {
    let mut socket = Socket::new(unit as isize).map_err(|e| {
        if e.raw_os_error() == Some(libc::EPROTONOSUPPORT) {
            Fatal(format!("imp2 module not loaded (netlink unit {unit}): insmod imp2.ko"))
        } else {
            Fatal(format!("cannot open netlink unit {unit}: {e}"))
        }
    })?;
    let addr = socket.bind_auto()?;
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

/// Receives one datagram. `Ok(None)` on ENOBUFS: the kernel dropped
/// messages because our receive buffer was full (an overrun).
fn recv(socket: &Socket, buf: &mut Vec<u8>) -> io::Result<Option<usize>> {
    buf.clear();
    match socket.recv(buf, 0) {
        Ok(n) => Ok(Some(n)),
        Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => Ok(None),
        Err(e) => Err(e),
    }
}

fn errno_advice(errno: i32) -> String {
    match errno {
        libc::EPERM => "permission denied: subscribing needs CAP_NET_ADMIN in this network \
                        namespace (run as root)"
            .into(),
        libc::EAGAIN => "the module is still loading: retry".into(),
        e => format!("subscription refused: {}", io::Error::from_raw_os_error(e)),
    }
}

/// Counts events and sequence gaps. Events from different CPUs can arrive
/// slightly out of order, so a late sequence number fills a gap instead of
/// being counted twice.
#[derive(Default, serde::Serialize)]
struct Summary {
    events: u64,
    missed: u64,
    overruns: u64,
    malformed: u64,
    #[serde(skip)]
    highest_seq: Option<u32>,
}

impl Summary {
    fn record(&mut self, seq: u32) {
        self.events += 1;
        match self.highest_seq {
            None => self.highest_seq = Some(seq),
            Some(high) => {
                let ahead = seq.wrapping_sub(high);
                if ahead == 0 || ahead > u32::MAX / 2 {
                    // Late (or duplicate) arrival: it was counted missing.
                    self.missed = self.missed.saturating_sub(1);
                } else {
                    self.missed += u64::from(ahead - 1);
                    self.highest_seq = Some(seq);
                }
            }
        }
    }
}

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

fn monitor(args: &MonitorArgs) -> Result<(), Fatal> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))?;
    }
    let (socket, portid) = open(args.unit)?;
    if let Some(bytes) = args.rcvbuf {
        set_rcvbuf(&socket, bytes)?;
    }
    const SUBSCRIBE_SEQ: u32 = 1;
    send(&socket, &proto::subscribe_request(SUBSCRIBE_SEQ, portid))?;

    let deadline = args.timeout.map(|s| Instant::now() + Duration::from_secs_f64(s.max(0.0)));
    let mut summary = Summary::default();
    let mut buf = Vec::with_capacity(64 * 1024);
    let stdout = io::stdout();
    let mut out = stdout.lock();
    'receive: loop {
        if stop.load(Ordering::Relaxed) || args.count.is_some_and(|n| summary.events >= n) {
            break;
        }
        let wait = match deadline {
            Some(d) => match d.checked_duration_since(Instant::now()) {
                Some(left) => left.min(Duration::from_millis(200)),
                None => break,
            },
            None => Duration::from_millis(200),
        };
        if !wait_readable(&socket, wait)? {
            continue;
        }
        let Some(n) = recv(&socket, &mut buf)? else {
            summary.overruns += 1;
            eprintln!("imp2: receive buffer overrun (ENOBUFS): events were lost; see --rcvbuf");
            continue;
        };
        for msg in proto::decode(&buf[..n]) {
            match msg {
                Ok(Message::Event(ev)) => {
                    summary.record(ev.seq);
                    if !args.quiet && print_event(&mut out, args.json, &ev).is_err() {
                        break 'receive; // stdout closed (e.g. piped to head)
                    }
                    if args.count.is_some_and(|c| summary.events >= c) {
                        break 'receive;
                    }
                }
                Ok(Message::Ack { seq: SUBSCRIBE_SEQ, errno }) if errno != 0 => {
                    return Err(Fatal(errno_advice(errno)));
                }
                Ok(Message::Ack { .. } | Message::Stats { .. }) => {}
                Ok(Message::Unknown { msg_type }) => {
                    summary.malformed += 1;
                    eprintln!("imp2: skipping message of unknown type {msg_type:#x}");
                }
                Err(e) => {
                    summary.malformed += 1;
                    eprintln!("imp2: skipping malformed message from the kernel: {e}");
                }
            }
        }
    }
    drop(out);
    // Unsubscribe, then close: the order the 2007 client used.
    let close_result = send(&socket, &proto::close_request(SUBSCRIBE_SEQ + 1, portid));
    drop(socket);
    if args.json {
        #[derive(serde::Serialize)]
        struct Wrapped<'a> {
            summary: &'a Summary,
        }
        let line = serde_json::to_string(&Wrapped { summary: &summary });
        eprintln!("{}", line.map_err(|e| Fatal(format!("cannot encode summary: {e}")))?);
    } else {
        eprintln!(
            "imp2: {} events received, {} missed (sequence gaps), {} overruns (ENOBUFS), {} malformed",
            summary.events, summary.missed, summary.overruns, summary.malformed
        );
    }
    close_result
}

fn stats(args: &StatsArgs) -> Result<(), Fatal> {
    let (socket, portid) = open(args.unit)?;
    const STATS_SEQ: u32 = 1;
    send(&socket, &proto::stats_request(STATS_SEQ, portid))?;
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut got: Option<Stats> = None;
    // The reply comes first, then the ack we asked for.
    loop {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            return Err(Fatal("no reply from the imp2 module within 5 s".into()));
        };
        if !wait_readable(&socket, left)? {
            continue;
        }
        let Some(n) = recv(&socket, &mut buf)? else { continue };
        for msg in proto::decode(&buf[..n]) {
            match msg {
                Ok(Message::Stats { seq: STATS_SEQ, stats }) => got = Some(stats),
                Ok(Message::Ack { seq: STATS_SEQ, errno: 0 }) if got.is_some() => {
                    print_stats(args.json, &got.unwrap());
                    return Ok(());
                }
                Ok(Message::Ack { seq: STATS_SEQ, errno }) if errno != 0 => {
                    return Err(Fatal(format!(
                        "stats request refused: {} (is the loaded module older than this tool?)",
                        io::Error::from_raw_os_error(errno)
                    )));
                }
                Ok(_) => {}
                Err(e) => eprintln!("imp2: skipping malformed message from the kernel: {e}"),
            }
        }
    }
}

fn print_stats(json: bool, s: &Stats) {
    if json {
        println!("{}", serde_json::to_string(s).expect("stats serialise"));
        return;
    }
    let subscriber = match s.subscriber_portid {
        // The module shows the subscriber to CAP_NET_ADMIN requesters only.
        0 => "none (or not shown: needs CAP_NET_ADMIN)".to_string(),
        p => format!("port {p}"),
    };
    println!("imp2 counters for this network namespace (netlink unit {}):", s.unit);
    println!("  packets_seen     {:>12}   ICMP datagrams that crossed the hook", s.packets_seen);
    println!("  events_sent      {:>12}   events the subscriber's socket took", s.events_sent);
    println!("  send_failures    {:>12}   subscriber buffer full (EAGAIN) or port gone", s.send_failures);
    println!("    send_refused   {:>12}   of which: port already gone (ECONNREFUSED)", s.send_refused);
    println!("  alloc_failures   {:>12}   event allocation failed in the hook", s.alloc_failures);
    println!("  rejected_msgs    {:>12}   malformed, unknown or unauthorised requests", s.rejected_msgs);
    println!("  subscriber       {subscriber}");
}

#[cfg(test)]
mod tests {
    use super::{parse_unit, Summary};

    #[test]
    fn units_outside_0_to_31_are_refused() {
        assert_eq!(parse_unit("0"), Ok(0));
        assert_eq!(parse_unit("31"), Ok(31));
        assert!(parse_unit("32").unwrap_err().contains("0 to 31"));
        assert!(parse_unit("40").unwrap_err().contains("not a netlink protocol unit"));
        assert!(parse_unit("-1").unwrap_err().contains("not a number"));
    }

    #[test]
    fn gaps_are_counted_and_late_arrivals_fill_them() {
        let mut s = Summary::default();
        for seq in [10, 11, 14, 12, 15] {
            s.record(seq);
        }
        assert_eq!(s.events, 5);
        assert_eq!(s.missed, 1, "13 is still missing");
    }

    #[test]
    fn sequence_wraps() {
        let mut s = Summary::default();
        for seq in [u32::MAX - 1, u32::MAX, 0, 2] {
            s.record(seq);
        }
        assert_eq!(s.missed, 1);
    }
}
