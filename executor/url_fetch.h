// ADD <http(s) URL>: downloading a remote source into the store, as BuildKit's http source does.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/digest.h"
#include "common/result.h"
#include "planner/context_hasher.h"

namespace cb::executor {

/// The file name a download gets (BuildKit): the last segment of the URL's path, %-decoded;
/// "__unnamed__" when the path has none ("http://host/", "http://host").
std::string UrlFileName(const std::string& url);

/// The URL with any "user:password@" replaced by "xxxxx@", for messages.
std::string RedactUrl(const std::string& url);

/// One downloaded file, in a private directory under <root>/active (swept when its process is
/// gone, like an active snapshot).
struct Download {
  std::string url;
  std::string path;                     ///< the content
  Digest digest;                        ///< SHA-256 of the content
  std::optional<int64_t> last_modified; ///< from the Last-Modified header, seconds since the epoch
};

/// The downloads of one step; every file is removed when this is destroyed (success or not).
/// Not thread-safe: one per step.
class Downloads {
 public:
  explicit Downloads(std::string store_root) : root_(std::move(store_root)) {}
  ~Downloads();
  Downloads(const Downloads&) = delete;
  Downloads& operator=(const Downloads&) = delete;

  /// The download of `url`, fetched now unless this step already fetched it: GET, following
  /// up to 10 redirects, streamed to a file while hashed (memory stays bounded). Uses the CA
  /// file of the registries config and the usual *_proxy environment variables (libcurl).
  /// Errors name the URL (credentials redacted): transport failures (connection refused, TLS),
  /// a status outside 2xx, too many redirects. With `expected` set, a different content digest
  /// is kCorrupt "checksum mismatch", naming both digests. Nothing is left behind on failure.
  Result<const Download*> Fetch(const std::string& url, const std::optional<Digest>& expected = std::nullopt);

 private:
  std::string root_;
  std::map<std::string, Download> done_;
  std::map<std::string, std::string> dirs_;  ///< url → its temp directory
};

/// What a URL contributes to an ADD step's cache key, as BuildKit: with --checksum, the checksum
/// (nothing is fetched unless the step runs); else the URL is fetched now and its content digest
/// and Last-Modified time are the key, so a changed remote file reruns the step. Appends the
/// URL's entry to `files`, so a cache miss can name it.
Result<std::string> UrlKey(Downloads& downloads, const std::string& url, const std::string& checksum,
                           std::vector<planner::ContextFile>* files);

}  // namespace cb::executor
