#include "planner/plan_keys.h"

#include <sys/stat.h>

#include <deque>
#include <map>
#include <optional>

#include <tbb/task_group.h>

#include "planner/source_expand.h"

namespace cb::planner {
namespace {

/// One set of context sources to expand (COPY/ADD) and hash.
struct HashJob {
  Step* step = nullptr;
  std::vector<std::string> sources;  ///< as written (ADD: URLs too, passed through)
  bool expand = false;               ///< COPY/ADD: wildcards allowed
  bool others = false;               ///< the instruction has heredoc sources
  std::vector<std::string> expanded;
  std::optional<Result<SourcesHash>> result;
};

/// One ADD <url> without --checksum.
struct UrlJob {
  Step* step = nullptr;
  std::string url;
  std::optional<Result<UrlKeyInputs>> result;
};

/// The content work of every needed step, gathered before anything runs.
struct Work {
  std::deque<HashJob> hashes;  // deque: stable addresses for the tasks
  std::deque<UrlJob> urls;
  /// Per step: its hash jobs (COPY: at most one; RUN: one per bind mount from the context, in
  /// mount order) and URL jobs (in source order).
  std::map<const Step*, std::vector<HashJob*>> hashes_of;
  std::map<const Step*, std::vector<UrlJob*>> urls_of;
};

Work Gather(Plan& plan) {
  Work w;
  for (auto& stage : plan.stages) {
    if (!stage.needed) continue;
    for (auto& s : stage.steps) {
      if (s.kind == StepKind::kCopy && s.copy.from.empty()) {
        bool local = false;
        for (const auto& src : s.copy.sources) {
          if (s.copy.add && IsRemoteUrl(src)) {
            if (s.copy.checksum.empty()) w.urls_of[&s].push_back(&w.urls.emplace_back(UrlJob{&s, src, {}}));
          } else {
            local = true;
          }
        }
        if (local)
          w.hashes_of[&s].push_back(
              &w.hashes.emplace_back(HashJob{&s, s.copy.sources, true, !s.copy.heredocs.empty(), {}, {}}));
      } else if (s.kind == StepKind::kRun) {
        for (const auto& m : s.mounts)
          if (m.type == MountType::kBind && m.from.empty())
            w.hashes_of[&s].push_back(
                &w.hashes.emplace_back(HashJob{&s, {m.source.empty() ? "." : m.source}, false, false, {}, {}}));
      }
    }
  }
  return w;
}

/// Runs every job at once on the TBB pool (each hash also walks its trees in parallel).
void RunAll(Work& w, ContextHasher& hasher, const UrlResolver& resolve) {
  tbb::task_group tg;
  for (auto& j : w.hashes) {
    tg.run([&j, &hasher] {
      j.result = [&]() -> Result<SourcesHash> {
        if (!j.expand) return hasher.HashSourcesDetailed(j.sources);
        // The one expansion of the context sources: what is hashed is what the COPY copies.
        j.expanded = CB_TRY(ExpandSources(hasher.root_fd(), j.sources, hasher.ignore(), j.others));
        std::vector<std::string> local;
        for (const auto& src : j.expanded)
          if (!IsRemoteUrl(src)) local.push_back(src);
        return hasher.HashSourcesDetailed(local);
      }();
    });
  }
  for (auto& j : w.urls) {
    tg.run([&j, &resolve] {
      j.result = resolve ? resolve(j.url)
                         : Result<UrlKeyInputs>(MakeError(ErrorCode::kUnsupported, "ADD `{}`: no URL resolver",
                                                          RedactUrl(j.url)));
    });
  }
  tg.wait();
}

Error AtStep(const Step& s, Error e) {
  if (!e.where) e.where = s.loc;
  return e;
}

ContextFile UrlEntry(const UrlKeyInputs& u) {
  return ContextFile{RedactUrl(u.url), S_IFREG | 0600, u.content, {}};
}

/// The content digests of one step from the finished jobs (in the order the key takes them).
Status FillContent(Plan& plan, Step& s, Work& w) {
  StepKeyInputs& k = s.key_inputs;
  auto hashes = w.hashes_of.find(&s);
  size_t next_hash = 0;
  auto take_hash = [&]() -> Result<HashJob*> {
    HashJob* j = hashes->second[next_hash++];
    if (!*j->result) return AtStep(s, j->result->error());
    return j;
  };
  if (s.kind == StepKind::kCopy) {
    if (s.copy.from_stage >= 0) {
      k.from_stage = plan.stages[s.copy.from_stage].key;
      return Ok();
    }
    if (!s.copy.from.empty()) return Ok();  // an image: its digest is keyed as `from`
    auto urls = w.urls_of.find(&s);
    size_t next_url = 0;
    for (const auto& src : s.copy.sources) {
      if (!s.copy.add || !IsRemoteUrl(src)) continue;
      UrlKeyInputs u{src, {}, {}};
      if (!s.copy.checksum.empty()) {
        auto d = Digest::Parse(s.copy.checksum);
        if (!d) return AtStep(s, d.error());
        u.content = *d;
      } else {
        UrlJob* j = urls->second[next_url++];
        if (!*j->result) return AtStep(s, j->result->error());
        u = **j->result;
      }
      s.files.push_back(UrlEntry(u));
      k.urls.push_back(std::move(u));
    }
    s.context_sources = s.copy.sources;  // URLs only (or heredocs only): nothing to expand
    if (hashes != w.hashes_of.end()) {
      HashJob* j = CB_TRY(take_hash());
      k.context = (*j->result)->digest;
      s.context_sources = std::move(j->expanded);
      auto& listing = (*j->result)->files;
      s.files.insert(s.files.end(), std::make_move_iterator(listing.begin()), std::make_move_iterator(listing.end()));
    }
  } else if (s.kind == StepKind::kRun) {
    for (const auto& m : s.mounts) {
      if (m.type != MountType::kBind) continue;
      if (m.from_stage >= 0) {
        k.bind_sources.push_back(plan.stages[m.from_stage].key);
      } else if (m.from.empty()) {
        HashJob* j = CB_TRY(take_hash());
        k.bind_sources.push_back((*j->result)->digest);
      }
    }
  }
  return Ok();
}

}  // namespace

Status ComputeKeys(Plan& plan, ContextHasher& hasher, const UrlResolver& urls) {
  Work w = Gather(plan);
  RunAll(w, hasher, urls);
  // Stages only read earlier stages (FROM, --from, from=), so one pass in order has every key
  // a step needs.
  for (auto& stage : plan.stages) {
    if (!stage.needed) continue;
    Digest fs;
    for (auto& s : stage.steps) {
      StepKeyInputs& k = s.key_inputs;
      if (s.kind == StepKind::kFrom) {
        if (stage.base_stage >= 0) k.parent = plan.stages[stage.base_stage].key;
        s.key = StepKey(k);
        fs = s.key;
        continue;
      }
      k.parent = fs;
      CB_TRY(FillContent(plan, s, w));
      s.key = StepKey(k);
      fs = FilesystemKeyAfter(k, s.key);
    }
    stage.key = fs;
  }
  return Ok();
}

}  // namespace cb::planner
