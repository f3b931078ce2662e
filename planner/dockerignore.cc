#include "planner/dockerignore.h"

#include <cstdint>

#include "common/fs.h"
#include "common/path.h"

namespace cb::planner {

namespace {

std::string_view TrimSpace(std::string_view s) {
  auto sp = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; };
  while (!s.empty() && sp(s.front())) s.remove_prefix(1);
  while (!s.empty() && sp(s.back())) s.remove_suffix(1);
  return s;
}

/// Decodes one UTF-8 rune at s[pos]; returns its length (1 for invalid bytes).
size_t DecodeRune(std::string_view s, size_t pos, uint32_t* r) {
  auto c = static_cast<unsigned char>(s[pos]);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
  if (pos + n > s.size()) n = 1;
  if (n == 1) {
    *r = c;
    return 1;
  }
  uint32_t v = c & (0x7f >> n);
  for (size_t k = 1; k < n; ++k) v = (v << 6) | (static_cast<unsigned char>(s[pos + k]) & 0x3f);
  *r = v;
  return n;
}

/// Go's filepath.Match getEsc: one (possibly escaped) class character.
bool GetEsc(std::string_view& chunk) {
  if (chunk.empty() || chunk[0] == '-' || chunk[0] == ']') return false;
  if (chunk[0] == '\\') {
    chunk.remove_prefix(1);
    if (chunk.empty()) return false;
  }
  uint32_t r;
  chunk.remove_prefix(DecodeRune(chunk, 0, &r));
  return !chunk.empty();
}

/// The syntax check filepath.Match(pattern, ".") performs: classes closed, escapes complete.
bool ValidGlobImpl(std::string_view p) {
  while (!p.empty()) {
    char c = p[0];
    if (c == '\\') {
      if (p.size() < 2) return false;
      p.remove_prefix(2);
    } else if (c == '[') {
      p.remove_prefix(1);
      if (!p.empty() && p[0] == '^') p.remove_prefix(1);
      int nrange = 0;
      for (;;) {
        if (!p.empty() && p[0] == ']' && nrange > 0) {
          p.remove_prefix(1);
          break;
        }
        if (!GetEsc(p)) return false;
        if (p[0] == '-') {
          p.remove_prefix(1);
          if (!GetEsc(p)) return false;
        }
        ++nrange;
      }
    } else {
      p.remove_prefix(1);
    }
  }
  return true;
}

/// Matches one class at the start of `p` (after '[') against rune r; advances p past ']'.
bool ClassMatch(std::string_view& p, uint32_t r) {
  bool negated = !p.empty() && p[0] == '^';
  if (negated) p.remove_prefix(1);
  bool in = false;
  int nrange = 0;
  auto one = [&]() {
    if (p[0] == '\\' && p.size() > 1) p.remove_prefix(1);
    uint32_t c;
    p.remove_prefix(DecodeRune(p, 0, &c));
    return c;
  };
  while (!p.empty() && !(p[0] == ']' && nrange > 0)) {
    uint32_t lo = one(), hi = lo;
    if (p.size() > 1 && p[0] == '-') {
      p.remove_prefix(1);
      hi = one();
    }
    in = in || (lo <= r && r <= hi);
    ++nrange;
  }
  if (!p.empty()) p.remove_prefix(1);
  return in != negated;
}

bool GlobMatchImpl(std::string_view p, std::string_view s) {
  while (!p.empty()) {
    char c = p[0];
    if (c == '*') {
      while (!p.empty() && p[0] == '*') p.remove_prefix(1);
      for (size_t k = 0;; ++k) {
        if (GlobMatchImpl(p, s.substr(k))) return true;
        if (k == s.size() || s[k] == '/') return false;
      }
    }
    if (s.empty()) return false;
    uint32_t r;
    size_t n = DecodeRune(s, 0, &r);
    if (c == '?') {
      if (s[0] == '/') return false;
      p.remove_prefix(1);
    } else if (c == '[') {
      p.remove_prefix(1);
      if (!ClassMatch(p, r)) return false;
    } else {
      if (c == '\\' && p.size() > 1) p.remove_prefix(1);
      if (p[0] != s[0]) return false;
      p.remove_prefix(1);
      n = 1;
    }
    s.remove_prefix(n);
  }
  return s.empty();
}

enum class TokKind { kLit, kAny, kStar, kClass, kDirs, kRest };

struct Tok {
  TokKind kind = TokKind::kLit;
  char lit = 0;
  bool negated = false;
  std::vector<std::pair<uint32_t, uint32_t>> ranges;
};

Tok MakeTok(TokKind k, char lit = 0) {
  Tok t;
  t.kind = k;
  t.lit = lit;
  return t;
}

enum class MatchType { kExact, kPrefix, kSuffix, kRegexp };

}  // namespace

/// A pattern compiled the way patternmatcher compiles it to a regular expression, kept as a
/// token list matched by a memoized backtracker (tokens: literal byte, "?" = [^/], "*" = [^/]*,
/// a class, "**/" = (.*/)?, trailing "**" = .*).
struct IgnorePattern {
  std::string cleaned;
  bool exception = false;
  MatchType type = MatchType::kExact;
  std::vector<Tok> toks;

  void Compile();
  bool Match(std::string_view path) const;
  bool MatchToks(std::string_view s) const;
};

namespace {

/// Parses a class starting after '[' in `p` (already validated); advances past ']'.
Tok ParseClass(std::string_view p, size_t& i) {
  Tok t = MakeTok(TokKind::kClass);
  if (i < p.size() && p[i] == '^') {
    t.negated = true;
    ++i;
  }
  auto one = [&](uint32_t* r) {
    if (p[i] == '\\' && i + 1 < p.size()) ++i;
    i += DecodeRune(p, i, r);
  };
  while (i < p.size() && !(p[i] == ']' && !t.ranges.empty())) {
    uint32_t lo, hi;
    one(&lo);
    hi = lo;
    if (i + 1 < p.size() && p[i] == '-' && p[i + 1] != ']') {
      ++i;
      one(&hi);
    }
    t.ranges.emplace_back(lo, hi);
  }
  if (i < p.size()) ++i;  // ']'
  return t;
}

}  // namespace

void IgnorePattern::Compile() {
  const std::string& p = cleaned;
  type = MatchType::kExact;
  size_t i = 0;
  for (int n = 0; i < p.size(); ++n) {
    char c = p[i];
    if (c == '*') {
      ++i;
      if (i < p.size() && p[i] == '*') {
        ++i;
        if (i < p.size() && p[i] == '/') ++i;
        if (i == p.size()) {
          if (type == MatchType::kExact) {
            type = MatchType::kPrefix;
          } else {
            toks.push_back(MakeTok(TokKind::kRest));
            type = MatchType::kRegexp;
          }
        } else {
          toks.push_back(MakeTok(TokKind::kDirs));
          type = MatchType::kRegexp;
        }
        if (n == 0) type = MatchType::kSuffix;
      } else {
        toks.push_back(MakeTok(TokKind::kStar));
        type = MatchType::kRegexp;
      }
    } else if (c == '?') {
      ++i;
      toks.push_back(MakeTok(TokKind::kAny));
      type = MatchType::kRegexp;
    } else if (c == '\\') {
      ++i;
      if (i < p.size()) {
        toks.push_back(MakeTok(TokKind::kLit, p[i++]));
        type = MatchType::kRegexp;
      } else {
        toks.push_back(MakeTok(TokKind::kLit, '\\'));
      }
    } else if (c == '[') {
      ++i;
      toks.push_back(ParseClass(p, i));
      type = MatchType::kRegexp;
    } else {
      toks.push_back(MakeTok(TokKind::kLit, c));
      ++i;
    }
  }
}

bool IgnorePattern::Match(std::string_view path) const {
  switch (type) {
    case MatchType::kExact:
      return path == cleaned;
    case MatchType::kPrefix:
      return path.substr(0, cleaned.size() - 2) == std::string_view(cleaned).substr(0, cleaned.size() - 2) &&
             path.size() >= cleaned.size() - 2;
    case MatchType::kSuffix: {
      std::string_view suffix = std::string_view(cleaned).substr(2);
      if (path.size() >= suffix.size() && path.substr(path.size() - suffix.size()) == suffix) return true;
      return !suffix.empty() && suffix[0] == '/' && path == suffix.substr(1);
    }
    case MatchType::kRegexp:
      return MatchToks(path);
  }
  return false;
}

bool IgnorePattern::MatchToks(std::string_view s) const {
  const size_t T = toks.size(), N = s.size();
  // memo[t*(N+1)+pos]: 0 unknown, 1 fails.
  std::vector<uint8_t> memo((T + 1) * (N + 1), 0);
  auto rec = [&](auto& self, size_t t, size_t pos) -> bool {
    if (t == T) return pos == N;
    uint8_t& m = memo[t * (N + 1) + pos];
    if (m) return false;
    const Tok& k = toks[t];
    bool ok = false;
    switch (k.kind) {
      case TokKind::kLit:
        ok = pos < N && s[pos] == k.lit && self(self, t + 1, pos + 1);
        break;
      case TokKind::kAny:
        if (pos < N && s[pos] != '/') {
          uint32_t r;
          ok = self(self, t + 1, pos + DecodeRune(s, pos, &r));
        }
        break;
      case TokKind::kClass:
        if (pos < N) {
          uint32_t r;
          size_t n = DecodeRune(s, pos, &r);
          bool in = false;
          for (const auto& [lo, hi] : k.ranges) in = in || (lo <= r && r <= hi);
          ok = in != k.negated && self(self, t + 1, pos + n);
        }
        break;
      case TokKind::kStar:
        for (size_t e = pos;; ++e) {
          if (self(self, t + 1, e)) {
            ok = true;
            break;
          }
          if (e == N || s[e] == '/') break;
        }
        break;
      case TokKind::kDirs:
        ok = self(self, t + 1, pos);
        for (size_t e = pos; !ok && e < N; ++e)
          if (s[e] == '/') ok = self(self, t + 1, e + 1);
        break;
      case TokKind::kRest:
        ok = true;
        break;
    }
    if (!ok) m = 1;
    return ok;
  };
  return rec(rec, 0, 0);
}

bool GlobValid(std::string_view pattern) { return ValidGlobImpl(pattern); }

bool GlobMatch(std::string_view pattern, std::string_view name) {
  return GlobValid(pattern) && GlobMatchImpl(pattern, name);
}

IgnoreMatcher::IgnoreMatcher() = default;
IgnoreMatcher::~IgnoreMatcher() = default;
IgnoreMatcher::IgnoreMatcher(IgnoreMatcher&&) noexcept = default;
IgnoreMatcher& IgnoreMatcher::operator=(IgnoreMatcher&&) noexcept = default;

std::vector<std::string> IgnoreMatcher::ReadLines(std::string_view text) {
  std::vector<std::string> out;
  bool first = true;
  while (!text.empty() || first) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (first && line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);
    first = false;
    if (!line.empty() && line[0] == '#') continue;
    std::string_view pat = TrimSpace(line);
    if (pat.empty()) continue;
    bool invert = pat[0] == '!';
    if (invert) pat = TrimSpace(pat.substr(1));
    std::string p(pat);
    if (!p.empty()) {
      p = path::Clean(p);
      if (p.size() > 1 && p[0] == '/') p.erase(0, 1);
    }
    out.push_back(invert ? "!" + p : p);
  }
  return out;
}

Result<IgnoreMatcher> IgnoreMatcher::FromLines(const std::vector<std::string>& lines) {
  IgnoreMatcher m;
  m.lines_ = lines;
  for (const auto& raw : lines) {
    std::string_view t = TrimSpace(raw);
    if (t.empty()) continue;
    std::string p = path::Clean(t);
    auto pat = std::make_unique<IgnorePattern>();
    if (p[0] == '!') {
      if (p.size() == 1) return MakeError(ErrorCode::kInvalidArgument, "illegal exclusion pattern: \"!\"");
      pat->exception = true;
      p.erase(0, 1);
      m.has_exceptions_ = true;
      if (p.find_first_of("*?[\\") != std::string::npos) m.literal_exceptions_ = false;
    }
    if (!GlobValid(p)) return MakeError(ErrorCode::kInvalidArgument, "syntax error in pattern `{}`", raw);
    pat->cleaned = p;
    pat->Compile();
    m.patterns_.push_back(std::move(pat));
  }
  return m;
}

Result<IgnoreMatcher> IgnoreMatcher::Parse(std::string_view text) { return FromLines(ReadLines(text)); }

Result<IgnoreMatcher> IgnoreMatcher::Load(const std::string& context_dir, const std::string& dockerfile_path) {
  std::vector<std::string> candidates;
  if (!dockerfile_path.empty() && dockerfile_path != "-") candidates.push_back(dockerfile_path + ".dockerignore");
  candidates.push_back(context_dir + "/.dockerignore");
  for (const auto& path : candidates) {
    auto text = fs::ReadFile(path);
    if (!text) {
      if (text.error().code == ErrorCode::kNotFound) continue;
      return std::move(text).error();
    }
    return CB_TRY_CTX(Parse(*text), "read `{}`", path);
  }
  return IgnoreMatcher();
}

bool IgnoreMatcher::empty() const { return patterns_.empty(); }

bool IgnoreMatcher::Excluded(std::string_view file) const {
  bool matched = false;
  size_t slash = file.rfind('/');
  for (const auto& p : patterns_) {
    if (p->exception != matched) continue;
    bool m = p->Match(file);
    // Parent directories, top down ("a", "a/b" for "a/b/c").
    for (size_t i = 0; !m && slash != std::string_view::npos && i <= slash; ++i)
      if (i == slash || file[i] == '/') m = p->Match(file.substr(0, i));
    if (m) matched = !p->exception;
  }
  return matched;
}

bool IgnoreMatcher::ExcludedInWalk(std::string_view file, const IgnoreMatchInfo& parent, IgnoreMatchInfo* out) const {
  const bool have_parent = parent.parent_matched.size() == patterns_.size() && !patterns_.empty();
  IgnoreMatchInfo info;
  info.parent_matched.assign(patterns_.size(), false);
  bool matched = false;
  size_t slash = file.rfind('/');
  for (size_t k = 0; k < patterns_.size(); ++k) {
    const auto& p = patterns_[k];
    bool m = have_parent && parent.parent_matched[k];
    if (!m) {
      if (p->exception != matched) continue;
      m = p->Match(file);
      for (size_t i = 0; !m && !have_parent && slash != std::string_view::npos && i <= slash; ++i)
        if (i == slash || file[i] == '/') m = p->Match(file.substr(0, i));
    }
    info.parent_matched[k] = m;
    if (m) matched = !p->exception;
  }
  if (out) *out = std::move(info);
  return matched;
}

bool IgnoreMatcher::CanSkipDir(std::string_view dir) const {
  if (!has_exceptions_) return true;
  if (!literal_exceptions_) return false;
  std::string dir_slash = std::string(dir) + "/";
  for (const auto& p : patterns_) {
    if (!p->exception) continue;
    std::string pat = p->cleaned + "/";
    if (pat.compare(0, dir_slash.size(), dir_slash) == 0) return false;
  }
  return true;
}

}  // namespace cb::planner
