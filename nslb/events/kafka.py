"""Delivery to Kafka with confluent-kafka (librdkafka): the client oslo.messaging's own
Kafka driver uses, shipped as manylinux wheels with librdkafka inside (nothing to build),
and its producer runs in librdkafka's threads with the GIL released, so a broker that
hangs never holds up the API's threads.

Order: messages are keyed by load balancer id, so each LB's events land in one partition,
in the order the outbox hands them over; one request in flight per broker keeps that order
across librdkafka's own retries. The producer is not idempotent on purpose: delivery is
at least once anyway (the outbox sends again what was not acknowledged, with the same
message_id), and an idempotent producer gets stuck on a broker that restarted without its
state (it keeps a producer id the broker no longer knows).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from nslb.events.outbox import Pending
from nslb.events.target import Target

log = logging.getLogger(__name__)


class KafkaSink:
    """Sends batches of outbox rows and says which the broker acknowledged."""

    def __init__(self, target: Target, timeout: float = 10.0) -> None:
        """`timeout`: how long one message may wait for the broker before it counts as
        failed (librdkafka's message.timeout.ms); a batch never takes much longer."""
        self.target = target
        self.timeout = timeout
        self._fatal = threading.Event()
        self._stopping = threading.Event()
        self._producer: Producer | None = None

    def _config(self) -> dict[str, Any]:
        return {
            "bootstrap.servers": self.target.bootstrap,
            "client.id": "nslb",
            "enable.idempotence": False,
            "max.in.flight.requests.per.connection": 1,
            "acks": "all",
            "message.timeout.ms": int(self.timeout * 1000),
            "linger.ms": 5,
            "reconnect.backoff.max.ms": 2000,
            "log.connection.close": False,
            "logger": logging.getLogger("nslb.events.librdkafka"),
            "error_cb": self._on_error,
        }

    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():
            self._fatal.set()
            log.error("kafka producer: fatal error, starting a new producer: %s", err)
        else:
            log.debug("kafka producer: %s", err)

    def _ready(self) -> Producer:
        if self._producer is not None and self._fatal.is_set():
            self._discard(self._producer)
            self._producer = None
        if self._producer is None:
            self._fatal.clear()
            self._producer = Producer(self._config())
        return self._producer

    def send(self, batch: list[Pending]) -> set[int]:
        """Produce the batch in order and wait until each message is acknowledged or has
        failed; the seqs of those acknowledged."""
        producer = self._ready()
        acked: set[int] = set()
        failures: list[str] = []

        def report(seq: int) -> Any:
            def on_delivery(err: KafkaError | None, _msg: Message) -> None:
                if err is None:
                    acked.add(seq)
                else:
                    failures.append(str(err))
            return on_delivery

        try:
            self._produce(producer, batch, report)
            # Every message gets its report within message.timeout.ms; wait for all of
            # them, so nothing of this batch is still queued when the next one is produced.
            while len(producer) > 0 and not self._fatal.is_set() \
                    and not self._stopping.is_set():
                producer.flush(0.2)
        except Exception as exc:  # whatever the client raises: start anew
            # A fatal error surfaces here (as KafkaException, or a SystemError wrapping it
            # when raised inside a callback). The next batch gets a new producer; what was
            # not acknowledged is sent again.
            log.warning("kafka producer failed, starting a new one: %s", exc)
            self._fatal.set()
        if failures:
            log.debug("kafka: %d of %d not delivered: %s", len(failures), len(batch),
                      failures[0])
        return acked

    def _produce(self, producer: Producer, batch: list[Pending],
                 report: Callable[[int], Any]) -> None:
        for item in batch:
            key = item.loadbalancer_id.encode() if item.loadbalancer_id else None
            try:
                producer.produce(self.target.topic, value=item.body.encode(), key=key,
                                 on_delivery=report(item.seq))
            except BufferError:
                return  # librdkafka's queue is full: the rest waits for the next batch
            producer.poll(0)

    @staticmethod
    def _discard(producer: Producer) -> None:
        """Drop a producer after a fatal error, with what it still holds."""
        try:
            producer.purge()
            producer.flush(0)
        except KafkaException as exc:
            log.debug("kafka: discarding the failed producer: %s", exc)

    def interrupt(self) -> None:
        """From another thread: make a send waiting for the broker return now (what it
        did not get acknowledged is sent again after the next start)."""
        self._stopping.set()

    def close(self) -> None:
        if self._producer is not None:
            try:
                self._producer.flush(1)
            except KafkaException as exc:
                log.debug("kafka: closing the producer: %s", exc)
            self._producer = None
