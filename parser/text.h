// Private helpers shared by the parser's .cc files: Go-compatible UTF-8 decoding, Unicode
// whitespace and printability, and Go's strconv.Quote. BuildKit's parser is written in Go, so
// byte-compatibility means reproducing Go's string semantics exactly.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace cb::parser::text {

inline constexpr char32_t kRuneError = 0xFFFD;

/// Decodes the rune at `s[pos]` like Go's utf8.DecodeRuneInString: invalid or truncated
/// sequences, overlong forms and surrogates give (kRuneError, 1). `pos` must be < s.size().
char32_t DecodeRune(std::string_view s, size_t pos, size_t* width);

/// Appends the UTF-8 encoding of `r` (invalid code points become U+FFFD, as Go's WriteRune).
void AppendRune(std::string& out, char32_t r);

/// Go's unicode.IsSpace.
bool IsSpace(char32_t r);

/// Go's unicode.IsLetter / unicode.IsDigit (approximated through glibc's C.UTF-8 tables).
bool IsLetter(char32_t r);
bool IsDigit(char32_t r);

/// Go's strconv.IsPrint: categories L, M, N, P, S and U+0020.
bool IsPrint(char32_t r);

/// The ASCII blanks of BuildKit's `[\t\v\f\r ]` regular expression.
inline bool IsAsciiBlank(char c) {
  return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r';
}

/// strings.TrimLeftFunc / TrimRightFunc / TrimSpace with unicode.IsSpace.
std::string_view TrimLeftSpace(std::string_view s);
std::string_view TrimRightSpace(std::string_view s);
std::string_view TrimSpace(std::string_view s);

/// bytes.TrimRight(s, "\r\n").
std::string_view TrimRightNewlines(std::string_view s);

/// Go's strconv.Quote (non-ASCII printable runes stay literal).
std::string GoQuote(std::string_view s);

/// ASCII lower-casing (keywords).
std::string ToLowerAscii(std::string_view s);

}  // namespace cb::parser::text
