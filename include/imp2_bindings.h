/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bindgen input for the imp2 module: the kernel APIs that 6.12's
 * kernel::bindings lacks (netfilter, pernet, netlink notifier, ...), our C
 * helpers and the wire ABI.  Generated with the kernel's own bindgen flags
 * by Kbuild into src/bindings_generated.rs.
 */
#include <linux/capability.h>
#include <linux/errno.h>
#include <linux/filter.h>
#include <linux/in.h>
#include <linux/netfilter.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6.h>
#include <linux/netlink.h>
#include <linux/notifier.h>
#include <linux/rcupdate.h>
#include <linux/semaphore.h>
#include <linux/skbuff.h>
#include <linux/socket.h>
#include <linux/spinlock.h>
#include <linux/timer.h>
#include <linux/workqueue.h>
#include <net/net_namespace.h>
#include <net/netlink.h>

#include "imp2_helpers.h"
#include "uapi/imp2.h"
