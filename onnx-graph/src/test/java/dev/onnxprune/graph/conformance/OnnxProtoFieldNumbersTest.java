package dev.onnxprune.graph.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.EnumDescriptor;
import com.google.protobuf.Descriptors.EnumValueDescriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Descriptors.FileDescriptor;
import com.google.protobuf.Descriptors.OneofDescriptor;
import dev.onnxprune.graph.conformance.ProtoSchemaReader.EnumDef;
import dev.onnxprune.graph.conformance.ProtoSchemaReader.FieldDef;
import dev.onnxprune.graph.conformance.ProtoSchemaReader.MessageDef;
import dev.onnxprune.graph.conformance.ProtoSchemaReader.Schema;
import dev.onnxprune.graph.proto.Onnx;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Our generated ONNX descriptors against a {@code .proto} text: every message, field and enum
 * value the text declares must exist in {@link Onnx#getDescriptor()} with the same number and
 * a wire-compatible type and label. Fields we have that the text lacks are allowed (the text
 * may be an older ONNX) and are printed.
 */
class OnnxProtoFieldNumbersTest {
  /** Debian's libonnx-dev copy of ONNX's schema (ONNX 1.12 on bookworm). */
  private static final Path DEBIAN_PROTO = Path.of("/usr/include/onnx/onnx.proto");
  /** Our schema source, relative to the module directory surefire runs in. */
  private static final Path OUR_PROTO = Path.of("src/main/proto/onnx.proto");

  @Test
  void everyMessageFieldAndEnumOfDebiansOnnxProtoExistsWithTheSameNumber() throws IOException {
    assumeTrue(Files.isRegularFile(DEBIAN_PROTO), DEBIAN_PROTO + " absent (install libonnx-dev)");
    Schema debian = ProtoSchemaReader.parse(Files.readString(DEBIAN_PROTO));
    assertTrue(debian.messages().size() >= 15, "read only " + debian.messages().keySet() + " from " + DEBIAN_PROTO);

    Report r = compare(debian, Onnx.getDescriptor());
    System.out.println("[proto-schema] " + DEBIAN_PROTO + ": " + debian.messages().size() + " messages, "
        + r.fieldsChecked + " fields, " + r.enumValuesChecked + " enum values checked; "
        + r.problems.size() + " problems; only in ours: " + r.onlyOurs.size());
    r.onlyOurs.forEach(s -> System.out.println("[proto-schema]   newer than Debian's copy: " + s));
    r.unusedMissingEnums.forEach(s -> System.out.println("[proto-schema]   not in ours (no field uses it): " + s));
    assertEquals(List.of(), r.problems, "our onnx.proto disagrees with " + DEBIAN_PROTO);
  }

  @Test
  void ourSchemaSourceMatchesTheGeneratedDescriptorsExactly() throws IOException {
    assumeTrue(Files.isRegularFile(OUR_PROTO), OUR_PROTO.toAbsolutePath() + " absent (not run from the module)");
    Schema ours = ProtoSchemaReader.parse(Files.readString(OUR_PROTO));

    Report r = compare(ours, Onnx.getDescriptor());

    assertEquals(List.of(), r.problems);
    assertEquals(List.of(), r.onlyOurs, "the reader missed declarations of " + OUR_PROTO);
    assertEquals(List.of(), r.unusedMissingEnums);
    assertTrue(r.fieldsChecked > 100, "only " + r.fieldsChecked + " fields read from " + OUR_PROTO);
  }

  @Test
  void readerUnderstandsNestingOneofsPackedOptionsAndComments() {
    Schema s = ProtoSchemaReader.parse("""
        syntax = "proto2"; package x; // comment { with braces }
        message A { /* block; comment */
          reserved 3, 4 to 6; reserved "old";
          enum E { ZERO = 0; BIG = 0x10; }
          message B { repeated float v = 1 [packed = true]; optional E e = 2; };
          oneof choice { int64 n = 7; string s = 8; }
          required B b = 9;
        };
        """);

    assertEquals(Set.of("A", "A.B"), s.messages().keySet());
    assertEquals(16, s.enums().get("A.E").values().get("BIG"));
    assertEquals(new FieldDef("repeated", "float", "v", 1, null, true), s.messages().get("A.B").fields().get("v"));
    assertEquals("A.E", s.resolve("E", "A.B"));
    assertEquals(new FieldDef("oneof", "string", "s", 8, "choice", false), s.messages().get("A").fields().get("s"));
    assertEquals("required", s.messages().get("A").fields().get("b").label());
  }

  private static final class Report {
    final List<String> problems = new ArrayList<>();
    final List<String> onlyOurs = new ArrayList<>();
    final List<String> unusedMissingEnums = new ArrayList<>();
    int fieldsChecked;
    int enumValuesChecked;
  }

  private static Report compare(Schema theirs, FileDescriptor file) {
    Report r = new Report();
    Set<String> seenMessages = new HashSet<>();
    Set<String> enumsUsedByFields = new HashSet<>();
    for (MessageDef m : theirs.messages().values()) {
      Descriptor d = findMessage(file, m.fullName());
      if (d == null) {
        r.problems.add("message " + m.fullName() + " is missing");
        continue;
      }
      seenMessages.add(d.getFullName());
      for (FieldDef f : m.fields().values()) {
        r.fieldsChecked++;
        String resolved = theirs.resolve(f.type(), m.fullName());
        if (resolved != null && theirs.enums().containsKey(resolved)) {
          enumsUsedByFields.add(resolved);
        }
        checkField(m.fullName(), f, resolved, d.findFieldByName(f.name()), theirs, r.problems);
      }
      for (FieldDescriptor ours : d.getFields()) {
        if (!m.fields().containsKey(ours.getName())) {
          r.onlyOurs.add("field " + m.fullName() + "." + ours.getName() + " = " + ours.getNumber());
        }
      }
    }
    for (Descriptor d : allMessages(file)) {
      if (!seenMessages.contains(d.getFullName())) {
        r.onlyOurs.add("message " + d.getFullName());
      }
    }
    Set<String> seenEnums = new HashSet<>();
    for (EnumDef e : theirs.enums().values()) {
      EnumDescriptor ours = findEnum(file, e.fullName());
      if (ours == null) {
        if (enumsUsedByFields.contains(e.fullName())) {
          r.problems.add("enum " + e.fullName() + " is missing");
        } else {
          r.unusedMissingEnums.add("enum " + e.fullName() + " " + e.values().keySet());
        }
        continue;
      }
      seenEnums.add(ours.getFullName());
      e.values().forEach((name, number) -> {
        r.enumValuesChecked++;
        EnumValueDescriptor v = ours.findValueByName(name);
        if (v == null) {
          r.problems.add("enum value " + e.fullName() + "." + name + " = " + number + " is missing");
        } else if (v.getNumber() != number) {
          r.problems.add("enum value " + e.fullName() + "." + name + " is " + v.getNumber() + ", expected " + number);
        }
      });
      for (EnumValueDescriptor v : ours.getValues()) {
        if (!e.values().containsKey(v.getName())) {
          r.onlyOurs.add("enum value " + e.fullName() + "." + v.getName() + " = " + v.getNumber());
        }
      }
    }
    for (EnumDescriptor e : allEnums(file)) {
      if (!seenEnums.contains(e.getFullName())) {
        r.onlyOurs.add("enum " + e.getFullName());
      }
    }
    return r;
  }

  private static void checkField(String message, FieldDef f, String resolvedType, FieldDescriptor ours, Schema theirs,
      List<String> problems) {
    String where = "field " + message + "." + f.name();
    if (ours == null) {
      problems.add(where + " = " + f.number() + " is missing");
      return;
    }
    if (ours.getNumber() != f.number()) {
      problems.add(where + " has number " + ours.getNumber() + ", expected " + f.number());
    }
    OneofDescriptor oneof = ours.getRealContainingOneof();
    if (f.oneof() != null) {
      if (oneof == null || !oneof.getName().equals(f.oneof())) {
        problems.add(where + " should be in oneof '" + f.oneof() + "', ours is "
            + (oneof == null ? "in none" : "in '" + oneof.getName() + "'"));
      }
    } else {
      String label = ours.isRepeated() ? "repeated" : ours.isRequired() ? "required" : "optional";
      if (!label.equals(f.label())) {
        problems.add(where + " is " + label + ", expected " + f.label());
      }
      if (oneof != null) {
        problems.add(where + " is in oneof '" + oneof.getName() + "', expected a plain " + f.label() + " field");
      }
    }
    if (ours.isPacked() != f.packed()) {
      problems.add(where + (f.packed() ? " should be" : " should not be") + " packed");
    }
    String problem = typeProblem(f.type(), resolvedType, theirs, ours);
    if (problem != null) {
      problems.add(where + ": " + problem);
    }
  }

  /** Null when the declared type and ours are the same (or wire-compatible scalars), else why not. */
  private static String typeProblem(String declared, String resolved, Schema theirs, FieldDescriptor ours) {
    if (resolved != null) {
      boolean isEnum = theirs.enums().containsKey(resolved);
      if (isEnum) {
        if (ours.getType() != FieldDescriptor.Type.ENUM) {
          return "type is " + ours.getType() + ", expected enum " + resolved;
        }
        String oursName = relative(ours.getEnumType().getFullName(), ours.getFile());
        return oursName.equals(resolved) ? null : "enum type is " + oursName + ", expected " + resolved;
      }
      if (ours.getType() != FieldDescriptor.Type.MESSAGE && ours.getType() != FieldDescriptor.Type.GROUP) {
        return "type is " + ours.getType() + ", expected message " + resolved;
      }
      String oursName = relative(ours.getMessageType().getFullName(), ours.getFile());
      return oursName.equals(resolved) ? null : "message type is " + oursName + ", expected " + resolved;
    }
    FieldDescriptor.Type expected;
    try {
      expected = FieldDescriptor.Type.valueOf(declared.toUpperCase(java.util.Locale.ROOT));
    } catch (IllegalArgumentException e) {
      return "declared type '" + declared + "' is neither a scalar nor a type the file defines";
    }
    if (expected == ours.getType()) {
      return null;
    }
    return wireGroup(expected) == wireGroup(ours.getType()) && wireGroup(expected) != 0 ? null
        : "type is " + ours.getType() + ", expected " + expected + " (not wire-compatible)";
  }

  /** Protobuf's documented compatibility classes; 0 means "only itself". */
  private static int wireGroup(FieldDescriptor.Type t) {
    return switch (t) {
      case INT32, UINT32, INT64, UINT64, BOOL, ENUM -> 1;
      case SINT32, SINT64 -> 2;
      case FIXED32, SFIXED32 -> 3;
      case FIXED64, SFIXED64 -> 4;
      case STRING, BYTES -> 5;
      default -> 0;
    };
  }

  private static String relative(String fullName, FileDescriptor file) {
    String pkg = file.getPackage();
    return pkg.isEmpty() ? fullName : fullName.substring(pkg.length() + 1);
  }

  private static Descriptor findMessage(FileDescriptor file, String relativeName) {
    String[] parts = relativeName.split("\\.");
    Descriptor d = file.findMessageTypeByName(parts[0]);
    for (int i = 1; i < parts.length && d != null; i++) {
      d = d.findNestedTypeByName(parts[i]);
    }
    return d;
  }

  private static EnumDescriptor findEnum(FileDescriptor file, String relativeName) {
    int dot = relativeName.lastIndexOf('.');
    if (dot < 0) {
      return file.findEnumTypeByName(relativeName);
    }
    Descriptor outer = findMessage(file, relativeName.substring(0, dot));
    return outer == null ? null : outer.findEnumTypeByName(relativeName.substring(dot + 1));
  }

  private static List<Descriptor> allMessages(FileDescriptor file) {
    List<Descriptor> out = new ArrayList<>();
    for (Descriptor d : file.getMessageTypes()) {
      addNested(d, out);
    }
    return out;
  }

  private static void addNested(Descriptor d, List<Descriptor> out) {
    out.add(d);
    for (Descriptor n : d.getNestedTypes()) {
      addNested(n, out);
    }
  }

  private static List<EnumDescriptor> allEnums(FileDescriptor file) {
    List<EnumDescriptor> out = new ArrayList<>(file.getEnumTypes());
    for (Descriptor d : allMessages(file)) {
      out.addAll(d.getEnumTypes());
    }
    return out;
  }
}
