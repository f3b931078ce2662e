// Golden cache keys from hand-built inputs: pins the key format itself (the e2e golden test
// pins keys of real builds, but cannot pin ADD <url> keys, whose port varies). The expected
// digests were computed from the format independently (a short Python rewrite of it); a change here
// is a key-format change: bump the version in planner/cache_key.cc and regenerate.
#include <doctest/doctest.h>

#include <functional>
#include <set>

#include "planner/cache_key.h"

using namespace cb;
using planner::KeyKind;
using planner::StepKeyInputs;

namespace {

Digest D(const std::string& s) { return Sha256Of(s); }

std::string K(const StepKeyInputs& in) { return planner::StepKey(in).ToString(); }

StepKeyInputs Run() {
  StepKeyInputs in;
  in.kind = KeyKind::kRun;
  in.parent = D("parent");
  in.argv = {"/bin/sh", "-c", "make"};
  in.env = {"PATH=/bin", "V=1"};
  in.workdir = "/src";
  in.user = "1000";
  in.network = NetworkMode::kDefault;
  in.mounts.push_back({planner::MountType::kCache, "/cache", "", "", "/cache", planner::MountSharing::kShared, false, std::nullopt, std::nullopt,
                       std::nullopt, "", 0});
  in.mounts.push_back({planner::MountType::kBind, "/ctx", "dir", "", "", planner::MountSharing::kShared, false, std::nullopt, std::nullopt, std::nullopt, "", 0});
  in.bind_sources = {D("context listing")};
  return in;
}

StepKeyInputs Copy() {
  StepKeyInputs in;
  in.kind = KeyKind::kCopy;
  in.parent = D("parent");
  in.sources = {"a.txt", "*.md"};
  in.dest = "/app/";
  in.chown = "10:20";
  in.chmod = 0640;
  in.excludes = {"*.tmp"};
  in.heredocs = {{"EOT", "hello\n"}};
  in.context = D("context listing");
  return in;
}

StepKeyInputs AddUrl(bool checksum) {
  StepKeyInputs in;
  in.kind = KeyKind::kCopy;
  in.add = true;
  in.parent = D("parent");
  in.sources = {"https://example.com/f.tar.gz"};
  in.dest = "/f";
  if (checksum) {
    in.checksum = D("remote content").ToString();
    in.urls = {{"https://example.com/f.tar.gz", D("remote content"), ""}};
  } else {
    in.urls = {{"https://example.com/f.tar.gz", D("remote content"), "1700000000"}};
  }
  return in;
}

}  // namespace

TEST_CASE("cache keys: FROM, scratch, config and stage keys are pinned") {
  StepKeyInputs img;
  img.kind = KeyKind::kImage;
  img.base_image = D("manifest");
  CHECK(K(img) == "sha256:ef8c89e05208da444e1560e4da0268702e3fd608d4579a6ce6c720becd74332a");
  StepKeyInputs scratch;
  scratch.kind = KeyKind::kScratch;
  CHECK(K(scratch) == "sha256:a5ff0149e0bb9c939cabe8679a1f449d52303277c9f8dbeaaba9e5e1aa16d278");
  StepKeyInputs config;
  config.kind = KeyKind::kConfig;
  config.parent = planner::StepKey(scratch);
  config.created_by = "ENV A=1";
  CHECK(K(config) == "sha256:d11cfbe8c1f4821ab7f9bfcd94fe07de80e410b7e81e3074820aba23dd6751b9");
  StepKeyInputs stage;
  stage.kind = KeyKind::kStage;
  stage.parent = D("stage key");
  CHECK(planner::StepKey(stage) == D("stage key"));
  // A config step does not change the filesystem: the next step chains on its parent.
  CHECK(planner::FilesystemKeyAfter(config, planner::StepKey(config)) == config.parent);
}

TEST_CASE("cache keys: WORKDIR, RUN and COPY keys are pinned") {
  StepKeyInputs wd;
  wd.kind = KeyKind::kWorkdir;
  wd.parent = D("parent");
  wd.workdir = "/app";
  wd.user = "1000";
  CHECK(K(wd) == "sha256:417c322e3be5e8b5d28dbdb1ca22af8e492362197412bba349b74873b5a12f7e");
  CHECK(K(Run()) == "sha256:117b0072ffb66b638904f04f5c06b726aeb50ab3c3118652f930a51b4af53a39");
  CHECK(K(Copy()) == "sha256:b38257a31528a2b5344932db0acf57910246452e7ebb368b48d3763cbf393771");
  StepKeyInputs from = Copy();
  from.context.reset();
  from.from = "stage:0";
  from.from_stage = D("stage key");
  CHECK(K(from) == "sha256:35fe92e94fbe15e7331c6c0351afec5421f9013bcd89c69050aada5022cd4fd8");
}

TEST_CASE("cache keys: ADD <url> with and without --checksum are pinned") {
  CHECK(K(AddUrl(false)) == "sha256:f8e1999e45e78fdf8e9fbfd445f0d0f0160095b852d2559954a41d9e20ebe18e");
  CHECK(K(AddUrl(true)) == "sha256:22ea251d2417ac2aa912039fee16a3d2c1c259c8bc77544322d842c49dd78b7a");
  // Without --checksum a new Last-Modified (same content) is a new key, as BuildKit's.
  StepKeyInputs touched = AddUrl(false);
  touched.urls[0].last_modified = "1700000001";
  CHECK(K(touched) != K(AddUrl(false)));
}

TEST_CASE("cache keys: --link keys do not depend on the layers below") {
  StepKeyInputs a = Copy(), b = Copy();
  a.link = b.link = true;
  b.parent = D("another parent");
  CHECK(K(a) == K(b));
  CHECK(K(a) == "sha256:ccefc48d066560978b5bcc23ac12a19ca840cbb14211fbe32cc42dbc371d2f80");
  // ...but what the stage chains on afterwards does.
  CHECK(planner::FilesystemKeyAfter(a, planner::StepKey(a)) != planner::FilesystemKeyAfter(b, planner::StepKey(b)));
  CHECK(planner::LinkedKey(D("below"), D("step")).ToString() ==
        "sha256:3d17ec845090b5f35796b762278a4e5353e592e64977bb7cbf8f7ecc8c60b173");
}

TEST_CASE("cache keys: every input changes the key") {
  using Mutation = std::pair<const char*, std::function<void(StepKeyInputs&)>>;
  auto check = [](StepKeyInputs base, const std::vector<Mutation>& mutations) {
    std::set<std::string> seen = {K(base)};
    for (const auto& [name, mutate] : mutations) {
      StepKeyInputs m = base;
      mutate(m);
      CAPTURE(name);
      CHECK(seen.insert(K(m)).second);
    }
  };
  check(Run(), {
      {"parent", [](auto& k) { k.parent = D("other"); }},
      {"argv", [](auto& k) { k.argv.back() = "make all"; }},
      {"argv split", [](auto& k) { k.argv = {"/bin/sh", "-c make"}; }},
      {"env", [](auto& k) { k.env.push_back("W=2"); }},
      {"workdir", [](auto& k) { k.workdir = "/"; }},
      {"user", [](auto& k) { k.user = ""; }},
      {"network", [](auto& k) { k.network = NetworkMode::kNone; }},
      {"mount type", [](auto& k) { k.mounts[0].type = planner::MountType::kTmpfs; }},
      {"mount target", [](auto& k) { k.mounts[0].target = "/c"; }},
      {"mount source", [](auto& k) { k.mounts[1].source = "other"; }},
      {"mount from", [](auto& k) { k.mounts[1].from = "img"; }},
      {"mount id", [](auto& k) { k.mounts[0].id = "x"; }},
      {"mount sharing", [](auto& k) { k.mounts[0].sharing = planner::MountSharing::kLocked; }},
      {"mount rw", [](auto& k) { k.mounts[1].readwrite = true; }},
      {"mount mode", [](auto& k) { k.mounts[0].mode = 0700; }},
      {"mount uid", [](auto& k) { k.mounts[0].uid = 1; }},
      {"mount gid", [](auto& k) { k.mounts[0].gid = 1; }},
      {"mount env", [](auto& k) { k.mounts[0].env = "E"; }},
      {"mount size", [](auto& k) { k.mounts[0].size = 1024; }},
      {"mount removed", [](auto& k) { k.mounts.pop_back(); }},
      {"bind source content", [](auto& k) { k.bind_sources[0] = D("changed"); }},
  });
  check(Copy(), {
      {"parent", [](auto& k) { k.parent = D("other"); }},
      {"add", [](auto& k) { k.add = true; }},
      {"sources", [](auto& k) { k.sources.pop_back(); }},
      {"dest", [](auto& k) { k.dest = "/app"; }},
      {"from", [](auto& k) { k.from = D("image").ToString(); }},
      {"chown", [](auto& k) { k.chown = "10"; }},
      {"chmod", [](auto& k) { k.chmod.reset(); }},
      {"link", [](auto& k) { k.link = true; }},
      {"parents", [](auto& k) { k.parents = true; }},
      {"excludes", [](auto& k) { k.excludes.clear(); }},
      {"keep_git_dir", [](auto& k) { k.keep_git_dir = true; }},
      {"heredoc content", [](auto& k) { k.heredocs[0].second = "bye\n"; }},
      {"heredoc name", [](auto& k) { k.heredocs[0].first = "X"; }},
      {"context", [](auto& k) { k.context = D("changed"); }},
      {"url", [](auto& k) { k.urls.push_back({"http://h/x", D("x"), ""}); }},
  });
  check(AddUrl(true), {
      {"checksum", [](auto& k) { k.checksum = D("other").ToString(); }},
      {"url content", [](auto& k) { k.urls[0].content = D("other"); }},
      {"url", [](auto& k) { k.urls[0].url = "https://example.com/g.tar.gz"; }},
  });
}

TEST_CASE("cache keys: DescribeInputs names what the kind keys") {
  auto names = [](const StepKeyInputs& in) {
    std::vector<std::string> out;
    for (const auto& f : planner::DescribeInputs(in)) out.push_back(f.name);
    return out;
  };
  CHECK(names(Run()) ==
        std::vector<std::string>{"parent", "argv", "env", "workdir", "user", "network", "mounts", "bind_sources"});
  auto urls = planner::DescribeInputs(AddUrl(false));
  CHECK(urls.back().name == "urls");
  CHECK(urls.back().values == std::vector<std::string>{
                                  "https://example.com/f.tar.gz " + D("remote content").ToString() +
                                  " last_modified=1700000000"});
  StepKeyInputs linked = Copy();
  linked.link = true;
  CHECK(planner::DescribeInputs(linked)[0].values[0] == "link");
}
