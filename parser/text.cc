#include "parser/text.h"

#include <clocale>
#include <cwctype>
#include <locale.h>

namespace cb::parser::text {
namespace {

locale_t Utf8Locale() {
  static locale_t loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(0));
  return loc;
}

// Zs (other than U+0020) and Cf code points: glibc calls several of them printable, Go does not.
bool IsSeparatorOrFormat(char32_t r) {
  if (r == 0xA0 || r == 0xAD || r == 0x1680 || r == 0x180E || r == 0x061C || r == 0x06DD ||
      r == 0x070F || r == 0x08E2 || r == 0x202F || r == 0x205F || r == 0x3000 || r == 0xFEFF ||
      r == 0x110BD || r == 0x110CD || r == 0xE0001)
    return true;
  if ((r >= 0x2000 && r <= 0x200F) || (r >= 0x2028 && r <= 0x202E) ||
      (r >= 0x2060 && r <= 0x206F) || (r >= 0x0600 && r <= 0x0605) ||
      (r >= 0x0890 && r <= 0x0891) || (r >= 0xFFF9 && r <= 0xFFFB) ||
      (r >= 0x13430 && r <= 0x1343F) || (r >= 0x1BCA0 && r <= 0x1BCA3) ||
      (r >= 0x1D173 && r <= 0x1D17A) || (r >= 0xE0020 && r <= 0xE007F))
    return true;
  return false;
}

}  // namespace

char32_t DecodeRune(std::string_view s, size_t pos, size_t* width) {
  auto b0 = static_cast<unsigned char>(s[pos]);
  *width = 1;
  if (b0 < 0x80) return b0;
  size_t need;
  char32_t r;
  char32_t min;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1, r = b0 & 0x1F, min = 0x80;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2, r = b0 & 0x0F, min = 0x800;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3, r = b0 & 0x07, min = 0x10000;
  } else {
    return kRuneError;
  }
  if (pos + need >= s.size()) return kRuneError;
  for (size_t i = 1; i <= need; ++i) {
    auto b = static_cast<unsigned char>(s[pos + i]);
    if ((b & 0xC0) != 0x80) return kRuneError;
    r = (r << 6) | (b & 0x3F);
  }
  if (r < min || r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF)) return kRuneError;
  *width = need + 1;
  return r;
}

void AppendRune(std::string& out, char32_t r) {
  if (r > 0x10FFFF || (r >= 0xD800 && r <= 0xDFFF)) r = kRuneError;
  if (r < 0x80) {
    out.push_back(static_cast<char>(r));
  } else if (r < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (r >> 6)));
    out.push_back(static_cast<char>(0x80 | (r & 0x3F)));
  } else if (r < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (r >> 12)));
    out.push_back(static_cast<char>(0x80 | ((r >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (r & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (r >> 18)));
    out.push_back(static_cast<char>(0x80 | ((r >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((r >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (r & 0x3F)));
  }
}

bool IsSpace(char32_t r) {
  if (r <= 0xFF) {
    return r == ' ' || (r >= '\t' && r <= '\r') || r == 0x85 || r == 0xA0;
  }
  return r == 0x1680 || (r >= 0x2000 && r <= 0x200A) || r == 0x2028 || r == 0x2029 ||
         r == 0x202F || r == 0x205F || r == 0x3000;
}

bool IsLetter(char32_t r) {
  if (r < 0x80) return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z');
  locale_t loc = Utf8Locale();
  if (loc == static_cast<locale_t>(0)) return !IsSpace(r);
  return iswalpha_l(static_cast<wint_t>(r), loc) && !iswdigit_l(static_cast<wint_t>(r), loc);
}

bool IsDigit(char32_t r) { return r >= '0' && r <= '9'; }

bool IsPrint(char32_t r) {
  if (r < 0x80) return r >= 0x20 && r < 0x7F;
  if (r < 0xA0) return false;
  if (IsSeparatorOrFormat(r)) return false;
  if (r >= 0xD800 && r <= 0xDFFF) return false;
  if (r >= 0xE000 && r <= 0xF8FF) return false;     // private use (Co)
  if (r >= 0xF0000) return false;                   // planes 15-16: private use
  locale_t loc = Utf8Locale();
  if (loc == static_cast<locale_t>(0)) return true;
  return iswprint_l(static_cast<wint_t>(r), loc) != 0;
}

std::string_view TrimLeftSpace(std::string_view s) {
  size_t pos = 0;
  while (pos < s.size()) {
    size_t w;
    char32_t r = DecodeRune(s, pos, &w);
    if (!IsSpace(r)) break;
    pos += w;
  }
  return s.substr(pos);
}

std::string_view TrimRightSpace(std::string_view s) {
  // Fast path: an ASCII tail decides without decoding the whole string.
  while (!s.empty() && static_cast<unsigned char>(s.back()) < 0x80) {
    if (!IsSpace(static_cast<unsigned char>(s.back()))) return s;
    s.remove_suffix(1);
  }
  size_t end = 0;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t w;
    char32_t r = DecodeRune(s, pos, &w);
    pos += w;
    if (!IsSpace(r)) end = pos;
  }
  return s.substr(0, end);
}

std::string_view TrimSpace(std::string_view s) { return TrimRightSpace(TrimLeftSpace(s)); }

std::string_view TrimRightNewlines(std::string_view s) {
  while (!s.empty() && (s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

std::string GoQuote(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('"');
  for (size_t pos = 0; pos < s.size();) {
    size_t w;
    char32_t r = DecodeRune(s, pos, &w);
    if (r == kRuneError && w == 1) {
      auto b = static_cast<unsigned char>(s[pos]);
      out += "\\x";
      out.push_back(kHex[b >> 4]);
      out.push_back(kHex[b & 0xF]);
      pos += 1;
      continue;
    }
    pos += w;
    if (r == '"' || r == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(r));
    } else if (IsPrint(r)) {
      AppendRune(out, r);
    } else {
      switch (r) {
        case '\a': out += "\\a"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        case '\v': out += "\\v"; break;
        default:
          if (r < 0x20 || r == 0x7F) {
            out += "\\x";
            out.push_back(kHex[r >> 4]);
            out.push_back(kHex[r & 0xF]);
          } else if (r < 0x10000) {
            out += "\\u";
            for (int shift = 12; shift >= 0; shift -= 4) out.push_back(kHex[(r >> shift) & 0xF]);
          } else {
            out += "\\U";
            for (int shift = 28; shift >= 0; shift -= 4) out.push_back(kHex[(r >> shift) & 0xF]);
          }
      }
    }
  }
  out.push_back('"');
  return out;
}

std::string ToLowerAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace cb::parser::text
