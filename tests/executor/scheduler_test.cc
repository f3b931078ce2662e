// The scheduler with a fake StepRunner (no namespaces, no store): parallel stages run at the
// same time, the first failure stops the others, cancellation stops before the next step,
// cached steps are not run, misses are explained, and a step that waits on a TBB task_group
// while holding a lock can never have another stage run inside that wait (issue 22).
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <map>
#include <mutex>
#include <semaphore>
#include <set>
#include <thread>

#include <tbb/task_group.h>

#include "cache/build_history.h"
#include "cache/cache_index.h"
#include "common/cancel.h"
#include "executor/scheduler.h"

using namespace cb;
using namespace cb::executor;
using namespace std::chrono_literals;

namespace {

Digest H(const std::string& s) {
  Sha256 h;
  h.Update(s);
  return h.Finish();
}

/// A plan built by hand: stages of RUN/config steps with made-up keys chained like real ones.
struct PlanBuilder {
  planner::Plan plan;
  int number = 0;

  /// A stage FROM an image (or FROM another stage) whose steps are `texts` ("ENV ..." is a
  /// config step, anything else a RUN); `deps` are the stages it reads.
  int Stage(const std::string& name, std::vector<std::string> texts, std::set<int> deps = {}, int base_stage = -1) {
    planner::Stage st;
    st.name = name;
    st.index = static_cast<int>(plan.stages.size());
    st.base_stage = base_stage;
    st.base.digest = H("base image");
    st.deps = deps;
    if (base_stage >= 0) st.deps.insert(base_stage);
    st.needed = true;
    texts.insert(texts.begin(), base_stage >= 0 ? "FROM " + plan.stages[base_stage].name : "FROM busybox");
    Digest parent;
    for (size_t i = 0; i < texts.size(); ++i) {
      planner::Step s;
      s.number = ++number;
      s.index_in_stage = static_cast<int>(i) + 1;
      s.text = texts[i];
      s.loc = SourceLocation{"Dockerfile", s.number, 1};
      s.created_by = texts[i];
      s.kind = i == 0 ? planner::StepKind::kFrom
               : texts[i].rfind("ENV", 0) == 0 ? planner::StepKind::kConfig
                                               : planner::StepKind::kRun;
      s.key_inputs.parent = parent;
      s.key = H(parent.ToString() + "|" + texts[i]);
      parent = s.key;
      st.steps.push_back(std::move(s));
    }
    st.key = parent;
    plan.stages.push_back(std::move(st));
    plan.target = static_cast<int>(plan.stages.size()) - 1;
    plan.total_steps = number;
    return plan.target;
  }
  planner::Step& StepNo(int n) {
    for (auto& st : plan.stages)
      for (auto& s : st.steps)
        if (s.number == n) return s;
    throw std::out_of_range("no such step");
  }
};

/// Records every progress event as a line ("started 2", "cached 2", "miss 3 <reason>", ...).
class RecordingProgress : public progress::Progress {
 public:
  void Started(int n, const std::string&, const std::string&) override { Add(fmt::format("started {}", n)); }
  void Cached(int n) override { Add(fmt::format("cached {}", n)); }
  void CacheMiss(int n, const std::string& reason) override { Add(fmt::format("miss {} {}", n, reason)); }
  void Output(int n, const std::string& line) override { Add(fmt::format("output {} {}", n, line)); }
  void Done(int n, double) override { Add(fmt::format("done {}", n)); }
  void Failed(int n, const std::string& message) override { Add(fmt::format("failed {} {}", n, message)); }
  void Canceled(int n, const std::string& message) override { Add(fmt::format("canceled {} {}", n, message)); }
  void Note(const std::string&) override {}
  void BuildFailed(const Error&, const std::string&) override {}

  std::vector<std::string> events() const {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }
  bool Has(const std::string& e) const {
    auto ev = events();
    return std::find(ev.begin(), ev.end(), e) != ev.end();
  }

 private:
  void Add(std::string e) {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(std::move(e));
  }
  mutable std::mutex mu_;
  std::vector<std::string> events_;
};

/// A StepRunner that records its calls and does, per step number, what the test says (by
/// default: makes a layer named after the step at once).
class FakeRunner : public StepRunner {
 public:
  using Behaviour = std::function<Result<std::optional<cache::LayerRecord>>(const StepTask&)>;
  std::map<int, Behaviour> behaviour;
  std::set<Digest> gone;  ///< layers whose snapshot was removed

  Result<image::Image> BaseImage(const planner::Stage&) override {
    image::Image img;
    img.config.diff_ids = {H("base layer")};
    img.manifest.layers = {{"application/vnd.oci.image.layer.v1.tar", H("base layer"), 10, {}, std::nullopt}};
    return img;
  }
  Result<std::optional<cache::LayerRecord>> CachedLayer(const Digest& diff_id) override {
    if (gone.count(diff_id)) return std::optional<cache::LayerRecord>();
    return std::optional<cache::LayerRecord>(Layer(diff_id));
  }
  Result<std::optional<cache::LayerRecord>> Run(const StepTask& task) override {
    int n = task.step.number;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ran_.push_back(n);
      previous_[n] = task.previous != nullptr;
      below_[n] = task.below;
      max_running_ = std::max(max_running_, ++running_);
    }
    auto it = behaviour.find(n);
    auto out = it != behaviour.end() ? it->second(task) : Result<std::optional<cache::LayerRecord>>(Layer(H(task.step.text)));
    std::lock_guard<std::mutex> lock(mu_);
    --running_;
    return out;
  }

  static cache::LayerRecord Layer(const Digest& d) { return {d, d, 10, "application/vnd.oci.image.layer.v1.tar"}; }
  std::vector<int> ran() const {
    std::lock_guard<std::mutex> lock(mu_);
    return ran_;
  }
  bool had_previous(int n) const {
    std::lock_guard<std::mutex> lock(mu_);
    return previous_.at(n);
  }
  std::vector<Digest> below(int n) const {
    std::lock_guard<std::mutex> lock(mu_);
    return below_.at(n);
  }
  int max_running() const {
    std::lock_guard<std::mutex> lock(mu_);
    return max_running_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<int> ran_;
  std::map<int, bool> previous_;
  std::map<int, std::vector<Digest>> below_;
  int running_ = 0, max_running_ = 0;
};

/// One build: the fakes a scheduler needs, kept across builds where a test wants a cache.
struct Build {
  cache::MemoryCacheIndex index;
  cache::MemoryBuildHistory history;

  struct Outcome {
    Status status;
    std::vector<StepReport> reports;
    StageImage target;
  };
  Outcome Run(const planner::Plan& plan, FakeRunner& runner, progress::Progress& progress, bool no_cache = false) {
    Scheduler s(plan, index, history, runner, progress, {no_cache, "/ctx", "Dockerfile"});
    Status st = s.Run();
    return {std::move(st), s.Reports(), st ? s.Stage(plan.target) : StageImage{}};
  }
};

/// Waits (up to a bound, so a broken scheduler fails instead of hanging) for `pred`.
bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds bound = 10s) {
  auto end = std::chrono::steady_clock::now() + bound;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

}  // namespace

TEST_CASE("independent stages run at the same time; a stage that reads both waits for both") {
  PlanBuilder pb;
  int a = pb.Stage("a", {"RUN a"});            // steps 1-2
  int b = pb.Stage("b", {"RUN b"});            // steps 3-4
  pb.Stage("final", {"RUN final"}, {a, b});    // steps 5-6
  FakeRunner runner;
  std::atomic<int> inside{0};
  bool both = false;
  auto meet = [&](const StepTask&) -> Result<std::optional<cache::LayerRecord>> {
    ++inside;
    // Neither returns before the other has started: with stages run one after the other this
    // would time out.
    if (WaitFor([&] { return inside.load() == 2; })) both = true;
    return std::optional<cache::LayerRecord>(FakeRunner::Layer(H("x")));
  };
  runner.behaviour[2] = meet;
  runner.behaviour[4] = meet;
  RecordingProgress progress;
  Build build;
  auto out = build.Run(pb.plan, runner, progress);
  REQUIRE(out.status.has_value());
  CHECK(both);
  CHECK(runner.max_running() == 2);
  auto ran = runner.ran();
  REQUIRE(ran.size() == 3);
  CHECK(ran.back() == 6);  // the final stage after both
  CHECK(out.reports.size() == 6);
  CHECK(out.target.config.diff_ids == std::vector<Digest>{H("base layer"), H("RUN final")});
  CHECK(out.target.config.history.size() == 1);
}

TEST_CASE("a failure in one stage cancels the stage running beside it; the error is the first one") {
  PlanBuilder pb;
  int a = pb.Stage("a", {"RUN fails"});                   // steps 1-2
  int b = pb.Stage("b", {"RUN slow", "RUN never"});       // steps 3-5
  pb.Stage("final", {"RUN never either"}, {a, b});        // steps 6-7
  FakeRunner runner;
  std::atomic<bool> slow_started{false};
  runner.behaviour[2] = [&](const StepTask&) -> Result<std::optional<cache::LayerRecord>> {
    WaitFor([&] { return slow_started.load(); });
    Error e = MakeError(ErrorCode::kStepFailed, "process \"/bin/sh -c fails\" did not complete successfully: exit code: 1");
    e.exit_code = 1;
    return e;
  };
  runner.behaviour[4] = [&](const StepTask& t) -> Result<std::optional<cache::LayerRecord>> {
    slow_started = true;
    if (!WaitFor([&] { return t.stop.stopped(); })) return std::optional<cache::LayerRecord>();  // not stopped: wrong
    return t.stop.Check().error();
  };
  RecordingProgress progress;
  Build build;
  auto out = build.Run(pb.plan, runner, progress);
  REQUIRE_FALSE(out.status.has_value());
  const Error& e = out.status.error();
  CHECK(e.code == ErrorCode::kStepFailed);
  CHECK(e.exit_code == 1);
  REQUIRE(e.where.has_value());
  CHECK(e.where->line == 2);  // the failing step's location
  auto ran = runner.ran();
  std::sort(ran.begin(), ran.end());
  CHECK(ran == std::vector<int>{2, 4});
  CHECK(progress.Has("failed 2 process \"/bin/sh -c fails\" did not complete successfully: exit code: 1"));
  CHECK(progress.Has("canceled 4 cancelled"));
  CHECK_FALSE(progress.Has("started 5"));
  CHECK_FALSE(progress.Has("started 6"));
  // Nothing of the failed steps was recorded.
  CHECK(build.index.records().count(pb.StepNo(2).key) == 0);
  CHECK(build.index.records().count(pb.StepNo(4).key) == 0);
}

TEST_CASE("SIGINT/SIGTERM stop the build before its next step") {
  // A signal leaves the process cancelled for good: this runs in a child process.
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    PlanBuilder pb;
    pb.Stage("", {"RUN one", "RUN two", "RUN three"});  // steps 1-4
    FakeRunner runner;
    runner.behaviour[3] = [](const StepTask&) -> Result<std::optional<cache::LayerRecord>> {
      cancel::Request(SIGINT);  // arrives while step 3 runs; the step itself completes
      return std::optional<cache::LayerRecord>();
    };
    RecordingProgress progress;
    Build build;
    auto out = build.Run(pb.plan, runner, progress);
    bool ok = !out.status.has_value() && out.status.error().code == ErrorCode::kCancelled &&
              out.status.error().message == "interrupted by SIGINT" && runner.ran() == std::vector<int>{2, 3} &&
              progress.Has("done 3") && !progress.Has("started 4");
    if (!ok) std::fprintf(stderr, "child: status %s, %zu steps ran\n", out.status ? "ok" : out.status.error().message.c_str(),
                          runner.ran().size());
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("cached steps are not run; a miss names its first changed input") {
  PlanBuilder pb;
  pb.Stage("", {"RUN one", "ENV A=1", "RUN two"});  // steps 1-4
  FakeRunner runner;
  RecordingProgress first;
  Build build;
  REQUIRE(build.Run(pb.plan, runner, first).status.has_value());
  CHECK(runner.ran() == std::vector<int>{2, 4});  // never the config step
  for (const auto& e : first.events()) CHECK(e.rfind("miss", 0) != 0);  // nothing to compare with yet

  SUBCASE("the same plan again: every step from the cache") {
    FakeRunner again;
    RecordingProgress p;
    auto out = build.Run(pb.plan, again, p);
    REQUIRE(out.status.has_value());
    CHECK(again.ran().empty());
    for (const auto& r : out.reports) CHECK(r.cached);
    CHECK(out.target.config.diff_ids == std::vector<Digest>{H("base layer"), H("RUN one"), H("RUN two")});
    CHECK(out.target.config.history.size() == 3);
    CHECK(out.target.config.history[1].empty_layer);
  }
  SUBCASE("a cached layer whose snapshot is gone runs again") {
    FakeRunner again;
    again.gone.insert(H("RUN one"));
    RecordingProgress p;
    REQUIRE(build.Run(pb.plan, again, p).status.has_value());
    CHECK(again.ran() == std::vector<int>{2});
  }
  SUBCASE("a changed instruction runs again, and so does every step after it") {
    PlanBuilder changed;
    changed.Stage("", {"RUN one changed", "ENV A=1", "RUN two"});
    FakeRunner again;
    RecordingProgress p;
    auto out = build.Run(changed.plan, again, p);
    REQUIRE(out.status.has_value());
    CHECK(again.ran() == std::vector<int>{2, 4});
    CHECK(p.Has("miss 2 the instruction changed (was `RUN one`)"));
    CHECK(p.Has("miss 4 the previous step (#3) was rebuilt"));  // the config step's key changed too
    CHECK(out.reports[1].miss_reason == "the instruction changed (was `RUN one`)");
    CHECK_FALSE(out.reports[1].cached);
    CHECK_FALSE(out.reports[2].cached);  // the config step's key changed with its parent
  }
  SUBCASE("--no-cache runs everything and says so") {
    FakeRunner again;
    RecordingProgress p;
    auto out = build.Run(pb.plan, again, p, /*no_cache=*/true);
    REQUIRE(out.status.has_value());
    CHECK(again.ran() == std::vector<int>{2, 4});
    CHECK(p.Has("miss 2 --no-cache"));
    CHECK_FALSE(again.had_previous(2));
  }
}

TEST_CASE("a step whose files alone changed gets the previous build's record and layer (COPY reuse)") {
  PlanBuilder pb;
  pb.Stage("", {"RUN copy-like"});  // steps 1-2
  pb.StepNo(2).files = {ContextFile{"a.txt", 0100644, H("a"), {}}};
  pb.StepNo(2).context_sources = {"a.txt"};
  FakeRunner runner;
  RecordingProgress p1;
  Build build;
  REQUIRE(build.Run(pb.plan, runner, p1).status.has_value());
  CHECK_FALSE(runner.had_previous(2));

  pb.StepNo(2).files = {ContextFile{"a.txt", 0100644, H("a changed"), {}}};
  pb.StepNo(2).key = H("another key");
  FakeRunner again;
  RecordingProgress p2;
  REQUIRE(build.Run(pb.plan, again, p2).status.has_value());
  CHECK(again.ran() == std::vector<int>{2});
  CHECK(again.had_previous(2));
  CHECK(p2.Has("miss 2 file `a.txt` changed"));
  CHECK(again.below(2) == std::vector<Digest>{H("base layer")});
}

TEST_CASE("a step that waits on a TBB task_group while holding a lock never gets another stage run inside that wait") {
  // Issue 22: when stages were TBB tasks, a step holding a mutex across a task_group wait
  // could be handed another stage's task by TBB inside that wait; that stage's step took the
  // same mutex on the same thread and the build hung for ever. The interleaving, forced:
  // stage A takes the lock and waits on a task_group whose job only ends once every stage B has
  // started; B1..B4 become ready (their dependency C ends) while A waits, and take the lock.
  // With stages as tasks of a TBB flow graph (the old scheduler) this test hung in 6 of 6
  // runs. A semaphore is the lock (no owner: re-taking it on one thread
  // blocks), and a watchdog turns a hang into a failure.
  std::mutex m;
  std::condition_variable cv;
  bool finished = false;
  std::thread watchdog([&] {
    std::unique_lock<std::mutex> lock(m);
    if (!cv.wait_for(lock, 60s, [&] { return finished; })) {
      std::fprintf(stderr, "scheduler_test: deadlock — a stage ran inside another stage's TBB wait\n");
      std::_Exit(1);
    }
  });
  std::binary_semaphore hash_lock(1);
  std::atomic<int> nested{0};
  static thread_local int depth = 0;
  for (int round = 0; round < 40; ++round) {
    std::atomic<bool> job_started{false};
    std::atomic<int> b_entered{0};
    PlanBuilder pb;
    int a = pb.Stage("a", {"RUN hash under the lock"});        // steps 1-2
    int c = pb.Stage("c", {"RUN until a waits"});              // steps 3-4
    std::set<int> all = {a};
    for (int b = 1; b <= 4; ++b) all.insert(pb.Stage(fmt::format("b{}", b), {fmt::format("RUN lock {}", b)}, {c}));
    pb.Stage("final", {"RUN final"}, all);                     // steps 13-14
    FakeRunner runner;
    auto layer = [](const StepTask& t) { return std::optional<cache::LayerRecord>(FakeRunner::Layer(H(t.step.text))); };
    runner.behaviour[2] = [&](const StepTask& t) -> Result<std::optional<cache::LayerRecord>> {
      if (++depth > 1) ++nested;
      hash_lock.acquire();
      tbb::task_group tg;
      tg.run([&] {
        job_started = true;
        WaitFor([&] { return b_entered.load() == 4; }, 2s);
      });
      WaitFor([&] { return job_started.load(); }, 2s);
      tg.wait();
      hash_lock.release();
      --depth;
      return layer(t);
    };
    runner.behaviour[4] = [&](const StepTask& t) -> Result<std::optional<cache::LayerRecord>> {
      WaitFor([&] { return job_started.load(); }, 2s);
      std::this_thread::sleep_for(1ms);
      return layer(t);
    };
    auto take_lock = [&](const StepTask& t) -> Result<std::optional<cache::LayerRecord>> {
      if (++depth > 1) ++nested;
      ++b_entered;
      hash_lock.acquire();
      hash_lock.release();
      --depth;
      return layer(t);
    };
    for (int n : {6, 8, 10, 12}) runner.behaviour[n] = take_lock;  // b1-b4 (steps 5-12)
    RecordingProgress progress;
    Build build;
    REQUIRE(build.Run(pb.plan, runner, progress).status.has_value());
    CHECK(runner.ran().size() == 7);
  }
  {
    std::lock_guard<std::mutex> lock(m);
    finished = true;
  }
  cv.notify_all();
  watchdog.join();
  CHECK(nested.load() == 0);
}
