# Runs inside the VM: loads the WARN_ON test module. The host expects the
# runner's splat scan to fail this run even though the script succeeds.
insmod /imp2/modules/splat_test.ko warn=1 && rmmod splat_test
