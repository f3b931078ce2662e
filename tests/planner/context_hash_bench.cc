// Context hashing throughput (bench/cache/run): hashes every file below DIR with ContextHasher,
// without the stat cache (cold: every byte read and hashed on all cores), and prints MB/s.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>

#include "planner/context_hasher.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: context_hash_bench DIR\n");
    return 2;
  }
  auto h = cb::planner::ContextHasher::Open(argv[1]);
  if (!h) return std::fprintf(stderr, "%s\n", h.error().ToString().c_str()), 1;
  (void)h->HashSources({"."});  // warm the page cache
  auto h2 = cb::planner::ContextHasher::Open(argv[1]);
  auto cpu = [] {
    struct rusage ru;
    ::getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  };
  double c0 = cpu();
  auto t0 = std::chrono::steady_clock::now();
  auto d = h2->HashSources({"."});
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double c = cpu() - c0;
  if (!d) return std::fprintf(stderr, "%s\n", d.error().ToString().c_str()), 1;
  double mb = static_cast<double>(h2->stats().bytes_read) / 1e6;
  std::printf("files=%lld bytes=%.1fMB seconds=%.3f cpu=%.3fs rate=%.1fMB/s\n",
              static_cast<long long>(h2->stats().files), mb, s, c, mb / s);
  return 0;
}
