#!/usr/bin/env bash
# `npm run bench`: the hub against hand-written pipes, AMQP -> transform -> Kafka and Kafka -> AMQP, what the
# journal costs (the first scenario's hub pipe with journal none / failures / all), and request-reply over REST and
# SOAP against hand-written pipes and Node-RED (scenarios 4 and 5, installed on demand in .cache/node-red); see
# bench/bench.ts.
#
# Installs and builds (scripts/ensure-deps.sh), makes sure a Kafka broker answers on 127.0.0.1:$KAFKA_PORT (19092),
# then runs dist/bench/bench.js. A broker that already answers is used as it is, whoever started it: this run
# holds a lease file in .cache/kafka/run-$PORT/leases/ (the protocol of test/support/kafka-global-setup.ts) so a
# test run that finishes meanwhile does not stop it. When none answers, this script starts one with
# scripts/kafka.sh and marks it "started by a run": at the end it stops it unless another run still holds a lease
# (that run, the last one out, stops it then). RabbitMQ must run on $AMQP_URL (amqp://guest:guest@127.0.0.1:5672).
#
# Environment: KAFKA_PORT, KAFKA_BROKERS (use that cluster; nothing is started), AMQP_URL, BENCH_N (messages per
# measured round, 20000), BENCH_ROUNDS (measured rounds per pipe, 3), BENCH_CPU_PROF=1 (write .cpuprofile files to .cache/bench-prof),
# BENCH_TRACE=1 (produce request sizes and times, confirm times, hub in-flight), BENCH_SCENARIOS (1,2,3,4,5),
# BENCH_RR_ROUNDS (2), BENCH_RR_SECONDS (6, closed loop), BENCH_RR_OPEN_SECONDS (6), BENCH_RR_RATE (1000),
# BENCH_RR_CONNECTIONS (50), BENCH_RR_WARMUP (5), BENCH_SOAK=1 (the hub at BENCH_RR_RATE for BENCH_SOAK_SECONDS, 300),
# BENCH_PIPES (e.g. raw,hub,strict or none,failures,all; unset: all of them), REDIS_URL (scenario 3 adds `all` on
# the Redis journal, under a fresh key prefix deleted after).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

bash scripts/ensure-deps.sh

PORT=${KAFKA_PORT:-19092}
RUN_DIR=$ROOT/.cache/kafka/run-$PORT
LEASES=$RUN_DIR/leases
MARKER=$RUN_DIR/started-by-tests
started=0

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Runs (other than this one) that hold a lease on the broker and are still alive.
other_users() {
  local n=0 f pid
  [ -d "$LEASES" ] || { echo 0; return; }
  for f in "$LEASES"/*; do
    [ -e "$f" ] || continue
    pid=${f##*/}
    [[ "$pid" =~ ^[0-9]+$ ]] || continue
    [ "$pid" = "$$" ] && continue
    kill -0 "$pid" 2>/dev/null && n=$((n + 1))
  done
  echo "$n"
}

finish() {
  local code=$?
  if [ -z "${KAFKA_BROKERS:-}" ]; then
    rm -f "$LEASES/$$"
    if [ "$started" = 1 ]; then
      if [ "$(other_users)" = 0 ] && [ -f "$MARKER" ]; then
        echo "bench: stopping the Kafka broker this run started" >&2
        bash scripts/kafka.sh stop || true
      else
        echo "bench: leaving the Kafka broker running: another run holds a lease (the last one out stops it)" >&2
      fi
    fi
  fi
  exit "$code"
}
trap finish EXIT
trap 'exit 130' INT TERM

SCENARIOS=${BENCH_SCENARIOS:-1,2,3,4,5}
if [[ ! ",$SCENARIOS," =~ ,[123], ]]; then
  : # scenarios 4 and 5 need no broker
elif [ -n "${KAFKA_BROKERS:-}" ]; then
  echo "bench: using the Kafka cluster at $KAFKA_BROKERS" >&2
else
  mkdir -p "$LEASES"
  : >"$LEASES/$$"
  if port_open "$PORT"; then
    echo "bench: a Kafka broker already answers on 127.0.0.1:$PORT; using it (and leaving it running)" >&2
  else
    out=$(bash scripts/kafka.sh start)
    case "$out" in
      started*)
        started=1
        echo "$$" >"$MARKER"
        ;;
    esac
    echo "bench: kafka: $out" >&2
  fi
  export KAFKA_BROKERS_FOR_BENCH=127.0.0.1:$PORT
fi

# Bounded: the bench stops itself well before this; the timeout only guards against a hang.
limit=420
[ "${BENCH_SOAK:-}" = 1 ] && limit=$((limit + 2 * ${BENCH_SOAK_SECONDS:-300}))
timeout --signal=TERM --kill-after=15 "$limit" node ${BENCH_CPU_PROF:+--cpu-prof --cpu-prof-dir=.cache/bench-prof} dist/bench/bench.js
