// PlanBuilder: turns a SandboxSpec into a ChildPlan (all strings and arrays prepared before
// clone, so the child never allocates).
#pragma once

#include <deque>
#include <string>
#include <vector>

#include "common/result.h"
#include "sandbox/linux/child_plan.h"
#include "sandbox/sandbox.h"

namespace cb::sandbox::linux_impl {

/// Builds the ordered list of child actions for one Run. Owns every string the plan points
/// to; keep it alive (and unmodified) until the child has exec'ed or exited. Not thread-safe;
/// one builder per Run.
class PlanBuilder {
 public:
  /// Validates `spec` and fills the plan. kInvalidArgument for a bad spec (empty argv, a
  /// first mount that is not "/", a relative cwd, ...).
  Status Build(const SandboxSpec& spec);

  /// The plan; fds (stdio, report, sync) are left for the caller to fill in.
  ChildPlan& plan() { return plan_; }

  /// Human text of a step reported by the child, e.g. "mount overlay on `/x`".
  const std::string& StepText(int step) const;

 private:
  const char* Str(std::string s);
  int Step(std::string text);
  ChildOp& Add(OpKind kind, std::string step_text);
  int NewSlot();

  Status AddRootMount(const SandboxSpec& spec);
  Status AddPrePivotMounts(const SandboxSpec& spec);
  void AddSystemMounts(const SandboxSpec& spec);
  void AddUserMounts(const SandboxSpec& spec);
  void AddEtcFiles(const SandboxSpec& spec);
  void AddHardening(const SandboxSpec& spec);
  Status AddProcess(const SandboxSpec& spec);
  Status AddRlimits(const SandboxSpec& spec);

  std::deque<std::string> strings_;
  std::vector<std::string> steps_;
  std::vector<ChildOp> ops_;
  std::vector<const char*> candidates_;
  std::vector<char*> argv_, envp_;
  std::vector<gid_t> groups_;
  std::vector<ResourceLimit> rlimits_;
  std::vector<unsigned char> seccomp_;
  std::vector<int> user_mount_slots_;
  std::vector<int> etc_slots_;
  int proc_slot_ = -1, sys_slot_ = -1, sys_fallback_slot_ = -1;
  std::vector<int> dev_slots_;
  int slots_used_ = 0;
  ChildPlan plan_;
};

/// Candidate paths for argv0: itself when it contains '/', else each PATH entry + "/" + argv0.
std::vector<std::string> ExecCandidates(const std::string& argv0,
                                        const std::vector<std::string>& env);

}  // namespace cb::sandbox::linux_impl
