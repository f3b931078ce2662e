#include "planner/context_hasher.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <optional>

#include <tbb/parallel_for.h>

#include "common/rooted.h"
#include "planner/dockerignore.h"
#include "planner/stat_cache.h"

namespace cb::planner {
namespace {

constexpr size_t kReadBuf = 256 * 1024;

int64_t NowNs() {
  struct timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

Result<Digest> HashFd(int fd, const std::string& what, int64_t* bytes) {
  Sha256 h;
  // One buffer per thread: a fresh 256 KiB allocation per file is an mmap plus page faults.
  thread_local std::unique_ptr<char[]> buf(new char[kReadBuf]);
  for (;;) {
    ssize_t n = ::read(fd, buf.get(), kReadBuf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, fmt::format("read `{}`", what));
    }
    if (n == 0) break;
    h.Update(buf.get(), static_cast<size_t>(n));
    *bytes += n;
  }
  return h.Finish();
}

std::string Join(const std::string& prefix, const std::string& name) {
  return prefix.empty() || prefix == "." ? name : prefix + "/" + name;
}

/// "a/b" → the walk-style ignore state of "a/b" itself (visiting "a" then "a/b").
bool WalkExcluded(const IgnoreMatcher& m, const std::string& rel, IgnoreMatchInfo* info) {
  IgnoreMatchInfo cur;
  bool excluded = false;
  size_t i = 0;
  for (;;) {
    size_t j = rel.find('/', i);
    IgnoreMatchInfo next;
    excluded = m.ExcludedInWalk(std::string_view(rel).substr(0, j), cur, &next);
    cur = std::move(next);
    if (j == std::string::npos) break;
    i = j + 1;
  }
  *info = std::move(cur);
  return excluded;
}

bool HasWildcard(std::string_view s) { return s.find_first_of("*?[") != std::string_view::npos; }

/// Context-relative form of a source as written: "/a/../b/" → "b", "." / "/" → ".".
std::string SourceRel(const std::string& src) {
  std::string c = CleanPath("/" + src);
  return c == "/" ? "." : c.substr(1);
}

/// A regular file waiting to be read: where to open it and its stat from the walk.
struct Pending {
  size_t index;
  bool follow;  ///< the named source itself (resolved inside the root, links followed)
};

}  // namespace

ContextHasher::ContextHasher(std::string dir, UniqueFd root) : dir_(std::move(dir)), root_(std::move(root)) {}
ContextHasher::ContextHasher(ContextHasher&&) noexcept = default;
ContextHasher& ContextHasher::operator=(ContextHasher&&) noexcept = default;
ContextHasher::~ContextHasher() {
  if (stat_cache_) (void)stat_cache_->Save();
}

Result<ContextHasher> ContextHasher::Open(const std::string& context_dir) { return Open(context_dir, nullptr, ""); }

Result<ContextHasher> ContextHasher::Open(const std::string& context_dir, const IgnoreMatcher* ignore,
                                          const std::string& stat_cache_dir) {
  UniqueFd root = CB_TRY_CTX(rooted::OpenRoot(context_dir), "build context");
  ContextHasher h(context_dir, std::move(root));
  h.ignore_ = ignore && !ignore->empty() ? ignore : nullptr;
  if (!stat_cache_dir.empty()) h.stat_cache_ = StatCache::Open(stat_cache_dir, context_dir);
  return h;
}

Status ContextHasher::SaveStatCache() { return stat_cache_ ? stat_cache_->Save() : Ok(); }

namespace {

/// Depth-first, byte-sorted walk below `dir_fd` (context path `prefix`), never following links.
struct Walker {
  const IgnoreMatcher* ignore;
  std::vector<ContextFile>& files;
  std::vector<struct stat>& stats;

  Status Walk(int dir_fd, const std::string& prefix, const IgnoreMatchInfo& info) {
    int dup = ::fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
    DIR* d = dup >= 0 ? ::fdopendir(dup) : nullptr;
    if (!d) {
      if (dup >= 0) ::close(dup);
      return ErrnoError(errno, fmt::format("read directory `{}`", prefix));
    }
    std::vector<std::string> names;
    while (struct dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") names.push_back(std::move(n));
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    for (const auto& name : names) CB_TRY(Entry(dir_fd, prefix, name, info));
    return Ok();
  }

  Status Entry(int dir_fd, const std::string& prefix, const std::string& name, const IgnoreMatchInfo& info) {
    std::string rel = Join(prefix, name);
    struct stat st;
    if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) return Ok();  // removed while we walk
      return ErrnoError(errno, fmt::format("stat `{}`", rel));
    }
    IgnoreMatchInfo child;
    bool excluded = ignore && ignore->ExcludedInWalk(rel, info, &child);
    if (excluded && (!S_ISDIR(st.st_mode) || ignore->CanSkipDir(rel))) return Ok();
    if (!excluded) {
      ContextFile f{rel, static_cast<uint32_t>(st.st_mode), {}, {}};
      if (S_ISLNK(st.st_mode)) {
        char buf[4096];
        ssize_t n = ::readlinkat(dir_fd, name.c_str(), buf, sizeof buf);
        if (n < 0) return ErrnoError(errno, fmt::format("readlink `{}`", rel));
        f.link.assign(buf, static_cast<size_t>(n));
      }
      files.push_back(std::move(f));
      stats.push_back(st);
    }
    if (S_ISDIR(st.st_mode)) {
      UniqueFd sub(::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sub) return ErrnoError(errno, fmt::format("open directory `{}`", rel));
      CB_TRY(Walk(sub.get(), rel, child));
    }
    return Ok();
  }
};

}  // namespace

Status ContextHasher::AddSource(const std::string& src, std::vector<ContextFile>& files,
                                std::vector<struct stat>& stats) {
  std::string rel = SourceRel(src);
  IgnoreMatchInfo info;
  if (ignore_ && rel != "." && WalkExcluded(*ignore_, rel, &info))
    return MakeError(ErrorCode::kNotFound, "source `{}` not found in build context (excluded by .dockerignore)", src);
  auto fd = rooted::Open(root_.get(), rel, O_RDONLY);
  if (!fd) {
    if (fd.error().code == ErrorCode::kNotFound)
      return MakeError(ErrorCode::kNotFound, "source `{}` not found in build context", src);
    return std::move(fd).error();
  }
  struct stat st;
  if (::fstat(fd->get(), &st) != 0) return ErrnoError(errno, fmt::format("stat `{}`", src));
  files.push_back({rel, static_cast<uint32_t>(st.st_mode), {}, {}});
  stats.push_back(st);
  if (S_ISDIR(st.st_mode)) {
    Walker w{ignore_, files, stats};
    CB_TRY(w.Walk(fd->get(), rel == "." ? "" : rel, info));
  }
  return Ok();
}

Status ContextHasher::HashContents(std::vector<ContextFile>& files, const std::vector<struct stat>& st) {
  std::vector<Pending> todo;
  const int64_t start = NowNs();
  for (size_t i = 0; i < files.size(); ++i) {
    if (!S_ISREG(files[i].mode)) continue;
    ++stats_.files;
    if (stat_cache_ && stat_cache_->Lookup(files[i].path, st[i], &files[i].content)) continue;
    todo.push_back({i, false});
  }
  std::vector<std::optional<Error>> errors(todo.size());
  std::atomic<int64_t> bytes{0};
  std::atomic<bool> failed{false};
  tbb::parallel_for(size_t{0}, todo.size(), [&](size_t k) {
    if (failed.load(std::memory_order_relaxed)) return;
    ContextFile& f = files[todo[k].index];
    // Below a source nothing is followed; the named source itself resolves inside the root.
    auto fd = rooted::Open(root_.get(), f.path, O_RDONLY);
    int64_t n = 0;
    Result<Digest> d = fd ? HashFd(fd->get(), f.path, &n) : Result<Digest>(std::move(fd).error());
    if (!d) {
      errors[k] = std::move(d).error();
      failed = true;
      return;
    }
    f.content = *d;
    bytes += n;
    if (stat_cache_) stat_cache_->Insert(f.path, st[todo[k].index], f.content, start);
  });
  for (auto& e : errors)
    if (e) return std::move(*e);
  stats_.files_read += static_cast<int64_t>(todo.size());
  stats_.bytes_read += bytes.load();
  return Ok();
}

Result<SourcesHash> ContextHasher::HashSourcesDetailed(const std::vector<std::string>& sources) {
  SourcesHash out;
  std::vector<struct stat> st;
  std::vector<size_t> starts;
  for (const auto& src : sources) {
    starts.push_back(out.files.size());
    CB_TRY(AddSource(src, out.files, st));
  }
  CB_TRY(HashContents(out.files, st));
  Sha256 h;
  h.Update("cbuild-context-v2\n");
  for (size_t s = 0; s < sources.size(); ++s) {
    h.Update("source\0", 7);
    h.Update(sources[s]);
    h.Update("\n", 1);
    size_t end = s + 1 < sources.size() ? starts[s + 1] : out.files.size();
    for (size_t i = starts[s]; i < end; ++i) {
      const ContextFile& f = out.files[i];
      std::string rec = f.path;
      rec.push_back('\0');
      rec += fmt::format("{:o}", f.mode);
      rec.push_back('\0');
      rec += S_ISREG(f.mode) ? f.content.ToString() : f.link;
      rec.push_back('\n');
      h.Update(rec);
    }
  }
  out.digest = h.Finish();
  return out;
}

Result<Digest> ContextHasher::HashSources(const std::vector<std::string>& sources) {
  return CB_TRY(HashSourcesDetailed(sources)).digest;
}

namespace {

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

}  // namespace

Result<std::vector<std::string>> ContextHasher::ExpandSources(const std::vector<std::string>& sources) {
  std::vector<std::string> out;
  for (const auto& src : sources) {
    if (!HasWildcard(src)) {
      out.push_back(src);
      continue;
    }
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
    auto dir = rooted::Open(root_.get(), prefix.empty() ? "." : prefix, O_RDONLY | O_DIRECTORY);
    if (!dir) continue;  // nothing can match below a missing directory
    std::vector<std::string> matches;
    CB_TRY(ExpandBelow(dir->get(), prefix, parts, first, matches));
    for (auto& m : matches)
      if (!ignore_ || !ignore_->Excluded(m)) out.push_back(std::move(m));
  }
  return out;
}

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

}  // namespace cb::planner
