// another model under the same name: the record's model hash no longer matches
import java.nio.file.Files
import java.nio.file.StandardCopyOption
Files.copy(new File(basedir, 'src/main/onnx/resnet20_folded.onnx').toPath(),
        new File(basedir, 'src/main/onnx/resnet20.onnx').toPath(), StandardCopyOption.REPLACE_EXISTING)
return true
