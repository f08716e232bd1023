#!/bin/sh
# link_check.sh - real split inference across an emulated link, against `sei sim`'s
# prediction for the same configuration.
#
#   sudo sh bench/link_check.sh [./sei] [CKPT]        (default CKPT runs/fm_vgg/best.safetensors)
#
# Two network namespaces (sei_srv, sei_dev) joined by a link 10.99.0.1 <-> 10.99.0.2 (no
# other address is touched). For each link setting "Mbit/s delay_ms loss%" in LINKS (default
# "10 20 0; 2 50 1; 100 5 0"; the delay is one-way, the loss applies to each direction) the link
# is emulated by, in order of preference:
#   - `tc netem` on both ends of a veth pair (rate, delay, loss);
#   - sei-linkemu (bench/linkemu.c, `make sei-linkemu`; LINKEMU names it), a user-space netem
#     between two TUN devices, when the kernel has no netem qdisc (some VMs and containers);
#   - `tbf` rate shaping on the veth pair, delay and loss then reported as not emulated.
# For each cut in CUTS (default "features.13 features.23"): `sei split`, `sei serve` in sei_srv,
# `sei device` in sei_dev (FRAMES frames at the setting's fps), and `sei sim` with per-layer
# times measured by `sei profile` on this machine and the link's figures (over 20 times as
# many frames as the real run, for its expected value); it prints measured and predicted mean
# latency and their ratio. Both processes use one thread each; both namespaces use TCP "reno"
# congestion control, which `sei sim` models (with Linux's SACK, RACK-TLP and RTO floor).
# Needs root and iproute2; removes the namespaces on exit.
set -u
sei=${1:-./sei}
ckpt=${2:-runs/fm_vgg/best.safetensors}
LINKS=${LINKS:-"10 20 0 10; 2 50 1 5; 100 5 0 20"}
CUTS=${CUTS:-"features.13 features.23"}
FRAMES=${FRAMES:-300}
PORT=${PORT:-7878}
SEED=${SEED:-1}
LINKEMU=${LINKEMU:-./sei-linkemu}
if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null || ! command -v tc >/dev/null; then
    echo "SKIP link_check: needs root and iproute2 (ip, tc)"; exit 0
fi
[ -f "$ckpt" ] || { echo "link_check: no checkpoint $ckpt" >&2; exit 2; }
tmp=$(mktemp -d)
emu_pid=
stop_emu() { [ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null && wait "$emu_pid" 2>/dev/null; emu_pid=; }
cleanup() { stop_emu; ip netns del sei_srv 2>/dev/null; ip netns del sei_dev 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT INT TERM
cleanup
mkdir -p "$tmp"
ip netns add sei_srv && ip netns add sei_dev &&
ip -n sei_srv link set lo up && ip -n sei_dev link set lo up || { echo "link_check: cannot create the namespaces" >&2; exit 1; }
# which emulator: the kernel's netem on a veth pair, else sei-linkemu (user-space netem on two
# TUN devices), else tbf on the veth pair (rate only)
mode=netem
ip link add sei_v0 type veth peer name sei_v1 &&
ip link set sei_v0 netns sei_srv && ip link set sei_v1 netns sei_dev &&
ip -n sei_srv addr add 10.99.0.1/24 dev sei_v0 && ip -n sei_dev addr add 10.99.0.2/24 dev sei_v1 &&
ip -n sei_srv link set sei_v0 up && ip -n sei_dev link set sei_v1 up || { echo "link_check: cannot set up the veth pair" >&2; exit 1; }
ip netns exec sei_srv tc qdisc add dev sei_v0 root netem delay 1ms 2>/dev/null || mode=tbf
ip netns exec sei_srv tc qdisc del dev sei_v0 root 2>/dev/null
if [ $mode = tbf ] && [ -x "$LINKEMU" ] && [ -c /dev/net/tun ]; then
    mode=linkemu
    ip -n sei_srv link del sei_v0
fi
case $mode in
    netem) echo "link: tc netem on a veth pair" ;;
    linkemu) echo "link: this kernel has no netem qdisc; $LINKEMU (user-space netem) between two TUN devices" ;;
    tbf) echo "note: no netem qdisc and no $LINKEMU (make sei-linkemu): rate shaping only (tbf); delay and loss are not emulated" ;;
esac

# starts sei-linkemu with "$@" and puts its two devices into the namespaces
start_emu() {
    stop_emu
    rm -f "$tmp/emu.fifo"; mkfifo "$tmp/emu.fifo"
    "$LINKEMU" --dev0 sei_t0 --dev1 sei_t1 "$@" >"$tmp/emu.fifo" 2>"$tmp/emu.err" &
    emu_pid=$!
    read -r ready <"$tmp/emu.fifo" || ready=
    [ "$ready" = ready ] || { cat "$tmp/emu.err" >&2; echo "link_check: sei-linkemu did not start" >&2; exit 1; }
    ip link set sei_t0 netns sei_srv && ip link set sei_t1 netns sei_dev &&
    ip -n sei_srv addr add 10.99.0.1 peer 10.99.0.2 dev sei_t0 && ip -n sei_dev addr add 10.99.0.2 peer 10.99.0.1 dev sei_t1 &&
    ip -n sei_srv link set sei_t0 up && ip -n sei_dev link set sei_t1 up || { echo "link_check: cannot set up the TUN devices" >&2; exit 1; }
}

for n in sei_srv sei_dev; do ip netns exec $n sysctl -qw net.ipv4.tcp_congestion_control=reno 2>/dev/null ||
    echo "note: cannot set TCP reno in $n: $(ip netns exec $n cat /proc/sys/net/ipv4/tcp_congestion_control) it is"; done
"$sei" profile --weights "$ckpt" --threads 1 --iters 20 --out "$tmp/prof.csv" >/dev/null || exit 1
printf '%-12s %-22s %12s %12s %8s\n' "cut" "link" "measured ms" "sim ms" "ratio"
echo "$LINKS" | tr ';' '\n' | while read -r mbit delay loss fps; do
    [ -n "$mbit" ] || continue
    fps=${fps:-10}
    emulated=1
    case $mode in
        linkemu) start_emu --rate "$mbit" --delay "$delay" --loss "$loss" --seed "$SEED" ;;
        *) for dev in "sei_srv sei_v0" "sei_dev sei_v1"; do
               set -- $dev
               ip netns exec "$1" tc qdisc del dev "$2" root 2>/dev/null
               if [ $mode = netem ]; then
                   # the setting's delay is one-way: each end delays what it sends by all of it
                   ip netns exec "$1" tc qdisc add dev "$2" root netem rate "${mbit}mbit" delay "${delay}ms" loss "${loss}%"
               else
                   # a burst of one packet: frames are paced as on a link of that rate, not let through in a burst
                   ip netns exec "$1" tc qdisc add dev "$2" root tbf rate "${mbit}mbit" burst 1600 latency 1s
               fi
           done ;;
    esac
    # without an emulator for them the added delay and loss are zero: predict (and report) that
    d_eff=$delay l_eff=$loss
    if [ $mode = tbf ]; then d_eff=0 l_eff=0; [ "$delay" != 0 ] || [ "$loss" != 0 ] && emulated=0; fi
    for cut in $CUTS; do
        "$sei" split --weights "$ckpt" --at "$cut" --out-head "$tmp/h.st" --out-tail "$tmp/t.st" >/dev/null || exit 1
        ip netns exec sei_srv "$sei" serve --weights "$tmp/t.st" --listen 10.99.0.1:$PORT --exit-after 1 --threads 1 --quiet \
            >"$tmp/serve.out" 2>&1 &
        spid=$!
        sleep 0.5
        ip netns exec sei_dev "$sei" device --weights "$tmp/h.st" --connect 10.99.0.1:$PORT --limit "$FRAMES" --fps "$fps" \
            --threads 1 >"$tmp/dev.out" 2>&1
        wait $spid
        meas=$(sed -n 's/^latency ms: mean \([0-9.]*\).*/\1/p' "$tmp/dev.out")
        # the link as sim sees it: veth packets of 1514 bytes with a 14-byte Ethernet header and 52 of
        # IPv4 + TCP with timestamps (what the qdisc counts)
        "$sei" sim --weights "$ckpt" --at "$cut" --device-profile "$tmp/prof.csv" --server-profile "$tmp/prof.csv" \
            --link ethernet --header 66 --up-mbps "$mbit" --down-mbps "$mbit" --delay-ms "$(awk "BEGIN { print $d_eff / 1 }")" \
            --jitter-ms 0 --loss "$(awk "BEGIN { print $l_eff / 100 }")" --frame-overhead 32 --fps "$fps" \
            --duration "$(awk "BEGIN { print 20 * $FRAMES / $fps }")" --transport tcp >"$tmp/sim.out" 2>&1
        pred=$(awk 'NR > 3 && $1 ~ /^[0-9.]+$/ { print $6; exit }' "$tmp/sim.out")
        label="${mbit} Mb/s ${d_eff} ms ${l_eff}%"
        [ $emulated = 1 ] || label="$label (asked ${delay} ms ${loss}%)"
        ratio=$(awk -v m="${meas:-0}" -v p="${pred:-0}" 'BEGIN { if (m > 0 && p > 0) printf "%.3f", m / p; else print "n/a" }')
        printf '%-12s %-22s %12s %12s %8s\n' "$cut" "$label" "${meas:-n/a}" "${pred:-n/a}" "$ratio"
    done
    stop_emu
done
