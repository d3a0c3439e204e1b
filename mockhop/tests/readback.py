"""Reads topics back with kafka-python, a Kafka client independent of
librdkafka (which `mockhop produce` uses), for mockhop's produce test.

Usage: readback.py BROKERS TOTAL TIMEOUT_S TOPIC...

Reads every partition of every TOPIC from the beginning, without a consumer
group, until TOTAL records have arrived (then one more short poll, so that
records beyond TOTAL show up too), and prints one JSON object per record:
topic, partition, offset, timestamp, timestamp_type ("CreateTime" or
"LogAppendTime"), key, headers as [key, value] pairs in order, value; bytes
are base64, absent ones null. Exits non-zero if fewer than TOTAL records
arrive within TIMEOUT_S seconds.
"""

import base64
import json
import sys
import time

from kafka import KafkaConsumer, TopicPartition

TIMESTAMP_TYPES = {0: "CreateTime", 1: "LogAppendTime"}


def b64(data):
    return None if data is None else base64.b64encode(data).decode("ascii")


def main(argv):
    if len(argv) < 4:
        sys.exit(__doc__)
    brokers, total, timeout_s, topics = argv[0], int(argv[1]), float(argv[2]), argv[3:]
    deadline = time.monotonic() + timeout_s
    consumer = KafkaConsumer(
        bootstrap_servers=brokers.split(","),
        group_id=None,
        enable_auto_commit=False,
        # Near-limit messages are about 1 MB.
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_bytes=16 * 1024 * 1024,
    )
    partitions = []
    for topic in topics:
        ids = consumer.partitions_for_topic(topic)
        while not ids and time.monotonic() < deadline:
            time.sleep(0.2)
            ids = consumer.partitions_for_topic(topic)
        if not ids:
            sys.exit(f"readback: no partitions for topic {topic!r}")
        partitions += [TopicPartition(topic, p) for p in sorted(ids)]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    seen = 0
    extra_poll_done = False
    while time.monotonic() < deadline and not extra_poll_done:
        extra_poll_done = seen >= total
        batches = consumer.poll(timeout_ms=1000 if extra_poll_done else 500)
        for records in batches.values():
            for r in records:
                if r.timestamp_type not in TIMESTAMP_TYPES:
                    sys.exit(f"readback: unknown timestamp type {r.timestamp_type!r}")
                print(json.dumps({
                    "topic": r.topic,
                    "partition": r.partition,
                    "offset": r.offset,
                    "timestamp": r.timestamp,
                    "timestamp_type": TIMESTAMP_TYPES[r.timestamp_type],
                    "key": b64(r.key),
                    "headers": [[k, b64(v)] for k, v in r.headers],
                    "value": b64(r.value),
                }))
                seen += 1
    consumer.close()
    if seen < total:
        sys.exit(f"readback: {seen} of {total} records within {timeout_s} s")


if __name__ == "__main__":
    main(sys.argv[1:])
