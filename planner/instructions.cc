// Lowering of each instruction after FROM: expansion, flags, config changes, key material.
#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "common/path.h"
#include "common/env_list.h"
#include "planner/lowering.h"

namespace cb::planner::internal {
namespace {

std::string Upper(const std::string& s) {
  std::string out = s;
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::vector<std::string> DefaultShell() { return {"/bin/sh", "-c"}; }

std::vector<std::string> ShellOf(const StageScope& s) { return s.config.shell ? *s.config.shell : DefaultShell(); }

/// Go-style duration ("1m30s", "500ms", "2h") → nanoseconds.
std::optional<int64_t> ParseDuration(const std::string& s) {
  if (s == "0") return 0;
  int64_t total = 0;
  size_t i = 0;
  if (s.empty()) return std::nullopt;
  while (i < s.size()) {
    size_t j = i;
    while (j < s.size() && (std::isdigit(static_cast<unsigned char>(s[j])) || s[j] == '.')) ++j;
    if (j == i) return std::nullopt;
    double v = std::strtod(s.substr(i, j - i).c_str(), nullptr);
    size_t k = j;
    while (k < s.size() && std::isalpha(static_cast<unsigned char>(s[k]))) ++k;
    std::string unit = s.substr(j, k - j);
    double mul;
    if (unit == "ns") mul = 1;
    else if (unit == "us" || unit == "µs") mul = 1e3;
    else if (unit == "ms") mul = 1e6;
    else if (unit == "s") mul = 1e9;
    else if (unit == "m") mul = 60e9;
    else if (unit == "h") mul = 3600e9;
    else return std::nullopt;
    total += static_cast<int64_t>(v * mul);
    i = k;
  }
  return total;
}

/// ENV and LABEL arrive as (key, value, separator) triples.
Result<std::vector<std::pair<std::string, std::string>>> Pairs(StageScope& s, const ast::Instruction& ins) {
  if (ins.args.empty() || ins.args.size() % 3 != 0)
    return At(*s.df, ins, fmt::format("{} requires at least one key=value pair", Upper(ins.keyword)));
  std::vector<std::pair<std::string, std::string>> out;
  for (size_t i = 0; i + 2 < ins.args.size(); i += 3) {
    std::string k = CB_TRY(s.Expand(ins, ins.args[i]));
    std::string v = CB_TRY(s.Expand(ins, ins.args[i + 1]));
    if (k.empty()) return At(*s.df, ins, fmt::format("{}: empty key", Upper(ins.keyword)));
    out.emplace_back(k, v);
  }
  return out;
}

/// Command words: exec form as is, shell form wrapped in SHELL.
std::vector<std::string> CommandLine(const StageScope& s, const ast::Instruction& ins) {
  if (ins.json) return ins.args;
  std::vector<std::string> argv = ShellOf(s);
  std::string cmd;
  for (const auto& a : ins.args) cmd += (cmd.empty() ? "" : " ") + a;
  argv.push_back(cmd);
  return argv;
}

Status Env(StageScope& s, const ast::Instruction& ins, Step& st) {
  std::string hist;
  for (const auto& [k, v] : CB_TRY(Pairs(s, ins))) {
    env::Set(s.config.env, k, v);  // in place, as BuildKit does (PATH stays first)
    hist += (hist.empty() ? "" : " ") + k + "=" + v;
  }
  st.created_by = "ENV " + hist;
  return Ok();
}

Status Label(StageScope& s, const ast::Instruction& ins, Step& st) {
  std::string hist;
  for (const auto& [k, v] : CB_TRY(Pairs(s, ins))) {
    s.config.labels[k] = v;
    hist += (hist.empty() ? "" : " ") + k + "=" + v;
  }
  st.created_by = "LABEL " + hist;
  return Ok();
}

Status Expose(StageScope& s, const ast::Instruction& ins, Step& st) {
  if (ins.args.empty()) return At(*s.df, ins, "EXPOSE requires at least one argument");
  std::vector<std::string> ports;
  for (const auto& a : ins.args) {
    for (const auto& w : CB_TRY(parser::ExpandWords(a, s.Lookup(), s.df->escape))) {
      std::string p = w.find('/') == std::string::npos ? w + "/tcp" : w;
      std::string num = p.substr(0, p.find('/'));
      std::string proto = p.substr(p.find('/') + 1);
      if (num.empty() || num.find_first_not_of("0123456789-") != std::string::npos ||
          (proto != "tcp" && proto != "udp" && proto != "sctp"))
        return At(*s.df, ins, fmt::format("EXPOSE: invalid port `{}`", w));
      std::transform(proto.begin(), proto.end(), proto.begin(), ::tolower);
      p = num + "/" + proto;
      if (std::find(s.config.exposed_ports.begin(), s.config.exposed_ports.end(), p) == s.config.exposed_ports.end())
        s.config.exposed_ports.push_back(p);
      ports.push_back(p);
    }
  }
  std::sort(s.config.exposed_ports.begin(), s.config.exposed_ports.end());
  std::string list;
  for (const auto& p : ports) list += (list.empty() ? "" : " ") + p;
  st.created_by = "EXPOSE map[" + [&] {
    std::string m;
    for (const auto& p : ports) m += (m.empty() ? "" : " ") + p + ":{}";
    return m;
  }() + "]";
  return Ok();
}

Status Volume(StageScope& s, const ast::Instruction& ins, Step& st) {
  std::vector<std::string> vols;
  for (const auto& a : ins.args) {
    if (ins.json) {
      vols.push_back(CB_TRY(s.Expand(ins, a)));
    } else {
      for (const auto& w : CB_TRY(parser::ExpandWords(a, s.Lookup(), s.df->escape))) vols.push_back(w);
    }
  }
  if (vols.empty()) return At(*s.df, ins, "VOLUME requires at least one argument");
  for (const auto& v : vols) {
    if (v.empty()) return At(*s.df, ins, "VOLUME: an empty path");
    if (std::find(s.config.volumes.begin(), s.config.volumes.end(), v) == s.config.volumes.end())
      s.config.volumes.push_back(v);
  }
  std::sort(s.config.volumes.begin(), s.config.volumes.end());
  std::string list;
  for (const auto& v : vols) list += (list.empty() ? "" : " ") + v;
  st.created_by = "VOLUME [" + list + "]";
  return Ok();
}

Status Healthcheck(StageScope& s, const ast::Instruction& ins, const parser::FlagValues& flags, Step& st) {
  if (ins.args.empty()) return At(*s.df, ins, "HEALTHCHECK requires CMD or NONE");
  std::string kind = Upper(ins.args[0]);
  image::HealthConfig hc;
  if (kind == "NONE") {
    if (ins.args.size() > 1 || !flags.empty()) return At(*s.df, ins, "HEALTHCHECK NONE takes no arguments");
    hc.test = {"NONE"};
  } else if (kind == "CMD") {
    std::vector<std::string> rest(ins.args.begin() + 1, ins.args.end());
    if (rest.empty()) return At(*s.df, ins, "HEALTHCHECK CMD requires a command");
    if (ins.json) {
      hc.test = {"CMD"};
      hc.test.insert(hc.test.end(), rest.begin(), rest.end());
    } else {
      std::string cmd;
      for (const auto& a : rest) cmd += (cmd.empty() ? "" : " ") + a;
      hc.test = {"CMD-SHELL", cmd};
    }
    for (const auto& [name, value] : flags) {
      if (name == "retries") {
        char* end = nullptr;
        long r = std::strtol(value.c_str(), &end, 10);
        if (value.empty() || *end || r < 0) return At(*s.df, ins, fmt::format("HEALTHCHECK: invalid --retries `{}`", value));
        hc.retries = static_cast<int>(r);
        continue;
      }
      auto d = ParseDuration(value);
      if (!d || *d < 0) return At(*s.df, ins, fmt::format("HEALTHCHECK: invalid duration --{}={}", name, value));
      if (*d != 0 && *d < 1000000) return At(*s.df, ins, fmt::format("HEALTHCHECK: --{} must be at least 1ms", name));
      if (name == "interval") hc.interval = *d;
      if (name == "timeout") hc.timeout = *d;
      if (name == "start-period") hc.start_period = *d;
      if (name == "start-interval") hc.start_interval = *d;
    }
  } else {
    return At(*s.df, ins, fmt::format("HEALTHCHECK: unknown type `{}` (want CMD or NONE)", ins.args[0]));
  }
  s.config.healthcheck = hc;
  st.created_by = "HEALTHCHECK " + GoQuoted(hc.test);
  return Ok();
}

/// Config-only instructions. Returns false when `ins` is not one of them.
Result<bool> ConfigInstruction(StageScope& s, const ast::Instruction& ins, const parser::FlagValues& flags,
                               Step& st) {
  const std::string& k = ins.keyword;
  if (k == "env") {
    CB_TRY(Env(s, ins, st));
  } else if (k == "label") {
    CB_TRY(Label(s, ins, st));
  } else if (k == "maintainer") {
    std::string who;
    for (const auto& a : ins.args) who += (who.empty() ? "" : " ") + a;
    s.author = who;
    st.created_by = "MAINTAINER " + who;
  } else if (k == "expose") {
    CB_TRY(Expose(s, ins, st));
  } else if (k == "volume") {
    CB_TRY(Volume(s, ins, st));
  } else if (k == "user") {
    if (ins.args.size() != 1) return At(*s.df, ins, "USER requires exactly one argument");
    s.config.user = CB_TRY(s.Expand(ins, ins.args[0]));
    st.created_by = "USER " + s.config.user;
  } else if (k == "stopsignal") {
    if (ins.args.size() != 1) return At(*s.df, ins, "STOPSIGNAL requires exactly one argument");
    s.config.stop_signal = CB_TRY(s.Expand(ins, ins.args[0]));
    st.created_by = "STOPSIGNAL " + s.config.stop_signal;
  } else if (k == "shell") {
    if (!ins.json || ins.args.empty()) return At(*s.df, ins, "SHELL requires the arguments to be in JSON form");
    s.config.shell = ins.args;
    st.created_by = "SHELL " + GoQuoted(ins.args);
  } else if (k == "cmd") {
    s.config.cmd = CommandLine(s, ins);
    s.cmd_set = true;
    st.created_by = "CMD " + GoQuoted(*s.config.cmd);
  } else if (k == "entrypoint") {
    s.config.entrypoint = CommandLine(s, ins);
    if (!ins.json && ins.args.empty()) s.config.entrypoint.reset();
    if (!s.cmd_set) s.config.cmd.reset();  // a base image's CMD does not survive a new ENTRYPOINT
    st.created_by = "ENTRYPOINT " + GoQuoted(s.config.entrypoint.value_or(std::vector<std::string>{}));
  } else if (k == "healthcheck") {
    CB_TRY(Healthcheck(s, ins, flags, st));
  } else if (k == "onbuild") {
    if (!ins.onbuild) return At(*s.df, ins, "ONBUILD requires an instruction");
    std::string trig = DisplayText(*ins.onbuild);
    s.config.on_build.push_back(trig);
    st.created_by = "ONBUILD " + trig;
  } else {
    return false;
  }
  return true;
}

}  // namespace

Step Base(const StageScope& s, const ast::Instruction& ins, StepKind kind) {
  Step st;
  st.kind = kind;
  st.text = DisplayText(ins);
  st.loc = SourceLocation{s.df->file_name, ins.range.start_line, ins.col};
  st.range = ins.range;
  return st;
}

Result<Step> LowerRun(StageScope& s, const ast::Instruction& ins, const parser::FlagValues& flags);

Result<Step> LowerInstruction(StageScope& s, const ast::Instruction& ins) {
  const std::string& k = ins.keyword;
  const parser::FlagValues flags = CB_TRY(parser::ParseFlags(*s.df, ins));
  Step st;
  if (k == "run") {
    st = CB_TRY(LowerRun(s, ins, flags));
  } else if (k == "copy" || k == "add") {
    st = CB_TRY(LowerCopy(s, ins, flags));
  } else if (k == "workdir") {
    if (ins.args.size() != 1) return At(*s.df, ins, "WORKDIR requires exactly one argument");
    st = Base(s, ins, StepKind::kWorkdir);
    std::string dir = CB_TRY(s.Expand(ins, ins.args[0]));
    s.config.working_dir = path::Resolve(s.config.working_dir, dir);
    st.workdir = s.config.working_dir;
    st.created_by = "WORKDIR " + st.workdir;
    st.user = s.config.user;
    st.key_inputs.kind = KeyKind::kWorkdir;
    st.key_inputs.workdir = st.workdir;
    st.key_inputs.user = st.user;
  } else {
    st = Base(s, ins, StepKind::kConfig);
    if (!CB_TRY(ConfigInstruction(s, ins, flags, st)))
      return At(*s.df, ins, fmt::format("unknown instruction: {}", Upper(k)));
    st.key_inputs.kind = KeyKind::kConfig;
    st.key_inputs.created_by = st.created_by;
  }
  st.config = s.config;
  st.author = s.author;
  return st;
}

Result<Step> LowerRun(StageScope& s, const ast::Instruction& ins, const parser::FlagValues& flags) {
  Step st = Base(s, ins, StepKind::kRun);
  if (flags.count("device")) return At(*s.df, ins, "RUN --device: CDI devices are not supported by cbuild");
  if (ins.args.empty()) return At(*s.df, ins, "RUN requires a command");
  if (!ins.heredocs.empty() && !ins.json) {
    std::string first = ins.args.size() == 1 ? ins.args[0] : "";
    bool script_only = first.rfind("<<", 0) == 0 && first.find_first_of(" \t") == std::string::npos &&
                       ins.heredocs.size() == 1;
    if (script_only) {
      // `RUN <<EOF` alone: the heredoc is the script, run by the shell.
      st.argv = ShellOf(s);
      st.argv.push_back(ins.heredocs[0].content);
    } else {
      // `RUN cmd <<EOF`: the shell sees the command with its heredoc bodies, as written.
      std::string cmd;
      for (const auto& a : ins.args) cmd += (cmd.empty() ? "" : " ") + a;
      for (const auto& h : ins.heredocs) cmd += "\n" + h.content + h.name;
      st.argv = ShellOf(s);
      st.argv.push_back(cmd);
    }
  } else {
    st.argv = CommandLine(s, ins);
  }
  if (s.opts) st.network = s.opts->network;
  for (const auto& [name, value] : flags) {
    if (name == "network") {
      std::string n = CB_TRY(s.Expand(ins, value));
      auto mode = ParseNetworkMode(n);
      if (!mode) return At(*s.df, ins, fmt::format("RUN --network: `{}` is not one of default, none, host", n));
      st.network = *mode;
    } else if (name == "security") {
      if (value != "sandbox") return At(*s.df, ins, fmt::format("RUN --security={} is not allowed", value));
    }
  }
  st.mounts = CB_TRY(ParseMounts(s, ins, flags));
  st.env = s.RunEnv();
  st.user = s.config.user;
  std::string shown;
  for (const auto& a : st.argv) shown += (shown.empty() ? "" : " ") + a;
  st.created_by = "RUN " + s.ArgsPrefix() + shown + " # buildkit";
  StepKeyInputs& k = st.key_inputs;
  k.kind = KeyKind::kRun;
  k.argv = st.argv;
  for (const auto& kv : st.env)
    if (!IsProxyArg(std::string(env::NameOf(kv)))) k.env.push_back(kv);
  k.workdir = s.config.working_dir;
  k.user = st.user;
  k.network = st.network;
  for (const auto& m : st.mounts)
    k.mounts.push_back({m.type, m.target, m.source, m.from, m.id, m.sharing, m.readwrite, m.mode, m.uid, m.gid, m.env,
                        m.size});
  return st;
}

}  // namespace cb::planner::internal
