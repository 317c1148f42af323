package dev.onnxprune.cli;

import ai.onnxruntime.OrtException;
import dev.onnxprune.graph.Model;
import dev.onnxprune.runtime.Dataset;
import dev.onnxprune.runtime.Evaluation;
import dev.onnxprune.runtime.Evaluator;
import dev.onnxprune.runtime.Runner;
import dev.onnxprune.runtime.Sessions;
import dev.onnxprune.training.BnRecalibration;
import dev.onnxprune.training.GradientException;
import dev.onnxprune.training.Trainer;
import dev.onnxprune.training.TrainerOptions;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Recovery after pruning, as {@code finetune} and {@code prune --finetune-epochs/--recalibrate-bn}
 * run it: validation top-1 of the input (when validation data is given), BatchNorm recalibration
 * ({@link BnRecalibration}), then fine-tuning ({@link Trainer}). Progress goes to stderr.
 */
final class Recovery {
  /** What one step of recovery left: its name, validation loss and top-1 (NaN: no validation data). */
  record Stage(String name, double valLoss, double valTop1, double seconds) {}

  /**
   * @param model the recovered model
   * @param stages validation after each stage (input, recalibration, each epoch)
   * @param trained the trainer's result, null when no epochs ran
   */
  record Outcome(Model model, List<Stage> stages, Trainer.Result trained) {}

  private Recovery() {}

  static Outcome run(Model model, int epochs, TrainDataOptions data, RecoveryOptions o, long seed, Sessions sessions,
      PrintWriter err, boolean quiet) throws IOException, UsageFailure, CommandFailure {
    Dataset train = data.training(seed);
    Dataset val = data.validation();
    List<Stage> stages = new ArrayList<>();
    try {
      if (val != null) {
        stages.add(evaluate("input", model, val, sessions, err));
      }
      Model m = model;
      if (o.recalibrateBn) {
        BnRecalibration.Result r = BnRecalibration.run(m, train, o.batch, o.bnBatches(), sessions);
        m = r.model();
        err.println(r.batchNorms() == 0 ? "no BatchNormalization in the model: nothing to recalibrate"
            : String.format(Locale.ROOT, "recalibrated %d BatchNorm layers on %s samples (%d batches) in %.2f s",
                r.batchNorms(), Units.grouped(r.samples()), r.batches(), r.seconds()));
        err.flush();
        if (val != null) {
          stages.add(evaluate("BN recalibrated", m, val, sessions, err));
        }
      }
      Trainer.Result trained = null;
      if (epochs > 0) {
        int steps = Trainer.stepsPerEpoch(train.size(), o.batch);
        if (steps == 0) {
          throw new CommandFailure("the training data has " + train.size() + " sample(s); a step needs 2");
        }
        try (TrainProgress progress = new TrainProgress(err, quiet)) {
          TrainerOptions to = o.trainer(epochs, steps, seed, data.blackPixel()).validation(val).listener(progress)
              .build();
          trained = Trainer.train(m, o.trainingOptions(), train, to, sessions);
        }
        m = trained.model();
        for (Trainer.EpochStats s : trained.history()) {
          stages.add(new Stage("epoch " + s.epoch(), s.valLoss(), s.valAccuracy(), s.seconds()));
        }
      }
      return new Outcome(m, stages, trained);
    } catch (OrtException e) {
      throw new CommandFailure(e.getMessage());
    } catch (GradientException e) {
      throw new CommandFailure("cannot fine-tune: " + e.getMessage());
    } catch (IllegalArgumentException e) {
      // the data does not fit the model, or a checkpoint to resume from does not fit this run
      throw new CommandFailure(e.getMessage());
    }
  }

  private static Stage evaluate(String name, Model m, Dataset val, Sessions sessions, PrintWriter err)
      throws OrtException {
    try (Runner r = Runner.open(sessions, m)) {
      Evaluation e = new Evaluator(r).evaluate(val, 256);
      err.println(String.format(Locale.ROOT, "%-16s val loss %.4f  val top-1 %.2f%%", name, e.loss(), 100 * e.top1()));
      err.flush();
      return new Stage(name, e.loss(), e.top1(), e.seconds());
    }
  }

  /** The stages as a table (nothing when there was no validation data). */
  static void print(List<Stage> stages, PrintWriter out) {
    if (stages.isEmpty() || Double.isNaN(stages.get(0).valTop1())) {
      return;
    }
    TextTable t = new TextTable("", TextTable.Align.LEFT, TextTable.Align.RIGHT, TextTable.Align.RIGHT);
    t.row("stage", "val loss", "val top-1");
    for (Stage s : stages) {
      t.row(s.name(), String.format(Locale.ROOT, "%.4f", s.valLoss()),
          String.format(Locale.ROOT, "%.2f%%", 100 * s.valTop1()));
    }
    t.print(out);
  }
}
