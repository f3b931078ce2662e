// The one lexical path cleaner (Go's path.Clean) and what is built on it: joining onto a working
// directory, a path's form relative to a root, and a path split into components below a root.
// Pure string operations: they never look at a filesystem (symlinks are not resolved; code that
// acts on a tree a build controls resolves the cleaned path with the rooted helpers).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace cb::path {

/// Go's path.Clean: no empty, "." or ".." components where they can be resolved, no trailing
/// '/'. "" → "."; "/.." → "/"; a relative path keeps its leading ".." ("../a/../b" → "../b").
std::string Clean(std::string_view p);

/// True when `p` is absolute and already clean ("/", "/a/b"; not "/a/", "/a/./b", "a").
bool IsCleanAbsolute(std::string_view p);

/// `p` joined onto the absolute directory `cwd` (an absolute `p` wins; an empty `cwd` is "/"),
/// cleaned: BuildKit's rule for WORKDIR, COPY destinations and mount targets.
std::string Resolve(std::string_view cwd, std::string_view p);

/// `p` read inside a root ("/" prepended, cleaned) without its leading '/': "/a/../b/" → "b",
/// "../x" → "x"; "" for the root itself (".", "/", "..").
std::string RelativeToRoot(std::string_view p);

/// `p` split into components below a root: a leading '/' is dropped, empty and "." components
/// vanish, ".." removes the previous one; a ".." that would climb above the root is
/// kInvalidArgument. An empty result names the root.
Result<std::vector<std::string>> SplitBelowRoot(std::string_view p);

/// The first `n` components joined with '/' ("" for none).
std::string Join(const std::vector<std::string>& comps, size_t n);

}  // namespace cb::path
