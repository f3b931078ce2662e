// Renderings of the AST: BuildKit's test dump, JSON for tools, and error messages with a caret.
#include <nlohmann/json.hpp>

#include "parser/parser.h"
#include "parser/text.h"

namespace cb::parser {
namespace {

std::string DumpNode(const ast::Instruction& inst) {
  std::string s = inst.keyword;
  if (!inst.flags.empty()) {
    s += " [";
    for (size_t i = 0; i < inst.flags.size(); ++i) {
      if (i > 0) s += ' ';
      s += text::GoQuote(inst.flags[i]);
    }
    s += ']';
  }
  for (const std::string& a : inst.args) {
    s += ' ';
    s += text::GoQuote(a);
  }
  if (inst.onbuild) s += " (" + DumpNode(*inst.onbuild) + ")";
  return std::string(text::TrimSpace(s));
}

nlohmann::json InstructionJson(const ast::Instruction& inst) {
  nlohmann::json j;
  j["keyword"] = inst.keyword;
  j["original"] = inst.original;
  j["flags"] = inst.flags;
  j["args"] = inst.args;
  j["json"] = inst.json;
  j["range"] = {{"start_line", inst.range.start_line}, {"end_line", inst.range.end_line}};
  j["col"] = inst.col;
  nlohmann::json docs = nlohmann::json::array();
  for (const ast::Heredoc& h : inst.heredocs) {
    docs.push_back({{"name", h.name}, {"content", h.content}, {"expand", h.expand},
                    {"chomp", h.chomp}, {"fd", h.fd}, {"start_line", h.start_line},
                    {"end_line", h.end_line}});
  }
  j["heredocs"] = std::move(docs);
  j["onbuild"] = inst.onbuild ? InstructionJson(*inst.onbuild) : nlohmann::json();
  return j;
}

// A window of at most kWindow bytes of `line` around byte `col0`, for very long lines.
constexpr size_t kWindow = 160;

}  // namespace

std::string DumpBuildkit(const ast::Dockerfile& df) {
  std::string out;
  for (const ast::Instruction& inst : df.instructions) {
    out += '(';
    out += DumpNode(inst);
    out += ")\n";
  }
  return out;
}

std::string DumpJson(const ast::Dockerfile& df) {
  nlohmann::json j;
  j["file"] = df.file_name;
  j["escape"] = std::string(1, df.escape);
  nlohmann::json dirs = nlohmann::json::array();
  for (const ast::Directive& d : df.directives)
    dirs.push_back({{"name", d.name}, {"value", d.value}, {"line", d.line}});
  j["directives"] = std::move(dirs);
  nlohmann::json insts = nlohmann::json::array();
  for (const ast::Instruction& inst : df.instructions) insts.push_back(InstructionJson(inst));
  j["instructions"] = std::move(insts);
  j["warnings"] = df.warnings;
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string FormatError(const Error& e, std::string_view text) {
  std::string out = e.ToString() + "\n";
  if (!e.where || e.where->line <= 0) return out;
  size_t pos = 0;
  for (int n = 1; n < e.where->line && pos != std::string_view::npos; ++n) {
    pos = text.find('\n', pos);
    if (pos != std::string_view::npos) ++pos;
  }
  if (pos == std::string_view::npos || pos > text.size()) return out;
  size_t end = text.find('\n', pos);
  std::string_view line = text.substr(pos, end == std::string_view::npos ? text.size() - pos : end - pos);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  size_t col0 = e.where->col > 0 ? static_cast<size_t>(e.where->col - 1) : 0;
  col0 = std::min(col0, line.size());
  size_t from = col0 > kWindow / 2 ? col0 - kWindow / 2 : 0;
  while (from > 0 && from < line.size() && (static_cast<unsigned char>(line[from]) & 0xC0) == 0x80) --from;
  std::string_view shown = line.substr(from, kWindow);
  std::string display = from > 0 ? "..." : "";
  std::string pad = from > 0 ? "   " : "";
  for (size_t i = 0; i < shown.size(); ++i) {
    auto c = static_cast<unsigned char>(shown[i]);
    display.push_back(c < 0x20 && c != '\t' ? '?' : static_cast<char>(c));
    if (from + i < col0 && (c & 0xC0) != 0x80) pad.push_back(c == '\t' ? '\t' : ' ');
  }
  if (from + shown.size() < line.size()) display += "...";
  out += fmt::format("{:>4} | {}\n", e.where->line, display);
  if (e.where->col > 0) out += fmt::format("     | {}^\n", pad);
  return out;
}

}  // namespace cb::parser
