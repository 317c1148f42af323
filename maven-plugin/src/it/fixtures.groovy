// Evaluated by every project's prebuild.groovy: copies the bundled fixtures (testmodels module)
// into the project's src/main/onnx, where its pom expects its models and data.
import java.nio.file.Files
import java.nio.file.StandardCopyOption

def to = new File(basedir, 'src/main/onnx')
to.mkdirs()
['resnet20.onnx', 'resnet20_folded.onnx', 'vgg_bn.onnx',
 'fmnist-calib-images-idx3-ubyte.gz', 'fmnist-calib-labels-idx1-ubyte.gz',
 'fmnist-test-images-idx3-ubyte.gz', 'fmnist-test-labels-idx1-ubyte.gz'].each { name ->
    Files.copy(new File(fixturesDir, name).toPath(), new File(to, name).toPath(), StandardCopyOption.REPLACE_EXISTING)
}
return true
