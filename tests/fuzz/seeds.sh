#!/bin/sh
# seeds.sh - seed corpora of the fuzz targets, one folder each under DIR, made from sei's own
# outputs and small hand-made files of every format:  sh tests/fuzz/seeds.sh DIR [./sei]
set -e
dir=$1; sei=${2:-./sei}
for t in safetensors json idx gunzip image tiny_imagenet catalogue proto args map profile density checkpoint; do mkdir -p "$dir/$t"; done
w=$(mktemp -d); trap 'rm -rf "$w"' EXIT
# safetensors: small files sei writes, and their JSON headers
cp tests/fixtures/vgg16.importance.safetensors "$dir/safetensors/importance.st"
"$sei" forward --weights tests/fixtures/vgg16_bn.weights.safetensors --input tests/fixtures/vgg16_bn.ref.safetensors \
    --out "$dir/safetensors/logits.st" >/dev/null 2>&1 || true
for f in "$dir"/safetensors/*; do
    n=$(od -An -t u8 -N8 "$f" | tr -d ' ')
    dd if="$f" of="$dir/json/$(basename "$f").json" bs=1 skip=8 count="$n" 2>/dev/null
done
printf '{"a":[1,2.5e3,-0.0,true,false,null,"\\u00e9\\n"],"b":{"c":{}}}' >"$dir/json/mixed.json"
# IDX: two 2x2 images and their labels; the first byte puts the cut between the two files
printf '\000\000\010\003\000\000\000\002\000\000\000\002\000\000\000\002\001\002\003\004\005\006\007\010' >"$w/img"
printf '\000\000\010\001\000\000\000\002\001\007' >"$w/lab"
gzip -c "$w/img" >"$w/img.gz"
for v in plain gz; do
    if [ $v = plain ]; then f="$w/img"; b=0; else f="$w/img.gz"; b=1; fi
    s=$(wc -c <"$f"); t=$(( s + 1 + $(wc -c <"$w/lab") ))
    c=$(( (s * 256 + t - 2) / (t - 1) ))            # cut = 1 + (t-1)*c/256 = 1 + s
    c=$(( c - (c % 2) + b ))
    { printf "\\$(printf %03o "$c")"; cat "$f" "$w/lab"; } >"$dir/idx/$v.bin"
done
cp "$w/img.gz" "$dir/gunzip/img.gz"
printf 'sei sei sei sei\n' | gzip -c >"$dir/gunzip/text.gz"
# images: PPM and PGM
printf 'P6\n2 2\n255\n\377\000\000\000\377\000\000\000\377\377\377\377' >"$dir/image/rgb.ppm"
printf 'P5\n3 1\n255\n\000\177\377' >"$dir/image/grey.pgm"
# Tiny-ImageNet: wnids, words, val annotations (cut at 0xff)
printf 'n01\nn02\n\377n01\tcat\nn02\tdog\n\377val_0.JPEG\tn01\t0\t0\t1\t1\nval_1.JPEG\tn02\t0\t0\t2\t2\n' >"$dir/tiny_imagenet/small.txt"
# presets
printf '# a device and a link\ndevice tiny gflops=0.5 overhead_us=20 compute_w=0.3 idle_w=0.01 mem_mb=1 source="test"\nlink lora up_mbps=0.02 down_mbps=0.02 delay_ms=100 jitter_ms=10 mtu=255 header=13 loss=0.01 ge_p=0.01 ge_r=0.3 ge_loss=0.5 shared=1 tx_w=0.1 rx_w=0.05 source="test"\n' >"$dir/catalogue/two.txt"
# protocol: a hello and two frame headers
printf 'SEIH\001\000\000\000\001\002\003\004\005\006\007\010features.13' >"$w/h"
head -c 56 /dev/zero | cat "$w/h" - | head -c 56 >"$dir/proto/hello.bin"
printf 'SEIF\001\000\004\000\001\000\000\000\000\000\000\000\000\002\000\000\000\000\000\000\001\000\010\000\010\000\010\000' >"$w/f"
cat "$w/f" "$w/f" >"$dir/proto/frames.bin"
# arguments, NUL-separated
printf -- '--net\000vgg16_bn\000--width-mult\0000.25\000--limit\00010\000--data\000shapes:20' >"$dir/args/net.bin"
printf -- '--classes=3\000--quiet\000--rate\0001e9\000stray' >"$dir/args/mixed.bin"
# network-bound text files, for the fuzz targets' vgg16_bn (width 1/16, 1 channel, 10 classes)
printf '\002# rank last threads\n0 features.13 1\n1 end 0\n' >"$dir/map/two.txt"
printf '\003 0 features.6 2\n\n1 features.23 1 # mid\n2 end 1\n' >"$dir/map/three.txt"
"$sei" profile --net vgg16_bn --width-mult 0.0625 --in-ch 1 --classes 10 --size 32 --iters 1 \
    --out "$dir/profile/vgg.csv" >/dev/null 2>&1 || printf 'index,layer,macs,ms\n0,features.0,1,0.5\n' >"$dir/profile/vgg.csv"
printf '# layer density\nfeatures.3 0.25\nfeatures.7 0.5\n\nclassifier.6 1\n' >"$dir/density/some.txt"
# checkpoints: tiny networks trained for a moment, whole and cut, with the sparse patterns,
# exits, bottleneck and ResNet blocks a checkpoint can hold (any that fails is left out)
T="--in-ch 1 --data shapes:20 --batch 10 --epochs 1 --threads 1 --quiet --seed 1"
V="--net vgg16_bn --width-mult 0.0625 $T"
"$sei" train $V --out "$w/v" >/dev/null 2>&1 &&
    "$sei" split --weights "$w/v/last.safetensors" --at features.6 --out-head "$dir/checkpoint/vgg_head.st" \
        --out-tail "$w/tail.st" >/dev/null 2>&1 || true
"$sei" train $V --density 0.3 --sparse-until features.13 --sparsity weight --exit-at features.6 --out "$w/s" >/dev/null 2>&1 &&
    "$sei" split --weights "$w/s/last.safetensors" --at features.13 --out-head "$dir/checkpoint/sparse_exit_head.st" \
        --out-tail "$w/tail.st" >/dev/null 2>&1 || true
"$sei" train $V --density 0.5 --sparse-until features.13 --split-at features.13 --ratio 2 --wire int8 --out "$w/b" >/dev/null 2>&1 &&
    "$sei" split --weights "$w/b/last.safetensors" --at bottleneck.wire --out-head "$dir/checkpoint/bottleneck_head.st" \
        --out-tail "$w/tail.st" >/dev/null 2>&1 || true
"$sei" train --net resnet50 --width-mult 0.0625 $T --out "$w/r" >/dev/null 2>&1 &&
    "$sei" split --weights "$w/r/last.safetensors" --at layer1.0 --out-head "$dir/checkpoint/resnet_head.st" \
        --out-tail "$w/tail.st" >/dev/null 2>&1 || true
