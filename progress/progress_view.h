// The pure parts of the tty progress view: text fitting, output tails, and the frame a
// terminal shows for a build's steps at a given time. No I/O, no threads, no clock: the tty
// renderer (progress_tty.cc) owns those; tests drive this directly.
#pragma once

#include <cstddef>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace cb::progress::view {

/// Terminal columns taken by UTF-8 text (East Asian wide characters 2, combining marks 0,
/// invalid bytes 1 each).
int DisplayWidth(std::string_view s);
/// The longest prefix of `s` that fits in `cols` columns; never splits a UTF-8 sequence.
std::string FitWidth(std::string_view s, int cols);
/// What a terminal leaves visible of one output line, made safe to print: the text after the
/// last carriage return, escape sequences and control characters removed, tabs expanded.
std::string SanitizeLine(std::string_view s);
/// "0.4s", "12.3s", "2m03s".
std::string FormatSeconds(double s);

/// The last `capacity` lines of a step's output, each kept to at most `max_bytes`: a step's
/// output is streamed, never held whole.
class TailBuffer {
 public:
  explicit TailBuffer(size_t capacity, size_t max_bytes = 4096) : capacity_(capacity), max_bytes_(max_bytes) {}
  void Push(std::string_view line);
  /// The last `n` lines (fewer when fewer were pushed), oldest first.
  std::vector<std::string> Last(size_t n) const;
  size_t size() const { return lines_.size(); }
  /// Lines pushed in total, including those no longer kept.
  size_t pushed() const { return pushed_; }
  void Clear() { lines_.clear(); }

 private:
  size_t capacity_, max_bytes_;
  size_t pushed_ = 0;
  std::deque<std::string> lines_;
};

enum class StepState { kRunning, kCached, kDone, kError, kCanceled };

struct StepView {
  int n = 0;
  std::string label;  ///< "[STAGE ]i/n"
  std::string text;   ///< the instruction
  StepState state = StepState::kRunning;
  double started = 0;   ///< seconds since the build started
  double seconds = 0;   ///< time taken, once finished
  std::string miss_reason;
  std::string error;
  TailBuffer tail{kKeptLines};
  static constexpr size_t kKeptLines = 20;  ///< kept for the failure report
};

/// Lines drawn for the build; steps in the order they started.
class View {
 public:
  static constexpr size_t kTailLines = 6;  ///< output lines shown under a running step

  /// The step numbered n, added (running, started at `now`) when new.
  StepView& Step(int n, double now);
  void AddNote(std::string line) { notes_.push_back(std::move(line)); }
  const std::vector<StepView>& steps() const { return steps_; }

  struct Frame {
    std::vector<std::string> commit;  ///< lines printed once above the live region, for good
    std::vector<std::string> live;    ///< the region redrawn in place
  };
  /// The next frame for a terminal of cols x rows at time `now`. When the live region would
  /// not fit in rows - 1 lines, finished steps at its top move to `commit` (they never change
  /// again) and then tails shrink. Each line fits in cols - 1 columns.
  Frame Next(double now, int cols, int rows);
  /// Every line not yet committed, with the header saying FINISHED or ERROR; no tails. Steps
  /// still running are marked CANCELED.
  std::vector<std::string> Final(double now, int cols, bool failed);
  /// The lines printed after a failure: the failing step's last output lines, BuildKit-style
  /// between dashes (not cut to the terminal's width). Empty when no step failed.
  std::vector<std::string> FailureReport() const;

 private:
  std::string Header(double now, const char* suffix) const;
  std::string StepLine(const StepView& s, double now, int cols) const;
  std::vector<std::string> Live(double now, int cols, size_t tail_lines) const;

  std::vector<StepView> steps_;
  std::vector<std::string> notes_;
  size_t committed_ = 0;  ///< steps_[0, committed_) are printed for good
};

/// The bytes that replace a live region of `prev_live` lines by `f` (cursor up, each line
/// cleared to its end, the rest of the screen cleared): one write, no flicker.
std::string Compose(size_t prev_live, const View::Frame& f);

}  // namespace cb::progress::view
