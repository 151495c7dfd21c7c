#!/usr/bin/env bash
# Reruns the failover tests N times (default 20) against Apache Kafka and prints the pass count.
# Uses the broker in PIONEER_TEST_KAFKA, or lets the tests start one.   Usage: scripts/repeat_failover.sh [N]
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false OMP_WAIT_POLICY=PASSIVE
runs="${1:-20}"
tests=(
  "tests/integration/test_monitor_join.py::test_worker_killed_mid_batch_is_replayed_by_its_successor"
  "tests/integration/test_monitor_join.py::test_killed_member_s_partitions_move_to_its_peer"
  "tests/integration/test_monitor_worker.py::test_two_workers_share_partitions_and_a_killed_one_loses_and_doubles_nothing"
)
passed=0
for i in $(seq 1 "$runs"); do
  started=$(date +%s)
  if "${PIONEER_VENV:-.venv}/bin/python" -m pytest -q -p no:cacheprovider "${tests[@]}" > ".failover-run-$i.log" 2>&1; then
    passed=$((passed + 1)); verdict=pass; rm -f ".failover-run-$i.log"
  else
    verdict="FAIL (log: .failover-run-$i.log)"
  fi
  echo "run $i/$runs: $verdict in $(( $(date +%s) - started ))s"
done
echo "failover: $passed/$runs passed"
[[ "$passed" == "$runs" ]]
