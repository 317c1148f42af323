// Top-1 falls by far more than <maxAccuracyDrop>: the build fails with both numbers and keeps no model.
def log = new File(basedir, 'build.log').text
assert log =~ /onnx-prune: src\/main\/onnx\/resnet20\.onnx: top-1 \d+\.\d\d% \(original\) -> \d+\.\d\d% \(pruned\): a drop of \d+\.\d\d points, more than <maxAccuracyDrop> 5\.0; the pruned model was not kept/
assert log.contains('BUILD FAILURE')
assert !new File(basedir, 'target/classes/resnet20.onnx').exists(): 'the model that failed the gate was kept'
assert !new File(basedir, 'target/classes/resnet20.onnx.onnx-prune.json').exists()
assert !new File(basedir, 'target/accuracy-gate-1.0.jar').exists()
return true
