# lib.sh - helpers sourced by the tests/test_*.sh scripts (not a test itself).

# lines FILE: its line count, 0 if it does not exist
lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }

# kill_after_first_epoch PID DIR: wait (up to 30 s) until the training run PID has logged
# its first epoch and written DIR/last.safetensors, then kill -9 it
kill_after_first_epoch() {
    _i=0
    while [ $_i -lt 600 ] && { [ "$(lines "$2/log.csv")" -lt 2 ] || ! [ -f "$2/last.safetensors" ]; }; do
        sleep 0.05; _i=$((_i + 1))
    done
    kill -9 "$1" 2>/dev/null; wait "$1" 2>/dev/null
}
