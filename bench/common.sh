# Shared by the bench scripts: cd to the repo root, take MODEL (default the zoo ResNet-50) from
# the first argument, build the bench module and set $cp to its class path.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
model="testmodels/zoo/resnet50.onnx"
if [[ $# -gt 0 && "$1" != --* ]]; then
  model="$1"
  shift
fi
if [[ ! -f "$model" ]]; then
  echo "bench: $model not found; export it with: /usr/bin/python3 testmodels/export_zoo.py resnet50" >&2
  exit 2
fi
mvn -q -pl bench -am package -DskipTests
cp="bench/target/classes:$(cat bench/target/bench.classpath)"
