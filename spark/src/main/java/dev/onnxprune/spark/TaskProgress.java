package dev.onnxprune.spark;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.spark.ExceptionFailure;
import org.apache.spark.Success$;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerJobStart;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Counts the finished tasks of each job (heard on Spark's listener bus), and logs failed attempts, which Spark retries. */
final class TaskProgress extends SparkListener {
  private static final Logger LOG = LoggerFactory.getLogger(TaskProgress.class);
  private final Map<Integer, Integer> stageJob = new ConcurrentHashMap<>();
  private final Map<Integer, Integer> doneByJob = new ConcurrentHashMap<>();

  @Override
  public void onJobStart(SparkListenerJobStart start) {
    for (Object stage : scala.jdk.javaapi.CollectionConverters.asJava(start.stageIds())) {
      stageJob.put((Integer) stage, start.jobId());
    }
  }

  @Override
  public void onTaskEnd(SparkListenerTaskEnd end) {
    Integer job = stageJob.get(end.stageId());
    if (end.reason() == Success$.MODULE$) {
      if (job != null) {
        doneByJob.merge(job, 1, Integer::sum);
      }
    } else {
      String why = end.reason() instanceof ExceptionFailure f ? f.className() + ": " + f.description()
          : end.reason().toString();
      LOG.warn("task {} of stage {} (attempt {}) failed: {}; Spark runs it again unless it has failed too often",
          end.taskInfo().index(), end.stageId(), end.taskInfo().attemptNumber(), why);
    }
  }

  /** Tasks finished in {@code jobs}. */
  int done(java.util.List<Integer> jobs) {
    int n = 0;
    for (int j : jobs) {
      n += doneByJob.getOrDefault(j, 0);
    }
    return n;
  }
}
