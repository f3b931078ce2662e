#include "planner/context_hasher.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <mutex>
#include <optional>

#include <tbb/task_group.h>

#include "common/path.h"
#include "common/rooted.h"
#include "planner/dockerignore.h"
#include "planner/source_expand.h"
#include "planner/stat_cache.h"

namespace cb::planner {
namespace {

constexpr size_t kReadBuf = size_t{1} << 20;
constexpr int64_t kSequentialHint = int64_t{4} << 20;  // posix_fadvise(SEQUENTIAL) from this size

int64_t NowNs() {
  struct timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

/// SHA-256 of a regular file's content. `size` is its stat size: a read that comes back short
/// once that many bytes are in is the end of the file, which saves the extra read that would
/// return 0 (a file that grew since its stat is read to its end as usual).
Result<Digest> HashFd(int fd, const std::string& what, int64_t size, int64_t* bytes) {
  Sha256 h;
  // (read, not mmap: mapping and unmapping each file costs far more than the copy.)
  // One buffer per thread: a fresh allocation per file is an mmap plus page faults.
  thread_local std::unique_ptr<char[]> buf(new char[kReadBuf]);
  if (size >= kSequentialHint) ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  int64_t total = 0;
  for (;;) {
    ssize_t n = ::read(fd, buf.get(), kReadBuf);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return MakeError(ErrorCode::kFailed, "read `{}`: not a regular file any more", what);
      return ErrnoError(errno, fmt::format("read `{}`", what));
    }
    if (n == 0) break;
    h.Update(buf.get(), static_cast<size_t>(n));
    total += n;
    if (static_cast<size_t>(n) < kReadBuf && total == size) break;
  }
  *bytes += total;
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

/// How a device node's numbers enter the listing (in place of a link target): "major:minor".
std::string DeviceNumbers(const struct stat& st) {
  return fmt::format("{}:{}", major(st.st_rdev), minor(st.st_rdev));
}

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

constexpr size_t kBatchFiles = 64;                 // files per hashing task
constexpr int64_t kBatchBytes = int64_t{8} << 20;  // or bytes per hashing task
constexpr int64_t kOwnTaskBytes = int64_t{1} << 20;  // a file this large is hashed by its own task

/// One directory's part of a walk: its entries in byte-sorted order; the subtree of entry
/// files[sub_at[k] - 1] (a directory, or an excluded one that exceptions may re-include) is
/// subtrees[k], which goes right after it.
struct DirNode {
  std::vector<ContextFile> files;
  std::vector<struct stat> stats;
  std::vector<std::unique_ptr<DirNode>> subtrees;
  std::vector<size_t> sub_at;
};

using SharedFd = std::shared_ptr<UniqueFd>;

/// Walks the directories below a source and hashes their regular files at the same time, on
/// every core: each directory is listed by its own task, which then queues its subdirectories
/// and its files (in batches) as further tasks. Nothing is followed: directories and files are
/// opened relative to their parent with O_NOFOLLOW (or, when fds run out, by their path inside
/// the context root).
class ParallelWalk {
 public:
  ParallelWalk(int root_fd, const IgnoreMatcher* ignore, StatCache* cache, int64_t start_ns)
      : root_fd_(root_fd), ignore_(ignore), cache_(cache), start_ns_(start_ns) {}

  /// Queues the walk of `dir` (context path `prefix`, "" for the root) into `node`.
  void Start(SharedFd dir, std::string prefix, IgnoreMatchInfo info, DirNode* node) {
    tg_.run([this, dir = std::move(dir), prefix = std::move(prefix), info = std::move(info), node] {
      Guard([&] { return List(dir, prefix, info, node); });
    });
  }

  /// Waits for every task; the first error (in time) wins.
  Status Wait() {
    tg_.wait();
    if (error_) return std::move(*error_);
    return Ok();
  }

  int64_t files_read() const { return files_read_.load(); }
  int64_t bytes_read() const { return bytes_read_.load(); }

 private:
  template <typename F>
  void Guard(F&& f) {
    if (failed_.load(std::memory_order_relaxed)) return;
    Status st = f();
    if (st) return;
    std::lock_guard<std::mutex> lock(mu_);
    if (!failed_.exchange(true)) error_ = std::move(st).error();
  }

  /// openat relative to `dir`, not following a final symlink; by the path inside the context
  /// root when the process is out of fds (deep trees keep many directories open).
  Result<UniqueFd> OpenAt(int dir, const std::string& name, const std::string& rel, int flags) {
    UniqueFd fd(::openat(dir, name.c_str(), flags | O_NOFOLLOW | O_CLOEXEC));
    if (fd) return fd;
    if (errno == EMFILE || errno == ENFILE) return rooted::Open(root_fd_, rel, flags);
    return ErrnoError(errno, fmt::format("open `{}`", rel));
  }

  Status List(const SharedFd& dir, const std::string& prefix, const IgnoreMatchInfo& info, DirNode* node) {
    int dup = ::fcntl(dir->get(), F_DUPFD_CLOEXEC, 0);
    DIR* d = dup >= 0 ? ::fdopendir(dup) : nullptr;
    if (!d) {
      if (dup >= 0) ::close(dup);
      return ErrnoError(errno, fmt::format("read directory `{}`", prefix.empty() ? "." : prefix));
    }
    struct Name {
      std::string name;
      unsigned char type;  // d_type: DT_UNKNOWN on file systems that do not fill it in
      bool operator<(const Name& o) const { return name < o.name; }
    };
    std::vector<Name> names;
    while (struct dirent* e = ::readdir(d)) {
      std::string_view n = e->d_name;
      if (n != "." && n != "..") names.push_back({std::string(n), e->d_type});
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    node->files.reserve(names.size());
    node->stats.reserve(names.size());
    struct Sub {
      std::string name, rel;
      IgnoreMatchInfo info;
    };
    std::vector<Sub> subs;
    std::vector<size_t> todo;  // regular files to read: the stat cache does not know them
    for (const auto& [name, type] : names) {
      std::string rel = Join(prefix, name);
      IgnoreMatchInfo child;
      if (type == DT_REG && !(cache_ && cache_->Knows(rel))) {
        // A regular file that must be read anyway: its hashing task opens it and takes the stat
        // from the descriptor (mode 0 until then), which saves a lookup by name per file.
        if (ignore_ && ignore_->ExcludedInWalk(rel, info, &child)) continue;
        todo.push_back(node->files.size());
        node->files.push_back({std::move(rel), 0, {}, {}});
        node->stats.emplace_back();
        continue;
      }
      struct stat st;
      if (::fstatat(dir->get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT) continue;  // removed while we walk
        return ErrnoError(errno, fmt::format("stat `{}`", rel));
      }
      if (S_ISSOCK(st.st_mode)) continue;  // COPY skips sockets (a layer cannot hold one)
      bool excluded = ignore_ && ignore_->ExcludedInWalk(rel, info, &child);
      if (excluded && (!S_ISDIR(st.st_mode) || ignore_->CanSkipDir(rel))) continue;
      if (!excluded) {
        ContextFile f{rel, static_cast<uint32_t>(st.st_mode), {}, {}};
        if (S_ISLNK(st.st_mode)) {
          char buf[4096];
          ssize_t n = ::readlinkat(dir->get(), name.c_str(), buf, sizeof buf);
          if (n < 0) return ErrnoError(errno, fmt::format("readlink `{}`", rel));
          f.link.assign(buf, static_cast<size_t>(n));
        } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
          f.link = DeviceNumbers(st);
        } else if (S_ISREG(st.st_mode) && !(cache_ && cache_->Lookup(rel, st, &f.content))) {
          todo.push_back(node->files.size());
        }
        node->files.push_back(std::move(f));
        node->stats.push_back(st);
      }
      if (S_ISDIR(st.st_mode)) {
        node->sub_at.push_back(node->files.size());
        node->subtrees.push_back(std::make_unique<DirNode>());
        subs.push_back({name, std::move(rel), std::move(child)});
      }
    }
    // node->files is complete: tasks may now fill in digests. Subdirectories first, so that
    // this thread (LIFO) hashes this directory's files next while others take the subtrees.
    for (size_t k = 0; k < subs.size(); ++k) {
      DirNode* child = node->subtrees[k].get();
      tg_.run([this, dir, sub = std::move(subs[k]), child] {
        Guard([&]() -> Status {
          UniqueFd fd = CB_TRY(OpenAt(dir->get(), sub.name, sub.rel, O_RDONLY | O_DIRECTORY));
          return List(std::make_shared<UniqueFd>(std::move(fd)), sub.rel, sub.info, child);
        });
      });
    }
    // Batches of files or bytes (files not stat'ed yet count as none: HashBatch hands a large
    // one to a task of its own).
    for (size_t i = 0; i < todo.size();) {
      size_t j = i;
      int64_t bytes = 0;
      while (j < todo.size() && j - i < kBatchFiles && (j == i || bytes < kBatchBytes))
        bytes += node->stats[todo[j++]].st_size;
      tg_.run([this, dir, node, batch = std::vector<size_t>(todo.begin() + i, todo.begin() + j)] {
        Guard([&] { return HashBatch(dir->get(), node, batch); });
      });
      i = j;
    }
    return Ok();
  }

  /// Reads and hashes node->files[i] for i in `batch`. An entry with mode 0 is opened first
  /// and gets its stat from the descriptor; one that is gone by then is left out (mode stays
  /// 0), one that is no longer a regular file is an error.
  Status HashBatch(int dir, DirNode* node, const std::vector<size_t>& batch) {
    int64_t bytes = 0, read = 0;
    for (size_t i : batch) {
      if (failed_.load(std::memory_order_relaxed)) return Ok();
      ContextFile& f = node->files[i];
      struct stat& st = node->stats[i];
      std::string name = f.path.substr(f.path.rfind('/') + 1);
      UniqueFd fd;
      if (f.mode == 0) {
        fd.reset(::openat(dir, name.c_str(), O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC));
        if (!fd && errno == ENOENT) continue;  // removed while we walk
        if (!fd && errno == ELOOP) return Changed(f.path);
        if (!fd) fd = CB_TRY(OpenAt(dir, name, f.path, O_RDONLY | O_NONBLOCK));
        if (::fstat(fd.get(), &st) != 0) return ErrnoError(errno, fmt::format("stat `{}`", f.path));
        if (!S_ISREG(st.st_mode)) return Changed(f.path);
        f.mode = static_cast<uint32_t>(st.st_mode);
      } else {
        fd = CB_TRY(OpenAt(dir, name, f.path, O_RDONLY | O_NONBLOCK));
      }
      if (batch.size() > 1 && st.st_size >= kOwnTaskBytes) {
        // Large: hashed by a task of its own, so that the other cores can share the batch.
        tg_.run([this, node, i, fd = std::make_shared<UniqueFd>(std::move(fd))] {
          Guard([&] { return HashLarge(node, i, fd->get()); });
        });
        continue;
      }
      CB_TRY(HashOne(node, i, fd.get(), &bytes));
      ++read;
    }
    files_read_ += read;
    bytes_read_ += bytes;
    return Ok();
  }

  /// One large file of a batch, already open.
  Status HashLarge(DirNode* node, size_t i, int fd) {
    int64_t bytes = 0;
    CB_TRY(HashOne(node, i, fd, &bytes));
    files_read_ += 1;
    bytes_read_ += bytes;
    return Ok();
  }

  Status HashOne(DirNode* node, size_t i, int fd, int64_t* bytes) {
    ContextFile& f = node->files[i];
    const struct stat& st = node->stats[i];
    f.content = CB_TRY(HashFd(fd, f.path, st.st_size, bytes));
    if (cache_) cache_->Insert(f.path, st, f.content, start_ns_);
    return Ok();
  }

  static Error Changed(const std::string& rel) {
    return MakeError(ErrorCode::kFailed, "`{}` changed while the build context was read (no longer a regular file)", rel);
  }

  int root_fd_;
  const IgnoreMatcher* ignore_;
  StatCache* cache_;
  int64_t start_ns_;
  tbb::task_group tg_;
  std::mutex mu_;
  std::atomic<bool> failed_{false};
  std::optional<Error> error_;
  std::atomic<int64_t> files_read_{0}, bytes_read_{0};
};

/// Entries in a walked tree.
size_t Count(const DirNode& node) {
  size_t n = node.files.size();
  for (const auto& sub : node.subtrees) n += Count(*sub);
  return n;
}

/// Appends a walked tree to `files` in depth-first, byte-sorted order (moved out of the tree).
void Flatten(DirNode& node, std::vector<ContextFile>& files) {
  size_t k = 0;
  for (size_t i = 0; i <= node.files.size(); ++i) {
    for (; k < node.sub_at.size() && node.sub_at[k] == i; ++k) Flatten(*node.subtrees[k], files);
    if (i == node.files.size()) break;
    if (node.files[i].mode != 0) files.push_back(std::move(node.files[i]));  // 0: removed meanwhile
  }
}

}  // namespace

Status ContextHasher::HashTree(const std::vector<std::string>& sources, std::vector<ContextFile>& files,
                               std::vector<size_t>& starts) {
  const int64_t start = NowNs();
  HashStats stats;
  ParallelWalk walk(root_.get(), ignore_, stat_cache_.get(), start);
  struct Source {
    std::string rel;
    ContextFile self;
    struct stat st;
    std::unique_ptr<DirNode> tree;
  };
  std::vector<Source> roots;
  for (const auto& src : sources) {
    Source s;
    s.rel = SourceRel(src);
    IgnoreMatchInfo info;
    if (ignore_ && s.rel != "." && WalkExcluded(*ignore_, s.rel, &info))
      return MakeError(ErrorCode::kNotFound, "source `{}` not found in build context (excluded by .dockerignore)", src);
    // A FIFO or device is only resolved (O_PATH), never opened.
    auto fd = rooted::OpenForRead(root_.get(), s.rel, &s.st);
    if (!fd) {
      if (fd.error().code == ErrorCode::kNotFound)
        return MakeError(ErrorCode::kNotFound, "source `{}` not found in build context", src);
      return std::move(fd).error();
    }
    s.self = {s.rel, static_cast<uint32_t>(s.st.st_mode), {}, {}};
    if (S_ISCHR(s.st.st_mode) || S_ISBLK(s.st.st_mode)) s.self.link = DeviceNumbers(s.st);
    if (S_ISREG(s.st.st_mode)) {
      // The named source itself (resolved inside the root, links followed).
      if (!(stat_cache_ && stat_cache_->Lookup(s.rel, s.st, &s.self.content))) {
        int64_t n = 0;
        s.self.content = CB_TRY(HashFd(fd->get(), src, s.st.st_size, &n));
        if (stat_cache_) stat_cache_->Insert(s.rel, s.st, s.self.content, start);
        ++stats.files_read;
        stats.bytes_read += n;
      }
    }
    if (S_ISDIR(s.st.st_mode)) {
      s.tree = std::make_unique<DirNode>();
      walk.Start(std::make_shared<UniqueFd>(std::move(*fd)), s.rel == "." ? "" : s.rel, info, s.tree.get());
    }
    roots.push_back(std::move(s));
  }
  CB_TRY(walk.Wait());
  // (Serial, while the other cores idle: no reallocation, nothing copied but the entries.)
  size_t total = files.size() + roots.size();
  for (const auto& s : roots) total += s.tree ? Count(*s.tree) : 0;
  files.reserve(total);
  for (auto& s : roots) {
    starts.push_back(files.size());
    if (!S_ISSOCK(s.self.mode)) files.push_back(std::move(s.self));  // COPY skips sockets
    if (s.tree) Flatten(*s.tree, files);
  }
  for (const auto& f : files) stats.files += S_ISREG(f.mode) ? 1 : 0;
  std::lock_guard<std::mutex> lock(*stats_mu_);
  stats_.files += stats.files;
  stats_.files_read += stats.files_read + walk.files_read();
  stats_.bytes_read += stats.bytes_read + walk.bytes_read();
  return Ok();
}

Result<SourcesHash> ContextHasher::HashSourcesDetailed(const std::vector<std::string>& sources) {
  SourcesHash out;
  std::vector<size_t> starts;
  CB_TRY(HashTree(sources, out.files, starts));
  Sha256 h;
  h.Update("cbuild-context-v2\n");
  for (size_t s = 0; s < sources.size(); ++s) {
    h.Update("source\0", 7);
    h.Update(sources[s]);
    h.Update("\n", 1);
    size_t end = s + 1 < sources.size() ? starts[s + 1] : out.files.size();
    for (size_t i = starts[s]; i < end; ++i) {
      // "<path>\0<mode octal>\0<sha256:hex | link target>\n", without a string per file (this
      // loop runs after the parallel walk, on one core).
      const ContextFile& f = out.files[i];
      char mode[16];
      char* end = fmt::format_to_n(mode, sizeof mode - 1, "{:o}", f.mode).out;
      *end++ = '\0';
      h.Update(f.path.data(), f.path.size() + 1);  // with its terminating NUL
      h.Update(mode, static_cast<size_t>(end - mode));
      if (S_ISREG(f.mode)) {
        if (!f.content.empty()) h.Update("sha256:", 7);
        h.Update(f.content.Hex());
      } else {
        h.Update(f.link);
      }
      h.Update("\n", 1);
    }
  }
  out.digest = h.Finish();
  return out;
}

Result<Digest> ContextHasher::HashSources(const std::vector<std::string>& sources) {
  return CB_TRY(HashSourcesDetailed(sources)).digest;
}

}  // namespace cb::planner
