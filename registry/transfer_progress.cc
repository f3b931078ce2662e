#include "registry/transfer_progress.h"

#include <algorithm>
#include <chrono>
#include <mutex>
#include <vector>

#include <fmt/core.h>

namespace cb::registry {
namespace {

struct Row {
  Digest digest;
  int64_t size = 0, done = 0;
  std::string status;  ///< empty while moving
};

class TerminalProgress : public TransferProgress {
 public:
  TerminalProgress(FILE* out, bool tty) : out_(out), tty_(tty) {}

  void Note(const std::string& line) override {
    std::lock_guard<std::mutex> l(mu_);
    Erase();
    bool all_done = std::all_of(rows_.begin(), rows_.end(), [](const Row& r) { return !r.status.empty(); });
    if (tty_ && all_done) {  // finished rows become ordinary lines above the note
      for (const auto& r : rows_) fmt::print(out_, "{}\n", Line(r));
      rows_.clear();
    }
    fmt::print(out_, "{}\n", line);
    drawn_ = 0;
    Draw(true);
  }
  void Start(const Digest& d, int64_t size) override {
    std::lock_guard<std::mutex> l(mu_);
    rows_.push_back({d, size, 0, {}});
    Draw(true);
  }
  void Advance(const Digest& d, int64_t bytes) override {
    std::lock_guard<std::mutex> l(mu_);
    if (Row* r = Find(d)) r->done += bytes;
    Draw(false);
  }
  void Retry(const Digest& d, const std::string& why) override {
    std::lock_guard<std::mutex> l(mu_);
    if (Row* r = Find(d)) r->done = 0;
    Erase();
    fmt::print(out_, "{}: retrying: {}\n", d.Short(), why);
    drawn_ = 0;
    Draw(true);
  }
  void Finish(const Digest& d, const std::string& status) override {
    std::lock_guard<std::mutex> l(mu_);
    Row* r = Find(d);
    if (!r) {
      rows_.push_back({d, 0, 0, status});
      r = &rows_.back();
    }
    r->status = status;
    if (!tty_) {
      fmt::print(out_, "{}: {}{}\n", d.Short(), status, r->size > 0 ? " (" + HumanSize(r->size) + ")" : "");
      std::fflush(out_);
      return;
    }
    Draw(true);
  }

 private:
  Row* Find(const Digest& d) {
    for (auto& r : rows_)
      if (r.digest == d) return &r;
    return nullptr;
  }
  void Erase() {
    if (tty_ && drawn_ > 0) fmt::print(out_, "\x1b[{}A", drawn_);
    if (tty_) fmt::print(out_, "\x1b[J");
  }
  std::string Line(const Row& r) const {
    if (!r.status.empty()) return fmt::format("{}: {}", r.digest.Short(), r.status);
    int width = 30;
    int fill = r.size > 0 ? static_cast<int>(width * std::min<int64_t>(r.done, r.size) / r.size) : 0;
    std::string bar = std::string(fill, '=') + (fill < width ? ">" : "") + std::string(width - std::min(width, fill + 1), ' ');
    return fmt::format("{}: [{}] {}/{}", r.digest.Short(), bar, HumanSize(r.done), HumanSize(r.size));
  }
  void Draw(bool force) {
    if (!tty_) return;
    auto now = std::chrono::steady_clock::now();
    if (!force && now - last_ < std::chrono::milliseconds(100)) return;
    last_ = now;
    Erase();
    for (const auto& r : rows_) fmt::print(out_, "{}\n", Line(r));
    drawn_ = static_cast<int>(rows_.size());
    std::fflush(out_);
  }

  FILE* out_;
  bool tty_;
  std::mutex mu_;
  std::vector<Row> rows_;
  int drawn_ = 0;
  std::chrono::steady_clock::time_point last_{};
};

class SilentProgress : public TransferProgress {
 public:
  void Note(const std::string&) override {}
  void Start(const Digest&, int64_t) override {}
  void Advance(const Digest&, int64_t) override {}
  void Finish(const Digest&, const std::string&) override {}
  void Retry(const Digest&, const std::string&) override {}
};

}  // namespace

std::unique_ptr<TransferProgress> NewTerminalProgress(FILE* out, bool tty) {
  return std::make_unique<TerminalProgress>(out, tty);
}

std::unique_ptr<TransferProgress> NewSilentProgress() { return std::make_unique<SilentProgress>(); }

std::string HumanSize(int64_t b) {
  if (b < 1000) return fmt::format("{}B", b);
  if (b < 1000 * 1000) return fmt::format("{:.1f}kB", b / 1e3);
  if (b < 1000LL * 1000 * 1000) return fmt::format("{:.1f}MB", b / 1e6);
  return fmt::format("{:.2f}GB", b / 1e9);
}

}  // namespace cb::registry
