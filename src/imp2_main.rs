// SPDX-License-Identifier: GPL-2.0

//! imp2: reports every ICMP packet crossing IPv4 PRE_ROUTING to a userspace
//! subscriber over a custom netlink protocol (unit 31 by default).
//!
//! A Rust port of the 2007 "imp2" netlink tutorial module, wire-compatible
//! with its user program, per network namespace.
//!
//! - [`imp2`]: the protocol logic, safe Rust only.
//! - [`abstractions`]: small safe abstractions over the kernel APIs it
//!   needs, of the kind that could go upstream into `rust/kernel/`.
//! - [`wire`]: the ABI of `include/uapi/imp2.h` and pure, host-tested
//!   netlink framing.
//! - [`compat`], [`params`], [`test_knobs`]: kernel-version differences,
//!   module parameters and test-only knobs.

use kernel::prelude::*;

mod abstractions;
mod bindings;
mod compat;
mod imp2;
mod params;
mod policy;
mod test_knobs;
mod wire;

// 6.12: one `author`, no parameters (`unit` is a C `module_param` in
// helpers.c, see `params.rs`).
#[cfg(not(imp2_v7))]
module! {
    type: Imp2Module,
    name: "imp2",
    author: "imp2 developers",
    description: "Report ICMP and other packets at IPv4/IPv6 netfilter hooks to netlink listeners",
    license: "GPL",
}

// 7.3: `authors`, and `unit` is a mainline Rust module parameter.
#[cfg(imp2_v7)]
module! {
    type: Imp2Module,
    name: "imp2",
    authors: ["imp2 developers"],
    description: "Report ICMP and other packets at IPv4/IPv6 netfilter hooks to netlink listeners",
    license: "GPL",
    params: {
        unit: i32 {
            default: crate::bindings::NL_IMP2 as i32,
            description: "netlink protocol unit (default 31, NL_IMP2)",
        },
        max_listeners: u32 {
            default: crate::bindings::IMP2_DEFAULT_MAX_LISTENERS,
            description: "most v2 listeners per netns (default 16)",
        },
    },
}

/// Netlink units are 0..MAX_LINKS (32).
const MAX_LINKS: i32 = 32;
/// `NETLINK_USERSOCK` (include/uapi/linux/netlink.h).
const NETLINK_USERSOCK: i32 = 2;

struct Imp2Module {
    service: Option<Pin<KBox<abstractions::pernet::Registration<imp2::Imp2Net>>>>,
}

impl kernel::Module for Imp2Module {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let unit = params::unit();
        if !(0..MAX_LINKS).contains(&unit) {
            pr_err!("unit={} is not a netlink unit (0..{})\n", unit, MAX_LINKS - 1);
            return Err(EINVAL);
        }
        // NETLINK_USERSOCK is registered by af_netlink itself
        // (netlink_add_usersock_entry()): our kernel socket would not make
        // its user sockets hold this module, which teardown relies on.
        if unit == NETLINK_USERSOCK {
            pr_err!("unit={} is NETLINK_USERSOCK, reserved for userspace protocols\n", unit);
            return Err(EINVAL);
        }
        let service = KBox::pin_init(abstractions::pernet::Registration::new(unit), GFP_KERNEL).inspect_err(|e| {
            if *e == EBUSY {
                // netlink_kernel_create() failed, without saying why.
                pr_err!("cannot open netlink unit {}: it is already served in some netns, or memory ran out\n", unit);
            } else {
                pr_err!("cannot serve netlink unit {}: error {}\n", unit, e.to_errno());
            }
        })?;
        imp2::start_accepting_subscribers();
        let lifetime = if params::hooks_on_demand() {
            "each while a listener there needs it (hooks_on_demand=1)"
        } else {
            "each from the first listener there that needs it on"
        };
        pr_info!(
            "loaded: netlink unit {}, IPv4 PRE_ROUTING hook at priority {} (NF_IP_PRI_FILTER - 1), and the inet hooks v2 listeners choose, at the same priority, in every netns {}\n",
            unit,
            wire::HOOK_PRIORITY,
            lifetime
        );
        Ok(Self { service: Some(service) })
    }
}

impl Drop for Imp2Module {
    fn drop(&mut self) {
        imp2::stop_accepting_subscribers();
        // Tear down (hooks, then sockets, in every netns) before saying so.
        drop(self.service.take());
        pr_info!("unloaded\n");
    }
}
