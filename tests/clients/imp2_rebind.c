// SPDX-License-Identifier: GPL-2.0
/*
 * Test helper: take over a netlink port id the moment it is freed.  A
 * socket of the imp2 unit spins on bind() to PORTID (EADDRINUSE while its
 * owner lives) until it succeeds, then optionally sends one message, then
 * prints everything it receives.
 *
 *   imp2_rebind [-u UNIT] -p PORTID [-t MS] [-w MS] [-m TYPE [-f FLAGS] [-x HEX]]
 *
 * -t gives up binding after MS milliseconds (default 5000).  -m sends one
 * message of type TYPE once bound: flags FLAGS (default
 * NLM_F_REQUEST|NLM_F_ACK), seq 1, nlmsg_pid PORTID, and the payload
 * bytes HEX (pairs of hex digits, e.g. an attribute) after the header.
 * Then it reads for -w MS milliseconds in all (default 1000, counted from
 * the send, or from the bind without -m).  Output, one line each; t= is
 * CLOCK_REALTIME in microseconds (bash: ${EPOCHREALTIME/./}):
 *   spinning port=P                 after the first EADDRINUSE
 *   bound port=P tries=N t=T        once bound (N bind() calls)
 *   timeout port=P tries=N          never bound within -t (exit 1)
 *   sent type=T t=T
 *   ack seq=S error=E t=T           NLMSG_ERROR (type 2 from the kernel is
 *                                   never IMP2_CLOSE)
 *   msg type=T seq=S len=L t=T      anything else, one per message (a
 *                                   batched datagram gives several)
 *   recv error=E                    e.g. -105 (ENOBUFS): events were lost
 *   done msgs=N acks=N              at the end
 * Exit status: 0 if bound, 1 if not, 2 on usage or socket errors.
 */
#include <errno.h>
#include <linux/netlink.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "uapi/imp2.h"

static unsigned char msg[4096];

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "imp2_rebind: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	exit(2);
}

static long long now_us(clockid_t clock)
{
	struct timespec t;

	clock_gettime(clock, &t);
	return (long long)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

/* Appends HEX after the header; returns the new length. */
static size_t append_hex(size_t len, const char *hex)
{
	for (; hex[0] && hex[1]; hex += 2) {
		char pair[3] = { hex[0], hex[1], 0 };
		char *end;

		if (len >= sizeof(msg))
			die("payload too long", NULL);
		msg[len++] = (unsigned char)strtoul(pair, &end, 16);
		if (*end)
			die("bad hex", hex);
	}
	if (*hex)
		die("odd number of hex digits", hex);
	return len;
}

/* Prints every message of one datagram; returns how many there were. */
static int print_datagram(const unsigned char *buf, size_t n, int *acks)
{
	long long t = now_us(CLOCK_REALTIME);
	int count = 0;
	size_t off;

	for (off = 0; off + NLMSG_HDRLEN <= n; count++) {
		const struct nlmsghdr *h = (const struct nlmsghdr *)(buf + off);

		if (h->nlmsg_len < NLMSG_HDRLEN || off + h->nlmsg_len > n)
			break;
		if (h->nlmsg_type == NLMSG_ERROR && h->nlmsg_len >= NLMSG_LENGTH(sizeof(struct nlmsgerr))) {
			const struct nlmsgerr *e = NLMSG_DATA(h);

			printf("ack seq=%u error=%d t=%lld\n", e->msg.nlmsg_seq, e->error, t);
			(*acks)++;
		} else {
			printf("msg type=%u seq=%u len=%u t=%lld\n", h->nlmsg_type, h->nlmsg_seq, h->nlmsg_len, t);
		}
		off += NLMSG_ALIGN(h->nlmsg_len);
	}
	fflush(stdout);
	return count;
}

int main(int argc, char **argv)
{
	struct sockaddr_nl local = { .nl_family = AF_NETLINK };
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	int unit = NL_IMP2, bind_ms = 5000, wait_ms = 1000, msg_type = -1, opt, fd;
	int flags = NLM_F_REQUEST | NLM_F_ACK, msgs = 0, acks = 0, spinning = 0;
	const char *hex = "";
	unsigned long tries = 0;
	long long give_up, deadline;

	while ((opt = getopt(argc, argv, "u:p:t:w:m:f:x:")) != -1) {
		switch (opt) {
		case 'u': unit = atoi(optarg); break;
		case 'p': local.nl_pid = strtoul(optarg, NULL, 0); break;
		case 't': bind_ms = atoi(optarg); break;
		case 'w': wait_ms = atoi(optarg); break;
		case 'm': msg_type = (int)strtoul(optarg, NULL, 0); break;
		case 'f': flags = (int)strtoul(optarg, NULL, 0); break;
		case 'x': hex = optarg; break;
		default:
			fprintf(stderr, "usage: imp2_rebind [-u UNIT] -p PORTID [-t MS] [-w MS] "
				"[-m TYPE [-f FLAGS] [-x HEX]]\n");
			return 2;
		}
	}
	if (!local.nl_pid)
		die("-p PORTID (not 0) is required", NULL);

	fd = socket(AF_NETLINK, SOCK_RAW, unit);
	if (fd < 0)
		die("socket", strerror(errno));
	/*
	 * A failed netlink_insert() leaves the socket unbound, so bind() can
	 * be retried.  No sleep: the port is free only between the owner's
	 * netlink_release() and whoever binds it first.
	 */
	give_up = now_us(CLOCK_MONOTONIC) + (long long)bind_ms * 1000;
	for (;;) {
		tries++;
		if (!bind(fd, (struct sockaddr *)&local, sizeof(local)))
			break;
		if (errno != EADDRINUSE)
			die("bind", strerror(errno));
		if (!spinning) {
			printf("spinning port=%u\n", local.nl_pid);
			fflush(stdout);
			spinning = 1;
		}
		if ((tries & 255) == 0 && now_us(CLOCK_MONOTONIC) > give_up) {
			printf("timeout port=%u tries=%lu\n", local.nl_pid, tries);
			return 1;
		}
	}
	printf("bound port=%u tries=%lu t=%lld\n", local.nl_pid, tries, now_us(CLOCK_REALTIME));
	fflush(stdout);

	if (msg_type >= 0) {
		struct nlmsghdr *h = (struct nlmsghdr *)msg;
		size_t len = append_hex(NLMSG_HDRLEN, hex);

		memset(h, 0, NLMSG_HDRLEN);
		h->nlmsg_len = (uint32_t)len;
		h->nlmsg_type = (uint16_t)msg_type;
		h->nlmsg_flags = (uint16_t)flags;
		h->nlmsg_seq = 1;
		h->nlmsg_pid = local.nl_pid;
		if (sendto(fd, msg, len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
			die("sendto", strerror(errno));
		printf("sent type=%d t=%lld\n", msg_type, now_us(CLOCK_REALTIME));
		fflush(stdout);
	}

	deadline = now_us(CLOCK_MONOTONIC) + (long long)wait_ms * 1000;
	for (;;) {
		static unsigned char rbuf[65536];
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		long long left = deadline - now_us(CLOCK_MONOTONIC);
		ssize_t n;

		if (left <= 0 || poll(&pfd, 1, (int)((left + 999) / 1000)) <= 0)
			break;
		n = recv(fd, rbuf, sizeof(rbuf), MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			printf("recv error=%d\n", -errno);
			fflush(stdout);
			if (errno != ENOBUFS)
				break;
			continue;
		}
		msgs += print_datagram(rbuf, (size_t)n, &acks);
	}
	printf("done msgs=%d acks=%d\n", msgs, acks);
	close(fd);
	return 0;
}
