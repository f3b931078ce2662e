// Lower: stages, FROM, ARG scoping (BuildKit's rules) and which stages the target needs.
#include <algorithm>
#include <cctype>

#include "common/env_list.h"
#include "common/key_value.h"
#include "parser/parser.h"
#include "planner/lowering.h"

namespace cb::planner {
namespace internal {

Error At(const ast::Dockerfile& df, const ast::Instruction& ins, std::string message) {
  return Error{ErrorCode::kSyntax, std::move(message),
               SourceLocation{df.file_name, ins.range.start_line, ins.col}, 0};
}

std::string DisplayText(const ast::Instruction& ins) {
  std::string out;
  for (char c : ins.keyword) out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  // Original holds the instruction as written (keyword included), continuations joined.
  size_t sp = ins.original.find_first_of(" \t");
  if (sp == std::string::npos) return out;
  size_t start = ins.original.find_first_not_of(" \t", sp);
  if (start == std::string::npos) return out;
  return out + " " + ins.original.substr(start);
}

std::string GoQuoted(const std::vector<std::string>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += ' ';
    out += '"';
    for (char c : v[i]) {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += c;
      } else if (c == '\n') {
        out += "\\n";
      } else if (c == '\t') {
        out += "\\t";
      } else {
        out += c;
      }
    }
    out += '"';
  }
  return out + "]";
}

parser::EnvLookup StageScope::Lookup() const {
  return [this](std::string_view name) -> std::optional<std::string> {
    if (auto v = env::Get(config.env, name)) return v;
    return ArgValue(std::string(name));
  };
}

std::optional<std::string> StageScope::ArgValue(const std::string& name) const {
  for (auto it = args.rbegin(); it != args.rend(); ++it)
    if (it->first == name) return it->second;
  return std::nullopt;
}

Result<std::string> StageScope::Expand(const ast::Instruction& ins, const std::string& word) const {
  auto r = parser::ExpandWord(word, Lookup(), df->escape);
  if (!r) return At(*df, ins, r.error().message);
  return r;
}

Result<int> StageScope::StageRef(const ast::Instruction& ins, const std::string& ref) const {
  std::string lower = ref;
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  for (int i = 0; i < stage_index; ++i)
    if (!(*stage_names)[i].empty() && (*stage_names)[i] == lower) return i;
  if (!ref.empty() && std::all_of(ref.begin(), ref.end(), ::isdigit)) {
    int i = std::stoi(ref.size() > 6 ? "999999" : ref);
    if (i >= stage_index)
      return At(*df, ins, fmt::format("stage index {} refers to this stage or a later one", ref));
    return i;
  }
  for (size_t i = stage_index; i < stage_names->size(); ++i)
    if ((*stage_names)[i] == lower && !lower.empty())
      return At(*df, ins, fmt::format("stage `{}` is defined after this instruction", ref));
  return -1;
}

std::vector<std::string> StageScope::RunEnv() const {
  std::vector<std::string> env = config.env;
  auto has_env = [&](const std::string& k) { return env::Has(config.env, k); };
  for (const auto& [k, v] : args)
    if (v && !has_env(k)) env.push_back(k + "=" + *v);
  for (const auto& [k, v] : opts->build_args)
    if (IsProxyArg(k) && !has_env(k) && !ArgValue(k)) env.push_back(k + "=" + v);
  return env;
}

std::string StageScope::ArgsPrefix() const {
  std::vector<std::string> kv;
  for (const auto& [k, v] : args)
    if (v && !IsProxyArg(k)) kv.push_back(k + "=" + *v);
  if (kv.empty()) return "";
  std::string out = fmt::format("|{}", kv.size());
  for (const auto& s : kv) out += " " + s;
  return out + " ";
}

}  // namespace internal

using internal::At;

namespace {

constexpr const char* kProxyArgs[] = {"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy",
                                      "FTP_PROXY",  "ftp_proxy",  "NO_PROXY",    "no_proxy",
                                      "ALL_PROXY",  "all_proxy"};

std::map<std::string, std::string> PredefinedArgs(const std::string& platform) {
  std::string os = platform.substr(0, platform.find('/'));
  std::string rest = platform.find('/') == std::string::npos ? "" : platform.substr(platform.find('/') + 1);
  std::string arch = rest.substr(0, rest.find('/'));
  std::string variant = rest.find('/') == std::string::npos ? "" : rest.substr(rest.find('/') + 1);
  return {{"TARGETPLATFORM", platform}, {"TARGETOS", os}, {"TARGETARCH", arch}, {"TARGETVARIANT", variant},
          {"BUILDPLATFORM", platform},  {"BUILDOS", os},  {"BUILDARCH", arch},  {"BUILDVARIANT", variant}};
}

/// Parses `ARG name[=default]` words into (name, default).
Result<std::vector<std::pair<std::string, std::optional<std::string>>>> ArgDecls(
    const ast::Dockerfile& df, const ast::Instruction& ins, const parser::EnvLookup& lookup) {
  CB_TRY(parser::ParseFlags(df, ins));
  if (ins.args.empty()) return At(df, ins, "ARG requires at least one argument");
  std::vector<std::pair<std::string, std::optional<std::string>>> out;
  for (const auto& a : ins.args) {
    auto [name, value] = SplitKeyValue(a);
    if (name.empty()) return At(df, ins, fmt::format("ARG: invalid name in `{}`", a));
    std::optional<std::string> def;
    if (value) {
      auto v = parser::ExpandWord(*value, lookup, df.escape);
      if (!v) return At(df, ins, v.error().message);
      def = *v;
    }
    out.emplace_back(name, def);
  }
  return out;
}

class Lowerer {
 public:
  Lowerer(const ast::Dockerfile& df, const LowerOptions& opts) : df_(df), opts_(opts) {
    predefined_ = PredefinedArgs(opts.platform);
  }

  Result<Plan> Run() {
    CollectStageNames();
    size_t i = 0;
    for (; i < df_.instructions.size() && df_.instructions[i].keyword != "from"; ++i)
      CB_TRY(GlobalArg(df_.instructions[i]));
    if (i == df_.instructions.size())
      return Error{ErrorCode::kSyntax, "the Dockerfile has no FROM instruction", SourceLocation{df_.file_name, 1, 1}, 0};
    internal::StageScope* scope = nullptr;
    for (; i < df_.instructions.size(); ++i) {
      const auto& ins = df_.instructions[i];
      if (ins.keyword == "from") {
        scope = CB_TRY(From(ins));
      } else if (ins.keyword == "arg") {
        CB_TRY(StageArg(*scope, ins));
      } else {
        plan_.stages.back().steps.push_back(CB_TRY(internal::LowerInstruction(*scope, ins)));
      }
    }
    CB_TRY(ChooseTarget());
    Number();
    WarnUnusedArgs();
    return std::move(plan_);
  }

 private:
  void CollectStageNames() {
    for (const auto& ins : df_.instructions) {
      if (ins.keyword != "from") continue;
      std::string name;
      if (ins.args.size() == 3) {
        name = ins.args[2];
        std::transform(name.begin(), name.end(), name.begin(), ::tolower);
      }
      names_.push_back(name);
    }
  }

  parser::EnvLookup GlobalLookup() const {
    return [this](std::string_view n) -> std::optional<std::string> {
      auto it = global_.find(std::string(n));
      if (it != global_.end()) return it->second;
      auto p = predefined_.find(std::string(n));
      if (p != predefined_.end()) return p->second;
      return std::nullopt;
    };
  }

  Status GlobalArg(const ast::Instruction& ins) {
    if (ins.keyword != "arg")
      return At(df_, ins, fmt::format("{} before the first FROM (only ARG may come before it)",
                                      internal::DisplayText(ins).substr(0, ins.keyword.size())));
    for (auto& [name, def] : CB_TRY(ArgDecls(df_, ins, GlobalLookup()))) {
      auto b = opts_.build_args.find(name);
      if (b != opts_.build_args.end()) {
        def = b->second;
        used_.insert(name);
      }
      global_[name] = def;
    }
    return Ok();
  }

  Status StageArg(internal::StageScope& scope, const ast::Instruction& ins) {
    for (auto& [name, def] : CB_TRY(ArgDecls(df_, ins, scope.Lookup()))) {
      auto b = opts_.build_args.find(name);
      if (b != opts_.build_args.end()) {
        def = b->second;
        used_.insert(name);
      } else if (!def) {
        if (auto g = global_.find(name); g != global_.end()) {
          def = g->second;
        } else if (auto p = predefined_.find(name); p != predefined_.end()) {
          def = p->second;
        }
      }
      scope.args.emplace_back(name, def);
    }
    return Ok();
  }

  Result<internal::StageScope*> From(const ast::Instruction& ins) {
    if (ins.args.empty() || !(ins.args.size() == 1 || (ins.args.size() == 3 && (ins.args[1] == "AS" || ins.args[1] == "as" || ins.args[1] == "As" || ins.args[1] == "aS"))))
      return At(df_, ins, "FROM requires `IMAGE [AS NAME]`");
    auto flags = CB_TRY(parser::ParseFlags(df_, ins));
    Stage st;
    st.index = static_cast<int>(plan_.stages.size());
    st.name = names_[st.index];
    auto ref = parser::ExpandWord(ins.args[0], GlobalLookup(), df_.escape);
    if (!ref) return At(df_, ins, ref.error().message);
    if (ref->empty()) return At(df_, ins, "FROM: the base image name is empty after expansion");
    st.base_ref = *ref;
    if (auto p = flags.find("platform"); p != flags.end()) {
      auto pv = parser::ExpandWord(p->second, GlobalLookup(), df_.escape);
      if (pv && *pv != opts_.platform && *pv != "$BUILDPLATFORM" && *pv != "$TARGETPLATFORM")
        plan_.warnings.push_back(fmt::format("FROM --platform={} ignored: building for {}", *pv, opts_.platform));
    }
    scopes_.push_back(std::make_unique<internal::StageScope>());
    internal::StageScope& scope = *scopes_.back();
    scope.df = &df_;
    scope.opts = &opts_;
    scope.stage_names = &names_;
    scope.stage_index = st.index;
    std::string lower = st.base_ref;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    int base_stage = -1;
    for (int i = 0; i < st.index; ++i)
      if (!names_[i].empty() && names_[i] == lower) base_stage = i;
    std::vector<std::string> triggers;
    if (base_stage >= 0) {
      st.base_stage = base_stage;
      st.deps.insert(base_stage);
      const Stage& b = plan_.stages[base_stage];
      scope.config = b.steps.back().config;
      scope.author = b.steps.back().author;
    } else if (lower == "scratch") {
      st.scratch = true;
      // BuildKit gives images built from scratch the default PATH.
      scope.config.env = {env::DefaultPathEntry()};
    } else {
      if (!opts_.resolve) return At(df_, ins, "FROM: no image resolver");
      auto base = opts_.resolve(st.base_ref);
      if (!base) return At(df_, ins, fmt::format("FROM {}: {}", st.base_ref, base.error().message));
      st.base = *base;
      scope.config = base->config;
      scope.author = base->author;
      triggers = scope.config.on_build;
    }
    scope.config.on_build.clear();  // triggers run here and are not inherited further
    Step s;
    s.kind = StepKind::kFrom;
    s.key_inputs.kind = base_stage >= 0 ? KeyKind::kStage : st.scratch ? KeyKind::kScratch : KeyKind::kImage;
    s.key_inputs.base_image = st.base.digest;
    s.text = internal::DisplayText(ins);
    s.loc = SourceLocation{df_.file_name, ins.range.start_line, ins.col};
    s.range = ins.range;
    s.config = scope.config;
    s.author = scope.author;
    st.steps.push_back(s);
    plan_.stages.push_back(std::move(st));
    scope.deps = &plan_.stages.back().deps;
    CB_TRY(RunTriggers(scope, ins, triggers));
    return &scope;
  }

  /// ONBUILD triggers of the base image run right after FROM, located at the FROM line.
  Status RunTriggers(internal::StageScope& scope, const ast::Instruction& from, const std::vector<std::string>& triggers) {
    for (const auto& t : triggers) {
      auto parsed = parser::Parse(t + "\n", df_.file_name);
      if (!parsed || parsed->instructions.size() != 1)
        return At(df_, from, fmt::format("invalid ONBUILD trigger `{}` in the base image", t));
      ast::Instruction ins = parsed->instructions[0];
      ins.range = from.range;
      ins.col = from.col;
      if (ins.keyword == "from" || ins.keyword == "onbuild" || ins.keyword == "maintainer")
        return At(df_, from, fmt::format("ONBUILD trigger `{}` is not allowed", t));
      if (ins.keyword == "arg") {
        CB_TRY(StageArg(scope, ins));
        continue;
      }
      plan_.stages.back().steps.push_back(CB_TRY(internal::LowerInstruction(scope, ins)));
    }
    return Ok();
  }

  Status ChooseTarget() {
    plan_.target = static_cast<int>(plan_.stages.size()) - 1;
    if (!opts_.target.empty()) {
      std::string t = opts_.target;
      std::transform(t.begin(), t.end(), t.begin(), ::tolower);
      auto it = std::find_if(plan_.stages.begin(), plan_.stages.end(), [&](const Stage& s) { return s.name == t; });
      if (it == plan_.stages.end())
        return MakeError(ErrorCode::kInvalidArgument, "target stage `{}` could not be found", opts_.target);
      plan_.target = it->index;
    }
    MarkNeeded(plan_.target);
    return Ok();
  }

  void MarkNeeded(int i) {
    if (plan_.stages[i].needed) return;
    plan_.stages[i].needed = true;
    for (int d : plan_.stages[i].deps) MarkNeeded(d);
  }

  void Number() {
    int n = 0;
    for (auto& st : plan_.stages) {
      int i = 0;
      for (auto& s : st.steps) {
        s.index_in_stage = ++i;
        if (st.needed) s.number = ++n;
      }
    }
    plan_.total_steps = n;
  }

  void WarnUnusedArgs() {
    std::vector<std::string> unused;
    for (const auto& [k, v] : opts_.build_args)
      if (!used_.count(k) && !IsProxyArg(k) && !predefined_.count(k)) unused.push_back(k);
    if (!unused.empty()) {
      std::string list;
      for (const auto& u : unused) list += (list.empty() ? "" : " ") + u;
      plan_.warnings.push_back(fmt::format("one or more build-args [{}] were not consumed", list));
    }
  }

  const ast::Dockerfile& df_;
  const LowerOptions& opts_;
  Plan plan_;
  std::vector<std::string> names_;
  std::map<std::string, std::optional<std::string>> global_;
  std::map<std::string, std::string> predefined_;
  std::set<std::string> used_;
  std::vector<std::unique_ptr<internal::StageScope>> scopes_;
};

}  // namespace

bool IsProxyArg(const std::string& name) {
  return std::any_of(std::begin(kProxyArgs), std::end(kProxyArgs), [&](const char* p) { return name == p; });
}

Result<Plan> Lower(const ast::Dockerfile& df, const LowerOptions& opts) { return Lowerer(df, opts).Run(); }

}  // namespace cb::planner
