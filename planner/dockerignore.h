// .dockerignore: BuildKit's pattern rules (moby/patternmatcher + ignorefile.ReadAll).
//
// A line is normalized before it becomes a pattern: a line starting with '#' is a comment,
// surrounding whitespace is trimmed, a leading '!' marks an exception (whitespace after it
// trimmed too), the rest is path-cleaned ("./a/../b" → "b", "a//b/" → "a/b") and a leading '/'
// dropped. Patterns are Go filepath.Match globs anchored at the context root ('*' and '?' stay
// inside one path segment, "[...]" classes, '\' escapes), plus '**' for any number of segments.
// A path is excluded when the LAST pattern that matches it (or one of its parent directories)
// is not an exception.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace cb::planner {

/// True when `pattern` is valid Go filepath.Match syntax (classes closed, no trailing '\').
bool GlobValid(std::string_view pattern);

/// Go filepath.Match on one path component: '*' any run of non-'/' characters, '?' one, "[...]"
/// classes ('^' negates, ranges, '\' escapes), '\' escapes the next character.
bool GlobMatch(std::string_view pattern, std::string_view name);

/// One compiled pattern; see dockerignore.cc.
struct IgnorePattern;

/// Per-directory match state carried down a walk (BuildKit's MatchInfo): which patterns matched
/// the parent directory. Default-constructed = "no parent information".
struct IgnoreMatchInfo {
  std::vector<bool> parent_matched;
};

/// An immutable matcher; thread-safe for concurrent reads. Cheap to move.
class IgnoreMatcher {
 public:
  IgnoreMatcher();
  ~IgnoreMatcher();
  IgnoreMatcher(IgnoreMatcher&&) noexcept;
  IgnoreMatcher& operator=(IgnoreMatcher&&) noexcept;

  /// Splits .dockerignore text into normalized pattern lines (ignorefile.ReadAll): strips a
  /// UTF-8 BOM on the first line, drops comments and blank lines, cleans paths. Never fails.
  static std::vector<std::string> ReadLines(std::string_view text);

  /// Builds a matcher from normalized lines (as ReadLines returns). kInvalidArgument names the
  /// bad pattern: a lone "!", an unterminated "[" class, a trailing '\'.
  static Result<IgnoreMatcher> FromLines(const std::vector<std::string>& lines);

  /// ReadLines + FromLines.
  static Result<IgnoreMatcher> Parse(std::string_view text);

  /// Loads the ignore file for a build the way BuildKit picks it: `<dockerfile>.dockerignore`
  /// beside the Dockerfile when it exists, else `<context_dir>/.dockerignore`, else an empty
  /// matcher. `dockerfile_path` may be empty (stdin Dockerfile). Errors name the file.
  static Result<IgnoreMatcher> Load(const std::string& context_dir, const std::string& dockerfile_path);

  /// True when no pattern is present (nothing is ever excluded).
  bool empty() const;
  /// The normalized pattern lines, for cache keys and messages.
  const std::vector<std::string>& lines() const { return lines_; }

  /// Stateless check (MatchesOrParentMatches): is `rel_path` ("a/b/c", '/'-separated, relative
  /// to the context root, no leading "./") excluded, considering matches of its parent dirs?
  bool Excluded(std::string_view rel_path) const;

  /// Walk-style check (MatchesUsingParentResults): what a context transfer really does. Call it
  /// for each directory from the top down, passing the info returned for the parent directory
  /// (default for top-level entries); `out` receives the info for this path's children.
  bool ExcludedInWalk(std::string_view rel_path, const IgnoreMatchInfo& parent, IgnoreMatchInfo* out) const;

  /// For an excluded directory: true when no exception pattern can re-include anything below
  /// it, so a walk may skip the whole subtree. Conservative (false when unsure).
  bool CanSkipDir(std::string_view rel_dir) const;

 private:
  std::vector<std::string> lines_;
  std::vector<std::unique_ptr<IgnorePattern>> patterns_;
  bool has_exceptions_ = false;
  bool literal_exceptions_ = true;  ///< every exception pattern is free of wildcards
};

}  // namespace cb::planner
