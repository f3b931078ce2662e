#include "common/file_listing.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>

namespace cb {

std::string FirstDifference(const std::vector<ContextFile>& before, const std::vector<ContextFile>& after) {
  auto by_path = [](const std::vector<ContextFile>& v) {
    std::vector<const ContextFile*> p;
    for (const auto& f : v) p.push_back(&f);
    std::stable_sort(p.begin(), p.end(), [](auto* a, auto* b) { return a->path < b->path; });
    return p;
  };
  auto a = by_path(before), b = by_path(after);
  size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    if (j == b.size() || (i < a.size() && a[i]->path < b[j]->path)) return fmt::format("`{}` removed", a[i]->path);
    if (i == a.size() || b[j]->path < a[i]->path) return fmt::format("`{}` added", b[j]->path);
    const ContextFile &x = *a[i], &y = *b[j];
    if ((x.mode & S_IFMT) != (y.mode & S_IFMT)) return fmt::format("type of `{}` changed", y.path);
    if (x.content != y.content) return fmt::format("file `{}` changed", y.path);
    if (x.link != y.link) return fmt::format("link `{}` changed", y.path);
    if (x.mode != y.mode) return fmt::format("mode of `{}` changed ({:o} → {:o})", y.path, x.mode & 07777, y.mode & 07777);
    ++i, ++j;
  }
  return {};
}

std::string SerializeFiles(const std::vector<ContextFile>& files) {
  std::string out;
  for (const auto& f : files)
    out += fmt::format("{:o} {} {} {}\n{}{}", f.mode, f.content.empty() ? "-" : f.content.Hex(), f.path.size(),
                       f.link.size(), f.path, f.link);
  return out;
}

Result<std::vector<ContextFile>> ParseFiles(std::string_view text) {
  std::vector<ContextFile> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) return MakeError(ErrorCode::kCorrupt, "file listing: truncated header");
    std::string head(text.substr(pos, nl - pos));
    unsigned mode = 0;
    char hex[65] = {};
    size_t plen = 0, llen = 0;
    if (std::sscanf(head.c_str(), "%o %64s %zu %zu", &mode, hex, &plen, &llen) != 4 || nl + 1 + plen + llen > text.size())
      return MakeError(ErrorCode::kCorrupt, "file listing: bad entry `{}`", head);
    ContextFile f;
    f.mode = mode;
    if (std::string_view(hex) != "-") f.content = CB_TRY(Digest::Parse(std::string("sha256:") + hex));
    f.path = std::string(text.substr(nl + 1, plen));
    f.link = std::string(text.substr(nl + 1 + plen, llen));
    out.push_back(std::move(f));
    pos = nl + 1 + plen + llen;
  }
  return out;
}

}  // namespace cb
