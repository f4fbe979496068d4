/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * imp2 wire ABI: the single source of truth for the kernel module (through
 * bindgen), the userspace tool (through bindgen in build.rs) and C clients.
 *
 * Messages are plain netlink messages on protocol unit NL_IMP2.  Types 0..2
 * are the 2007 protocol and keep their numbers and layout exactly; note that
 * they collide with NLMSG_NOOP (1) and NLMSG_ERROR (2), so generic netlink
 * parsers must not be used on this socket.  Extensions start at 0x10.
 */
#ifndef _UAPI_IMP2_H
#define _UAPI_IMP2_H

#include <linux/types.h>

/* Default netlink protocol unit (module parameter "unit" overrides it). */
#define NL_IMP2			31

enum imp2_msg_type {
	IMP2_U_PID	= 0,	/* user -> kernel: subscribe the sending port */
	IMP2_K_MSG	= 1,	/* kernel -> user: one event, payload packet_info */
	IMP2_CLOSE	= 2,	/* user -> kernel: unsubscribe */

	IMP2_STATS_GET	= 0x10,	/* user -> kernel: request the netns counters */
	IMP2_STATS	= 0x11,	/* kernel -> requester: payload imp2_stats */

	/*
	 * Protocol v2 (opt-in).  Attributes (struct nlattr, IMP2_A_*) follow
	 * the nlmsghdr directly, with no family header.  Requests are acked
	 * (or refused) only when they set NLM_F_ACK, as in v1; refusals of
	 * malformed attributes carry an extended-ack message (NETLINK_EXT_ACK).
	 */
	IMP2_LISTENERS_GET	= 0x12,	/* user -> kernel: list the v2 listeners of
					   this netns; needs CAP_NET_ADMIN (EPERM) */
	IMP2_LISTENER		= 0x13,	/* kernel -> requester: one listener per
					   message, NLM_F_MULTI, then NLMSG_DONE */
	IMP2_V2_SUBSCRIBE	= 0x20,	/* user -> kernel: the sending port becomes a
					   listener, or replaces its own filter;
					   IMP2_A_FAMILIES, IMP2_A_PROTOS,
					   IMP2_A_BATCH, IMP2_A_FLUSH_MS,
					   IMP2_A_SNAPLEN, IMP2_A_SAMPLE,
					   IMP2_A_RATE_LIMIT, IMP2_A_RATE_BURST,
					   IMP2_A_BPF, IMP2_A_HOOK; needs
					   CAP_NET_ADMIN (EPERM); ENOSPC beyond the
					   module's max_listeners */
	IMP2_V2_UNSUBSCRIBE	= 0x21,	/* user -> kernel: the sending port stops
					   listening; EPERM if it is not a listener.
					   Events still batched for it are sent
					   before the ack */
	IMP2_V2_EVENT		= 0x22,	/* kernel -> listener: one packet, IMP2_A_*;
					   nlmsg_seq == IMP2_A_SEQ */
};

/* Bits of IMP2_A_FAMILIES. */
#define IMP2_FAMILY_IPV4	(1U << 0)
#define IMP2_FAMILY_IPV6	(1U << 1)
#define IMP2_FAMILY_ALL		(IMP2_FAMILY_IPV4 | IMP2_FAMILY_IPV6)

/*
 * Values of IMP2_A_HOOK: where a listener's packets are seen.  The numbers
 * are netfilter's (enum nf_inet_hooks).  Every hook runs just before the
 * filter table's place (priority NF_IP_PRI_FILTER - 1, NF_IP6_PRI_FILTER - 1
 * for IPv6): after conntrack, mangle and destination NAT, before source NAT
 * (which runs at INPUT and POSTROUTING after it); the filter table's
 * verdict does not hide a packet.  Each sees a packet from its IP header
 * on, as the IP stack has it there:
 *   PREROUTING   every packet received, before routing (v1's only hook);
 *   INPUT        received packets routed to this host;
 *   FORWARD      received packets routed on to another host;
 *   OUTPUT       packets this host sends, after routing them;
 *   POSTROUTING  packets leaving, sent by this host or forwarded.
 * A GSO or GRO packet (TSO, forwarded aggregates) is one event at OUTPUT,
 * FORWARD and POSTROUTING, with its whole length.  Some packets cross a
 * hook twice and are reported twice: multicast and broadcast this host
 * sends (ip_mc_output() runs POSTROUTING for its loopback copy too), VRF
 * traffic, and IPsec (the ESP packet crosses OUTPUT and POSTROUTING
 * again).  AF_PACKET, XDP and netpoll sends bypass OUTPUT.  Packet bytes
 * the host sends may carry checksums the device still fills in
 * (CHECKSUM_PARTIAL).
 */
enum imp2_hook {
	IMP2_HOOK_PREROUTING	= 0,
	IMP2_HOOK_INPUT		= 1,
	IMP2_HOOK_FORWARD	= 2,
	IMP2_HOOK_OUTPUT	= 3,
	IMP2_HOOK_POSTROUTING	= 4,
	__IMP2_HOOK_MAX
};
#define IMP2_HOOK_MAX (__IMP2_HOOK_MAX - 1)

/*
 * v2 attributes.  Requests are validated strictly (unknown, duplicate or
 * malformed attributes: EINVAL with an extended-ack message naming the
 * attribute).  Where an attribute may appear is noted as S (subscribe),
 * L (IMP2_LISTENER) and E (IMP2_V2_EVENT).
 */
enum imp2_attr {
	IMP2_A_UNSPEC,
	IMP2_A_FAMILIES,	/* S L  u32: IMP2_FAMILY_* bits; default both */
	IMP2_A_PROTOS,		/* S L  nested: IMP2_A_PROTO entries; default ICMP
				   for IPv4 and ICMPv6 for IPv6 */
	IMP2_A_PROTO,		/* (in IMP2_A_PROTOS) u8: an L4 protocol number;
				   E: the packet's L4 protocol */
	IMP2_A_FAMILY,		/* E    u8: AF_INET (2) or AF_INET6 (10) */
	IMP2_A_SRC,		/* E    4 or 16 bytes, network byte order */
	IMP2_A_DST,		/* E    4 or 16 bytes, network byte order */
	IMP2_A_ICMP_TYPE,	/* E    u8: ICMP or ICMPv6 type, if the packet has one */
	IMP2_A_ICMP_CODE,	/* E    u8: ICMP or ICMPv6 code, likewise */
	IMP2_A_IFINDEX,		/* E    u32: input interface index, 0 where
				   there is none: always at OUTPUT, and mostly
				   at POSTROUTING for the host's own packets
				   (netfilter's state->in, which some of them,
				   such as neighbour discovery, do have) */
	IMP2_A_LEN,		/* E    u32: packet length from the IP header on */
	IMP2_A_TSTAMP_NS,	/* E    u64: when the hook saw it, CLOCK_REALTIME ns */
	IMP2_A_SEQ,		/* E    u32: per-listener sequence number, +1 per event */
	IMP2_A_PORTID,		/* L    u32: the listener's netlink port id */
	IMP2_A_EVENTS_SENT,	/* L    u64: events its socket took */
	IMP2_A_SEND_FAILURES,	/* L    u64: events lost: buffer full, port gone */
	IMP2_A_PAD,		/* padding for 64-bit attributes */
	IMP2_A_BATCH,		/* S L  u32: up to this many events per datagram,
				   1..IMP2_BATCH_MAX; default 1 (no batching) */
	IMP2_A_FLUSH_MS,	/* S L  u32: a batch waits at most this long after
				   its first event, 1..IMP2_FLUSH_MS_MAX;
				   default IMP2_FLUSH_MS_DEFAULT; needs
				   IMP2_A_BATCH */
	IMP2_A_SNAPLEN,		/* S L  u32: copy up to this many bytes of each
				   packet, from its IP header on, into
				   IMP2_A_PAYLOAD; 0..IMP2_SNAPLEN_MAX, and at
				   most IMP2_SNAPLEN_BATCH_MAX with IMP2_A_BATCH
				   > 1 (one event must fit a batch); default 0:
				   no bytes, and L omits it */
	IMP2_A_PAYLOAD,		/* E    the packet's first min(snaplen,
				   IMP2_A_LEN) bytes from the IP header on, as
				   the hook sees it: a fragment's own bytes, or
				   the whole datagram's where it is reassembled
				   before the hook (conntrack's defrag) */
	IMP2_A_SAMPLE,		/* S L  u32: report one matching packet in N: a
				   new listener's 1st, N+1st, ...; 1..;
				   default 1 (all), and L omits it */
	IMP2_A_RATE_LIMIT,	/* S L  u32: at most this many events per
				   second, after sampling; 1..IMP2_RATE_MAX;
				   absent: no limit */
	IMP2_A_RATE_BURST,	/* S L  u32: of which up to this many at once;
				   1..IMP2_RATE_MAX; default IMP2_A_RATE_LIMIT;
				   needs IMP2_A_RATE_LIMIT */
	IMP2_A_SUPPRESSED,	/* E    u64: matching packets that sampling and
				   the rate limit left out since the previous
				   event taken for this listener; in every event
				   of a listener with IMP2_A_SAMPLE > 1 or
				   IMP2_A_RATE_LIMIT, and only there */
	IMP2_A_SUPPRESSED_TOTAL, /* L   u64: all the packets left out so far,
				   with those no event has reported yet; only
				   for such listeners */
	IMP2_A_BPF,		/* S    a classic BPF program, an array of struct
				   sock_filter (8 bytes each, 1..IMP2_BPF_MAXINSNS):
				   only packets it accepts (returns non-zero for)
				   are reported; run on the packet from its IP
				   header on, after IMP2_A_FAMILIES and
				   IMP2_A_PROTOS (whose default, ICMP and ICMPv6,
				   still applies: send the protocols the program
				   may accept), before sampling, on first
				   fragments only.  Checked (bpf_check_classic())
				   and JIT-compiled where the kernel does, by
				   bpf_prog_create(), in the sender's own
				   sendmsg(); EINVAL if it refuses it, ENOMEM */
	IMP2_A_BPF_INSNS,	/* L    u32: the listener's program's length, if
				   it has one */
	IMP2_A_HOOK,		/* S L E u32: IMP2_HOOK_*; S: where the
				   listener's packets are seen, default
				   IMP2_HOOK_PREROUTING; L, E: always */
	IMP2_A_OUT_IFINDEX,	/* E    u32: output interface index, in the
				   events of the hooks that have one (FORWARD,
				   OUTPUT, POSTROUTING) and only there */
	__IMP2_A_MAX
};
#define IMP2_A_MAX (__IMP2_A_MAX - 1)

/*
 * What v2 does at the edges, for clients written from this header:
 *
 * - Refusals.  A request that is refused changes no subscription (a hook
 *   it switched on may stay, as after any listener) and answers, if it set
 *   NLM_F_ACK, with a negative errno: EINVAL for anything the attributes or
 *   their values get wrong (never ERANGE: the module maps the policy's
 *   range errors), EPERM, ENOSPC, ENOMEM, EAGAIN (the module is loading or
 *   unloading), ECONNREFUSED (the sender closed meanwhile) or EOPNOTSUPP
 *   (an unknown message type).  With NETLINK_EXT_ACK set on the socket, an
 *   EINVAL that one attribute is to blame for carries an NLMSGERR_ATTR_MSG
 *   text that begins with its name ("IMP2_A_FAMILIES: ...", or "attribute
 *   type N: ..." for a type above IMP2_A_MAX) and NLMSGERR_ATTR_OFFS, its
 *   offset in the request; one about the message as a whole (bytes left
 *   over, a port id of 0) carries at most a text.
 * - Growth.  Events and listener reports may gain attributes in later
 *   versions, anywhere in the message (IMP2_A_HOOK came between
 *   IMP2_A_ICMP_CODE and IMP2_A_IFINDEX): decode by type and skip the
 *   types you do not know.
 * - Strictness.  A subscribe takes only the attributes marked S; any other
 *   type (an E or L attribute such as IMP2_A_SRC, IMP2_A_PAD, or one above
 *   IMP2_A_MAX), a duplicate, a wrong size, an undefined IMP2_A_FAMILIES
 *   bit, IMP2_A_PROTOS without NLA_F_NESTED, anything but IMP2_A_PROTO in
 *   it, or bytes left over: EINVAL.  IMP2_V2_UNSUBSCRIBE and
 *   IMP2_LISTENERS_GET take no attributes (EINVAL); IMP2_STATS_GET ignores
 *   its payload, as it always has.
 * - Edge values.  IMP2_A_FAMILIES 0, an empty IMP2_A_PROTOS and an
 *   IMP2_A_HOOK above IMP2_HOOK_MAX: EINVAL.  A protocol listed twice
 *   counts once.  IMP2_A_FLUSH_MS with IMP2_A_BATCH 1 is accepted and has
 *   no effect (there is no batch); without IMP2_A_BATCH it is refused.  IMP2_A_SAMPLE 1 is no sampling.
 * - Hooks.  A netns registers a hook (one per family and IMP2_HOOK_*)
 *   with the first listener that needs it and keeps it until the netns
 *   goes, so that NFQUEUE users of the netns lose no queued packet to our
 *   unregistering (with the module parameter hooks_on_demand=1, only while
 *   some listener needs it).  A subscribe that changes IMP2_A_HOOK moves
 *   the listener, which keeps its sequence and counters.  The v1
 *   subscriber always listens at IMP2_HOOK_PREROUTING.
 * - Sequence.  A listener's IMP2_A_SEQ (== nlmsg_seq) starts at 0 and goes
 *   up by one per event taken for it, sent or lost; a subscribe from the
 *   same socket that changes its filter keeps it, a new socket starts at 0.
 * - Fragments.  v2, like v1, reports a fragmented datagram once, by its
 *   first fragment, and IMP2_A_LEN is that fragment's length (where
 *   conntrack's defragmentation runs before the hook, the hook sees, and
 *   reports, the whole datagram).  Later fragments are not reported.  The
 *   host's own datagrams are fragmented after POSTROUTING: OUTPUT and
 *   POSTROUTING see them whole (unless a raw IP_HDRINCL socket sends the
 *   fragments itself).  IPv4 INPUT sees reassembled datagrams
 *   (ip_local_deliver() reassembles before it); IPv6 INPUT sees fragments,
 *   unless conntrack's defragmentation runs.
 * - Replies.  IMP2_STATS_GET: one IMP2_STATS with the request's nlmsg_seq,
 *   then the ack if NLM_F_ACK is set.  IMP2_LISTENERS_GET: one
 *   IMP2_LISTENER per listener (NLM_F_MULTI), then NLMSG_DONE, all with the
 *   request's nlmsg_seq, then the ack if asked for.  There is no listener
 *   count: count the IMP2_LISTENER messages.
 * - IMP2_LISTENER always carries IMP2_A_PORTID, IMP2_A_FAMILIES,
 *   IMP2_A_HOOK, IMP2_A_EVENTS_SENT and IMP2_A_SEND_FAILURES; IMP2_A_PROTOS only if the
 *   listener gave them; IMP2_A_BATCH and IMP2_A_FLUSH_MS only if it
 *   batches; IMP2_A_SNAPLEN, IMP2_A_SAMPLE and IMP2_A_RATE_LIMIT with
 *   IMP2_A_RATE_BURST only if not the default; IMP2_A_SUPPRESSED_TOTAL with
 *   a sample or a rate; IMP2_A_BPF_INSNS with a program.
 * - rejected_msgs counts every refused request (every errno above,
 *   ENOSPC and EPERM included) and every message that cannot be framed;
 *   datagrams refused for want of queue room count in requests_refused.
 */

/*
 * Batched delivery (IMP2_A_BATCH > 1): several IMP2_V2_EVENT messages in
 * one datagram, sent when the batch holds IMP2_A_BATCH events, when the
 * next one would not fit (IMP2_BATCH_BYTES_MAX), IMP2_A_FLUSH_MS after its
 * first event, or on IMP2_V2_UNSUBSCRIBE.  Read with a buffer of at least
 * IMP2_BATCH_BYTES_MAX bytes.
 */
#define IMP2_BATCH_MAX		1024
#define IMP2_BATCH_BYTES_MAX	16384
#define IMP2_FLUSH_MS_MAX	10000
#define IMP2_FLUSH_MS_DEFAULT	10

/*
 * Packet bytes (IMP2_A_SNAPLEN).  A batching listener's snaplen leaves
 * room for the largest event's other attributes in IMP2_BATCH_BYTES_MAX.
 */
#define IMP2_SNAPLEN_MAX	65531	/* what nla_len (u16) can carry */
#define IMP2_SNAPLEN_BATCH_MAX	16000
/* An unbatched event with a payload: read with snaplen + 256 bytes. */

/*
 * Sampling and rate limits (IMP2_A_SAMPLE, IMP2_A_RATE_LIMIT/_BURST) are
 * checked in the hook, per listener, before an event is built: a packet
 * they leave out costs no allocation.  Sampling counts the listener's
 * matching packets, on every CPU alike; the rate limit is a token bucket
 * of IMP2_A_RATE_BURST events refilled at IMP2_A_RATE_LIMIT per second
 * (CLOCK_MONOTONIC).  What they leave out is counted: summed over a
 * listener's events, 1 + IMP2_A_SUPPRESSED is every matching packet up to
 * the last event, except for events that were lost (a sequence gap: each
 * takes its own count with it).  A change of the limits keeps the counts
 * and what no event has reported yet.
 */
#define IMP2_RATE_MAX		1000000000

/* IMP2_A_BPF: BPF_MAXINSNS, the kernel's limit for classic programs. */
#define IMP2_BPF_MAXINSNS	4096

/*
 * Payload of IMP2_K_MSG: one per ICMP datagram (fragmented datagrams are
 * reported once, by their first fragment).  Addresses are IPv4, network
 * byte order.  nlmsg_seq increases by one per event in a netns, taken on
 * the CPU that saw the packet before the event is sent: events seen on
 * different CPUs can arrive out of order, so a gap is an event that was
 * lost (receive buffer overrun) or one that is still to come.
 */
struct packet_info {
	__u32 src;
	__u32 dest;
};

/* Payload of IMP2_STATS.  All counters are per network namespace. */
struct imp2_stats {
	__u64 events_sent;	/* events the subscriber's socket took: queued, or
				   dropped by its own socket filter (netlink_unicast
				   reports both alike) */
	__u64 send_failures;	/* netlink_unicast failed: EAGAIN, the receive
				   buffer was full (the reader then gets ENOBUFS),
				   or ECONNREFUSED */
	__u64 alloc_failures;	/* event skb allocation failed in the hook */
	__u64 rejected_msgs;	/* malformed, unknown or unauthorised requests */
	__u64 packets_seen;	/* ICMP datagrams (first fragments) at the IPv4
				   PRE_ROUTING hook, while registered */
	__u64 send_refused;	/* of send_failures: ECONNREFUSED, the port was gone */
	__u32 subscriber_portid; /* 0 if nobody is subscribed, and always 0 for a
				    requester without CAP_NET_ADMIN */
	__u32 unit;		/* netlink protocol unit of this module */
	__u64 requests_refused;	/* datagrams refused because the netns's request
				   queue was full (IMP2_INBOX_ADMIN_BYTES);
				   absent (56-byte payload) from modules
				   before it */
};

/*
 * Requests from senders with CAP_NET_ADMIN over the netns wait in a
 * per-netns queue until drained, in order; those of other senders are
 * handled at once, in the sender's own sendmsg().  What the queue may hold,
 * in skb truesize (netlink charges it to the module's kernel socket: Rmem
 * in /proc/net/netlink): room for one datagram of the largest size.  A
 * datagram that does not fit is refused: counted in requests_refused, and
 * answered with ENOBUFS if its first message asks for an ack.
 */
#define IMP2_INBOX_ADMIN_BYTES	(256 * 1024)

#endif /* _UAPI_IMP2_H */
