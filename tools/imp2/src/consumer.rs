//! What `imp2 monitor` does with each datagram it receives: split it into
//! messages, account for sequence numbers, and hand each event to the
//! caller. Apart from the socket so that its cost can be measured on
//! recorded datagrams (`examples/consumer_cost.rs`).

use crate::proto::{self, Ack, Message};
use crate::v2;

/// What a monitor saw, for the summary line.
#[derive(Debug, Default, serde::Serialize)]
pub struct Summary {
    pub events: u64,
    pub missed: u64,
    pub overruns: u64,
    pub malformed: u64,
    /// v2 only (`None` keeps the v1 summary as it was).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unknown_attrs: Option<u64>,
    /// v2 only: datagrams that carried events (fewer than the events when
    /// the module batches them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub datagrams: Option<u64>,
    /// v2, for listeners with sampling or a rate limit: the packets they
    /// left out, as the events reported (`IMP2_A_SUPPRESSED`), apart from
    /// those lost (`missed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<u64>,
    #[serde(skip)]
    highest_seq: Option<u32>,
}

impl Summary {
    /// A summary for protocol v2 (`true`) or the 2007 protocol.
    pub fn new(v2: bool) -> Summary {
        if v2 {
            Summary {
                unknown_attrs: Some(0),
                datagrams: Some(0),
                ..Summary::default()
            }
        } else {
            Summary::default()
        }
    }

    pub fn record(&mut self, seq: u32) {
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

    /// Counts a datagram that carried `events` events (v2).
    fn count_datagram(&mut self, events: u64) {
        if let (true, Some(datagrams)) = (events > 0, self.datagrams.as_mut()) {
            *datagrams += 1;
        }
    }

    /// Counts unknown attributes; says so the first time (a newer module).
    pub fn note_unknown_attrs(&mut self, count: u32) {
        let seen = self.unknown_attrs.get_or_insert(0);
        if *seen == 0 {
            eprintln!("imp2: skipping unknown attributes in events (a newer module?); counted in the summary");
        }
        *seen += u64::from(count);
    }

    pub fn text(&self) -> String {
        let mut text = format!(
            "imp2: {} events received, {} missed (sequence gaps), {} overruns (ENOBUFS), {} malformed",
            self.events, self.missed, self.overruns, self.malformed
        );
        if let Some(unknown) = self.unknown_attrs {
            text += &format!(", {unknown} unknown attributes skipped");
        }
        if let Some(datagrams) = self.datagrams {
            text += &format!(", in {datagrams} datagrams");
        }
        if let Some(suppressed) = self.suppressed {
            text += &format!(", {suppressed} suppressed (sampling, rate limit)");
        }
        text
    }
}

/// One event handed to the caller.
pub enum Seen<'a> {
    V1(&'a proto::Event),
    V2(&'a v2::Event),
}

/// Where the receive loop stands after a datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Go on receiving.
    More,
    /// Enough: the event count reached, or the caller could not take an
    /// event (stdout closed).
    Done,
    /// The module acked the unsubscribe: nothing more will come.
    Unsubscribed,
    /// The module refused the subscribe request.
    Refused(Ack),
}

/// A monitor's side of the conversation after its subscribe request.
pub struct Consumer {
    pub summary: Summary,
    /// The `nlmsg_seq` of the subscribe and unsubscribe requests.
    pub subscribe_seq: u32,
    pub unsubscribe_seq: u32,
    /// Stop after this many events.
    pub count: Option<u64>,
}

impl Consumer {
    /// Handles one received datagram. `each` gets every event, in order,
    /// and returns whether it could take it. Never inlined: once per
    /// datagram, and the boundary `scripts/consumer-profile.sh` measures.
    #[inline(never)]
    pub fn datagram(&mut self, data: &[u8], mut each: impl FnMut(Seen<'_>) -> bool) -> Flow {
        let mut events = 0;
        let summary = &mut self.summary;
        for msg in proto::messages(data) {
            let taken = match msg {
                Ok(Message::Event(ev)) => {
                    summary.record(ev.seq);
                    events += 1;
                    each(Seen::V1(&ev))
                }
                Ok(Message::V2Event(decoded)) => {
                    summary.record(decoded.value.seq);
                    events += 1;
                    if decoded.unknown_attrs > 0 {
                        summary.note_unknown_attrs(decoded.unknown_attrs);
                    }
                    if let Some(left_out) = decoded.value.suppressed {
                        *summary.suppressed.get_or_insert(0) += left_out;
                    }
                    each(Seen::V2(&decoded.value))
                }
                Ok(Message::Ack(ack)) if ack.seq == self.subscribe_seq && ack.errno != 0 => {
                    return Flow::Refused(ack);
                }
                Ok(Message::Ack(ack)) if ack.seq == self.unsubscribe_seq => {
                    return Flow::Unsubscribed
                }
                Ok(
                    Message::Ack(_)
                    | Message::Stats { .. }
                    | Message::Listener { .. }
                    | Message::Done { .. },
                ) => true,
                Ok(Message::Unknown { msg_type }) => {
                    summary.malformed += 1;
                    eprintln!("imp2: skipping message of unknown type {msg_type:#x}");
                    true
                }
                Err(e) => {
                    summary.malformed += 1;
                    eprintln!("imp2: skipping malformed message from the kernel: {e}");
                    true
                }
            };
            if !taken || self.count.is_some_and(|c| summary.events >= c) {
                summary.count_datagram(events);
                return Flow::Done;
            }
        }
        summary.count_datagram(events);
        Flow::More
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_summary_is_unchanged() {
        let summary = Summary {
            events: 2,
            ..Summary::new(false)
        };
        assert_eq!(
            serde_json::to_string(&summary).unwrap(),
            r#"{"events":2,"missed":0,"overruns":0,"malformed":0}"#
        );
        assert_eq!(
            summary.text(),
            "imp2: 2 events received, 0 missed (sequence gaps), 0 overruns (ENOBUFS), 0 malformed"
        );
    }

    #[test]
    fn v2_summary_counts_unknown_attributes() {
        let mut summary = Summary {
            unknown_attrs: Some(0),
            ..Summary::default()
        };
        summary.note_unknown_attrs(2);
        summary.note_unknown_attrs(1);
        summary.malformed = 1;
        assert_eq!(
            summary.text(),
            "imp2: 0 events received, 0 missed (sequence gaps), 0 overruns (ENOBUFS), 1 malformed, \
             3 unknown attributes skipped"
        );
        assert!(serde_json::to_string(&summary)
            .unwrap()
            .ends_with(r#""malformed":1,"unknown_attrs":3}"#));
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
