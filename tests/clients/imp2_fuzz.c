// SPDX-License-Identifier: GPL-2.0
/*
 * Netlink fuzzer for the imp2 module (tests/imp2_fuzz.sh).
 *
 *   imp2_fuzz [-u UNIT] [-n MESSAGES] [-p PROCS] [-s SEED]
 *
 * Forks PROCS senders (half of them drop to uid 65534, so without
 * CAP_NET_ADMIN) that together send MESSAGES netlink messages to the
 * module, packed into datagrams of 1..64 messages.  Messages are random
 * and mutated: types 0-2, 0x10/0x11, the v2 types 0x12/0x13/0x20-0x22 and
 * random ones; v2 requests carry random attributes (known and unknown
 * types, wrong nla_len, nests of garbage, duplicates); random flags (often
 * NLM_F_ACK); nlmsg_len 0, smaller than the header, larger than the
 * datagram, or plain wrong; truncated trailing headers; occasional huge
 * (up to 60 KiB) datagrams.  Replies are drained without being read
 * carefully.  Prints "fuzz: sent N messages in D datagrams".
 */
#include <errno.h>
#include <linux/netlink.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "uapi/imp2.h"

static uint64_t rng;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 11);
}

static uint16_t random_type(void)
{
	static const uint16_t known[] = { IMP2_U_PID, IMP2_K_MSG, IMP2_CLOSE,
					  IMP2_STATS_GET, IMP2_STATS, 3, 4, 0xffff,
					  IMP2_LISTENERS_GET, IMP2_LISTENER, IMP2_V2_SUBSCRIBE,
					  IMP2_V2_UNSUBSCRIBE, IMP2_V2_EVENT };

	return rnd() % 4 ? known[rnd() % 13] : (uint16_t)rnd();
}

/*
 * Random netlink attributes for a v2 request, at most cap bytes: mostly
 * IMP2_A_* types with plausible or wrong sizes (u32s often small, such
 * as hook numbers), sometimes a nest of more
 * of the same, sometimes an nla_len that lies.  Returns the length used.
 */
static size_t random_attrs(unsigned char *buf, size_t cap, int depth)
{
	size_t off = 0;
	int n = rnd() % 5;

	while (n-- > 0 && off + 4 <= cap) {
		uint16_t type = rnd() % 8 ? rnd() % (__IMP2_A_MAX + 2) : (uint16_t)rnd();
		size_t len = 4 + (rnd() % 3 ? (size_t[]){ 0, 1, 4, 8, 16 }[rnd() % 5] : rnd() % 40);
		uint16_t nla_len;

		if (off + NLA_ALIGN(len) > cap)
			break;
		if (depth < 2 && rnd() % 6 == 0) {	/* a nest */
			type |= NLA_F_NESTED;
			len = 4 + random_attrs(buf + off + 4, cap - off - 4, depth + 1);
		} else if (len == 8 && rnd() % 4 == 0) {
			/* a small u32: every IMP2_HOOK_* and a few past it, valid
			   families, batch sizes, samples */
			uint32_t small = rnd() % 8;

			memcpy(buf + off + 4, &small, 4);
		} else {
			for (size_t b = 4; b < len; b++)
				buf[off + b] = rnd() % 4 ? rnd() % 3 : rnd();
		}
		nla_len = len;
		if (rnd() % 12 == 0)
			nla_len = rnd() % 2 ? rnd() % 4 : len + 1 + rnd() % 64;
		memcpy(buf + off, &nla_len, 2);
		memcpy(buf + off + 2, &type, 2);
		off += NLA_ALIGN(len);
	}
	return off;
}

/* Builds one datagram in buf; returns its length and counts messages. */
static size_t build(unsigned char *buf, size_t cap, long *msgs)
{
	size_t off = 0, want = rnd() % 100 == 0 ? 1 + rnd() % 1000 : 1 + rnd() % 64;
	size_t i;

	for (i = 0; i < want && off + NLMSG_HDRLEN <= cap; i++) {
		struct nlmsghdr h;
		size_t payload = rnd() % 8 == 0 ? rnd() % 64 : 0;
		size_t step;

		if (off + NLMSG_ALIGN(NLMSG_HDRLEN + payload) > cap)
			payload = 0;
		h.nlmsg_type = random_type();
		if (h.nlmsg_type >= IMP2_LISTENERS_GET && h.nlmsg_type <= IMP2_V2_EVENT && rnd() % 2)
			payload = random_attrs(buf + off + NLMSG_HDRLEN,
					       cap - off - NLMSG_HDRLEN < 256 ? cap - off - NLMSG_HDRLEN : 256, 0);
		h.nlmsg_flags = rnd() % 2 ? NLM_F_REQUEST | NLM_F_ACK : (uint16_t)rnd();
		h.nlmsg_seq = rnd();
		h.nlmsg_pid = rnd() % 4 ? 0 : rnd();
		h.nlmsg_len = NLMSG_HDRLEN + payload;
		switch (rnd() % 16) {
		case 0: h.nlmsg_len = 0; break;
		case 1: h.nlmsg_len = rnd() % NLMSG_HDRLEN; break;
		case 2: h.nlmsg_len = NLMSG_HDRLEN + payload + 1 + rnd() % 100000; break;
		case 3: h.nlmsg_len = rnd(); break;
		}
		step = NLMSG_ALIGN(NLMSG_HDRLEN + payload);
		memcpy(buf + off, &h, sizeof(h));
		if (h.nlmsg_type < IMP2_LISTENERS_GET || h.nlmsg_type > IMP2_V2_EVENT)
			for (size_t b = 0; b < payload; b++)
				buf[off + NLMSG_HDRLEN + b] = rnd();
		off += step;
		(*msgs)++;
	}
	/* Sometimes cut the datagram inside the last header. */
	if (rnd() % 8 == 0 && off > NLMSG_HDRLEN)
		off -= 1 + rnd() % (NLMSG_HDRLEN - 1);
	return off;
}

static int sender(int unit, long quota, uint64_t seed, int unprivileged, long counts[2])
{
	static unsigned char buf[60 * 1024], rbuf[65536];
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	long msgs = 0;
	int fd;

	rng = seed | 1;
	if (unprivileged && (setgid(65534) || setuid(65534))) {
		perror("imp2_fuzz: drop privileges");
		return 2;
	}
	fd = socket(AF_NETLINK, SOCK_RAW, unit);
	if (fd < 0) {
		fprintf(stderr, "imp2_fuzz: socket(unit %d): %s\n", unit, strerror(errno));
		return 2;
	}
	while (msgs < quota) {
		size_t cap = rnd() % 200 == 0 ? sizeof(buf) : 1024;
		size_t len = build(buf, cap, &msgs);

		if (len == 0)
			continue;
		if (sendto(fd, buf, len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0 &&
		    errno != ENOBUFS && errno != EAGAIN && errno != ENOMEM) {
			fprintf(stderr, "imp2_fuzz: sendto: %s\n", strerror(errno));
			return 2;
		}
		counts[1]++;
		while (recv(fd, rbuf, sizeof(rbuf), MSG_DONTWAIT) > 0)
			;
	}
	close(fd);
	counts[0] = msgs;
	return 0;
}

int main(int argc, char **argv)
{
	long total = 1000000, msgs = 0, dgrams = 0;
	int unit = NL_IMP2, procs = 4, opt, failed = 0;
	uint64_t seed = 1;

	while ((opt = getopt(argc, argv, "u:n:p:s:")) != -1) {
		switch (opt) {
		case 'u': unit = atoi(optarg); break;
		case 'n': total = atol(optarg); break;
		case 'p': procs = atoi(optarg); break;
		case 's': seed = strtoull(optarg, NULL, 0); break;
		default:
			fprintf(stderr, "usage: imp2_fuzz [-u UNIT] [-n MESSAGES] [-p PROCS] [-s SEED]\n");
			return 2;
		}
	}
	if (procs < 1)
		procs = 1;
	for (int i = 0; i < procs; i++) {
		int pipefd[2];

		if (pipe(pipefd))
			return 2;
		pid_t pid = fork();

		if (pid == 0) {
			long mine[2] = { 0, 0 };
			int rc;

			close(pipefd[0]);
			rc = sender(unit, total / procs + (i < total % procs), seed * 7919 + i, i % 2, mine);
			if (write(pipefd[1], mine, sizeof(mine)) != sizeof(mine))
				rc = 2;
			_exit(rc);
		}
		close(pipefd[1]);
		/* Collected below; keep the read end. */
		dup2(pipefd[0], 100 + i);
		close(pipefd[0]);
	}
	for (int i = 0; i < procs; i++) {
		int status;
		long mine[2];

		if (read(100 + i, mine, sizeof(mine)) == sizeof(mine)) {
			msgs += mine[0];
			dgrams += mine[1];
		}
		close(100 + i);
		wait(&status);
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			failed = 1;
	}
	printf("fuzz: sent %ld messages in %ld datagrams from %d processes (%d unprivileged)\n",
	       msgs, dgrams, procs, procs / 2);
	return failed ? 1 : 0;
}
