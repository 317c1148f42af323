// Four builds of two models: each build is said in the log once per model, with what it did.
import java.util.zip.ZipFile

def runs = new File(basedir, "build.log").text.split(/\[INFO\] Scanning for projects\.\.\./).drop(1) // before the first: the prebuild hook
assert runs.size() == 4: "expected 4 builds in build.log, found ${runs.size()}"
def expect = { int run, String text -> assert runs[run - 1].contains(text): "build $run lacks: $text" }
def resnet = 'onnx-prune: src/main/onnx/resnet20.onnx'
def vgg = 'onnx-prune: src/main/onnx/vgg_bn.onnx'

expect(1, "$resnet -> target/classes/models/resnet20.onnx (no earlier build recorded in resnet20.onnx.onnx-prune.json)")
expect(1, "$vgg -> target/classes/models/vgg_bn.onnx (no earlier build recorded in vgg_bn.onnx.onnx-prune.json)")
expect(2, "$resnet: up to date, skipped (target/classes/models/resnet20.onnx, sha256 ")
expect(2, "$vgg: up to date, skipped (target/classes/models/vgg_bn.onnx, sha256 ")
assert !runs[1].contains('  applying'): 'build 2 pruned although everything was up to date'
expect(3, "$resnet -> target/classes/models/resnet20.onnx (configuration changed: flops 0.5 -> 0.4)")
expect(3, "$vgg: up to date, skipped")
expect(4, "$resnet -> target/classes/models/resnet20.onnx (model changed)")
expect(4, "$vgg: up to date, skipped")

// the jar of the last build packs both models, resnet20 at its last setting
def stamp = new groovy.json.JsonSlurper().parse(new File(basedir, 'target/classes/models/resnet20.onnx.onnx-prune.json'))
assert stamp.configuration.flops == '0.4' && stamp.configuration.criterion == 'l1' && stamp.configuration.device == 'cpu'
new ZipFile(new File(basedir, 'target/up-to-date-1.0.jar')).withCloseable { jar ->
    assert jar.getEntry('models/resnet20.onnx') != null && jar.getEntry('models/vgg_bn.onnx') != null
}
return true
