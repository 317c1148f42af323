package dev.onnxprune.graph.conformance;

import java.util.ArrayDeque;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A small reader for the subset of the {@code .proto} language that ONNX's schema uses:
 * messages (nested), enums, {@code label type name = N [options];} fields and oneof members.
 * Reserved ranges, options, extensions and services are skipped. It is enough to compare
 * field numbers and types against another copy of the schema; it is not a protobuf compiler.
 */
final class ProtoSchemaReader {

  /** A field as declared: {@code label} is "optional", "required", "repeated", or "oneof" for oneof members. */
  record FieldDef(String label, String type, String name, int number, String oneof, boolean packed) {}

  /** A message by full name relative to the package ("TensorProto.Segment"). */
  record MessageDef(String fullName, Map<String, FieldDef> fields) {}

  /** An enum by full name relative to the package, its values by name. */
  record EnumDef(String fullName, Map<String, Integer> values) {}

  /** Everything read from one file. */
  record Schema(Map<String, MessageDef> messages, Map<String, EnumDef> enums) {
    /**
     * Resolves a type name as written inside message {@code scope} the way protoc does:
     * innermost scope first. Returns the full name, or null for a scalar or unknown type.
     */
    String resolve(String typeName, String scope) {
      String name = typeName.startsWith(".") ? typeName.substring(1) : typeName;
      String s = scope;
      while (true) {
        String candidate = s.isEmpty() ? name : s + "." + name;
        if (messages.containsKey(candidate) || enums.containsKey(candidate)) {
          return candidate;
        }
        if (s.isEmpty()) {
          return null;
        }
        int dot = s.lastIndexOf('.');
        s = dot < 0 ? "" : s.substring(0, dot);
      }
    }
  }

  // Strings, comments, braces and semicolons are tokens; everything else accumulates into statements.
  private static final Pattern TOKEN = Pattern.compile(
      "\"(?:[^\"\\\\]|\\\\.)*\"|//[^\\n]*|/\\*.*?\\*/|[{};]|[^{};\"/]+|/", Pattern.DOTALL);
  private static final Pattern BLOCK = Pattern.compile("(message|enum|oneof|service|extend)\\s+([\\w.]+)");
  private static final Pattern FIELD = Pattern.compile(
      "(optional|required|repeated)\\s+([\\w.]+)\\s+(\\w+)\\s*=\\s*(\\d+)\\s*(\\[.*\\])?", Pattern.DOTALL);
  private static final Pattern ONEOF_MEMBER = Pattern.compile(
      "([\\w.]+)\\s+(\\w+)\\s*=\\s*(\\d+)\\s*(\\[.*\\])?", Pattern.DOTALL);
  private static final Pattern ENUM_VALUE = Pattern.compile(
      "(\\w+)\\s*=\\s*(-?(?:0[xX][0-9a-fA-F]+|\\d+))\\s*(\\[.*\\])?", Pattern.DOTALL);
  private static final Pattern PACKED = Pattern.compile("packed\\s*=\\s*true");
  private static final Pattern SKIPPED = Pattern.compile(
      "(syntax|package|import|option|reserved|extensions)\\b.*", Pattern.DOTALL);

  private ProtoSchemaReader() {}

  private record Scope(String kind, String fullName, String oneof) {}

  /**
   * Parses {@code text}.
   *
   * @throws IllegalArgumentException naming the statement that is not understood
   */
  static Schema parse(String text) {
    Map<String, MessageDef> messages = new LinkedHashMap<>();
    Map<String, EnumDef> enums = new LinkedHashMap<>();
    Deque<Scope> scopes = new ArrayDeque<>();
    StringBuilder statement = new StringBuilder();
    Matcher m = TOKEN.matcher(text);
    while (m.find()) {
      String tok = m.group();
      if (tok.startsWith("//") || tok.startsWith("/*")) {
        statement.append(' ');
        continue;
      }
      switch (tok) {
        case "{" -> {
          String head = statement.toString().trim();
          statement.setLength(0);
          Matcher b = BLOCK.matcher(head);
          if (!b.matches()) {
            throw new IllegalArgumentException("unexpected block '" + head + " {'");
          }
          String kind = b.group(1);
          String name = b.group(2);
          Scope outer = scopes.peek();
          String outerMessage = outer == null ? "" : outer.fullName();
          switch (kind) {
            case "message" -> {
              String full = outerMessage.isEmpty() ? name : outerMessage + "." + name;
              messages.put(full, new MessageDef(full, new LinkedHashMap<>()));
              scopes.push(new Scope("message", full, null));
            }
            case "enum" -> {
              String full = outerMessage.isEmpty() ? name : outerMessage + "." + name;
              enums.put(full, new EnumDef(full, new LinkedHashMap<>()));
              scopes.push(new Scope("enum", full, null));
            }
            case "oneof" -> scopes.push(new Scope("oneof", outerMessage, name));
            default -> scopes.push(new Scope("skip", outerMessage, null));
          }
        }
        case "}" -> {
          if (!statement.toString().isBlank()) {
            throw new IllegalArgumentException("statement without ';' before '}': '" + statement.toString().trim() + "'");
          }
          if (scopes.isEmpty()) {
            throw new IllegalArgumentException("unbalanced '}'");
          }
          scopes.pop();
        }
        case ";" -> {
          String s = statement.toString().trim().replaceAll("\\s+", " ");
          statement.setLength(0);
          if (!s.isEmpty()) {
            statement(s, scopes.peek(), messages, enums);
          }
        }
        default -> statement.append(tok);
      }
    }
    if (!scopes.isEmpty()) {
      throw new IllegalArgumentException("unclosed block " + scopes.peek().fullName());
    }
    return new Schema(messages, enums);
  }

  private static void statement(String s, Scope scope, Map<String, MessageDef> messages, Map<String, EnumDef> enums) {
    if (SKIPPED.matcher(s).matches()) {
      return;
    }
    if (scope == null) {
      throw new IllegalArgumentException("unexpected top-level statement '" + s + "'");
    }
    switch (scope.kind()) {
      case "message" -> {
        Matcher f = FIELD.matcher(s);
        if (!f.matches()) {
          throw new IllegalArgumentException("not a field in message " + scope.fullName() + ": '" + s + "'");
        }
        boolean packed = f.group(5) != null && PACKED.matcher(f.group(5)).find();
        messages.get(scope.fullName()).fields().put(f.group(3),
            new FieldDef(f.group(1), f.group(2), f.group(3), Integer.parseInt(f.group(4)), null, packed));
      }
      case "oneof" -> {
        Matcher f = ONEOF_MEMBER.matcher(s);
        if (!f.matches()) {
          throw new IllegalArgumentException("not a oneof member in " + scope.fullName() + "." + scope.oneof()
              + ": '" + s + "'");
        }
        messages.get(scope.fullName()).fields().put(f.group(2),
            new FieldDef("oneof", f.group(1), f.group(2), Integer.parseInt(f.group(3)), scope.oneof(), false));
      }
      case "enum" -> {
        Matcher v = ENUM_VALUE.matcher(s);
        if (!v.matches()) {
          throw new IllegalArgumentException("not an enum value in " + scope.fullName() + ": '" + s + "'");
        }
        enums.get(scope.fullName()).values().put(v.group(1), Integer.decode(v.group(2)));
      }
      default -> { }
    }
  }
}
