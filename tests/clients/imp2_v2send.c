// SPDX-License-Identifier: GPL-2.0
/*
 * Test helper: send hand-crafted protocol v2 requests (also deliberately
 * malformed ones) to the imp2 module and print the replies, extended-ack
 * text included.
 *
 *   imp2_v2send [-u UNIT] [-w MS] [-p PORTID] [-c] [-k] SPEC...
 *
 * Every SPEC is one request, sent as its own datagram, in order.  A SPEC is
 * one argument of space-separated words; the first says what it is:
 *   sub      IMP2_V2_SUBSCRIBE        unsub    IMP2_V2_UNSUBSCRIBE
 *   list     IMP2_LISTENERS_GET       type=T   any message type T
 * and the others add to it, in the order given (so attributes can be
 * repeated, misordered or wrong on purpose):
 *   families=N        IMP2_A_FAMILIES, u32 N
 *   protos=P,P,...    IMP2_A_PROTOS (NLA_F_NESTED) holding one IMP2_A_PROTO
 *                     u8 per P; "protos=" is an empty nest
 *   attr=T:HEX        an attribute of type T (flags included, e.g. 0x8002)
 *                     whose value is the bytes HEX (may be empty: "attr=5:")
 *   nla=LEN:T:HEX     the same with nla_len forced to LEN (a wrong length)
 *   raw=HEX           raw bytes appended to the payload, no header
 *   flags=F seq=S     override nlmsg_flags (default NLM_F_REQUEST|NLM_F_ACK)
 *                     and nlmsg_seq (default: the SPEC's position, from 1)
 *   after=PATH        send this request only once file PATH exists (replies
 *                     that come meanwhile are printed); gives up after 30 s
 * Example: imp2_v2send -w 500 "sub families=1 protos=1,58" "attr=1:0300" list
 *
 * NETLINK_EXT_ACK is set (-c also sets NETLINK_CAP_ACK).  Replies are
 * printed, one line each, as
 *   ack seq=S error=E [offs=N ]msg=TEXT    (NLMSG_ERROR; msg= may be empty)
 *   msg type=T seq=S len=L                 (anything else)
 * until every request that asked for an ack got one, or nothing came for
 * -w MS (default 1000) milliseconds; -k keeps reading until then (to see
 * events).  -p binds to that port id (default: autobind).
 * Exit status: 0 if everything was sent, 2 on usage or socket errors.
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

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

static unsigned char msg[65536];
static size_t msg_len;
/* The after= file of the SPEC being built, if any. */
static const char *send_after;

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "imp2_v2send: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	exit(2);
}

static unsigned long number(const char *text, const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(text, &end, 0);
	if (errno || end == text || (*end && *end != ':' && *end != ','))
		die("not a number", what);
	return v;
}

static void append(const void *data, size_t len)
{
	if (msg_len + len > sizeof(msg))
		die("request too large", NULL);
	memcpy(msg + msg_len, data, len);
	msg_len += len;
}

static void pad_to_alignment(void)
{
	static const unsigned char zeros[NLA_ALIGNTO];

	append(zeros, NLA_ALIGN(msg_len) - msg_len);
}

/* Appends HEX (pairs of hex digits) as bytes; returns how many. */
static size_t append_hex(const char *hex)
{
	size_t n = 0;

	for (; hex[0] && hex[1]; hex += 2, n++) {
		char pair[3] = { hex[0], hex[1], 0 };
		char *end;
		unsigned char byte = (unsigned char)strtoul(pair, &end, 16);

		if (*end)
			die("bad hex", hex);
		append(&byte, 1);
	}
	if (*hex)
		die("odd number of hex digits", hex);
	return n;
}

/* Starts an attribute; its nla_len is fixed up by end_attr(). */
static size_t begin_attr(uint16_t type)
{
	struct nlattr nla = { .nla_type = type };
	size_t at = msg_len;

	append(&nla, sizeof(nla));
	return at;
}

static void end_attr(size_t at, long forced_len)
{
	struct nlattr *nla = (struct nlattr *)(msg + at);

	nla->nla_len = forced_len >= 0 ? (uint16_t)forced_len : (uint16_t)(msg_len - at);
	pad_to_alignment();
}

static void add_u32_attr(uint16_t type, uint32_t value)
{
	size_t at = begin_attr(type);

	append(&value, sizeof(value));
	end_attr(at, -1);
}

static void add_protos(char *list)
{
	size_t nest = begin_attr(IMP2_A_PROTOS | NLA_F_NESTED);
	char *tok, *save;

	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		size_t at = begin_attr(IMP2_A_PROTO);
		unsigned char proto = (unsigned char)number(tok, "protos");

		append(&proto, 1);
		end_attr(at, -1);
	}
	end_attr(nest, -1);
}

/* "T:HEX" (forced_len < 0) or, for nla=, "LEN:T:HEX". */
static void add_raw_attr(char *spec, int with_len)
{
	long forced_len = -1;
	char *colon;
	size_t at;

	if (with_len) {
		forced_len = (long)number(spec, "nla= length");
		colon = strchr(spec, ':');
		if (!colon)
			die("nla= needs LEN:TYPE:HEX", spec);
		spec = colon + 1;
	}
	colon = strchr(spec, ':');
	if (!colon)
		die("attr= needs TYPE:HEX", spec);
	at = begin_attr((uint16_t)number(spec, "attribute type"));
	append_hex(colon + 1);
	end_attr(at, forced_len);
}

/* Builds the request for one SPEC into msg; returns its nlmsg_flags. */
static uint16_t build(char *spec, uint32_t default_seq)
{
	struct nlmsghdr *h = (struct nlmsghdr *)msg;
	char *word, *save;
	int first = 1;

	memset(msg, 0, NLMSG_HDRLEN);
	msg_len = NLMSG_HDRLEN;
	h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	h->nlmsg_seq = default_seq;
	send_after = NULL;
	for (word = strtok_r(spec, " ", &save); word; word = strtok_r(NULL, " ", &save), first = 0) {
		char *value = strchr(word, '=');

		if (value)
			*value++ = 0;
		if (first && !value && !strcmp(word, "sub"))
			h->nlmsg_type = IMP2_V2_SUBSCRIBE;
		else if (first && !value && !strcmp(word, "unsub"))
			h->nlmsg_type = IMP2_V2_UNSUBSCRIBE;
		else if (first && !value && !strcmp(word, "list"))
			h->nlmsg_type = IMP2_LISTENERS_GET;
		else if (first && value && !strcmp(word, "type"))
			h->nlmsg_type = (uint16_t)number(value, "type");
		else if (first)
			die("a SPEC starts with sub, unsub, list or type=T", word);
		else if (!value)
			die("expected KEY=VALUE", word);
		else if (!strcmp(word, "families"))
			add_u32_attr(IMP2_A_FAMILIES, (uint32_t)number(value, "families"));
		else if (!strcmp(word, "protos"))
			add_protos(value);
		else if (!strcmp(word, "attr"))
			add_raw_attr(value, 0);
		else if (!strcmp(word, "nla"))
			add_raw_attr(value, 1);
		else if (!strcmp(word, "raw"))
			append_hex(value);
		else if (!strcmp(word, "flags"))
			h->nlmsg_flags = (uint16_t)number(value, "flags");
		else if (!strcmp(word, "seq"))
			h->nlmsg_seq = (uint32_t)number(value, "seq");
		else if (!strcmp(word, "after"))
			send_after = value;
		else
			die("unknown key", word);
	}
	if (first)
		die("empty SPEC", NULL);
	h->nlmsg_len = (uint32_t)msg_len;
	return h->nlmsg_flags;
}

/* Prints an NLMSG_ERROR with its extended-ack TLVs (NLMSGERR_ATTR_*). */
static void print_ack(const struct nlmsghdr *h)
{
	const struct nlmsgerr *e = NLMSG_DATA(h);
	const unsigned char *end = (const unsigned char *)h + h->nlmsg_len;
	const unsigned char *p;
	const char *text = "";
	int text_len = 0;
	long offs = -1;

	/* The request is echoed whole unless capped (CAP_ACK, or any ack). */
	p = (const unsigned char *)&e->msg +
	    ((h->nlmsg_flags & NLM_F_CAPPED) ? NLMSG_HDRLEN : NLMSG_ALIGN(e->msg.nlmsg_len));
	while ((h->nlmsg_flags & NLM_F_ACK_TLVS) && p + NLA_HDRLEN <= end) {
		const struct nlattr *nla = (const struct nlattr *)p;

		if (nla->nla_len < NLA_HDRLEN || p + nla->nla_len > end)
			break;
		if ((nla->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG) {
			text = (const char *)(p + NLA_HDRLEN);
			text_len = (int)strnlen(text, nla->nla_len - NLA_HDRLEN);
		} else if ((nla->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_OFFS &&
			   nla->nla_len == NLA_HDRLEN + sizeof(uint32_t)) {
			uint32_t v;

			memcpy(&v, p + NLA_HDRLEN, sizeof(v));
			offs = v;
		}
		p += NLA_ALIGN(nla->nla_len);
	}
	printf("ack seq=%u error=%d ", e->msg.nlmsg_seq, e->error);
	if (offs >= 0)
		printf("offs=%ld ", offs);
	printf("msg=%.*s\n", text_len, text);
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/*
 * Waits up to wait_ms for a datagram and prints each message in it, one
 * line each; counts the acks off *acks_due.  Returns 0 if nothing came.
 */
static int print_replies(int fd, int wait_ms, int *acks_due)
{
	static unsigned char rbuf[65536];
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ssize_t n;
	size_t off;

	if (poll(&pfd, 1, wait_ms) <= 0)
		return 0;
	n = recv(fd, rbuf, sizeof(rbuf), 0);
	if (n < 0) {
		printf("recv error=%d\n", -errno);
		return 1;
	}
	for (off = 0; off + NLMSG_HDRLEN <= (size_t)n;) {
		struct nlmsghdr *h = (struct nlmsghdr *)(rbuf + off);

		if (h->nlmsg_len < NLMSG_HDRLEN || off + h->nlmsg_len > (size_t)n)
			break;
		/* From the kernel, type 2 is NLMSG_ERROR, never IMP2_CLOSE. */
		if (h->nlmsg_type == NLMSG_ERROR && h->nlmsg_len >= NLMSG_LENGTH(sizeof(struct nlmsgerr))) {
			print_ack(h);
			(*acks_due)--;
		} else {
			printf("msg type=%u seq=%u len=%u\n", h->nlmsg_type, h->nlmsg_seq, h->nlmsg_len);
		}
		off += NLMSG_ALIGN(h->nlmsg_len);
	}
	fflush(stdout);
	return 1;
}

int main(int argc, char **argv)
{
	struct sockaddr_nl local = { .nl_family = AF_NETLINK };
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	int unit = NL_IMP2, wait_ms = 1000, cap_ack = 0, keep = 0, one = 1, opt, fd, acks_due = 0;
	uint32_t seq = 0;

	while ((opt = getopt(argc, argv, "u:w:p:ck")) != -1) {
		switch (opt) {
		case 'u': unit = atoi(optarg); break;
		case 'w': wait_ms = atoi(optarg); break;
		case 'p': local.nl_pid = strtoul(optarg, NULL, 0); break;
		case 'c': cap_ack = 1; break;
		case 'k': keep = 1; break;
		default:
			fprintf(stderr, "usage: imp2_v2send [-u UNIT] [-w MS] [-p PORTID] [-c] [-k] SPEC...\n");
			return 2;
		}
	}
	if (optind >= argc)
		die("no SPEC given (sub, unsub, list, type=T ...)", NULL);

	fd = socket(AF_NETLINK, SOCK_RAW, unit);
	if (fd < 0)
		die("socket", strerror(errno));
	if (bind(fd, (struct sockaddr *)&local, sizeof(local)))
		die("bind", strerror(errno));
	if (setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one)))
		die("NETLINK_EXT_ACK", strerror(errno));
	if (cap_ack && setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one)))
		die("NETLINK_CAP_ACK", strerror(errno));

	for (; optind < argc; optind++) {
		if (build(argv[optind], ++seq) & NLM_F_ACK)
			acks_due++;
		for (double give_up = now_s() + 30; send_after && access(send_after, F_OK);) {
			if (now_s() > give_up)
				die("gave up waiting for after= file", send_after);
			print_replies(fd, 50, &acks_due);
		}
		if (sendto(fd, msg, msg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
			die("sendto", strerror(errno));
	}
	while ((keep || acks_due > 0) && print_replies(fd, wait_ms, &acks_due))
		;
	close(fd);
	return 0;
}
