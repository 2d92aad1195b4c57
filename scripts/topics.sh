#!/usr/bin/env bash
# usage: scripts/topics.sh   (KAFKA_TOPIC, KAFKA_TOPIC_PARTITIONS, KAFKA_DLQ_TOPIC)
# Creates the Kafka topics the pipeline uses (idempotent).
source "$(dirname "${BASH_SOURCE[0]}")/lib/help.sh" "$@"
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
topic="${KAFKA_TOPIC:-catalog.product-events}"
partitions="${KAFKA_TOPIC_PARTITIONS:-6}"
bash "$ROOT/scripts/kafka.sh" create-topic "$topic" "$partitions"
bash "$ROOT/scripts/kafka.sh" create-topic "${KAFKA_DLQ_TOPIC:-$topic.dlq}" "$partitions"
