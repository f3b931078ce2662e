// The line-structure driver of the Dockerfile parser: physical lines, parser directives,
// continuations and heredoc bodies, as BuildKit's parser.Parse does it. Token-level syntax is
// in grammar.h / line_parsers.cc.
#include "parser/parser.h"

#include <set>

#include "parser/line_parsers.h"
#include "parser/text.h"

namespace cb::parser {
namespace {

constexpr size_t kMaxLineLength = 65535;

// Physical lines as Go's bufio.ScanLines yields them: split after '\n', one trailing '\r'
// dropped, a last line without '\n' still counts.
class LineScanner {
 public:
  explicit LineScanner(std::string_view text) : text_(text) {}

  /// False at end of input; an error for a line longer than kMaxLineLength.
  Result<bool> Next(std::string_view* line) {
    if (pos_ >= text_.size()) return false;
    size_t nl = text_.find('\n', pos_);
    size_t end = nl == std::string_view::npos ? text_.size() : nl;
    std::string_view l = text_.substr(pos_, end - pos_);
    pos_ = nl == std::string_view::npos ? text_.size() : nl + 1;
    if (l.size() > kMaxLineLength)
      return MakeError(ErrorCode::kSyntax, "line too long ({} bytes, the limit is {})", l.size(),
                       kMaxLineLength);
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    *line = l;
    return true;
  }

 private:
  std::string_view text_;
  size_t pos_ = 0;
};

// An instruction assembled from continuation lines, with a map back to physical positions.
class LogicalLine {
 public:
  void Append(std::string_view part, int line, size_t col0) {
    segments_.push_back({text_.size(), line, col0});
    text_ += part;
  }
  const std::string& text() const { return text_; }

  /// Physical (line, 1-based column) of byte `offset` of text().
  std::pair<int, int> Locate(size_t offset) const {
    const Segment* best = &segments_.front();
    for (const Segment& s : segments_) {
      if (s.start <= offset) best = &s;
    }
    return {best->line, static_cast<int>(best->col0 + (offset - best->start)) + 1};
  }

 private:
  struct Segment {
    size_t start;
    int line;
    size_t col0;
  };
  std::string text_;
  std::vector<Segment> segments_;
};

bool IsComment(std::string_view line) {
  std::string_view t = text::TrimLeftSpace(text::TrimRightNewlines(line));
  return !t.empty() && t[0] == '#';
}

// The continuation rule: the escape token followed only by blanks, not itself escaped.
// Returns the line without the token and whether the instruction ends here.
std::pair<std::string_view, bool> TrimContinuation(std::string_view line, char escape) {
  size_t end = line.size();
  while (end > 0 && (line[end - 1] == ' ' || line[end - 1] == '\t')) --end;
  if (end == 0 || line[end - 1] != escape) return {line, true};
  size_t token = end - 1;
  if (token > 0 && line[token - 1] == escape) return {line, true};
  return {line.substr(0, token), false};
}

class Parser {
 public:
  Parser(std::string_view text, std::string_view file_name) : text_(text), scanner_(text) {
    df_.file_name = std::string(file_name);
  }

  Result<ast::Dockerfile> Run();

 private:
  Error At(int line, int col, std::string message) const {
    return Error{ErrorCode::kSyntax, std::move(message),
                 SourceLocation{df_.file_name, line, col}, 0};
  }
  Status CheckDirective(std::string_view line, int line_no);
  Status ParseInstruction(std::string_view first, int start_line, size_t lead);
  Status ReadHeredocs(ast::Instruction& inst, const LogicalLine& ll);

  std::string_view text_;
  LineScanner scanner_;
  ast::Dockerfile df_;
  int current_line_ = 0;
  bool directives_done_ = false;
  std::set<std::string> seen_directives_;
};

Status Parser::CheckDirective(std::string_view line, int line_no) {
  if (directives_done_) return Ok();
  std::optional<detail::DirectiveMatch> m = detail::MatchDirective(line);
  if (!m || (m->name != "syntax" && m->name != "escape" && m->name != "check")) {
    directives_done_ = true;
    return Ok();
  }
  if (!seen_directives_.insert(m->name).second)
    return At(line_no, 1, fmt::format("only one {} parser directive can be used", m->name));
  if (m->name == "escape") {
    if (m->value != "`" && m->value != "\\")
      return At(line_no, 1, fmt::format("invalid escape token '{}' does not match ` or \\", m->value));
    df_.escape = m->value[0];
  }
  df_.directives.push_back({m->name, m->value, line_no});
  return Ok();
}

Result<ast::Dockerfile> Parser::Run() {
  std::string_view raw;
  for (;;) {
    Result<bool> more = scanner_.Next(&raw);
    if (!more) return At(current_line_ + 1, 0, std::move(more).error().message);
    if (!*more) break;
    if (current_line_ == 0 && raw.substr(0, 3) == "\xEF\xBB\xBF") raw.remove_prefix(3);
    std::string_view trimmed = text::TrimRightNewlines(raw);
    std::string_view stripped = text::TrimLeftSpace(trimmed);
    CB_TRY(CheckDirective(stripped, current_line_ + 1));
    ++current_line_;
    std::string_view body = IsComment(stripped) ? std::string_view() : stripped;
    auto [first, eol] = TrimContinuation(body, df_.escape);
    if (eol && first.empty()) continue;
    CB_TRY(ParseInstruction(body, current_line_,
                            static_cast<size_t>(stripped.data() - trimmed.data())));
  }
  if (df_.instructions.empty()) return At(current_line_ > 0 ? current_line_ : 1, 0, "file with no instructions");
  return std::move(df_);
}

Status Parser::ParseInstruction(std::string_view body, int start_line, size_t lead) {
  LogicalLine ll;
  auto [first, eol] = TrimContinuation(body, df_.escape);
  ll.Append(first, start_line, lead);
  bool empty_continuation = false;
  std::string_view raw;
  while (!eol) {
    Result<bool> more = scanner_.Next(&raw);
    if (!more) return At(current_line_ + 1, 0, std::move(more).error().message);
    if (!*more) break;
    ++current_line_;
    std::string_view line = text::TrimRightNewlines(raw);
    if (IsComment(line)) continue;
    if (text::TrimLeftSpace(line).empty()) {
      empty_continuation = true;
      continue;
    }
    std::string_view part;
    std::tie(part, eol) = TrimContinuation(line, df_.escape);
    ll.Append(part, current_line_, 0);
  }
  if (empty_continuation)
    df_.warnings.push_back(fmt::format("{}:{}: empty continuation line(s) inside an instruction "
                                       "(deprecated; future versions may reject them)",
                                       df_.file_name, start_line));
  Result<ast::Instruction> parsed = detail::ParseInstructionLine(ll.text(), df_.escape);
  if (!parsed) {
    Error e = std::move(parsed).error();
    auto [line, col] = ll.Locate(e.where && e.where->col > 0 ? e.where->col - 1 : 0);
    return At(line, col, std::move(e.message));
  }
  ast::Instruction inst = std::move(parsed).value();
  size_t kw = static_cast<size_t>(text::TrimLeftSpace(ll.text()).data() - ll.text().data());
  inst.col = ll.Locate(kw).second;
  const ast::Instruction& target = inst.onbuild ? *inst.onbuild : inst;
  bool heredoc_kind = target.keyword == "run" || target.keyword == "copy" || target.keyword == "add";
  if (heredoc_kind && !target.json && ll.text().find("<<") != std::string::npos)
    CB_TRY(ReadHeredocs(inst, ll));
  inst.range = {start_line, current_line_};
  df_.instructions.push_back(std::move(inst));
  return Ok();
}

Status Parser::ReadHeredocs(ast::Instruction& inst, const LogicalLine& ll) {
  Result<std::vector<ast::Heredoc>> docs = detail::HeredocsFromLine(ll.text());
  if (!docs) {
    auto [line, col] = ll.Locate(ll.text().find("<<"));
    return At(line, col, std::move(docs).error().message);
  }
  size_t search = 0;
  for (ast::Heredoc& doc : *docs) {
    size_t op = ll.text().find("<<", search);
    search = op == std::string::npos ? search : op + 2;
    doc.start_line = current_line_ + 1;
    bool terminated = false;
    std::string_view raw;
    for (;;) {
      Result<bool> more = scanner_.Next(&raw);
      if (!more) return At(current_line_ + 1, 0, std::move(more).error().message);
      if (!*more) break;
      ++current_line_;
      std::string_view candidate = text::TrimRightNewlines(raw);
      if (doc.chomp) {
        while (!candidate.empty() && candidate.front() == '\t') candidate.remove_prefix(1);
      }
      if (candidate == doc.name) {
        terminated = true;
        break;
      }
      // The AST contract: <<- bodies lose their leading tabs here (BuildKit's dispatcher does
      // the same later with ChompHeredocContent).
      std::string_view body = raw;
      while (doc.chomp && !body.empty() && body.front() == '\t') body.remove_prefix(1);
      doc.content.append(body);
      doc.content.push_back('\n');
    }
    if (!terminated) {
      auto [line, col] = ll.Locate(op == std::string::npos ? 0 : op);
      return At(line, col, fmt::format("unterminated heredoc {} (no line `{}` before the end of the file)",
                                       text::GoQuote(doc.name), doc.name));
    }
    doc.end_line = current_line_;
    inst.heredocs.push_back(std::move(doc));
  }
  return Ok();
}

}  // namespace

Result<ast::Dockerfile> Parse(std::string_view text, std::string_view file_name) {
  try {
    Parser p(text, file_name);
    return p.Run();
  } catch (const std::exception& ex) {
    return Error{ErrorCode::kSyntax, fmt::format("internal parser error: {}", ex.what()),
                 SourceLocation{std::string(file_name), 0, 0}, 0};
  }
}

}  // namespace cb::parser
