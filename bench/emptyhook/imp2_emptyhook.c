// SPDX-License-Identifier: GPL-2.0
/*
 * The cheapest possible netfilter hook, for `make bench` only: an IPv4
 * PRE_ROUTING hook at imp2's priority (NF_IP_PRI_FILTER - 1) in every
 * netns that returns NF_ACCEPT and does nothing else.  What a packet pays
 * to cross it is the floor for imp2's hook.
 */
#include <linux/module.h>
#include <linux/netfilter.h>
#include <linux/netfilter_ipv4.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>

static unsigned int emptyhook_net_id;

static unsigned int emptyhook_hook(void *priv, struct sk_buff *skb,
				   const struct nf_hook_state *state)
{
	return NF_ACCEPT;
}

static const struct nf_hook_ops emptyhook_ops_template = {
	.hook		= emptyhook_hook,
	.pf		= NFPROTO_IPV4,
	.hooknum	= NF_INET_PRE_ROUTING,
	.priority	= NF_IP_PRI_FILTER - 1,
};

static int __net_init emptyhook_net_init(struct net *net)
{
	struct nf_hook_ops *ops = net_generic(net, emptyhook_net_id);

	*ops = emptyhook_ops_template;
	return nf_register_net_hook(net, ops);
}

/* The ops live until .exit, a grace period after .pre_exit unregistered them. */
static void __net_exit emptyhook_net_pre_exit(struct net *net)
{
	nf_unregister_net_hook(net, net_generic(net, emptyhook_net_id));
}

static struct pernet_operations emptyhook_net_ops = {
	.init		= emptyhook_net_init,
	.pre_exit	= emptyhook_net_pre_exit,
	.id		= &emptyhook_net_id,
	.size		= sizeof(struct nf_hook_ops),
};

static int __init emptyhook_init(void)
{
	return register_pernet_subsys(&emptyhook_net_ops);
}

static void __exit emptyhook_exit(void)
{
	unregister_pernet_subsys(&emptyhook_net_ops);
}

module_init(emptyhook_init);
module_exit(emptyhook_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("imp2 benchmark: an empty IPv4 PRE_ROUTING hook, the floor for any hook");
