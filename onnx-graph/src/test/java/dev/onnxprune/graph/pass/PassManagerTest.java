package dev.onnxprune.graph.pass;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.onnxprune.errors.InvalidOptionException;
import dev.onnxprune.graph.GraphException;
import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.Node;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.testmodels.TestModels;
import java.util.List;
import org.junit.jupiter.api.Test;

class PassManagerTest {
  /** A pass that does {@code edit} and says it changed the model. */
  private static GraphPass pass(String name, java.util.function.Consumer<Model> edit) {
    return new GraphPass() {
      @Override
      public String name() {
        return name;
      }

      @Override
      public PassResult run(Model model) {
        edit.accept(model);
        return new PassResult() {
          @Override
          public boolean changed() {
            return true;
          }

          @Override
          public String summary() {
            return name + " ran";
          }
        };
      }
    };
  }

  @Test
  void theTestsRunWithTheGraphCheckedAfterEveryPass() {
    assertTrue(Boolean.getBoolean(PassManager.VERIFY_PROPERTY), "the build sets " + PassManager.VERIFY_PROPERTY);
  }

  @Test
  void passesRunInOrderAndReturnTheirResults() throws Exception {
    Model m = OnnxModels.read(TestModels.model("vgg_bn.onnx"));
    List<PassResult> r = PassManager.run(m, List.of(pass("a", x -> {}), pass("b", x -> {})));
    assertEquals(List.of("a ran", "b ran"), r.stream().map(PassResult::summary).toList());
  }

  @Test
  void aPassThatBreaksTheGraphIsNamedWithThePassesThatRan() throws Exception {
    Model m = OnnxModels.read(TestModels.model("vgg_bn.onnx"));
    // a Conv whose group no longer divides its output channels: an edit the IR allows, the check does not
    GraphPass breaks = pass("breaks", x -> {
      Node conv = x.graph().nodes().stream().filter(n -> n.is("Conv")).findFirst().orElseThrow();
      conv.setAttribute(dev.onnxprune.graph.Attribute.of("group", 7L));
    });
    GraphException e = assertThrows(GraphException.class,
        () -> PassManager.run(m, List.of(pass("first", x -> {}), breaks)));
    assertTrue(e.getMessage().startsWith("pass breaks left a broken graph (passes run: first, breaks): "),
        e.getMessage());
  }

  @Test
  void aFailingPassIsNamedAndATypedRefusalPassesThroughAsItIs() throws Exception {
    Model m = OnnxModels.read(TestModels.model("vgg_bn.onnx"));
    GraphException e = assertThrows(GraphException.class, () -> PassManager.run(m, List.of(pass("first", x -> {}),
        pass("second", x -> {
          throw new IllegalStateException("boom");
        }))));
    assertEquals("pass second failed after first: boom", e.getMessage());
    InvalidOptionException refused = new InvalidOptionException("roundTo", 0, "must be >= 1");
    assertSame(refused, assertThrows(InvalidOptionException.class, () -> PassManager.run(m, List.of(
        pass("first", x -> {}), pass("second", x -> {
          throw refused;
        })))));
  }
}
