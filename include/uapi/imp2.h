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
};

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
	__u64 packets_seen;	/* ICMP datagrams (first fragments) at the hook */
	__u64 send_refused;	/* of send_failures: ECONNREFUSED, the port was gone */
	__u32 subscriber_portid; /* 0 if nobody is subscribed, and always 0 for a
				    requester without CAP_NET_ADMIN */
	__u32 unit;		/* netlink protocol unit of this module */
};

#endif /* _UAPI_IMP2_H */
