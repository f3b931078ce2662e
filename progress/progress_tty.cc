// --progress=tty: the build's steps as a live view, redrawn in place. Events from the build's
// threads only change the view (progress/progress_view.h); one renderer thread draws it at most
// every 100 ms, and only when what it would draw changed, so step output never reaches the
// terminal except through the view.
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "progress/progress.h"
#include "progress/progress_view.h"

namespace cb::progress {
namespace {

using view::StepState;

void WriteAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // a terminal that went away: nothing more to show
    off += static_cast<size_t>(n);
  }
}

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  int n = v ? std::atoi(v) : 0;
  return n > 0 ? n : fallback;
}

class TtyProgress : public Progress {
 public:
  explicit TtyProgress(int fd) : fd_(fd), t0_(std::chrono::steady_clock::now()) {
    thread_ = std::thread([this] { Render(); });
  }
  ~TtyProgress() override { Stop(false, ""); }

  void Started(int n, const std::string& label, const std::string& text) override {
    std::lock_guard<std::mutex> lock(mu_);
    view::StepView& s = view_.Step(n, Now());
    s.label = label;
    s.text = text;
    started_ = true;
  }
  void Cached(int n) override { Finished(n, StepState::kCached, -1, ""); }
  void CacheMiss(int n, const std::string& reason) override {
    if (reason == "--no-cache") return;  // asked for: saying it under every step is noise
    std::lock_guard<std::mutex> lock(mu_);
    view_.Step(n, Now()).miss_reason = reason;
  }
  void Output(int n, const std::string& line) override {
    std::string clean = view::SanitizeLine(line);
    std::lock_guard<std::mutex> lock(mu_);
    view_.Step(n, Now()).tail.Push(clean);
  }
  void Done(int n, double seconds) override { Finished(n, StepState::kDone, seconds, ""); }
  void Failed(int n, const std::string& message) override { Finished(n, StepState::kError, -1, message); }
  void Canceled(int n, const std::string& message) override { Finished(n, StepState::kCanceled, -1, message); }
  void Note(const std::string& line) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      WriteAll(fd_, " => " + view::SanitizeLine(line) + "\n");
    } else {
      view_.AddNote(line);
    }
  }
  void Finish() override { Stop(false, ""); }
  void BuildFailed(const Error&, const std::string& shown) override { Stop(true, shown); }

 private:
  double Now() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count(); }

  void Finished(int n, StepState state, double seconds, const std::string& error) {
    std::lock_guard<std::mutex> lock(mu_);
    view::StepView& s = view_.Step(n, Now());
    s.state = state;
    s.seconds = seconds >= 0 ? seconds : Now() - s.started;
    s.error = error;
    if (state != StepState::kError) s.tail.Clear();  // only a failure report needs it later
  }

  std::pair<int, int> Size() const {
    struct winsize ws {};
    if (::ioctl(fd_, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0) return {ws.ws_col, ws.ws_row};
    return {EnvInt("COLUMNS", 80), EnvInt("LINES", 24)};
  }

  /// The renderer thread: the only writer to the terminal until Stop returns.
  void Render() {
    std::unique_lock<std::mutex> lock(mu_);
    size_t prev_live = 0;
    std::vector<std::string> last_live;
    while (!stopping_) {
      cv_.wait_for(lock, std::chrono::milliseconds(100), [this] { return stopping_; });
      if (stopping_ || !started_) continue;
      auto [cols, rows] = Size();
      view::View::Frame f = view_.Next(Now(), cols, rows);
      if (f.commit.empty() && f.live == last_live) continue;
      std::string bytes = view::Compose(prev_live, f);
      prev_live = f.live.size();
      last_live = std::move(f.live);
      lock.unlock();  // a slow terminal must not hold up the build's threads
      WriteAll(fd_, bytes);
      lock.lock();
    }
    if (!started_ && shown_.empty()) return;
    view::View::Frame last;
    if (started_) last.commit = view_.Final(Now(), Size().first, failed_);
    if (failed_)
      for (auto& l : view_.FailureReport()) last.commit.push_back(std::move(l));
    std::string bytes = view::Compose(prev_live, last) + shown_;
    WriteAll(fd_, bytes);
  }

  void Stop(bool failed, const std::string& shown) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) {  // the view is gone (an error after Finish): the text alone
        WriteAll(fd_, shown);
        return;
      }
      stopping_ = true;
      failed_ = failed;
      shown_ = shown;
    }
    cv_.notify_all();
    thread_.join();
  }

  int fd_;
  std::chrono::steady_clock::time_point t0_;
  std::mutex mu_;
  std::condition_variable cv_;
  view::View view_;
  bool started_ = false, stopping_ = false, failed_ = false;
  std::string shown_;
  std::thread thread_;
};

}  // namespace

std::unique_ptr<Progress> NewTtyProgress(int fd) { return std::make_unique<TtyProgress>(fd); }

}  // namespace cb::progress
