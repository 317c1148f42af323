// The README's snippet prunes the bundled ResNet-20 into target/classes, recovers it, passes the
// accuracy gate, and the jar carries the pruned model.
import java.security.MessageDigest
import java.util.zip.ZipFile

def log = new File(basedir, 'build.log').text
def expect = { String text -> assert log.contains(text): "build.log lacks: $text" }

// 1. the README block is this pom's plugin block, to the letter (after the common indentation)
def dedent = { String s ->
    def lines = s.readLines().dropWhile { !it.trim() }.reverse().dropWhile { !it.trim() }.reverse()
    int indent = lines.findAll { it.trim() }.collect { it.length() - it.stripLeading().length() }.min()
    lines.collect { it.length() >= indent ? it.substring(indent) : it.trim() }.join('\n')
}
def pom = new File(basedir, 'pom.xml').text
def pomBlock = dedent(pom.substring(pom.indexOf('<!-- README: begin -->') + 22, pom.indexOf('<!-- README: end -->')))
def readmeText = new File(readme).text
def section = readmeText.substring(readmeText.indexOf('## Maven plugin'))
int start = section.indexOf('```xml\n') + 7
def readmeBlock = dedent(section.substring(start, section.indexOf('```', start)))
assert readmeBlock == pomBlock: "README.md's Maven plugin snippet differs from src/it/readme-snippet/pom.xml:\n" +
        "--- README\n$readmeBlock\n--- pom.xml\n$pomBlock"

// 2. what the build said, in order: pruned (every phase), recovered, gate passed, then the jar
expect('onnx-prune: src/main/onnx/resnet20.onnx -> target/classes/models/resnet20-pruned.onnx (no earlier build recorded in resnet20-pruned.onnx.onnx-prune.json)')
['  reading', '  evaluating', '  analysing', '  applying', '  verifying', '  recalibrating', '  fine tuning',
 '  writing'].each { expect(it) }
expect('  epoch 1/1')
expect('  verify PASS: max rel diff ')
assert log =~ /(?m)^\[INFO\]   fine-tuned +\d+\.\d\d%/
assert log =~ /onnx-prune: accuracy gate passed: top-1 \d+\.\d\d% \(original\) -> \d+\.\d\d% \(fine-tuned\): a drop of -?\d+\.\d\d points, within <maxAccuracyDrop> 5\.0/
expect('onnx-prune: wrote target/classes/models/resnet20-pruned.onnx; report target/onnx-prune/resnet20/report.html')
// (execution ids: Maven 3.8 names plugins by artifactId, 3.9 by prefix)
assert log.indexOf('(default-resources)') < log.indexOf('prune (default)')
assert log.indexOf('onnx-prune: wrote') < log.indexOf('(default-jar)')

// 3. the jar packs the pruned model (the bytes written, smaller than the original) and its record
def output = new File(basedir, 'target/classes/models/resnet20-pruned.onnx')
def stamp = new groovy.json.JsonSlurper().parse(new File(output.path + '.onnx-prune.json'))
def sha = { byte[] b -> MessageDigest.getInstance('SHA-256').digest(b).encodeHex().toString() }
new ZipFile(new File(basedir, 'target/readme-snippet-1.0.jar')).withCloseable { jar ->
    def model = jar.getEntry('models/resnet20-pruned.onnx')
    assert model != null: 'the jar lacks models/resnet20-pruned.onnx'
    assert model.size < 0.8 * new File(basedir, 'src/main/onnx/resnet20.onnx').length()
    assert sha(jar.getInputStream(model).bytes) == stamp.output
    assert jar.getEntry('models/resnet20-pruned.onnx.onnx-prune.json') != null
}
assert stamp.configuration.flops == '0.3' && stamp.configuration.fineTuningEpochs == '1'
assert new File(basedir, 'target/onnx-prune/resnet20/report.json').text.contains('"fine-tuned"')
def page = new File(basedir, 'target/onnx-prune/resnet20/report.html').text
assert page.contains('<section id="fine-tuning">') && page.contains('<svg class="chart"'): 'report.html lacks its charts'

return true
