"""Host loss with real agents, real haproxy and real traffic (root): two agent hosts and
one controller with heartbeats (tests/integration/hostfail_site.py). A SINGLE LB on host
a serves a client on host b's side of the physnet; kill -9 host a's agent and delete
its namespace: the LB is rebuilt on host b and serves again. Host a comes back (a new
namespace, the same state dir) and removes its stale amphora; the VIP keeps serving."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.integration.api_env import lab_tag
from tests.integration.conftest import Lab
from tests.integration.hostfail_site import Site


@pytest.fixture
def site() -> Iterator[Site]:
    lab = Lab(tag=lab_tag())
    built: Site | None = None
    problems: list[str] = []
    try:
        built = Site(lab)
        built.start()
        yield built
    finally:
        if built is not None:
            problems = built.close()
        else:
            lab.cleanup()
    assert not problems, problems


def test_a_single_lb_moves_off_a_lost_host_and_the_host_cleans_up_on_return(
        site: Site) -> None:
    assert site.api is not None
    a, b = site.hosts["a"], site.hosts["b"]
    lb, client, vip_url = site.single_lb()
    (old,) = a.amphorae()
    assert b.amphorae() == set()
    assert site.lab.names(client, vip_url, 3) == ["hf-backend"] * 3

    seconds = site.lose_a(client, vip_url)
    print(f"host loss -> SINGLE LB serving again: {seconds:.2f} s")
    (new,) = b.amphorae()
    assert new != old
    amphorae = site.api.call("GET", f"/v2/octavia/amphorae?loadbalancer_id={lb['id']}",
                             200)["amphorae"]
    assert [(x["id"], x["compute_id"]) for x in amphorae] == [(new, b.host_id())]
    view = site.hosts_view()
    assert view[a.host_id()]["state"] == "DOWN" and view[b.host_id()]["state"] == "UP"
    assert a.amphorae() == {old}  # its delete waits for the host

    a.up()  # the host comes back: a new namespace, the same state dir
    site.join_physnet()
    a.run()
    deadline = time.monotonic() + 60
    while a.amphorae():
        assert time.monotonic() < deadline, a.log.read_text()
        time.sleep(0.2)
    assert site.hosts_view()[a.host_id()]["state"] == "UP"
    assert b.amphorae() == {new}, site.diagnose("the replacement changed")
    assert site.lab.names(client, vip_url, 3) == ["hf-backend"] * 3
