// A listing of the files a step read (below COPY sources, or any tree): path, type and mode,
// content digest, link target. The context hasher produces it; the build history keeps the
// previous build's and compares them to name what changed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/digest.h"
#include "common/result.h"

namespace cb {

/// One entry below a COPY source, as the layer will hold it.
struct ContextFile {
  std::string path;   ///< context-relative, '/'-separated ("src/main.c"; "." for the context root)
  uint32_t mode = 0;  ///< st_mode: file type and permission bits (07777)
  Digest content;     ///< regular files: SHA-256 of the content; empty otherwise
  std::string link;   ///< symlinks: the target, as stored (never followed); devices: "major:minor"

  bool operator==(const ContextFile&) const = default;
};

/// A one-line description of the first difference between two listings, in path order:
/// "file `a.txt` changed", "`b.txt` added", "`c.txt` removed", "mode of `d` changed";
/// empty when they are equal.
std::string FirstDifference(const std::vector<ContextFile>& before, const std::vector<ContextFile>& after);

/// Compact text form of a listing ("<mode octal> <sha256 hex|-> <path len> <link len>\n<path><link>"
/// per entry) and its parser (kCorrupt on a malformed listing), for storing a listing as a blob.
std::string SerializeFiles(const std::vector<ContextFile>& files);
Result<std::vector<ContextFile>> ParseFiles(std::string_view text);

}  // namespace cb
