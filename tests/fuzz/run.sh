#!/bin/sh
# run.sh - make fuzz: runs every libFuzzer target in DIR for SECONDS from its seeds
# (tests/fuzz/seeds.sh) and its corpus in fuzz/corpus/NAME (kept between runs), with
# crashes written to fuzz/crashes/NAME-*. Prints seconds run (less than asked when it
# stopped at a crash), executions and coverage per target;
# exits non-zero when a target crashed. Copy a crash to tests/fuzz/regress/NAME/ to make it
# a regression test (make test replays those).
#   sh tests/fuzz/run.sh DIR ./sei SECONDS [JOBS]
# JOBS targets run at once (default 1); FUZZ_ONLY="name ..." runs only those targets.
dir=$1; sei=$2; secs=${3:-60}; jobs=${4:-1}
mkdir -p fuzz/crashes
sh tests/fuzz/seeds.sh fuzz/seeds "$sei" || exit 1
one() {  # one target: its line of figures, and status 1 on a crash
    t=$1; name=$(basename "$t" | sed 's/^fuzz_//')
    mkdir -p "fuzz/corpus/$name"
    t0=$(date +%s)
    "$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -close_fd_mask=3 -print_final_stats=1 \
        -artifact_prefix="fuzz/crashes/$name-" "fuzz/corpus/$name" "fuzz/seeds/$name" >"fuzz/$name.log" 2>&1
    rc=$?; took=$(( $(date +%s) - t0 ))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "fuzz/$name.log")
    cov=$(grep -o 'cov: [0-9]*' "fuzz/$name.log" | tail -1)
    printf '%-16s %5ss  %12s executions  %-10s %s corpus files%s\n' "$name" "$took" "${execs:-?}" "$cov" \
        "$(ls "fuzz/corpus/$name" | wc -l)" "$([ $rc = 0 ] || echo "  CRASH (fuzz/$name.log)")"
    return $rc
}
targets=""
for t in "$dir"/fuzz_*; do
    case "$t" in *.d) continue ;; esac  # the compiler's dependency files
    name=$(basename "$t" | sed 's/^fuzz_//')
    [ -z "$FUZZ_ONLY" ] || case " $FUZZ_ONLY " in *" $name "*) ;; *) continue ;; esac
    targets="$targets $t"
done
[ -n "$targets" ] || { echo "run.sh: no fuzz target in $dir${FUZZ_ONLY:+ named $FUZZ_ONLY}"; exit 1; }
bad=0; lane=0; st=$(mktemp -d); trap 'rm -rf "$st"' EXIT
for t in $targets; do  # lane k takes every JOBS-th target
    echo "$t" >>"$st/lane$lane"; lane=$(( (lane + 1) % jobs ))
done
for l in "$st"/lane*; do
    ( while read -r t; do one "$t" || touch "$st/crashed"; done <"$l" ) &
done
wait
[ ! -e "$st/crashed" ] || bad=1
exit $bad
