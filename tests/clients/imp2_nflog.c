// SPDX-License-Identifier: GPL-2.0
/*
 * Minimal NFLOG (nfnetlink_log) reader: the kernel's own way to stream
 * packet metadata, as a benchmark peer for imp2.
 *
 *   imp2_nflog [-g GROUP] [-t SECS] [-c COUNT] [-q QTHRESH] [-r RCVBUF]
 *
 * Binds to log group GROUP (default 5) in meta-only copy mode.  -q sets the
 * queue threshold (packets batched per netlink message; kernel default 1)
 * with a 10 ms flush timeout.  Counts packet messages for SECS seconds, up
 * to COUNT of them, or until SIGINT/SIGTERM, then prints "nflog: N events, M overruns".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <linux/netlink.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int fd;
static unsigned int seq;
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void attr(unsigned char *buf, size_t *off, int type, const void *data, size_t len)
{
	struct nlattr *a = (struct nlattr *)(buf + *off);

	a->nla_type = type;
	a->nla_len = NLA_HDRLEN + len;
	memcpy(buf + *off + NLA_HDRLEN, data, len);
	*off += NLA_ALIGN(a->nla_len);
}

/* Sends one NFULNL_MSG_CONFIG for `group` and waits for its ack. */
static void config(int group, int attr_type, const void *data, size_t len)
{
	unsigned char buf[256] = { 0 };
	struct nlmsghdr *h = (struct nlmsghdr *)buf;
	struct nfgenmsg *g = NLMSG_DATA(h);
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	size_t off = NLMSG_LENGTH(sizeof(*g));

	h->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG;
	h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	h->nlmsg_seq = ++seq;
	g->nfgen_family = AF_INET;
	g->version = NFNETLINK_V0;
	g->res_id = htons(group);
	attr(buf, &off, attr_type, data, len);
	h->nlmsg_len = off;
	if (sendto(fd, buf, off, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0) {
		perror("imp2_nflog: sendto");
		exit(2);
	}
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		struct nlmsgerr *e = NLMSG_DATA(h);

		if (n < 0) {
			perror("imp2_nflog: recv ack");
			exit(2);
		}
		if (h->nlmsg_type == NLMSG_ERROR && e->msg.nlmsg_seq == seq) {
			if (e->error) {
				fprintf(stderr, "imp2_nflog: config attr %d: %s\n", attr_type, strerror(-e->error));
				exit(2);
			}
			return;
		}
	}
}

int main(int argc, char **argv)
{
	int group = 5, secs = 0, qthresh = 0, rcvbuf = 0, opt;
	long count = 0;
	struct sigaction sa = { .sa_handler = on_signal };
	static unsigned char buf[1 << 17];
	long events = 0, overruns = 0;
	struct timespec t0, t;

	while ((opt = getopt(argc, argv, "g:t:c:q:r:")) != -1) {
		switch (opt) {
		case 'g': group = atoi(optarg); break;
		case 't': secs = atoi(optarg); break;
		case 'c': count = atol(optarg); break;
		case 'q': qthresh = atoi(optarg); break;
		case 'r': rcvbuf = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: imp2_nflog [-g GROUP] [-t SECS] [-c COUNT] [-q QTHRESH] [-r RCVBUF]\n");
			return 2;
		}
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_NETFILTER);
	if (fd < 0) {
		perror("imp2_nflog: socket (CONFIG_NETFILTER_NETLINK?)");
		return 2;
	}
	if (rcvbuf && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)))
		perror("imp2_nflog: SO_RCVBUFFORCE");

	struct nfulnl_msg_config_cmd bind = { .command = NFULNL_CFG_CMD_BIND };
	struct nfulnl_msg_config_mode mode = { .copy_mode = NFULNL_COPY_META };

	config(group, NFULA_CFG_CMD, &bind, sizeof(bind));
	config(group, NFULA_CFG_MODE, &mode, sizeof(mode));
	if (qthresh > 0) {
		__u32 q = htonl(qthresh), timeout = htonl(1);

		config(group, NFULA_CFG_QTHRESH, &q, sizeof(q));
		config(group, NFULA_CFG_TIMEOUT, &timeout, sizeof(timeout));
	}
	printf("nflog: bound to group %d\n", group);
	fflush(stdout);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!stop && !(count && events >= count)) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		clock_gettime(CLOCK_MONOTONIC, &t);
		if (secs && t.tv_sec - t0.tv_sec >= secs)
			break;
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0) {
			if (errno == ENOBUFS)
				overruns++;
			continue;
		}
		for (struct nlmsghdr *h = (void *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n))
			if (h->nlmsg_type == ((NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET))
				events++;
	}
	printf("nflog: %ld events, %ld overruns\n", events, overruns);
	return 0;
}
