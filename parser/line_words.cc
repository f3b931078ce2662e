// Word-level pieces of the line parser: BuildKit's quote-aware word splitter, parser
// directives and heredoc operators.
#include <tao/pegtl.hpp>

#include "parser/grammar.h"
#include "parser/line_parsers.h"
#include "parser/shell_lex.h"
#include "parser/text.h"

namespace cb::parser::detail {
namespace {

namespace pegtl = tao::pegtl;

struct DirectiveState {
  std::string name;
  std::string tail;
};

template <typename Rule>
struct DirectiveAction : pegtl::nothing<Rule> {};
template <>
struct DirectiveAction<grammar::dir_name> {
  template <typename Input>
  static void apply(const Input& in, DirectiveState& st) { st.name = in.string(); }
};
template <>
struct DirectiveAction<grammar::dir_tail> {
  template <typename Input>
  static void apply(const Input& in, DirectiveState& st) { st.tail = in.string(); }
};

bool IsReSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'; }

struct HeredocState {
  std::string fd;
  bool chomp = false;
  std::string rest;
};

template <typename Rule>
struct HeredocAction : pegtl::nothing<Rule> {};
template <>
struct HeredocAction<grammar::heredoc_fd> {
  template <typename Input>
  static void apply(const Input& in, HeredocState& st) { st.fd = in.string(); }
};
template <>
struct HeredocAction<grammar::heredoc_chomp> {
  template <typename Input>
  static void apply(const Input& in, HeredocState& st) { st.chomp = in.size() > 0; }
};
template <>
struct HeredocAction<grammar::heredoc_rest> {
  template <typename Input>
  static void apply(const Input& in, HeredocState& st) { st.rest = in.string(); }
};

size_t CountQuotes(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (c == '\'' || c == '"');
  return n;
}

}  // namespace

std::vector<std::string> ParseWords(std::string_view rest, char escape_char) {
  const char32_t escape = static_cast<unsigned char>(escape_char);
  enum { kSpaces, kWord, kQuote } phase = kSpaces;
  std::vector<std::string> words;
  std::string word;
  char32_t quote = 0;
  bool blank_ok = false;
  char32_t ch = 0;
  size_t width = 0;
  for (size_t pos = 0; pos <= rest.size(); pos += width) {
    if (pos != rest.size()) ch = text::DecodeRune(rest, pos, &width);
    if (phase == kSpaces) {
      if (pos == rest.size()) break;
      if (text::IsSpace(ch)) continue;
      phase = kWord;
    }
    if (pos == rest.size()) {
      if (blank_ok || !word.empty()) words.push_back(word);
      break;
    }
    if (phase == kWord) {
      if (text::IsSpace(ch)) {
        phase = kSpaces;
        if (blank_ok || !word.empty()) words.push_back(word);
        word.clear();
        blank_ok = false;
        continue;
      }
      if (ch == '\'' || ch == '"') {
        quote = ch;
        blank_ok = true;
        phase = kQuote;
      }
      if (ch == escape) {
        if (pos + width == rest.size()) continue;
        text::AppendRune(word, ch);
        pos += width;
        ch = text::DecodeRune(rest, pos, &width);
      }
      text::AppendRune(word, ch);
      continue;
    }
    // kQuote
    if (ch == quote) phase = kWord;
    if (ch == escape && quote != '\'') {
      if (pos + width == rest.size()) {
        phase = kWord;
        continue;
      }
      pos += width;
      text::AppendRune(word, ch);
      ch = text::DecodeRune(rest, pos, &width);
    }
    text::AppendRune(word, ch);
  }
  return words;
}

std::optional<DirectiveMatch> MatchDirective(std::string_view line) {
  if (line.empty() || line[0] != '#') return std::nullopt;
  DirectiveState st;
  pegtl::memory_input in(line.data(), line.size(), "directive");
  if (!pegtl::parse<grammar::directive, DirectiveAction>(in, st)) return std::nullopt;
  // `\s*(.+?)\s*$` on the text after '=': the value is trimmed, but never empty.
  std::string_view tail = st.tail;
  std::string_view v = tail;
  while (!v.empty() && IsReSpace(v.front())) v.remove_prefix(1);
  while (!v.empty() && IsReSpace(v.back())) v.remove_suffix(1);
  if (v.empty()) v = tail.substr(tail.size() - 1);
  return DirectiveMatch{text::ToLowerAscii(st.name), std::string(v)};
}

Result<std::optional<ast::Heredoc>> MatchHeredocWord(std::string_view word) {
  HeredocState st;
  pegtl::memory_input in(word.data(), word.size(), "heredoc");
  if (!pegtl::parse<grammar::heredoc_word, HeredocAction>(in, st)) return std::optional<ast::Heredoc>();
  if (st.rest.empty()) return std::optional<ast::Heredoc>();
  ShellLexOptions o;
  o.skip_unset_env = true;
  ShellWordResult cooked = CB_TRY(ProcessShellWord(st.rest, nullptr, o));
  if (cooked.words.size() != 1) return std::optional<ast::Heredoc>();
  o.raw_quotes = true;
  ShellWordResult raw = CB_TRY(ProcessShellWord(st.rest, nullptr, o));
  if (raw.words.size() != 1)
    return MakeError(ErrorCode::kSyntax,
                     "internal lexing of heredoc produced inconsistent results: {}", st.rest);
  ast::Heredoc h;
  h.name = cooked.words[0];
  h.expand = CountQuotes(cooked.words[0]) == CountQuotes(raw.words[0]);
  h.chomp = st.chomp;
  h.fd = st.fd.empty() || st.fd.size() > 9 ? 0 : std::stoi(st.fd);
  return std::optional<ast::Heredoc>(std::move(h));
}

Result<std::vector<ast::Heredoc>> HeredocsFromLine(std::string_view line) {
  ShellLexOptions o;
  o.raw_quotes = true;
  o.raw_escapes = true;
  o.heredoc_words = true;
  Result<ShellWordResult> words = ProcessShellWord(line, nullptr, o);
  std::vector<ast::Heredoc> docs;
  if (!words) return docs;  // BuildKit ignores lexing errors here
  for (const std::string& w : words->words) {
    std::optional<ast::Heredoc> h = CB_TRY(MatchHeredocWord(w));
    if (h) docs.push_back(std::move(*h));
  }
  return docs;
}

}  // namespace cb::parser::detail
