#include "planner/stat_cache.h"

#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "common/fs.h"

namespace cb::planner {
namespace {

/// Kernel file timestamps come from a coarse clock (one jiffy, up to 10 ms); stay well clear.
constexpr int64_t kRacyWindowNs = 50'000'000;

int64_t Ns(const struct timespec& ts) { return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec; }

}  // namespace

StatCache::Entry StatCache::EntryOf(const struct stat& st) {
  Entry e;
  e.dev = st.st_dev;
  e.ino = st.st_ino;
  e.size = st.st_size;
  e.mtime_ns = Ns(st.st_mtim);
  e.ctime_ns = Ns(st.st_ctim);
  return e;
}

std::unique_ptr<StatCache> StatCache::Open(const std::string& cache_dir, const std::string& context_dir) {
  auto cp = std::make_unique<StatCache>();
  StatCache& c = *cp;
  std::error_code ec;
  std::string abs = std::filesystem::weakly_canonical(context_dir, ec).string();
  if (ec) abs = context_dir;
  if (!fs::MakeDirs(cache_dir)) return cp;
  c.path_ = cache_dir + "/" + Sha256Of(abs).Hex();
  auto text = fs::ReadFile(c.path_);
  if (!text) return cp;
  const char* p = text->data();
  const char* end = p + text->size();
  while (p < end) {
    const char* nl = static_cast<const char*>(memchr(p, '\n', static_cast<size_t>(end - p)));
    if (!nl) break;
    Entry e;
    char* q;
    e.dev = std::strtoull(p, &q, 10);
    e.ino = std::strtoull(q, &q, 10);
    e.size = std::strtoll(q, &q, 10);
    e.mtime_ns = std::strtoll(q, &q, 10);
    e.ctime_ns = std::strtoll(q, &q, 10);
    if (q + 66 <= nl && *q == ' ' && q[65] == ' ') {
      auto d = Digest::Parse("sha256:" + std::string(q + 1, 64));
      if (d) {
        e.digest = *d;
        c.map_.emplace(std::string(static_cast<const char*>(q + 66), nl), e);
      }
    }
    p = nl + 1;
  }
  return cp;
}

bool StatCache::Knows(const std::string& rel) const {
  if (path_.empty()) return false;
  std::lock_guard<std::mutex> lock(mu_);
  return map_.count(rel) != 0;
}

bool StatCache::Lookup(const std::string& rel, const struct stat& st, Digest* out) const {
  if (path_.empty()) return false;
  Entry want = EntryOf(st);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = map_.find(rel);
  if (it == map_.end()) return false;
  const Entry& e = it->second;
  if (e.dev != want.dev || e.ino != want.ino || e.size != want.size || e.mtime_ns != want.mtime_ns ||
      e.ctime_ns != want.ctime_ns)
    return false;
  *out = e.digest;
  return true;
}

void StatCache::Insert(const std::string& rel, const struct stat& st, const Digest& d, int64_t hash_start_ns) {
  if (path_.empty()) return;
  Entry e = EntryOf(st);
  e.digest = d;
  std::lock_guard<std::mutex> lock(mu_);
  if (e.ctime_ns >= hash_start_ns - kRacyWindowNs || e.mtime_ns >= hash_start_ns - kRacyWindowNs) {
    if (map_.erase(rel)) dirty_ = true;
    return;
  }
  map_[rel] = e;
  dirty_ = true;
}

Status StatCache::Save() {
  std::lock_guard<std::mutex> lock(mu_);
  if (path_.empty() || !dirty_) return Ok();
  std::string out;
  out.reserve(map_.size() * 140);
  for (const auto& [rel, e] : map_) {
    if (rel.find('\n') != std::string::npos) continue;
    out += fmt::format("{} {} {} {} {} {} {}\n", e.dev, e.ino, e.size, e.mtime_ns, e.ctime_ns, e.digest.Hex(), rel);
  }
  CB_TRY(fs::WriteFileAtomic(path_, out));
  dirty_ = false;
  return Ok();
}

}  // namespace cb::planner
