#!/bin/bash
# imp2-tier: quick
# Positive control for the splat scan: the WARN test module loads cleanly
# with warn=0 (the host-side suite separately checks that warn=1 fails).
. "$(dirname "$0")/lib.sh"
ktap_plan 2
check "splat_test loads with warn=0" insmod "$IMP2_MODULES/splat_test.ko" warn=0
check "splat_test unloads" rmmod splat_test
ktap_finish
