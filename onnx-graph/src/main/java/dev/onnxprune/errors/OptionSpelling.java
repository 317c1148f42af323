package dev.onnxprune.errors;

import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * How an adapter spells the API's option keys: the command line's flags ({@code --flops}), the
 * Maven plugin's POM elements ({@code <flops>}). Each adapter keeps one table from key to name;
 * this class puts the names into the library's errors ({@link #translate}) and into free text that
 * names keys, such as warnings and phase details ({@link #render}). A key the table lacks stays as
 * the library wrote it.
 */
public final class OptionSpelling {
  private final Map<String, String> names;
  private final Pattern keys;

  /** @param names key -> the adapter's name for it ({@code target.flops -> --flops}); copied */
  public OptionSpelling(Map<String, String> names) {
    this.names = new LinkedHashMap<>(names);
    // Keys replaced in free text, longest first, matched whole: those with a dot or an upper-case
    // letter (fineTuning.epochs, minChannels), never plain words such as "model" that a sentence
    // uses in their ordinary sense; nor a key that only begins a longer one (fineTuning in
    // fineTuning.momentum), nor one already written as an element (<minChannels>).
    this.keys = Pattern.compile("(?<![\\w.<-])(" + String.join("|", this.names.keySet().stream()
        .filter(k -> k.contains(".") || !k.equals(k.toLowerCase(Locale.ROOT)))
        .sorted(Comparator.comparingInt(String::length).reversed()).map(Pattern::quote).toList())
        + ")(?![\\w>]|\\.\\w)");
  }

  /** The adapter's name of {@code key}, or the key itself when the table has none. */
  public String name(String key) {
    return names.getOrDefault(key, key);
  }

  /** The refusal in the adapter's words: {@code --flops must be in (0, 1): 1.5}. */
  public String translate(InvalidOptionException e) {
    return render(e.messageFor(this::name));
  }

  /** {@code message} with every option key it names replaced by its name; null stays null. */
  public String render(String message) {
    if (message == null) {
      return null;
    }
    Matcher m = keys.matcher(message);
    StringBuilder sb = new StringBuilder();
    while (m.find()) {
      m.appendReplacement(sb, Matcher.quoteReplacement(names.get(m.group(1))));
    }
    m.appendTail(sb);
    return sb.toString();
  }
}
