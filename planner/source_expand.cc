#include "planner/source_expand.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "common/path.h"
#include "common/rooted.h"
#include "planner/dockerignore.h"
#include "planner/plan.h"

namespace cb::planner {
namespace {

std::string Join(const std::string& prefix, const std::string& name) {
  return prefix.empty() || prefix == "." ? name : prefix + "/" + name;
}

/// Matches pattern components parts[k..] below dir_fd (context path prefix), collecting paths.
Status ExpandBelow(int dir_fd, const std::string& prefix, const std::vector<std::string>& parts, size_t k,
                   std::vector<std::string>& out) {
  int dup = ::fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
  DIR* d = dup >= 0 ? ::fdopendir(dup) : nullptr;
  if (!d) {
    if (dup >= 0) ::close(dup);
    return ErrnoError(errno, fmt::format("read directory `{}`", prefix.empty() ? "." : prefix));
  }
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != ".." && GlobMatch(parts[k], n)) names.push_back(std::move(n));
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  for (const auto& n : names) {
    std::string rel = Join(prefix, n);
    if (k + 1 == parts.size()) {
      out.push_back(rel);
      continue;
    }
    UniqueFd sub(::openat(dir_fd, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (sub) CB_TRY(ExpandBelow(sub.get(), rel, parts, k + 1, out));
  }
  return Ok();
}

/// The matches of one wildcard source.
Result<std::vector<std::string>> ExpandOne(int root_fd, const std::string& src, const IgnoreMatcher* ignore) {
  std::string rel = SourceRel(src);
  if (!GlobValid(rel)) return MakeError(ErrorCode::kInvalidArgument, "bad wildcard pattern `{}`", src);
  std::vector<std::string> parts;
  for (size_t i = 0; i <= rel.size();) {
    size_t j = std::min(rel.find('/', i), rel.size());
    parts.push_back(rel.substr(i, j - i));
    i = j + 1;
  }
  size_t first = 0;
  std::string prefix;
  while (first < parts.size() && !HasWildcard(parts[first])) prefix = Join(prefix, parts[first++]);
  std::vector<std::string> matches;
  auto dir = rooted::Open(root_fd, prefix.empty() ? "." : prefix, O_RDONLY | O_DIRECTORY);
  if (!dir) return matches;  // nothing can match below a missing directory
  CB_TRY(ExpandBelow(dir->get(), prefix, parts, first, matches));
  if (ignore && !ignore->empty())
    matches.erase(std::remove_if(matches.begin(), matches.end(), [&](const std::string& m) { return ignore->Excluded(m); }),
                  matches.end());
  return matches;
}

}  // namespace

std::string SourceRel(const std::string& src) {
  std::string rel = path::RelativeToRoot(src);
  return rel.empty() ? "." : rel;
}

bool HasWildcard(const std::string& src) { return src.find_first_of("*?[") != std::string::npos; }

Result<std::vector<std::string>> ExpandSources(int root_fd, const std::vector<std::string>& sources,
                                               const IgnoreMatcher* ignore, bool others) {
  std::vector<std::string> out;
  if (sources.empty()) return out;
  bool matched = others;
  std::vector<std::string> empty;  // the wildcards that matched nothing
  for (const auto& src : sources) {
    if (!HasWildcard(src) || IsRemoteUrl(src)) {
      out.push_back(src);
      matched = true;
      continue;
    }
    auto m = CB_TRY(ExpandOne(root_fd, src, ignore));
    if (m.empty()) empty.push_back("`" + src + "`");
    matched = matched || !m.empty();
    out.insert(out.end(), std::make_move_iterator(m.begin()), std::make_move_iterator(m.end()));
  }
  if (!matched) {
    std::string list;
    for (const auto& e : empty) list += (list.empty() ? "" : ", ") + e;
    return MakeError(ErrorCode::kNotFound, "no source files were specified: nothing matches {}", list);
  }
  return out;
}

}  // namespace cb::planner
