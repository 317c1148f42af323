package dev.onnxprune.training;

import ai.onnxruntime.OrtException;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.onnxprune.errors.TrainingDivergedException;
import dev.onnxprune.graph.Model;
import dev.onnxprune.runtime.Batch;
import dev.onnxprune.runtime.Dataset;
import dev.onnxprune.runtime.Labels;
import dev.onnxprune.runtime.Sessions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Trains an inference model for some epochs over a labelled {@link Dataset}: builds its {@link
 * TrainingArtifact} in memory, runs it in a {@link TrainingSession} (the parameters, optimizer
 * state and BatchNorm statistics stay ONNX Runtime tensors from step to step: each step's updated
 * outputs are the next step's inputs, and nothing comes back to Java but the loss and the logits),
 * and returns the model with the trained values.
 *
 * <p>Per epoch: the samples in an order drawn from (seed, epoch), batches of {@link
 * TrainerOptions#batchSize} (a last batch of one sample is dropped: batch statistics need two),
 * each augmented ({@link Augmentation}) with draws from the same generator, one optimizer step
 * each at the schedule's learning rate; then the validation data (when given) through the eval
 * model, and a checkpoint (when a folder is given). Resuming from the checkpoint of epoch k gives
 * the same parameters, bit for bit on the same machine and thread count, as not stopping after it.
 *
 * <p>The training data is read into memory once ({@code 4 * samples * sample size} bytes). On
 * CUDA the state still passes through host memory at every step: ONNX Runtime's Java API returns
 * outputs in CPU memory and has no IOBinding.
 */
public final class Trainer {
  /** The checkpoint's file name in {@link TrainerOptions#checkpointDir}. */
  public static final String CHECKPOINT = "checkpoint.onnx";
  /** Checkpoint metadata key of the trainer's position ({@link Position}, JSON). */
  public static final String POSITION_KEY = "onnx-prune.trainer";

  private static final ObjectMapper JSON = new ObjectMapper();

  /** Hears what the trainer does; every method has an empty default. Called on the training thread. */
  public interface Listener {
    /** Training (re)starts at {@code epoch} (1-based) of {@code epochs}; {@code resumed}: from a checkpoint. */
    default void started(int epoch, int epochs, int stepsPerEpoch, int samples, boolean resumed) {}

    default void epochStarted(int epoch, int epochs, int steps) {}

    /** After each step: the epoch's running mean loss and accuracy so far. */
    default void stepped(StepProgress progress) {}

    default void epochEnded(EpochStats stats) {}
  }

  /**
   * Where an epoch stands after a step.
   *
   * @param step steps done in this epoch (1-based)
   * @param samples samples seen in this epoch
   * @param lr the learning rate of the step
   * @param loss mean training loss of the epoch so far
   * @param accuracy fraction right of the epoch so far (training-mode forward, before each update)
   */
  public record StepProgress(int epoch, int epochs, int step, int steps, int samples, double lr, double loss,
      double accuracy) {}

  /**
   * One finished epoch.
   *
   * @param epoch 1-based
   * @param steps optimizer steps since the start of training
   * @param lr the learning rate of the epoch's last step
   * @param trainLoss mean loss over the epoch's batches (weighted by batch size)
   * @param trainAccuracy fraction right during the epoch (training-mode forward, before each update)
   * @param valLoss mean cross-entropy on the validation data after the epoch (NaN: none)
   * @param valAccuracy top-1 on the validation data (NaN: none)
   * @param seconds training time of the epoch
   * @param evalSeconds validation time
   */
  public record EpochStats(int epoch, int epochs, long steps, double lr, double trainLoss, double trainAccuracy,
      int trainSamples, double valLoss, double valAccuracy, int valSamples, double seconds, double evalSeconds) {}

  /**
   * What training gave.
   *
   * @param model the input model with the trained parameters and BatchNorm statistics
   * @param history every epoch, those before a resume included (read from the checkpoint)
   * @param resumedAfter epochs that were already done in the checkpoint (0: a fresh start)
   * @param seconds wall time of this call
   */
  public record Result(Model model, List<EpochStats> history, int resumedAfter, double seconds) {
    /** The last epoch, or null when none ran. */
    public EpochStats last() {
      return history.isEmpty() ? null : history.get(history.size() - 1);
    }
  }

  /** The trainer's position in a checkpoint: what must match to resume, and the history. */
  record Position(int epochsDone, int epochs, int batchSize, long seed, int samples, List<EpochStats> history) {}

  private Trainer() {}

  /**
   * Trains {@code model} (not changed) on {@code data} as {@code options} say, with the training
   * step {@code training} describes, in sessions from {@code sessions}.
   *
   * @throws IllegalArgumentException when the data has no labels, or a checkpoint to resume from
   *     was written for other data, batch size, seed, model or optimizer
   * @throws dev.onnxprune.errors.DataMismatchException when a label of the training or validation
   *     data is outside the model's classes (it names the sample)
   * @throws GradientException when the model cannot be differentiated
   * @throws IOException when a checkpoint cannot be read or written
   * @throws OrtException when ONNX Runtime fails (for example, the data does not fit the model)
   * @throws TrainingDivergedException when a step's loss, or a parameter or BatchNorm statistic
   *     after a step, is not finite: it names the epoch and the step, and training stops there
   */
  public static Result train(Model model, TrainingOptions training, Dataset data, TrainerOptions options,
      Sessions sessions) throws IOException, OrtException {
    long start = System.nanoTime();
    TrainingData samples = TrainingData.of(data, training.labels());
    TrainingArtifact artifact = TrainingArtifact.build(model, training);
    if (training.distillation() != null && options.teacher() == null) {
      throw new IllegalArgumentException("the training step distils; give the teacher (TrainerOptions.teacher)");
    }
    samples.checkLabels(artifact.spec().numClasses(), artifact.spec().classesOf());
    Listener listener = options.listener();
    int batch = options.batchSize();
    int steps = stepsPerEpoch(samples.count(), batch);
    if (steps == 0) {
      throw new IllegalArgumentException("the training data has " + samples.count() + " sample(s); a step needs 2");
    }
    List<EpochStats> history = new ArrayList<>();
    try (TrainingSession session = TrainingSession.open(artifact, sessions);
        Teacher teacher = training.distillation() == null ? null : Teacher.open(options.teacher(), artifact.spec(),
            sessions, samples.count(), options.augmentation().isNone())) {
      int done = 0;
      Path ck = options.checkpointDir() == null ? null : options.checkpointDir().resolve(CHECKPOINT);
      if (options.resume() && Files.isRegularFile(ck)) {
        Position p = resume(session, ck, options, samples.count());
        done = p.epochsDone();
        history.addAll(p.history());
      }
      listener.started(done + 1, options.epochs(), steps, samples.count(), done > 0);
      for (int epoch = done; epoch < options.epochs(); epoch++) {
        history.add(epoch(session, teacher, samples, options, epoch, steps));
        if (ck != null) {
          Files.createDirectories(options.checkpointDir());
          Position p = new Position(epoch + 1, options.epochs(), batch, options.seed(), samples.count(), history);
          session.saveCheckpoint(ck, Map.of(POSITION_KEY, JSON.writeValueAsString(p)));
        }
        listener.epochEnded(history.get(history.size() - 1));
      }
      checkTrainedOutputs(session, samples, options, history);
      return new Result(session.applyTo(model), List.copyOf(history), done, (System.nanoTime() - start) / 1e9);
    }
  }

  /** Optimizer steps in one epoch over {@code samples} in batches of {@code batch} (a last batch of one is dropped). */
  public static int stepsPerEpoch(int samples, int batch) {
    int full = samples / batch;
    return samples % batch >= 2 ? full + 1 : full;
  }

  /**
   * Mean cross-entropy and top-1 of the session's current parameters over {@code data}
   * (inference mode: BatchNorm on its running statistics).
   *
   * @return {loss, accuracy, samples}
   */
  public static double[] evaluate(TrainingSession session, Dataset data, int batchSize) throws OrtException {
    double loss = 0;
    long right = 0;
    int n = 0;
    Iterator<Batch> it = data.batches(batchSize);
    while (it.hasNext()) {
      Batch b = it.next();
      if (b.labels() == null) {
        throw new IllegalArgumentException("the validation data has no labels");
      }
      dev.onnxprune.runtime.Progress.checkCancelled();
      Labels.check(b.labels(), n, session.spec().numClasses(), session.spec().classesOf() + " (validation data)");
      TrainingSession.EvalResult r = session.evaluate(b);
      loss += r.loss() * r.size();
      right += r.correct();
      n += r.size();
    }
    return new double[] {n == 0 ? Double.NaN : loss / n, n == 0 ? Double.NaN : (double) right / n, n};
  }

  private static EpochStats epoch(TrainingSession session, Teacher teacher, TrainingData data, TrainerOptions o,
      int epoch, int steps) throws OrtException {
    Listener listener = o.listener();
    listener.epochStarted(epoch + 1, o.epochs(), steps);
    long t0 = System.nanoTime();
    // one generator per epoch, fixed by (seed, epoch): a resumed run draws what an unbroken one does
    SplittableRandom random = new SplittableRandom(o.seed() * 0x9E3779B97F4A7C15L + epoch);
    int[] order = TrainingData.order(data.count(), o.shuffle() ? random : null);
    int batch = o.batchSize();
    double lossSum = 0;
    long right = 0;
    int seen = 0;
    double lr = Double.NaN;
    for (int s = 0; s < steps; s++) {
      int from = s * batch;
      int n = Math.min(batch, data.count() - from);
      Batch b = data.batch(order, from, n);
      o.augmentation().apply(b.inputs(), b.shape(), random);
      long t = o.scheduleUnit() == TrainerOptions.ScheduleUnit.STEP ? session.steps() : epoch;
      lr = o.schedule().at(t);
      TrainingSession.StepResult r;
      try {
        r = teacher == null ? session.step(b, lr) : session.step(b, lr, teacher.outputs(b, order, from));
      } catch (TrainingDivergedException e) {
        throw new TrainingDivergedException(e.step(), e.what(), "training diverged at epoch " + (epoch + 1)
            + ", step " + (s + 1) + " of " + steps + ": " + e.what() + " (learning rate " + lr + "); nothing was"
            + " kept of this run. Lower the learning rate, or check the data for NaN or infinite values");
      }
      lossSum += r.loss() * n;
      right += r.correct();
      seen += n;
      listener.stepped(new StepProgress(epoch + 1, o.epochs(), s + 1, steps, seen, lr, lossSum / seen,
          (double) right / seen));
      dev.onnxprune.runtime.Progress.report((long) epoch * steps + s + 1, (long) o.epochs() * steps);
    }
    double seconds = (System.nanoTime() - t0) / 1e9;
    double[] val = {Double.NaN, Double.NaN, 0};
    long t1 = System.nanoTime();
    if (o.validation() != null) {
      val = evaluate(session, o.validation(), o.evalBatchSize());
    }
    double evalSeconds = o.validation() == null ? 0 : (System.nanoTime() - t1) / 1e9;
    return new EpochStats(epoch + 1, o.epochs(), session.steps(), lr, lossSum / seen, (double) right / seen, seen,
        val[0], val[1], (int) val[2], seconds, evalSeconds);
  }

  /**
   * The loss of a step is that of the weights before its update, so the last step's update is seen
   * by no loss: the trained weights run once, in inference mode (the model that is returned), on
   * the first training batch, and a loss or output that is not finite stops here.
   */
  private static void checkTrainedOutputs(TrainingSession session, TrainingData data, TrainerOptions o,
      List<EpochStats> history) throws OrtException {
    int n = Math.min(o.batchSize(), data.count());
    Batch first = data.batch(TrainingData.order(data.count(), null), 0, n);
    TrainingSession.EvalResult r = session.evaluate(first);
    int bad = firstNonFinite(r.logits());
    // without labels (distillation alone) there is no loss to check, only the outputs
    if ((Double.isFinite(r.loss()) || first.labels() == null) && bad < 0) {
      return;
    }
    EpochStats last = history.isEmpty() ? null : history.get(history.size() - 1);
    String what = "the trained model's " + (bad >= 0 ? "output is " + r.logits()[bad] : "loss is " + r.loss())
        + " on the first " + n + " training samples";
    String where = last == null ? "after step " + session.steps()
        : "after epoch " + last.epoch() + " (step " + last.steps() + ", learning rate " + last.lr() + ")";
    throw new TrainingDivergedException(session.steps(), what, "training diverged " + where + ": " + what
        + "; nothing was kept of this run. Lower the learning rate, or check the data for NaN or infinite values");
  }

  private static int firstNonFinite(float[] v) {
    for (int i = 0; i < v.length; i++) {
      if (!Float.isFinite(v[i])) {
        return i;
      }
    }
    return -1;
  }

  private static Position resume(TrainingSession session, Path ck, TrainerOptions o, int samples)
      throws IOException, OrtException {
    Map<String, String> meta = session.restore(ck);
    String json = meta.get(POSITION_KEY);
    if (json == null) {
      throw new IllegalArgumentException(ck + ": not a trainer checkpoint (no " + POSITION_KEY + " metadata)");
    }
    Position p;
    try {
      p = JSON.readValue(json, Position.class);
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException(ck + ": unreadable trainer position: " + e.getOriginalMessage(), e);
    }
    check(ck, "batch size", p.batchSize(), o.batchSize());
    check(ck, "seed", p.seed(), o.seed());
    check(ck, "number of training samples", p.samples(), samples);
    return p;
  }

  private static void check(Path ck, String what, long was, long now) {
    if (was != now) {
      throw new IllegalArgumentException(ck + " was written with " + what + " " + was + ", this run has " + now
          + "; resume with the same " + what + ", or start afresh in another checkpoint folder");
    }
  }

}
