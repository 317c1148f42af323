package dev.onnxprune.cli;

import dev.onnxprune.graph.Model;
import dev.onnxprune.graph.OnnxModels;
import dev.onnxprune.surgery.ChannelAnalysis;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code onnx-prune inspect MODEL [--json] [--summary] [--groups]}: inputs and outputs, opsets,
 * op histogram, parameters, MACs and FLOPs, a per-layer table of every node, and with
 * {@code --groups} the channel groups of the dependency analysis.
 */
@Command(name = "inspect",
    mixinStandardHelpOptions = true,
    versionProvider = VersionProvider.class,
    description = {
        "Shows what a model is made of: inputs, outputs, ops, parameters, MACs and FLOPs.",
        "Prints a header (file, size, IR version, producer, opsets), the inputs and outputs, the op histogram,"
            + " the totals, and one table row per node (name, op, output shape, params, MACs, FLOPs).",
        "Shapes come from shape inference; symbolic dimensions show by name, unknown ones as ?.",
        "With --groups, then the channel groups (after the layer table; --summary leaves that out): id, channels,"
            + " prunable, producers, members, and the reasons a group cannot be pruned; then the residual blocks"
            + " (whole blocks prune --blocks can replace by the identity): id, removable, branch nodes, Add, and why"
            + " a block is not removable."},
    exitCodeListHeading = "%nExit codes:%n",
    exitCodeList = {ExitCodes.OK_LINE, ExitCodes.ERROR_LINE, ExitCodes.USAGE_LINE},
    footerHeading = "%nJSON fields (--json; a field is only ever added, its meaning never changes):%n",
    footer = {
        "  format             \"" + ModelSummary.FORMAT + "\"",
        "  file, fileBytes, externalDataBytes, irVersion, producerName, producerVersion, graphName",
        "  opsets[]           {domain (\"\" = ai.onnx), version}",
        "  inputs[], outputs[] {name, elemType, shape}",
        "  opHistogram[]      {op, count}, by count descending",
        "  totals             {nodes, initializers, parameters, initializerBytes, macs, flops,",
        "                      activationBytes, shapeUnknownNodes, costUnknownNodes}",
        "  shapeUnknown[]     {node, op, reason}",
        "  nodes[]            {index, name, op, outputs[], outputShapes[], params, macs, flops, outputBytes}",
        "A shape is a list of dims (number, symbolic name, or null if unknown), or null if its rank is unknown.",
        "  groups[]           (--groups only) {id, channels, kind, prunable, producers[],",
        "                      members[] {node, op, role, tensor}, reasons[]}; kind: channels, heads, hidden,",
        "                      or block (a residual block, ids of their own: channels 1, prunable = removable,",
        "                      producers[] its Add, members[] its branch's nodes with role branch)",
        "macs/flops of a node are null when its cost is unknown; such nodes are not in the totals."})
public final class InspectCommand implements Callable<Integer> {
  @Mixin
  CommonOptions common;

  @Parameters(index = "0", paramLabel = "MODEL", description = "The .onnx file to inspect.")
  Path model;

  @Option(names = "--json", description = "Print the report as one JSON document (fields listed below).")
  boolean json;

  @Option(names = "--summary", description = "Leave out the per-layer table (text output only).")
  boolean summary;

  @Option(names = "--groups",
      description = "Add the channel groups of the dependency analysis: channels that must be removed together,"
          + " whether they can be pruned, and why not.")
  boolean groups;

  @Override
  public Integer call() {
    return common.run(() -> {
      Model m = OnnxModels.read(model);
      ModelSummary s = ModelSummary.of(model, m);
      if (groups) {
        s = s.withGroups(ChannelAnalysis.analyze(m), dev.onnxprune.surgery.ResidualBlocks.find(m.copy()));
      }
      if (json) {
        Json.print(common.out(), s);
      } else {
        InspectText.print(s, !summary, common.verbose(), common.out());
      }
      return ExitCodes.OK;
    });
  }
}
