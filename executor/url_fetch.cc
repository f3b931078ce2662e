#include "executor/url_fetch.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

#include "common/fs.h"
#include "common/unique_fd.h"
#include "executor/copy_op.h"
#include "registry/http_client.h"
#include "registry/options.h"

namespace cb::executor {

using planner::RedactUrl;

namespace {

constexpr int kMaxRedirects = 10;  // as Go's http.Client, which BuildKit uses

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 && HexValue(s[i + 2]) >= 0) {
      out += static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

/// The URL's path, without scheme, authority, query or fragment.
std::string_view UrlPath(std::string_view url) {
  size_t sep = url.find("://");
  std::string_view rest = sep == std::string_view::npos ? url : url.substr(sep + 3);
  size_t slash = rest.find_first_of("/?#");
  if (slash == std::string_view::npos || rest[slash] != '/') return {};
  rest = rest.substr(slash);
  return rest.substr(0, rest.find_first_of("?#"));
}

/// An HTTP date (RFC 1123, RFC 850 or asctime form, as Go's http.ParseTime) → epoch seconds.
std::optional<int64_t> ParseHttpDate(const std::string& s) {
  for (const char* f : {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT", "%a %b %d %H:%M:%S %Y"}) {
    struct tm tm = {};
    const char* end = ::strptime(s.c_str(), f, &tm);
    if (end != nullptr && *end == '\0') return static_cast<int64_t>(::timegm(&tm));
  }
  return std::nullopt;
}

}  // namespace

std::string UrlFileName(const std::string& url) {
  std::string path = PercentDecode(UrlPath(url));
  while (!path.empty() && path.back() == '/') path.pop_back();
  std::string name = path.substr(path.rfind('/') + 1);
  if (name.empty() || name == "." || name == "..") return "__unnamed__";
  return name;
}

Downloads::~Downloads() {
  for (const auto& [url, e] : entries_)
    if (!e->dir.empty()) (void)fs::RemoveTree(e->dir);
}

namespace {

/// GET `d.url` into `d.path`, following redirects; fills the digest and Last-Modified.
Status Get(registry::HttpClient& client, Download& d) {
  std::string shown = RedactUrl(d.url), at = d.url;
  for (int hop = 0; hop <= kMaxRedirects; ++hop) {
    // Each attempt starts the file and the digest afresh (a redirect's body is not content).
    UniqueFd out(::open(d.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!out) return ErrnoError(errno, fmt::format("create `{}`", d.path));
    Sha256 h;
    registry::HttpRequest req;
    req.url = at;
    req.max_body = 1 << 20;  // error pages and redirect bodies only
    req.sink = [&](std::string_view chunk) -> Status {
      h.Update(chunk);
      return WriteAll(out.get(), chunk, d.path);
    };
    auto resp = client.Do(req);
    if (!resp) {
      Error e = std::move(resp).error();
      for (size_t p = e.message.find(at); p != std::string::npos; p = e.message.find(at, p + 1))
        e.message.replace(p, at.size(), RedactUrl(at));
      return e;
    }
    if (resp->status >= 300 && resp->status < 400 && !resp->Header("location").empty()) {
      at = registry::ResolveLocation(at, resp->Header("location"));
      continue;
    }
    if (resp->status < 200 || resp->status >= 300)
      return MakeError(ErrorCode::kIo, "GET `{}`: invalid response status {}", shown, resp->status);
    d.digest = h.Finish();
    std::string lm = resp->Header("last-modified");
    if (!lm.empty()) d.last_modified = ParseHttpDate(lm);
    return Ok();
  }
  return MakeError(ErrorCode::kIo, "GET `{}`: stopped after {} redirects", shown, kMaxRedirects);
}

}  // namespace

Result<const Download*> Downloads::Fetch(const std::string& url, const std::optional<Digest>& expected) {
  Entry* e;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto& slot = entries_[url];
    if (!slot) slot = std::make_unique<Entry>();
    e = slot.get();
  }
  // One fetch per URL: a second caller waits for the first (no TBB wait happens under this lock).
  std::lock_guard<std::mutex> lock(e->mu);
  if (!e->done) {
    CB_TRY(fs::MakeDirs(root_ + "/active"));
    e->dir = CB_TRY(fs::MakeTempDir(root_ + "/active", std::to_string(::getpid()) + "-fetch-"));
    Download d;
    d.url = url;
    d.path = e->dir + "/content";
    Status got = [&]() -> Status {
      auto opts = CB_TRY(registry::RegistryOptions::LoadDefault());
      registry::TransportOptions t;
      t.ca_file = opts.ca_file;
      registry::HttpClient client(t);
      return Get(client, d);
    }();
    if (!got) {
      (void)fs::RemoveTree(e->dir);
      e->dir.clear();
      return std::move(got).error();
    }
    e->download = std::move(d);
    e->done = true;
  }
  if (expected && e->download.digest != *expected)
    return MakeError(ErrorCode::kCorrupt, "checksum mismatch for `{}`: expected {}, got {}", RedactUrl(url),
                     expected->ToString(), e->download.digest.ToString());
  return &e->download;
}

planner::UrlResolver UrlKeyResolver(Downloads& downloads) {
  return [&downloads](const std::string& url) -> Result<planner::UrlKeyInputs> {
    const Download* d = CB_TRY(downloads.Fetch(url));
    return planner::UrlKeyInputs{url, d->digest, d->last_modified ? std::to_string(*d->last_modified) : ""};
  };
}

}  // namespace cb::executor
