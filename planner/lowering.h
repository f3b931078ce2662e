// Private to planner/: the state shared by Lower (stages, ARG scoping) and the per-instruction
// lowering functions.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "parser/ast.h"
#include "parser/instruction_flags.h"
#include "parser/shell_lex.h"
#include "planner/plan.h"

namespace cb::planner::internal {

/// The state of one stage while its instructions are lowered.
struct StageScope {
  const ast::Dockerfile* df = nullptr;
  const LowerOptions* opts = nullptr;
  /// ARGs declared in this stage, in declaration order, with their values (nullopt = unset).
  std::vector<std::pair<std::string, std::optional<std::string>>> args;
  image::ContainerConfig config;
  std::string author;
  bool cmd_set = false;  ///< CMD given in this stage (ENTRYPOINT then keeps it)
  /// Stage names known so far (index = stage index), for --from resolution.
  const std::vector<std::string>* stage_names = nullptr;
  int stage_index = 0;
  std::set<int>* deps = nullptr;

  /// Variable lookup for expansion: the config's env first, then declared ARGs.
  parser::EnvLookup Lookup() const;
  std::optional<std::string> ArgValue(const std::string& name) const;
  /// Expands one word (quotes removed) at `ins`, the error located there.
  Result<std::string> Expand(const ast::Instruction& ins, const std::string& word) const;
  /// Resolves a --from / from= value to a stage index, or -1 when it names an image.
  Result<int> StageRef(const ast::Instruction& ins, const std::string& ref) const;
  /// The RUN environment: config env, then declared ARGs with values (unless ENV set the same
  /// name), then proxy build args.
  std::vector<std::string> RunEnv() const;
  /// "|N K=V ..." prefix BuildKit puts in a RUN's history when build args are in scope.
  std::string ArgsPrefix() const;
};

/// An Error of kind kSyntax at the instruction.
Error At(const ast::Dockerfile& df, const ast::Instruction& ins, std::string message);

/// The instruction's display text ("COPY --from=a x /y"), continuations joined.
std::string DisplayText(const ast::Instruction& ins);

/// Go's %q of a string list: ["a" "b c"].
std::string GoQuoted(const std::vector<std::string>& v);

/// A step of `kind` located at `ins`, with its display text.
Step Base(const StageScope& s, const ast::Instruction& ins, StepKind kind);

/// RUN --mount=... flags → mounts (stage references resolved, dependencies recorded).
Result<std::vector<RunMount>> ParseMounts(StageScope& s, const ast::Instruction& ins,
                                          const parser::FlagValues& flags);
/// COPY and ADD, with their flags checked by parser::ParseFlags.
Result<Step> LowerCopy(StageScope& s, const ast::Instruction& ins, const parser::FlagValues& flags);

/// Lowers one non-FROM, non-ARG instruction into a step, updating the scope's config.
Result<Step> LowerInstruction(StageScope& scope, const ast::Instruction& ins);

}  // namespace cb::planner::internal
