#include "executor/builder.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/rooted.h"
#include "executor/copy_op.h"
#include "executor/host_mount.h"
#include "parser/parser.h"
#include "planner/context_hasher.h"
#include "planner/plan.h"

namespace cb::executor {
namespace {

using planner::Step;
using planner::StepKind;

constexpr const char* kCacheVersion = "cbuild-cache-v1";

/// The image being assembled while a stage's steps run.
struct StageState {
  image::ImageConfig config;
  std::vector<image::Descriptor> layers;
  Digest fs_key;  ///< cache key of the filesystem state so far
};

Digest KeyOf(std::initializer_list<std::string_view> parts) {
  Sha256 h;
  h.Update(kCacheVersion);
  for (auto p : parts) {
    h.Update("\0", 1);
    h.Update(p);
  }
  return h.Finish();
}

std::string Joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) {
    out += s;
    out.push_back('\0');
  }
  return out;
}

std::vector<std::string> RunArgv(const Step& s) {
  if (s.exec_form) return s.args;
  return {"/bin/sh", "-c", s.args.empty() ? std::string() : s.args[0]};
}

std::string QuotedList(const std::vector<std::string>& v) {
  return nlohmann::json(v).dump();
}

/// Attaches the step's location (and "RUN ..." context) to an error.
Error AtStep(const Step& s, Error e) {
  if (!e.where) e.where = s.loc;
  return e;
}

struct Runner {
  Store& store;
  Sandbox& sandbox;
  Progress& progress;
  const BuildRequest& req;
  planner::ContextHasher& ctx;
  std::vector<StepReport>& reports;

  /// Writes the step's result into state; used both for cache hits and fresh runs.
  static void ApplyLayer(StageState& st, const std::optional<cache::LayerRecord>& layer,
                         const std::string& created_by) {
    image::HistoryEntry h;
    h.created_by = created_by;
    if (layer) {
      st.config.diff_ids.push_back(layer->diff_id);
      st.layers.push_back({layer->media_type, layer->blob, layer->blob_size, {}, std::nullopt});
    } else {
      h.empty_layer = true;
    }
    st.config.history.push_back(h);
  }

  /// A cache record, if usable: its layer's blob and snapshot must still be present.
  Result<std::optional<std::optional<cache::LayerRecord>>> Lookup(const Digest& key) {
    using Out = std::optional<std::optional<cache::LayerRecord>>;
    if (req.no_cache) return Out();
    auto rec = CB_TRY(store.meta().GetCacheRecord(key));
    if (!rec) return Out();
    auto j = nlohmann::json::parse(*rec, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return Out();
    if (!j.contains("diff_id")) return Out(std::optional<cache::LayerRecord>());
    auto diff_id = Digest::Parse(j.value("diff_id", ""));
    if (!diff_id) return Out();
    auto layer = CB_TRY(store.meta().GetLayer(*diff_id));
    if (!layer || layer->blob.empty() || !store.blobs().Has(layer->blob) || !store.snapshots().HasLayer(*diff_id))
      return Out();
    return Out(layer);
  }

  Status Record(const Digest& key, const std::optional<cache::LayerRecord>& layer) {
    nlohmann::json j = nlohmann::json::object();
    if (layer) j["diff_id"] = layer->diff_id.ToString();
    return store.meta().PutCacheRecord(key, j.dump());
  }

  /// Runs the sandboxed command, streaming its output lines to progress.
  Result<int> RunSandboxed(const Step& s, snapshotter::ActiveSnapshot& snap, const StageState& st) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return ErrnoError(errno, "pipe");
    UniqueFd rd(fds[0]), wr(fds[1]);
    SandboxSpec spec;
    spec.mounts = {snap.RootMount()};
    spec.rootfs_dir = snap.rootfs();
    spec.argv = RunArgv(s);
    spec.env = st.config.config.env;
    spec.cwd = st.config.config.working_dir.empty() ? "/" : st.config.config.working_dir;
    spec.stdout_fd = wr.get();
    spec.stderr_fd = wr.get();
    std::thread reader([&] {
      std::string buf;
      char chunk[4096];
      ssize_t n;
      while ((n = ::read(rd.get(), chunk, sizeof chunk)) > 0 || (n < 0 && errno == EINTR)) {
        if (n < 0) continue;
        buf.append(chunk, static_cast<size_t>(n));
        size_t nl;
        while ((nl = buf.find('\n')) != std::string::npos) {
          progress.Output(s.number, buf.substr(0, nl));
          buf.erase(0, nl + 1);
        }
      }
      if (!buf.empty()) progress.Output(s.number, buf);
    });
    auto status = sandbox.Run(spec);
    wr.reset();
    reader.join();
    if (!status) return std::move(status).error();
    return status->code;
  }

  /// Executes a step that changes the filesystem; returns its layer (nullopt if nothing changed).
  Result<std::optional<cache::LayerRecord>> Execute(const Step& s, StageState& st) {
    auto snap = CB_TRY(store.snapshots().Prepare(st.config.diff_ids));
    if (s.kind == StepKind::kRun) {
      int code = CB_TRY(RunSandboxed(s, *snap, st));
      if (code != 0) {
        std::vector<std::string> argv = RunArgv(s);
        std::string cmd;
        for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
        Error e = MakeError(ErrorCode::kStepFailed, "{}: process \"{}\" did not complete successfully: exit code: {}",
                            s.text, cmd, code);
        e.exit_code = code;
        return e;
      }
    } else {
      auto mnt = CB_TRY(ScopedMount::Mount(snap->RootMount(), snap->rootfs()));
      UniqueFd root = CB_TRY(rooted::OpenRoot(snap->rootfs()));
      if (s.kind == StepKind::kWorkdir) {
        CB_TRY(rooted::MkdirAll(root.get(), st.config.config.working_dir, 0755, 0, 0));
      } else {
        CopyRequest cr;
        cr.context_fd = ctx.root_fd();
        cr.sources = s.sources;
        cr.dest = planner::ResolvePath(st.config.config.working_dir, s.dest);
        cr.dest_is_dir = !s.dest.empty() && s.dest.back() == '/';
        CB_TRY_CTX(CopyFromContext(cr, root.get()), "COPY");
      }
      root.reset();
      CB_TRY(mnt.Unmount());
    }
    return store.CommitLayer(*snap);
  }

  /// One non-FROM step: config-only steps change state directly; the others go through the cache.
  /// Runs one step; any error gets the step's Dockerfile location.
  Status Step1(const Step& s, StageState& st, const std::string& label) {
    auto r = RunStep(s, st, label);
    if (!r) {
      progress.Failed(s.number, r.error().message);
      return AtStep(s, std::move(r).error());
    }
    return r;
  }

  Status RunStep(const Step& s, StageState& st, const std::string& label) {
    auto t0 = std::chrono::steady_clock::now();
    progress.Started(s.number, label, s.text);
    StepReport rep{s.number, s.text, false, {}, {}, 0};
    std::string created_by;
    Digest key;
    switch (s.kind) {
      case StepKind::kCmd: {
        std::vector<std::string> cmd = RunArgv(s);
        st.config.config.cmd = cmd;
        created_by = "CMD " + QuotedList(cmd);
        key = KeyOf({"config", st.fs_key.ToString(), created_by});
        ApplyLayer(st, std::nullopt, created_by);
        // Config steps run nothing; they count as cached once this exact state was built before.
        rep.cached = !req.no_cache && CB_TRY(store.meta().GetCacheRecord(key)).has_value();
        if (!rep.cached) CB_TRY(store.meta().PutCacheRecord(key, "{}"));
        break;
      }
      case StepKind::kWorkdir:
        st.config.config.working_dir = planner::ResolvePath(st.config.config.working_dir, s.dest);
        created_by = "WORKDIR " + st.config.config.working_dir;
        key = KeyOf({"mkdir", st.fs_key.ToString(), st.config.config.working_dir});
        break;
      case StepKind::kCopy: {
        Digest content = CB_TRY_CTX(ctx.HashSources(s.sources), "COPY");
        std::string dest = planner::ResolvePath(st.config.config.working_dir, s.dest);
        if (!s.dest.empty() && s.dest.back() == '/') dest += "/";
        created_by = s.text + " # buildkit";
        key = KeyOf({"copy", st.fs_key.ToString(), Joined(s.sources), dest, content.ToString()});
        break;
      }
      case StepKind::kRun:
        created_by = "RUN " + [&] {
          std::string c;
          for (const auto& a : RunArgv(s)) c += (c.empty() ? "" : " ") + a;
          return c;
        }() + " # buildkit";
        key = KeyOf({"run", st.fs_key.ToString(), Joined(RunArgv(s)), Joined(st.config.config.env),
                     st.config.config.working_dir});
        break;
      case StepKind::kFrom:
        break;
    }
    rep.cache_key = key;
    if (s.kind != StepKind::kCmd) {
      auto hit = CB_TRY(Lookup(key));
      if (hit) {
        ApplyLayer(st, *hit, created_by);
        rep.cached = true;
      } else {
        auto layer = CB_TRY(Execute(s, st));
        CB_TRY(Record(key, layer));
        ApplyLayer(st, layer, created_by);
      }
      st.fs_key = key;
    }
    rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (rep.cached) {
      progress.Cached(s.number);
    } else {
      progress.Done(s.number, rep.seconds);
    }
    reports.push_back(rep);
    return Ok();
  }

  Result<StageState> From(const Step& s, const std::string& label) {
    progress.Started(s.number, label, s.text);
    StageState st;
    if (s.base == "scratch") {
      st.fs_key = KeyOf({"scratch"});
    } else {
      auto img = store.images().Resolve(s.base);
      if (!img) return AtStep(s, MakeError(img.error().code, "FROM: {}", img.error().message));
      CB_TRY(store.EnsureSnapshots(*img));
      st.config = img->config;
      st.layers = img->manifest.layers;
      st.fs_key = KeyOf({"from", img->manifest_digest.ToString()});
    }
    // The base is local (imported, loaded or built): nothing to fetch, as BuildKit shows it.
    progress.Cached(s.number);
    reports.push_back({s.number, s.text, true, st.fs_key, {}, 0});
    return st;
  }
};

std::string StageLabel(const planner::Plan& plan, const planner::Stage& stage, const Step& s) {
  std::string name = stage.name;
  if (name.empty() && plan.stages.size() > 1) name = fmt::format("stage-{}", stage.index);
  std::string pos = fmt::format("{}/{}", s.index_in_stage, stage.steps.size());
  return name.empty() ? pos : name + " " + pos;
}

}  // namespace

Result<BuildResult> Build(Store& store, Sandbox& sandbox, Progress& progress, const BuildRequest& req) {
  ast::Dockerfile df = CB_TRY(parser::Parse(req.dockerfile_text, req.dockerfile_name));
  CB_TRY(parser::Validate(df));
  planner::Plan plan = CB_TRY(planner::Lower(df, planner::LowerOptions{req.target}));
  std::vector<image::Reference> tags;
  for (const auto& t : req.tags) tags.push_back(CB_TRY(image::ParseReference(t)));
  auto ctx = CB_TRY(planner::ContextHasher::Open(req.context_dir));
  BuildResult result;
  Runner r{store, sandbox, progress, req, ctx, result.steps};
  const planner::Stage& stage = plan.stages[plan.target];
  if (plan.target != 0)
    return MakeError(ErrorCode::kUnsupported, "building a stage other than the first is not supported yet");
  StageState st = CB_TRY(r.From(stage.steps[0], StageLabel(plan, stage, stage.steps[0])));
  for (size_t i = 1; i < stage.steps.size(); ++i)
    CB_TRY(r.Step1(stage.steps[i], st, StageLabel(plan, stage, stage.steps[i])));
  image::Manifest m;
  m.layers = st.layers;
  result.image = CB_TRY(store.images().Put(m, st.config));
  for (const auto& t : tags) CB_TRY(store.images().Tag(t, result.image.manifest_digest));
  return result;
}

}  // namespace cb::executor
