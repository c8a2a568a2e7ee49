#!/usr/bin/env bash
# A real single-node Apache Kafka broker (KRaft, broker and controller in one JVM) for the tests, with no Docker
# and no Kafka install: the broker jars come from Maven Central through mvn and are cached in .cache/kafka/.
#
#   scripts/kafka.sh start    fetch (once), format (once per data dir), start, wait until a metadata request answers
#   scripts/kafka.sh stop     stop exactly the broker this script started (its PID file), SIGTERM then SIGKILL
#   scripts/kafka.sh status   exit 0 and print "running pid N 127.0.0.1:PORT" when it runs, exit 3 when not
#   scripts/kafka.sh pid      print the broker's PID (for fault tests that kill -9 it)
#
# Environment: KAFKA_PORT (19092), KAFKA_CONTROLLER_PORT (KAFKA_PORT+1), KAFKA_VERSION (4.1.2), KAFKA_HEAP (512m),
# KAFKA_START_TIMEOUT seconds (90), KAFKA_FRESH=1 to wipe the data dir before starting (ignored while it runs).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

VERSION=${KAFKA_VERSION:-4.1.2}
PORT=${KAFKA_PORT:-19092}
CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-$((PORT + 1))}
HEAP=${KAFKA_HEAP:-512m}
START_TIMEOUT=${KAFKA_START_TIMEOUT:-90}
CACHE=$ROOT/.cache/kafka/$VERSION
LIBS=$CACHE/libs
RUN=$ROOT/.cache/kafka/run-$PORT
PID_FILE=$RUN/kafka.pid
LOG=$RUN/kafka.log
ADDRESS=127.0.0.1:$PORT

say() { echo "kafka.sh: $*" >&2; }
die() { say "$*"; exit 1; }

# The PID from the PID file when that process is alive and is our broker (guards against a reused PID). Without a
# PID file (lost to an interrupted run), a broker of this run folder is still found by its command line, and the
# PID file is written again, so that it is stopped rather than left holding the port.
running_pid() {
  local pid=""
  [ -f "$PID_FILE" ] && pid=$(cat "$PID_FILE")
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$RUN/server.properties"; then
    echo "$pid"
    return 0
  fi
  pid=$(pgrep -f -- "kafka.Kafka $RUN/server.properties" | head -n 1) || return 1
  [ -n "$pid" ] || return 1
  echo "$pid" >"$PID_FILE"
  echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

fetch() {
  if [ -f "$LIBS/.complete" ]; then return; fi
  command -v mvn >/dev/null || die "mvn is not installed; it fetches the Kafka broker jars from Maven Central"
  command -v java >/dev/null || die "java (17 or later) is not installed; the Kafka broker needs it"
  say "fetching Apache Kafka $VERSION from Maven Central into ${LIBS#"$ROOT"/} (once)"
  mkdir -p "$CACHE"
  cat >"$CACHE/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.integration-hub</groupId>
  <artifactId>kafka-broker-for-tests</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <!-- The broker (kafka.Kafka, kafka.tools.StorageTool) with everything it needs at runtime. -->
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$VERSION</version></dependency>
    <!-- Kafka logs through slf4j 1.7; this routes it to log4j2, which the distribution also ships. -->
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>2.25.3</version></dependency>
  </dependencies>
</project>
EOF
  rm -rf "$LIBS"
  (cd "$CACHE" && mvn -q -B dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$LIBS") >&2 ||
    die "mvn could not fetch org.apache.kafka:kafka_2.13:$VERSION (is Maven Central reachable?)"
  # A tiny admin client that makes real requests (Metadata via listTopics, DescribeCluster): "up" means answering.
  mkdir -p "$CACHE/probe"
  cat >"$CACHE/probe/Probe.java" <<'EOF'
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListTopicsOptions;

public class Probe {
  public static void main(String[] args) {
    Properties p = new Properties();
    p.put("bootstrap.servers", args[0]);
    p.put("request.timeout.ms", "2000");
    p.put("default.api.timeout.ms", "3000");
    p.put("socket.connection.setup.timeout.ms", "1000");
    try (Admin admin = Admin.create(p)) {
      int topics = admin.listTopics(new ListTopicsOptions().listInternal(true).timeoutMs(3000)).names().get(4, TimeUnit.SECONDS).size();
      int nodes = admin.describeCluster().nodes().get(4, TimeUnit.SECONDS).size();
      System.out.println("nodes=" + nodes + " topics=" + topics);
    } catch (Exception e) {
      System.err.println(e);
      System.exit(1);
    }
  }
}
EOF
  javac -nowarn -cp "$LIBS/*" -d "$CACHE/probe" "$CACHE/probe/Probe.java" || die "could not compile the readiness probe"
  cat >"$CACHE/probe/log4j2.properties" <<'EOF'
rootLogger.level = OFF
EOF
  touch "$LIBS/.complete"
}

probe() {
  java -Xmx64m -XX:TieredStopAtLevel=1 -Dlog4j2.configurationFile="$CACHE/probe/log4j2.properties" \
    -cp "$CACHE/probe:$LIBS/*" Probe "$ADDRESS" 2>/dev/null
}

configure() {
  mkdir -p "$RUN"
  cat >"$RUN/server.properties" <<EOF
# Written by scripts/kafka.sh: one node that is broker and KRaft controller, on loopback only.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$ADDRESS
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$RUN/data
# Tests create (and delete) their topics explicitly, so a typo is an error rather than a new topic.
auto.create.topics.enable=false
delete.topic.enable=true
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# After kill -9 the controller keeps the dead broker's registration until this session ends, and the restarted
# broker cannot register before (DUPLICATE_BROKER_REGISTRATION): keep it short so fault tests restart in seconds.
broker.session.timeout.ms=2000
broker.heartbeat.interval.ms=500
log.flush.interval.messages=1
num.network.threads=2
num.io.threads=4
EOF
  cat >"$RUN/log4j2.properties" <<'EOF'
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = out
logger.controller.name = org.apache.kafka.controller
logger.controller.level = WARN
logger.raft.name = org.apache.kafka.raft
logger.raft.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
logger.log.name = kafka.log
logger.log.level = WARN
logger.storage.name = org.apache.kafka.storage
logger.storage.level = WARN
EOF
}

start() {
  # One start at a time per run folder: two test runs starting together would otherwise both launch a broker, and
  # the loser's cleanup took the winner's PID file with it.
  mkdir -p "$RUN"
  exec 9>"$RUN/start.lock"
  flock 9
  if pid=$(running_pid); then
    say "already running (pid $pid) on $ADDRESS"
    echo "already running pid $pid $ADDRESS"
    return
  fi
  if port_open "$PORT"; then die "port $PORT is taken by another process; set KAFKA_PORT to a free port"; fi
  if port_open "$CONTROLLER_PORT"; then die "controller port $CONTROLLER_PORT is taken; set KAFKA_CONTROLLER_PORT"; fi
  fetch
  configure
  if [ "${KAFKA_FRESH:-}" = 1 ]; then rm -rf "$RUN/data"; fi
  if [ ! -f "$RUN/data/meta.properties" ]; then
    local cluster_id
    cluster_id=$(java -cp "$LIBS/*" -Dlog4j2.configurationFile="$CACHE/probe/log4j2.properties" kafka.tools.StorageTool random-uuid)
    java -Xmx256m -cp "$LIBS/*" -Dlog4j2.configurationFile="$CACHE/probe/log4j2.properties" \
      kafka.tools.StorageTool format --ignore-formatted -t "$cluster_id" -c "$RUN/server.properties" >"$RUN/format.log" 2>&1 ||
      { cat "$RUN/format.log" >&2; die "formatting the KRaft log dir $RUN/data failed"; }
  fi
  local begin=$SECONDS
  : >"$LOG"
  # setsid: the broker outlives the shell and test runner that started it, and no signal to their group reaches it.
  setsid java -Xms128m -Xmx"$HEAP" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$RUN/log4j2.properties" -cp "$LIBS/*" \
    kafka.Kafka "$RUN/server.properties" </dev/null >>"$LOG" 2>&1 9>&- &
  local pid=$!
  echo "$pid" >"$PID_FILE"
  while true; do
    if ! kill -0 "$pid" 2>/dev/null; then
      say "the broker exited during start; the end of $LOG:"
      tail -n 40 "$LOG" >&2
      [ "$(cat "$PID_FILE" 2>/dev/null)" = "$pid" ] && rm -f "$PID_FILE"
      exit 1
    fi
    if port_open "$PORT" && probe >/dev/null; then break; fi
    if ((SECONDS - begin > START_TIMEOUT)); then
      say "the broker did not answer a metadata request on $ADDRESS within ${START_TIMEOUT}s; the end of $LOG:"
      tail -n 40 "$LOG" >&2
      kill -KILL "$pid" 2>/dev/null || true
      rm -f "$PID_FILE"
      exit 1
    fi
    sleep 0.3
  done
  say "Apache Kafka $VERSION up on $ADDRESS (pid $pid) in $((SECONDS - begin))s"
  echo "started pid $pid $ADDRESS"
}

stop() {
  local pid
  if ! pid=$(running_pid); then
    rm -f "$PID_FILE"
    say "not running"
    return
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.3
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "the broker (pid $pid) did not stop within 30s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PID_FILE" "$RUN/started-by-tests"
  say "stopped (pid $pid)"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status)
    if pid=$(running_pid); then echo "running pid $pid $ADDRESS"; else echo "stopped"; exit 3; fi
    ;;
  pid)
    running_pid || exit 3
    ;;
  *)
    echo "usage: scripts/kafka.sh start|stop|status|pid   (env KAFKA_PORT, KAFKA_VERSION, KAFKA_FRESH=1)" >&2
    exit 2
    ;;
esac
