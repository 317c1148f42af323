// -Donnx-prune.skip: one line says so, and the jar is built without the model.
import java.util.zip.ZipFile

def log = new File(basedir, 'build.log').text
assert log.contains('onnx-prune: skipped (onnx-prune.skip)')
assert !log.contains('  reading')
new ZipFile(new File(basedir, 'target/skip-1.0.jar')).withCloseable { jar ->
    assert jar.getEntry('resnet20.onnx') == null
}
return true
