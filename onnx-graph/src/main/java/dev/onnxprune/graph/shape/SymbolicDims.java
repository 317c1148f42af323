package dev.onnxprune.graph.shape;

import dev.onnxprune.graph.Dim;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;

/**
 * Arithmetic on tensor dimensions that may be symbolic.
 *
 * <p>A symbolic dimension is read as a <em>monomial</em>: a product of symbols and one positive
 * integer coefficient, written as its factors joined by {@code '*'}, symbols sorted, coefficient
 * last: {@code "N"}, {@code "N*3"}, {@code "H*W*2"}. A parameter that is not such a product
 * (e.g. {@code "floor(N/2)"} or {@code "N+1"}) is one opaque symbol; when it is combined it is
 * parenthesised, so {@code "N+1"} times 2 is {@code "(N+1)*2"}.
 *
 * <ul>
 *   <li>{@link #multiply}: known times known is known; a zero factor gives 0; otherwise the
 *       monomials multiply ({@code N * 3 = "N*3"}, {@code N*3 * 4 = "N*12"}).
 *   <li>{@link #divide}: exact only: {@code "N*12" / 4 = "N*3"}, {@code "N*H" / "H" = "N"};
 *       anything that does not divide exactly, or a known quotient that is not whole, is unknown.
 *   <li>{@link #add}: known plus known; {@code x + 0 = x}; monomials with the same symbols add
 *       their coefficients ({@code N + N = "N*2"}); anything else is unknown.
 *   <li>An unknown dimension in any operand gives an unknown result (except {@code 0 * x = 0}).
 * </ul>
 *
 * Denotations never survive arithmetic.
 */
public final class SymbolicDims {
  private SymbolicDims() {}

  /** A dimension as coefficient times a sorted list of symbols; null symbols = unknown. */
  private record Monomial(long coef, List<String> symbols) {
    Dim toDim() {
      if (symbols.isEmpty()) {
        return Dim.of(coef);
      }
      if (coef == 1 && symbols.size() == 1 && isParenthesised(symbols.get(0))) {
        String s = symbols.get(0);
        return Dim.symbolic(s.substring(1, s.length() - 1)); // an opaque parameter on its own, as written
      }
      StringBuilder sb = new StringBuilder(String.join("*", symbols));
      if (coef != 1) {
        sb.append('*').append(coef);
      }
      return Dim.symbolic(sb.toString());
    }
  }

  /** The monomial of {@code d}, or null when it is unknown. */
  private static Monomial monomial(Dim d) {
    if (d.isKnown()) {
      return new Monomial(d.get(), List.of());
    }
    if (!d.isSymbolic()) {
      return null;
    }
    String p = d.param();
    List<String> factors = splitTopLevel(p);
    long coef = 1;
    List<String> symbols = new ArrayList<>();
    if (factors == null) {
      symbols.add(atom(p));
    } else {
      for (String f : factors) {
        if (isInteger(f)) {
          coef = Math.multiplyExact(coef, Long.parseLong(f));
        } else if (isIdentifier(f) || isParenthesised(f)) {
          symbols.add(f);
        } else {
          // Not a plain product: the whole parameter is one opaque symbol.
          return new Monomial(1, List.of(atom(p)));
        }
      }
    }
    Collections.sort(symbols);
    return new Monomial(coef, symbols);
  }

  /** Factors of {@code p} split at '*' outside parentheses, or null when there is no such '*'. */
  private static List<String> splitTopLevel(String p) {
    List<String> out = new ArrayList<>();
    int depth = 0;
    int start = 0;
    for (int i = 0; i < p.length(); i++) {
      char c = p.charAt(i);
      if (c == '(') {
        depth++;
      } else if (c == ')') {
        depth--;
      } else if (c == '*' && depth == 0) {
        out.add(p.substring(start, i).trim());
        start = i + 1;
      }
    }
    if (out.isEmpty()) {
      return null;
    }
    out.add(p.substring(start).trim());
    return out;
  }

  private static String atom(String p) {
    return isIdentifier(p) || isParenthesised(p) ? p : "(" + p + ")";
  }

  private static boolean isInteger(String s) {
    if (s.isEmpty() || s.length() > 18) {
      return false;
    }
    for (int i = 0; i < s.length(); i++) {
      if (!Character.isDigit(s.charAt(i))) {
        return false;
      }
    }
    return true;
  }

  private static boolean isIdentifier(String s) {
    if (s.isEmpty() || !(Character.isLetter(s.charAt(0)) || s.charAt(0) == '_')) {
      return false;
    }
    for (int i = 1; i < s.length(); i++) {
      char c = s.charAt(i);
      if (!(Character.isLetterOrDigit(c) || c == '_' || c == '.' || c == ':')) {
        return false;
      }
    }
    return true;
  }

  private static boolean isParenthesised(String s) {
    if (s.length() < 2 || s.charAt(0) != '(' || s.charAt(s.length() - 1) != ')') {
      return false;
    }
    int depth = 0;
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c == '(') {
        depth++;
      } else if (c == ')') {
        depth--;
        if (depth == 0 && i != s.length() - 1) {
          return false;
        }
      }
    }
    return depth == 0;
  }

  /** {@code a * b} (see the class comment). */
  public static Dim multiply(Dim a, Dim b) {
    if (isZero(a) || isZero(b)) {
      return Dim.of(0);
    }
    Monomial ma = monomial(a);
    Monomial mb = monomial(b);
    if (ma == null || mb == null) {
      return Dim.unknown();
    }
    List<String> symbols = new ArrayList<>(ma.symbols());
    symbols.addAll(mb.symbols());
    Collections.sort(symbols);
    return new Monomial(Math.multiplyExact(ma.coef(), mb.coef()), symbols).toDim();
  }

  /** The product of {@code dims} (1 for none). */
  public static Dim product(List<Dim> dims) {
    Dim p = Dim.of(1);
    for (Dim d : dims) {
      p = multiply(p, d);
    }
    return strip(p);
  }

  /** {@code a / b} when it divides exactly, else unknown (see the class comment). */
  public static Dim divide(Dim a, Dim b) {
    Monomial ma = monomial(a);
    Monomial mb = monomial(b);
    if (ma == null || mb == null || mb.coef() == 0 || ma.coef() % mb.coef() != 0) {
      return Dim.unknown();
    }
    List<String> rest = new ArrayList<>(ma.symbols());
    for (String s : mb.symbols()) {
      if (!rest.remove(s)) {
        return Dim.unknown();
      }
    }
    return new Monomial(ma.coef() / mb.coef(), rest).toDim();
  }

  /** {@code a + b} (see the class comment). */
  public static Dim add(Dim a, Dim b) {
    if (isZero(a)) {
      return strip(b);
    }
    if (isZero(b)) {
      return strip(a);
    }
    Monomial ma = monomial(a);
    Monomial mb = monomial(b);
    if (ma == null || mb == null || !ma.symbols().equals(mb.symbols())) {
      return Dim.unknown();
    }
    return new Monomial(Math.addExact(ma.coef(), mb.coef()), ma.symbols()).toDim();
  }

  /** {@code a + k} for a known integer {@code k} (possibly negative). */
  public static Dim add(Dim a, long k) {
    if (k == 0) {
      return strip(a);
    }
    if (a.isKnown()) {
      return Dim.of(a.get() + k);
    }
    return Dim.unknown();
  }

  /**
   * The size {@code d} has when the symbols in {@code bindings} take those values, or null when
   * it is unknown or uses an unbound symbol.
   */
  public static Long evaluate(Dim d, Map<String, Long> bindings) {
    Monomial m = monomial(d);
    if (m == null) {
      return null;
    }
    long v = m.coef();
    for (String s : m.symbols()) {
      Long b = bindings.get(s);
      if (b == null && isParenthesised(s)) {
        b = bindings.get(s.substring(1, s.length() - 1));
      }
      if (b == null) {
        return null;
      }
      v = Math.multiplyExact(v, b);
    }
    return v;
  }

  /**
   * True when {@code d} is known to be at least 0: a known non-negative size, or a product of
   * named sizes (a batch, a sequence length) and a positive coefficient. Tensor sizes are never
   * negative, so a comparison of such a size with a negative constant is decided.
   */
  public static boolean isNonNegative(Dim d) {
    if (d.isKnown()) {
      return d.get() >= 0;
    }
    Monomial m = monomial(d);
    if (m == null || m.coef() < 0) {
      return false;
    }
    for (String s : m.symbols()) {
      if (!isIdentifier(s)) {
        return false;
      }
    }
    return true;
  }

  /** The symbols a dimension is a product of (empty for known or unknown dimensions). */
  public static List<String> symbols(Dim d) {
    Monomial m = monomial(d);
    return m == null ? List.of() : m.symbols();
  }

  private static boolean isZero(Dim d) {
    return d.isKnown() && d.get() == 0;
  }

  /** {@code d} without its denotation. */
  private static Dim strip(Dim d) {
    return d.denotation() == null ? d : new Dim(d.value(), d.param(), null);
  }
}
