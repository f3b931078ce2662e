#include <doctest/doctest.h>

#include "parser/parser.h"
#include "planner/plan.h"

using namespace cb;

namespace {

planner::Plan MustLower(const std::string& text, const std::string& target = "") {
  auto df = parser::Parse(text, "Dockerfile");
  REQUIRE(df);
  auto plan = planner::Lower(*df, planner::LowerOptions{target});
  REQUIRE_MESSAGE(plan, (plan ? "" : plan.error().ToString()));
  return *plan;
}

}  // namespace

TEST_CASE("ResolvePath joins and cleans like BuildKit") {
  CHECK(planner::ResolvePath("/", "app") == "/app");
  CHECK(planner::ResolvePath("/app", "sub/") == "/app/sub");
  CHECK(planner::ResolvePath("/app", "/abs") == "/abs");
  CHECK(planner::ResolvePath("/app", "../..") == "/");
  CHECK(planner::ResolvePath("", "./x/./y") == "/x/y");
}

TEST_CASE("the classic five instructions lower to numbered steps") {
  auto plan = MustLower("FROM busybox\nWORKDIR /app\nCOPY . /app\nRUN make\nCMD [\"./app\"]\n");
  REQUIRE(plan.stages.size() == 1);
  const auto& steps = plan.stages[0].steps;
  REQUIRE(steps.size() == 5);
  CHECK(steps[0].kind == planner::StepKind::kFrom);
  CHECK(steps[0].base == "busybox");
  CHECK(steps[1].kind == planner::StepKind::kWorkdir);
  CHECK(steps[2].sources == std::vector<std::string>{"."});
  CHECK(steps[2].dest == "/app");
  CHECK(steps[3].args == std::vector<std::string>{"make"});
  CHECK_FALSE(steps[3].exec_form);
  CHECK(steps[4].exec_form);
  CHECK(steps[4].number == 5);
  CHECK(steps[3].loc.line == 4);
  CHECK(plan.total_steps == 5);
}

TEST_CASE("lowering errors carry file:line:col") {
  auto df = parser::Parse("FROM busybox\nCOPY onlyone\n", "Dockerfile");
  REQUIRE(df);
  auto plan = planner::Lower(*df, {});
  REQUIRE_FALSE(plan);
  CHECK(plan.error().ToString().rfind("Dockerfile:2:1: ", 0) == 0);
  auto df2 = parser::Parse("FROM a AS one\nFROM b AS two\n", "Dockerfile");
  CHECK(planner::Lower(*df2, {"three"}).error().message.find("three") != std::string::npos);
}
