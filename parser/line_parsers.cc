// One assembled instruction line → keyword, flags and argument words, as BuildKit's
// splitCommand / extractBuilderFlags / dispatch table do it.
#include "parser/line_parsers.h"

#include "parser/text.h"

namespace cb::parser::detail {
namespace {

constexpr int kMaxOnbuildDepth = 64;

Error LineError(size_t offset, std::string message) {
  Error e{ErrorCode::kSyntax, std::move(message), SourceLocation{}, 0};
  e.where->col = static_cast<int>(offset) + 1;
  return e;
}

size_t OffsetIn(std::string_view outer, std::string_view inner) {
  return static_cast<size_t>(inner.data() - outer.data());
}

// Go's unicode.IsSpace on a single byte taken as a Latin-1 code point.
bool IsByteSpace(char c) { return text::IsSpace(static_cast<unsigned char>(c)); }

// BuildKit's extractBuilderFlags: byte-wise, '\\' is always the escape here, and every byte is
// re-encoded as the code point of the same value.
std::string_view ExtractFlags(std::string_view line, std::vector<std::string>& flags) {
  enum { kSpaces, kWord, kQuote } phase = kSpaces;
  std::string word;
  char quote = 0;
  bool blank_ok = false;
  for (size_t pos = 0; pos <= line.size(); ++pos) {
    char ch = pos < line.size() ? line[pos] : 0;
    if (phase == kSpaces) {
      if (pos == line.size()) break;
      if (IsByteSpace(ch)) continue;
      if (ch != '-' || pos + 1 == line.size() || line[pos + 1] != '-') return line.substr(pos);
      phase = kWord;
    }
    if (pos == line.size()) {
      if (word != "--" && (blank_ok || !word.empty())) flags.push_back(word);
      break;
    }
    if (phase == kWord) {
      if (IsByteSpace(ch)) {
        phase = kSpaces;
        if (word == "--") return line.substr(pos);
        if (blank_ok || !word.empty()) flags.push_back(word);
        word.clear();
        blank_ok = false;
        continue;
      }
      if (ch == '\'' || ch == '"') {
        quote = ch;
        blank_ok = true;
        phase = kQuote;
        continue;
      }
      if (ch == '\\') {
        if (pos + 1 == line.size()) continue;
        ch = line[++pos];
      }
      text::AppendRune(word, static_cast<unsigned char>(ch));
      continue;
    }
    // kQuote
    if (ch == quote) {
      phase = kWord;
      continue;
    }
    if (ch == '\\') {
      if (pos + 1 == line.size()) {
        phase = kWord;
        continue;
      }
      ch = line[++pos];
    }
    text::AppendRune(word, static_cast<unsigned char>(ch));
  }
  return line.substr(line.size());
}

// reWhitespace.Split(s, -1) / Split(s, 2): runs of ASCII blanks.
std::vector<std::string> SplitBlanks(std::string_view s, size_t limit) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i < s.size();) {
    if (!text::IsAsciiBlank(s[i]) || out.size() + 1 == limit) {
      ++i;
      continue;
    }
    out.emplace_back(s.substr(start, i - start));
    while (i < s.size() && text::IsAsciiBlank(s[i])) ++i;
    start = i;
  }
  out.emplace_back(s.substr(start));
  return out;
}

// parseMaybeJSON (RUN, CMD, ENTRYPOINT, SHELL): JSON array or the verbatim rest.
Status ArgsMaybeJson(std::string_view line, std::string_view rest, ast::Instruction& inst) {
  if (rest.empty()) return Ok();
  JsonArray j = ParseJsonArray(rest);
  if (j.status == JsonStatus::kNotStrings)
    return LineError(OffsetIn(line, rest) + j.bad_offset,
                     "when using JSON array syntax, arrays must be comprised of strings only");
  if (j.status == JsonStatus::kOk) {
    inst.json = true;
    inst.args = std::move(j.items);
    return Ok();
  }
  inst.args.emplace_back(rest);
  return Ok();
}

// parseMaybeJSONToList (ADD, COPY, VOLUME): JSON array or blank-separated words.
Status ArgsMaybeJsonList(std::string_view line, std::string_view rest, ast::Instruction& inst) {
  JsonArray j = ParseJsonArray(rest);
  if (j.status == JsonStatus::kNotStrings)
    return LineError(OffsetIn(line, rest) + j.bad_offset,
                     "when using JSON array syntax, arrays must be comprised of strings only");
  if (j.status == JsonStatus::kOk) {
    inst.json = true;
    inst.args = std::move(j.items);
    return Ok();
  }
  if (!rest.empty()) inst.args = SplitBlanks(rest, 0);
  return Ok();
}

// parseNameVal (ENV, LABEL): legacy `KEY name value` or `name=value ...` triples.
Status ArgsNameVal(std::string_view line, std::string_view rest, char escape,
                   const char* key, ast::Instruction& inst) {
  std::vector<std::string> words = ParseWords(rest, escape);
  if (words.empty()) return Ok();
  if (words[0].find('=') == std::string::npos) {
    std::vector<std::string> parts = SplitBlanks(rest, 2);
    if (parts.size() < 2)
      return LineError(OffsetIn(line, rest), fmt::format("{} must have two arguments", key));
    inst.args = {parts[0], parts[1], ""};
    return Ok();
  }
  for (const std::string& word : words) {
    size_t eq = word.find('=');
    if (eq == std::string::npos) {
      size_t at = rest.find(word);
      return LineError(OffsetIn(line, rest) + (at == std::string_view::npos ? 0 : at),
                       fmt::format("Syntax error - can't find = in {}. Must be of the form: "
                                   "name=value", text::GoQuote(word)));
    }
    inst.args.push_back(word.substr(0, eq));
    inst.args.push_back(word.substr(eq + 1));
    inst.args.push_back("=");
  }
  return Ok();
}

// parseHealthConfig: the type word, then the rest as for CMD.
Status ArgsHealthcheck(std::string_view line, std::string_view rest, ast::Instruction& inst) {
  size_t sep = 0;
  while (sep < rest.size() && !IsByteSpace(rest[sep])) ++sep;
  size_t next = sep;
  while (next < rest.size() && IsByteSpace(rest[next])) ++next;
  if (sep == 0) return Ok();
  inst.args.emplace_back(rest.substr(0, sep));
  ast::Instruction cmd;
  CB_TRY(ArgsMaybeJson(line, rest.substr(next), cmd));
  inst.json = cmd.json;
  for (std::string& a : cmd.args) inst.args.push_back(std::move(a));
  return Ok();
}

Result<ast::Instruction> ParseLineAt(std::string_view line, char escape, int depth);

Status Dispatch(std::string_view line, std::string_view rest, char escape, int depth,
                ast::Instruction& inst) {
  const std::string& k = inst.keyword;
  if (k == "from" || k == "expose") {
    if (!rest.empty()) inst.args = SplitBlanks(rest, 0);
  } else if (k == "add" || k == "copy" || k == "volume") {
    return ArgsMaybeJsonList(line, rest, inst);
  } else if (k == "run" || k == "cmd" || k == "entrypoint" || k == "shell") {
    return ArgsMaybeJson(line, rest, inst);
  } else if (k == "maintainer" || k == "user" || k == "workdir" || k == "stopsignal") {
    if (!rest.empty()) inst.args.emplace_back(rest);
  } else if (k == "arg") {
    inst.args = ParseWords(rest, escape);
  } else if (k == "env" || k == "label") {
    return ArgsNameVal(line, rest, escape, k == "env" ? "ENV" : "LABEL", inst);
  } else if (k == "healthcheck") {
    return ArgsHealthcheck(line, rest, inst);
  } else if (k == "onbuild") {
    if (rest.empty()) return Ok();
    if (depth >= kMaxOnbuildDepth) return LineError(OffsetIn(line, rest), "ONBUILD nested too deeply");
    Result<ast::Instruction> sub_r = ParseLineAt(rest, escape, depth + 1);
    if (!sub_r) {
      Error e = std::move(sub_r).error();
      if (e.where) e.where->col += static_cast<int>(OffsetIn(line, rest));
      return e;
    }
    ast::Instruction sub = std::move(sub_r).value();
    sub.col = static_cast<int>(OffsetIn(line, rest)) + 1;  // offset within the outer line
    inst.onbuild = std::make_shared<ast::Instruction>(std::move(sub));
  } else {
    inst.args.emplace_back("");
  }
  return Ok();
}

Result<ast::Instruction> ParseLineAt(std::string_view line, char escape, int depth) {
  std::string_view trimmed = text::TrimSpace(line);
  size_t kw_end = 0;
  while (kw_end < trimmed.size() && !text::IsAsciiBlank(trimmed[kw_end])) ++kw_end;
  size_t args_begin = kw_end;
  while (args_begin < trimmed.size() && text::IsAsciiBlank(trimmed[args_begin])) ++args_begin;

  ast::Instruction inst;
  inst.keyword = text::ToLowerAscii(trimmed.substr(0, kw_end));
  inst.original = std::string(line);
  std::string_view rest;
  if (args_begin > kw_end) rest = ExtractFlags(trimmed.substr(args_begin), inst.flags);
  rest = text::TrimSpace(rest);
  if (rest.empty()) rest = trimmed.substr(trimmed.size());
  Status st = Dispatch(line, rest, escape, depth, inst);
  if (!st) return std::move(st).error();
  return inst;
}

}  // namespace

Result<ast::Instruction> ParseInstructionLine(std::string_view line, char escape) {
  return ParseLineAt(line, escape, 0);
}

}  // namespace cb::parser::detail
