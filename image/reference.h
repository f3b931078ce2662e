// Image references, normalized like Docker's: `busybox` → `docker.io/library/busybox:latest`.
#pragma once

#include <string>
#include <string_view>

#include "common/digest.h"
#include "common/result.h"

namespace cb::image {

struct Reference {
  std::string domain;   ///< "docker.io", "127.0.0.1:5000", "localhost"
  std::string path;     ///< "library/busybox"
  std::string tag;      ///< "latest" when neither tag nor digest was given
  Digest digest;        ///< set for name@sha256:...

  /// "docker.io/library/busybox:latest" (or "...@sha256:..." when a digest is set).
  std::string String() const;
  /// The name without tag or digest: "docker.io/library/busybox".
  std::string Name() const { return domain + "/" + path; }
  /// The short form Docker prints: "busybox:latest", "127.0.0.1:5000/x:1".
  std::string Familiar() const;
  /// Repository part of Familiar(): "busybox".
  std::string FamiliarName() const;
};

/// Parses and normalizes a reference; errors explain what is wrong with `s`.
Result<Reference> ParseReference(std::string_view s);

}  // namespace cb::image
