# SPDX-License-Identifier: GPL-2.0
#
# Top-level entry points. `make` builds imp2.ko against the cached test
# kernel selected by IMP2_KERNEL=6.12 (default), 7.3 or debian-7.3
# (scripts/build-kernel.sh), or against KDIR=<your Rust-enabled 6.12 or 7.3
# build tree>.

IMP2_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/imp2
IMP2_KERNEL ?= 6.12
KDIR ?= $(IMP2_CACHE)/kernel-$(IMP2_KERNEL)-current
BINDGEN ?= $(IMP2_CACHE)/bindgen-$(shell sed -n 's/^BINDGEN_VERSION=//p' scripts/versions.env)/bin/bindgen
LLVM_SUFFIX := -$(shell sed -n 's/^LLVM_VERSION=//p' scripts/versions.env)
# Our test kernels are built with LLVM. A tree prepared for a gcc-built
# distro kernel (scripts/prepare-debian-kernel.sh) carries its own make
# variables in imp2.mk (CC=gcc, the vermagic, the forced rustc version).
-include $(KDIR)/imp2.mk
IMP2_KMAKE_VARS ?= LLVM=$(LLVM_SUFFIX)
# Our test kernels are configured before anything installs pahole
# (CONFIG_PAHOLE_VERSION=0); once the Debian leg has installed it (dwarves),
# 7.x warns on every module build that the version differs. Build modules
# as the kernel was built: without pahole.
ifeq ($(shell grep -sx 'CONFIG_PAHOLE_VERSION=0' $(KDIR)/.config),CONFIG_PAHOLE_VERSION=0)
IMP2_KMAKE_VARS += PAHOLE=imp2-no-pahole
endif
KMAKE = $(MAKE) -C $(KDIR) M=$(CURDIR) $(IMP2_KMAKE_VARS) RUSTC=/usr/bin/rustc \
	BINDGEN=$(BINDGEN) CLIPPY_DRIVER=/usr/bin/clippy-driver LIBCLANG_PATH=/usr/lib/llvm$(LLVM_SUFFIX)/lib

.PHONY: all modules clean rust-analyzer kernel toolchain tools test demo bench check-kdir kselftest-install

all: modules

check-kdir:
	@test -f $(KDIR)/Module.symvers || { \
		echo "error: no built kernel at KDIR=$(KDIR)"; \
		echo "  run 'IMP2_KERNEL=$(IMP2_KERNEL) make kernel' (builds/prepares the cached kernel) or pass KDIR=<Rust-enabled 6.12 or 7.3 tree>"; \
		exit 1; }

modules: check-kdir
	$(KMAKE) modules
	$(KMAKE) M=$(CURDIR)/tests/modules modules
	$(KMAKE) M=$(CURDIR)/bench/cref modules
	$(KMAKE) M=$(CURDIR)/bench/emptyhook modules
	$(KMAKE) M=$(CURDIR)/bench/icmpgen modules

clean:
	-$(KMAKE) clean
	-$(KMAKE) M=$(CURDIR)/tests/modules clean
	-$(KMAKE) M=$(CURDIR)/bench/cref clean
	-$(KMAKE) M=$(CURDIR)/bench/emptyhook clean
	-$(KMAKE) M=$(CURDIR)/bench/icmpgen clean
	rm -rf build/kbuild build/bench-tree   # keeps build/bench results and VM logs

# rust-project.json for rust-analyzer, covering the kernel crates and ours.
rust-analyzer: check-kdir
	KDIR=$(KDIR) scripts/rust-analyzer.sh

toolchain:
	scripts/setup-toolchain.sh

kernel: toolchain
	scripts/build-kernel.sh

tools:
	scripts/build-tools.sh

test:
	scripts/test.sh

demo:
	scripts/demo.sh

bench:
	scripts/bench.sh

# Our tests as a kselftest collection for the kernel's runner
# (INSTALL_PATH, default build/kselftest; see the script).
kselftest-install:
	IMP2_KERNEL=$(IMP2_KERNEL) KDIR=$(KDIR) scripts/kselftest-install.sh
