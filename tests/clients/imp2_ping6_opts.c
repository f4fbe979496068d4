// SPDX-License-Identifier: GPL-2.0
/*
 * Test helper: ICMPv6 echo requests behind an extension header, to check
 * that the module finds ICMPv6 past it (ipv6_skip_exthdr).
 *
 *   imp2_ping6_opts [-c COUNT] [-i MS] [-d] [-I IFNAME] ADDR
 *
 * Sends COUNT (default 3) echo requests, MS (default 200) ms apart, from a
 * raw ICMPv6 socket whose sticky IPV6_HOPOPTS option (or, with -d,
 * IPV6_DSTOPTS) puts an 8-byte hop-by-hop (destination options) header
 * holding one PadN option in front of ICMPv6.  -I sets the scope of a
 * link-local ADDR.  Prints one line per packet sent:
 *   sent echo-request id=I seq=S to ADDR behind hop-by-hop (8 bytes, PadN)
 * Replies are not read.  Needs CAP_NET_RAW.  Exit status 0 if all were
 * sent, 2 otherwise.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Option type 1 (PadN) in an IPv6 options header (RFC 8200, 4.2). */
#define IPV6_TLV_PADN 1

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

int main(int argc, char **argv)
{
	/*
	 * next header (filled in by the kernel), length in 8-byte units beyond
	 * the first (0), then PadN with 4 bytes of data: 8 bytes in all.
	 */
	unsigned char options[8] = { 0, 0, IPV6_TLV_PADN, 4, 0, 0, 0, 0 };
	struct sockaddr_in6 to = { .sin6_family = AF_INET6 };
	int count = 3, interval_ms = 200, dstopts = 0, opt, fd, i;
	const char *ifname = NULL, *header;
	char addr_text[INET6_ADDRSTRLEN];
	unsigned short id = (unsigned short)getpid();

	while ((opt = getopt(argc, argv, "c:i:dI:")) != -1) {
		switch (opt) {
		case 'c': count = atoi(optarg); break;
		case 'i': interval_ms = atoi(optarg); break;
		case 'd': dstopts = 1; break;
		case 'I': ifname = optarg; break;
		default: goto usage;
		}
	}
	if (optind != argc - 1 || inet_pton(AF_INET6, argv[optind], &to.sin6_addr) != 1)
		goto usage;
	if (ifname && !(to.sin6_scope_id = if_nametoindex(ifname))) {
		fprintf(stderr, "imp2_ping6_opts: no interface %s\n", ifname);
		return 2;
	}
	inet_ntop(AF_INET6, &to.sin6_addr, addr_text, sizeof(addr_text));
	header = dstopts ? "destination options" : "hop-by-hop";

	/* The kernel computes the ICMPv6 checksum on IPPROTO_ICMPV6 raw sockets. */
	fd = socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6);
	if (fd < 0) {
		fprintf(stderr, "imp2_ping6_opts: raw ICMPv6 socket: %s (needs CAP_NET_RAW)\n", strerror(errno));
		return 2;
	}
	if (setsockopt(fd, IPPROTO_IPV6, dstopts ? IPV6_DSTOPTS : IPV6_HOPOPTS, options, sizeof(options))) {
		fprintf(stderr, "imp2_ping6_opts: setting the %s header: %s\n", header, strerror(errno));
		return 2;
	}
	for (i = 1; i <= count; i++) {
		unsigned char packet[sizeof(struct icmp6_hdr) + 56];
		struct icmp6_hdr *echo = (struct icmp6_hdr *)packet;

		memset(packet, 0xa5, sizeof(packet));
		echo->icmp6_type = ICMP6_ECHO_REQUEST;
		echo->icmp6_code = 0;
		echo->icmp6_cksum = 0;
		echo->icmp6_id = htons(id);
		echo->icmp6_seq = htons((unsigned short)i);
		if (sendto(fd, packet, sizeof(packet), 0, (struct sockaddr *)&to, sizeof(to)) < 0) {
			fprintf(stderr, "imp2_ping6_opts: sendto %s: %s\n", addr_text, strerror(errno));
			return 2;
		}
		printf("sent echo-request id=%u seq=%d to %s behind %s (%zu bytes, PadN)\n", id, i, addr_text,
		       header, sizeof(options));
		fflush(stdout);
		if (i < count)
			sleep_ms(interval_ms);
	}
	close(fd);
	return 0;
usage:
	fprintf(stderr, "usage: imp2_ping6_opts [-c COUNT] [-i MS] [-d] [-I IFNAME] IPV6-ADDR\n");
	return 2;
}
