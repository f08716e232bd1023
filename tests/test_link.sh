#!/bin/sh
# test_link.sh - split inference across an emulated link: sei-linkemu (bench/linkemu.c, a
# user-space netem between two TUN devices) joins two network namespaces with a 1 Mbit/s,
# 30 ms link; `sei serve` and `sei device` run across it, and the measured mean latency must
# match `sei sim`'s prediction for that link within 15%, 35% under qemu-user (and exceed the two propagation
# delays). With 20% loss every frame still arrives (TCP) and the emulator counts losses.
# Bad emulator flags fail in one line. SKIPs without root, iproute2, /dev/net/tun or netns.
#   sh tests/test_link.sh ./sei
sei=${1:-./sei}
. "$(dirname "$0")/lib.sh"
if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null || [ ! -c /dev/net/tun ]; then
    echo "SKIP link_emulated: needs root, iproute2 and /dev/net/tun"
    exit 0
fi
NS0=sei_t$$a NS1=sei_t$$b D0=seit$$a D1=seit$$b
if ! ip netns add $NS0 2>/dev/null || ! ip netns add $NS1 2>/dev/null; then
    ip netns del $NS0 2>/dev/null
    echo "SKIP link_emulated: cannot create network namespaces here"
    exit 0
fi
emu=
stop_emu() { [ -n "$emu" ] && kill "$emu" 2>/dev/null && wait "$emu" 2>/dev/null; emu=; }
trap 'stop_emu; ip netns del $NS0 2>/dev/null; ip netns del $NS1 2>/dev/null; rm -rf "$tmp"' EXIT
if ! make -s sei-linkemu >"$tmp/make.out" 2>&1; then
    fail link_build "$(tail -3 "$tmp/make.out")"
    exit 1
fi
ip -n $NS0 link set lo up; ip -n $NS1 link set lo up

# 1. bad flags: one line, non-zero exit
if ./sei-linkemu --dev0 a --dev1 b --loss 101 2>"$tmp/bad.err" || [ "$(wc -l <"$tmp/bad.err")" != 1 ] ||
   ! grep -q "loss" "$tmp/bad.err" || ./sei-linkemu --dev0 a 2>/dev/null || ./sei-linkemu --bogus 1 2>/dev/null; then
    fail linkemu_bad_flags "$(cat "$tmp/bad.err")"
else
    ok linkemu_bad_flags
fi

# starts the emulator with "$@" and puts its devices into the namespaces
start_emu() {
    stop_emu
    rm -f "$tmp/fifo"; mkfifo "$tmp/fifo"
    ./sei-linkemu --dev0 $D0 --dev1 $D1 "$@" >"$tmp/fifo" 2>"$tmp/emu.err" &
    emu=$!
    read -r line <"$tmp/fifo" || line=
    [ "$line" = ready ] &&
    ip link set $D0 netns $NS0 && ip link set $D1 netns $NS1 &&
    ip -n $NS0 addr add 10.98.0.1 peer 10.98.0.2 dev $D0 && ip -n $NS1 addr add 10.98.0.2 peer 10.98.0.1 dev $D1 &&
    ip -n $NS0 link set $D0 up && ip -n $NS1 link set $D1 up
}
if ! start_emu --rate 1; then
    echo "SKIP link_emulated: cannot run the emulator's TUN devices here: $(head -1 "$tmp/emu.err")"
    exit 0
fi
NET="--net vgg16_bn --width-mult 0.0625 --in-ch 1 --data shapes:300 --batch 16 --threads 2 --quiet"
if ! "$sei" train $NET --epochs 1 --seed 3 --out "$tmp/base" >"$tmp/b.out" 2>&1 ||
   ! "$sei" split --weights "$tmp/base/last.safetensors" --at features.13 --out-head "$tmp/h.st" \
       --out-tail "$tmp/t.st" >/dev/null 2>&1 ||
   ! "$sei" profile --weights "$tmp/base/last.safetensors" --threads 1 --iters 5 --out "$tmp/prof.csv" >/dev/null 2>&1; then
    fail link_setup "$(tail -2 "$tmp/b.out")"
    exit 1
fi
# serve in NS0, device in NS1; device output in $tmp/dev.out
run_pair() {
    ip netns exec $NS0 "$sei" serve --weights "$tmp/t.st" --listen 10.98.0.1:7879 --exit-after 1 --threads 1 --quiet \
        >"$tmp/serve.out" 2>&1 &
    spid=$!
    i=0
    while [ $i -lt 100 ] && ! grep -q "^serving" "$tmp/serve.out"; do sleep 0.05; i=$((i + 1)); done
    ip netns exec $NS1 "$sei" device --weights "$tmp/h.st" --connect 10.98.0.1:7879 --threads 1 "$@" >"$tmp/dev.out" 2>&1
    r=$?
    wait $spid
    return $r
}

# 2. measured latency over a 1 Mbit/s 30 ms link = sei sim's prediction, within 15%
if start_emu --rate 1 --delay 30 && run_pair --limit 20 --fps 5; then
    meas=$(sed -n 's/^latency ms: mean \([0-9.]*\).*/\1/p' "$tmp/dev.out")
    pred=$("$sei" sim --weights "$tmp/base/last.safetensors" --at features.13 --device-profile "$tmp/prof.csv" \
        --server-profile "$tmp/prof.csv" --link ethernet --header 66 --up-mbps 1 --down-mbps 1 --delay-ms 30 \
        --jitter-ms 0 --loss 0 --frame-overhead 32 --fps 5 --duration 40 --transport tcp 2>&1 |
        awk 'NR > 3 && $1 ~ /^[0-9.]+$/ { print $6; exit }')
    # under qemu-user (make test-aarch64) the compute is a third of the prediction (native: 0.4%),
    # and the profile times each layer warm and alone: a frame's cold pass through the emulated
    # tail (classifier.0 alone is 23 ms there) runs 15-40% over it. The link model, what this
    # test checks, is held to 15% natively; under emulation the band is 0.85-1.35.
    hi=1.15; [ -n "$SEI_EMULATED" ] && hi=1.35
    if awk -v m="${meas:-0}" -v p="${pred:-0}" -v hi=$hi 'BEGIN { exit !(m > 60 && p > 0 && m / p > 0.85 && m / p < hi) }'; then
        ok link_latency_matches_sim
    else
        fail link_latency_matches_sim "measured ${meas:-none} ms, sim ${pred:-none} ms; $(tail -2 "$tmp/dev.out")"
    fi
else
    fail link_latency_matches_sim "$(cat "$tmp/emu.err") $(tail -2 "$tmp/dev.out")"
fi

# 3. 20% loss each way: TCP still delivers every frame; the emulator counted the losses
if start_emu --rate 10 --delay 5 --loss 20 --seed 2 && run_pair --limit 10 --fps 10 &&
   grep -q "10 frames in .* 10 answered by the server, 0 left at the exit, 0 lost" "$tmp/dev.out"; then
    stop_emu
    if grep -q "$D0 -> $D1: [0-9]* delivered, [1-9][0-9]* lost" "$tmp/emu.err"; then
        ok link_loss_recovered
    else
        fail link_loss_recovered "no losses counted: $(cat "$tmp/emu.err")"
    fi
else
    fail link_loss_recovered "$(tail -2 "$tmp/dev.out") $(cat "$tmp/emu.err")"
fi
exit $status
