# Runs inside the VM: loads the splat test module twice, for a WARN_ON and
# for a hung-task report (its text only: no "Call Trace:", no taint). The
# host expects the runner's splat scan to fail this run even though the
# script succeeds, and to list both.
insmod /imp2/modules/splat_test.ko warn=1 && rmmod splat_test &&
	insmod /imp2/modules/splat_test.ko hung_task=1 && rmmod splat_test
