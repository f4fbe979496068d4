# Runs inside the VM (scripts/demo.sh): a short tour of imp2.
. /imp2/tests/lib.sh
set -e
step() { echo; echo "=== $*"; }

step "insmod imp2.ko"
dmesg -c >/dev/null
insmod /imp2/imp2.ko
dmesg | grep 'imp2:' | sed 's/^\[[^]]*\] //'

step "two network namespaces joined by veth: host 10.99.0.1, peer 10.99.0.2"
setup_pair host peer

step "imp2 monitor in 'host'; 'peer' pings it 3 times"
ip netns exec host imp2 monitor >/tmp/plain 2>/tmp/plain.err &
mon=$!
wait_subscribed host
ip netns exec peer ping -c 3 -i 0.2 -q 10.99.0.1 >/dev/null
busywait 5000 has_lines /tmp/plain 3
kill -INT $mon; wait $mon
cat /tmp/plain /tmp/plain.err

step "the same with --json, stopping by itself after 2 events"
ip netns exec host imp2 monitor --json --count 2 &
mon=$!
wait_subscribed host
ip netns exec peer ping -c 2 -i 0.2 -q 10.99.0.1 >/dev/null
wait $mon

step "imp2 stats (counters of the 'host' namespace), then as JSON"
ip netns exec host imp2 stats
ip netns exec host imp2 stats --json

step "rmmod imp2; its dmesg lines"
rmmod imp2
dmesg | grep 'imp2:' | sed 's/^\[[^]]*\] //'
