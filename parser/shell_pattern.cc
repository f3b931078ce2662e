#include "parser/shell_pattern.h"

#include <algorithm>
#include <vector>

#include "parser/text.h"

namespace cb::parser::detail {
namespace {

constexpr char32_t kStar = 0xFFFFFFF0;
constexpr char32_t kAny = 0xFFFFFFF1;
constexpr size_t kMaxMemo = size_t{1} << 24;

std::u32string Decode(std::string_view s) {
  std::u32string out;
  for (size_t pos = 0; pos < s.size();) {
    size_t w;
    out.push_back(text::DecodeRune(s, pos, &w));
    pos += w;
  }
  return out;
}

std::string Encode(std::u32string_view s) {
  std::string out;
  for (char32_t r : s) text::AppendRune(out, r);
  return out;
}

// Pattern → tokens: literal runes, kStar, kAny. `\}` and `\/` are literal, `\*`, `\?`, `\\`
// escape, any other escape is an error (as BuildKit).
Result<std::u32string> Compile(std::string_view pattern) {
  std::u32string p = Decode(pattern);
  std::u32string out;
  for (size_t i = 0; i < p.size(); ++i) {
    char32_t c = p[i];
    if (c == '*') {
      out.push_back(kStar);
    } else if (c == '?') {
      out.push_back(kAny);
    } else if (c == '\\') {
      if (i + 1 < p.size() && (p[i + 1] == '}' || p[i + 1] == '/')) continue;
      if (i + 1 >= p.size() || (p[i + 1] != '*' && p[i + 1] != '?' && p[i + 1] != '\\'))
        return MakeError(ErrorCode::kSyntax, "invalid pattern ({}) in substitution: invalid escape",
                         pattern);
      out.push_back(p[++i]);
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// Backtracking matcher anchored at `start`, exploring alternatives in the order a
// leftmost-first regex engine would; failures are memoized so the cost stays polynomial.
class Matcher {
 public:
  Matcher(const std::u32string& p, const std::u32string& s, bool greedy)
      : p_(p), s_(s), greedy_(greedy) {
    size_t cells = (p.size() + 1) * (s.size() + 1);
    if (cells <= kMaxMemo) failed_.assign(cells, false);
  }

  /// End of the preferred match starting at `si`, or npos.
  size_t MatchAt(size_t si) { return Match(0, si); }

 private:
  size_t Match(size_t pi, size_t si) {
    if (pi == p_.size()) return si;
    size_t cell = pi * (s_.size() + 1) + si;
    if (!failed_.empty() && failed_[cell]) return npos;
    size_t r = Step(pi, si);
    if (r == npos && !failed_.empty()) failed_[cell] = true;
    return r;
  }

  size_t Step(size_t pi, size_t si) {
    char32_t t = p_[pi];
    if (t == kStar) {
      size_t max = si;
      while (max < s_.size() && s_[max] != '\n') ++max;
      if (greedy_) {
        for (size_t k = max + 1; k-- > si;) {
          size_t r = Match(pi + 1, k);
          if (r != npos) return r;
        }
      } else {
        for (size_t k = si; k <= max; ++k) {
          size_t r = Match(pi + 1, k);
          if (r != npos) return r;
        }
      }
      return npos;
    }
    if (si >= s_.size()) return npos;
    if (t == kAny ? s_[si] == '\n' : s_[si] != t) return npos;
    return Match(pi + 1, si + 1);
  }

  static constexpr size_t npos = std::u32string::npos;
  const std::u32string& p_;
  const std::u32string& s_;
  bool greedy_;
  std::vector<bool> failed_;
};

}  // namespace

Result<std::string> TrimPrefixPattern(std::string_view pattern, std::string_view value, bool greedy) {
  std::u32string p = CB_TRY(Compile(pattern));
  std::u32string s = Decode(value);
  Matcher m(p, s, greedy);
  size_t end = m.MatchAt(0);
  if (end == std::u32string::npos) return std::string(value);
  return Encode(std::u32string_view(s).substr(end));
}

Result<std::string> TrimSuffixPattern(std::string_view pattern, std::string_view value, bool greedy) {
  std::u32string p = CB_TRY(Compile(pattern));
  std::reverse(p.begin(), p.end());
  std::u32string s = Decode(value);
  std::reverse(s.begin(), s.end());
  Matcher m(p, s, greedy);
  size_t end = m.MatchAt(0);
  if (end == std::u32string::npos) return std::string(value);
  std::u32string kept = s.substr(end);
  std::reverse(kept.begin(), kept.end());
  return Encode(kept);
}

Result<std::string> ReplacePattern(std::string_view pattern, std::string_view replacement,
                                   std::string_view value, bool all) {
  std::u32string p = CB_TRY(Compile(pattern));
  std::u32string s = Decode(value);
  Matcher m(p, s, true);
  std::string out;
  size_t last_end = 0;
  size_t search = 0;
  bool replaced_any = false;
  while (search <= s.size()) {
    size_t start = search, end = std::u32string::npos;
    for (; start <= s.size(); ++start) {
      end = m.MatchAt(start);
      if (end != std::u32string::npos) break;
    }
    if (end == std::u32string::npos) break;
    out += Encode(std::u32string_view(s).substr(last_end, start - last_end));
    if (end > last_end || start == 0 || !replaced_any) out += replacement;
    replaced_any = true;
    last_end = end;
    if (!all) break;
    search = end > start ? end : start + 1;
  }
  out += Encode(std::u32string_view(s).substr(last_end));
  return out;
}

}  // namespace cb::parser::detail
