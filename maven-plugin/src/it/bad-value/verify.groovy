// The library refuses target.flops = 1.5; the build names the element as the POM spells it.
def log = new File(basedir, 'build.log').text
assert log.contains('onnx-prune: src/main/onnx/resnet20.onnx: <flops> must be in (0, 1): 1.5'): 'no error naming <flops>'
assert log.contains('BUILD FAILURE')
assert !log.contains('  reading'): 'the goal started work on a bad configuration'
assert !new File(basedir, 'target/classes/resnet20.onnx').exists()
return true
