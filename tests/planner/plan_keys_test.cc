// ComputeKeys: every key of the needed stages before anything runs; what each key follows;
// URL resolution; errors located at their step; concurrent hashing without a deadlock.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <atomic>
#include <mutex>
#include <set>

#include "common/fs.h"
#include "parser/parser.h"
#include "planner/plan_keys.h"

using namespace cb;
using planner::Plan;

namespace {

struct TempCtx {
  std::string dir;
  TempCtx() { dir = *fs::MakeTempDir("/tmp", "keys-test-"); }
  ~TempCtx() { (void)fs::RemoveTree(dir); }
  void Write(const std::string& rel, const std::string& data) {
    auto slash = rel.rfind('/');
    if (slash != std::string::npos) REQUIRE(fs::MakeDirs(dir + "/" + rel.substr(0, slash)).has_value());
    REQUIRE(fs::WriteFileAtomic(dir + "/" + rel, data).has_value());
  }
};

Result<Plan> Keyed(const std::string& text, const std::string& ctx, const planner::UrlResolver& urls = {},
                   const std::string& target = "") {
  auto df = parser::Parse(text, "Dockerfile");
  REQUIRE(df);
  planner::LowerOptions o;
  o.target = target;
  o.resolve = [](const std::string& ref) -> Result<planner::BaseImage> {
    planner::BaseImage b;
    b.digest = Sha256Of(ref);
    return b;
  };
  Plan plan = CB_TRY(planner::Lower(*df, o));
  auto hasher = CB_TRY(planner::ContextHasher::Open(ctx));
  CB_TRY(planner::ComputeKeys(plan, hasher, urls));
  return plan;
}

Plan MustKey(const std::string& text, const std::string& ctx, const planner::UrlResolver& urls = {},
             const std::string& target = "") {
  auto p = Keyed(text, ctx, urls, target);
  REQUIRE_MESSAGE(p, (p ? "" : p.error().ToString()));
  return *p;
}

std::vector<Digest> Keys(const Plan& p) {
  std::vector<Digest> out;
  for (const auto& st : p.stages)
    for (const auto& s : st.steps) out.push_back(s.key);
  return out;
}

}  // namespace

TEST_CASE("ComputeKeys: every step of a needed stage has its key before anything runs") {
  TempCtx c;
  c.Write("a.txt", "A");
  c.Write("dir/b.txt", "B");
  const char* df =
      "FROM busybox AS base\nCOPY a.txt /a\nRUN --mount=type=bind,source=dir,target=/d true\n"
      "FROM scratch AS unused\nCOPY missing /m\n"
      "FROM base\nENV X=1\nCOPY --from=base /a /b\n";
  Plan p = MustKey(df, c.dir);
  for (const auto& st : p.stages) {
    for (const auto& s : st.steps) CHECK(s.key.empty() == !st.needed);  // `unused` is never hashed
  }
  std::vector<Digest> keys = Keys(p);
  std::set<Digest> distinct(keys.begin(), keys.end());
  // FROM base has base's key; the unused stage's two steps have none (one empty digest).
  CHECK(distinct.size() == keys.size() - 2);
  const auto& base = p.stages[0];
  CHECK(p.stages[2].steps[0].key == base.key);
  CHECK(p.stages[2].steps[2].key_inputs.from_stage == base.key);
  CHECK(base.steps[1].context_sources == std::vector<std::string>{"a.txt"});
  REQUIRE(base.steps[1].files.size() == 1);
  CHECK(base.steps[1].files[0].path == "a.txt");
  CHECK(base.steps[2].key_inputs.bind_sources.size() == 1);

  // A changed context file changes the COPY's key and every key after it, not those before.
  c.Write("a.txt", "A2");
  std::vector<Digest> after = Keys(MustKey(df, c.dir));
  CHECK(after[0] == keys[0]);
  for (size_t i : {1, 2, 5, 6, 7}) CHECK(after[i] != keys[i]);
  // The bind mount's source is part of the RUN's key.
  c.Write("dir/b.txt", "B2");
  std::vector<Digest> bound = Keys(MustKey(df, c.dir));
  CHECK(bound[1] == after[1]);
  CHECK(bound[2] != after[2]);
}

TEST_CASE("ComputeKeys: wildcards are expanded once, into the sources the COPY copies") {
  TempCtx c;
  c.Write("b.txt", "B");
  c.Write("a.txt", "A");
  c.Write("c.md", "C");
  Plan p = MustKey("FROM scratch\nCOPY *.txt c.md /d/\n", c.dir);
  CHECK(p.stages[0].steps[1].context_sources == std::vector<std::string>{"a.txt", "b.txt", "c.md"});
}

TEST_CASE("ComputeKeys: ADD <url> is resolved without --checksum only, concurrently, each URL once per step") {
  TempCtx c;
  std::mutex mu;
  std::vector<std::string> asked;
  planner::UrlResolver urls = [&](const std::string& url) -> Result<planner::UrlKeyInputs> {
    std::lock_guard<std::mutex> lock(mu);
    asked.push_back(url);
    return planner::UrlKeyInputs{url, Sha256Of(url), "1700000000"};
  };
  std::string sum = Sha256Of("pinned").ToString();
  Plan p = MustKey("FROM scratch\nADD http://h/a /a\nADD --checksum=" + sum + " https://u:p@h/b /b\n", c.dir, urls);
  CHECK(asked == std::vector<std::string>{"http://h/a"});
  const auto& a = p.stages[0].steps[1];
  REQUIRE(a.key_inputs.urls.size() == 1);
  CHECK(a.key_inputs.urls[0].last_modified == "1700000000");
  const auto& b = p.stages[0].steps[2];
  REQUIRE(b.key_inputs.urls.size() == 1);
  CHECK(b.key_inputs.urls[0].content.ToString() == sum);
  CHECK(b.key_inputs.urls[0].last_modified.empty());
  REQUIRE(b.files.size() == 1);
  CHECK(b.files[0].path == "https://xxxxx@h/b");  // listings never hold credentials
}

TEST_CASE("ComputeKeys: errors name the source and carry the step's location") {
  TempCtx c;
  c.Write("a.txt", "A");
  auto p = Keyed("FROM scratch\nCOPY a.txt /a\nCOPY nothere /x\n", c.dir);
  REQUIRE_FALSE(p);
  CHECK(p.error().message.find("nothere") != std::string::npos);
  REQUIRE(p.error().where);
  CHECK(p.error().where->line == 3);
  planner::UrlResolver failing = [](const std::string& url) -> Result<planner::UrlKeyInputs> {
    return MakeError(ErrorCode::kIo, "GET `{}`: invalid response status 404", url);
  };
  auto u = Keyed("FROM scratch\nCOPY a.txt /a\nADD http://h/gone /g\n", c.dir, failing);
  REQUIRE_FALSE(u);
  CHECK(u.error().message.find("404") != std::string::npos);
  CHECK(u.error().where->line == 3);
}

TEST_CASE("ComputeKeys: many stages hashing wildcards and excludes at once, repeatedly, never hang") {
  // The deadlock of issue 22 came from a lock held across a TBB wait while hashing; keys are now
  // all computed here, concurrently: many rounds of a plan with many hashing steps must finish.
  TempCtx c;
  for (int i = 0; i < 40; ++i) c.Write("src/d" + std::to_string(i % 5) + "/f" + std::to_string(i) + ".txt", "x");
  std::string df;
  for (int i = 0; i < 8; ++i)
    df += "FROM scratch AS s" + std::to_string(i) + "\nCOPY --exclude=*1.txt src/d" + std::to_string(i % 5) +
          "/*.txt /o/\nCOPY src /all/\n";
  df += "FROM scratch\n";
  for (int i = 0; i < 8; ++i) df += "COPY --from=s" + std::to_string(i) + " /o /o" + std::to_string(i) + "\n";
  std::vector<Digest> first;
  for (int round = 0; round < 20; ++round) {
    auto keys = Keys(MustKey(df, c.dir));
    if (round == 0) first = keys;
    CHECK(keys == first);
  }
}
