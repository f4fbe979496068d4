// SPDX-License-Identifier: GPL-2.0
/*
 * The floor of reading imp2 v2 events: subscribes as a v2 listener and
 * counts IMP2_V2_EVENT message headers, decoding nothing, the way
 * tests/clients/imp2_nflog.c reads NFLOG.  A benchmark peer: what
 * `imp2 monitor --quiet` costs beyond it is its userspace decode.
 *
 *   imp2_v2count [-b BATCH] [-f FAMILIES] [-c COUNT] [-t SECS] [-r RCVBUF]
 *
 * Prints "bound" once subscribed and, at the end (COUNT events, SECS
 * seconds, SIGINT or SIGTERM), the summary as imp2 monitor --json does:
 * {"summary":{"events":N,"overruns":M,"dirty_padding":P}}.  With -p it
 * also walks each event's attributes and counts the events whose
 * alignment padding is not all zero: the module writes events in place
 * into uninitialised skb memory, so a nonzero pad byte would be kernel
 * memory reaching userspace.
 */
#include <errno.h>
#include <linux/netlink.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "uapi/imp2.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(void)
{
	fprintf(stderr, "usage: imp2_v2count [-b BATCH] [-f FAMILIES] [-c COUNT] [-t SECS] [-r RCVBUF] [-p]\n");
	exit(2);
}

static unsigned long number(const char *text)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(text, &end, 0);
	if (errno || !*text || *end)
		usage();
	return v;
}

static void put_u32_attr(unsigned char *buf, size_t *off, unsigned short type, unsigned int value)
{
	struct nlattr *a = (struct nlattr *)(buf + *off);

	a->nla_len = NLA_HDRLEN + sizeof(value);
	a->nla_type = type;
	memcpy(buf + *off + NLA_HDRLEN, &value, sizeof(value));
	*off += NLA_ALIGN(a->nla_len);
}

/* Whether the padding after each attribute of an event, and after the
 * message, is zero. */
static int padding_is_clean(const struct nlmsghdr *h)
{
	const unsigned char *p = NLMSG_DATA(h), *end = (const unsigned char *)h + NLMSG_ALIGN(h->nlmsg_len);

	while (p + NLA_HDRLEN <= (const unsigned char *)h + h->nlmsg_len) {
		const struct nlattr *a = (const struct nlattr *)p;
		const unsigned char *pad;

		if (a->nla_len < NLA_HDRLEN)
			return 0;
		for (pad = p + a->nla_len; pad < p + NLA_ALIGN(a->nla_len) && pad < end; pad++)
			if (*pad)
				return 0;
		p += NLA_ALIGN(a->nla_len);
	}
	return 1;
}

int main(int argc, char **argv)
{
	unsigned long batch = 1, families = IMP2_FAMILY_IPV4, count = 0, secs = 0, rcvbuf = 0;
	static unsigned char buf[1 << 17];
	unsigned long events = 0, overruns = 0, dirty = 0;
	int check_padding = 0;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	struct nlmsghdr *h;
	size_t off;
	time_t end;
	int fd, opt;

	while ((opt = getopt(argc, argv, "b:f:c:t:r:p")) != -1) {
		switch (opt) {
		case 'b': batch = number(optarg); break;
		case 'f': families = number(optarg); break;
		case 'c': count = number(optarg); break;
		case 't': secs = number(optarg); break;
		case 'r': rcvbuf = number(optarg); break;
		case 'p': check_padding = 1; break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	fd = socket(AF_NETLINK, SOCK_RAW, NL_IMP2);
	if (fd < 0) {
		perror("imp2_v2count: socket (is imp2.ko loaded?)");
		return 1;
	}
	if (rcvbuf) {
		int v = (int)rcvbuf;

		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)) &&
		    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v))) {
			perror("imp2_v2count: SO_RCVBUF");
			return 1;
		}
	}
	h = (struct nlmsghdr *)buf;
	off = NLMSG_HDRLEN;
	put_u32_attr(buf, &off, IMP2_A_FAMILIES, (unsigned int)families);
	if (batch > 1)
		put_u32_attr(buf, &off, IMP2_A_BATCH, (unsigned int)batch);
	*h = (struct nlmsghdr){ .nlmsg_len = off, .nlmsg_type = IMP2_V2_SUBSCRIBE,
				.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK, .nlmsg_seq = 1 };
	if (sendto(fd, buf, off, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0) {
		perror("imp2_v2count: subscribe");
		return 1;
	}
	printf("bound\n");
	fflush(stdout);

	end = secs ? time(NULL) + (time_t)secs : 0;
	while (!stop && (!count || events < count) && (!end || time(NULL) < end)) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n < 0) {
			struct pollfd p = { .fd = fd, .events = POLLIN };

			if (errno == ENOBUFS) {
				overruns++;
			} else if (errno == EAGAIN || errno == EINTR) {
				poll(&p, 1, 200);
			} else {
				perror("imp2_v2count: recv");
				return 1;
			}
			continue;
		}
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_type == IMP2_V2_EVENT) {
				events++;
				if (check_padding && !padding_is_clean(h))
					dirty++;
			} else if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);

				if (e->error) {
					fprintf(stderr, "imp2_v2count: subscribe refused: %s\n", strerror(-e->error));
					return 1;
				}
			}
		}
	}
	fprintf(stderr, "{\"summary\":{\"events\":%lu,\"overruns\":%lu,\"dirty_padding\":%lu}}\n",
		events, overruns, dirty);
	return 0;
}
