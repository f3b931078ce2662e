#include "planner/cache_key.h"

#include <initializer_list>
#include <string_view>

#include <fmt/format.h>

namespace cb::planner {
namespace {

// Bump on any change of what follows (and regenerate testdata/golden/keys.json): every
// user's cache then misses once instead of a key silently meaning something else.
constexpr std::string_view kCacheVersion = "cbuild-cache-v2";

/// The version tag, then each part preceded by a NUL.
Digest KeyOf(std::initializer_list<std::string_view> parts) {
  Sha256 h;
  h.Update(kCacheVersion);
  for (auto p : parts) {
    h.Update("\0", 1);
    h.Update(p);
  }
  return h.Finish();
}

/// Fields each followed by a NUL (the order is fixed by the caller).
std::string Material(std::initializer_list<std::string_view> fields) {
  std::string out;
  for (auto f : fields) {
    out += f;
    out.push_back('\0');
  }
  return out;
}

/// A list, each item followed by a unit separator.
std::string JoinList(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) {
    out += s;
    out.push_back('\x1f');
  }
  return out;
}

std::string Opt(const std::optional<unsigned>& v) { return v ? std::to_string(*v) : std::string(); }

std::string MountMaterial(const MountKeyInputs& m) {
  return Material({std::string(FormatMountType(m.type)), m.target, m.source, m.from, m.id,
                   std::string(FormatMountSharing(m.sharing)), m.readwrite ? "rw" : "ro", Opt(m.mode),
                   Opt(m.uid), Opt(m.gid), m.env, std::to_string(m.size)});
}

std::string UrlMaterial(const UrlKeyInputs& u) {
  std::string out = "url";
  for (const std::string& part : {u.url, u.content.ToString(), u.last_modified}) {
    out.push_back('\0');
    out += part;
  }
  return out;
}

/// The instruction's part of the key.
std::string Instruction(const StepKeyInputs& in) {
  switch (in.kind) {
    case KeyKind::kWorkdir:
      return Material({"mkdir", in.workdir, in.user});
    case KeyKind::kRun: {
      std::string mounts;
      for (const auto& m : in.mounts) mounts += MountMaterial(m);
      return Material({"run", JoinList(in.argv), JoinList(in.env), in.workdir, in.user,
                       std::string(FormatNetworkMode(in.network)), mounts});
    }
    case KeyKind::kCopy: {
      std::string heredocs;
      for (const auto& [name, content] : in.heredocs) heredocs += Material({name, content});
      return Material({in.add ? "add" : "copy", JoinList(in.sources), in.dest, in.from, in.chown, Opt(in.chmod),
                       in.link ? "link" : "", in.parents ? "parents" : "", JoinList(in.excludes), in.checksum,
                       in.keep_git_dir ? "git" : "", heredocs});
    }
    default:
      return {};
  }
}

/// The content part of the key: what the step reads besides the filesystem below it.
std::string Content(const StepKeyInputs& in) {
  std::string out;
  if (in.kind == KeyKind::kCopy) {
    if (in.from_stage) return in.from_stage->ToString();
    for (const auto& u : in.urls) out += UrlMaterial(u);
    if (in.context) out += in.context->ToString();
  } else if (in.kind == KeyKind::kRun) {
    for (const auto& d : in.bind_sources) out += d.ToString();
  }
  return out;
}

}  // namespace

Digest KeyedParent(const StepKeyInputs& in) {
  // COPY/ADD --link (BuildKit's MergeOp): the layer is written onto an empty snapshot, so
  // neither it nor its key depends on the layers below.
  return in.kind == KeyKind::kCopy && in.link ? KeyOf({"link"}) : in.parent;
}

Digest StepKey(const StepKeyInputs& in) {
  switch (in.kind) {
    case KeyKind::kImage:
      return KeyOf({"from", in.base_image.ToString()});
    case KeyKind::kScratch:
      return KeyOf({"scratch"});
    case KeyKind::kStage:
      return in.parent;
    case KeyKind::kConfig:
      return KeyOf({"config", in.parent.ToString(), in.created_by});
    default:
      return KeyOf({KeyedParent(in).ToString(), Instruction(in), Content(in)});
  }
}

Digest LinkedKey(const Digest& below, const Digest& step) { return KeyOf({"linked", below.ToString(), step.ToString()}); }

Digest FilesystemKeyAfter(const StepKeyInputs& in, const Digest& step_key) {
  if (in.kind == KeyKind::kConfig) return in.parent;
  if (in.kind == KeyKind::kCopy && in.link) return LinkedKey(in.parent, step_key);
  return step_key;
}

Digest StepHistoryId(const std::string& context_dir, const std::string& dockerfile_name, int stage,
                     int index_in_stage) {
  return KeyOf({"explain", context_dir, dockerfile_name, std::to_string(stage), std::to_string(index_in_stage)});
}

const char* KeyKindName(KeyKind k) {
  switch (k) {
    case KeyKind::kImage: return "image";
    case KeyKind::kScratch: return "scratch";
    case KeyKind::kStage: return "stage";
    case KeyKind::kConfig: return "config";
    case KeyKind::kWorkdir: return "workdir";
    case KeyKind::kRun: return "run";
    case KeyKind::kCopy: return "copy";
  }
  return "?";
}

std::vector<KeyInputField> DescribeInputs(const StepKeyInputs& in) {
  std::vector<KeyInputField> out;
  auto one = [&](std::string name, std::string value) { out.push_back({std::move(name), {std::move(value)}, false}); };
  auto list = [&](std::string name, std::vector<std::string> values) {
    out.push_back({std::move(name), std::move(values), true});
  };
  auto flag = [&](const char* name, bool on) {
    if (on) one(name, "true");
  };
  switch (in.kind) {
    case KeyKind::kImage:
      one("base_image", in.base_image.ToString());
      return out;
    case KeyKind::kScratch:
      return out;
    case KeyKind::kStage:
      one("stage", in.parent.ToString());
      return out;
    case KeyKind::kConfig:
      one("parent", in.parent.ToString());
      one("created_by", in.created_by);
      return out;
    default:
      break;
  }
  one("parent", in.link ? "link" : in.parent.ToString());
  if (in.kind == KeyKind::kWorkdir) {
    one("workdir", in.workdir);
    one("user", in.user);
  } else if (in.kind == KeyKind::kRun) {
    list("argv", in.argv);
    list("env", in.env);
    one("workdir", in.workdir);
    one("user", in.user);
    one("network", std::string(FormatNetworkMode(in.network)));
    std::vector<std::string> mounts;
    for (const auto& m : in.mounts) {
      std::string s = fmt::format("type={},target={}", FormatMountType(m.type), m.target);
      for (const auto& [k, v] : {std::pair<const char*, std::string>{"source", m.source}, {"from", m.from},
                                 {"id", m.id}, {"env", m.env}})
        if (!v.empty()) s += fmt::format(",{}={}", k, v);
      if (m.type == MountType::kCache) s += fmt::format(",sharing={}", FormatMountSharing(m.sharing));
      if (m.readwrite) s += ",rw";
      if (m.mode) s += fmt::format(",mode={:o}", *m.mode);
      if (m.uid) s += fmt::format(",uid={}", *m.uid);
      if (m.gid) s += fmt::format(",gid={}", *m.gid);
      if (m.size) s += fmt::format(",size={}", m.size);
      mounts.push_back(std::move(s));
    }
    list("mounts", std::move(mounts));
    std::vector<std::string> binds;
    for (const auto& d : in.bind_sources) binds.push_back(d.ToString());
    list("bind_sources", std::move(binds));
  } else {
    one("instruction", in.add ? "add" : "copy");
    list("sources", in.sources);
    one("dest", in.dest);
    if (!in.from.empty()) one("from", in.from);
    if (!in.chown.empty()) one("chown", in.chown);
    if (in.chmod) one("chmod", fmt::format("{:o}", *in.chmod));
    flag("link", in.link);
    flag("parents", in.parents);
    flag("keep_git_dir", in.keep_git_dir);
    if (!in.excludes.empty()) list("excludes", in.excludes);
    if (!in.checksum.empty()) one("checksum", in.checksum);
    std::vector<std::string> docs;
    for (const auto& [name, content] : in.heredocs) docs.push_back(fmt::format("{} {}", name, Sha256Of(content).ToString()));
    if (!docs.empty()) list("heredocs", std::move(docs));
    std::vector<std::string> urls;
    for (const auto& u : in.urls)
      urls.push_back(u.last_modified.empty() ? fmt::format("{} {}", u.url, u.content.ToString())
                                             : fmt::format("{} {} last_modified={}", u.url, u.content.ToString(),
                                                           u.last_modified));
    if (!urls.empty()) list("urls", std::move(urls));
    if (in.context) one("context", in.context->ToString());
    if (in.from_stage) one("from_stage", in.from_stage->ToString());
  }
  return out;
}

}  // namespace cb::planner
