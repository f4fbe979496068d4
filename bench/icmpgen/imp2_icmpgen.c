// SPDX-License-Identifier: GPL-2.0
/*
 * An in-kernel ICMP echo request source, for `make bench` only: what
 * pktgen's netif_receive mode is to UDP, for the matching path.  Loading it
 * injects `count` echo requests from `saddr` to `daddr` into device `dev` of
 * the loading task's netns, each a fresh skb handed to netif_receive_skb()
 * with bottom halves off, prints how long that took (ktime, which under
 * QEMU's -icount counts instructions) and stays loaded doing nothing.
 * No userspace sender, no scheduler: the time is the receive path's alone.
 */
#include <linux/etherdevice.h>
#include <linux/icmp.h>
#include <linux/inet.h>
#include <linux/ip.h>
#include <linux/module.h>
#include <linux/netdevice.h>
#include <linux/nsproxy.h>
#include <linux/skbuff.h>
#include <net/checksum.h>
#include <net/ip.h>

static char *dev = "dummy0";
module_param(dev, charp, 0444);
MODULE_PARM_DESC(dev, "device to receive the packets on (loading task's netns)");
static unsigned int count = 30016;
module_param(count, uint, 0444);
MODULE_PARM_DESC(count, "echo requests to inject");
static char *saddr = "10.97.0.2";
module_param(saddr, charp, 0444);
static char *daddr = "10.97.0.1";
module_param(daddr, charp, 0444);

#define ICMPGEN_PAYLOAD 56

/* An Ethernet frame to the device: echo request, 84 bytes of IP. */
static struct sk_buff *icmpgen_skb(struct net_device *ndev, __be32 src, __be32 dst, u16 seq)
{
	unsigned int ip_len = sizeof(struct iphdr) + sizeof(struct icmphdr) + ICMPGEN_PAYLOAD;
	struct sk_buff *skb = alloc_skb(NET_IP_ALIGN + ETH_HLEN + ip_len, GFP_KERNEL);
	struct ethhdr *eth;
	struct iphdr *iph;
	struct icmphdr *icmph;

	if (!skb)
		return NULL;
	skb_reserve(skb, NET_IP_ALIGN);
	eth = skb_put(skb, ETH_HLEN);
	ether_addr_copy(eth->h_dest, ndev->dev_addr);
	eth_zero_addr(eth->h_source);
	eth->h_source[0] = 0x02;
	eth->h_proto = htons(ETH_P_IP);
	iph = skb_put_zero(skb, sizeof(*iph));
	iph->version = 4;
	iph->ihl = 5;
	iph->tot_len = htons(ip_len);
	iph->ttl = 64;
	iph->protocol = IPPROTO_ICMP;
	iph->saddr = src;
	iph->daddr = dst;
	iph->check = ip_fast_csum(iph, iph->ihl);
	icmph = skb_put_zero(skb, sizeof(*icmph) + ICMPGEN_PAYLOAD);
	icmph->type = ICMP_ECHO;
	icmph->un.echo.id = htons(0x1302);
	icmph->un.echo.sequence = htons(seq);
	icmph->checksum = csum_fold(csum_partial(icmph, sizeof(*icmph) + ICMPGEN_PAYLOAD, 0));
	skb->dev = ndev;
	skb->protocol = eth_type_trans(skb, ndev);
	return skb;
}

static int __init icmpgen_init(void)
{
	struct net_device *ndev;
	__be32 src, dst;
	unsigned int sent = 0;
	u64 start, ns;

	if (!in4_pton(saddr, -1, (u8 *)&src, -1, NULL) || !in4_pton(daddr, -1, (u8 *)&dst, -1, NULL)) {
		pr_err("imp2_icmpgen: saddr and daddr must be IPv4 addresses\n");
		return -EINVAL;
	}
	ndev = dev_get_by_name(current->nsproxy->net_ns, dev);
	if (!ndev) {
		pr_err("imp2_icmpgen: no device %s in this netns\n", dev);
		return -ENODEV;
	}
	start = ktime_get_ns();
	for (; sent < count; sent++) {
		struct sk_buff *skb = icmpgen_skb(ndev, src, dst, (u16)sent);

		if (!skb)
			break;
		local_bh_disable();
		netif_receive_skb(skb);
		local_bh_enable();
	}
	ns = ktime_get_ns() - start;
	dev_put(ndev);
	pr_info("imp2_icmpgen: %u echo requests into %s in %llu ns\n", sent, dev, ns);
	return 0;
}

static void __exit icmpgen_exit(void)
{
}

module_init(icmpgen_init);
module_exit(icmpgen_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("imp2 benchmark: in-kernel ICMP echo request source");
