// SPDX-License-Identifier: GPL-2.0
/*
 * Subscribe/close race for the imp2 module (tests/imp2_concurrency.sh).
 *
 *   imp2_race [-u UNIT] [-p PROCS] [-i ITERATIONS]
 *
 * PROCS processes, each with its own socket, loop ITERATIONS times:
 * subscribe (NLM_F_ACK), wait for the ack, unsubscribe (NLM_F_ACK), wait
 * for the ack, and sometimes re-open their socket.  Events that arrive
 * meanwhile are discarded.  Every subscribe must be acked with 0; a close
 * is acked 0 or EPERM (someone else subscribed in between).  Prints
 * "race: S subscribes ok, C closes ok, E closes EPERM, X unexpected".
 */
#include <errno.h>
#include <linux/netlink.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "uapi/imp2.h"

struct tally { long sub_ok, close_ok, close_eperm, unexpected; };

static int open_socket(int unit)
{
	struct sockaddr_nl local = { .nl_family = AF_NETLINK };
	int fd = socket(AF_NETLINK, SOCK_RAW, unit);

	if (fd < 0 || bind(fd, (struct sockaddr *)&local, sizeof(local))) {
		perror("imp2_race: socket");
		exit(2);
	}
	return fd;
}

/* Sends one request with NLM_F_ACK and returns the ack's error (or 1 on timeout). */
static int request(int fd, int type, unsigned int seq)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	struct nlmsghdr h = {
		.nlmsg_len = NLMSG_HDRLEN, .nlmsg_type = type,
		.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK, .nlmsg_seq = seq,
	};
	static unsigned char buf[65536];

	if (sendto(fd, &h, sizeof(h), 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		return -errno;
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, 5000) <= 0)
			return 1;
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0) {
			if (errno == ENOBUFS)
				continue;	/* events overran us; the ack may follow */
			return -errno;
		}
		for (size_t off = 0; off + NLMSG_HDRLEN <= (size_t)n;) {
			struct nlmsghdr *r = (struct nlmsghdr *)(buf + off);

			if (r->nlmsg_len < NLMSG_HDRLEN || off + r->nlmsg_len > (size_t)n)
				break;
			if (r->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(r);

				if (e->msg.nlmsg_seq == seq)
					return e->error;
			}
			off += NLMSG_ALIGN(r->nlmsg_len);
		}
	}
}

static void racer(int unit, int iterations, int id, struct tally *t)
{
	int fd = open_socket(unit);

	srand(id * 7919 + 1);
	for (int i = 0; i < iterations; i++) {
		int err = request(fd, IMP2_U_PID, 2 * i + 1);

		if (err == 0) t->sub_ok++; else t->unexpected++;
		if (rand() % 4 == 0)
			usleep(rand() % 2000);
		err = request(fd, IMP2_CLOSE, 2 * i + 2);
		if (err == 0) t->close_ok++;
		else if (err == -EPERM) t->close_eperm++;
		else t->unexpected++;
		if (rand() % 8 == 0) {	/* re-subscribe from a new socket */
			close(fd);
			fd = open_socket(unit);
		}
	}
	close(fd);
}

int main(int argc, char **argv)
{
	int unit = NL_IMP2, procs = 8, iterations = 200, opt;
	struct tally total = { 0 };
	int failed = 0;

	while ((opt = getopt(argc, argv, "u:p:i:")) != -1) {
		switch (opt) {
		case 'u': unit = atoi(optarg); break;
		case 'p': procs = atoi(optarg); break;
		case 'i': iterations = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: imp2_race [-u UNIT] [-p PROCS] [-i ITERATIONS]\n");
			return 2;
		}
	}
	int fds[64];

	if (procs < 1 || procs > 64)
		procs = 8;
	for (int i = 0; i < procs; i++) {
		int p[2];

		if (pipe(p))
			return 2;
		if (fork() == 0) {
			struct tally t = { 0 };

			close(p[0]);
			racer(unit, iterations, i, &t);
			_exit(write(p[1], &t, sizeof(t)) == sizeof(t) ? 0 : 2);
		}
		close(p[1]);
		fds[i] = p[0];
	}
	for (int i = 0; i < procs; i++) {
		struct tally t;
		int status;

		if (read(fds[i], &t, sizeof(t)) == sizeof(t)) {
			total.sub_ok += t.sub_ok;
			total.close_ok += t.close_ok;
			total.close_eperm += t.close_eperm;
			total.unexpected += t.unexpected;
		} else {
			failed = 1;
		}
		wait(&status);
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			failed = 1;
	}
	printf("race: %ld subscribes ok, %ld closes ok, %ld closes EPERM, %ld unexpected\n",
	       total.sub_ok, total.close_ok, total.close_eperm, total.unexpected);
	return failed || total.unexpected ? 1 : 0;
}
