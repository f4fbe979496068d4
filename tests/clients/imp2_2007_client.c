// SPDX-License-Identifier: GPL-2.0
/*
 * A user program written to the 2007 imp2 protocol, exactly as the original
 * tutorial client behaves, to prove the Rust module stays wire compatible:
 *  - socket(PF_NETLINK, SOCK_RAW, 31), bind with nl_pid = getpid();
 *  - send a bare nlmsghdr (len 16, flags 0, type IMP2_U_PID, pid getpid());
 *  - print "src: A, dest: B" for every message received;
 *  - on SIGINT send the same header with type IMP2_CLOSE, close, exit.
 * Like the original it ignores acks and sequence numbers.  (Unlike it, we
 * do not call exit() from the signal handler: the handler sets a flag.)
 */
#include <arpa/inet.h>
#include <linux/netlink.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "uapi/imp2.h"

static volatile sig_atomic_t stop;

static void on_sigint(int sig)
{
	(void)sig;
	stop = 1;
}

static int send_to_kernel(int fd, int type)
{
	struct sockaddr_nl kpeer = { .nl_family = AF_NETLINK };
	struct nlmsghdr msg = {
		.nlmsg_len = NLMSG_LENGTH(0),
		.nlmsg_flags = 0,
		.nlmsg_type = type,
		.nlmsg_pid = getpid(),
	};

	return sendto(fd, &msg, msg.nlmsg_len, 0, (struct sockaddr *)&kpeer, sizeof(kpeer));
}

int main(int argc, char **argv)
{
	int unit = argc > 1 ? atoi(argv[1]) : NL_IMP2;
	struct sockaddr_nl local = { .nl_family = AF_NETLINK, .nl_pid = getpid() };
	struct {
		struct nlmsghdr hdr;
		struct packet_info icmp_info;
	} info;
	struct sigaction sa = { .sa_handler = on_sigint };
	int fd;

	sigaction(SIGINT, &sa, NULL);	/* no SA_RESTART: recvfrom returns EINTR */
	fd = socket(PF_NETLINK, SOCK_RAW, unit);
	if (fd < 0) {
		perror("can't create netlink socket");
		return 1;
	}
	if (bind(fd, (struct sockaddr *)&local, sizeof(local)) != 0) {
		perror("bind");
		return 1;
	}
	if (send_to_kernel(fd, IMP2_U_PID) < 0) {
		perror("can't send to kernel");
		return 1;
	}
	while (!stop) {
		struct sockaddr_nl kpeer;
		socklen_t kpeerlen = sizeof(kpeer);
		struct in_addr addr;
		ssize_t n;

		n = recvfrom(fd, &info, sizeof(info), 0, (struct sockaddr *)&kpeer, &kpeerlen);
		if (n < 0)
			continue;	/* EINTR on SIGINT; the 2007 client ignored errors too */
		addr.s_addr = info.icmp_info.src;
		printf("src: %s, ", inet_ntoa(addr));
		addr.s_addr = info.icmp_info.dest;
		printf("dest: %s\n", inet_ntoa(addr));
		fflush(stdout);
	}
	send_to_kernel(fd, IMP2_CLOSE);
	close(fd);
	return 0;
}
