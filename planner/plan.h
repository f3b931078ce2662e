// The build plan: stages of typed steps lowered from the AST. Pure data; no filesystem access.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "parser/ast.h"

namespace cb::planner {

enum class StepKind {
  kFrom,     ///< source: a base image (or scratch)
  kWorkdir,  ///< config WorkingDir + mkdir (a layer unless "/")
  kCopy,     ///< files from the build context into the image (no sandbox)
  kRun,      ///< a command in the sandbox; its filesystem change is a layer
  kCmd,      ///< config Cmd only
};

struct Step {
  StepKind kind = StepKind::kRun;
  int number = 0;            ///< 1-based, across the whole build ("#N")
  int index_in_stage = 0;    ///< 1-based ("[stage 1/5]")
  std::string text;          ///< the instruction as written, continuations joined ("RUN make")
  SourceLocation loc;        ///< file:line:col of the keyword
  ast::SourceRange range;

  std::string base;                      ///< kFrom: image reference or "scratch"
  std::vector<std::string> args;         ///< kRun/kCmd: argv (exec form) or one shell string
  bool exec_form = false;                ///< kRun/kCmd: JSON form
  std::vector<std::string> sources;      ///< kCopy: context paths
  std::string dest;                      ///< kCopy: destination; kWorkdir: the path as written
};

struct Stage {
  std::string name;    ///< from `FROM x AS name`; empty if unnamed
  int index = 0;       ///< 0-based
  std::vector<Step> steps;  ///< steps[0] is the kFrom
};

struct Plan {
  std::vector<Stage> stages;
  int total_steps = 0;
  /// The stage to build (the last one, or --target).
  int target = 0;
};

struct LowerOptions {
  std::string target;  ///< --target stage name; empty = last stage
};

/// AST → plan. Errors are kSyntax/kInvalidArgument with the instruction's file:line:col.
Result<Plan> Lower(const ast::Dockerfile& df, const LowerOptions& opts);

/// Joins a WORKDIR/COPY destination onto the current working directory like BuildKit
/// (absolute paths win; the result is cleaned: no "." or ".." components, no trailing '/').
std::string ResolvePath(const std::string& cwd, const std::string& path);

}  // namespace cb::planner
