// layer_bench DIR [RUNS]: throughput of Differ::Diff (gzip with 1 and all threads, zstd, none)
// against the tar CLI piped into gzip / pigz / zstd -T0, measured in the same run over the same
// (page-cached) tree. Not a test.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "common/unique_fd.h"
#include "snapshotter/differ.h"

namespace {

using Clock = std::chrono::steady_clock;
using cb::snapshotter::Compression;

double Seconds(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

int64_t TreeBytes(const std::string& dir) {
  int64_t total = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file() && !e.is_symlink()) total += static_cast<int64_t>(e.file_size());
  }
  return total;
}

// Wall-clock seconds and CPU seconds (user + sys, this process or its waited-for children).
struct Timing {
  double wall = 1e30;
  double cpu = 0;
};

double CpuSeconds(int who) {
  rusage r{};
  ::getrusage(who, &r);
  auto sec = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return sec(r.ru_utime) + sec(r.ru_stime);
}

// Best of `runs` wall-clock times of one Diff to /dev/null; size of the blob in *out_size.
Timing TimeDiff(const std::string& dir, Compression c, int threads, int runs, int64_t* out_size,
                cb::Digest* digest = nullptr) {
  Timing best;
  for (int i = 0; i < runs; ++i) {
    cb::UniqueFd null(::open("/dev/null", O_WRONLY | O_CLOEXEC));
    cb::snapshotter::DiffOptions opts;
    opts.compression = c;
    opts.threads = threads;
    auto start = Clock::now();
    double cpu0 = CpuSeconds(RUSAGE_SELF);
    auto r = cb::snapshotter::NewTarDiffer()->Diff(dir, null.get(), opts);
    double s = Seconds(start);
    double cpu = CpuSeconds(RUSAGE_SELF) - cpu0;
    if (!r) {
      std::fprintf(stderr, "diff failed: %s\n", r.error().message.c_str());
      std::exit(1);
    }
    *out_size = r->size;
    if (digest) *digest = r->digest;
    if (s < best.wall) best = {s, cpu};
  }
  return best;
}

Timing TimeShell(const std::string& cmd, int runs) {
  Timing best;
  for (int i = 0; i < runs; ++i) {
    auto start = Clock::now();
    double cpu0 = CpuSeconds(RUSAGE_CHILDREN);
    if (std::system(cmd.c_str()) != 0) {
      std::fprintf(stderr, "failed: %s\n", cmd.c_str());
      std::exit(1);
    }
    double s = Seconds(start);
    if (s < best.wall) best = {s, CpuSeconds(RUSAGE_CHILDREN) - cpu0};
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: layer_bench DIR [RUNS]\n");
    return 2;
  }
  std::string dir = argv[1];
  int runs = argc > 2 ? std::atoi(argv[2]) : 3;
  double mb = static_cast<double>(TreeBytes(dir)) / 1e6;
  std::string q = "'" + dir + "'";
  TimeShell("tar -C " + q + " -cf - . | cat > /dev/null", 1);  // warm the page cache
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int64_t gz_size = 0, gz1_size = 0, zst_size = 0;  // printed below
  cb::Digest gz_digest, gz1_digest;
  Timing diff_gz1 = TimeDiff(dir, Compression::kGzip, 1, runs, &gz1_size, &gz1_digest);
  Timing diff_gz = TimeDiff(dir, Compression::kGzip, cores, runs, &gz_size, &gz_digest);
  Timing diff_zst = TimeDiff(dir, Compression::kZstd, cores, runs, &zst_size);
  int64_t none_size = 0;
  Timing diff_none = TimeDiff(dir, Compression::kNone, cores, runs, &none_size);
  Timing tar_gz = TimeShell("tar -C " + q + " -cf - . | gzip -c > /dev/null", runs);
  Timing tar_pigz{-1, 0};
  if (std::system("command -v pigz >/dev/null") == 0) {
    tar_pigz = TimeShell("tar -C " + q + " -cf - . | pigz -c > /dev/null", runs);
  }
  Timing tar_zst = TimeShell("tar -C " + q + " -cf - . | zstd -q -T0 -c > /dev/null", runs);
  // GNU tar skips reading file data when its output is /dev/null: pipe through cat.
  Timing tar_none = TimeShell("tar -C " + q + " -cf - . | cat > /dev/null", runs);
  std::printf("tree: %s, %.0f MB of file data, best of %d runs, %u cores\n", dir.c_str(), mb, runs,
              std::thread::hardware_concurrency());
  std::printf("%-28s %8s %9s %14s %8s\n", "", "seconds", "MB/s", "cbuild/tool", "CPU s");
  auto row = [&](const char* name, Timing t, Timing ref) {
    std::printf("%-28s %8.2f %9.1f %13.2fx %8.2f\n", name, t.wall, mb / t.wall,
                ref.wall > 0 ? ref.wall / t.wall : 0.0, t.cpu);
  };
  const Timing none{-1, 0};
  std::string gz_name = fmt::format("Diff gzip, {} threads", cores);
  row("Diff gzip, 1 thread", diff_gz1, tar_gz);
  row(gz_name.c_str(), diff_gz, tar_pigz.wall > 0 ? tar_pigz : tar_gz);
  row("tar | gzip -c", tar_gz, none);
  if (tar_pigz.wall > 0) {
    row("tar | pigz -c", tar_pigz, none);
  } else {
    std::printf("tar | pigz -c: pigz not installed (scripts/setup installs it)\n");
  }
  row("Diff zstd", diff_zst, tar_zst);
  row("tar | zstd -T0 -c", tar_zst, none);
  row("Diff none", diff_none, tar_none);
  row("tar (no compression)", tar_none, none);
  std::printf("(cbuild/tool > 1 means the Differ is faster; 1 thread is compared with gzip, %d with pigz)\n",
              cores);
  std::printf("gzip speed-up %d threads vs 1: %.2fx; same bytes: %s\n", cores, diff_gz1.wall / diff_gz.wall,
              gz_digest == gz1_digest && gz_size == gz1_size ? "yes" : "NO");
  std::printf("layer sizes: gzip %.1f MB, zstd %.1f MB, tar %.1f MB\n",
              static_cast<double>(gz_size) / 1e6, static_cast<double>(zst_size) / 1e6,
              static_cast<double>(none_size) / 1e6);
  return 0;
}
