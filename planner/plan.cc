#include "planner/plan.h"

#include <algorithm>
#include <cctype>

namespace cb::planner {
namespace {

Error StepError(const ast::Dockerfile& df, const ast::Instruction& ins, std::string msg) {
  Error e{ErrorCode::kSyntax, std::move(msg), SourceLocation{df.file_name, ins.range.start_line, ins.col}, 0};
  return e;
}

std::string Upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

/// The instruction's text for progress and history: keyword in capitals plus its arguments.
std::string DisplayText(const ast::Instruction& ins) {
  std::string out = Upper(ins.keyword);
  for (const auto& f : ins.flags) out += " " + f;
  if (ins.json) {
    out += " [";
    for (size_t i = 0; i < ins.args.size(); ++i) out += (i ? ", \"" : "\"") + ins.args[i] + "\"";
    out += "]";
  } else {
    for (const auto& a : ins.args) out += " " + a;
  }
  return out;
}

Result<Step> LowerInstruction(const ast::Dockerfile& df, const ast::Instruction& ins) {
  Step s;
  s.text = DisplayText(ins);
  s.loc = SourceLocation{df.file_name, ins.range.start_line, ins.col};
  s.range = ins.range;
  const std::string& k = ins.keyword;
  if (k == "workdir") {
    if (ins.args.size() != 1) return StepError(df, ins, "WORKDIR requires exactly one argument");
    s.kind = StepKind::kWorkdir;
    s.dest = ins.args[0];
  } else if (k == "copy") {
    for (const auto& f : ins.flags)
      return StepError(df, ins, fmt::format("COPY: flag `{}` is not supported yet", f));
    if (ins.args.size() < 2) return StepError(df, ins, "COPY requires at least two arguments: SOURCE... DEST");
    s.kind = StepKind::kCopy;
    s.sources.assign(ins.args.begin(), ins.args.end() - 1);
    s.dest = ins.args.back();
  } else if (k == "run" || k == "cmd") {
    for (const auto& f : ins.flags)
      return StepError(df, ins, fmt::format("{}: flag `{}` is not supported yet", Upper(k), f));
    if (k == "run" && ins.args.empty()) return StepError(df, ins, "RUN requires a command");
    s.kind = k == "run" ? StepKind::kRun : StepKind::kCmd;
    s.args = ins.args;
    s.exec_form = ins.json;
  } else {
    return StepError(df, ins, fmt::format("instruction {} is not supported yet", Upper(k)));
  }
  return s;
}

}  // namespace

std::string ResolvePath(const std::string& cwd, const std::string& path) {
  std::string joined = (!path.empty() && path[0] == '/') ? path : (cwd.empty() ? "/" : cwd) + "/" + path;
  std::vector<std::string> parts;
  size_t i = 0;
  while (i <= joined.size()) {
    size_t j = joined.find('/', i);
    if (j == std::string::npos) j = joined.size();
    std::string c = joined.substr(i, j - i);
    if (c == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!c.empty() && c != ".") {
      parts.push_back(c);
    }
    i = j + 1;
  }
  std::string out;
  for (const auto& p : parts) out += "/" + p;
  return out.empty() ? "/" : out;
}

Result<Plan> Lower(const ast::Dockerfile& df, const LowerOptions& opts) {
  Plan plan;
  int number = 0;
  for (const auto& ins : df.instructions) {
    if (ins.keyword == "from") {
      if (ins.args.empty()) return StepError(df, ins, "FROM requires an image name");
      if (!(ins.args.size() == 1 || (ins.args.size() == 3 && Upper(ins.args[1]) == "AS")))
        return StepError(df, ins, "FROM takes `IMAGE [AS NAME]`");
      for (const auto& f : ins.flags)
        return StepError(df, ins, fmt::format("FROM: flag `{}` is not supported yet", f));
      Stage st;
      st.index = static_cast<int>(plan.stages.size());
      if (ins.args.size() == 3) {
        st.name = ins.args[2];
        std::transform(st.name.begin(), st.name.end(), st.name.begin(), ::tolower);
      }
      Step s;
      s.kind = StepKind::kFrom;
      s.text = DisplayText(ins);
      s.loc = SourceLocation{df.file_name, ins.range.start_line, ins.col};
      s.range = ins.range;
      s.base = ins.args[0];
      st.steps.push_back(std::move(s));
      plan.stages.push_back(std::move(st));
    } else {
      if (plan.stages.empty())
        return StepError(df, ins, fmt::format("{} before the first FROM", Upper(ins.keyword)));
      plan.stages.back().steps.push_back(CB_TRY(LowerInstruction(df, ins)));
    }
  }
  if (plan.stages.empty())
    return Error{ErrorCode::kSyntax, "the Dockerfile has no FROM instruction",
                 SourceLocation{df.file_name, 1, 1}, 0};
  plan.target = static_cast<int>(plan.stages.size()) - 1;
  if (!opts.target.empty()) {
    auto it = std::find_if(plan.stages.begin(), plan.stages.end(),
                           [&](const Stage& s) { return s.name == opts.target; });
    if (it == plan.stages.end())
      return MakeError(ErrorCode::kInvalidArgument, "target stage `{}` could not be found", opts.target);
    plan.target = it->index;
  }
  for (auto& st : plan.stages) {
    int i = 0;
    for (auto& s : st.steps) {
      s.index_in_stage = ++i;
      s.number = ++number;
    }
  }
  plan.total_steps = number;
  return plan;
}

}  // namespace cb::planner
