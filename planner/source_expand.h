// COPY/ADD sources → the paths an instruction copies: the one wildcard expander, used when the
// context is hashed (plan time) and when a COPY --from reads a stage's root (run time).
#pragma once

#include <string>
#include <vector>

#include "common/result.h"

namespace cb::planner {

class IgnoreMatcher;

/// Context-relative form of a source as written: "/a/../b/" → "b", "." or "/" → ".".
std::string SourceRel(const std::string& src);

/// True when a source has a wildcard ('*', '?' or '[').
bool HasWildcard(const std::string& src);

/// Expands the sources of one instruction inside `root_fd`, as BuildKit:
/// - a source with a wildcard is matched component by component with Go's filepath.Match
///   ('*' never crosses '/', "[...]" classes, '\' escapes) below its longest wildcard-free
///   directory prefix (resolved inside the root); below that nothing is followed. Matches come
///   back sorted and context-relative ("sub/x.txt"); paths `ignore` excludes (may be null) are
///   left out;
/// - a source without a wildcard, and an ADD URL, comes back unchanged (whether it exists is
///   the hasher's and the copy's business: they name it when it does not);
/// - a wildcard that matches nothing adds nothing, and is an error only when no source of the
///   instruction matches anything: every source is a wildcard, none matched, and `others` (the
///   instruction's heredocs) is false — kNotFound "no source files were specified", naming the
///   patterns.
/// A bad pattern is kInvalidArgument naming it. Thread-safe (no shared state).
Result<std::vector<std::string>> ExpandSources(int root_fd, const std::vector<std::string>& sources,
                                               const IgnoreMatcher* ignore, bool others = false);

}  // namespace cb::planner
