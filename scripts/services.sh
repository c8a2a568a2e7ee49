#!/usr/bin/env bash
# Makes sure the local services the tests use are up: RabbitMQ on 127.0.0.1:5672 and Redis on 127.0.0.1:6379
# (each started the way this machine starts it, if it is down). Kafka is started by the test run itself
# (test/support/kafka-global-setup.ts); the Redis-away test runs a redis-server of its own.
set -euo pipefail

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  local port=$1 name=$2 deadline=$((SECONDS + 90))
  until port_open "$port"; do
    if (( SECONDS > deadline )); then echo "services: $name did not come up on 127.0.0.1:$port" >&2; return 1; fi
    sleep 1
  done
}

if ! port_open 5672; then
  echo "services: RabbitMQ is not running; starting it"
  if command -v rabbitmqctl >/dev/null && rabbitmqctl -q ping >/dev/null 2>&1; then
    rabbitmqctl -q start_app
  elif command -v rabbitmq-server >/dev/null; then
    rabbitmq-server -detached
  else
    echo "services: RabbitMQ is not installed; the AMQP tests need it on 127.0.0.1:5672 (guest/guest)" >&2
    exit 1
  fi
  wait_port 5672 RabbitMQ
fi

if ! port_open 6379; then
  echo "services: Redis is not running; starting it"
  if command -v redis-server >/dev/null; then
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
  else
    echo "services: Redis is not installed; the Redis journal's tests need it on 127.0.0.1:6379" >&2
    exit 1
  fi
  wait_port 6379 Redis
fi
