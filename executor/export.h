// Export: a stored image as an OCI archive, a docker-archive, a root filesystem directory or a
// root filesystem tar — `cbuild build --output` and `cbuild save`.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "store/store.h"
#include "image/image_store.h"
#include "image/reference.h"
#include "snapshotter/differ.h"

namespace cb::executor {

/// `--output type=oci|docker|local|tar|image,dest=PATH[,compression=gzip|zstd|none][,name=N]`.
/// Where an image goes: an OCI archive, a docker-archive, the merged root filesystem as a
/// directory or a tar, or (build --output type=image) names in the store only.
enum class OutputType { kOci, kDocker, kLocal, kTar, kImage };

/// "oci", "docker", "local", "tar", "image".
std::string_view FormatOutputType(OutputType t);
/// kInvalidArgument naming the accepted types for anything else.
Result<OutputType> ParseOutputType(std::string_view s);

struct OutputSpec {
  OutputType type = OutputType::kLocal;
  std::string dest;   ///< file (oci, docker, tar; "-" = stdout) or directory (local)
  std::optional<snapshotter::Compression> compression;  ///< set: every layer in this one
  std::vector<std::string> names;  ///< name=... (may repeat, or be comma-free list "a b")
};

/// Parses the --output value (also `-o PATH` shorthand: a bare path means type=local,dest=PATH).
/// Errors say which key or value is wrong.
Result<OutputSpec> ParseOutputSpec(std::string_view spec);
Result<snapshotter::Compression> ParseCompression(std::string_view name);

/// The image with every layer as a stored blob, ready to be copied out (save, push, --output).
/// A layer keeps its blob if it is already compressed (or uncompressed for `dflt == kNone`)
/// and `force` is empty; otherwise it gets a `force`/`dflt` blob made by Store::EnsureBlob.
/// When any descriptor changes, a new manifest (OCI media types) is stored and returned (the
/// config is kept byte for byte); else `img` itself. Deterministic for a given image and options.
Result<image::Image> MaterializeImage(store::Store& store, const image::Image& img, snapshotter::Compression dflt,
                                      std::optional<snapshotter::Compression> force);

/// Writes `img` as `spec` says. oci: gzip unless compression= says otherwise; docker: layers
/// uncompressed (like `docker save`) unless compression=; local/tar: the merged root
/// filesystem (needs a private mount namespace: mounts a read-only overlay of the layers).
Status ExportImage(store::Store& store, const image::Image& img, const OutputSpec& spec,
                   const std::vector<image::Reference>& names);

/// `cbuild build --output`: ExportImage with the build's -t names plus the spec's name=
/// entries; type=image tags the name= entries in the store (-t names are tagged by Build).
Status ExportBuildOutput(store::Store& store, const image::Image& img, const OutputSpec& spec,
                         const std::vector<std::string>& tags);

}  // namespace cb::executor
