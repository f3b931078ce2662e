// Unit tests of the registry client's pure parts: auth headers, credentials, URL and host policy.
#include <doctest/doctest.h>
#include <stdlib.h>

#include <atomic>

#include "common/fs.h"
#include "registry/credentials.h"
#include "registry/http_client.h"
#include "registry/options.h"
#include "registry/parallel.h"
#include "registry/transfer_progress.h"

using namespace cb;
using namespace cb::registry;

TEST_CASE("WWW-Authenticate: Bearer with quoted params, several challenges") {
  auto cs = ParseWwwAuthenticate(
      R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull")");
  REQUIRE(cs.size() == 1);
  CHECK(cs[0].scheme == "bearer");
  CHECK(cs[0].params["realm"] == "https://auth.docker.io/token");
  CHECK(cs[0].params["service"] == "registry.docker.io");
  CHECK(cs[0].params["scope"] == "repository:library/busybox:pull");
  auto two = ParseWwwAuthenticate(R"(Basic realm="x \"y\"", Bearer realm=r,error="invalid_token")");
  REQUIRE(two.size() == 2);
  CHECK(two[0].scheme == "basic");
  CHECK(two[0].params["realm"] == "x \"y\"");
  CHECK(two[1].params["realm"] == "r");
  CHECK(two[1].params["error"] == "invalid_token");
  CHECK(ParseWwwAuthenticate("").empty());
}

TEST_CASE("base64 round trip and rejects junk") {
  for (std::string s : {"", "a", "ab", "abc", "user:pass", "\xff\x00\x01"}) {
    auto d = Base64Decode(Base64Encode(s));
    REQUIRE(d);
    CHECK(*d == s);
  }
  CHECK(Base64Encode("alice:s3cret") == "YWxpY2U6czNjcmV0");
  CHECK_FALSE(Base64Decode("a$b"));
}

TEST_CASE("credentials go only to the registry host or its sibling hosts") {
  CHECK(MayReceiveCredentials("registry-1.docker.io", "auth.docker.io"));
  CHECK(MayReceiveCredentials("127.0.0.1:5000", "127.0.0.1"));
  CHECK(MayReceiveCredentials("reg.example.com:443", "reg.example.com"));
  CHECK_FALSE(MayReceiveCredentials("127.0.0.1:5000", "127.0.0.2"));
  CHECK_FALSE(MayReceiveCredentials("127.0.0.1:5000", "localhost"));
  CHECK_FALSE(MayReceiveCredentials("reg.example.com", "evil.com"));
  CHECK_FALSE(MayReceiveCredentials("reg.example.com", "example.com.evil.org"));
  CHECK_FALSE(MayReceiveCredentials("example.com", "other.com"));  // no sharing across a TLD
  CHECK_FALSE(MayReceiveCredentials("localhost:5000", "otherhost"));
}

TEST_CASE("docker config: auths, helpers, save keeps other keys") {
  auto dir = fs::MakeTempDir("/tmp", "cbreg-");
  REQUIRE(dir);
  std::string path = *dir + "/config.json";
  REQUIRE(fs::WriteFileAtomic(path, R"({"auths":{"https://index.docker.io/v1/":{"auth":"YWxpY2U6czNjcmV0"},)"
                                    R"("reg.example.com":{"identitytoken":"tok"}},"psFormat":"x"})"));
  auto cfg = DockerConfig::Load(path);
  REQUIRE(cfg);
  auto hub = cfg->Lookup("docker.io");
  REQUIRE(hub);
  REQUIRE(hub->has_value());
  CHECK((*hub)->username == "alice");
  CHECK((*hub)->password == "s3cret");
  auto tok = cfg->Lookup("reg.example.com");
  REQUIRE(tok);
  REQUIRE(tok->has_value());
  CHECK((*tok)->identity_token == "tok");
  auto none = cfg->Lookup("other.example.com");
  REQUIRE(none);
  CHECK_FALSE(none->has_value());
  REQUIRE(cfg->Save("127.0.0.1:5000", {"bob", "pw", ""}));
  auto again = DockerConfig::Load(path);
  REQUIRE(again);
  auto bob = again->Lookup("127.0.0.1:5000");
  REQUIRE(bob);
  REQUIRE(bob->has_value());
  CHECK((*bob)->password == "pw");
  CHECK(fs::ReadFile(path)->find("psFormat") != std::string::npos);
  auto erased = again->Erase("127.0.0.1:5000");
  REQUIRE(erased);
  CHECK(*erased);
  CHECK_FALSE(DockerConfig::Load(path)->Lookup("127.0.0.1:5000")->has_value());
  auto missing = DockerConfig::Load(*dir + "/nope.json");
  REQUIRE(missing);
  CHECK_FALSE(missing->Lookup("docker.io")->has_value());
  REQUIRE(fs::WriteFileAtomic(path, "{not json"));
  auto bad = DockerConfig::Load(path);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find(path) != std::string::npos);
  (void)fs::RemoveTree(*dir);
}

TEST_CASE("a missing credential helper means anonymous") {
  auto dir = fs::MakeTempDir("/tmp", "cbreg-");
  REQUIRE(dir);
  std::string path = *dir + "/config.json";
  REQUIRE(fs::WriteFileAtomic(path, R"({"credsStore":"cbuild-no-such-helper"})"));
  auto cfg = DockerConfig::Load(path);
  REQUIRE(cfg);
  auto c = cfg->Lookup("docker.io");
  REQUIRE(c);
  CHECK_FALSE(c->has_value());
  (void)fs::RemoveTree(*dir);
}

TEST_CASE("URLs: parse, resolve Location, encode") {
  auto u = ParseUrl("https://Reg.Example.com:5000/v2/x?y=1");
  REQUIRE(u);
  CHECK(u->scheme == "https");
  CHECK(u->authority == "reg.example.com:5000");
  CHECK(u->host == "reg.example.com");
  CHECK(u->path_and_query == "/v2/x?y=1");
  CHECK_FALSE(ParseUrl("https://user:pw@host/"));
  CHECK_FALSE(ParseUrl("no-scheme"));
  CHECK(ResolveLocation("http://a:1/v2/x/blobs/uploads/", "/v2/x/blobs/uploads/u1") == "http://a:1/v2/x/blobs/uploads/u1");
  CHECK(ResolveLocation("http://a:1/v2/x", "https://b/c") == "https://b/c");
  CHECK(ResolveLocation("http://a:1/v2/x", "//b/c") == "http://b/c");
  CHECK(UrlEncode("repository:a/b:pull,push") == "repository%3Aa%2Fb%3Apull%2Cpush");
}

TEST_CASE("plain HTTP only for loopback and insecure registries; mirrors first for docker.io") {
  RegistryOptions o;
  CHECK(AllowsPlainHttp("localhost:5000", o));
  CHECK(AllowsPlainHttp("127.0.0.1:5000", o));
  CHECK_FALSE(AllowsPlainHttp("reg.example.com", o));
  o.insecure_registries = {"reg.example.com:5000"};
  CHECK(AllowsPlainHttp("reg.example.com:5000", o));
  CHECK_FALSE(AllowsPlainHttp("other.example.com", o));
  o.mirrors = {"https://mirror.example.com"};
  auto eps = EndpointsFor("docker.io", o);
  REQUIRE(eps);
  REQUIRE(eps->size() == 2);
  CHECK((*eps)[0].host == "mirror.example.com");
  CHECK((*eps)[0].mirror);
  CHECK((*eps)[1].host == "registry-1.docker.io");
  auto q = EndpointsFor("quay.io", o);
  REQUIRE(q);
  CHECK(q->size() == 1);
  CHECK((*q)[0].host == "quay.io");
  o.mirrors = {"ftp://x"};
  CHECK_FALSE(EndpointsFor("docker.io", o));
}

TEST_CASE("registries config file") {
  auto dir = fs::MakeTempDir("/tmp", "cbreg-");
  REQUIRE(dir);
  std::string path = *dir + "/registries.json";
  REQUIRE(fs::WriteFileAtomic(path, R"({"insecure-registries":["r:5000"],"registry-mirrors":["https://m"],"ca-file":"/x.pem"})"));
  auto o = RegistryOptions::Load(path);
  REQUIRE(o);
  CHECK(o->insecure_registries == std::vector<std::string>{"r:5000"});
  CHECK(o->mirrors == std::vector<std::string>{"https://m"});
  CHECK(o->ca_file == "/x.pem");
  REQUIRE(fs::WriteFileAtomic(path, R"({"insecure-registries":"r"})"));
  auto bad = RegistryOptions::Load(path);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find(path) != std::string::npos);
  CHECK(RegistryOptions::Load(*dir + "/missing.json"));
  (void)fs::RemoveTree(*dir);
}

TEST_CASE("ParallelFor runs every job, and stops at the first error") {
  std::atomic<int> n{0};
  CHECK(ParallelFor(100, 4, [&](size_t) {
    ++n;
    return Ok();
  }));
  CHECK(n == 100);
  std::atomic<int> m{0};
  auto st = ParallelFor(1000, 1, [&](size_t i) -> Status {
    ++m;
    if (i == 3) return MakeError(ErrorCode::kFailed, "job {}", i);
    return Ok();
  });
  REQUIRE_FALSE(st);
  CHECK(st.error().message == "job 3");
  CHECK(m == 4);
}

TEST_CASE("HumanSize prints decimal units") {
  CHECK(HumanSize(17) == "17B");
  CHECK(HumanSize(512000) == "512.0kB");
  CHECK(HumanSize(12300000) == "12.3MB");
}

TEST_CASE("HttpClient reports an unreachable host as a kIo error naming the URL") {
  HttpClient h({"", 2, 5});
  HttpRequest r;
  r.url = "http://127.0.0.1:1/v2/";
  auto resp = h.Do(r);
  REQUIRE_FALSE(resp);
  CHECK(resp.error().code == ErrorCode::kIo);
  CHECK(resp.error().message.find("http://127.0.0.1:1/v2/") != std::string::npos);
}
