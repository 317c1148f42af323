package dev.onnxprune.graph.shape;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import dev.onnxprune.graph.Dim;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class SymbolicDimsTest {
  private static final Dim N = Dim.symbolic("N");

  @Test
  void productsOfSymbolsBecomeSortedDerivedNames() {
    assertEquals(Dim.symbolic("N*12"), SymbolicDims.multiply(SymbolicDims.multiply(N, Dim.of(3)), Dim.of(4)));
    assertEquals(Dim.symbolic("H*W*2"), SymbolicDims.product(List.of(Dim.symbolic("W"), Dim.of(2),
        Dim.symbolic("H"))));
    assertEquals(N, SymbolicDims.multiply(N, Dim.of(1)));
    assertEquals(Dim.of(0), SymbolicDims.multiply(Dim.unknown(), Dim.of(0)));
    assertEquals(Dim.unknown(), SymbolicDims.multiply(Dim.unknown(), Dim.of(2)));
  }

  @Test
  void divisionIsExactOrUnknown() {
    assertEquals(Dim.symbolic("N*3"), SymbolicDims.divide(Dim.symbolic("N*12"), Dim.of(4)));
    assertEquals(N, SymbolicDims.divide(Dim.symbolic("H*N"), Dim.symbolic("H")));
    assertEquals(Dim.of(5), SymbolicDims.divide(Dim.symbolic("N*10"), Dim.symbolic("N*2")));
    assertEquals(Dim.unknown(), SymbolicDims.divide(Dim.symbolic("N*10"), Dim.of(4)));
    assertEquals(Dim.unknown(), SymbolicDims.divide(N, Dim.symbolic("M")));
  }

  @Test
  void sumsKeepOnlyLikeTerms() {
    assertEquals(Dim.symbolic("N*2"), SymbolicDims.add(N, N));
    assertEquals(N, SymbolicDims.add(N, Dim.of(0)));
    assertEquals(Dim.unknown(), SymbolicDims.add(N, Dim.of(1)));
    assertEquals(Dim.of(7), SymbolicDims.add(Dim.of(3), 4));
  }

  @Test
  void opaqueParametersAreParenthesisedWhenCombined() {
    Dim odd = Dim.symbolic("N+1");
    assertEquals(Dim.symbolic("(N+1)*2"), SymbolicDims.multiply(odd, Dim.of(2)));
    assertEquals(odd, SymbolicDims.divide(Dim.symbolic("(N+1)*2"), Dim.of(2)));
    assertEquals(6L, SymbolicDims.evaluate(Dim.symbolic("(N+1)*2"), Map.of("N+1", 3L)));
  }

  @Test
  void evaluationBindsSymbolsInsideDerivedNames() {
    assertEquals(24L, SymbolicDims.evaluate(Dim.symbolic("N*12"), Map.of("N", 2L)));
    assertEquals(7L, SymbolicDims.evaluate(Dim.of(7), Map.of()));
    assertNull(SymbolicDims.evaluate(Dim.symbolic("N*M"), Map.of("N", 2L)));
    assertNull(SymbolicDims.evaluate(Dim.unknown(), Map.of("N", 2L)));
  }
}
