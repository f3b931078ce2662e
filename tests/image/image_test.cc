#include <doctest/doctest.h>

#include "cache/blob_store.h"
#include "cache/metadata_store.h"
#include "common/fs.h"
#include "image/image_store.h"
#include "image/oci.h"
#include "image/reference.h"

using namespace cb;

TEST_CASE("references normalize like Docker's") {
  auto r = image::ParseReference("busybox");
  REQUIRE(r);
  CHECK(r->String() == "docker.io/library/busybox:latest");
  CHECK(r->Familiar() == "busybox:latest");
  CHECK(image::ParseReference("user/app:1.0")->String() == "docker.io/user/app:1.0");
  CHECK(image::ParseReference("127.0.0.1:5000/x/y:t")->String() == "127.0.0.1:5000/x/y:t");
  CHECK(image::ParseReference("localhost/app")->String() == "localhost/app:latest");
  CHECK(image::ParseReference("127.0.0.1:5000/app")->Familiar() == "127.0.0.1:5000/app:latest");
  auto d = image::ParseReference("busybox@sha256:" + std::string(64, 'a'));
  REQUIRE(d);
  CHECK(d->String() == "docker.io/library/busybox@sha256:" + std::string(64, 'a'));
  CHECK_FALSE(image::ParseReference("Busybox"));
  CHECK_FALSE(image::ParseReference("a:b:c"));
  CHECK_FALSE(image::ParseReference(""));
}

TEST_CASE("config JSON round-trips and is canonical") {
  image::ImageConfig c;
  c.config.env = {"PATH=/bin", "A=1"};
  c.config.cmd = std::vector<std::string>{"sh"};
  c.config.working_dir = "/app";
  c.diff_ids.push_back(Sha256Of("x"));
  c.history.push_back({"", "RUN x", "", false});
  c.history.push_back({"", "CMD", "", true});
  c.SetEnv("A", "2");
  CHECK(c.config.env == std::vector<std::string>{"PATH=/bin", "A=2"});
  std::string j = image::ToJson(c);
  auto back = image::ParseConfig(j, "test");
  REQUIRE(back);
  CHECK(image::ToJson(*back) == j);
  CHECK(back->config.cmd == std::vector<std::string>{"sh"});
  CHECK_FALSE(back->config.entrypoint.has_value());
  CHECK(j.find("\"created\"") == std::string::npos);  // no build time unless asked
  CHECK(image::ParseConfig("{", "blob x").error().message.find("blob x") != std::string::npos);
}

TEST_CASE("manifest parsing rejects an index-shaped manifest") {
  std::string both = R"({"schemaVersion":2,"manifests":[],"layers":[]})";
  CHECK_FALSE(image::ParseManifest(both, "m"));
  CHECK_FALSE(image::ParseIndex(both, "m"));
}

TEST_CASE("ImageStore puts, tags, resolves and lists") {
  auto dir = fs::MakeTempDir("/tmp", "cb-image-test-");
  REQUIRE(dir);
  auto blobs = cache::BlobStore::Open(*dir);
  auto meta = cache::MetadataStore::Open(*dir);
  REQUIRE(blobs);
  REQUIRE(meta);
  image::ImageStore store(blobs->get(), meta->get());
  image::ImageConfig c;
  c.config.cmd = std::vector<std::string>{"true"};
  auto img = store.Put(image::Manifest{}, c);
  REQUIRE(img);
  auto again = store.Put(image::Manifest{}, c);
  CHECK(again->manifest_digest == img->manifest_digest);  // deterministic
  REQUIRE(store.Tag(*image::ParseReference("app:1"), img->manifest_digest));
  CHECK(store.Resolve("app:1")->config_digest == img->config_digest);
  CHECK(store.Resolve("docker.io/library/app:1"));
  CHECK(store.Resolve(img->manifest_digest.ToString()));
  CHECK(store.Resolve(img->manifest_digest.Short()));
  CHECK(store.Resolve("app:2").error().code == ErrorCode::kNotFound);
  CHECK(store.List()->size() == 1);
  CHECK(*store.Untag(*image::ParseReference("app:1")));
  CHECK(store.List()->empty());
  CHECK(fs::RemoveTree(*dir));
}
