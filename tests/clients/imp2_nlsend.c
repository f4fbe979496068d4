// SPDX-License-Identifier: GPL-2.0
/*
 * Test helper: send hand-crafted (also deliberately malformed) netlink
 * datagrams to the imp2 module and report the acks that come back.
 *
 *   imp2_nlsend [-u UNIT] [-w MS] [-p PORTID] [-r] SPEC...
 *
 * Every SPEC adds one message to a single datagram:
 *   type=T,flags=F,seq=S,pid=P,len=L,payload=N
 * where len overrides nlmsg_len (default 16 + payload) and payload appends
 * N zero bytes.  "raw=N" appends N raw 0xa5 bytes instead (a truncated
 * header when N < 16).  -p binds to that port id (default: autobind),
 * -w waits MS milliseconds for replies and prints each as
 *   ack seq=S error=E   /   msg type=T seq=S len=L
 * -r sends the datagram with an empty payload (zero-length skb) instead.
 * Exit status: 0 if sent, 2 on socket errors (with a message).
 */
#include <errno.h>
#include <linux/netlink.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "uapi/imp2.h"

static unsigned char buf[1 << 20];

static size_t add_spec(size_t off, char *spec)
{
	struct nlmsghdr h = { .nlmsg_len = 0 };
	long len = -1, payload = 0, raw = -1;
	char *tok, *save;

	for (tok = strtok_r(spec, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		unsigned long v;

		if (!eq) {
			fprintf(stderr, "imp2_nlsend: bad spec element '%s'\n", tok);
			exit(2);
		}
		v = strtoul(eq + 1, NULL, 0);
		*eq = 0;
		if (!strcmp(tok, "type")) h.nlmsg_type = v;
		else if (!strcmp(tok, "flags")) h.nlmsg_flags = v;
		else if (!strcmp(tok, "seq")) h.nlmsg_seq = v;
		else if (!strcmp(tok, "pid")) h.nlmsg_pid = v;
		else if (!strcmp(tok, "len")) len = v;
		else if (!strcmp(tok, "payload")) payload = v;
		else if (!strcmp(tok, "raw")) raw = v;
		else {
			fprintf(stderr, "imp2_nlsend: unknown key '%s'\n", tok);
			exit(2);
		}
	}
	if (raw >= 0) {
		if (off + raw > sizeof(buf)) exit(2);
		memset(buf + off, 0xa5, raw);
		return off + raw;
	}
	h.nlmsg_len = len >= 0 ? (unsigned long)len : NLMSG_HDRLEN + payload;
	if (off + NLMSG_ALIGN(NLMSG_HDRLEN + payload) > sizeof(buf)) exit(2);
	memcpy(buf + off, &h, sizeof(h));
	memset(buf + off + NLMSG_HDRLEN, 0, payload);
	return off + NLMSG_ALIGN(NLMSG_HDRLEN + payload);
}

int main(int argc, char **argv)
{
	struct sockaddr_nl local = { .nl_family = AF_NETLINK };
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	int unit = NL_IMP2, wait_ms = 0, empty = 0, opt, fd;
	size_t len = 0;

	while ((opt = getopt(argc, argv, "u:w:p:r")) != -1) {
		switch (opt) {
		case 'u': unit = atoi(optarg); break;
		case 'w': wait_ms = atoi(optarg); break;
		case 'p': local.nl_pid = strtoul(optarg, NULL, 0); break;
		case 'r': empty = 1; break;
		default:
			fprintf(stderr, "usage: imp2_nlsend [-u UNIT] [-w MS] [-p PORTID] [-r] SPEC...\n");
			return 2;
		}
	}
	for (; optind < argc; optind++)
		len = add_spec(len, argv[optind]);

	fd = socket(AF_NETLINK, SOCK_RAW, unit);
	if (fd < 0) {
		fprintf(stderr, "imp2_nlsend: socket(unit %d): %s\n", unit, strerror(errno));
		return 2;
	}
	if (bind(fd, (struct sockaddr *)&local, sizeof(local))) {
		fprintf(stderr, "imp2_nlsend: bind: %s\n", strerror(errno));
		return 2;
	}
	if (sendto(fd, buf, empty ? 0 : len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0) {
		fprintf(stderr, "imp2_nlsend: sendto: %s\n", strerror(errno));
		return 2;
	}
	while (wait_ms > 0) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		static unsigned char rbuf[65536];
		ssize_t n;
		size_t off;

		if (poll(&pfd, 1, wait_ms) <= 0)
			break;
		n = recv(fd, rbuf, sizeof(rbuf), 0);
		if (n < 0)
			break;
		for (off = 0; off + NLMSG_HDRLEN <= (size_t)n;) {
			struct nlmsghdr *h = (struct nlmsghdr *)(rbuf + off);

			if (h->nlmsg_len < NLMSG_HDRLEN || off + h->nlmsg_len > (size_t)n)
				break;
			if (h->nlmsg_type == NLMSG_ERROR && h->nlmsg_len >= NLMSG_LENGTH(sizeof(struct nlmsgerr))) {
				struct nlmsgerr *e = NLMSG_DATA(h);

				printf("ack seq=%u error=%d\n", e->msg.nlmsg_seq, e->error);
			} else {
				printf("msg type=%u seq=%u len=%u\n", h->nlmsg_type, h->nlmsg_seq, h->nlmsg_len);
			}
			off += NLMSG_ALIGN(h->nlmsg_len);
		}
		fflush(stdout);
	}
	close(fd);
	return 0;
}
