# shellcheck shell=bash
# workloads.sh - the benchmark workloads as `batchnn train` arguments, for the scripts that
# time whole training runs (compare.sh, report.sh). Source it; it defines no side effects.
# W1-W6 are `batchnn bench`'s full-batch workloads (shared definitions: arch, activation,
# bias, data, n, lr); M1-M3 are the mini-batch ones (plain SGD, batches in data order).
#
#   bnn_workload_args ID   prints the train arguments of workload ID (one line), or fails
#   bnn_workload_ids       the known IDs, comma-separated
#   bnn_epoch_ms BIN LOG EPOCHS ARGS...   runs BIN train ARGS for 1 + EPOCHS epochs, writing
#                          LOG, and prints the median of the timed epochs' seconds (the warm-up
#                          epoch excluded) in milliseconds

bnn_workload_ids() { echo "W1,W2,W3,W4,W5,W6,M1,M2,M3"; }

bnn_workload_args() {
  case "$1" in
    W1) echo "--arch 1,1 --act identity --no-bias --data synth:linear --samples 16777216 --lr 1e-3" ;;
    W2) echo "--arch 2,1 --data synth:uniform --samples 16777216 --lr 0.1" ;;
    W3) echo "--arch 1,1,1,1,1 --data synth:uniform --samples 4194304 --lr 0.1" ;;
    W4) echo "--arch 2,16,16,1 --data synth:uniform --samples 1048576 --lr 0.1" ;;
    W5) echo "--arch 784,256,10 --data synth:uniform --samples 60000 --lr 0.1" ;;
    W6) echo "--arch 512,1024,1024,16 --data synth:uniform --samples 16384 --lr 0.1" ;;
    M1) echo "--arch 784,256,10 --data synth:uniform --samples 60000 --lr 0.1 --batch 64" ;;
    M2) echo "--arch 784,256,10 --data synth:uniform --samples 60000 --lr 0.1 --batch 256" ;;
    M3) echo "--arch 2,16,16,1 --data synth:uniform --samples 1048576 --lr 0.1 --batch 1024" ;;
    *) return 1 ;;
  esac
}

bnn_epoch_ms() {
  local bin=$1 log=$2 epochs=$3; shift 3
  "$bin" train "$@" --seed 1 --epochs $((epochs + 1)) --log "$log" --quiet || return 1
  awk -F, 'NR > 2 { print $3 }' "$log" | sort -g |
    awk '{ v[NR] = $1 } END { if (NR == 0) exit 1
          m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.6f\n", 1e3 * m }'
}
