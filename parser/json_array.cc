// Exec-form JSON arrays, with Go's encoding/json decoding rules.
#include <tao/pegtl.hpp>

#include "parser/grammar.h"
#include "parser/line_parsers.h"
#include "parser/text.h"

namespace cb::parser::detail {
namespace {

namespace pegtl = tao::pegtl;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

char32_t Hex4(std::string_view s, size_t pos) {
  char32_t r = 0;
  for (size_t i = 0; i < 4; ++i) r = (r << 4) | static_cast<char32_t>(HexValue(s[pos + i]));
  return r;
}

// Decodes the inside of a grammatically valid JSON string like Go: lone surrogates and
// invalid UTF-8 bytes become U+FFFD.
std::string DecodeJsonString(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    char c = s[i];
    if (c != '\\') {
      size_t w;
      char32_t r = text::DecodeRune(s, i, &w);
      if (r == text::kRuneError && w == 1) {
        text::AppendRune(out, text::kRuneError);
      } else {
        out.append(s.substr(i, w));
      }
      i += w;
      continue;
    }
    char e = s[i + 1];
    i += 2;
    switch (e) {
      case 'b': out.push_back('\b'); break;
      case 'f': out.push_back('\f'); break;
      case 'n': out.push_back('\n'); break;
      case 'r': out.push_back('\r'); break;
      case 't': out.push_back('\t'); break;
      case 'u': {
        char32_t r = Hex4(s, i);
        i += 4;
        if (r >= 0xD800 && r < 0xDC00 && i + 6 <= s.size() && s[i] == '\\' && s[i + 1] == 'u') {
          char32_t lo = Hex4(s, i + 2);
          if (lo >= 0xDC00 && lo < 0xE000) {
            r = 0x10000 + ((r - 0xD800) << 10) + (lo - 0xDC00);
            i += 6;
          }
        }
        text::AppendRune(out, r);  // lone surrogates become U+FFFD
        break;
      }
      default: out.push_back(e);  // '"', '\\', '/'
    }
  }
  return out;
}

struct ExecState {
  std::vector<std::string> items;
  bool non_string = false;
  size_t bad_offset = 0;
};

template <typename Rule>
struct ExecAction : pegtl::nothing<Rule> {};

template <>
struct ExecAction<grammar::exec_string_chars> {
  template <typename Input>
  static void apply(const Input& in, ExecState& st) {
    st.items.push_back(DecodeJsonString(in.string_view()));
  }
};

template <>
struct ExecAction<grammar::exec_other> {
  template <typename Input>
  static void apply(const Input& in, ExecState& st) {
    if (!st.non_string) st.bad_offset = static_cast<size_t>(in.begin() - in.input().begin());
    st.non_string = true;
  }
};

// Maximum bracket nesting outside strings; bounds the grammar's recursion.
int MaxDepth(std::string_view s) {
  int depth = 0, max = 0;
  bool in_string = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      max = std::max(max, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return max;
}

}  // namespace

JsonArray ParseJsonArray(std::string_view rest) {
  JsonArray result;
  std::string_view trimmed = text::TrimLeftSpace(rest);
  if (trimmed.empty() || trimmed[0] != '[') return result;
  if (MaxDepth(trimmed) > kMaxJsonDepth) return result;
  ExecState st;
  pegtl::memory_input in(trimmed.data(), trimmed.size(), "json");
  bool ok = false;
  try {
    ok = pegtl::parse<grammar::exec_form, ExecAction>(in, st);
  } catch (const pegtl::parse_error&) {
    ok = false;
  }
  if (!ok) return result;
  if (st.non_string) {
    result.status = JsonStatus::kNotStrings;
    result.bad_offset = static_cast<size_t>(trimmed.data() - rest.data()) + st.bad_offset;
    return result;
  }
  result.status = JsonStatus::kOk;
  result.items = std::move(st.items);
  return result;
}

}  // namespace cb::parser::detail
