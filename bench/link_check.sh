#!/bin/sh
# link_check.sh - real split inference across an emulated link, against `sei sim`'s
# prediction for the same configuration.
#
#   sudo sh bench/link_check.sh [./sei] [CKPT]        (default CKPT runs/fm_vgg/best.safetensors)
#
# Two network namespaces (sei_srv, sei_dev) joined by a veth pair 10.99.0.1 <-> 10.99.0.2
# (no other address is touched). For each link setting "Mbit/s delay_ms loss%" in LINKS
# (default "10 20 0; 2 50 1; 100 5 0") both veth ends get a `tc netem` qdisc with that rate,
# half of the delay each way (the setting's delay is one-way) and the loss. When the kernel
# has no netem (some VMs and containers) the script falls back to `tbf` rate shaping only and
# says so; settings that need delay or loss are then reported as not emulated. For each cut
# in CUTS (default "features.13 features.23"): `sei split`, `sei serve` in sei_srv, `sei
# device` in sei_dev (FRAMES frames at FPS, one in flight), and `sei sim` with per-layer
# times measured by `sei profile` on this machine and the link's figures; it prints measured
# and predicted mean latency and their ratio. Both processes use one thread each.
# Needs root and iproute2; removes the namespaces on exit.
set -u
sei=${1:-./sei}
ckpt=${2:-runs/fm_vgg/best.safetensors}
LINKS=${LINKS:-"10 20 0; 2 50 1; 100 5 0"}
CUTS=${CUTS:-"features.13 features.23"}
FRAMES=${FRAMES:-200}
FPS=${FPS:-20}
PORT=${PORT:-7878}
if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null || ! command -v tc >/dev/null; then
    echo "SKIP link_check: needs root and iproute2 (ip, tc)"; exit 0
fi
[ -f "$ckpt" ] || { echo "link_check: no checkpoint $ckpt" >&2; exit 2; }
tmp=$(mktemp -d)
cleanup() { ip netns del sei_srv 2>/dev/null; ip netns del sei_dev 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT INT TERM
cleanup
mkdir -p "$tmp"
ip netns add sei_srv && ip netns add sei_dev &&
ip link add sei_v0 type veth peer name sei_v1 &&
ip link set sei_v0 netns sei_srv && ip link set sei_v1 netns sei_dev &&
ip -n sei_srv addr add 10.99.0.1/24 dev sei_v0 && ip -n sei_dev addr add 10.99.0.2/24 dev sei_v1 &&
ip -n sei_srv link set sei_v0 up && ip -n sei_dev link set sei_v1 up &&
ip -n sei_srv link set lo up && ip -n sei_dev link set lo up || { echo "link_check: cannot set up the namespaces" >&2; exit 1; }
netem=1
ip netns exec sei_srv tc qdisc add dev sei_v0 root netem delay 1ms 2>/dev/null || netem=0
ip netns exec sei_srv tc qdisc del dev sei_v0 root 2>/dev/null
[ $netem = 1 ] || echo "note: this kernel has no netem qdisc: rate shaping only (tbf); delay and loss are not emulated"

"$sei" profile --weights "$ckpt" --threads 1 --iters 20 --out "$tmp/prof.csv" >/dev/null || exit 1
printf '%-12s %-22s %12s %12s %8s\n' "cut" "link" "measured ms" "sim ms" "ratio"
echo "$LINKS" | tr ';' '\n' | while read -r mbit delay loss; do
    [ -n "$mbit" ] || continue
    emulated=1
    for dev in "sei_srv sei_v0" "sei_dev sei_v1"; do
        set -- $dev
        ip netns exec "$1" tc qdisc del dev "$2" root 2>/dev/null
        if [ $netem = 1 ]; then
            half=$(awk "BEGIN { print $delay / 2 }")
            ip netns exec "$1" tc qdisc add dev "$2" root netem rate "${mbit}mbit" delay "${half}ms" loss "${loss}%"
        else
            # a burst of one packet: frames are paced as on a link of that rate, not let through in a burst
            ip netns exec "$1" tc qdisc add dev "$2" root tbf rate "${mbit}mbit" burst 1600 latency 1s
        fi
    done
    # without netem the added delay and loss are zero: predict (and report) that
    d_eff=$delay l_eff=$loss
    if [ $netem = 0 ]; then d_eff=0 l_eff=0; [ "$delay" != 0 ] || [ "$loss" != 0 ] && emulated=0; fi
    for cut in $CUTS; do
        "$sei" split --weights "$ckpt" --at "$cut" --out-head "$tmp/h.st" --out-tail "$tmp/t.st" >/dev/null || exit 1
        ip netns exec sei_srv "$sei" serve --weights "$tmp/t.st" --listen 10.99.0.1:$PORT --exit-after 1 --threads 1 --quiet \
            >"$tmp/serve.out" 2>&1 &
        spid=$!
        sleep 0.5
        ip netns exec sei_dev "$sei" device --weights "$tmp/h.st" --connect 10.99.0.1:$PORT --limit "$FRAMES" --fps "$FPS" \
            --window 1 --threads 1 >"$tmp/dev.out" 2>&1
        wait $spid
        meas=$(sed -n 's/^latency ms: mean \([0-9.]*\).*/\1/p' "$tmp/dev.out")
        # the link as sim sees it: veth packets of 1514 bytes with a 14-byte Ethernet header and 52 of
        # IPv4 + TCP with timestamps (what the qdisc counts)
        "$sei" sim --weights "$ckpt" --at "$cut" --device-profile "$tmp/prof.csv" --server-profile "$tmp/prof.csv" \
            --link ethernet --header 66 --up-mbps "$mbit" --down-mbps "$mbit" --delay-ms "$(awk "BEGIN { print $d_eff / 1 }")" \
            --jitter-ms 0 --loss "$(awk "BEGIN { print $l_eff / 100 }")" --frame-overhead 32 --fps "$FPS" \
            --duration "$(awk "BEGIN { print $FRAMES / $FPS }")" --transport tcp >"$tmp/sim.out" 2>&1
        pred=$(awk 'NR > 3 && $1 ~ /^[0-9.]+$/ { print $6; exit }' "$tmp/sim.out")
        label="${mbit} Mb/s ${d_eff} ms ${l_eff}%"
        [ $emulated = 1 ] || label="$label (asked ${delay} ms ${loss}%)"
        ratio=$(awk -v m="${meas:-0}" -v p="${pred:-0}" 'BEGIN { if (m > 0 && p > 0) printf "%.3f", m / p; else print "n/a" }')
        printf '%-12s %-22s %12s %12s %8s\n' "$cut" "$label" "${meas:-n/a}" "${pred:-n/a}" "$ratio"
    done
done
