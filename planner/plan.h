// The build plan: stages of typed steps lowered from the AST, with every word expanded
// (ARG/ENV scoping as BuildKit) and the image config evolved step by step. Pure data; the
// planner never touches the filesystem — base images are described by a resolver callback.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/digest.h"
#include "common/network_mode.h"
#include "common/result.h"
#include "image/oci.h"
#include "parser/ast.h"
#include "planner/cache_key.h"
#include "planner/context_hasher.h"
#include "planner/run_mount.h"

namespace cb::planner {

enum class StepKind {
  kFrom,     ///< source: a base image, another stage, or scratch
  kWorkdir,  ///< WorkingDir + mkdir (a layer unless nothing changed)
  kCopy,     ///< COPY / ADD (no sandbox)
  kRun,      ///< a command in the sandbox
  kConfig,   ///< metadata only: ENV, LABEL, CMD, ENTRYPOINT, USER, EXPOSE, VOLUME, ...
};

/// COPY / ADD.
struct CopySpec {
  bool add = false;
  std::vector<std::string> sources;  ///< expanded; may contain wildcards
  std::string dest;                  ///< absolute (resolved against WORKDIR); ends in '/' when written so
  std::string from;                  ///< --from as written (expanded)
  int from_stage = -1;               ///< when --from names a stage
  std::string chown;                 ///< expanded "user[:group]"; empty = 0:0
  std::optional<unsigned> chmod;
  bool link = false, parents = false, keep_git_dir = false;
  std::vector<std::string> excludes;
  std::string checksum;              ///< ADD --checksum
  std::vector<ast::Heredoc> heredocs;  ///< heredoc sources (name → content, already expanded)
};

struct Step {
  StepKind kind = StepKind::kConfig;
  int number = 0;            ///< 1-based across the built stages ("#N"); 0 = not built
  int index_in_stage = 0;    ///< 1-based ("[stage 2/5]")
  std::string text;          ///< the instruction as written, continuations joined
  SourceLocation loc;
  ast::SourceRange range;
  std::string created_by;    ///< the history entry for this step
  /// The container config after this step (for RUN/COPY: the one they run with).
  image::ContainerConfig config;
  std::string author;        ///< MAINTAINER, carried forward

  // kRun
  std::vector<std::string> argv;   ///< the full command line (shell form wrapped in SHELL)
  std::vector<std::string> env;    ///< the process environment: config env + build args
  std::vector<RunMount> mounts;
  NetworkMode network = NetworkMode::kDefault;
  std::string user;                ///< config user at this point (names resolved at run time)
  // kCopy
  CopySpec copy;
  // kWorkdir: the absolute directory (also config.working_dir)
  std::string workdir;

  /// Every input of the step's cache key: the instruction's fields are set by Lower, the
  /// parent and content digests by ComputeKeys (planner/plan_keys.h).
  StepKeyInputs key_inputs;
  /// The cache key (StepKey(key_inputs)); set by ComputeKeys for the steps of needed stages.
  Digest key;
  /// COPY/ADD from the context: the sources after wildcard expansion, URLs in place (what the
  /// step copies: context sources are never expanded again), and the listing behind
  /// key_inputs.context and urls (what a cache miss compares).
  std::vector<std::string> context_sources;
  std::vector<ContextFile> files;
};

/// A base image as the planner needs it.
struct BaseImage {
  Digest digest;                    ///< manifest digest (for cache keys)
  image::ContainerConfig config;
  std::string author;
};

struct Stage {
  std::string name;          ///< `FROM x AS name`, lowercase; may be empty
  int index = 0;
  std::string base_ref;      ///< expanded FROM argument
  int base_stage = -1;       ///< FROM <stage>
  bool scratch = false;
  BaseImage base;            ///< when FROM an image
  std::vector<Step> steps;   ///< steps[0] is the kFrom
  std::set<int> deps;        ///< stages this one needs (FROM, COPY --from, RUN --mount from)
  bool needed = false;       ///< on the target's dependency path
  /// Key of the stage's final filesystem (what FROM <stage> and COPY --from=<stage> read);
  /// set by ComputeKeys.
  Digest key;
};

struct Plan {
  std::vector<Stage> stages;
  int target = 0;
  int total_steps = 0;                ///< steps of needed stages
  std::vector<std::string> warnings;  ///< e.g. unused --build-arg
};

using BaseResolver = std::function<Result<BaseImage>(const std::string& ref)>;

struct LowerOptions {
  std::string target;                              ///< --target; empty = last stage
  std::map<std::string, std::string> build_args;   ///< --build-arg K=V
  BaseResolver resolve;                            ///< FROM image → its config; required
  std::string platform = "linux/amd64";
  /// `build --network`: the network of RUN steps without their own --network (part of their key).
  NetworkMode network = NetworkMode::kDefault;
};

/// AST → plan. Errors carry the instruction's file:line:col.
Result<Plan> Lower(const ast::Dockerfile& df, const LowerOptions& opts);

/// True for the sources ADD downloads: "http://..." and "https://..." (BuildKit's test).
bool IsRemoteUrl(const std::string& src);

/// The URL with any "user:password@" replaced by "xxxxx@", for messages and listings.
std::string RedactUrl(const std::string& url);

/// True for the build args Docker treats as proxies (kept out of history and cache keys).
bool IsProxyArg(const std::string& name);

}  // namespace cb::planner
