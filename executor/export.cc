#include "executor/export.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <thread>

#include "common/fs.h"
#include "common/key_value.h"
#include "sandbox/host_mount.h"
#include "image/docker_archive.h"
#include "image/oci_archive.h"
#include "snapshotter/applier.h"

namespace cb::executor {

using store::Store;
using sandbox::ScopedMount;
namespace {

using snapshotter::Compression;

bool IsCompressed(const std::string& mt) {
  return mt.find("gzip") != std::string::npos || mt.find("zstd") != std::string::npos;
}

/// Docker schema2 media types → their OCI equivalents (a converted manifest is OCI).
std::string OciMediaType(const std::string& mt) {
  if (mt == image::kMediaTypeDockerLayerGzip) return image::kMediaTypeLayerGzip;
  if (mt == "application/vnd.docker.image.rootfs.diff.tar") return image::kMediaTypeLayer;
  if (mt == image::kMediaTypeDockerConfig) return image::kMediaTypeConfig;
  return mt;
}

std::optional<int64_t> SourceDateEpoch() {
  const char* e = std::getenv("SOURCE_DATE_EPOCH");
  if (!e || !*e) return std::nullopt;
  return std::strtoll(e, nullptr, 10);
}

/// Streams the merged root filesystem at `dir` into `spec.dest` (tar file or directory).
Status WriteTree(const std::string& dir, const OutputSpec& spec) {
  snapshotter::DiffOptions opts;
  opts.compression = spec.compression.value_or(Compression::kNone);
  opts.clamp_mtime = SourceDateEpoch();
  opts.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (spec.type == OutputType::kTar) {
    UniqueFd fd;
    std::string tmp;
    if (spec.dest == "-") {
      fd = UniqueFd(::fcntl(1, F_DUPFD_CLOEXEC, 3));
    } else {
      tmp = spec.dest + ".tmp-XXXXXX";
      fd = UniqueFd(::mkostemp(tmp.data(), O_CLOEXEC));
    }
    if (!fd) return ErrnoError(errno, fmt::format("create `{}`", spec.dest));
    auto blob = snapshotter::NewTarDiffer()->Diff(dir, fd.get(), opts);
    Status st = blob ? Ok() : Status(std::move(blob).error());
    if (st && !tmp.empty()) {
      ::fchmod(fd.get(), 0644);
      if (::fsync(fd.get()) != 0 || ::rename(tmp.c_str(), spec.dest.c_str()) != 0)
        st = ErrnoError(errno, fmt::format("write `{}`", spec.dest));
    }
    if (!st && !tmp.empty()) ::unlink(tmp.c_str());
    return st;
  }
  CB_TRY(fs::MakeDirs(spec.dest));
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return ErrnoError(errno, "pipe");
  UniqueFd rd(p[0]), wr(p[1]);
  opts.compression = Compression::kNone;
  Result<snapshotter::LayerBlob> diffed = MakeError(ErrorCode::kFailed, "not run");
  std::thread differ([&] {
    diffed = snapshotter::NewTarDiffer()->Diff(dir, wr.get(), opts);
    wr.reset();
  });
  snapshotter::ApplyOptions ao;
  ao.overlay_whiteouts = false;
  auto applied = snapshotter::NewTarApplier()->Apply(rd.get(), spec.dest, ao);
  char buf[65536];
  while (::read(rd.get(), buf, sizeof buf) > 0) {
  }
  differ.join();
  if (!diffed) return std::move(diffed).error();
  if (!applied) return std::move(applied).error();
  return Ok();
}

Status ExportRootfs(Store& store, const image::Image& img, const OutputSpec& spec) {
  CB_TRY(store.EnsureSnapshots(img));
  std::string mnt = CB_TRY(fs::MakeTempDir(store.root(), "export-"));
  Status st = [&]() -> Status {
    if (img.config.diff_ids.empty()) return WriteTree(mnt, spec);
    auto view = CB_TRY(store.snapshots().View(img.config.diff_ids));
    auto m = CB_TRY(ScopedMount::Mount(view, mnt));
    CB_TRY(WriteTree(mnt, spec));
    return m.Unmount();
  }();
  (void)::rmdir(mnt.c_str());
  return st;
}

}  // namespace

Result<snapshotter::Compression> ParseCompression(std::string_view name) {
  if (name == "gzip") return Compression::kGzip;
  if (name == "zstd") return Compression::kZstd;
  if (name == "none" || name == "uncompressed") return Compression::kNone;
  return MakeError(ErrorCode::kInvalidArgument, "compression `{}`: expected gzip, zstd or none", name);
}

std::string_view FormatOutputType(OutputType t) {
  switch (t) {
    case OutputType::kOci: return "oci";
    case OutputType::kDocker: return "docker";
    case OutputType::kLocal: return "local";
    case OutputType::kTar: return "tar";
    case OutputType::kImage: return "image";
  }
  return "local";
}

Result<OutputType> ParseOutputType(std::string_view s) {
  for (OutputType t : {OutputType::kOci, OutputType::kDocker, OutputType::kLocal, OutputType::kTar, OutputType::kImage})
    if (s == FormatOutputType(t)) return t;
  return MakeError(ErrorCode::kInvalidArgument, "type `{}`: expected oci, docker, local, tar or image", s);
}

Result<OutputSpec> ParseOutputSpec(std::string_view spec) {
  OutputSpec out;
  if (spec.find('=') == std::string_view::npos) {
    out.type = OutputType::kLocal;
    out.dest = std::string(spec);
    return out;
  }
  for (const auto& [k, value] : SplitFields(spec)) {
    if (!value) return MakeError(ErrorCode::kInvalidArgument, "--output: `{}` is not KEY=VALUE", k);
    const std::string& v = *value;
    if (k == "type") {
      out.type = CB_TRY_CTX(ParseOutputType(v), "--output");
    } else if (k == "dest") {
      out.dest = v;
    } else if (k == "compression") {
      out.compression = CB_TRY(ParseCompression(v));
    } else if (k == "name") {
      out.names.emplace_back(v);
    } else {
      return MakeError(ErrorCode::kInvalidArgument, "--output: unknown key `{}` (type, dest, compression, name)", k);
    }
  }
  if (out.type != OutputType::kImage && out.dest.empty())
    return MakeError(ErrorCode::kInvalidArgument, "--output type={} needs dest=PATH", FormatOutputType(out.type));
  if (out.type == OutputType::kLocal && out.dest == "-")
    return MakeError(ErrorCode::kInvalidArgument, "--output type=local: dest must be a directory, not `-`");
  return out;
}

Result<image::Image> MaterializeImage(Store& store, const image::Image& img, Compression dflt,
                                      std::optional<Compression> force) {
  const auto& ids = img.config.diff_ids;
  if (ids.size() != img.manifest.layers.size())
    return MakeError(ErrorCode::kCorrupt, "image {}: {} layers but {} diff_ids", img.manifest_digest.ToString(),
                     img.manifest.layers.size(), ids.size());
  image::Manifest m = img.manifest;
  std::vector<size_t> todo;
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const auto& l = m.layers[i];
    bool have = store.blobs().HasVerified(l.digest);  // a corrupt blob is removed and remade below
    bool keep = force ? (have && l.media_type == snapshotter::LayerMediaType(*force))
                      : (have && (IsCompressed(l.media_type) || dflt == Compression::kNone));
    if (!keep) todo.push_back(i);
  }
  if (todo.empty()) return img;
  std::vector<Digest> todo_ids;
  for (size_t i : todo) todo_ids.push_back(ids[i]);
  auto made = store.EnsureBlobs(todo_ids, force.value_or(dflt));
  for (size_t k = 0; k < todo.size(); ++k) {
    auto rec = CB_TRY_CTX(std::move(made[k]), "layer {}", todo[k] + 1);
    auto& l = m.layers[todo[k]];
    l.media_type = rec.media_type;
    l.digest = rec.blob;
    l.size = rec.blob_size;
  }
  m.media_type = image::kMediaTypeManifest;
  m.config.media_type = OciMediaType(m.config.media_type);
  for (auto& l : m.layers) l.media_type = OciMediaType(l.media_type);
  std::string json = image::ToJson(m);
  image::Image out = img;
  out.manifest = m;
  out.manifest_digest = CB_TRY(store.blobs().Put(json));
  out.manifest_size = static_cast<int64_t>(json.size());
  return out;
}

Status ExportImage(Store& store, const image::Image& img, const OutputSpec& spec,
                   const std::vector<image::Reference>& names) {
  switch (spec.type) {
    case OutputType::kImage:
      return Ok();
    case OutputType::kLocal:
    case OutputType::kTar:
      return ExportRootfs(store, img, spec);
    case OutputType::kOci: {
      auto out = CB_TRY(MaterializeImage(store, img, Compression::kGzip, spec.compression));
      return image::WriteOciArchive(store.blobs(), out, names, spec.dest);
    }
    case OutputType::kDocker: {
      auto out = CB_TRY(MaterializeImage(store, img, Compression::kNone, spec.compression));
      return image::WriteDockerArchive(store.blobs(), out, names, spec.dest);
    }
  }
  return Ok();
}

Status ExportBuildOutput(Store& store, const image::Image& img, const OutputSpec& spec,
                         const std::vector<std::string>& tags) {
  std::vector<image::Reference> names;
  for (const auto& n : tags) names.push_back(CB_TRY(image::ParseReference(n)));
  for (const auto& n : spec.names) {
    auto ref = CB_TRY(image::ParseReference(n));
    names.push_back(ref);
    if (spec.type == OutputType::kImage) CB_TRY(store.images().Tag(ref, img.manifest_digest));
  }
  return ExportImage(store, img, spec, names);
}

}  // namespace cb::executor
