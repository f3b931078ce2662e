// ParallelFor: run n independent jobs on up to `workers` threads; the first error stops new jobs.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "common/result.h"

namespace cb::registry {

/// Calls fn(i) for i in [0, n) on up to `workers` threads (the caller's thread included).
/// Returns the first error (by time); jobs not yet started when it happens are skipped.
inline Status ParallelFor(size_t n, int workers, const std::function<Status(size_t)>& fn) {
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  std::optional<Error> first;
  auto loop = [&] {
    for (size_t i; !failed && (i = next++) < n;) {
      Status st = fn(i);
      if (!st) {
        std::lock_guard<std::mutex> l(mu);
        if (!first) first = std::move(st).error();
        failed = true;
      }
    }
  };
  std::vector<std::thread> threads;
  size_t extra = std::min<size_t>(n, static_cast<size_t>(workers > 0 ? workers : 1));
  for (size_t t = 1; t < extra; ++t) threads.emplace_back(loop);
  loop();
  for (auto& t : threads) t.join();
  if (first) return std::move(*first);
  return Ok();
}

}  // namespace cb::registry
