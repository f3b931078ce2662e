// Small file helpers used across modules. Paths here are trusted (the store, outputs);
// trees controlled by a build use the rooted helpers of snapshotter/ instead.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace cb::fs {

/// Whole file as bytes. kNotFound when it does not exist.
Result<std::string> ReadFile(const std::string& path);

/// Writes `data` to a temp file beside `path`, fsyncs it, renames it over `path`, fsyncs the dir.
/// Readers see the old or the new content, never a half-written file.
Status WriteFileAtomic(const std::string& path, std::string_view data, unsigned mode = 0644);

/// mkdir -p with the given mode for new directories.
Status MakeDirs(const std::string& path, unsigned mode = 0755);

/// rm -rf that never follows symlinks; a missing path is not an error.
Status RemoveTree(const std::string& path);

/// Creates a fresh directory `<parent>/<prefix>XXXXXX` and returns its path.
Result<std::string> MakeTempDir(const std::string& parent, std::string_view prefix);

/// True if `path` exists (lstat).
bool Exists(const std::string& path);

/// Names in a directory (without "." and ".."), unsorted.
Result<std::vector<std::string>> ListDir(const std::string& dir);

/// fsync of a directory (after renames into it).
Status SyncDir(const std::string& dir);

}  // namespace cb::fs
