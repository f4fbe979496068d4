#!/bin/bash
# imp2-tier: quick
# imp2-compat: module parameters (6.12's and 7.3's module! differ; hooks_on_demand is C on both)
# Loading and unloading: dmesg lines, parameter validation, lsmod.
. "$(dirname "$0")/lib.sh"
ktap_plan 6

imp2_unload
dmesg -c >/dev/null
check "insmod succeeds" imp2_load
check "dmesg names the netlink unit and the hook on load" \
	grep -q 'imp2: loaded: netlink unit 31, IPv4 PRE_ROUTING hook at priority -1' <(dmesg)
check "rmmod succeeds and dmesg says unloaded" bash -c 'rmmod imp2 && dmesg | grep -q "imp2: unloaded"'
check "lsmod is clean after rmmod" bash -c '! grep -q "^imp2 " /proc/modules'

dmesg -c >/dev/null
if insmod "$IMP2_KO" unit=99 2>/dev/null; then
	rmmod imp2
	ktap_fail "unit=99 is refused"
else
	check "unit=99 is refused with a clear dmesg line" grep -q 'imp2: unit=99 is not a netlink unit' <(dmesg)
fi

# Another unit works end to end with the tool's --unit.
imp2_load unit=29
check "unit=29: imp2 stats --unit 29 answers, default unit is gone" \
	bash -c 'imp2 stats --unit 29 --json | grep -q "\"unit\":29" && ! imp2 stats 2>/dev/null'
imp2_unload
ktap_finish
