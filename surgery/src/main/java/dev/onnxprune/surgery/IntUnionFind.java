package dev.onnxprune.surgery;

import java.util.Arrays;

/** Union-find over dense int ids with path halving and union by size. */
final class IntUnionFind {
  private int[] parent = new int[64];
  private int[] size = new int[64];
  private int count;

  /** Adds {@code n} fresh singleton ids and returns the first. */
  int add(int n) {
    int base = count;
    while (count + n > parent.length) {
      parent = Arrays.copyOf(parent, parent.length * 2);
      size = Arrays.copyOf(size, size.length * 2);
    }
    for (int i = 0; i < n; i++) {
      parent[base + i] = base + i;
      size[base + i] = 1;
    }
    count += n;
    return base;
  }

  int count() {
    return count;
  }

  int find(int x) {
    while (parent[x] != x) {
      parent[x] = parent[parent[x]];
      x = parent[x];
    }
    return x;
  }

  /** Joins the sets of {@code a} and {@code b}; returns true when they were apart. */
  boolean union(int a, int b) {
    int ra = find(a);
    int rb = find(b);
    if (ra == rb) {
      return false;
    }
    if (size[ra] < size[rb]) {
      int t = ra;
      ra = rb;
      rb = t;
    }
    parent[rb] = ra;
    size[ra] += size[rb];
    return true;
  }
}
