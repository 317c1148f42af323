#!/usr/bin/env bash
# Oracle and Taylor scoring of a fixture in-process, on Spark local[1] and local[2], and on a
# standalone Spark cluster of two one-core workers started here (loopback, ephemeral ports,
# stopped on exit): wall time of each run (JVM and Spark start included), the scoring's own time
# (the JSON's stats.seconds), and the largest difference from the in-process scores.
#
#   bench/spark.sh [MODEL] [--taylor-calib N] [--oracle-calib N] [--batch N] [--modes in,in1,local1,local2,cluster]
#
# Defaults: testmodels resnet20.onnx on the first 256 (Taylor) and 64 (Oracle) Fashion-MNIST
# calibration images, batches of 16 (so that every Spark run has shards of several batches).
# In-process runs with --threads 2 (in: both cores) and --threads 1 (in1); each Spark task gets one
# ONNX Runtime thread (spark.task.cpus = 1).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
fixtures=testmodels/src/main/resources/onnxprune/testmodels
model=$fixtures/resnet20.onnx
if [[ $# -gt 0 && "$1" != --* ]]; then model="$1"; shift; fi
taylor_calib=256
oracle_calib=64
batch=16
modes=in,in1,local1,local2,cluster
while [[ $# -gt 0 ]]; do
  case "$1" in
    --taylor-calib) taylor_calib="$2"; shift 2 ;;
    --oracle-calib) oracle_calib="$2"; shift 2 ;;
    --batch) batch="$2"; shift 2 ;;
    --modes) modes="$2"; shift 2 ;;
    *) echo "bench/spark.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
out="$root/.bench-out/spark"
mkdir -p "$out"
rm -f "$out"/*.json "$out"/*.log

# the CLI jar (in-process) and the spark module's jar (the launcher builds each when stale)
mvn -q -o -B -pl cli,spark -am package -DskipTests -DskipITs >&2
touch cli/target/onnx-prune.jar spark/target/onnx-prune-spark.jar # what the launcher checks against
jar="$root/spark/target/onnx-prune-spark.jar"
classpath="$(cat "$root/spark/target/spark-classpath.txt")"
opens="-XX:+IgnoreUnrecognizedVMOptions -Xss16m"
for p in java.lang java.lang.invoke java.lang.reflect java.io java.net java.nio java.util java.util.concurrent \
    java.util.concurrent.atomic jdk.internal.ref sun.nio.ch sun.nio.cs sun.security.action sun.util.calendar; do
  opens="$opens --add-opens=java.base/$p=ALL-UNNAMED"
done
opens="$opens -Djdk.reflect.useDirectMethodHandle=false -Dio.netty.tryReflectionSetAccessible=true"

args() { # criterion calib
  echo "$model --criterion $1 --images $fixtures/fmnist-calib-images-idx3-ubyte.gz --labels"\
    "$fixtures/fmnist-calib-labels-idx1-ubyte.gz --mean 0.286 --std 0.353 --calib-limit $2 --calib-batch $batch"\
    "--device cpu --json"
}

now() { date +%s.%N; }

run() { # name criterion calib command...
  local name="$1" crit="$2" calib="$3"
  shift 3
  local t0 t1
  t0=$(now)
  "$@" > "$out/$name-$crit.json" 2> "$out/$name-$crit.log"
  t1=$(now)
  echo "$name $crit $(echo "$t1 - $t0" | bc)" >> "$out/times.txt"
}

pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    pkill -TERM -P "$pid" 2>/dev/null || true
    kill "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
}
trap cleanup EXIT

: > "$out/times.txt"
for crit in taylor oracle; do
  calib=$taylor_calib
  [[ $crit == oracle ]] && calib=$oracle_calib
  # shellcheck disable=SC2046
  [[ ,$modes, == *,in,* ]] && run in "$crit" "$calib" ./onnx-prune score $(args "$crit" "$calib") --threads 2
  # shellcheck disable=SC2046
  [[ ,$modes, == *,in1,* ]] && run in1 "$crit" "$calib" ./onnx-prune score $(args "$crit" "$calib") --threads 1
  # shellcheck disable=SC2046
  [[ ,$modes, == *,local1,* ]] && run local1 "$crit" "$calib" ./onnx-prune score $(args "$crit" "$calib") \
    --spark-master 'local[1]'
  # shellcheck disable=SC2046
  [[ ,$modes, == *,local2,* ]] && run local2 "$crit" "$calib" ./onnx-prune score $(args "$crit" "$calib") \
    --spark-master 'local[2]'
done

if [[ ,$modes, == *,cluster,* ]]; then
  home="$out/spark-home"
  mkdir -p "$home/jars"
  for j in ${classpath//:/ }; do
    [[ $j == *.jar ]] && ln -sf "$j" "$home/jars/"
  done
  export SPARK_HOME="$home" SPARK_LOCAL_IP=127.0.0.1 SPARK_SCALA_VERSION=2.13
  # shellcheck disable=SC2086
  java $opens -Xmx1g -cp "$classpath" org.apache.spark.deploy.master.Master --host 127.0.0.1 --port 0 \
    --webui-port 0 > /dev/null 2> "$out/master.log" &
  pids+=($!)
  url=""
  for _ in $(seq 300); do
    url=$(grep -o 'spark://127.0.0.1:[0-9]*' "$out/master.log" | head -1 || true)
    [[ -n $url ]] && break
    sleep 0.2
  done
  [[ -n $url ]] || { echo "bench/spark.sh: the master did not start; see $out/master.log" >&2; exit 1; }
  for i in 1 2; do
    # shellcheck disable=SC2086
    java $opens -Xmx1g -cp "$classpath" org.apache.spark.deploy.worker.Worker --host 127.0.0.1 --port 0 \
      --webui-port 0 --cores 1 --memory 1g --work-dir "$out/worker$i" "$url" > /dev/null 2> "$out/worker$i.log" &
    pids+=($!)
  done
  for _ in $(seq 300); do
    [[ $(grep -c 'Registering worker' "$out/master.log" || true) -ge 2 ]] && break
    sleep 0.2
  done
  for crit in taylor oracle; do
    calib=$taylor_calib
    [[ $crit == oracle ]] && calib=$oracle_calib
    # shellcheck disable=SC2046,SC2086
    run cluster "$crit" "$calib" java $opens -cp "$classpath" org.apache.spark.deploy.SparkSubmit --master "$url" \
      --deploy-mode client --class dev.onnxprune.cli.Main --conf spark.driver.host=127.0.0.1 \
      --conf spark.ui.enabled=false --conf spark.executor.memory=1g "$jar" \
      score $(args "$crit" "$calib") --spark-master "$url"
  done
fi

python3 - "$out" <<'PY'
import json, sys, os
out = sys.argv[1]
times = {}
for line in open(os.path.join(out, "times.txt")):
    name, crit, t = line.split()
    times[(name, crit)] = float(t)
print(f"{'criterion':9} {'run':8} {'wall s':>7} {'scoring s':>9} {'overhead s':>10} {'max |diff|':>11} {'max rel':>9}")
for crit in ("taylor", "oracle"):
    base = json.load(open(os.path.join(out, f"in-{crit}.json"))) if ("in", crit) in times else None
    for name in ("in", "in1", "local1", "local2", "cluster"):
        if (name, crit) not in times:
            continue
        doc = json.load(open(os.path.join(out, f"{name}-{crit}.json")))
        diff = rel = 0.0
        if base:
            for g, h in zip(base["groups"], doc["groups"]):
                if g["scores"] is None:
                    continue
                scale = max(abs(v) for v in g["scores"]) or 1
                for a, b in zip(g["scores"], h["scores"]):
                    diff = max(diff, abs(a - b))
                    rel = max(rel, abs(a - b) / scale)
        over = times[(name, crit)] - times[("in", crit)] if ("in", crit) in times else float("nan")
        print(f"{crit:9} {name:8} {times[(name, crit)]:7.1f} {doc['stats']['seconds']:9.1f} {over:10.1f}"
              f" {diff:11.2e} {rel:9.1e}")
PY
