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

# imp2's lines in `nft list hooks ip` (nfnetlink_hook lists every hook).
imp2_hooks() { ip netns exec host nft list hooks ip | grep '\[imp2\]' | sed 's/^[[:space:]]*//' || true; }
step "nobody listens in 'host': imp2 has no hook there (nft list hooks ip)"
echo "imp2 hooks: $(imp2_hooks | wc -l)"

step "imp2 monitor --v1 (the 2007 protocol) in 'host'; 'peer' pings it 3 times"
ip netns exec host imp2 monitor --v1 >/tmp/plain 2>/tmp/plain.err &
mon=$!
wait_subscribed host
ip netns exec peer ping -c 3 -i 0.2 -q 10.99.0.1 >/dev/null
busywait 5000 has_lines /tmp/plain 3
echo "(while subscribed: $(imp2_hooks | wc -l) imp2 hook in nft list hooks ip, at priority $(imp2_hooks | awk '{print $1 + 0}'))"
kill -INT $mon; wait $mon
cat /tmp/plain /tmp/plain.err

step "the same with --json, stopping by itself after 2 events"
ip netns exec host imp2 monitor --v1 --json --count 2 &
mon=$!
wait_subscribed host
ip netns exec peer ping -c 2 -i 0.2 -q 10.99.0.1 >/dev/null
wait $mon

step "protocol v2: two listeners in 'host', one for everything ICMP, one for IPv6 only; IPv6 added"
setup_pair6 host peer
ip netns exec host imp2 monitor >/tmp/v2-all 2>/tmp/v2-all.err &
all=$!
ip netns exec host imp2 monitor --family ipv6 --json >/tmp/v2-ipv6 2>/tmp/v2-ipv6.err &
v6=$!
wait_listeners host 2
ip netns exec peer ping -c 1 -q 10.99.0.1 >/dev/null
ip netns exec peer ping -6 -c 1 -q fd00:99::1 >/dev/null
busywait 5000 bash -c "(( \$(grep -c 'type 128' /tmp/v2-all) >= 1 && \$(grep -c '\"icmp_type\":128' /tmp/v2-ipv6) >= 1 ))"
ip netns exec host imp2 stats
kill -INT $all $v6; wait $all $v6
echo "--- listener 1 (default: ICMP over IPv4, ICMPv6 over IPv6):"
grep -E 'type (8|128) ' /tmp/v2-all
cat /tmp/v2-all.err
echo "--- listener 2 (--family ipv6 --json):"
grep '"icmp_type":128' /tmp/v2-ipv6
cat /tmp/v2-ipv6.err

step "batched delivery: a v2 listener with --batch 4 --flush-ms 200; 'peer' pings 6 times"
ip netns exec host imp2 monitor --family ipv4 --batch 4 --flush-ms 200 >/tmp/batch 2>/tmp/batch.err &
mon=$!
wait_listeners host 1
ip netns exec peer ping -c 6 -i 0.05 -q 10.99.0.1 >/dev/null
busywait 5000 has_lines /tmp/batch 6
kill -INT $mon; wait $mon
cut -d, -f1-3 /tmp/batch
cat /tmp/batch.err

step "a tcpdump expression, evaluated in the module: imp2 monitor --count 2 'udp port 53 or icmp'; 'peer' sends UDP to ports 53 and 54, then pings"
ip netns exec host imp2 monitor --count 2 'udp port 53 or icmp' >/tmp/expr 2>/tmp/expr.err &
mon=$!
wait_listeners host 1
ip netns exec host imp2 stats | grep -A1 'v2 listeners' | tail -1
for port in 53 54; do ip netns exec peer bash -c "echo imp2 >/dev/udp/10.99.0.1/$port"; done
ip netns exec peer ping -c 1 -q 10.99.0.1 >/dev/null
wait $mon
cat /tmp/expr /tmp/expr.err

step "another hook: imp2 monitor --hook output --count 2 in 'host', which pings 'peer' twice: its own echo requests, with the interface they leave by"
ip netns exec host imp2 monitor --hook output --family ipv4 --count 2 >/tmp/out 2>/tmp/out.err &
mon=$!
wait_listeners host 1
echo "(imp2 hooks in nft list hooks ip now: $(imp2_hooks | wc -l); the output one stays until the netns goes)"
ip netns exec host ping -c 2 -i 0.2 -q 10.99.0.2 >/dev/null
wait $mon
cat /tmp/out /tmp/out.err

step "packet bytes as pcapng, into tcpdump: imp2 monitor -w - --family ipv4 --count 3 | tcpdump -r - -nn -v; 'peer' pings 3 times"
ip netns exec host bash -c "imp2 monitor -w - --family ipv4 --count 3 2>/tmp/pcap.err | tcpdump -r - -nn -v 2>/tmp/tcpdump.err" >/tmp/pcap &
mon=$!
wait_listeners host 1
ip netns exec peer ping -c 3 -i 0.2 -q 10.99.0.1 >/dev/null
wait $mon
cat /tmp/pcap /tmp/tcpdump.err /tmp/pcap.err

step "sampling and a rate limit: --sample 10 --rate 20/5 while 'peer' floods 500 echo requests"
ip netns exec host imp2 monitor --family ipv4 --sample 10 --rate 20/5 >/tmp/sampled 2>/tmp/sampled.err &
mon=$!
wait_listeners host 1
ip netns exec peer ping -f -c 500 -q 10.99.0.1 >/dev/null
ip netns exec host imp2 stats | grep -A1 'v2 listeners'
kill -INT $mon; wait $mon
head -3 /tmp/sampled
echo "..."
cat /tmp/sampled.err

step "imp2 stats (counters of the 'host' namespace), then as JSON"
ip netns exec host imp2 stats
ip netns exec host imp2 stats --json

step "rmmod imp2; its dmesg lines"
rmmod imp2
dmesg | grep 'imp2:' | sed 's/^\[[^]]*\] //'
