// SPDX-License-Identifier: GPL-2.0
/*
 * Minimal NFQUEUE (nfnetlink_queue) verdict client: an NFQUEUE user beside
 * imp2, for tests/imp2_nfqueue.sh.
 *
 *   imp2_nfq_verdict [-q QUEUE] [-d DELAY_MS] [-t SECS] [-r RCVBUF]
 *
 * Binds to queue QUEUE (default 0) of the current netns, copy mode
 * NFQNL_COPY_PACKET with a 128-byte range (IP and ICMP headers), and
 * accepts (NF_ACCEPT) every packet DELAY_MS (default 20) milliseconds after
 * it arrived, so that packets are waiting in the queue most of the time.
 * Each queued IPv4 ICMP echo request is identified by its (id, seq); one
 * seen a second time (queued twice: a hook index shifted under it) is a
 * duplicate.  A verdict the kernel refuses (ENOENT: the packet was no
 * longer queued, e.g. flushed by nf_queue_nf_hook_drop() when a netfilter
 * hook of the netns was unregistered) counts as refused; the kernel only
 * answers verdicts that fail (no NLM_F_ACK).
 *
 * Prints "nfq: bound to queue Q" once bound, and on SIGINT/SIGTERM or after
 * SECS seconds (0: no limit) sends the verdicts still pending, then prints
 *   nfq-summary: received=R verdicts=V refused=X echo=E unique=U duplicates=D other=O enobufs=N
 * (received: packets queued to us; echo: of them, ICMP echo requests;
 * unique: distinct (id, seq); other: packets that were not).  Each
 * duplicate also prints "nfq: duplicate id=I seq=S".  Exit 0; 2 on setup
 * errors.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
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

#define COPY_RANGE 128

static int fd;
static unsigned int seq;
static int queue_num;
static volatile sig_atomic_t stop;
static long received, verdicts, refused, echo, unique, duplicates, other, enobufs;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static long long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* --- the set of (id, seq) seen: open addressing, 0 = empty slot --------- */

static uint64_t *set;
static size_t set_cap;	/* a power of two */

static size_t slot(uint64_t k, size_t cap)
{
	return (size_t)((k * 0x9E3779B97F4A7C15ULL) >> 20) & (cap - 1);
}

/* Adds key; returns 1 if it was new, 0 if already there. */
static int set_add(uint32_t key)
{
	uint64_t k = (uint64_t)key + 1;
	size_t i;

	if ((size_t)unique * 2 >= set_cap) {
		size_t ncap = set_cap ? set_cap * 2 : 4096;
		uint64_t *n = calloc(ncap, sizeof(*n));

		if (!n) {
			perror("imp2_nfq_verdict: calloc");
			exit(2);
		}
		for (size_t j = 0; j < set_cap; j++) {
			if (!set[j])
				continue;
			for (i = slot(set[j], ncap); n[i]; i = (i + 1) & (ncap - 1))
				;
			n[i] = set[j];
		}
		free(set);
		set = n;
		set_cap = ncap;
	}
	for (i = slot(k, set_cap); set[i]; i = (i + 1) & (set_cap - 1))
		if (set[i] == k)
			return 0;
	set[i] = k;
	return 1;
}

/* --- packets waiting for their verdict, in arrival order ---------------- */

struct pending {
	uint32_t id_be;		/* packet_id as the kernel sent it */
	long long due;
};
static struct pending *fifo;
static size_t fifo_cap, fifo_head, fifo_len;

static void fifo_push(uint32_t id_be, long long due)
{
	if (fifo_len == fifo_cap) {
		size_t ncap = fifo_cap ? fifo_cap * 2 : 256;
		struct pending *n = malloc(ncap * sizeof(*n));

		if (!n) {
			perror("imp2_nfq_verdict: malloc");
			exit(2);
		}
		for (size_t j = 0; j < fifo_len; j++)
			n[j] = fifo[(fifo_head + j) % fifo_cap];
		free(fifo);
		fifo = n;
		fifo_cap = ncap;
		fifo_head = 0;
	}
	fifo[(fifo_head + fifo_len) % fifo_cap] = (struct pending){ id_be, due };
	fifo_len++;
}

/* --- netlink ------------------------------------------------------------ */

static size_t put_attr(unsigned char *buf, size_t off, int type, const void *data, size_t len)
{
	struct nlattr *a = (struct nlattr *)(buf + off);

	a->nla_type = type;
	a->nla_len = NLA_HDRLEN + len;
	memcpy(buf + off + NLA_HDRLEN, data, len);
	return off + NLA_ALIGN(a->nla_len);
}

/* Starts an nfnetlink message of `type` for our queue in buf. */
static size_t start_msg(unsigned char *buf, int type, int flags)
{
	struct nlmsghdr *h = (struct nlmsghdr *)buf;
	struct nfgenmsg *g = NLMSG_DATA(h);

	memset(buf, 0, NLMSG_LENGTH(sizeof(*g)));
	h->nlmsg_type = (NFNL_SUBSYS_QUEUE << 8) | type;
	h->nlmsg_flags = NLM_F_REQUEST | flags;
	h->nlmsg_seq = ++seq;
	g->nfgen_family = AF_UNSPEC;
	g->version = NFNETLINK_V0;
	g->res_id = htons(queue_num);
	return NLMSG_LENGTH(sizeof(*g));
}

static int send_msg(unsigned char *buf, size_t len)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };

	((struct nlmsghdr *)buf)->nlmsg_len = len;
	return sendto(fd, buf, len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0 ? -errno : 0;
}

/* One NFQNL_MSG_CONFIG with one attribute, waiting for its ack. */
static void config(int attr_type, const void *data, size_t len)
{
	unsigned char buf[256];
	size_t off = start_msg(buf, NFQNL_MSG_CONFIG, NLM_F_ACK);
	unsigned int want = seq;
	int err;

	off = put_attr(buf, off, attr_type, data, len);
	err = send_msg(buf, off);
	if (err) {
		fprintf(stderr, "imp2_nfq_verdict: sendto: %s\n", strerror(-err));
		exit(2);
	}
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		struct nlmsghdr *h = (struct nlmsghdr *)buf;
		struct nlmsgerr *e = NLMSG_DATA(h);

		if (n < 0) {
			if (errno == EINTR || errno == ENOBUFS)
				continue;
			perror("imp2_nfq_verdict: recv ack");
			exit(2);
		}
		if (h->nlmsg_type == NLMSG_ERROR && e->msg.nlmsg_seq == want) {
			if (e->error) {
				fprintf(stderr, "imp2_nfq_verdict: config attr %d: %s%s\n", attr_type,
					strerror(-e->error),
					e->error == -EOPNOTSUPP || e->error == -ENOENT ?
						" (CONFIG_NETFILTER_NETLINK_QUEUE?)" : "");
				exit(2);
			}
			return;
		}
	}
}

static void send_verdict(uint32_t id_be)
{
	unsigned char buf[64];
	size_t off = start_msg(buf, NFQNL_MSG_VERDICT, 0);
	struct nfqnl_msg_verdict_hdr v = { .verdict = htonl(NF_ACCEPT), .id = id_be };
	int err;

	off = put_attr(buf, off, NFQA_VERDICT_HDR, &v, sizeof(v));
	while ((err = send_msg(buf, off)) == -EINTR)
		;
	if (err) {
		fprintf(stderr, "imp2_nfq_verdict: verdict for packet %u: %s\n", ntohl(id_be), strerror(-err));
		refused++;
		return;
	}
	verdicts++;
}

/* An NFQNL_MSG_PACKET: note it, classify its payload, schedule its verdict. */
static void on_packet(struct nlmsghdr *h, int delay_ms)
{
	struct nlattr *a = (struct nlattr *)((unsigned char *)NLMSG_DATA(h) + NLMSG_ALIGN(sizeof(struct nfgenmsg)));
	int rem = (int)h->nlmsg_len - NLMSG_LENGTH(sizeof(struct nfgenmsg));
	const struct nfqnl_msg_packet_hdr *ph = NULL;
	const unsigned char *p = NULL;
	int plen = 0;

	for (; rem >= (int)NLA_HDRLEN && a->nla_len >= NLA_HDRLEN && a->nla_len <= rem;
	     rem -= NLA_ALIGN(a->nla_len), a = (struct nlattr *)((unsigned char *)a + NLA_ALIGN(a->nla_len))) {
		int type = a->nla_type & NLA_TYPE_MASK;
		int len = a->nla_len - NLA_HDRLEN;

		if (type == NFQA_PACKET_HDR && len >= (int)sizeof(*ph))
			ph = (const void *)((unsigned char *)a + NLA_HDRLEN);
		else if (type == NFQA_PAYLOAD) {
			p = (unsigned char *)a + NLA_HDRLEN;
			plen = len;
		}
	}
	if (!ph) {
		fprintf(stderr, "imp2_nfq_verdict: a packet message without NFQA_PACKET_HDR\n");
		return;
	}
	received++;
	/* IPv4, protocol ICMP, first fragment, ICMP echo request (type 8). */
	if (p && plen >= 20 && (p[0] >> 4) == 4 && p[9] == 1 && !(((p[6] & 0x1f) << 8) | p[7])) {
		int ihl = (p[0] & 0x0f) * 4;

		if (ihl >= 20 && plen >= ihl + 8 && p[ihl] == 8) {
			unsigned int id = (p[ihl + 4] << 8) | p[ihl + 5];
			unsigned int sq = (p[ihl + 6] << 8) | p[ihl + 7];

			echo++;
			if (set_add((uint32_t)id << 16 | sq)) {
				unique++;
			} else {
				duplicates++;
				printf("nfq: duplicate id=%u seq=%u\n", id, sq);
				fflush(stdout);
			}
			goto schedule;
		}
	}
	other++;
schedule:
	fifo_push(ph->packet_id, now_ms() + delay_ms);
}

/* Everything in one datagram from the kernel. */
static void on_datagram(unsigned char *buf, ssize_t n, int delay_ms)
{
	for (struct nlmsghdr *h = (void *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
		if (h->nlmsg_type == ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET)) {
			on_packet(h, delay_ms);
		} else if (h->nlmsg_type == NLMSG_ERROR) {
			struct nlmsgerr *e = NLMSG_DATA(h);

			if (e->error) {	/* a verdict refused: ENOENT, no longer queued */
				refused++;
				if (e->error != -ENOENT)
					fprintf(stderr, "imp2_nfq_verdict: verdict refused: %s\n", strerror(-e->error));
			}
		}
	}
}

int main(int argc, char **argv)
{
	int delay_ms = 20, secs = 0, rcvbuf = 0, opt;
	struct sigaction sa = { .sa_handler = on_signal };
	static unsigned char buf[1 << 16];
	long long t0;

	while ((opt = getopt(argc, argv, "q:d:t:r:")) != -1) {
		switch (opt) {
		case 'q': queue_num = atoi(optarg); break;
		case 'd': delay_ms = atoi(optarg); break;
		case 't': secs = atoi(optarg); break;
		case 'r': rcvbuf = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: imp2_nfq_verdict [-q QUEUE] [-d DELAY_MS] [-t SECS] [-r RCVBUF]\n");
			return 2;
		}
	}
	sigaction(SIGINT, &sa, NULL);	/* no SA_RESTART: poll returns EINTR */
	sigaction(SIGTERM, &sa, NULL);
	fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_NETFILTER);
	if (fd < 0) {
		perror("imp2_nfq_verdict: socket (CONFIG_NETFILTER_NETLINK?)");
		return 2;
	}
	if (rcvbuf && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)))
		perror("imp2_nfq_verdict: SO_RCVBUFFORCE");

	struct nfqnl_msg_config_cmd bind = { .command = NFQNL_CFG_CMD_BIND };
	struct nfqnl_msg_config_params params = {
		.copy_range = htonl(COPY_RANGE),
		.copy_mode = NFQNL_COPY_PACKET,
	};

	config(NFQA_CFG_CMD, &bind, sizeof(bind));
	config(NFQA_CFG_PARAMS, &params, sizeof(params));
	printf("nfq: bound to queue %d\n", queue_num);
	fflush(stdout);

	t0 = now_ms();
	while (!stop) {
		long long now = now_ms();
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int timeout = 100;
		ssize_t n;

		if (secs && now - t0 >= (long long)secs * 1000)
			break;
		while (fifo_len && fifo[fifo_head].due <= now) {
			send_verdict(fifo[fifo_head].id_be);
			fifo_head = (fifo_head + 1) % fifo_cap;
			fifo_len--;
		}
		if (fifo_len && fifo[fifo_head].due - now < timeout)
			timeout = (int)(fifo[fifo_head].due - now);
		if (poll(&pfd, 1, timeout) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0) {
			/* Our receive buffer overflowed: the kernel dropped
			 * what it could not queue to us (user_dropped in
			 * /proc/net/netfilter/nfnetlink_queue). */
			if (errno == ENOBUFS)
				enobufs++;
			continue;
		}
		on_datagram(buf, n, delay_ms);
	}

	/* Release what is still held, then collect refusals for a moment. */
	while (fifo_len) {
		send_verdict(fifo[fifo_head].id_be);
		fifo_head = (fifo_head + 1) % fifo_cap;
		fifo_len--;
	}
	for (long long end = now_ms() + 100; now_ms() < end;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, 20) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0) {
			if (errno == ENOBUFS)
				enobufs++;
			continue;
		}
		/* Packets that arrive now are counted, and accepted right away. */
		on_datagram(buf, n, 0);
		while (fifo_len) {
			send_verdict(fifo[fifo_head].id_be);
			fifo_head = (fifo_head + 1) % fifo_cap;
			fifo_len--;
		}
	}
	printf("nfq-summary: received=%ld verdicts=%ld refused=%ld echo=%ld unique=%ld duplicates=%ld other=%ld enobufs=%ld\n",
	       received, verdicts, refused, echo, unique, duplicates, other, enobufs);
	return 0;
}
