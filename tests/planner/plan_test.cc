#include <doctest/doctest.h>

#include "parser/parser.h"
#include "planner/plan.h"

using namespace cb;

namespace {

/// A resolver that knows one fake base image with PATH and a CMD.
planner::LowerOptions Opts(const std::string& target = "") {
  planner::LowerOptions o;
  o.target = target;
  o.resolve = [](const std::string& ref) -> Result<planner::BaseImage> {
    if (ref != "busybox" && ref != "a" && ref != "b") return MakeError(ErrorCode::kNotFound, "image `{}` not found", ref);
    planner::BaseImage b;
    b.digest = Sha256Of(ref);
    b.config.env = {"PATH=/bin"};
    b.config.cmd = std::vector<std::string>{"sh"};
    return b;
  };
  return o;
}

planner::Plan MustLower(const std::string& text, const std::string& target = "") {
  auto df = parser::Parse(text, "Dockerfile");
  REQUIRE(df);
  auto plan = planner::Lower(*df, Opts(target));
  REQUIRE_MESSAGE(plan, (plan ? "" : plan.error().ToString()));
  return *plan;
}

}  // namespace

TEST_CASE("the classic five instructions lower to numbered steps") {
  auto plan = MustLower("FROM busybox\nWORKDIR /app\nCOPY . /app\nRUN make\nCMD [\"./app\"]\n");
  REQUIRE(plan.stages.size() == 1);
  const auto& steps = plan.stages[0].steps;
  REQUIRE(steps.size() == 5);
  CHECK(steps[0].kind == planner::StepKind::kFrom);
  CHECK(plan.stages[0].base_ref == "busybox");
  CHECK(steps[1].kind == planner::StepKind::kWorkdir);
  CHECK(steps[2].copy.sources == std::vector<std::string>{"."});
  CHECK(steps[2].copy.dest == "/app");
  CHECK(steps[3].argv == std::vector<std::string>{"/bin/sh", "-c", "make"});
  CHECK(steps[4].config.cmd == std::vector<std::string>{"./app"});
  CHECK(steps[4].created_by == "CMD [\"./app\"]");
  CHECK(steps[4].number == 5);
  CHECK(steps[3].loc.line == 4);
  CHECK(plan.total_steps == 5);
}

TEST_CASE("lowering errors carry file:line:col") {
  auto df = parser::Parse("FROM busybox\nCOPY onlyone\n", "Dockerfile");
  REQUIRE(df);
  auto plan = planner::Lower(*df, Opts());
  REQUIRE_FALSE(plan);
  CHECK(plan.error().ToString().rfind("Dockerfile:2:1: ", 0) == 0);
  auto df2 = parser::Parse("FROM a AS one\nFROM b AS two\n", "Dockerfile");
  CHECK(planner::Lower(*df2, Opts("three")).error().message.find("three") != std::string::npos);
}

TEST_CASE("ARG and ENV scoping follow BuildKit") {
  planner::LowerOptions o = Opts();
  o.build_args = {{"V", "cli"}, {"UNUSED", "x"}};
  auto df = parser::Parse("ARG IMG=busybox\nARG V=global\nFROM $IMG\nRUN echo $V\nARG V\nENV E=$V\n"
                          "ARG TARGETARCH\nRUN echo $TARGETARCH\n", "Dockerfile");
  REQUIRE(df);
  auto plan = planner::Lower(*df, o);
  REQUIRE(plan);
  const auto& st = plan->stages[0];
  CHECK(st.base_ref == "busybox");
  // before `ARG V` in the stage, V is not in scope; after, the --build-arg value wins
  CHECK(st.steps[1].env == std::vector<std::string>{"PATH=/bin"});
  CHECK(st.steps[2].config.env == std::vector<std::string>{"PATH=/bin", "E=cli"});
  CHECK(st.steps[3].created_by == "RUN |2 V=cli TARGETARCH=amd64 /bin/sh -c echo $TARGETARCH # buildkit");
  REQUIRE(plan->warnings.size() == 1);
  CHECK(plan->warnings[0].find("UNUSED") != std::string::npos);
}

TEST_CASE("stages: dependencies, target pruning, ENTRYPOINT resets an inherited CMD") {
  auto plan = MustLower("FROM busybox AS a\nRUN x\nFROM busybox AS b\nRUN y\n"
                        "FROM busybox\nCOPY --from=a /x /x\nENTRYPOINT [\"e\"]\n");
  CHECK(plan.stages[2].deps == std::set<int>{0});
  CHECK(plan.stages[0].needed);
  CHECK_FALSE(plan.stages[1].needed);
  CHECK(plan.stages[1].steps[0].number == 0);
  CHECK_FALSE(plan.stages[2].steps.back().config.cmd.has_value());
  CHECK(plan.total_steps == 5);
}

namespace {

std::string LowerError(const std::string& text) {
  auto df = parser::Parse(text, "Dockerfile");
  REQUIRE(df);
  auto plan = planner::Lower(*df, Opts());
  return plan ? std::string() : plan.error().ToString();
}

}  // namespace

TEST_CASE("ADD --checksum and URL sources follow BuildKit's rules") {
  const std::string sum = Sha256Of("x").ToString();
  auto plan = MustLower("FROM busybox\nADD --checksum=" + sum + " https://example.com/a/f.tgz /d/\n");
  const auto& c = plan.stages[0].steps[1].copy;
  CHECK(c.checksum == sum);
  CHECK(planner::IsRemoteUrl(c.sources[0]));
  CHECK_FALSE(planner::IsRemoteUrl("httpx/file"));
  CHECK(LowerError("FROM busybox\nADD --checksum=" + sum + " local.txt /x\n") ==
        "Dockerfile:2:1: checksum can't be specified for non-HTTP(S) sources");
  CHECK(LowerError("FROM busybox\nADD --checksum=" + sum + " http://h/a http://h/b /x/\n") ==
        "Dockerfile:2:1: checksum can't be specified for multiple sources");
  CHECK(LowerError("FROM busybox\nADD --checksum=sha512:ab http://h/a /x\n").find("invalid --checksum") !=
        std::string::npos);
  CHECK(LowerError("FROM busybox\nCOPY http://h/a /x\n").find("source can't be a URL for COPY") != std::string::npos);
}

TEST_CASE("--link: parent-independent unless --chmod; --chown only numeric or root") {
  auto plan = MustLower("FROM busybox\nCOPY --link a /a\nCOPY --link --chmod=600 a /b\n"
                        "COPY --link --chown=root:5 a /c\nCOPY --link --chown=7 a /d\n");
  const auto& s = plan.stages[0].steps;
  CHECK(s[1].copy.link);
  CHECK_FALSE(s[2].copy.link);  // BuildKit copies onto the stage when --chmod is given
  CHECK(s[3].copy.link);
  CHECK(s[3].copy.chown == "0:5");
  CHECK(s[4].copy.chown == "7");
  CHECK(LowerError("FROM busybox\nCOPY --link --chown=daemon a /a\n").find("numeric ids") != std::string::npos);
  CHECK(LowerError("FROM busybox\nCOPY --link --chown=1:staff a /a\n").find("numeric ids") != std::string::npos);
}

namespace {

/// The error of parser::Validate, or "" when it accepts the Dockerfile.
std::string ValidateError(const std::string& text) {
  auto df = parser::Parse(text, "Dockerfile");
  REQUIRE(df);
  auto st = parser::Validate(*df);
  return st ? std::string() : st.error().ToString();
}

}  // namespace

// One flag table serves the parser's validation and the planner: both accept and reject the
// same flags with the same message (BuildKit's instructions/bflag.go wording).
TEST_CASE("flags: the parser's validation and the planner agree, with BuildKit's messages") {
  struct Case {
    const char* line;
    const char* error;  ///< "" = accepted
  };
  const Case cases[] = {
      {"COPY --from=a --chown=1:2 --chmod=644 --link --parents --exclude=x --exclude=y s /d/", ""},
      {"ADD --chown=1 --chmod=644 --link=false --keep-git-dir=true --unpack=TRUE --exclude=x s /d/", ""},
      {"ADD --unpack=false http://h/a.tgz /d/", ""},
      {"RUN --mount=type=cache,target=/c --network=none --security=sandbox true", ""},
      {"HEALTHCHECK --interval=5s --timeout=1s --start-period=1s --start-interval=1s --retries=2 CMD true", ""},
      {"ADD --parents s /d/", "Dockerfile:2:5: ADD: unknown flag: --parents"},
      {"ADD --from=a s /d/", "Dockerfile:2:5: ADD: unknown flag: --from"},
      {"COPY --frm=b s /d", "Dockerfile:2:6: COPY: unknown flag: --frm (did you mean from?)"},
      {"COPY --from=a --from=b s /d", "Dockerfile:2:6: COPY: duplicate flag specified: --from"},
      {"COPY --link=maybe s /d", "Dockerfile:2:6: COPY: expecting boolean value for flag --link, not: maybe"},
      {"COPY --link= s /d", "Dockerfile:2:6: COPY: missing a value on flag: --link"},
      {"COPY --from s /d", "Dockerfile:2:6: COPY: missing a value on flag: --from"},
      {"RUN --mount true", "Dockerfile:2:5: RUN: missing a value on flag: --mount"},
      {"MAINTAINER --boo joe", "Dockerfile:2:12: MAINTAINER: unknown flag: --boo"},
      {"ENV --x=1 A=b", "Dockerfile:2:5: ENV: unknown flag: --x"},
      {"WORKDIR --chown=1 /x", "Dockerfile:2:9: WORKDIR: unknown flag: --chown"},
      {"ARG --x=1 V", "Dockerfile:2:5: ARG: unknown flag: --x"},
      {"RUN --networks=none true", "Dockerfile:2:5: RUN: unknown flag: --networks (did you mean network?)"},
  };
  for (const Case& c : cases) {
    const std::string text = std::string("FROM busybox\n") + c.line + "\n";
    CAPTURE(text);
    CHECK(ValidateError(text) == c.error);
    CHECK(LowerError(text) == c.error);
  }
}

TEST_CASE("flags: RUN --device is a known flag that cbuild cannot honour") {
  const std::string text = "FROM busybox\nRUN --device=vendor.com/gpu=all true\n";
  CHECK(ValidateError(text).empty());
  CHECK(LowerError(text) == "Dockerfile:2:1: RUN --device: CDI devices are not supported by cbuild");
}

TEST_CASE("flags: bool flags take true/false in any case; --link=false is off") {
  auto plan = MustLower("FROM busybox\nCOPY --link=FALSE a /a\nCOPY --link=True a /b\nCOPY --parents a /c/\n");
  const auto& s = plan.stages[0].steps;
  CHECK_FALSE(s[1].copy.link);
  CHECK(s[2].copy.link);
  CHECK(s[3].copy.parents);
}

TEST_CASE("flags: ADD --unpack asking for what cbuild does not do is an error, not ignored") {
  CHECK(LowerError("FROM busybox\nADD --unpack=false a.tgz /d/\n") ==
        "Dockerfile:2:1: ADD --unpack=false: `a.tgz`: cbuild always unpacks local archives");
  CHECK(LowerError("FROM busybox\nADD --unpack https://h/a.tgz /d/\n") ==
        "Dockerfile:2:1: ADD --unpack=true: `https://h/a.tgz`: cbuild does not unpack downloaded archives");
}

TEST_CASE("RUN --mount type and sharing, --network: typed, one spelling each") {
  auto plan = MustLower("FROM busybox\nRUN --mount=type=cache,target=/c,sharing=locked --mount=type=tmpfs,target=/t "
                        "--network=none true\nRUN true\n");
  const auto& run = plan.stages[0].steps[1];
  REQUIRE(run.mounts.size() == 2);
  CHECK(run.mounts[0].type == planner::MountType::kCache);
  CHECK(run.mounts[0].sharing == planner::MountSharing::kLocked);
  CHECK(run.mounts[1].type == planner::MountType::kTmpfs);
  CHECK(run.network == NetworkMode::kNone);
  CHECK(plan.stages[0].steps[2].network == NetworkMode::kDefault);
  for (auto t : {planner::MountType::kBind, planner::MountType::kCache, planner::MountType::kTmpfs,
                 planner::MountType::kSecret, planner::MountType::kSsh})
    CHECK(planner::ParseMountType(planner::FormatMountType(t)) == t);
  for (auto s : {planner::MountSharing::kShared, planner::MountSharing::kPrivate, planner::MountSharing::kLocked})
    CHECK(planner::ParseMountSharing(planner::FormatMountSharing(s)) == s);
  CHECK(LowerError("FROM busybox\nRUN --mount=type=nfs,target=/n true\n") ==
        "Dockerfile:2:1: RUN --mount: invalid type `nfs`");
  CHECK(LowerError("FROM busybox\nRUN --mount=type=cache,target=/c,sharing=some true\n") ==
        "Dockerfile:2:1: RUN --mount: invalid sharing `some`");
  CHECK(LowerError("FROM busybox\nRUN --network=bridge true\n") ==
        "Dockerfile:2:1: RUN --network: `bridge` is not one of default, none, host");
}
