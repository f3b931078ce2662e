// Lowering of COPY / ADD and of RUN --mount flags.
#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "common/key_value.h"
#include "common/path.h"
#include "planner/dockerignore.h"
#include "planner/lowering.h"

namespace cb::planner::internal {
namespace {

std::optional<unsigned> ParseOctal(const std::string& s) {
  if (s.empty() || s.size() > 5 || s.find_first_not_of("01234567") != std::string::npos) return std::nullopt;
  return static_cast<unsigned>(std::strtoul(s.c_str(), nullptr, 8));
}

std::optional<unsigned> ParseUint(const std::string& s) {
  if (s.empty() || s.size() > 10 || s.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  return static_cast<unsigned>(std::strtoul(s.c_str(), nullptr, 10));
}

bool Truthy(const std::string& v) { return v.empty() || v == "true" || v == "1"; }

Status MountField(StageScope& s, const ast::Instruction& ins, RunMount& m, const std::string& k,
                  const std::string& v) {
  auto bad = [&](const char* what) {
    return At(*s.df, ins, fmt::format("RUN --mount: invalid {} `{}`", what, v));
  };
  if (k == "type") {
    auto t = ParseMountType(v);
    if (!t) return bad("type");
    m.type = *t;
  } else if (k == "target" || k == "dst" || k == "destination") {
    m.target = v;
  } else if (k == "source" || k == "src") {
    m.source = v;
  } else if (k == "from") {
    m.from = v;
  } else if (k == "id") {
    m.id = v;
  } else if (k == "sharing") {
    auto sh = ParseMountSharing(v);
    if (!sh) return bad("sharing");
    m.sharing = *sh;
  } else if (k == "mode") {
    if (!(m.mode = ParseOctal(v))) return bad("mode");
  } else if (k == "uid") {
    if (!(m.uid = ParseUint(v))) return bad("uid");
  } else if (k == "gid") {
    if (!(m.gid = ParseUint(v))) return bad("gid");
  } else if (k == "ro" || k == "readonly") {
    m.readwrite = !Truthy(v);
  } else if (k == "rw" || k == "readwrite") {
    m.readwrite = Truthy(v);
  } else if (k == "required") {
    m.required = Truthy(v);
  } else if (k == "env") {
    m.env = v;
  } else if (k == "size") {
    // Bytes, or with a k/m/g suffix (binary units, as BuildKit's go-units RAMInBytes).
    std::string num = v;
    int64_t mul = 1;
    if (!num.empty() && std::string("kKmMgG").find(num.back()) != std::string::npos) {
      char u = static_cast<char>(std::tolower(static_cast<unsigned char>(num.back())));
      mul = u == 'k' ? 1024 : u == 'm' ? 1024 * 1024 : int64_t{1024} * 1024 * 1024;
      num.pop_back();
    } else if (num.size() > 2 && (num.substr(num.size() - 2) == "kb" || num.substr(num.size() - 2) == "mb")) {
      mul = num[num.size() - 2] == 'k' ? 1024 : 1024 * 1024;
      num.resize(num.size() - 2);
    }
    auto n = ParseUint(num);
    if (!n) return bad("size");
    m.size = static_cast<int64_t>(*n) * mul;
  } else {
    return At(*s.df, ins, fmt::format("RUN --mount: unknown option `{}`", k));
  }
  return Ok();
}

}  // namespace

Result<std::vector<RunMount>> ParseMounts(StageScope& s, const ast::Instruction& ins,
                                          const parser::FlagValues& flags) {
  std::vector<RunMount> out;
  auto range = flags.equal_range("mount");
  for (auto it = range.first; it != range.second; ++it) {
    RunMount m;
    for (const auto& [k, raw] : SplitFields(it->second)) {
      std::string v = CB_TRY(s.Expand(ins, raw.value_or("")));
      CB_TRY(MountField(s, ins, m, k, v));
    }
    if (m.target.empty() && m.type != MountType::kSecret && m.type != MountType::kSsh)
      return At(*s.df, ins, "RUN --mount: target is required");
    if (m.type == MountType::kSecret) {
      if (m.id.empty()) m.id = m.target.empty() ? "" : m.target.substr(m.target.rfind('/') + 1);
      if (m.id.empty()) return At(*s.df, ins, "RUN --mount=type=secret: id or target is required");
      if (m.target.empty() && m.env.empty()) m.target = "/run/secrets/" + m.id;
    }
    if (m.type == MountType::kCache && m.id.empty()) m.id = m.target;
    if (!m.target.empty()) m.target = path::Resolve(s.config.working_dir, m.target);
    if (!m.from.empty()) {
      m.from_stage = CB_TRY(s.StageRef(ins, m.from));
      if (m.from_stage >= 0) s.deps->insert(m.from_stage);
    }
    out.push_back(std::move(m));
  }
  return out;
}

namespace {

/// The flags' values (names and bool values checked by the flag table).
Status CopyFlags(StageScope& s, const ast::Instruction& ins, const parser::FlagValues& flags, CopySpec& c) {
  for (const auto& [name, raw] : flags) {
    std::string v = CB_TRY(s.Expand(ins, raw));
    if (name == "from") {
      c.from = v;
      c.from_stage = CB_TRY(s.StageRef(ins, v));
      if (c.from_stage >= 0) s.deps->insert(c.from_stage);
    } else if (name == "chown") {
      c.chown = v;
    } else if (name == "chmod") {
      c.chmod = ParseOctal(v);
      if (!c.chmod) return At(*s.df, ins, fmt::format("invalid --chmod `{}`: want an octal mode", v));
    } else if (name == "link") {
      c.link = Truthy(v);
    } else if (name == "parents") {
      c.parents = Truthy(v);
    } else if (name == "exclude") {
      c.excludes.push_back(v);
    } else if (name == "checksum") {
      c.checksum = v;
    } else if (name == "keep-git-dir") {
      c.keep_git_dir = Truthy(v);
    }
  }
  return Ok();
}

/// URL sources and --checksum, with BuildKit's rules and messages.
Status CheckRemoteSources(StageScope& s, const ast::Instruction& ins, const CopySpec& c) {
  for (const auto& src : c.sources)
    if (!c.add && IsRemoteUrl(src)) return At(*s.df, ins, fmt::format("source can't be a URL for COPY (`{}`); use ADD", src));
  if (c.checksum.empty()) return Ok();
  if (c.sources.size() + c.heredocs.size() != 1) return At(*s.df, ins, "checksum can't be specified for multiple sources");
  if (c.sources.empty() || !IsRemoteUrl(c.sources[0]))
    return At(*s.df, ins, "checksum can't be specified for non-HTTP(S) sources");
  if (!Digest::Parse(c.checksum))
    return At(*s.df, ins, fmt::format("invalid --checksum `{}`: want sha256:<64 lowercase hex digits>", c.checksum));
  return Ok();
}

/// ADD --unpack: cbuild does what BuildKit does by default (local archives unpacked, downloads
/// kept as they are); asking for the other behaviour is an error rather than ignored.
Status CheckUnpack(StageScope& s, const ast::Instruction& ins, const parser::FlagValues& flags, const CopySpec& c) {
  auto u = flags.find("unpack");
  if (u == flags.end()) return Ok();
  for (const auto& src : c.sources) {
    bool remote = IsRemoteUrl(src);
    if (remote && u->second == "true")
      return At(*s.df, ins, fmt::format("ADD --unpack=true: `{}`: cbuild does not unpack downloaded archives", src));
    if (!remote && u->second == "false")
      return At(*s.df, ins, fmt::format("ADD --unpack=false: `{}`: cbuild always unpacks local archives", src));
  }
  return Ok();
}

/// --link as BuildKit applies it: not with --chmod (BuildKit then copies onto the stage as
/// usual), and --chown only with numeric ids or root, since the layer is written without the
/// image's /etc/passwd and /etc/group.
Status LinkRules(StageScope& s, const ast::Instruction& ins, CopySpec& c) {
  if (!c.link) return Ok();
  if (c.chmod) {
    c.link = false;
    return Ok();
  }
  if (c.chown.empty()) return Ok();
  std::string user = c.chown.substr(0, c.chown.find(':'));
  std::string group = c.chown.find(':') == std::string::npos ? "" : c.chown.substr(c.chown.find(':') + 1);
  auto numeric = [](std::string& v) {
    if (v == "root") v = "0";
    return v.empty() || v.find_first_not_of("0123456789") == std::string::npos;
  };
  if (!numeric(user) || !numeric(group))
    return At(*s.df, ins, fmt::format("--link with --chown=`{}`: a linked layer is written without the image's "
                                      "/etc/passwd and /etc/group, so use numeric ids", c.chown));
  c.chown = group.empty() ? user : user + ":" + group;
  return Ok();
}

}  // namespace

Result<Step> LowerCopy(StageScope& s, const ast::Instruction& ins, const parser::FlagValues& flags) {
  Step st = Base(s, ins, StepKind::kCopy);
  CopySpec& c = st.copy;
  c.add = ins.keyword == "add";
  CB_TRY(CopyFlags(s, ins, flags, c));
  if (ins.args.size() < 2)
    return At(*s.df, ins, fmt::format("{} requires at least two arguments: SOURCE... DEST", c.add ? "ADD" : "COPY"));
  for (size_t i = 0; i + 1 < ins.args.size(); ++i) {
    const std::string& a = ins.args[i];
    if (a.rfind("<<", 0) == 0 && !ins.heredocs.empty()) {
      std::string name = a.substr(a.find_first_not_of("<-"));
      auto h = std::find_if(ins.heredocs.begin(), ins.heredocs.end(), [&](const ast::Heredoc& d) {
        return d.name == name || "'" + d.name + "'" == name || "\"" + d.name + "\"" == name;
      });
      if (h != ins.heredocs.end()) {
        ast::Heredoc doc = *h;
        if (doc.expand) {
          parser::ShellLexOptions o;
          o.escape = s.df->escape;
          o.skip_process_quotes = true;  // quotes in a heredoc body are plain text
          auto r = parser::ProcessShellWord(doc.content, s.Lookup(), o);
          if (!r) return At(*s.df, ins, r.error().message);
          doc.content = r->word;
        }
        c.heredocs.push_back(doc);
        continue;
      }
    }
    std::string src = CB_TRY(s.Expand(ins, a));
    if (src.empty()) return At(*s.df, ins, "an empty source path");
    c.sources.push_back(src);
  }
  CB_TRY(CheckRemoteSources(s, ins, c));
  if (!c.excludes.empty()) {
    // Matched as .dockerignore patterns when the step runs: a bad one is a Dockerfile error now.
    auto m = IgnoreMatcher::FromLines(c.excludes);
    if (!m) return At(*s.df, ins, fmt::format("--exclude: {}", m.error().message));
  }
  CB_TRY(CheckUnpack(s, ins, flags, c));
  CB_TRY(LinkRules(s, ins, c));
  std::string dest = CB_TRY(s.Expand(ins, ins.args.back()));
  bool dir = !dest.empty() && (dest.back() == '/' || dest == "." || (dest.size() >= 2 && dest.substr(dest.size() - 2) == "/."));
  c.dest = path::Resolve(s.config.working_dir, dest);
  if (dir && c.dest != "/") c.dest += "/";
  st.created_by = st.text + " # buildkit";
  StepKeyInputs& k = st.key_inputs;
  k.kind = KeyKind::kCopy;
  k.add = c.add;
  k.sources = c.sources;
  k.dest = c.dest;
  k.from = c.from_stage >= 0 ? fmt::format("stage:{}", c.from_stage) : c.from;
  if (c.from_stage < 0 && !c.from.empty()) {
    if (!s.opts->resolve) return At(*s.df, ins, "COPY --from: no image resolver");
    auto img = s.opts->resolve(c.from);
    if (!img) return At(*s.df, ins, fmt::format("COPY --from={}: {}", c.from, img.error().message));
    k.from = img->digest.ToString();
  }
  k.chown = c.chown;
  k.chmod = c.chmod;
  k.link = c.link;
  k.parents = c.parents;
  k.keep_git_dir = c.keep_git_dir;
  k.excludes = c.excludes;
  k.checksum = c.checksum;
  for (const auto& h : c.heredocs) k.heredocs.emplace_back(h.name, h.content);
  st.user = s.config.user;
  return st;
}

}  // namespace cb::planner::internal

namespace cb::planner {

bool IsRemoteUrl(const std::string& src) { return src.rfind("http://", 0) == 0 || src.rfind("https://", 0) == 0; }

std::string RedactUrl(const std::string& url) {
  size_t sep = url.find("://");
  if (sep == std::string::npos) return url;
  size_t end = url.find_first_of("/?#", sep + 3);
  size_t at = url.rfind('@', end == std::string::npos ? std::string::npos : end);
  if (at == std::string::npos || at < sep + 3) return url;
  return url.substr(0, sep + 3) + "xxxxx" + url.substr(at);
}

}  // namespace cb::planner
