// Crafts tar archives entry by entry (hostile ones included) with libarchive's writer.
#pragma once

#include <sys/types.h>

#include <string>

#include "snapshotter/differ.h"

struct archive;

namespace cb::sectest {

/// Builds a pax tar in memory; names are written exactly as given ("../x", "/abs", ...).
class TarBuilder {
 public:
  TarBuilder();
  ~TarBuilder();
  TarBuilder(const TarBuilder&) = delete;
  TarBuilder& operator=(const TarBuilder&) = delete;

  TarBuilder& File(const std::string& name, const std::string& data, mode_t mode = 0644);
  /// A regular file of `size` zero bytes, written in chunks (for bombs).
  TarBuilder& Zeros(const std::string& name, int64_t size);
  TarBuilder& Dir(const std::string& name, mode_t mode = 0755);
  TarBuilder& Symlink(const std::string& name, const std::string& target);
  TarBuilder& Hardlink(const std::string& name, const std::string& target);
  TarBuilder& CharDev(const std::string& name, unsigned major, unsigned minor);
  /// The archive, compressed as asked. Call once.
  std::string Finish(snapshotter::Compression c = snapshotter::Compression::kNone);

 private:
  archive* a_;
  std::string tar_;
};

}  // namespace cb::sectest
