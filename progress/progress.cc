#include "progress/progress.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <mutex>

#include <fmt/core.h>

namespace cb::progress {
namespace {

class PlainProgress : public Progress {
 public:
  explicit PlainProgress(std::FILE* out) : out_(out) {}
  void Started(int n, const std::string& label, const std::string& text) override {
    Print(label.empty() ? fmt::format("#{} {}", n, text) : fmt::format("#{} [{}] {}", n, label, text));
  }
  void Cached(int n) override { Print(fmt::format("#{} CACHED", n)); }
  void CacheMiss(int n, const std::string& reason) override {
    Print(fmt::format("#{} cache miss: {}", n, reason));
  }
  void Output(int n, const std::string& line) override { Print(fmt::format("#{} {}", n, line)); }
  void Done(int n, double seconds) override { Print(fmt::format("#{} DONE {:.1f}s", n, seconds)); }
  void Failed(int n, const std::string& message) override {
    Print(fmt::format("#{} ERROR: {}", n, message));
  }
  void Note(const std::string& line) override { Print(line); }
  void BuildFailed(const Error&, const std::string& shown) override {
    std::lock_guard<std::mutex> lock(mu_);
    fmt::print(out_, "{}", shown);
    std::fflush(out_);
  }

 private:
  void Print(const std::string& s) {
    std::lock_guard<std::mutex> lock(mu_);
    fmt::print(out_, "{}\n", s);
    std::fflush(out_);
  }
  std::FILE* out_;
  std::mutex mu_;
};

class NullProgress : public Progress {
 public:
  void Started(int, const std::string&, const std::string&) override {}
  void Cached(int) override {}
  void CacheMiss(int, const std::string&) override {}
  void Output(int, const std::string&) override {}
  void Done(int, double) override {}
  void Failed(int, const std::string&) override {}
  void Note(const std::string&) override {}
  void BuildFailed(const Error&, const std::string&) override {}
};

/// --quiet: nothing but the failure, if there is one (docker build -q).
class QuietProgress : public NullProgress {
 public:
  explicit QuietProgress(std::FILE* out) : out_(out) {}
  void BuildFailed(const Error&, const std::string& shown) override {
    std::fputs(shown.c_str(), out_);
    std::fflush(out_);
  }

 private:
  std::FILE* out_;
};

}  // namespace

std::unique_ptr<Progress> NewPlainProgress(std::FILE* out) { return std::make_unique<PlainProgress>(out); }
std::unique_ptr<Progress> NewNullProgress() { return std::make_unique<NullProgress>(); }
std::unique_ptr<Progress> NewQuietProgress(std::FILE* out) { return std::make_unique<QuietProgress>(out); }

std::string ResolveProgressMode(const std::string& mode, int fd) {
  if (mode != "auto") return mode;
  const char* term = std::getenv("TERM");
  bool dumb = term != nullptr && std::strcmp(term, "dumb") == 0;
  return ::isatty(fd) && !dumb ? "tty" : "plain";
}

std::unique_ptr<Progress> NewProgress(const std::string& mode) {
  if (mode == "quiet") return NewQuietProgress(stderr);
  if (mode == "tty") return NewTtyProgress(STDERR_FILENO);
  if (mode == "json") return NewJsonProgress(stderr);
  return NewPlainProgress(stderr);
}

}  // namespace cb::progress
