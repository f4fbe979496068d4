// SPDX-License-Identifier: GPL-2.0
/*
 * Non-inline wrappers for static-inline / macro kernel APIs used by the Rust
 * side of imp2.  See include/imp2_helpers.h.
 */
#include <linux/filter.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/version.h>
#include <linux/net.h>
#include <linux/netlink.h>
#include <linux/ratelimit.h>
#include <linux/semaphore.h>
#include <linux/skbuff.h>
#include <linux/spinlock.h>
#include <net/net_namespace.h>
#include <net/netns/generic.h>
#include <net/netlink.h>
#include <net/ipv6.h>
#include <net/sock.h>
#include <linux/netdevice.h>
#include <linux/netfilter.h>
#include <linux/rcupdate.h>
#include <linux/timekeeping.h>
#include <linux/timer.h>
#include <linux/jiffies.h>
#include <linux/workqueue.h>
#include <linux/sched.h>
#include <linux/fs.h>

#include "imp2_helpers.h"
#include "uapi/imp2.h"

#if LINUX_VERSION_CODE < KERNEL_VERSION(7, 0, 0)
/* 6.12 only: from 7.x on, `unit` is a Rust parameter in module! (params.rs). */
static int unit = NL_IMP2;
module_param(unit, int, 0444);
MODULE_PARM_DESC(unit, "netlink protocol unit (default 31, NL_IMP2)");

int imp2_param_unit(void)
{
	return unit;
}

static unsigned int max_listeners = IMP2_DEFAULT_MAX_LISTENERS;
module_param(max_listeners, uint, 0644);
MODULE_PARM_DESC(max_listeners, "most v2 listeners per netns (default 16)");

unsigned int imp2_param_max_listeners(void)
{
	return READ_ONCE(max_listeners);
}
#endif

static bool hooks_on_demand;
module_param(hooks_on_demand, bool, 0444);
MODULE_PARM_DESC(hooks_on_demand, "unregister a netns's hooks when its last listener leaves (default: keep them until the netns exits); each unregistration drops every packet that NFQUEUE users of the netns have queued (nf_queue_nf_hook_drop)");

bool imp2_param_hooks_on_demand(void)
{
	return READ_ONCE(hooks_on_demand);
}

bool imp2_net_ratelimit(void)
{
	static DEFINE_RATELIMIT_STATE(rs, 5 * HZ, 10);

	return __ratelimit(&rs);
}

const gfp_t IMP2_GFP_ATOMIC_NOWARN = GFP_ATOMIC | __GFP_NOWARN;
const gfp_t IMP2_GFP_NOWAIT_NOWARN = GFP_NOWAIT | __GFP_NOWARN;
const gfp_t IMP2_GFP_KERNEL = GFP_KERNEL;

void imp2_rwlock_init(rwlock_t *lock, const char *name, struct lock_class_key *key)
{
#ifdef CONFIG_DEBUG_SPINLOCK
	__rwlock_init(lock, name, key);
#else
	rwlock_init(lock);
#endif
}

void imp2_read_lock(rwlock_t *lock) { read_lock(lock); }
void imp2_read_unlock(rwlock_t *lock) { read_unlock(lock); }
void imp2_read_lock_bh(rwlock_t *lock) { read_lock_bh(lock); }
void imp2_read_unlock_bh(rwlock_t *lock) { read_unlock_bh(lock); }
void imp2_write_lock_bh(rwlock_t *lock) { write_lock_bh(lock); }
void imp2_write_unlock_bh(rwlock_t *lock) { write_unlock_bh(lock); }

void imp2_sema_init(struct semaphore *sem, int val)
{
	sema_init(sem, val);
}

struct sk_buff *imp2_skb_get(struct sk_buff *skb) { return skb_get(skb); }
void imp2_consume_skb(struct sk_buff *skb) { consume_skb(skb); }
void imp2_kfree_skb(struct sk_buff *skb) { kfree_skb(skb); }

void imp2_skb_queue_head_init(struct sk_buff_head *list)
{
	skb_queue_head_init(list);
}

bool imp2_skb_queue_empty_lockless(const struct sk_buff_head *list)
{
	return skb_queue_empty_lockless(list);
}

struct net *imp2_skb_net(const struct sk_buff *skb)
{
	return sock_net(skb->sk);
}

struct sock *imp2_netlink_kernel_create(struct net *net, int unit,
					void (*input)(struct sk_buff *skb))
{
	struct netlink_kernel_cfg cfg = { .input = input };

	return netlink_kernel_create(net, unit, &cfg);
}

u32 imp2_netlink_skb_portid(const struct sk_buff *skb)
{
	return NETLINK_CB(skb).portid;
}

struct sk_buff *imp2_nlmsg_new(size_t payload, gfp_t flags)
{
	return nlmsg_new(payload, flags);
}

void *imp2_nlmsg_put(struct sk_buff *skb, u32 portid, u32 seq, int type,
		     int payload, int flags)
{
	struct nlmsghdr *nlh = nlmsg_put(skb, portid, seq, type, payload, flags);

	return nlh ? nlmsg_data(nlh) : NULL;
}

struct imp2_request_cb {
	struct netlink_skb_parms nl;	/* first: NETLINK_CB() still works */
	bool net_admin;
};

#define IMP2_REQUEST_CB(skb) ((struct imp2_request_cb *)(skb)->cb)

void imp2_netlink_request_hold(struct sk_buff *skb, bool net_admin)
{
	BUILD_BUG_ON(sizeof(struct imp2_request_cb) > sizeof_field(struct sk_buff, cb));
	sock_hold(NETLINK_CB(skb).sk);
	IMP2_REQUEST_CB(skb)->net_admin = net_admin;
}

bool imp2_netlink_request_net_admin(const struct sk_buff *skb)
{
	return IMP2_REQUEST_CB(skb)->net_admin;
}

bool imp2_netlink_request_sender_dead(const struct sk_buff *skb)
{
	return imp2_sock_closing(NETLINK_CB(skb).sk);
}

void imp2_netlink_request_release(struct sk_buff *skb)
{
	sock_put(NETLINK_CB(skb).sk);
	consume_skb(skb);
}

struct sock *imp2_netlink_request_sender(const struct sk_buff *skb)
{
	return NETLINK_CB(skb).sk;
}

unsigned int imp2_skb_truesize(const struct sk_buff *skb)
{
	return skb->truesize;
}

void imp2_sock_hold(struct sock *sk) { sock_hold(sk); }
void imp2_sock_put(struct sock *sk) { sock_put(sk); }

/*
 * Whether a user socket is closed or being closed.  netlink_release()
 * unhashes the port (netlink_remove()) before it marks the socket dead
 * (sock_orphan()), so SOCK_DEAD alone leaves a window in which anyone may
 * bind the port of a socket that still looks alive.  But the release runs
 * only once the socket's file has lost its last reference (fput() ->
 * __fput() -> sock_close()), so a file count of 0 says "closing" from
 * before the unhash on.  Memory safety: the struct socket is freed an RCU
 * grace period after its inode (destroy_inode() -> call_rcu()), and files
 * are SLAB_TYPESAFE_BY_RCU (fs/file_table.c).  A file freed and reused
 * meanwhile can show a count above 0, but only once the release has
 * completed, so SOCK_DEAD, read after it, is set then.
 */
bool imp2_sock_closing(const struct sock *sk)
{
	struct socket *sock;
	struct file *file;
	bool closing;

	rcu_read_lock();
	sock = READ_ONCE(sk->sk_socket);
	file = sock ? READ_ONCE(sock->file) : NULL;
	closing = !file || !file_count(file);
	rcu_read_unlock();
	smp_rmb();	/* the file count, then the flag */
	return closing || sock_flag(sk, SOCK_DEAD);
}

void imp2_init_work(struct work_struct *work, void (*fn)(struct work_struct *))
{
	INIT_WORK(work, fn);
}
/*
 * Unbound: the work runs on any idle CPU, not in the per-CPU pool of the
 * CPU that queued it (which a busy sender may be loading).  7.x names it
 * system_dfl_wq.
 */
bool imp2_schedule_work(struct work_struct *work)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(7, 0, 0)
	return queue_work(system_dfl_wq, work);
#else
	return queue_work(system_unbound_wq, work);
#endif
}
void imp2_cond_resched(void) { cond_resched(); }
/* Disables BHs unless they are already (softirq, or a BH-disabled section). */
bool imp2_local_bh_disable_unless_off(void)
{
	if (softirq_count())
		return false;
	local_bh_disable();
	return true;
}
void imp2_local_bh_enable(void) { local_bh_enable(); }

void *imp2_net_generic(const struct net *net, unsigned int id)
{
	return net_generic(net, id);
}

u64 imp2_net_cookie(const struct net *net)
{
	return net->net_cookie;
}

void imp2_rcu_read_lock(void) { rcu_read_lock(); }
void imp2_rcu_read_unlock(void) { rcu_read_unlock(); }

u64 imp2_ktime_get_real_ns(void)
{
	return ktime_get_real_ns();
}

u64 imp2_ktime_get_ns(void)
{
	return ktime_get_ns();
}

static_assert(IMP2_BPF_MAXINSNS == BPF_MAXINSNS);

/* bpf_prog_create() copies the instructions: they need not outlive it. */
int imp2_bpf_create(struct bpf_prog **prog, const void *insns, u32 len)
{
	struct sock_fprog_kern fprog = {
		.len = len,
		.filter = (struct sock_filter *)insns,
	};

	if (len > BPF_MAXINSNS)
		return -EINVAL;
	return bpf_prog_create(prog, &fprog);
}

/* As socket filters run them (sk_filter_trim_cap()): migration disabled. */
u32 imp2_bpf_run(const struct bpf_prog *prog, struct sk_buff *skb)
{
	return bpf_prog_run_save_cb(prog, skb);
}

void imp2_bpf_destroy(struct bpf_prog *prog)
{
	bpf_prog_destroy(prog);
}

/*
 * An interface index means something only in its own netns: at
 * POSTROUTING, state->in is skb->dev from before ip_output() (or
 * ip6_output()), which for a tunnel's encapsulated packets is the tunnel
 * device, possibly in another netns (iptunnel_xmit() runs ip_local_out()
 * in the underlay's).  Such an interface is reported as none.
 */
static u32 imp2_ifindex_in(const struct net_device *dev, const struct net *net)
{
	return dev && net_eq(dev_net(dev), net) ? dev->ifindex : 0;
}

u32 imp2_nf_state_in_ifindex(const struct nf_hook_state *state)
{
	return imp2_ifindex_in(state->in, state->net);
}

u32 imp2_nf_state_out_ifindex(const struct nf_hook_state *state)
{
	return imp2_ifindex_in(state->out, state->net);
}

int imp2_ipv6_upper_layer(const struct sk_buff *skb, u8 *nexthdr, bool *first_fragment)
{
	__be16 frag_off = 0;
	int offset = ipv6_skip_exthdr(skb, sizeof(struct ipv6hdr), nexthdr, &frag_off);

	*first_fragment = !(frag_off & htons(IP6_OFFSET));
	return offset;
}

struct sk_buff *imp2_skb_from_bytes(const void *data, unsigned int len, gfp_t flags)
{
	struct sk_buff *skb = alloc_skb(len, flags);

	if (skb)
		skb_put_data(skb, data, len);
	return skb;
}

struct sk_buff *imp2_skb_alloc(unsigned int size, gfp_t flags)
{
	return alloc_skb(size, flags);
}

void *imp2_skb_tail(struct sk_buff *skb, unsigned int *room)
{
	*room = max(skb_tailroom(skb), 0);
	return skb_tail_pointer(skb);
}

void imp2_spin_lock_bh(spinlock_t *lock) { spin_lock_bh(lock); }
void imp2_spin_unlock_bh(spinlock_t *lock) { spin_unlock_bh(lock); }
bool imp2_spin_trylock_bh(spinlock_t *lock) { return spin_trylock_bh(lock); }
void imp2_spin_assert_is_held(spinlock_t *lock) { lockdep_assert_held(lock); }

void imp2_timer_setup(struct timer_list *timer, void (*fn)(struct timer_list *))
{
	timer_setup(timer, fn, 0);
}
unsigned long imp2_jiffies_after_ms(unsigned int ms) { return jiffies + msecs_to_jiffies(ms); }
unsigned long imp2_jiffies(void) { return jiffies; }

#ifdef IMP2_TEST_KNOBS
/*
 * Test-only knobs: delays and a fault point that make race windows wide
 * enough for the tests to hit every time.  Compiled only into the module
 * that the test VM runs (IMP2_TEST_KNOBS=1); see src/test_knobs.rs.
 */
#include <linux/delay.h>
#include <linux/ktime.h>

static unsigned int test_hook_delay_us;
module_param(test_hook_delay_us, uint, 0644);
MODULE_PARM_DESC(test_hook_delay_us, "TEST ONLY: busy-wait this long in the hook, for every ICMP packet");

static unsigned int test_v2_event_delay_us;
module_param(test_v2_event_delay_us, uint, 0644);
MODULE_PARM_DESC(test_v2_event_delay_us, "TEST ONLY: busy-wait this long in the hook between taking a v2 listener and its event");

static unsigned int test_send_delay_us;
module_param(test_send_delay_us, uint, 0644);
MODULE_PARM_DESC(test_send_delay_us, "TEST ONLY: busy-wait this long between the subscriber lookup and the send");

static unsigned int test_timer_delay_us;
module_param(test_timer_delay_us, uint, 0644);
MODULE_PARM_DESC(test_timer_delay_us, "TEST ONLY: busy-wait this long at the start of every netns timer run");

static unsigned int test_drain_delay_ms;
module_param(test_drain_delay_ms, uint, 0644);
MODULE_PARM_DESC(test_drain_delay_ms, "TEST ONLY: sleep this long before each request drained under the semaphore");

static unsigned int test_release_delay_ms;
module_param(test_release_delay_ms, uint, 0644);
MODULE_PARM_DESC(test_release_delay_ms, "TEST ONLY: sleep this long at the start of NETLINK_URELEASE handling");

static unsigned int test_fail_init_netns;
module_param(test_fail_init_netns, uint, 0644);
MODULE_PARM_DESC(test_fail_init_netns, "TEST ONLY: pernet init fails with ENOMEM in the netns with this inode number (0: none)");

static unsigned long test_max_write_wait_us;
module_param(test_max_write_wait_us, ulong, 0644);
MODULE_PARM_DESC(test_max_write_wait_us, "TEST ONLY: longest wait for the subscriber write lock so far (write 0 to reset)");

static void imp2_test_busy_wait_us(unsigned int us)
{
	if (us >= 1000)
		mdelay(us / 1000);
	udelay(us % 1000);
}

void imp2_test_v2_event_delay(void)
{
	imp2_test_busy_wait_us(READ_ONCE(test_v2_event_delay_us));
}

void imp2_test_hook_delay(void)
{
	imp2_test_busy_wait_us(READ_ONCE(test_hook_delay_us));
}

void imp2_test_timer_delay(void)
{
	imp2_test_busy_wait_us(READ_ONCE(test_timer_delay_us));
}

void imp2_test_send_delay(void)
{
	imp2_test_busy_wait_us(READ_ONCE(test_send_delay_us));
}

void imp2_test_drain_delay(void)
{
	unsigned int ms = READ_ONCE(test_drain_delay_ms);

	if (!ms)
		return;
	pr_info("test knob: draining a request after a %u ms delay\n", ms);
	msleep(ms);
}

void imp2_test_release_delay(void)
{
	unsigned int ms = READ_ONCE(test_release_delay_ms);

	if (!ms)
		return;
	pr_info("test knob: handling a port release after a %u ms delay\n", ms);
	msleep(ms);
}

bool imp2_test_fail_pernet_init(const struct net *net)
{
	unsigned int inum = READ_ONCE(test_fail_init_netns);

	return inum && net->ns.inum == inum;
}

u64 imp2_test_now_ns(void)
{
	return ktime_get_ns();
}

void imp2_test_note_write_wait(u64 start_ns)
{
	unsigned long us = (ktime_get_ns() - start_ns) / NSEC_PER_USEC;
	unsigned long old = READ_ONCE(test_max_write_wait_us);

	/* Racy max is fine: writers are serialised by the lock just taken. */
	if (us > old)
		WRITE_ONCE(test_max_write_wait_us, us);
}
#endif /* IMP2_TEST_KNOBS */
