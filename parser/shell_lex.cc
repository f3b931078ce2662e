// A port of the *behaviour* of BuildKit's shell word processor (see shell_lex.h); the
// structure mirrors its scanner-driven recursive descent so that edge cases agree.
#include "parser/shell_lex.h"

#include <map>
#include <memory>

#include "common/key_value.h"
#include "parser/shell_pattern.h"
#include "parser/text.h"

namespace cb::parser {
namespace {

constexpr char32_t kEof = 0xFFFFFFFF;

Error SyntaxError(std::string message) {
  return Error{ErrorCode::kSyntax, std::move(message), std::nullopt, 0};
}

// Word accumulator: splits on whitespace that comes from unquoted text or expansions.
struct Words {
  std::string word;
  std::vector<std::string> words;
  bool in_word = false;
  bool heredoc_words = false;

  bool AfterHeredocOperator() const {
    std::string_view w = word;
    while (!w.empty() && (w.back() == ' ' || w.back() == '\t')) w.remove_suffix(1);
    if (!w.empty() && w.back() == '-') w.remove_suffix(1);
    return w.size() >= 2 && w.substr(w.size() - 2) == "<<";
  }
  void AddChar(char32_t ch) {
    bool space = text::IsSpace(ch);
    if (space && heredoc_words && in_word && AfterHeredocOperator()) {
      AddRawChar(ch);
    } else if (space && in_word) {
      if (!word.empty()) {
        words.push_back(std::move(word));
        word.clear();
        in_word = false;
      }
    } else if (!space) {
      AddRawChar(ch);
    }
  }
  void AddRawChar(char32_t ch) {
    text::AppendRune(word, ch);
    in_word = true;
  }
  void AddString(std::string_view s) {
    for (size_t pos = 0; pos < s.size();) {
      size_t w;
      AddChar(text::DecodeRune(s, pos, &w));
      pos += w;
    }
  }
  void AddRawString(std::string_view s) {
    word += s;
    in_word = true;
  }
  std::vector<std::string> Take() {
    if (!word.empty()) words.push_back(std::move(word));
    return std::move(words);
  }
};

struct Processed {
  std::string word;
  std::vector<std::string> words;
};

class Processor {
 public:
  Processor(std::string_view src, const EnvLookup& lookup, const ShellLexOptions& o)
      : src_(src), lookup_(lookup), o_(o), raw_escapes_(o.raw_escapes) {
    if (src_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;  // text/scanner skips a leading BOM
  }

  Result<Processed> Run() { return ProcessStopOn(kEof, raw_escapes_); }

 private:
  char32_t Peek() const {
    if (pos_ >= src_.size()) return kEof;
    size_t w;
    return text::DecodeRune(src_, pos_, &w);
  }
  char32_t Next() {
    if (pos_ >= src_.size()) return kEof;
    size_t w;
    char32_t r = text::DecodeRune(src_, pos_, &w);
    pos_ += w;
    return r;
  }

  Result<Processed> ProcessStopOn(char32_t stop, bool raw_escapes);
  Result<std::string> ProcessSingleQuote();
  Result<std::string> ProcessDoubleQuote();
  Result<std::string> ProcessDollar();
  Result<std::string> ProcessModifier(const std::string& name, char32_t ch, std::string chs,
                                      bool null_is_unset);
  Result<std::string> ProcessReplace(const std::string& name);
  std::string ProcessName();
  std::optional<std::string> GetEnv(const std::string& name) const {
    return lookup_ ? lookup_(name) : std::nullopt;
  }

  std::string_view src_;
  size_t pos_ = 0;
  const EnvLookup& lookup_;
  const ShellLexOptions& o_;
  bool raw_escapes_;
  int depth_ = 0;
};

Result<Processed> Processor::ProcessStopOn(char32_t stop, bool raw_escapes) {
  if (++depth_ > kMaxShellNesting) return SyntaxError("variable substitution nested too deeply");
  struct DepthGuard {
    int& d;
    ~DepthGuard() { --d; }
  } guard{depth_};
  bool saved_raw = raw_escapes_;
  raw_escapes_ = raw_escapes;
  struct RawGuard {
    bool& r;
    bool saved;
    ~RawGuard() { r = saved; }
  } raw_guard{raw_escapes_, saved_raw};

  std::string result;
  Words words;
  words.heredoc_words = o_.heredoc_words;
  while (Peek() != kEof) {
    char32_t ch = Peek();
    if (stop != kEof && ch == stop) {
      Next();
      return Processed{std::move(result), words.Take()};
    }
    bool quote = !o_.skip_process_quotes && (ch == '\'' || ch == '"');
    if (ch == '$' || quote) {
      std::string tmp = CB_TRY(ch == '$'    ? ProcessDollar()
                               : ch == '\'' ? ProcessSingleQuote()
                                            : ProcessDoubleQuote());
      result += tmp;
      if (ch == '$') words.AddString(tmp);
      else words.AddRawString(tmp);
      continue;
    }
    ch = Next();
    if (ch == static_cast<unsigned char>(o_.escape)) {
      if (raw_escapes_) {
        words.AddRawChar(ch);
        text::AppendRune(result, ch);
      }
      ch = Next();
      if (ch == kEof) break;
      words.AddRawChar(ch);
    } else {
      words.AddChar(ch);
    }
    text::AppendRune(result, ch);
  }
  if (stop != kEof) {
    std::string s;
    text::AppendRune(s, stop);
    return SyntaxError(fmt::format("unexpected end of statement while looking for matching {}", s));
  }
  return Processed{std::move(result), words.Take()};
}

Result<std::string> Processor::ProcessSingleQuote() {
  std::string result;
  char32_t ch = Next();
  if (o_.raw_quotes) text::AppendRune(result, ch);
  for (;;) {
    ch = Next();
    if (ch == kEof)
      return SyntaxError("unexpected end of statement while looking for matching single-quote");
    if (ch == '\'') {
      if (o_.raw_quotes) text::AppendRune(result, ch);
      return result;
    }
    text::AppendRune(result, ch);
  }
}

Result<std::string> Processor::ProcessDoubleQuote() {
  std::string result;
  char32_t ch = Next();
  if (o_.raw_quotes) text::AppendRune(result, ch);
  const char32_t esc = static_cast<unsigned char>(o_.escape);
  for (;;) {
    char32_t p = Peek();
    if (p == kEof)
      return SyntaxError("unexpected end of statement while looking for matching double-quote");
    if (p == '"') {
      ch = Next();
      if (o_.raw_quotes) text::AppendRune(result, ch);
      return result;
    }
    if (p == '$') {
      result += CB_TRY(ProcessDollar());
      continue;
    }
    ch = Next();
    if (ch == esc) {
      if (raw_escapes_) text::AppendRune(result, ch);
      char32_t n = Peek();
      if (n == kEof) continue;
      if (n == '"' || n == '$' || n == esc) ch = Next();
    }
    text::AppendRune(result, ch);
  }
}

std::string Processor::ProcessName() {
  std::string name;
  while (Peek() != kEof) {
    char32_t ch = Peek();
    if (name.empty() && text::IsDigit(ch)) {
      while (Peek() != kEof && text::IsDigit(Peek())) text::AppendRune(name, Next());
      return name;
    }
    if (name.empty() && (ch == '@' || ch == '*' || ch == '#' || ch == '?' || ch == '-' ||
                         ch == '$' || ch == '!' || ch == '0')) {
      text::AppendRune(name, Next());
      return name;
    }
    if (!text::IsLetter(ch) && !text::IsDigit(ch) && ch != '_') break;
    text::AppendRune(name, Next());
  }
  return name;
}

Result<std::string> Processor::ProcessDollar() {
  Next();  // '$'
  if (Peek() != '{') {
    std::string name = ProcessName();
    if (name.empty()) return std::string("$");
    std::optional<std::string> v = GetEnv(name);
    if (!v && o_.skip_unset_env) return "$" + name;
    return v.value_or("");
  }
  Next();  // '{'
  char32_t p = Peek();
  if (p == kEof) return SyntaxError("syntax error: missing '}'");
  if (p == '{' || p == '}' || p == ':') return SyntaxError("syntax error: bad substitution");
  std::string name = ProcessName();
  char32_t ch = Next();
  std::string chs;
  text::AppendRune(chs, ch);
  if (ch == '}') {
    std::optional<std::string> v = GetEnv(name);
    if (!v && o_.skip_unset_env) return fmt::format("${{{}}}", name);
    return v.value_or("");
  }
  if (ch == ':') {
    ch = Next();
    text::AppendRune(chs, ch);
    return ProcessModifier(name, ch, chs, true);
  }
  if (ch == '+' || ch == '-' || ch == '?' || ch == '#' || ch == '%')
    return ProcessModifier(name, ch, chs, false);
  if (ch == '/') return ProcessReplace(name);
  return SyntaxError(fmt::format("unsupported modifier ({}) in substitution", chs));
}

Result<std::string> Processor::ProcessModifier(const std::string& name, char32_t ch,
                                               std::string chs, bool null_is_unset) {
  Result<Processed> pw = ProcessStopOn('}', ch == '#' || ch == '%');
  if (!pw) {
    if (Peek() == kEof) return SyntaxError("syntax error: missing '}'");
    return std::move(pw).error();
  }
  std::string word = std::move(pw->word);
  std::optional<std::string> v = GetEnv(name);
  if (o_.skip_unset_env && !v) return fmt::format("${{{}{}{}}}", name, chs, word);
  bool set = v.has_value();
  std::string value = v.value_or("");
  switch (ch) {
    case '-':
      return (!set || (null_is_unset && value.empty())) ? word : value;
    case '+':
      return (!set || (null_is_unset && value.empty())) ? std::string() : word;
    case '?':
      if (!set)
        return SyntaxError(fmt::format("{}: {}", name, word.empty() ? "is not allowed to be unset" : word));
      if (null_is_unset && value.empty())
        return SyntaxError(fmt::format("{}: {}", name, word.empty() ? "is not allowed to be empty" : word));
      return value;
    case '%':
    case '#': {
      bool greedy = !word.empty() && static_cast<char32_t>(static_cast<unsigned char>(word[0])) == ch;
      if (greedy) word.erase(0, 1);
      return ch == '%' ? detail::TrimSuffixPattern(word, value, greedy)
                       : detail::TrimPrefixPattern(word, value, greedy);
    }
    default:
      return SyntaxError(fmt::format("unsupported modifier ({}) in substitution", chs));
  }
}

Result<std::string> Processor::ProcessReplace(const std::string& name) {
  bool all = Peek() == '/';
  if (all) Next();
  Result<Processed> pattern = ProcessStopOn('/', true);
  if (!pattern) {
    if (Peek() == kEof) return SyntaxError("syntax error: missing '/' in ${}");
    return std::move(pattern).error();
  }
  Result<Processed> repl = ProcessStopOn('}', true);
  if (!repl) {
    if (Peek() == kEof) return SyntaxError("syntax error: missing '}'");
    return std::move(repl).error();
  }
  std::optional<std::string> v = GetEnv(name);
  if (o_.skip_unset_env && !v) return fmt::format("${{{}/{}/{}}}", name, pattern->word, repl->word);
  return detail::ReplacePattern(pattern->word, repl->word, v.value_or(""), all);
}

}  // namespace

Result<ShellWordResult> ProcessShellWord(std::string_view word, const EnvLookup& lookup,
                                         const ShellLexOptions& options) {
  Processor p(word, lookup, options);
  Result<Processed> r = p.Run();
  if (!r) {
    Error e = std::move(r).error();
    std::string shown = word.size() > 256 ? std::string(word.substr(0, 256)) + "..." : std::string(word);
    e.message = fmt::format("failed to process {}: {}", text::GoQuote(shown), e.message);
    return e;
  }
  return ShellWordResult{std::move(r->word), std::move(r->words)};
}

Result<std::string> ExpandWord(std::string_view word, const EnvLookup& lookup, char escape) {
  ShellLexOptions o;
  o.escape = escape;
  ShellWordResult r = CB_TRY(ProcessShellWord(word, lookup, o));
  return std::move(r.word);
}

Result<std::vector<std::string>> ExpandWords(std::string_view word, const EnvLookup& lookup,
                                             char escape) {
  ShellLexOptions o;
  o.escape = escape;
  ShellWordResult r = CB_TRY(ProcessShellWord(word, lookup, o));
  return std::move(r.words);
}

EnvLookup LookupFromList(std::vector<std::string> env) {
  auto map = std::make_shared<std::map<std::string, std::string, std::less<>>>();
  for (const std::string& e : env) {
    auto [name, value] = SplitKeyValue(e);
    (*map)[name] = value.value_or("");
  }
  return [map](std::string_view name) -> std::optional<std::string> {
    auto it = map->find(name);
    if (it == map->end()) return std::nullopt;
    return it->second;
  };
}

}  // namespace cb::parser
