#include "progress/progress_view.h"

#include <algorithm>

#include <fmt/core.h>

namespace cb::progress::view {
namespace {

/// Decodes the UTF-8 sequence at s[i]; sets `len` to its length. -1 for an invalid byte
/// (len 1).
int DecodeAt(std::string_view s, size_t i, size_t& len) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  len = 1;
  if (c < 0x80) return c;
  int need = c >= 0xF0 ? (c <= 0xF4 ? 3 : -1) : c >= 0xE0 ? 2 : c >= 0xC2 ? 1 : -1;
  if (need < 0 || i + static_cast<size_t>(need) >= s.size()) return -1;
  int cp = c & (0x3F >> need);
  for (int k = 1; k <= need; ++k) {
    unsigned char t = b(i + static_cast<size_t>(k));
    if ((t & 0xC0) != 0x80) return -1;
    cp = (cp << 6) | (t & 0x3F);
  }
  static constexpr int kMin[] = {0, 0x80, 0x800, 0x10000};
  if (cp < kMin[need] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return -1;
  len = static_cast<size_t>(need) + 1;
  return cp;
}

int CodepointWidth(int cp) {
  if (cp < 0) return 1;
  if ((cp >= 0x0300 && cp <= 0x036F) || (cp >= 0x200B && cp <= 0x200F) || (cp >= 0xFE00 && cp <= 0xFE0F)) return 0;
  if ((cp >= 0x1100 && cp <= 0x115F) || (cp >= 0x2E80 && cp <= 0xA4CF) || (cp >= 0xAC00 && cp <= 0xD7A3) ||
      (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF00 && cp <= 0xFF60) ||
      (cp >= 0xFFE0 && cp <= 0xFFE6) || (cp >= 0x1F300 && cp <= 0x1F64F) || (cp >= 0x1F900 && cp <= 0x1F9FF) ||
      (cp >= 0x20000 && cp <= 0x3FFFD))
    return 2;
  return 1;
}

/// The instruction on one line (heredocs and continuation lines joined with spaces).
std::string OneLine(std::string_view text) {
  std::string s(text);
  std::replace_if(s.begin(), s.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  return SanitizeLine(s);
}

/// `left` cut to leave room for `right`, which is aligned to column `width`.
std::string Columns(std::string_view left, std::string_view right, int width) {
  int rw = DisplayWidth(right);
  if (right.empty() || width < rw + 12) return FitWidth(std::string(left) + " " + std::string(right), width);
  std::string l = FitWidth(left, width - rw - 1);
  return l + std::string(static_cast<size_t>(width - rw - DisplayWidth(l)), ' ') + std::string(right);
}

}  // namespace

int DisplayWidth(std::string_view s) {
  int w = 0;
  for (size_t i = 0, len = 0; i < s.size(); i += len) w += CodepointWidth(DecodeAt(s, i, len));
  return w;
}

std::string FitWidth(std::string_view s, int cols) {
  int w = 0;
  size_t i = 0, len = 0;
  for (; i < s.size(); i += len) {
    int cw = CodepointWidth(DecodeAt(s, i, len));
    if (w + cw > cols) break;
    w += cw;
  }
  return std::string(s.substr(0, i));
}

std::string SanitizeLine(std::string_view s) {
  size_t cr;
  while ((cr = s.rfind('\r')) != std::string_view::npos) {
    if (cr + 1 < s.size()) {
      s = s.substr(cr + 1);
      break;
    }
    s = s.substr(0, cr);  // a trailing CR leaves what came before it on screen
  }
  std::string out;
  int w = 0;
  for (size_t i = 0, len = 1; i < s.size(); i += len) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    len = 1;
    if (c == 0x1B) {  // ESC [ ... final, ESC ] ... BEL|ST, ESC X
      if (i + 1 >= s.size()) break;
      char k = s[i + 1];
      size_t j = i + 2;
      if (k == '[') {
        while (j < s.size() && !(s[j] >= 0x40 && s[j] <= 0x7E)) ++j;
        ++j;
      } else if (k == ']') {
        while (j < s.size() && s[j] != '\a' && !(s[j] == 0x1B && j + 1 < s.size() && s[j + 1] == '\\')) ++j;
        j += j < s.size() && s[j] == 0x1B ? 2 : 1;
      }
      len = std::min(j, s.size()) - i;
    } else if (c == '\t') {
      int pad = 8 - w % 8;
      out.append(static_cast<size_t>(pad), ' ');
      w += pad;
    } else if (c < 0x20 || c == 0x7F) {
      // other control characters move the cursor or ring the bell: dropped
    } else {
      int cp = DecodeAt(s, i, len);
      if (cp < 0) {
        out += '?';
        ++w;
      } else if (cp >= 0x80 && cp < 0xA0) {
        // C1 controls: dropped
      } else {
        out.append(s.substr(i, len));
        w += CodepointWidth(cp);
      }
    }
  }
  return out;
}

std::string FormatSeconds(double s) {
  if (s < 0) s = 0;
  if (s < 60) return fmt::format("{:.1f}s", s);
  auto whole = static_cast<long>(s);
  return fmt::format("{}m{:02}s", whole / 60, whole % 60);
}

void TailBuffer::Push(std::string_view line) {
  ++pushed_;
  if (capacity_ == 0) return;
  if (lines_.size() == capacity_) lines_.pop_front();
  size_t keep = std::min(line.size(), max_bytes_);
  while (keep > 0 && keep < line.size() && (static_cast<unsigned char>(line[keep]) & 0xC0) == 0x80) --keep;
  lines_.emplace_back(line.substr(0, keep));
}

std::vector<std::string> TailBuffer::Last(size_t n) const {
  n = std::min(n, lines_.size());
  return {lines_.end() - static_cast<long>(n), lines_.end()};
}

StepView& View::Step(int n, double now) {
  for (auto& s : steps_)
    if (s.n == n) return s;
  StepView& s = steps_.emplace_back();
  s.n = n;
  s.started = now;
  return s;
}

std::string View::Header(double now, const char* suffix) const {
  size_t finished = std::count_if(steps_.begin(), steps_.end(), [](const StepView& s) { return s.state != StepState::kRunning; });
  return fmt::format("[+] Building {} ({}/{}){}", FormatSeconds(now), finished, steps_.size(), suffix);
}

std::string View::StepLine(const StepView& s, double now, int cols) const {
  std::string left = s.label.empty() ? fmt::format("#{} {}", s.n, OneLine(s.text))
                                     : fmt::format("#{} [{}] {}", s.n, s.label, OneLine(s.text));
  std::string right;
  switch (s.state) {
    case StepState::kRunning: right = FormatSeconds(now - s.started); break;
    case StepState::kCached: right = "CACHED"; break;
    case StepState::kDone: right = "DONE " + FormatSeconds(s.seconds); break;
    case StepState::kError: right = "ERROR " + FormatSeconds(s.seconds); break;
    case StepState::kCanceled: right = "CANCELED"; break;
  }
  return Columns(left, right, cols - 1);
}

std::vector<std::string> View::Live(double now, int cols, size_t tail_lines) const {
  std::vector<std::string> out{FitWidth(Header(now, ""), cols - 1)};
  for (size_t i = committed_; i < steps_.size(); ++i) {
    const StepView& s = steps_[i];
    out.push_back(StepLine(s, now, cols));
    if (!s.miss_reason.empty()) out.push_back(FitWidth("    cache miss: " + s.miss_reason, cols - 1));
    if (s.state != StepState::kRunning) continue;
    for (const auto& l : s.tail.Last(tail_lines)) out.push_back(FitWidth("    " + l, cols - 1));
  }
  for (const auto& n : notes_) out.push_back(FitWidth(" => " + n, cols - 1));
  return out;
}

View::Frame View::Next(double now, int cols, int rows) {
  cols = std::max(cols, 20);
  size_t budget = static_cast<size_t>(std::max(rows - 1, 1));
  Frame f;
  f.live = Live(now, cols, kTailLines);
  while (f.live.size() > budget && committed_ < steps_.size() && steps_[committed_].state != StepState::kRunning) {
    const StepView& s = steps_[committed_++];
    f.commit.push_back(StepLine(s, now, cols));
    if (!s.miss_reason.empty()) f.commit.push_back(FitWidth("    cache miss: " + s.miss_reason, cols - 1));
    f.live = Live(now, cols, kTailLines);
  }
  for (size_t t = kTailLines; t > 0 && f.live.size() > budget; --t) f.live = Live(now, cols, t - 1);
  if (f.live.size() > budget) f.live.resize(budget);
  return f;
}

std::vector<std::string> View::Final(double now, int cols, bool failed) {
  cols = std::max(cols, 20);
  for (auto& s : steps_) {
    if (s.state == StepState::kRunning) s.state = StepState::kCanceled;
    if (s.state != StepState::kError) s.tail.Clear();
  }
  // the summary lists steps by number, whatever order parallel stages started them in
  std::stable_sort(steps_.begin() + static_cast<long>(committed_), steps_.end(),
                   [](const StepView& a, const StepView& b) { return a.n < b.n; });
  std::vector<std::string> out = Live(now, cols, 0);
  out[0] = FitWidth(Header(now, failed ? " ERROR" : " FINISHED"), cols - 1);
  committed_ = steps_.size();
  notes_.clear();
  return out;
}

std::vector<std::string> View::FailureReport() const {
  std::vector<std::string> out;
  for (const auto& s : steps_) {
    if (s.state != StepState::kError) continue;
    out.push_back("------");
    out.push_back(s.label.empty() ? fmt::format(" > {}:", OneLine(s.text))
                                  : fmt::format(" > [{}] {}:", s.label, OneLine(s.text)));
    if (s.tail.pushed() > s.tail.size())
      out.push_back(fmt::format("({} earlier lines not shown)", s.tail.pushed() - s.tail.size()));
    for (const auto& l : s.tail.Last(StepView::kKeptLines)) out.push_back(l);
    out.push_back("------");
  }
  return out;
}

std::string Compose(size_t prev_live, const View::Frame& f) {
  std::string out = "\r";
  if (prev_live > 0) out += fmt::format("\x1b[{}A", prev_live);
  for (const auto* part : {&f.commit, &f.live})
    for (const auto& l : *part) {
      out += l;
      out += "\x1b[K\n";
    }
  out += "\x1b[J";
  return out;
}

}  // namespace cb::progress::view
