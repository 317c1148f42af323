package dev.onnxprune.graph.conformance;

import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Message;

/** Locates the first difference between two protobuf messages, for failure messages. */
public final class ProtoDiff {
  private ProtoDiff() {}

  /** Null when equal, else a path such as {@code graph.node[3 'conv1'].attribute[0].i: 1 vs 2}. */
  public static String firstDifference(Message expected, Message actual) {
    return diff(expected, actual, expected.getDescriptorForType().getName());
  }

  private static String diff(Message a, Message b, String path) {
    if (a.equals(b)) {
      return null;
    }
    for (FieldDescriptor f : a.getDescriptorForType().getFields()) {
      String p = path + "." + f.getName();
      if (f.isRepeated()) {
        int na = a.getRepeatedFieldCount(f);
        int nb = b.getRepeatedFieldCount(f);
        for (int i = 0; i < Math.min(na, nb); i++) {
          String d = diffValues(f, a.getRepeatedField(f, i), b.getRepeatedField(f, i), p + "[" + i + label(a.getRepeatedField(f, i)) + "]");
          if (d != null) {
            return d;
          }
        }
        if (na != nb) {
          return p + ": " + na + " vs " + nb + " elements";
        }
      } else {
        boolean ha = a.hasField(f);
        boolean hb = b.hasField(f);
        if (ha != hb) {
          return p + ": " + (ha ? "present" : "absent") + " vs " + (hb ? "present" : "absent")
              + (ha ? " (" + shortValue(a.getField(f)) + ")" : " (" + shortValue(b.getField(f)) + ")");
        }
        if (ha) {
          String d = diffValues(f, a.getField(f), b.getField(f), p);
          if (d != null) {
            return d;
          }
        }
      }
    }
    if (!a.getUnknownFields().equals(b.getUnknownFields())) {
      return path + ": unknown fields " + a.getUnknownFields().asMap().keySet() + " vs "
          + b.getUnknownFields().asMap().keySet();
    }
    return path + ": messages differ (no field difference found)";
  }

  private static String diffValues(FieldDescriptor f, Object x, Object y, String path) {
    if (f.getJavaType() == FieldDescriptor.JavaType.MESSAGE) {
      return diff((Message) x, (Message) y, path);
    }
    return x.equals(y) ? null : path + ": " + shortValue(x) + " vs " + shortValue(y);
  }

  private static String label(Object element) {
    if (element instanceof Message m) {
      FieldDescriptor name = m.getDescriptorForType().findFieldByName("name");
      if (name != null && !name.isRepeated() && m.hasField(name)) {
        return " '" + m.getField(name) + "'";
      }
    }
    return "";
  }

  private static String shortValue(Object v) {
    String s = String.valueOf(v).replace('\n', ' ');
    return s.length() > 80 ? s.substring(0, 80) + "..." : s;
  }
}
