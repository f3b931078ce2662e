// Private helpers shared by the tar Differ and Applier: RAII owners for libarchive objects.
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"

namespace cb::snapshotter::tar {

struct ArchiveWriteFree {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct ArchiveReadFree {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct ArchiveEntryFree {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};

/// Owns a libarchive writer; archive_write_free also closes it.
using WriterPtr = std::unique_ptr<archive, ArchiveWriteFree>;
/// Owns a libarchive reader; archive_read_free also closes it.
using ReaderPtr = std::unique_ptr<archive, ArchiveReadFree>;
/// Owns one archive_entry.
using EntryPtr = std::unique_ptr<archive_entry, ArchiveEntryFree>;

/// "<what>: <libarchive's message>" as a kFailed error (kIo when errno is set).
inline Error ArchiveError(archive* a, std::string_view what) {
  const char* msg = archive_error_string(a);
  return MakeError(archive_errno(a) > 0 ? ErrorCode::kIo : ErrorCode::kFailed, "{}: {}", what,
                   msg ? msg : "unknown libarchive error");
}

}  // namespace cb::snapshotter::tar
