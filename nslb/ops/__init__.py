"""Operating nslb from the host's shell: `nslb trace` (the path of one VIP, what is wrong
on it) and `nslb doctor` (is this host fit to run load balancers). Both only read; neither
needs `nslb serve` to be running."""
