package dev.onnxprune.runtime;

/**
 * What {@link Evaluator} measured over a dataset.
 *
 * @param samples samples evaluated
 * @param top1 fraction whose label has the highest score
 * @param top5 fraction whose label is among the five highest scores (all of them when the model has
 *     five classes or fewer)
 * @param loss mean cross-entropy in nats, computed in double
 * @param seconds wall time of the whole pass: reading or decoding the data and running the model
 * @param imagesPerSecond {@code samples / seconds}
 */
public record Evaluation(int samples, double top1, double top5, double loss, double seconds,
    double imagesPerSecond) implements java.io.Serializable {}
