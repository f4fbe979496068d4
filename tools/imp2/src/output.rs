//! How v2 events and listeners are shown: plain text and JSON. Pure, so
//! the formats are host-tested; the interface name is looked up by the
//! caller (it depends on the netns the tool runs in).

use crate::abi;
use crate::v2::{self, Event, Listener};
use serde::Serialize;

/// The names of an event's interfaces, where the caller found them.
#[derive(Clone, Debug, Default)]
pub struct Names {
    pub input: Option<String>,
    pub output: Option<String>,
}

/// `, in veth0 (ifindex 5)`; nothing for no interface (ifindex 0).
fn interface_text(line: &mut String, dir: &str, ifindex: Option<u32>, name: Option<&str>) {
    match (ifindex.filter(|&i| i != 0), name) {
        (Some(index), Some(name)) => *line += &format!(", {dir} {name} (ifindex {index})"),
        (Some(index), None) => *line += &format!(", {dir} ifindex {index}"),
        (None, _) => {}
    }
}

/// `src: A, dest: B, proto icmpv6, type 128 (echo-request) code 0, in veth0
/// (ifindex 5), len 104`. The v1 prefix comes first so that v1 consumers
/// of the plain output keep working; parts the kernel left out are left
/// out. A hook other than prerouting is named, with the output interface:
/// `..., hook output, out veth0 (ifindex 5), len 84`.
pub fn event_line(ev: &Event, names: &Names) -> String {
    let mut line = format!("src: {}, dest: {}", ev.src, ev.dest);
    if let Some(proto) = ev.proto {
        line += &format!(", proto {}", v2::proto_text(proto));
    }
    if let Some(icmp_type) = ev.icmp_type {
        line += &format!(", type {icmp_type}");
        if let Some(name) = ev.proto.and_then(|proto| v2::icmp_type_name(proto, icmp_type)) {
            line += &format!(" ({name})");
        }
    }
    if let Some(code) = ev.icmp_code {
        line += &format!("{}code {code}", if ev.icmp_type.is_some() { " " } else { ", " });
    }
    if let Some(hook) = ev.hook.filter(|&h| h != abi::IMP2_HOOK_PREROUTING) {
        line += &format!(", hook {}", v2::hook_text(hook));
    }
    interface_text(&mut line, "in", ev.ifindex, names.input.as_deref());
    interface_text(&mut line, "out", ev.out_ifindex, names.output.as_deref());
    if let Some(len) = ev.len {
        line += &format!(", len {len}");
    }
    // Only for listeners with a snaplen or limits: other lines are as before.
    if let Some(payload) = &ev.payload {
        line += &format!(", {} bytes captured", payload.len());
    }
    if let Some(suppressed) = ev.suppressed {
        line += &format!(", {suppressed} suppressed before");
    }
    line
}

/// Bytes as lower-case hex, two digits each.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(2 * bytes.len()), |mut s, b| {
        _ = write!(s, "{b:02x}");
        s
    })
}

/// One JSON line per event; every field is always there, `null` when the
/// kernel did not send it. A struct keeps the documented key order.
#[derive(Serialize)]
struct EventJson<'a> {
    seq: u32,
    family: &'static str,
    src: String,
    dest: String,
    proto: Option<u8>,
    icmp_type: Option<u8>,
    icmp_code: Option<u8>,
    ifindex: Option<u32>,
    ifname: Option<&'a str>,
    len: Option<u32>,
    tstamp_ns: Option<u64>,
    /// `prerouting`, ..., as `--hook` names them.
    hook: Option<String>,
    out_ifindex: Option<u32>,
    out_ifname: Option<&'a str>,
    /// Only for listeners whose limits leave packets out.
    #[serde(skip_serializing_if = "Option::is_none")]
    suppressed: Option<u64>,
    /// Only when asked for (`--payload`): the packet bytes, in hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    payload: Option<String>,
}

/// One JSON line; with `payload`, the packet bytes too, if the event has them.
pub fn event_json(ev: &Event, names: &Names, payload: bool) -> String {
    let line = EventJson {
        seq: ev.seq,
        family: if ev.family() == v2::AF_INET { "ipv4" } else { "ipv6" },
        src: ev.src.to_string(),
        dest: ev.dest.to_string(),
        proto: ev.proto,
        icmp_type: ev.icmp_type,
        icmp_code: ev.icmp_code,
        ifindex: ev.ifindex,
        ifname: names.input.as_deref(),
        len: ev.len,
        tstamp_ns: ev.tstamp_ns,
        hook: ev.hook.map(v2::hook_text),
        out_ifindex: ev.out_ifindex,
        out_ifname: names.output.as_deref(),
        suppressed: ev.suppressed,
        payload: if payload { ev.payload.as_deref().map(hex) } else { None },
    };
    serde_json::to_string(&line).expect("an event serialises")
}

/// What a listener's omitted `IMP2_A_PROTOS` means.
const DEFAULT_PROTOS: &str = "default (icmp over ipv4, icmpv6 over ipv6)";

fn protos_text(protos: &[u8]) -> String {
    protos.iter().map(|&proto| v2::proto_text(proto)).collect::<Vec<_>>().join(",")
}

/// `port 1234  families ipv4,ipv6  protos icmp,icmpv6  events_sent 5  send_failures 0`
pub fn listener_line(l: &Listener) -> String {
    let families = l.families.map_or_else(|| "default (ipv4,ipv6)".to_string(), v2::families_text);
    let protos = l.protos.as_deref().map_or_else(|| DEFAULT_PROTOS.to_string(), protos_text);
    let mut line = format!(
        "port {}  families {families}  protos {protos}  events_sent {}  send_failures {}",
        l.portid, l.events_sent, l.send_failures
    );
    if let Some(batch) = l.batch {
        line += &format!("  batch {batch}");
        if let Some(ms) = l.flush_ms {
            line += &format!("  flush_ms {ms}");
        }
    }
    if let Some(snaplen) = l.snaplen {
        line += &format!("  snaplen {snaplen}");
    }
    if let Some(sample) = l.sample {
        line += &format!("  sample 1/{sample}");
    }
    if let Some(rate) = l.rate_limit {
        line += &format!("  rate {rate}/s burst {}", l.rate_burst.unwrap_or(rate));
    }
    if let Some(total) = l.suppressed_total {
        line += &format!("  suppressed {total}");
    }
    if let Some(insns) = l.bpf_insns {
        line += &format!("  expression ({insns} BPF instructions)");
    }
    if let Some(hook) = l.hook.filter(|&h| h != abi::IMP2_HOOK_PREROUTING) {
        line += &format!("  hook {}", v2::hook_text(hook));
    }
    line
}

/// A listener in `imp2 stats --json`: families as names, protocols as
/// numbers; `null` where the kernel reported the default.
#[derive(Serialize)]
pub struct ListenerJson {
    port: u32,
    /// `null` from a module before hooks (prerouting).
    hook: Option<String>,
    families: Option<Vec<&'static str>>,
    protos: Option<Vec<u8>>,
    events_sent: u64,
    send_failures: u64,
    /// Present only for a batching listener.
    #[serde(skip_serializing_if = "Option::is_none")]
    batch: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    flush_ms: Option<u32>,
    /// Each present only if not the default.
    #[serde(skip_serializing_if = "Option::is_none")]
    snaplen: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sample: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rate_limit: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rate_burst: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    suppressed_total: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bpf_insns: Option<u32>,
}

impl From<&Listener> for ListenerJson {
    fn from(l: &Listener) -> Self {
        ListenerJson {
            port: l.portid,
            hook: l.hook.map(v2::hook_text),
            families: l.families.map(v2::family_names),
            protos: l.protos.clone(),
            events_sent: l.events_sent,
            send_failures: l.send_failures,
            batch: l.batch,
            flush_ms: l.flush_ms,
            snaplen: l.snaplen,
            sample: l.sample,
            rate_limit: l.rate_limit,
            rate_burst: l.rate_burst,
            suppressed_total: l.suppressed_total,
            bpf_insns: l.bpf_insns,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn echo_request_v6() -> Event {
        Event {
            seq: 9,
            src: "fd00::2".parse().unwrap(),
            dest: "fd00::1".parse().unwrap(),
            proto: Some(58),
            icmp_type: Some(128),
            icmp_code: Some(0),
            hook: Some(abi::IMP2_HOOK_PREROUTING),
            ifindex: Some(5),
            out_ifindex: None,
            len: Some(104),
            tstamp_ns: Some(1_700_000_000_000_000_001),
            suppressed: None,
            payload: None,
        }
    }

    fn veth0() -> Names {
        Names { input: Some("veth0".into()), output: None }
    }

    #[test]
    fn plain_line_starts_like_v1_and_adds_the_details() {
        assert_eq!(
            event_line(&echo_request_v6(), &veth0()),
            "src: fd00::2, dest: fd00::1, proto icmpv6, type 128 (echo-request) code 0, in veth0 (ifindex 5), len 104"
        );
        assert_eq!(
            event_line(&echo_request_v6(), &Names::default()),
            "src: fd00::2, dest: fd00::1, proto icmpv6, type 128 (echo-request) code 0, in ifindex 5, len 104"
        );
    }

    #[test]
    fn plain_line_leaves_out_what_the_kernel_left_out() {
        let udp = Event {
            src: IpAddr::from([10, 99, 0, 2]),
            dest: IpAddr::from([10, 99, 0, 1]),
            proto: Some(17),
            icmp_type: None,
            icmp_code: None,
            ifindex: None,
            ..echo_request_v6()
        };
        assert_eq!(event_line(&udp, &Names::default()), "src: 10.99.0.2, dest: 10.99.0.1, proto udp, len 104");
        let odd_type = Event { proto: Some(1), icmp_type: Some(42), icmp_code: Some(3), ..udp.clone() };
        assert_eq!(event_line(&odd_type, &Names::default()), "src: 10.99.0.2, dest: 10.99.0.1, proto icmp, type 42 code 3, len 104");
        let bare = Event { proto: None, len: None, tstamp_ns: None, ..udp };
        assert_eq!(event_line(&bare, &Names::default()), "src: 10.99.0.2, dest: 10.99.0.1");
    }

    #[test]
    fn json_carries_every_field() {
        assert_eq!(
            event_json(&echo_request_v6(), &veth0(), true),
            r#"{"seq":9,"family":"ipv6","src":"fd00::2","dest":"fd00::1","proto":58,"icmp_type":128,"icmp_code":0,"ifindex":5,"ifname":"veth0","len":104,"tstamp_ns":1700000000000000001,"hook":"prerouting","out_ifindex":null,"out_ifname":null}"#
        );
        let bare = Event::new(9, IpAddr::from([1, 2, 3, 4]), IpAddr::from([5, 6, 7, 8]));
        assert_eq!(
            event_json(&bare, &Names::default(), true),
            r#"{"seq":9,"family":"ipv4","src":"1.2.3.4","dest":"5.6.7.8","proto":null,"icmp_type":null,"icmp_code":null,"ifindex":null,"ifname":null,"len":null,"tstamp_ns":null,"hook":null,"out_ifindex":null,"out_ifname":null}"#
        );
    }

    #[test]
    fn listeners_as_text_and_json() {
        let l = Listener {
            portid: 77,
            families: Some(3),
            protos: Some(vec![1, 58, 132]),
            events_sent: 4,
            send_failures: 1,
            ..Listener::default()
        };
        assert_eq!(
            listener_line(&l),
            "port 77  families ipv4,ipv6  protos icmp,icmpv6,132  events_sent 4  send_failures 1"
        );
        assert_eq!(
            serde_json::to_string(&ListenerJson::from(&l)).unwrap(),
            r#"{"port":77,"hook":null,"families":["ipv4","ipv6"],"protos":[1,58,132],"events_sent":4,"send_failures":1}"#
        );
        let defaults = Listener { portid: 78, ..Listener::default() };
        assert_eq!(
            listener_line(&defaults),
            "port 78  families default (ipv4,ipv6)  protos default (icmp over ipv4, icmpv6 over ipv6)  \
             events_sent 0  send_failures 0"
        );
        assert_eq!(
            serde_json::to_string(&ListenerJson::from(&defaults)).unwrap(),
            r#"{"port":78,"hook":null,"families":null,"protos":null,"events_sent":0,"send_failures":0}"#
        );
        let batching = Listener { portid: 79, batch: Some(64), flush_ms: Some(10), ..Listener::default() };
        assert!(listener_line(&batching).ends_with("send_failures 0  batch 64  flush_ms 10"));
        assert!(serde_json::to_string(&ListenerJson::from(&batching))
            .unwrap()
            .ends_with(r#""send_failures":0,"batch":64,"flush_ms":10}"#));
        let limited = Listener {
            portid: 80,
            snaplen: Some(128),
            sample: Some(10),
            rate_limit: Some(50),
            rate_burst: Some(5),
            suppressed_total: Some(12),
            ..Listener::default()
        };
        assert!(
            listener_line(&limited).ends_with("snaplen 128  sample 1/10  rate 50/s burst 5  suppressed 12"),
            "{}",
            listener_line(&limited)
        );
        assert!(serde_json::to_string(&ListenerJson::from(&limited)).unwrap().ends_with(
            r#""snaplen":128,"sample":10,"rate_limit":50,"rate_burst":5,"suppressed_total":12}"#
        ));
    }

    #[test]
    fn other_hooks_are_named_with_their_output_interface() {
        let ev = Event {
            hook: Some(abi::IMP2_HOOK_OUTPUT),
            ifindex: Some(0),
            out_ifindex: Some(6),
            ..echo_request_v6()
        };
        let names = Names { input: None, output: Some("veth1".into()) };
        assert_eq!(
            event_line(&ev, &names),
            "src: fd00::2, dest: fd00::1, proto icmpv6, type 128 (echo-request) code 0, hook output, \
             out veth1 (ifindex 6), len 104"
        );
        let forwarded = Event { hook: Some(abi::IMP2_HOOK_FORWARD), ifindex: Some(5), ..ev.clone() };
        assert!(event_line(&forwarded, &Names::default()).ends_with(", hook forward, in ifindex 5, out ifindex 6, len 104"));
        let json = event_json(&ev, &names, false);
        assert!(json.ends_with(r#""hook":"output","out_ifindex":6,"out_ifname":"veth1"}"#), "{json}");
        let l = Listener { portid: 81, hook: Some(abi::IMP2_HOOK_POSTROUTING), ..Listener::default() };
        assert!(listener_line(&l).ends_with("send_failures 0  hook postrouting"));
        assert!(serde_json::to_string(&ListenerJson::from(&l)).unwrap().starts_with(r#"{"port":81,"hook":"postrouting","#));
    }

    #[test]
    fn payload_and_suppressed_counts_only_where_the_listener_asked() {
        let ev = Event { payload: Some(vec![0x45, 0, 0xab]), suppressed: Some(9), ..echo_request_v6() };
        assert!(event_line(&ev, &Names::default()).ends_with(", len 104, 3 bytes captured, 9 suppressed before"));
        let json = event_json(&ev, &Names::default(), false);
        assert!(json.ends_with(r#""out_ifname":null,"suppressed":9}"#), "{json}");
        let json = event_json(&ev, &Names::default(), true);
        assert!(json.ends_with(r#""suppressed":9,"payload":"4500ab"}"#), "{json}");
    }
}
