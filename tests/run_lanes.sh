#!/usr/bin/env bash
# The whole suite in three lanes, for `make test`, so CI stays within its 30 minutes on a
# 2-core machine:
#   - the integration tier (real haproxy, namespaces, keepalived: mostly waiting on timers,
#     health checks and failovers),
#   - the contract tier (the stock openstack CLI, openstacksdk and Ansible against
#     `nslb serve` with the noop driver: mostly waiting on client start-ups),
#   - everything else (unit, functional, security: CPU-bound), in this shell.
# Each lane uses only its own ports, state directories and name prefixes, so they never
# meet. Exit status: the first failing lane's, in the order they are printed.
set -u
bin=$1
run_lane() {  # name, log, pytest arguments...
  local log=$2
  shift 2
  "$bin/pytest" -q -ra -p no:cacheprovider "$@" >"$log" 2>&1
}
integration_log=$(mktemp /tmp/nslb-integration-lane.XXXXXX)
contract_log=$(mktemp /tmp/nslb-contract-lane.XXXXXX)
run_lane integration "$integration_log" tests/integration &
integration=$!
run_lane contract "$contract_log" tests/contract &
contract=$!
"$bin/pytest" -q -ra -p no:cacheprovider --ignore=tests/contract --ignore=tests/integration
rest=$?
wait "$integration"
integration_rc=$?
wait "$contract"
contract_rc=$?
echo "=== integration tier (ran beside the others) ==="
cat "$integration_log"
echo "=== contract tier (ran beside the others) ==="
cat "$contract_log"
rm -f "$integration_log" "$contract_log"
for rc in "$rest" "$integration_rc" "$contract_rc"; do
  if [ "$rc" -ne 0 ]; then exit "$rc"; fi
done
exit 0
