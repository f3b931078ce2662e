#include "common/path.h"

namespace cb::path {
namespace {

/// Calls `fn` with each component of `p` between slashes (empty ones included).
template <typename Fn>
void ForEachComponent(std::string_view p, Fn&& fn) {
  size_t i = 0;
  while (i <= p.size()) {
    size_t j = p.find('/', i);
    if (j == std::string_view::npos) j = p.size();
    fn(p.substr(i, j - i));
    i = j + 1;
  }
}

}  // namespace

std::string Clean(std::string_view p) {
  if (p.empty()) return ".";
  const bool rooted = p[0] == '/';
  std::vector<std::string_view> out;
  ForEachComponent(p, [&](std::string_view c) {
    if (c.empty() || c == ".") return;
    if (c != "..") {
      out.push_back(c);
    } else if (!out.empty() && out.back() != "..") {
      out.pop_back();
    } else if (!rooted) {
      out.push_back(c);  // a relative path keeps the ".." it cannot resolve
    }
  });
  std::string r = rooted ? "/" : "";
  for (size_t k = 0; k < out.size(); ++k) {
    if (k) r += '/';
    r += out[k];
  }
  return r.empty() ? "." : r;
}

bool IsCleanAbsolute(std::string_view p) { return !p.empty() && p[0] == '/' && Clean(p) == p; }

std::string Resolve(std::string_view cwd, std::string_view p) {
  if (!p.empty() && p[0] == '/') return Clean(p);
  std::string joined(cwd.empty() ? "/" : cwd);
  joined += '/';
  joined += p;
  return Clean("/" + joined);  // a relative cwd is read from the root
}

std::string RelativeToRoot(std::string_view p) {
  std::string c = Clean("/" + std::string(p));
  return c == "/" ? "" : c.substr(1);
}

Result<std::vector<std::string>> SplitBelowRoot(std::string_view p) {
  std::vector<std::string> comps;
  bool climbs = false;
  ForEachComponent(p, [&](std::string_view c) {
    if (climbs || c.empty() || c == ".") return;
    if (c != "..") {
      comps.emplace_back(c);
    } else if (comps.empty()) {
      climbs = true;
    } else {
      comps.pop_back();
    }
  });
  if (climbs) return MakeError(ErrorCode::kInvalidArgument, "path climbs out of the root with `..`");
  return comps;
}

std::string Join(const std::vector<std::string>& comps, size_t n) {
  std::string out;
  for (size_t i = 0; i < n && i < comps.size(); ++i) {
    if (i > 0) out += '/';
    out += comps[i];
  }
  return out;
}

}  // namespace cb::path
