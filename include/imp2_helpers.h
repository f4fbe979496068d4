/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C helpers for imp2: thin, non-inline wrappers around kernel APIs that are
 * static inlines or macros and so cannot be called from Rust, in the same
 * spirit as the kernel's rust/helpers/.  No logic lives here.
 */
#ifndef _IMP2_HELPERS_H
#define _IMP2_HELPERS_H

#include <linux/types.h>
#include <linux/version.h>
#include <linux/gfp_types.h>
#include <linux/bitops.h>
#include <linux/spinlock_types.h>

struct lock_class_key;
struct net;
struct nlmsghdr;
struct rwlock;
struct semaphore;
struct sk_buff;
struct sk_buff_head;
struct sock;

/* Module parameters (6.12's Rust module! macro has no parameter support). */
#define IMP2_DEFAULT_MAX_LISTENERS 16
#if LINUX_VERSION_CODE < KERNEL_VERSION(7, 0, 0)
int imp2_param_unit(void);
unsigned int imp2_param_max_listeners(void);
#endif
bool imp2_param_hooks_on_demand(void);
bool imp2_net_ratelimit(void);

/* Locks. */
void imp2_rwlock_init(rwlock_t *lock, const char *name, struct lock_class_key *key);
void imp2_read_lock(rwlock_t *lock);
void imp2_read_unlock(rwlock_t *lock);
void imp2_read_lock_bh(rwlock_t *lock);
void imp2_read_unlock_bh(rwlock_t *lock);
void imp2_write_lock_bh(rwlock_t *lock);
void imp2_write_unlock_bh(rwlock_t *lock);
void imp2_sema_init(struct semaphore *sem, int val);
void imp2_spin_lock_bh(spinlock_t *lock);
void imp2_spin_unlock_bh(spinlock_t *lock);
bool imp2_spin_trylock_bh(spinlock_t *lock);
void imp2_spin_assert_is_held(spinlock_t *lock);

/* Timers. */
struct timer_list;
void imp2_timer_setup(struct timer_list *timer, void (*fn)(struct timer_list *));
unsigned long imp2_jiffies_after_ms(unsigned int ms);
unsigned long imp2_jiffies(void);

/* sk_buff. */
struct sk_buff *imp2_skb_get(struct sk_buff *skb);
void imp2_consume_skb(struct sk_buff *skb);
void imp2_kfree_skb(struct sk_buff *skb);
void imp2_skb_queue_head_init(struct sk_buff_head *list);
bool imp2_skb_queue_empty_lockless(const struct sk_buff_head *list);
struct net *imp2_skb_net(const struct sk_buff *skb);

/* Netlink. */
struct sock *imp2_netlink_kernel_create(struct net *net, int unit,
					void (*input)(struct sk_buff *skb));
u32 imp2_netlink_skb_portid(const struct sk_buff *skb);
struct sk_buff *imp2_nlmsg_new(size_t payload, gfp_t flags);
void *imp2_nlmsg_put(struct sk_buff *skb, u32 portid, u32 seq, int type,
		     int payload, int flags);
/*
 * A request queued for deferred processing keeps its sender's socket alive
 * (netlink_ack() dereferences NETLINK_CB(skb).sk) and remembers whether the
 * sender held CAP_NET_ADMIN when it sent, which can only be checked in the
 * sender's own context.
 */
void imp2_netlink_request_hold(struct sk_buff *skb, bool net_admin);
bool imp2_netlink_request_net_admin(const struct sk_buff *skb);
bool imp2_netlink_request_sender_dead(const struct sk_buff *skb);
void imp2_netlink_request_release(struct sk_buff *skb);
struct sock *imp2_netlink_request_sender(const struct sk_buff *skb);
unsigned int imp2_skb_truesize(const struct sk_buff *skb);

/* Socket references. */
void imp2_sock_hold(struct sock *sk);
void imp2_sock_put(struct sock *sk);
bool imp2_sock_closing(const struct sock *sk);

/* Work items, scheduling. */
struct work_struct;
void imp2_init_work(struct work_struct *work, void (*fn)(struct work_struct *));
bool imp2_schedule_work(struct work_struct *work);
void imp2_cond_resched(void);
bool imp2_local_bh_disable_unless_off(void);
void imp2_local_bh_enable(void);

/* RCU, time, netfilter state, IPv6. */
void imp2_rcu_read_lock(void);
void imp2_rcu_read_unlock(void);
u64 imp2_ktime_get_real_ns(void);
u64 imp2_ktime_get_ns(void);

/* Classic BPF programs (src/abstractions/bpf.rs). */
struct bpf_prog;
int imp2_bpf_create(struct bpf_prog **prog, const void *insns, u32 len);
u32 imp2_bpf_run(const struct bpf_prog *prog, struct sk_buff *skb);
void imp2_bpf_destroy(struct bpf_prog *prog);
struct nf_hook_state;
u32 imp2_nf_state_in_ifindex(const struct nf_hook_state *state);
u32 imp2_nf_state_out_ifindex(const struct nf_hook_state *state);
/*
 * ipv6_skip_exthdr() from the end of the fixed header: *nexthdr goes in as
 * the header's next-header field and comes out as the upper-layer protocol;
 * returns that header's offset, or -1 if the chain cannot be walked.
 */
int imp2_ipv6_upper_layer(const struct sk_buff *skb, u8 *nexthdr, bool *first_fragment);
/* A new skb holding a copy of len bytes (ready-made netlink messages). */
struct sk_buff *imp2_skb_from_bytes(const void *data, unsigned int len, gfp_t flags);
/* An empty skb for up to size bytes of messages. */
struct sk_buff *imp2_skb_alloc(unsigned int size, gfp_t flags);
/*
 * The tail room: where skb_put() would add bytes, and how many fit
 * (skb_tail_pointer(), skb_tailroom()).  The bytes are uninitialised.
 */
void *imp2_skb_tail(struct sk_buff *skb, unsigned int *room);

/*
 * Protocol v2 request validation (src/policy.c): the kernel's nla_policy
 * machinery, strict parsing, an extack message naming the attribute.
 */
#define IMP2_NUM_PROTOS 256
struct imp2_v2_filter {
	u32 families;		/* IMP2_FAMILY_* bits, never 0 */
	bool default_protos;	/* no IMP2_A_PROTOS: ICMP for IPv4, ICMPv6 for IPv6 */
	unsigned long protos[BITS_TO_LONGS(IMP2_NUM_PROTOS)];
	u32 batch;		/* events per datagram, 1..IMP2_BATCH_MAX */
	u32 flush_ms;		/* 1..IMP2_FLUSH_MS_MAX */
	u32 snaplen;		/* 0..IMP2_SNAPLEN_MAX */
	u32 sample;		/* 1..: one in this many */
	u32 rate_limit;		/* events per second; 0: no limit */
	u32 rate_burst;		/* 1..IMP2_RATE_MAX if rate_limit */
	const struct nlattr *bpf; /* IMP2_A_BPF in the request; NULL if none */
	u32 bpf_insns;		/* its length in instructions */
	u32 hook;		/* IMP2_HOOK_*, default IMP2_HOOK_PREROUTING */
};
struct netlink_ext_ack;
int imp2_v2_parse_subscribe(const struct nlmsghdr *nlh, struct imp2_v2_filter *filter,
			    struct netlink_ext_ack *extack);
int imp2_v2_parse_empty(const struct nlmsghdr *nlh, struct netlink_ext_ack *extack);
int imp2_v2_load_bpf(const struct nlattr *attr, struct bpf_prog **prog, struct netlink_ext_ack *extack);
bool imp2_v2_carries_bpf(const struct nlmsghdr *nlh);

/* Network namespaces. */
void *imp2_net_generic(const struct net *net, unsigned int id);
u64 imp2_net_cookie(const struct net *net);

#ifdef IMP2_TEST_KNOBS
/* Test-only knobs (src/helpers.c, src/test_knobs.rs). */
void imp2_test_hook_delay(void);
void imp2_test_v2_event_delay(void);
void imp2_test_timer_delay(void);
void imp2_test_send_delay(void);
void imp2_test_drain_delay(void);
void imp2_test_release_delay(void);
bool imp2_test_fail_pernet_init(const struct net *net);
u64 imp2_test_now_ns(void);
void imp2_test_note_write_wait(u64 start_ns);
#endif

/* GFP flags for the hook path (atomic); a constant so bindgen can see it. */
extern const gfp_t IMP2_GFP_ATOMIC_NOWARN;
extern const gfp_t IMP2_GFP_NOWAIT_NOWARN;
extern const gfp_t IMP2_GFP_KERNEL;

#endif /* _IMP2_HELPERS_H */
