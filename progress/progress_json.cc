// --progress=json: one JSON object per line and event, written and flushed as it happens.
// Every object has "event" and "time" (RFC 3339, UTC); step events have "step". Output bytes
// that are not UTF-8 become U+FFFD, so every line parses. The event list is in docs/build.md.
#include <chrono>
#include <ctime>
#include <mutex>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "progress/progress.h"

namespace cb::progress {
namespace {

std::string Rfc3339Now() {
  auto now = std::chrono::system_clock::now();
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(us / 1000000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, us % 1000000);
}

class JsonProgress : public Progress {
 public:
  explicit JsonProgress(std::FILE* out) : out_(out) {}

  void Started(int n, const std::string& label, const std::string& text) override {
    // label is "[STAGE ]i/n": split it so consumers need not parse it
    size_t sp = label.rfind(' ');
    std::string stage = sp == std::string::npos ? "" : label.substr(0, sp);
    std::string pos = sp == std::string::npos ? label : label.substr(sp + 1);
    Emit({{"event", "started"}, {"step", n}, {"stage", stage}, {"position", pos}, {"label", label},
          {"instruction", text}});
  }
  void Cached(int n) override { Emit({{"event", "cached"}, {"step", n}}); }
  void CacheMiss(int n, const std::string& reason) override {
    Emit({{"event", "cache_miss"}, {"step", n}, {"reason", reason}});
  }
  void Output(int n, const std::string& line) override {
    // the most frequent event by far: written without building a JSON object
    std::string quoted = nlohmann::json(line).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    Write(fmt::format(R"({{"event":"log","step":{},"line":{},"time":"{}"}})", n, quoted, Rfc3339Now()));
  }
  void Done(int n, double seconds) override { Emit({{"event", "done"}, {"step", n}, {"seconds", Round(seconds)}}); }
  void Failed(int n, const std::string& message) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (failed_step_ == 0) failed_step_ = n;
    }
    Emit({{"event", "failed"}, {"step", n}, {"message", message}});
  }
  void Canceled(int n, const std::string& message) override {
    Emit({{"event", "canceled"}, {"step", n}, {"message", message}});
  }
  void Note(const std::string& line) override { Emit({{"event", "note"}, {"message", line}}); }
  void BuildFailed(const Error& e, const std::string&) override {
    nlohmann::ordered_json j = {{"event", "error"}, {"message", e.message}};
    if (e.where && !e.where->file.empty()) {
      std::string loc = e.where->file;  // "Dockerfile:8:1"
      if (e.where->line > 0) loc += fmt::format(":{}", e.where->line);
      if (e.where->line > 0 && e.where->col > 0) loc += fmt::format(":{}", e.where->col);
      j["location"] = loc;
      j["file"] = e.where->file;
      if (e.where->line > 0) j["line"] = e.where->line;
      if (e.where->col > 0) j["column"] = e.where->col;
    }
    if (e.code == ErrorCode::kStepFailed && e.exit_code != 0) j["exit_code"] = e.exit_code;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (failed_step_ != 0) j["step"] = failed_step_;
    }
    Emit(std::move(j));
  }
  std::unique_ptr<registry::TransferProgress> Transfers() override;

  void Emit(nlohmann::ordered_json j) {
    j["time"] = Rfc3339Now();
    Write(j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace));
  }

 private:
  void Write(std::string line) {
    line += '\n';
    std::lock_guard<std::mutex> lock(mu_);
    std::fwrite(line.data(), 1, line.size(), out_);
    std::fflush(out_);
  }

 public:

 private:
  static double Round(double s) { return static_cast<double>(static_cast<long>(s * 1000 + 0.5)) / 1000; }

  std::FILE* out_;
  std::mutex mu_;
  int failed_step_ = 0;
};

/// A base image's pull as "pull" events: its notes and each blob's outcome (no byte counts).
class JsonTransfers : public registry::TransferProgress {
 public:
  explicit JsonTransfers(JsonProgress& p) : p_(p) {}
  void Note(const std::string& line) override { p_.Emit({{"event", "pull"}, {"message", line}}); }
  void Start(const Digest&, int64_t) override {}
  void Advance(const Digest&, int64_t) override {}
  void Finish(const Digest& d, const std::string& status) override {
    p_.Emit({{"event", "pull"}, {"blob", d.ToString()}, {"status", status}});
  }
  void Retry(const Digest& d, const std::string& why) override {
    p_.Emit({{"event", "pull"}, {"blob", d.ToString()}, {"status", "retrying: " + why}});
  }

 private:
  JsonProgress& p_;
};

std::unique_ptr<registry::TransferProgress> JsonProgress::Transfers() { return std::make_unique<JsonTransfers>(*this); }

}  // namespace

std::unique_ptr<Progress> NewJsonProgress(std::FILE* out) { return std::make_unique<JsonProgress>(out); }

}  // namespace cb::progress
