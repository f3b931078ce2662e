#include "cache/metadata_store.h"

#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <random>
#include <thread>
#include <variant>

#include "cache/lease.h"
#include "common/fs.h"

namespace cb::cache {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS cache (key TEXT PRIMARY KEY, record TEXT NOT NULL,
                                  created INTEGER NOT NULL, last_used INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tags (name TEXT PRIMARY KEY, manifest TEXT NOT NULL,
                                 updated INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS layers (diff_id TEXT PRIMARY KEY, blob TEXT NOT NULL,
                                   blob_size INTEGER NOT NULL, media_type TEXT NOT NULL);
)sql";

/// How long one statement keeps retrying while other processes hold the database: SQLite's
/// busy handler waits up to kBusyTimeoutMs per attempt; the loop covers the cases it does not
/// (a stale WAL snapshot, a lock held during recovery).
constexpr int kBusyTimeoutMs = 10000;
constexpr auto kRetryFor = std::chrono::seconds(60);

using Param = std::variant<std::string, int64_t>;
using Row = std::vector<std::string>;

int64_t Now() { return static_cast<int64_t>(std::time(nullptr)); }

int64_t ToInt(const std::string& s) { return std::strtoll(s.c_str(), nullptr, 10); }

bool Retryable(int rc) { return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED; }

/// A short random pause between retries, so that processes that collided do not collide again.
void Backoff(int attempt) {
  thread_local std::minstd_rand rng(static_cast<unsigned>(::getpid()) ^
                                    static_cast<unsigned>(std::hash<std::thread::id>()(std::this_thread::get_id())));
  int cap = std::min(50, 1 << std::min(attempt, 5));
  std::this_thread::sleep_for(std::chrono::milliseconds(1 + static_cast<int>(rng() % static_cast<unsigned>(cap))));
}

}  // namespace

struct MetadataStore::Impl {
  sqlite3* db = nullptr;
  std::string path;
  ~Impl() { sqlite3_close(db); }

  Error DbError(std::string_view what, int rc) const {
    return MakeError(ErrorCode::kIo, "{} in `{}`: {}", what, path, sqlite3_errstr(rc));
  }

  /// Runs one statement to completion in its own transaction (autocommit: the statement is
  /// its transaction, so a retry starts from nothing) and returns its rows, every column as
  /// text. Never holds a read open across a write: each call reads or writes, then ends.
  Result<std::vector<Row>> Query(const char* sql, const std::vector<Param>& params, std::string_view what) {
    auto deadline = std::chrono::steady_clock::now() + kRetryFor;
    for (int attempt = 0;; ++attempt) {
      std::vector<Row> rows;
      int rc = Attempt(sql, params, rows);
      if (rc == SQLITE_DONE) return rows;
      if (!Retryable(rc) || std::chrono::steady_clock::now() > deadline) return DbError(what, rc);
      Backoff(attempt);
    }
  }

  Status Exec(const char* sql, const std::vector<Param>& params, std::string_view what) {
    CB_TRY(Query(sql, params, what));
    return Ok();
  }

 private:
  int Attempt(const char* sql, const std::vector<Param>& params, std::vector<Row>& rows) {
    sqlite3_stmt* s = nullptr;
    int rc = sqlite3_prepare_v2(db, sql, -1, &s, nullptr);
    if (rc != SQLITE_OK) return rc;
    for (size_t i = 0; i < params.size(); ++i) {
      int at = static_cast<int>(i) + 1;
      if (const auto* text = std::get_if<std::string>(&params[i])) {
        sqlite3_bind_text(s, at, text->c_str(), static_cast<int>(text->size()), SQLITE_TRANSIENT);
      } else {
        sqlite3_bind_int64(s, at, std::get<int64_t>(params[i]));
      }
    }
    int cols = sqlite3_column_count(s);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      Row& r = rows.emplace_back();
      for (int c = 0; c < cols; ++c) {
        const auto* p = sqlite3_column_text(s, c);
        r.emplace_back(p ? reinterpret_cast<const char*>(p) : "");
      }
    }
    sqlite3_finalize(s);
    return rc;
  }
};

MetadataStore::MetadataStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MetadataStore::~MetadataStore() = default;

Result<std::unique_ptr<MetadataStore>> MetadataStore::Open(const std::string& root) {
  CB_TRY(fs::MakeDirs(root));
  auto impl = std::make_unique<Impl>();
  impl->path = root + "/metadata.db";
  int rc = sqlite3_open_v2(impl->path.c_str(), &impl->db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) return impl->DbError("open database", rc);
  sqlite3_busy_timeout(impl->db, kBusyTimeoutMs);
  // WAL: readers never block the writer nor the writer readers; NORMAL sync keeps the database
  // consistent when a process dies (a power loss may lose the last transactions, never corrupt).
  CB_TRY(impl->Query("PRAGMA journal_mode=WAL", {}, "initialize"));
  CB_TRY(impl->Exec("PRAGMA synchronous=NORMAL", {}, "initialize"));
  // One statement per table (a multi-statement string cannot be retried as one transaction).
  for (std::string_view rest = kSchema; !rest.empty();) {
    size_t end = rest.find(';');
    std::string stmt(rest.substr(0, end));
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    if (stmt.find_first_not_of(" \n") == std::string::npos) continue;
    CB_TRY(impl->Exec(stmt.c_str(), {}, "initialize"));
  }
  return std::unique_ptr<MetadataStore>(new MetadataStore(std::move(impl)));
}

Status MetadataStore::Lease(const std::vector<Digest>& digests) {
  return leases_ ? leases_->Add(digests) : Ok();
}

namespace {
/// The shared lease section of a read (none without leases).
Result<std::optional<Leases::Section>> EnterIf(Leases* leases) {
  if (!leases) return std::optional<Leases::Section>();
  return std::optional<Leases::Section>(CB_TRY(leases->Enter()));
}
}  // namespace

Result<std::optional<std::string>> MetadataStore::GetCacheRecord(const Digest& key) {
  auto section = CB_TRY(EnterIf(leases_));
  auto rows = CB_TRY(impl_->Query("SELECT record, last_used FROM cache WHERE key = ?1", {key.ToString()},
                                  "read cache record"));
  if (rows.empty()) return std::optional<std::string>();
  CB_TRY(Lease(DigestsIn(rows[0][0])));
  // The read has ended: the touch is a transaction of its own (a read that upgrades to a write
  // inside one transaction fails at once with "database is locked" when another process wrote
  // in between — SQLite's busy timeout does not cover it). Once a second is enough for LRU.
  int64_t now = Now();
  if (ToInt(rows[0][1]) != now)
    CB_TRY(impl_->Exec("UPDATE cache SET last_used = ?2 WHERE key = ?1", {key.ToString(), now}, "touch cache record"));
  return std::optional<std::string>(std::move(rows[0][0]));
}

Status MetadataStore::PutCacheRecord(const Digest& key, const std::string& record) {
  CB_TRY(Lease(DigestsIn(record)));
  return impl_->Exec(
      "INSERT INTO cache(key, record, created, last_used) VALUES(?1, ?2, ?3, ?3) "
      "ON CONFLICT(key) DO UPDATE SET record = excluded.record, last_used = excluded.last_used",
      {key.ToString(), record, Now()}, "write cache record");
}

Result<std::vector<CacheRecordInfo>> MetadataStore::ListCacheRecords() {
  auto rows = CB_TRY(impl_->Query("SELECT key, record, created, last_used FROM cache ORDER BY last_used, created, key",
                                  {}, "list cache records"));
  std::vector<CacheRecordInfo> out;
  for (auto& r : rows)
    if (auto key = Digest::Parse(r[0])) out.push_back({*key, std::move(r[1]), ToInt(r[2]), ToInt(r[3])});
  return out;
}

Status MetadataStore::DeleteCacheRecord(const Digest& key) {
  return impl_->Exec("DELETE FROM cache WHERE key = ?1", {key.ToString()}, "delete cache record");
}

Status MetadataStore::SetTag(const std::string& name, const Digest& manifest) {
  return impl_->Exec(
      "INSERT INTO tags(name, manifest, updated) VALUES(?1, ?2, ?3) "
      "ON CONFLICT(name) DO UPDATE SET manifest = excluded.manifest, updated = excluded.updated",
      {name, manifest.ToString(), Now()}, "write tag");
}

Result<std::optional<Digest>> MetadataStore::GetTag(const std::string& name) {
  auto section = CB_TRY(EnterIf(leases_));
  auto rows = CB_TRY(impl_->Query("SELECT manifest FROM tags WHERE name = ?1", {name}, "read tag"));
  if (rows.empty()) return std::optional<Digest>();
  Digest manifest = CB_TRY(Digest::Parse(rows[0][0]));
  CB_TRY(Lease({manifest}));
  return std::optional<Digest>(manifest);
}

Result<std::vector<std::pair<std::string, Digest>>> MetadataStore::ListTags() {
  auto rows = CB_TRY(impl_->Query("SELECT name, manifest FROM tags ORDER BY name", {}, "list tags"));
  std::vector<std::pair<std::string, Digest>> out;
  for (auto& r : rows) out.emplace_back(std::move(r[0]), CB_TRY(Digest::Parse(r[1])));
  return out;
}

Result<bool> MetadataStore::DeleteTag(const std::string& name) {
  // RETURNING says whether a row went, inside the statement's own transaction.
  auto rows = CB_TRY(impl_->Query("DELETE FROM tags WHERE name = ?1 RETURNING name", {name}, "delete tag"));
  return !rows.empty();
}

Status MetadataStore::PutLayer(const LayerRecord& rec) {
  CB_TRY(Lease({rec.diff_id, rec.blob}));
  return impl_->Exec(
      "INSERT INTO layers(diff_id, blob, blob_size, media_type) VALUES(?1, ?2, ?3, ?4) "
      "ON CONFLICT(diff_id) DO UPDATE SET blob = excluded.blob, blob_size = excluded.blob_size, "
      "media_type = excluded.media_type",
      {rec.diff_id.ToString(), rec.blob.ToString(), rec.blob_size, rec.media_type}, "write layer record");
}

namespace {
LayerRecord LayerOf(const Digest& diff_id, Row& r) {
  LayerRecord rec;
  rec.diff_id = diff_id;
  if (auto b = Digest::Parse(r[0])) rec.blob = *b;
  rec.blob_size = ToInt(r[1]);
  rec.media_type = std::move(r[2]);
  return rec;
}
}  // namespace

Result<std::optional<LayerRecord>> MetadataStore::GetLayer(const Digest& diff_id) {
  auto section = CB_TRY(EnterIf(leases_));
  CB_TRY(Lease({diff_id}));
  auto rows = CB_TRY(impl_->Query("SELECT blob, blob_size, media_type FROM layers WHERE diff_id = ?1",
                                  {diff_id.ToString()}, "read layer record"));
  if (rows.empty()) return std::optional<LayerRecord>();
  if (!rows[0][0].empty()) CB_TRY(Lease({CB_TRY(Digest::Parse(rows[0][0]))}));
  return std::optional<LayerRecord>(LayerOf(diff_id, rows[0]));
}

Result<std::vector<LayerRecord>> MetadataStore::ListLayers() {
  auto rows = CB_TRY(impl_->Query("SELECT diff_id, blob, blob_size, media_type FROM layers ORDER BY diff_id", {},
                                  "list layers"));
  std::vector<LayerRecord> out;
  for (auto& r : rows) {
    auto id = Digest::Parse(r[0]);
    if (!id) continue;
    Row rest(r.begin() + 1, r.end());
    out.push_back(LayerOf(*id, rest));
  }
  return out;
}

Status MetadataStore::DeleteLayer(const Digest& diff_id) {
  return impl_->Exec("DELETE FROM layers WHERE diff_id = ?1", {diff_id.ToString()}, "delete layer record");
}

Result<std::string> MetadataStore::QuickCheck() {
  auto rows = CB_TRY(impl_->Query("PRAGMA quick_check", {}, "check database"));
  std::string out;
  for (const auto& r : rows) out += (out.empty() ? "" : "; ") + (r.empty() ? std::string() : r[0]);
  return out;
}

}  // namespace cb::cache
