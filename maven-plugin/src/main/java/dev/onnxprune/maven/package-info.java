/**
 * The Maven plugin, goal {@code onnx-prune:prune}: an adapter over the library's
 * {@link dev.onnxprune.prune.PruningPipeline} with no pruning logic of its own. {@link
 * dev.onnxprune.maven.PruneMojo} is the goal, {@link dev.onnxprune.maven.ModelSettings} its
 * elements, {@link dev.onnxprune.maven.PipelineConfig} turns them into the pipeline,
 * {@link dev.onnxprune.maven.PomNames} names the library's option keys as POM elements,
 * {@link dev.onnxprune.maven.BuildStamp} decides when a model is up to date, and
 * {@link dev.onnxprune.maven.MavenLog} writes the run to Maven's log.
 */
package dev.onnxprune.maven;
