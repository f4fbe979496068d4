// SPDX-License-Identifier: GPL-2.0
/*
 * Validation of imp2 v2 requests with the kernel's own netlink policy
 * machinery (nla_policy tables and strict nlmsg_parse()), which 6.12 has
 * no Rust binding for.  The Rust side gets a plain filter or an errno,
 * with the extended-ack message already set and naming the attribute.
 */
#include <linux/bitops.h>
#include <linux/filter.h>
#include <linux/netlink.h>
#include <linux/string.h>
#include <net/netlink.h>

#include "imp2_helpers.h"
#include "uapi/imp2.h"

static const char *const imp2_attr_names[__IMP2_A_MAX] = {
	[IMP2_A_UNSPEC]		= "IMP2_A_UNSPEC",
	[IMP2_A_FAMILIES]	= "IMP2_A_FAMILIES",
	[IMP2_A_PROTOS]		= "IMP2_A_PROTOS",
	[IMP2_A_PROTO]		= "IMP2_A_PROTO",
	[IMP2_A_FAMILY]		= "IMP2_A_FAMILY",
	[IMP2_A_SRC]		= "IMP2_A_SRC",
	[IMP2_A_DST]		= "IMP2_A_DST",
	[IMP2_A_ICMP_TYPE]	= "IMP2_A_ICMP_TYPE",
	[IMP2_A_ICMP_CODE]	= "IMP2_A_ICMP_CODE",
	[IMP2_A_IFINDEX]	= "IMP2_A_IFINDEX",
	[IMP2_A_LEN]		= "IMP2_A_LEN",
	[IMP2_A_TSTAMP_NS]	= "IMP2_A_TSTAMP_NS",
	[IMP2_A_SEQ]		= "IMP2_A_SEQ",
	[IMP2_A_PORTID]		= "IMP2_A_PORTID",
	[IMP2_A_EVENTS_SENT]	= "IMP2_A_EVENTS_SENT",
	[IMP2_A_SEND_FAILURES]	= "IMP2_A_SEND_FAILURES",
	[IMP2_A_PAD]		= "IMP2_A_PAD",
	[IMP2_A_BATCH]		= "IMP2_A_BATCH",
	[IMP2_A_FLUSH_MS]	= "IMP2_A_FLUSH_MS",
	[IMP2_A_SNAPLEN]	= "IMP2_A_SNAPLEN",
	[IMP2_A_PAYLOAD]	= "IMP2_A_PAYLOAD",
	[IMP2_A_SAMPLE]		= "IMP2_A_SAMPLE",
	[IMP2_A_RATE_LIMIT]	= "IMP2_A_RATE_LIMIT",
	[IMP2_A_RATE_BURST]	= "IMP2_A_RATE_BURST",
	[IMP2_A_SUPPRESSED]	= "IMP2_A_SUPPRESSED",
	[IMP2_A_SUPPRESSED_TOTAL] = "IMP2_A_SUPPRESSED_TOTAL",
	[IMP2_A_BPF]		= "IMP2_A_BPF",
	[IMP2_A_BPF_INSNS]	= "IMP2_A_BPF_INSNS",
	[IMP2_A_HOOK]		= "IMP2_A_HOOK",
	[IMP2_A_OUT_IFINDEX]	= "IMP2_A_OUT_IFINDEX",
};

/* Inside IMP2_A_PROTOS: only IMP2_A_PROTO entries, one per protocol. */
static const struct nla_policy imp2_protos_policy[IMP2_A_MAX + 1] = {
	[IMP2_A_PROTO]		= { .type = NLA_U8 },
};

/* Ranges wider than NLA_POLICY_RANGE's s16 bounds. */
static const struct netlink_range_validation imp2_snaplen_range = {
	.min = 0, .max = IMP2_SNAPLEN_MAX,
};
static const struct netlink_range_validation imp2_rate_range = {
	.min = 1, .max = IMP2_RATE_MAX,
};

/* IMP2_V2_SUBSCRIBE: every other attribute type is refused (strict parse). */
static const struct nla_policy imp2_subscribe_policy[IMP2_A_MAX + 1] = {
	[IMP2_A_FAMILIES]	= NLA_POLICY_MASK(NLA_U32, IMP2_FAMILY_ALL),
	[IMP2_A_PROTOS]		= NLA_POLICY_NESTED(imp2_protos_policy),
	[IMP2_A_BATCH]		= NLA_POLICY_RANGE(NLA_U32, 1, IMP2_BATCH_MAX),
	[IMP2_A_FLUSH_MS]	= NLA_POLICY_RANGE(NLA_U32, 1, IMP2_FLUSH_MS_MAX),
	[IMP2_A_SNAPLEN]	= NLA_POLICY_FULL_RANGE(NLA_U32, &imp2_snaplen_range),
	[IMP2_A_SAMPLE]		= NLA_POLICY_MIN(NLA_U32, 1),
	[IMP2_A_RATE_LIMIT]	= NLA_POLICY_FULL_RANGE(NLA_U32, &imp2_rate_range),
	[IMP2_A_RATE_BURST]	= NLA_POLICY_FULL_RANGE(NLA_U32, &imp2_rate_range),
	[IMP2_A_BPF]		= { .type = NLA_BINARY,
				    .len = IMP2_BPF_MAXINSNS * sizeof(struct sock_filter) },
	[IMP2_A_HOOK]		= NLA_POLICY_MAX(NLA_U32, IMP2_HOOK_MAX),
};

/*
 * Prefix the extack message with the name of the attribute it is about,
 * e.g. "IMP2_A_FAMILIES: Invalid attribute value".
 */
static void imp2_name_bad_attr(struct netlink_ext_ack *extack)
{
	char why[NETLINK_MAX_FMTMSG_LEN];
	const char *name;
	int type;

	if (!extack || !extack->bad_attr)
		return;
	type = nla_type(extack->bad_attr);
	/* The message may already live in _msg_buf, which we format into. */
	strscpy(why, extack->_msg ?: "invalid", sizeof(why));
	name = type < __IMP2_A_MAX ? imp2_attr_names[type] : NULL;
	if (name)
		NL_SET_ERR_MSG_FMT(extack, "%s: %s", name, why);
	else
		NL_SET_ERR_MSG_FMT(extack, "attribute type %d: %s", type, why);
}

/* nla_parse() keeps the last of duplicate attributes silently: refuse them. */
static int imp2_refuse_duplicates(const struct nlmsghdr *nlh, struct netlink_ext_ack *extack)
{
	const struct nlattr *nla;
	DECLARE_BITMAP(seen, __IMP2_A_MAX) = {};
	int rem, type;

	nlmsg_for_each_attr(nla, nlh, 0, rem) {
		type = nla_type(nla);
		if (type >= __IMP2_A_MAX)
			continue;	/* unknown: the strict parse refuses it */
		if (__test_and_set_bit(type, seen)) {
			NL_SET_BAD_ATTR(extack, nla);
			NL_SET_ERR_MSG(extack, "duplicate attribute");
			imp2_name_bad_attr(extack);
			return -EINVAL;
		}
	}
	return 0;
}

int imp2_v2_parse_subscribe(const struct nlmsghdr *nlh, struct imp2_v2_filter *filter,
			    struct netlink_ext_ack *extack)
{
	struct nlattr *tb[IMP2_A_MAX + 1];
	const struct nlattr *nla;
	int err, rem;

	err = imp2_refuse_duplicates(nlh, extack);
	if (err)
		return err;
	err = nlmsg_parse(nlh, 0, tb, IMP2_A_MAX, imp2_subscribe_policy, extack);
	/* A value out of its policy range is a bad attribute like any other. */
	if (err == -ERANGE)
		err = -EINVAL;
	if (err) {
		/*
		 * Bytes left over are reported without an attribute. If the top
		 * level parses whole, they were inside a nest, and
		 * IMP2_A_PROTOS is the only one.
		 */
		if (extack && !extack->bad_attr) {
			const struct nlattr *protos = NULL;

			nlmsg_for_each_attr(nla, nlh, 0, rem)
				if (nla_type(nla) == IMP2_A_PROTOS)
					protos = nla;
			if (protos && rem == 0)
				NL_SET_BAD_ATTR(extack, protos);
		}
		imp2_name_bad_attr(extack);
		return err;
	}

	memset(filter, 0, sizeof(*filter));
	filter->families = tb[IMP2_A_FAMILIES] ? nla_get_u32(tb[IMP2_A_FAMILIES]) : IMP2_FAMILY_ALL;
	if (!filter->families) {
		NL_SET_ERR_MSG_ATTR(extack, tb[IMP2_A_FAMILIES], "IMP2_A_FAMILIES: no family selected");
		return -EINVAL;
	}
	if (tb[IMP2_A_FLUSH_MS] && !tb[IMP2_A_BATCH]) {
		NL_SET_ERR_MSG_ATTR(extack, tb[IMP2_A_FLUSH_MS], "IMP2_A_FLUSH_MS: needs IMP2_A_BATCH");
		return -EINVAL;
	}
	if (tb[IMP2_A_RATE_BURST] && !tb[IMP2_A_RATE_LIMIT]) {
		NL_SET_ERR_MSG_ATTR(extack, tb[IMP2_A_RATE_BURST], "IMP2_A_RATE_BURST: needs IMP2_A_RATE_LIMIT");
		return -EINVAL;
	}
	filter->batch = tb[IMP2_A_BATCH] ? nla_get_u32(tb[IMP2_A_BATCH]) : 1;
	filter->flush_ms = tb[IMP2_A_FLUSH_MS] ? nla_get_u32(tb[IMP2_A_FLUSH_MS]) : IMP2_FLUSH_MS_DEFAULT;
	filter->snaplen = tb[IMP2_A_SNAPLEN] ? nla_get_u32(tb[IMP2_A_SNAPLEN]) : 0;
	if (filter->batch > 1 && filter->snaplen > IMP2_SNAPLEN_BATCH_MAX) {
		NL_SET_ERR_MSG_ATTR_FMT(extack, tb[IMP2_A_SNAPLEN],
					"IMP2_A_SNAPLEN: %u cannot fit a batch datagram: at most %u when batching",
					filter->snaplen, IMP2_SNAPLEN_BATCH_MAX);
		return -EINVAL;
	}
	filter->sample = tb[IMP2_A_SAMPLE] ? nla_get_u32(tb[IMP2_A_SAMPLE]) : 1;
	filter->rate_limit = tb[IMP2_A_RATE_LIMIT] ? nla_get_u32(tb[IMP2_A_RATE_LIMIT]) : 0;
	filter->rate_burst = tb[IMP2_A_RATE_BURST] ? nla_get_u32(tb[IMP2_A_RATE_BURST]) : filter->rate_limit;
	if (tb[IMP2_A_BPF]) {
		int len = nla_len(tb[IMP2_A_BPF]);

		if (len == 0 || len % sizeof(struct sock_filter)) {
			NL_SET_ERR_MSG_ATTR_FMT(extack, tb[IMP2_A_BPF],
						"IMP2_A_BPF: %d bytes is not 1 or more struct sock_filter (8 bytes)",
						len);
			return -EINVAL;
		}
		filter->bpf = tb[IMP2_A_BPF];
		filter->bpf_insns = len / sizeof(struct sock_filter);
	}
	filter->hook = tb[IMP2_A_HOOK] ? nla_get_u32(tb[IMP2_A_HOOK]) : IMP2_HOOK_PREROUTING;
	filter->default_protos = !tb[IMP2_A_PROTOS];
	if (tb[IMP2_A_PROTOS]) {
		/* Validated above: every entry is an IMP2_A_PROTO u8. */
		nla_for_each_nested(nla, tb[IMP2_A_PROTOS], rem)
			__set_bit(nla_get_u8(nla), filter->protos);
		if (bitmap_empty(filter->protos, IMP2_NUM_PROTOS)) {
			NL_SET_ERR_MSG_ATTR(extack, tb[IMP2_A_PROTOS], "IMP2_A_PROTOS: no protocol listed");
			return -EINVAL;
		}
	}
	return 0;
}

/*
 * Loads a subscribe's IMP2_A_BPF (validated above) with the kernel's own
 * checks; a program they refuse is EINVAL, with the attribute named.
 */
int imp2_v2_load_bpf(const struct nlattr *attr, struct bpf_prog **prog, struct netlink_ext_ack *extack)
{
	int err = imp2_bpf_create(prog, nla_data(attr), nla_len(attr) / sizeof(struct sock_filter));

	/* As xt_bpf: whatever the checks or the JIT refuse is EINVAL. */
	if (err && err != -ENOMEM) {
		NL_SET_ERR_MSG_ATTR(extack, attr, "IMP2_A_BPF: not a valid classic BPF program (bpf_check_classic)");
		err = -EINVAL;
	}
	return err;
}

/* Whether a message carries IMP2_A_BPF (not validated: a bounded scan). */
bool imp2_v2_carries_bpf(const struct nlmsghdr *nlh)
{
	return nlmsg_find_attr(nlh, 0, IMP2_A_BPF) != NULL;
}

/* Requests that take no attributes refuse any they carry. */
int imp2_v2_parse_empty(const struct nlmsghdr *nlh, struct netlink_ext_ack *extack)
{
	int len = nlmsg_attrlen(nlh, 0);

	if (len == 0)
		return 0;
	NL_SET_ERR_MSG(extack, "this request takes no attributes");
	/* Name it only if a whole attribute header is there to read. */
	if (len >= NLA_HDRLEN) {
		NL_SET_BAD_ATTR(extack, nlmsg_attrdata(nlh, 0));
		imp2_name_bad_attr(extack);
	}
	return -EINVAL;
}
