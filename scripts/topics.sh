#!/usr/bin/env bash
# Creates the Kafka topics the pipeline uses (idempotent).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
topic="${KAFKA_TOPIC:-catalog.product-events}"
partitions="${KAFKA_TOPIC_PARTITIONS:-6}"
bash "$ROOT/scripts/kafka.sh" create-topic "$topic" "$partitions"
bash "$ROOT/scripts/kafka.sh" create-topic "${KAFKA_DLQ_TOPIC:-$topic.dlq}" "$partitions"
