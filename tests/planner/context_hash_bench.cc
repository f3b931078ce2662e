// Context hashing throughput (bench/cache/run hash). Prints one line:
//   files=N bytes=MB seconds=S cpu=S rate=MB/s
//
//   context_hash_bench DIR          ContextHasher over every file below DIR, without the stat
//                                   cache (every byte read and hashed, on all cores)
//   context_hash_bench --floor DIR  the per-file floor: the regular files below DIR are listed
//                                   first (not timed), then N threads (default: one per core)
//                                   take paths off a shared counter and, per file, openat +
//                                   fstat + read + close + SHA-256 — no directory walk, no
//                                   listing, no stat cache: the best any read()-per-file hasher
//                                   can do on this machine.
//
//   context_hash_bench --stat-cache CACHEDIR DIR
//                                   ContextHasher with a stat cache that the untimed pass fills:
//                                   the no-change case (nothing read, every file stat'ed)
//
// All make one untimed pass first, so the page cache is warm. --repeat N times N passes and
// prints the fastest (the least disturbed by other load).
#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/digest.h"
#include "planner/context_hasher.h"

namespace {

double CpuSeconds() {
  struct rusage ru;
  ::getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

void Print(long long files, int64_t bytes, double seconds, double cpu) {
  double mb = static_cast<double>(bytes) / 1e6;
  std::printf("files=%lld bytes=%.1fMB seconds=%.3f cpu=%.3fs rate=%.1fMB/s\n", files, mb, seconds, cpu, mb / seconds);
}

/// Regular files below `rel` (relative to `root`), depth first; nothing followed.
bool ListFiles(int root, const std::string& rel, std::vector<std::string>& out) {
  int fd = ::openat(root, rel.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  DIR* d = fd >= 0 ? ::fdopendir(fd) : nullptr;
  if (!d) {
    if (fd >= 0) ::close(fd);
    std::fprintf(stderr, "read directory `%s`: %s\n", rel.c_str(), std::strerror(errno));
    return false;
  }
  std::vector<std::pair<std::string, unsigned char>> entries;
  while (struct dirent* e = ::readdir(d))
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) entries.emplace_back(e->d_name, e->d_type);
  ::closedir(d);
  std::sort(entries.begin(), entries.end());
  for (const auto& [name, type] : entries) {
    std::string path = rel == "." ? name : rel + "/" + name;
    if (type == DT_DIR) {
      if (!ListFiles(root, path, out)) return false;
    } else if (type == DT_REG) {
      out.push_back(std::move(path));
    }
  }
  return true;
}

/// One pass of the floor loop over `files`; false on the first error.
bool FloorPass(int root, const std::vector<std::string>& files, unsigned threads, int64_t* bytes_out) {
  std::atomic<size_t> next{0};
  std::atomic<int64_t> bytes{0};
  std::atomic<bool> ok{true};
  auto work = [&] {
    constexpr size_t kBuf = size_t{1} << 20;
    std::unique_ptr<char[]> buf(new char[kBuf]);
    int64_t mine = 0;
    for (size_t i; ok.load(std::memory_order_relaxed) && (i = next.fetch_add(1)) < files.size();) {
      int fd = ::openat(root, files[i].c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
      struct stat st;
      if (fd < 0 || ::fstat(fd, &st) != 0) {
        std::fprintf(stderr, "open `%s`: %s\n", files[i].c_str(), std::strerror(errno));
        ok = false;
        if (fd >= 0) ::close(fd);
        break;
      }
      cb::Sha256 h;
      int64_t total = 0;
      for (ssize_t n; (n = ::read(fd, buf.get(), kBuf)) > 0;) {
        h.Update(buf.get(), static_cast<size_t>(n));
        total += n;
        if (total == st.st_size) break;  // no extra read for the end, as ContextHasher
      }
      ::close(fd);
      (void)h.Finish();
      mine += total;
    }
    bytes += mine;
  };
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) pool.emplace_back(work);
  for (auto& t : pool) t.join();
  *bytes_out = bytes.load();
  return ok.load();
}

int Floor(const char* dir, unsigned threads, int repeat) {
  int root = ::open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) return std::fprintf(stderr, "open `%s`: %s\n", dir, std::strerror(errno)), 1;
  std::vector<std::string> files;
  if (!ListFiles(root, ".", files)) return 1;
  int64_t bytes = 0;
  if (!FloorPass(root, files, threads, &bytes)) return 1;  // warm the page cache
  double best = 1e9, best_cpu = 0;
  for (int r = 0; r < repeat; ++r) {
    double c0 = CpuSeconds();
    auto t0 = std::chrono::steady_clock::now();
    if (!FloorPass(root, files, threads, &bytes)) return 1;
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (s < best) best = s, best_cpu = CpuSeconds() - c0;
  }
  Print(static_cast<long long>(files.size()), bytes, best, best_cpu);
  ::close(root);
  return 0;
}

int Hasher(const char* dir, const std::string& cache_dir, int repeat) {
  {
    auto h = cb::planner::ContextHasher::Open(dir, nullptr, cache_dir);
    if (!h) return std::fprintf(stderr, "%s\n", h.error().ToString().c_str()), 1;
    (void)h->HashSources({"."});  // warm the page cache (and fill the stat cache)
    if (auto st = h->SaveStatCache(); !st) return std::fprintf(stderr, "%s\n", st.error().ToString().c_str()), 1;
  }
  if (!cache_dir.empty()) ::usleep(100'000);  // out of the stat cache's racy window
  double best = 1e9, best_cpu = 0;
  cb::planner::HashStats stats;
  for (int r = 0; r < repeat; ++r) {
    auto h2 = cb::planner::ContextHasher::Open(dir, nullptr, cache_dir);  // a fresh hasher
    if (!h2) return std::fprintf(stderr, "%s\n", h2.error().ToString().c_str()), 1;
    double c0 = CpuSeconds();
    auto t0 = std::chrono::steady_clock::now();
    auto d = h2->HashSources({"."});
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!d) return std::fprintf(stderr, "%s\n", d.error().ToString().c_str()), 1;
    if (s < best) best = s, best_cpu = CpuSeconds() - c0, stats = h2->stats();
  }
  Print(static_cast<long long>(stats.files), stats.bytes_read, best, best_cpu);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  bool floor = false;
  unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  int repeat = 1;
  std::string cache_dir;
  const char* dir = nullptr;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--floor") {
      floor = true;
    } else if (a == "--threads" && i + 1 < argc) {
      threads = static_cast<unsigned>(std::max(1, std::atoi(argv[++i])));
    } else if (a == "--stat-cache" && i + 1 < argc) {
      cache_dir = argv[++i];
    } else if (a == "--repeat" && i + 1 < argc) {
      repeat = std::max(1, std::atoi(argv[++i]));
    } else if (!dir && !a.empty() && a[0] != '-') {
      dir = argv[i];
    } else {
      dir = nullptr;
      break;
    }
  }
  if (!dir) {
    std::fprintf(stderr, "usage: context_hash_bench [--floor [--threads N] | --stat-cache CACHEDIR] [--repeat N] DIR\n");
    return 2;
  }
  return floor ? Floor(dir, threads, repeat) : Hasher(dir, cache_dir, repeat);
}
