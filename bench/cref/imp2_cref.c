// SPDX-License-Identifier: GPL-2.0
/*
 * imp2_cref: a C reference implementation of imp2.ko, used only by the
 * benchmarks (make bench) to compare Rust with C fairly.  Same hook (IPv4
 * PRE_ROUTING, NF_IP_PRI_FILTER - 1), same wire protocol (include/uapi/
 * imp2.h), same locking (subscriber behind an rwlock read in the hook and
 * written with _bh; requests queued and drained under a down_trylock()
 * semaphore), same fixes (NETLINK_CB portid, CAP_NET_ADMIN, URELEASE,
 * validation, acks only on NLM_F_ACK, per-netns state, counters, first
 * fragments only, a minimal read section, no late subscribe of a closed
 * port, hook unregistered in pre_exit).
 * Default unit 30 so that it can be loaded next to imp2.ko.
 */
#include <linux/atomic.h>
#include <linux/capability.h>
#include <linux/ip.h>
#include <linux/module.h>
#include <linux/netfilter.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netlink.h>
#include <linux/notifier.h>
#include <linux/semaphore.h>
#include <linux/skbuff.h>
#include <linux/spinlock.h>
#include <net/ip.h>
#include <net/net_namespace.h>
#include <net/netlink.h>
#include <net/netns/generic.h>
#include <net/sock.h>

#include "uapi/imp2.h"

static int unit = 30;
module_param(unit, int, 0444);
MODULE_PARM_DESC(unit, "netlink protocol unit (default 30)");

static unsigned int cref_net_id __read_mostly;
static bool accepting;

struct cref_net {
	rwlock_t lock;			/* protects subscriber */
	u32 subscriber;
	struct sk_buff_head inbox;
	struct semaphore drain;
	atomic_t next_seq;
	atomic64_t events_sent, send_failures, alloc_failures, rejected_msgs,
		   packets_seen, send_refused;
	struct sock *nlsk;
	struct nf_hook_ops ops;
};

struct cref_cb {
	struct netlink_skb_parms nl;
	bool net_admin;
};
#define CREF_CB(skb) ((struct cref_cb *)(skb)->cb)

static unsigned int cref_hook(void *priv, struct sk_buff *skb,
			      const struct nf_hook_state *state)
{
	struct cref_net *cn = priv;
	struct iphdr _iph;
	const struct iphdr *iph;
	struct packet_info *info;
	struct nlmsghdr *nlh;
	struct sk_buff *msg;
	u32 portid, seq;
	int err;

	iph = skb_header_pointer(skb, 0, sizeof(_iph), &_iph);
	if (!iph || iph->version != 4 || iph->ihl < 5 || iph->protocol != IPPROTO_ICMP ||
	    (ntohs(iph->frag_off) & IP_OFFSET))
		return NF_ACCEPT;
	atomic64_inc(&cn->packets_seen);

	read_lock(&cn->lock);
	portid = cn->subscriber;
	read_unlock(&cn->lock);
	if (!portid)
		return NF_ACCEPT;

	seq = atomic_inc_return(&cn->next_seq) - 1;
	msg = nlmsg_new(sizeof(*info), GFP_ATOMIC | __GFP_NOWARN);
	if (!msg) {
		atomic64_inc(&cn->alloc_failures);
		return NF_ACCEPT;
	}
	nlh = nlmsg_put(msg, 0, seq, IMP2_K_MSG, sizeof(*info), 0);
	if (!nlh) {
		kfree_skb(msg);
		atomic64_inc(&cn->alloc_failures);
		return NF_ACCEPT;
	}
	info = nlmsg_data(nlh);
	info->src = iph->saddr;
	info->dest = iph->daddr;
	err = netlink_unicast(cn->nlsk, msg, portid, MSG_DONTWAIT);
	if (err < 0) {
		atomic64_inc(&cn->send_failures);
		if (err == -ECONNREFUSED)
			atomic64_inc(&cn->send_refused);
	} else {
		atomic64_inc(&cn->events_sent);
	}
	return NF_ACCEPT;
}

static int cref_stats(struct cref_net *cn, struct sk_buff *in, const struct nlmsghdr *req)
{
	struct imp2_stats *st;
	struct nlmsghdr *nlh;
	struct sk_buff *msg;

	msg = nlmsg_new(sizeof(*st), GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	nlh = nlmsg_put(msg, 0, req->nlmsg_seq, IMP2_STATS, sizeof(*st), 0);
	if (!nlh) {
		kfree_skb(msg);
		return -EMSGSIZE;
	}
	st = nlmsg_data(nlh);
	st->events_sent = atomic64_read(&cn->events_sent);
	st->send_failures = atomic64_read(&cn->send_failures);
	st->alloc_failures = atomic64_read(&cn->alloc_failures);
	st->rejected_msgs = atomic64_read(&cn->rejected_msgs);
	st->packets_seen = atomic64_read(&cn->packets_seen);
	st->send_refused = atomic64_read(&cn->send_refused);
	read_lock_bh(&cn->lock);
	st->subscriber_portid = CREF_CB(in)->net_admin ? cn->subscriber : 0;
	read_unlock_bh(&cn->lock);
	st->unit = unit;
	return netlink_unicast(in->sk, msg, NETLINK_CB(in).portid, MSG_DONTWAIT) < 0 ? -ENOBUFS : 0;
}

static int cref_message(struct cref_net *cn, struct sk_buff *skb, struct nlmsghdr *nlh)
{
	u32 portid = NETLINK_CB(skb).portid;
	int err = 0;

	switch (nlh->nlmsg_type) {
	case IMP2_U_PID:
		if (!READ_ONCE(accepting))
			return -EAGAIN;
		if (!CREF_CB(skb)->net_admin)
			return -EPERM;
		if (!portid)
			return -EINVAL;
		write_lock_bh(&cn->lock);
		if (sock_flag(NETLINK_CB(skb).sk, SOCK_DEAD))
			err = -ECONNREFUSED;
		else
			cn->subscriber = portid;
		write_unlock_bh(&cn->lock);
		break;
	case IMP2_CLOSE:
		write_lock_bh(&cn->lock);
		if (cn->subscriber == portid)
			cn->subscriber = 0;
		else
			err = -EPERM;
		write_unlock_bh(&cn->lock);
		break;
	case IMP2_STATS_GET:
		err = cref_stats(cn, skb, nlh);
		break;
	default:
		err = -EOPNOTSUPP;
	}
	return err;
}

static void cref_request(struct cref_net *cn, struct sk_buff *skb)
{
	unsigned int off = 0;

	while (off < skb->len) {
		struct nlmsghdr *nlh = (struct nlmsghdr *)(skb->data + off);
		unsigned int rest = skb->len - off;
		int err;

		if (rest < NLMSG_HDRLEN || nlh->nlmsg_len < NLMSG_HDRLEN || nlh->nlmsg_len > rest) {
			atomic64_inc(&cn->rejected_msgs);
			break;
		}
		err = cref_message(cn, skb, nlh);
		if (err)
			atomic64_inc(&cn->rejected_msgs);
		if (nlh->nlmsg_flags & NLM_F_ACK)
			netlink_ack(skb, nlh, err, NULL);
		off += min_t(unsigned int, NLMSG_ALIGN(nlh->nlmsg_len), rest);
	}
	if (!skb->len)
		atomic64_inc(&cn->rejected_msgs);
}

static void cref_input(struct sk_buff *skb)
{
	struct cref_net *cn = net_generic(sock_net(skb->sk), cref_net_id);
	struct sk_buff *req;

	CREF_CB(skb)->net_admin = netlink_net_capable(skb, CAP_NET_ADMIN);
	sock_hold(NETLINK_CB(skb).sk);
	skb_queue_tail(&cn->inbox, skb_get(skb));
	do {
		if (down_trylock(&cn->drain))
			return;
		while ((req = skb_dequeue(&cn->inbox))) {
			cref_request(cn, req);
			sock_put(NETLINK_CB(req).sk);
			consume_skb(req);
		}
		up(&cn->drain);
	} while (!skb_queue_empty_lockless(&cn->inbox));
}

static int __net_init cref_net_init(struct net *net)
{
	struct cref_net *cn = net_generic(net, cref_net_id);
	struct netlink_kernel_cfg cfg = { .input = cref_input };
	int err;

	rwlock_init(&cn->lock);
	skb_queue_head_init(&cn->inbox);
	sema_init(&cn->drain, 1);
	cn->nlsk = netlink_kernel_create(net, unit, &cfg);
	if (!cn->nlsk)
		return -EBUSY;
	cn->ops = (struct nf_hook_ops) {
		.hook = cref_hook,
		.priv = cn,
		.pf = NFPROTO_IPV4,
		.hooknum = NF_INET_PRE_ROUTING,
		.priority = NF_IP_PRI_FILTER - 1,
	};
	err = nf_register_net_hook(net, &cn->ops);
	if (err) {
		netlink_kernel_release(cn->nlsk);
		return err;
	}
	return 0;
}

/* Running hooks may still use cn: the pernet core waits for them (RCU)
 * between pre_exit and exit. */
static void __net_exit cref_net_pre_exit(struct net *net)
{
	struct cref_net *cn = net_generic(net, cref_net_id);

	nf_unregister_net_hook(net, &cn->ops);
}

static void __net_exit cref_net_exit(struct net *net)
{
	struct cref_net *cn = net_generic(net, cref_net_id);
	struct sk_buff *req;

	netlink_kernel_release(cn->nlsk);
	while ((req = skb_dequeue(&cn->inbox))) {
		sock_put(NETLINK_CB(req).sk);
		consume_skb(req);
	}
}

static struct pernet_operations cref_net_ops = {
	.init = cref_net_init,
	.pre_exit = cref_net_pre_exit,
	.exit = cref_net_exit,
	.id = &cref_net_id,
	.size = sizeof(struct cref_net),
};

static int cref_urelease(struct notifier_block *nb, unsigned long action, void *data)
{
	struct netlink_notify *n = data;
	struct cref_net *cn;

	if (action != NETLINK_URELEASE || n->protocol != unit)
		return NOTIFY_DONE;
	cn = net_generic(n->net, cref_net_id);
	write_lock_bh(&cn->lock);
	if (cn->subscriber == n->portid)
		cn->subscriber = 0;
	write_unlock_bh(&cn->lock);
	return NOTIFY_DONE;
}

static struct notifier_block cref_notifier = { .notifier_call = cref_urelease };

static int __init cref_init(void)
{
	int err;

	BUILD_BUG_ON(sizeof(struct cref_cb) > sizeof_field(struct sk_buff, cb));
	if (unit < 0 || unit >= MAX_LINKS)
		return -EINVAL;
	err = register_pernet_subsys(&cref_net_ops);
	if (err)
		return err;
	err = netlink_register_notifier(&cref_notifier);
	if (err) {
		unregister_pernet_subsys(&cref_net_ops);
		return err;
	}
	WRITE_ONCE(accepting, true);
	pr_info("loaded: netlink unit %d (C reference)\n", unit);
	return 0;
}

static void __exit cref_exit(void)
{
	WRITE_ONCE(accepting, false);
	netlink_unregister_notifier(&cref_notifier);
	unregister_pernet_subsys(&cref_net_ops);
	pr_info("unloaded\n");
}

module_init(cref_init);
module_exit(cref_exit);
MODULE_DESCRIPTION("imp2 C reference implementation (benchmarks only)");
MODULE_LICENSE("GPL");
