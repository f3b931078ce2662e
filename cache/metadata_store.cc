#include "cache/metadata_store.h"

#include <sqlite3.h>

#include <ctime>

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

/// A prepared statement, finalized on scope exit.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &s_, nullptr); }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  bool ok() const { return rc_ == SQLITE_OK; }
  Stmt& Bind(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.c_str(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Bind(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  int Step() { return sqlite3_step(s_); }
  std::string Text(int col) {
    auto* p = sqlite3_column_text(s_, col);
    return p ? std::string(reinterpret_cast<const char*>(p)) : std::string();
  }
  int64_t Int(int col) { return sqlite3_column_int64(s_, col); }

 private:
  sqlite3_stmt* s_ = nullptr;
  int rc_;
};

int64_t Now() { return static_cast<int64_t>(std::time(nullptr)); }

}  // namespace

struct MetadataStore::Impl {
  sqlite3* db = nullptr;
  std::string path;
  ~Impl() { sqlite3_close(db); }

  Error DbError(std::string_view what) const {
    return MakeError(ErrorCode::kIo, "{} in `{}`: {}", what, path, sqlite3_errmsg(db));
  }
  /// Runs a statement that returns no rows.
  Status Exec(Stmt& s, std::string_view what) {
    if (!s.ok()) return DbError(what);
    int rc = s.Step();
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) return DbError(what);
    return Ok();
  }
};

MetadataStore::MetadataStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MetadataStore::~MetadataStore() = default;

Result<std::unique_ptr<MetadataStore>> MetadataStore::Open(const std::string& root) {
  CB_TRY(fs::MakeDirs(root));
  auto impl = std::make_unique<Impl>();
  impl->path = root + "/metadata.db";
  if (sqlite3_open_v2(impl->path.c_str(), &impl->db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK)
    return impl->DbError("open database");
  sqlite3_busy_timeout(impl->db, 30000);
  char* err = nullptr;
  const char* pragmas = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;";
  if (sqlite3_exec(impl->db, pragmas, nullptr, nullptr, &err) != SQLITE_OK ||
      sqlite3_exec(impl->db, kSchema, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return MakeError(ErrorCode::kIo, "initialize `{}`: {}", impl->path, msg);
  }
  return std::unique_ptr<MetadataStore>(new MetadataStore(std::move(impl)));
}

Result<std::optional<std::string>> MetadataStore::GetCacheRecord(const Digest& key) {
  Stmt s(impl_->db, "SELECT record FROM cache WHERE key = ?1");
  if (!s.ok()) return impl_->DbError("read cache record");
  s.Bind(1, key.ToString());
  int rc = s.Step();
  if (rc == SQLITE_DONE) return std::optional<std::string>();
  if (rc != SQLITE_ROW) return impl_->DbError("read cache record");
  std::string rec = s.Text(0);
  Stmt touch(impl_->db, "UPDATE cache SET last_used = ?2 WHERE key = ?1");
  touch.Bind(1, key.ToString()).Bind(2, Now());
  CB_TRY(impl_->Exec(touch, "touch cache record"));
  return std::optional<std::string>(std::move(rec));
}

Status MetadataStore::PutCacheRecord(const Digest& key, const std::string& record) {
  Stmt s(impl_->db,
         "INSERT INTO cache(key, record, created, last_used) VALUES(?1, ?2, ?3, ?3) "
         "ON CONFLICT(key) DO UPDATE SET record = excluded.record, last_used = excluded.last_used");
  s.Bind(1, key.ToString()).Bind(2, record).Bind(3, Now());
  return impl_->Exec(s, "write cache record");
}

Result<std::vector<CacheRecordInfo>> MetadataStore::ListCacheRecords() {
  Stmt s(impl_->db, "SELECT key, record, created, last_used FROM cache ORDER BY last_used, created, key");
  if (!s.ok()) return impl_->DbError("list cache records");
  std::vector<CacheRecordInfo> out;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) {
    auto key = Digest::Parse(s.Text(0));
    if (!key) continue;
    out.push_back({*key, s.Text(1), s.Int(2), s.Int(3)});
  }
  if (rc != SQLITE_DONE) return impl_->DbError("list cache records");
  return out;
}

Status MetadataStore::DeleteCacheRecord(const Digest& key) {
  Stmt s(impl_->db, "DELETE FROM cache WHERE key = ?1");
  s.Bind(1, key.ToString());
  return impl_->Exec(s, "delete cache record");
}

Status MetadataStore::SetTag(const std::string& name, const Digest& manifest) {
  Stmt s(impl_->db,
         "INSERT INTO tags(name, manifest, updated) VALUES(?1, ?2, ?3) "
         "ON CONFLICT(name) DO UPDATE SET manifest = excluded.manifest, updated = excluded.updated");
  s.Bind(1, name).Bind(2, manifest.ToString()).Bind(3, Now());
  return impl_->Exec(s, "write tag");
}

Result<std::optional<Digest>> MetadataStore::GetTag(const std::string& name) {
  Stmt s(impl_->db, "SELECT manifest FROM tags WHERE name = ?1");
  if (!s.ok()) return impl_->DbError("read tag");
  s.Bind(1, name);
  int rc = s.Step();
  if (rc == SQLITE_DONE) return std::optional<Digest>();
  if (rc != SQLITE_ROW) return impl_->DbError("read tag");
  return std::optional<Digest>(CB_TRY(Digest::Parse(s.Text(0))));
}

Result<std::vector<std::pair<std::string, Digest>>> MetadataStore::ListTags() {
  Stmt s(impl_->db, "SELECT name, manifest FROM tags ORDER BY name");
  if (!s.ok()) return impl_->DbError("list tags");
  std::vector<std::pair<std::string, Digest>> out;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) out.emplace_back(s.Text(0), CB_TRY(Digest::Parse(s.Text(1))));
  if (rc != SQLITE_DONE) return impl_->DbError("list tags");
  return out;
}

Result<bool> MetadataStore::DeleteTag(const std::string& name) {
  Stmt s(impl_->db, "DELETE FROM tags WHERE name = ?1");
  s.Bind(1, name);
  CB_TRY(impl_->Exec(s, "delete tag"));
  return sqlite3_changes(impl_->db) > 0;
}

Status MetadataStore::PutLayer(const LayerRecord& rec) {
  Stmt s(impl_->db,
         "INSERT INTO layers(diff_id, blob, blob_size, media_type) VALUES(?1, ?2, ?3, ?4) "
         "ON CONFLICT(diff_id) DO UPDATE SET blob = excluded.blob, blob_size = excluded.blob_size, "
         "media_type = excluded.media_type");
  s.Bind(1, rec.diff_id.ToString()).Bind(2, rec.blob.ToString()).Bind(3, rec.blob_size).Bind(4, rec.media_type);
  return impl_->Exec(s, "write layer record");
}

Result<std::optional<LayerRecord>> MetadataStore::GetLayer(const Digest& diff_id) {
  Stmt s(impl_->db, "SELECT blob, blob_size, media_type FROM layers WHERE diff_id = ?1");
  if (!s.ok()) return impl_->DbError("read layer record");
  s.Bind(1, diff_id.ToString());
  int rc = s.Step();
  if (rc == SQLITE_DONE) return std::optional<LayerRecord>();
  if (rc != SQLITE_ROW) return impl_->DbError("read layer record");
  LayerRecord rec;
  rec.diff_id = diff_id;
  std::string blob = s.Text(0);
  if (!blob.empty()) rec.blob = CB_TRY(Digest::Parse(blob));
  rec.blob_size = s.Int(1);
  rec.media_type = s.Text(2);
  return std::optional<LayerRecord>(std::move(rec));
}

Result<std::vector<LayerRecord>> MetadataStore::ListLayers() {
  Stmt s(impl_->db, "SELECT diff_id, blob, blob_size, media_type FROM layers ORDER BY diff_id");
  if (!s.ok()) return impl_->DbError("list layers");
  std::vector<LayerRecord> out;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) {
    auto id = Digest::Parse(s.Text(0));
    if (!id) continue;
    LayerRecord rec;
    rec.diff_id = *id;
    if (auto b = Digest::Parse(s.Text(1))) rec.blob = *b;
    rec.blob_size = s.Int(2);
    rec.media_type = s.Text(3);
    out.push_back(std::move(rec));
  }
  if (rc != SQLITE_DONE) return impl_->DbError("list layers");
  return out;
}

Status MetadataStore::DeleteLayer(const Digest& diff_id) {
  Stmt s(impl_->db, "DELETE FROM layers WHERE diff_id = ?1");
  s.Bind(1, diff_id.ToString());
  return impl_->Exec(s, "delete layer record");
}

}  // namespace cb::cache
