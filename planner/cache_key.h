// The cache key of a build step: the only place that knows the key format and its version.
//
// A step's key is a SHA-256 over a version tag and the step's inputs in a fixed order. Every
// input is a field of StepKeyInputs below, so this one screen says what invalidates a step:
// change any field and the key changes; anything not here (file times, owners in the context,
// proxy build args, secret contents, the context's path, the store's path) never does.
//
// The lowering fills the instruction's fields; ComputeKeys (planner/plan_keys.h) fills the
// parent key and the content digests before any step runs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/digest.h"
#include "common/network_mode.h"
#include "planner/run_mount.h"

namespace cb::planner {

/// What kind of key a step has (decides which fields below are read).
enum class KeyKind {
  kImage,    ///< FROM <image>: base_image
  kScratch,  ///< FROM scratch: nothing
  kStage,    ///< FROM <stage>: the stage's key (parent), nothing of its own
  kConfig,   ///< ENV, LABEL, CMD, USER, ...: parent + created_by
  kWorkdir,  ///< WORKDIR: parent + workdir + user
  kRun,      ///< RUN: parent + command, env, cwd, user, network, mounts + bind_sources
  kCopy,     ///< COPY / ADD: parent (or the --link marker) + copy fields + content digests
};

/// A RUN --mount, as keyed. Left out: `required` (a missing secret fails the step, it cannot
/// change its result) and the resolved stage index (`from` as written is keyed, and a bind
/// from a stage adds that stage's key to bind_sources).
struct MountKeyInputs {
  MountType type = MountType::kBind;
  std::string target, source, from, id;
  MountSharing sharing = MountSharing::kShared;
  bool readwrite = false;
  std::optional<unsigned> mode, uid, gid;
  std::string env;   ///< secret: the env var it is exposed as
  int64_t size = 0;  ///< tmpfs size in bytes
};

/// ADD <url>: what one remote source contributes.
struct UrlKeyInputs {
  std::string url;            ///< as written (credentials included: they can select content)
  Digest content;             ///< --checksum, or the SHA-256 of the downloaded content
  std::string last_modified;  ///< epoch seconds of Last-Modified; "" with --checksum or without the header
};

/// Every input of one step's key.
struct StepKeyInputs {
  KeyKind kind = KeyKind::kConfig;

  // What the step starts from.
  Digest parent;      ///< key of the filesystem below the step (FROM <stage>: that stage's key)
  bool link = false;  ///< COPY/ADD --link: keyed on a fixed marker instead of `parent`
  Digest base_image;  ///< kImage: the manifest digest

  // kConfig: the history line names the whole config change ("ENV A=1", "CMD [...]").
  std::string created_by;

  // kWorkdir (workdir = the directory made) and kRun (workdir = the working directory).
  std::string workdir;
  std::string user;  ///< config user at this step (names are resolved when the step runs)

  // kRun
  std::vector<std::string> argv;  ///< the full command line (shell form wrapped in SHELL)
  std::vector<std::string> env;   ///< the process environment without proxy build args
  NetworkMode network = NetworkMode::kDefault;
  std::vector<MountKeyInputs> mounts;

  // kCopy (after expansion of ARG/ENV; sources as written, wildcards kept)
  bool add = false;
  std::vector<std::string> sources;
  std::string dest;
  std::string from;  ///< "stage:<index>", an image's manifest digest, or "" (the context)
  std::string chown;
  std::optional<unsigned> chmod;
  bool parents = false, keep_git_dir = false;
  std::vector<std::string> excludes;
  std::string checksum;  ///< ADD --checksum
  std::vector<std::pair<std::string, std::string>> heredocs;  ///< (name, content after expansion)

  // Content digests, known when the plan's keys are computed (before any step runs).
  std::vector<UrlKeyInputs> urls;  ///< ADD <url> sources, in order
  std::optional<Digest> context;   ///< COPY/ADD: listing digest of the context sources (ContextHasher)
  std::optional<Digest> from_stage;  ///< COPY --from=<stage>: that stage's key
  /// RUN --mount=type=bind, in mount order: the context listing digest of its source, or the
  /// key of the stage it reads (a bind from an image adds nothing: `from` is keyed as written).
  std::vector<Digest> bind_sources;
};

/// The step's cache key.
Digest StepKey(const StepKeyInputs& in);

/// The parent as it enters the key: `parent`, or the --link marker for a linked COPY.
Digest KeyedParent(const StepKeyInputs& in);

/// The key of a stage's filesystem after a COPY --link with key `step` was stacked onto the
/// filesystem `below` (what later steps of the stage chain on).
Digest LinkedKey(const Digest& below, const Digest& step);

/// The key of a stage's filesystem after a step: unchanged by a config step, the linked key
/// after a --link COPY, else the step's key.
Digest FilesystemKeyAfter(const StepKeyInputs& in, const Digest& step_key);

/// Where the previous build of one step position is remembered (miss explanations, COPY reuse):
/// the same context directory, Dockerfile name, stage index and position within the stage.
Digest StepHistoryId(const std::string& context_dir, const std::string& dockerfile_name, int stage,
                     int index_in_stage);

/// One input, readable: a name and its value, or its values for a list.
struct KeyInputField {
  std::string name;                 ///< e.g. "parent", "argv", "context"
  std::vector<std::string> values;  ///< one for a scalar
  bool list = false;                ///< a list (JSON array), possibly empty
};

/// The inputs the step's kind uses, in key order, readable (digests as "sha256:…", mounts and
/// URLs as "k=v,k=v" lines), for `cbuild debug plan`. Unset optional fields are left out.
std::vector<KeyInputField> DescribeInputs(const StepKeyInputs& in);

/// The name of a KeyKind ("image", "scratch", "stage", "config", "workdir", "run", "copy").
const char* KeyKindName(KeyKind k);

}  // namespace cb::planner
