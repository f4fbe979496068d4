// SPDX-License-Identifier: GPL-2.0
/*
 * NFLOG (nfnetlink_log) reader through libnetfilter_log, set up and read
 * the way ulogd2's NFLOG input plugin does, as a benchmark peer for imp2
 * that decodes every field imp2's consumer decodes.
 *
 *   imp2_nflog_lib [-g GROUP] [-t SECS] [-c COUNT] [-q QTHRESH] [-r RCVBUF]
 *
 * The same interface and output as imp2_nflog.c (the header-counting
 * floor): binds to log group GROUP (default 5), here in packet copy mode
 * with a COPY_RANGE-byte range (the IPv4 or IPv6 header and the ICMP
 * header); -q sets the queue threshold with a 10 ms flush timeout; counts
 * packets for SECS seconds, up to COUNT of them, or until SIGINT/SIGTERM,
 * then prints "nflog: N events, M overruns".  For every packet the
 * callback reads the packet header, input interface, timestamp and
 * payload, parses the IP and ICMP headers in the payload (addresses,
 * protocol, total length, ICMP type and code) and folds them into a
 * volatile checksum, so that none of that work can be left out.
 *
 * Linked dynamically: Debian ships libnetfilter_log, libnfnetlink and
 * libmnl as shared libraries only (scripts/build-tools.sh).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <linux/netfilter/nfnetlink.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <libnetfilter_log/libnetfilter_log.h>

/* An IPv6 header (40) and an ICMPv6 header (8) fit; so do an IPv4 header
 * with options (up to 60) and the ICMP type and code. */
#define COPY_RANGE 64
/* ulogd2's default receive buffer ("bufsize"): above the kernel's largest
 * nlbufsiz (128 KiB), so one recv always takes a whole datagram. */
#define RECV_BUFSIZE 150000

static volatile sig_atomic_t stop;
static volatile uint64_t sink;   /* what the decoded fields add up to */
static long events, no_timestamp, no_payload, not_ip;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint32_t get32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static unsigned int get16be(const unsigned char *p)
{
	return (unsigned int)p[0] << 8 | p[1];
}

static uint64_t fold_bytes(const unsigned char *p, size_t n)
{
	uint64_t h = 0;

	for (size_t i = 0; i < n; i += 4)
		h = h * 31 + get32(p + i);
	return h;
}

/* The fields imp2 reports, from the payload: family, addresses, L4
 * protocol, length, ICMP type and code; 0 where the payload has none. */
static uint64_t decode_payload(const unsigned char *p, int len)
{
	unsigned int proto, tot_len, type = 0, code = 0, hlen;
	uint64_t addrs;

	if (len >= 20 && p[0] >> 4 == 4) {
		hlen = (p[0] & 0x0f) * 4;
		if (hlen < 20 || hlen > (unsigned int)len)
			goto bad;
		addrs = (uint64_t)get32(p + 12) << 32 | get32(p + 16);
		proto = p[9];
		tot_len = get16be(p + 2);
		if (proto == IPPROTO_ICMP && (unsigned int)len >= hlen + 2) {
			type = p[hlen];
			code = p[hlen + 1];
		}
		return addrs ^ ((uint64_t)AF_INET << 56 | (uint64_t)proto << 40 |
				(uint64_t)tot_len << 16 | type << 8 | code);
	}
	if (len >= 40 && p[0] >> 4 == 6) {
		addrs = fold_bytes(p + 8, 32);   /* source and destination */
		proto = p[6];
		tot_len = 40 + get16be(p + 4);
		if (proto == IPPROTO_ICMPV6 && len >= 42) {
			type = p[40];
			code = p[41];
		}
		return addrs ^ ((uint64_t)AF_INET6 << 56 | (uint64_t)proto << 40 |
				(uint64_t)tot_len << 16 | type << 8 | code);
	}
bad:
	not_ip++;
	return 0;
}

static int on_packet(struct nflog_g_handle *gh, struct nfgenmsg *nfmsg,
		     struct nflog_data *nfa, void *data)
{
	struct nfulnl_msg_packet_hdr *ph = nflog_get_msg_packet_hdr(nfa);
	uint32_t indev = nflog_get_indev(nfa);
	struct timeval tv;
	char *payload;
	int len = nflog_get_payload(nfa, &payload);
	uint64_t h = (uint64_t)nfmsg->nfgen_family << 32 | indev;

	(void)gh;
	(void)data;
	if (ph)
		h += (uint64_t)ntohs(ph->hw_protocol) << 8 | ph->hook;
	if (nflog_get_timestamp(nfa, &tv) == 0)
		h += (uint64_t)tv.tv_sec * 1000000 + tv.tv_usec;
	else
		no_timestamp++;
	if (len >= 0)
		h += decode_payload((const unsigned char *)payload, len) + (unsigned int)len;
	else
		no_payload++;
	sink = sink * 1099511628211ULL + h;
	events++;
	return 0;
}

static int number(const char *s, long max, long *out)
{
	char *end;

	errno = 0;
	*out = strtol(s, &end, 10);
	return !errno && end != s && !*end && *out >= 0 && *out <= max;
}

static void usage(void)
{
	fprintf(stderr, "usage: imp2_nflog_lib [-g GROUP] [-t SECS] [-c COUNT] [-q QTHRESH] [-r RCVBUF]\n");
	exit(2);
}

static void fail(const char *what)
{
	fprintf(stderr, "imp2_nflog_lib: %s: %s\n", what, strerror(errno));
	exit(2);
}

int main(int argc, char **argv)
{
	long group = 5, secs = 0, qthresh = 0, rcvbuf = 0, count = 0;
	struct sigaction sa = { .sa_handler = on_signal };
	static char buf[RECV_BUFSIZE];
	struct nflog_handle *h;
	struct nflog_g_handle *gh;
	long overruns = 0;
	struct timespec t0, t;
	int fd, opt;

	while ((opt = getopt(argc, argv, "g:t:c:q:r:")) != -1) {
		switch (opt) {
		case 'g': if (!number(optarg, UINT16_MAX, &group)) usage(); break;
		case 't': if (!number(optarg, INT_MAX, &secs)) usage(); break;
		case 'c': if (!number(optarg, LONG_MAX, &count)) usage(); break;
		case 'q': if (!number(optarg, INT_MAX, &qthresh)) usage(); break;
		case 'r': if (!number(optarg, INT_MAX, &rcvbuf)) usage(); break;
		default: usage();
		}
	}
	if (optind < argc)
		usage();
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	h = nflog_open();
	if (!h)
		fail("nflog_open (CONFIG_NETFILTER_NETLINK_LOG?)");
	fd = nflog_fd(h);
	if (rcvbuf) {
		int v = rcvbuf;

		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)) &&
		    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v)))
			perror("imp2_nflog_lib: SO_RCVBUFFORCE and SO_RCVBUF");
	}
	/* As ulogd2 does: unbind any other handler of the family, then bind.
	 * Since Linux 3.17 both are no-ops that succeed; an older kernel's
	 * refusal does not stop the group binding from working. */
	if (nflog_unbind_pf(h, AF_INET) < 0)
		fprintf(stderr, "imp2_nflog_lib: nflog_unbind_pf(AF_INET) failed (ignored): %s\n", strerror(errno));
	if (nflog_bind_pf(h, AF_INET) < 0)
		fprintf(stderr, "imp2_nflog_lib: nflog_bind_pf(AF_INET) failed (ignored): %s\n", strerror(errno));
	gh = nflog_bind_group(h, group);
	if (!gh)
		fail("nflog_bind_group (another reader on the group?)");
	if (nflog_set_mode(gh, NFULNL_COPY_PACKET, COPY_RANGE) < 0)
		fail("nflog_set_mode");
	if (qthresh > 0) {
		if (nflog_set_qthresh(gh, qthresh) < 0)
			fail("nflog_set_qthresh");
		if (nflog_set_timeout(gh, 1) < 0)   /* in 1/100 s: 10 ms */
			fail("nflog_set_timeout");
	}
	if (nflog_callback_register(gh, on_packet, NULL) < 0)
		fail("nflog_callback_register");
	printf("nflog: bound to group %ld\n", group);
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
		nflog_handle_packet(h, buf, n);
	}
	printf("nflog: %ld events, %ld overruns\n", events, overruns);
	fprintf(stderr, "imp2_nflog_lib: checksum %016llx; packets without timestamp %ld, without payload %ld, not IPv4/IPv6 %ld\n",
		(unsigned long long)sink, no_timestamp, no_payload, not_ip);
	nflog_unbind_group(gh);
	nflog_close(h);
	return 0;
}
