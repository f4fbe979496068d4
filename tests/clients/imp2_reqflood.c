// SPDX-License-Identifier: GPL-2.0
/*
 * Test helper: flood the imp2 module's kernel socket (port 0) with requests,
 * or probe how long privileged requests wait for their ack meanwhile.
 *
 *   imp2_reqflood [-u UNIT] [-d MS] [-c COUNT] [-s BYTES] [-b SNDBUF] [-a] [-t MS] small|big
 *   imp2_reqflood [-u UNIT] [-n N] [-t MS] [-i MS] [-k sub|stats|upid] probe
 *
 * small: datagrams of one 16-byte message of an unknown type (0x7f), sent
 *        64 at a time with sendmmsg(), as fast as possible.
 * big:   datagrams as large as SO_SNDBUF allows (sk_sndbuf - 32, ~208 KB by
 *        default; -b asks for another SO_SNDBUF first, -s sets the size),
 *        packed with 16-byte messages of type 0x7f.  EMSGSIZE shrinks the
 *        datagram by an eighth, and so do 3 ENOBUFS in a row.
 * Both flood for -d MS milliseconds (default 5000) or -c COUNT datagrams,
 * whichever ends first, or until SIGTERM/SIGINT.  Messages carry
 * NLM_F_REQUEST only; -a sets NLM_F_ACK on the first message of each
 * datagram and counts the acks that come back (the flood reads them
 * without blocking; with -c it then waits up to -t MS, default 1000, for
 * the missing ones and prints each ack as "ack seq=S error=E latency_ms=L").
 * EAGAIN, ENOBUFS, ENOMEM and any other send error are counted and backed
 * off from (1 ms; 10 ms for ECONNREFUSED), never fatal.  Lines printed:
 *   started mode=M datagram_bytes=B msgs_per_datagram=N   (after the first send)
 *   progress mode=M datagrams=D elapsed_ms=T              (about every second)
 *   flood mode=M datagram_bytes=B msgs_per_datagram=N datagrams=D messages=K
 *         bytes=Y enobufs=E eagain=A emsgsize=S other_errors=O acks=C
 *         acks_enobufs=F elapsed_ms=T                       (at the end, one line)
 *
 * probe: N (-n, default 6) requests, one at a time, each with
 *        NLM_F_REQUEST|NLM_F_ACK and nlmsg_seq 1..N: IMP2_V2_SUBSCRIBE with
 *        no attributes (-k sub, the default), IMP2_STATS_GET (-k stats) or
 *        IMP2_U_PID (-k upid).  Each waits up to -t MS (default 1000) for the
 *        ack with its own seq; -i MS pauses between them (default 0).  Prints
 *          probe seq=S error=E latency_ms=L    or    probe seq=S timeout after_ms=T
 *        and at the end
 *          probe kind=K sent=N acked=A ok=O timeouts=T max_ms=L late=X
 *        (ok: acks with error 0; late: acks for an earlier seq that came
 *        after it timed out; max_ms over the acks received).
 * Exit status: 0 when done (whatever the acks said), 2 on usage or socket
 * setup errors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/netlink.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "uapi/imp2.h"

#define UNKNOWN_TYPE	0x7f
#define SMALL_BATCH	64
#define MAX_DATAGRAM	(4 << 20)

static volatile sig_atomic_t stop;
static unsigned char *buf;
static unsigned char rbuf[65536];

struct counts {
	unsigned long long datagrams, messages, bytes;
	unsigned long long enobufs, eagain, emsgsize, other_errors;
	unsigned long long acks, acks_enobufs;
	unsigned long long acks_waited;	/* with -c: acks for seq 1..COUNT */
};

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "imp2_reqflood: %s%s%s\n", what, err ? ": " : "", err ? strerror(err) : "");
	exit(2);
}

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void pause_ms(long ms)
{
	struct timespec t = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	nanosleep(&t, NULL);
}

static int open_socket(int unit)
{
	struct sockaddr_nl local = { .nl_family = AF_NETLINK };
	int fd = socket(AF_NETLINK, SOCK_RAW, unit);

	if (fd < 0)
		die("socket", errno);
	if (bind(fd, (struct sockaddr *)&local, sizeof(local)))
		die("bind", errno);
	return fd;
}

/*
 * Reads whatever is queued on fd (waiting up to wait_ms for the first
 * datagram; 0: not at all) and calls on_ack for every NLMSG_ERROR in it.
 * Returns the number of datagrams read.
 */
static int read_acks(int fd, int wait_ms, void (*on_ack)(const struct nlmsgerr *, void *), void *arg)
{
	int got = 0;

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;
		size_t off;

		if (poll(&pfd, 1, got ? 0 : wait_ms) <= 0)
			return got;
		n = recv(fd, rbuf, sizeof(rbuf), MSG_DONTWAIT);
		if (n < 0) {
			if (errno == ENOBUFS)	/* our own receive buffer overran */
				continue;
			return got;
		}
		got++;
		for (off = 0; off + NLMSG_HDRLEN <= (size_t)n;) {
			struct nlmsghdr *h = (struct nlmsghdr *)(rbuf + off);

			if (h->nlmsg_len < NLMSG_HDRLEN || off + h->nlmsg_len > (size_t)n)
				break;
			if (h->nlmsg_type == NLMSG_ERROR && h->nlmsg_len >= NLMSG_LENGTH(sizeof(struct nlmsgerr)))
				on_ack(NLMSG_DATA(h), arg);
			off += NLMSG_ALIGN(h->nlmsg_len);
		}
	}
}

/* --- flood ----------------------------------------------------------------- */

struct flood_acks {
	struct counts *c;
	double *sent_at;	/* with -c: send time of datagram seq (1-based) */
	unsigned long count;
};

static void flood_ack(const struct nlmsgerr *e, void *arg)
{
	struct flood_acks *fa = arg;
	uint32_t seq = e->msg.nlmsg_seq;

	fa->c->acks++;
	if (e->error == -ENOBUFS)
		fa->c->acks_enobufs++;
	/* Only the first message of a datagram asks for an ack and has a seq. */
	if (fa->sent_at && seq >= 1 && seq <= fa->count) {
		fa->c->acks_waited++;
		printf("ack seq=%u error=%d latency_ms=%.3f\n", seq, e->error, now_ms() - fa->sent_at[seq]);
		fflush(stdout);
	}
}

/* Fills buf with n 16-byte messages of UNKNOWN_TYPE; returns their size. */
static size_t fill(size_t n, int ack)
{
	size_t i;

	for (i = 0; i < n; i++) {
		struct nlmsghdr *h = (struct nlmsghdr *)(buf + i * NLMSG_HDRLEN);

		h->nlmsg_len = NLMSG_HDRLEN;
		h->nlmsg_type = UNKNOWN_TYPE;
		h->nlmsg_flags = NLM_F_REQUEST | (ack && i == 0 ? NLM_F_ACK : 0);
		h->nlmsg_seq = 0;
		h->nlmsg_pid = 0;
	}
	return n * NLMSG_HDRLEN;
}

/* Counts a failed send and backs off; returns 1 if the size should shrink. */
static int send_failed(struct counts *c, int err, int *enobufs_run, const char *mode)
{
	static int reported;

	switch (err) {
	case EINTR:
		return 0;
	case EMSGSIZE:
		c->emsgsize++;
		return 1;
	case ENOBUFS:
	case ENOMEM:
		c->enobufs++;
		pause_ms(1);
		return ++*enobufs_run >= 3;
	case EAGAIN:
		c->eagain++;
		pause_ms(1);
		return 0;
	default:
		if (!reported++)
			fprintf(stderr, "imp2_reqflood %s: send: %s (counted, going on)\n", mode, strerror(err));
		c->other_errors++;
		pause_ms(err == ECONNREFUSED ? 10 : 1);
		return 0;
	}
}

static int flood(int unit, int big, long duration_ms, unsigned long count, long size,
		 int sndbuf, int ack, int wait_ms)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	const char *mode = big ? "big" : "small";
	struct counts c = { 0 };
	struct flood_acks fa = { .c = &c, .count = count };
	struct mmsghdr mm[SMALL_BATCH];
	struct iovec iov[SMALL_BATCH];
	unsigned char small[SMALL_BATCH][NLMSG_HDRLEN];
	double start, next_progress;
	int fd = open_socket(unit), started = 0, enobufs_run = 0;
	uint32_t seq = 0;
	size_t len, msgs;
	socklen_t sl = sizeof(sndbuf);

	if (sndbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)))
		die("SO_SNDBUF", errno);
	if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &sl))
		die("getsockopt SO_SNDBUF", errno);
	if (big) {
		/* netlink_sendmsg(): EMSGSIZE beyond sk_sndbuf - 32. */
		if (size <= 0)
			size = sndbuf - 32;
		if (size > MAX_DATAGRAM)
			size = MAX_DATAGRAM;
		msgs = (size_t)size / NLMSG_HDRLEN;
		if (!msgs)
			msgs = 1;
		buf = malloc(msgs * NLMSG_HDRLEN);
		if (!buf)
			die("malloc", errno);
		len = fill(msgs, ack);
	} else {
		buf = small[0];
		msgs = 1;
		len = NLMSG_HDRLEN;
		for (int i = 0; i < SMALL_BATCH; i++) {
			buf = small[i];
			fill(1, ack);
			iov[i] = (struct iovec){ .iov_base = small[i], .iov_len = NLMSG_HDRLEN };
			mm[i] = (struct mmsghdr){ .msg_hdr = {
				.msg_name = &kernel, .msg_namelen = sizeof(kernel),
				.msg_iov = &iov[i], .msg_iovlen = 1 } };
		}
	}
	if (count) {
		fa.sent_at = calloc(count + 1, sizeof(double));
		if (!fa.sent_at)
			die("calloc", errno);
	}

	start = now_ms();
	next_progress = start + 1000;
	while (!stop && (!count || c.datagrams < count)) {
		double t = now_ms();
		int sent;

		if (t - start >= duration_ms)
			break;
		if (t >= next_progress) {
			printf("progress mode=%s datagrams=%llu elapsed_ms=%.0f\n", mode, c.datagrams, t - start);
			fflush(stdout);
			next_progress += 1000;
		}
		if (big) {
			((struct nlmsghdr *)buf)->nlmsg_seq = ++seq;
			if (fa.sent_at)
				fa.sent_at[seq] = t;
			sent = sendto(fd, buf, len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0 ? -1 : 1;
		} else {
			unsigned int n = SMALL_BATCH;

			if (count && count - c.datagrams < n)
				n = (unsigned int)(count - c.datagrams);
			for (unsigned int i = 0; i < n; i++) {
				((struct nlmsghdr *)small[i])->nlmsg_seq = seq + 1 + i;
				if (fa.sent_at)
					fa.sent_at[seq + 1 + i] = t;
			}
			sent = sendmmsg(fd, mm, n, 0);
			if (sent > 0)
				seq += sent;
		}
		if (sent < 0) {
			if (big)
				seq--;
			if (send_failed(&c, errno, &enobufs_run, mode) && big && msgs > 1) {
				msgs -= msgs / 8 ? msgs / 8 : 1;
				len = msgs * NLMSG_HDRLEN;
				enobufs_run = 0;
			}
		} else {
			enobufs_run = 0;
			c.datagrams += sent;
			c.messages += (unsigned long long)sent * msgs;
			c.bytes += (unsigned long long)sent * len;
			if (!started++) {
				printf("started mode=%s datagram_bytes=%zu msgs_per_datagram=%zu\n", mode, len, msgs);
				fflush(stdout);
			}
		}
		if (ack)
			read_acks(fd, 0, flood_ack, &fa);
	}
	if (ack && count) {
		double deadline = now_ms() + wait_ms;

		while (c.acks_waited < c.datagrams && now_ms() < deadline)
			if (!read_acks(fd, (int)(deadline - now_ms()) + 1, flood_ack, &fa))
				break;
	}
	printf("flood mode=%s datagram_bytes=%zu msgs_per_datagram=%zu datagrams=%llu messages=%llu "
	       "bytes=%llu enobufs=%llu eagain=%llu emsgsize=%llu other_errors=%llu acks=%llu "
	       "acks_enobufs=%llu elapsed_ms=%.0f\n",
	       mode, len, msgs, c.datagrams, c.messages, c.bytes, c.enobufs, c.eagain, c.emsgsize,
	       c.other_errors, c.acks, c.acks_enobufs, now_ms() - start);
	fflush(stdout);
	close(fd);
	return 0;
}

/* --- probe ----------------------------------------------------------------- */

struct probe_wait {
	uint32_t seq;	/* the request waited for */
	int done, error;
	unsigned long late;
};

static void probe_ack(const struct nlmsgerr *e, void *arg)
{
	struct probe_wait *pw = arg;

	if (e->msg.nlmsg_seq == pw->seq && !pw->done) {
		pw->done = 1;
		pw->error = e->error;
	} else if (e->msg.nlmsg_seq < pw->seq) {
		pw->late++;
	}
}

static int probe(int unit, int n, int timeout_ms, int interval_ms, const char *kind)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	struct probe_wait pw = { 0 };
	unsigned long acked = 0, ok = 0, timeouts = 0;
	double max_ms = 0;
	uint16_t type;
	int fd;

	if (!strcmp(kind, "sub"))
		type = IMP2_V2_SUBSCRIBE;
	else if (!strcmp(kind, "stats"))
		type = IMP2_STATS_GET;
	else if (!strcmp(kind, "upid"))
		type = IMP2_U_PID;
	else
		die("-k takes sub, stats or upid", 0);
	fd = open_socket(unit);

	for (int i = 1; i <= n && !stop; i++) {
		struct nlmsghdr h = {
			.nlmsg_len = NLMSG_HDRLEN, .nlmsg_type = type,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK, .nlmsg_seq = (uint32_t)i,
		};
		double sent, deadline;

		if (i > 1 && interval_ms > 0)
			pause_ms(interval_ms);
		pw.seq = (uint32_t)i;
		pw.done = 0;
		sent = now_ms();
		deadline = sent + timeout_ms;
		if (sendto(fd, &h, sizeof(h), 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0) {
			printf("probe seq=%d send_error=%d\n", i, -errno);
			fflush(stdout);
			timeouts++;
			continue;
		}
		while (!pw.done) {
			double left = deadline - now_ms();

			if (left <= 0)
				break;
			read_acks(fd, (int)left + 1, probe_ack, &pw);
		}
		if (pw.done) {
			double lat = now_ms() - sent;

			acked++;
			ok += pw.error == 0;
			if (lat > max_ms)
				max_ms = lat;
			printf("probe seq=%d error=%d latency_ms=%.3f\n", i, pw.error, lat);
		} else {
			timeouts++;
			printf("probe seq=%d timeout after_ms=%d\n", i, timeout_ms);
		}
		fflush(stdout);
	}
	printf("probe kind=%s sent=%d acked=%lu ok=%lu timeouts=%lu max_ms=%.3f late=%lu\n",
	       kind, n, acked, ok, timeouts, max_ms, pw.late);
	fflush(stdout);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	int unit = NL_IMP2, ack = 0, sndbuf = 0, n = 6, timeout_ms = 1000, interval_ms = 0, opt;
	long duration_ms = 5000, size = 0;
	unsigned long count = 0;
	const char *kind = "sub";
	struct sigaction sa = { .sa_handler = on_signal };

	while ((opt = getopt(argc, argv, "u:d:c:s:b:at:n:i:k:")) != -1) {
		switch (opt) {
		case 'u': unit = atoi(optarg); break;
		case 'd': duration_ms = atol(optarg); break;
		case 'c': count = strtoul(optarg, NULL, 0); break;
		case 's': size = atol(optarg); break;
		case 'b': sndbuf = atoi(optarg); break;
		case 'a': ack = 1; break;
		case 't': timeout_ms = atoi(optarg); break;
		case 'n': n = atoi(optarg); break;
		case 'i': interval_ms = atoi(optarg); break;
		case 'k': kind = optarg; break;
		default: goto usage;
		}
	}
	if (optind + 1 != argc)
		goto usage;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (!strcmp(argv[optind], "small") || !strcmp(argv[optind], "big"))
		return flood(unit, argv[optind][0] == 'b', duration_ms, count, size, sndbuf, ack, timeout_ms);
	if (!strcmp(argv[optind], "probe"))
		return probe(unit, n, timeout_ms, interval_ms, kind);
usage:
	fprintf(stderr, "usage: imp2_reqflood [-u UNIT] [-d MS] [-c COUNT] [-s BYTES] [-b SNDBUF] [-a] [-t MS] small|big\n"
			"       imp2_reqflood [-u UNIT] [-n N] [-t MS] [-i MS] [-k sub|stats|upid] probe\n");
	return 2;
}
