#!/usr/bin/env bash
# The whole suite in two lanes, for `make test`: the contract tier (the stock openstack CLI,
# openstacksdk and Ansible against `nslb serve` on loopback with the noop driver: mostly
# waiting on client start-ups) runs beside everything else. Both lanes use only their own
# ports, state directories and name prefixes, so they never meet. Exit status: the first
# lane's failure, else the contract lane's.
set -u
bin=$1
log=$(mktemp /tmp/nslb-contract-lane.XXXXXX)
"$bin/pytest" -q -ra -p no:cacheprovider tests/contract >"$log" 2>&1 &
contract=$!
"$bin/pytest" -q -ra --ignore=tests/contract
rest=$?
wait "$contract"
lane=$?
echo "=== contract tier (ran beside the others) ==="
cat "$log"
rm -f "$log"
if [ "$rest" -ne 0 ]; then exit "$rest"; fi
exit "$lane"
