// ADD <http(s) URL>: downloading a remote source into the store, as BuildKit's http source does.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/digest.h"
#include "common/result.h"
#include "planner/plan_keys.h"

namespace cb::executor {

/// The file name a download gets (BuildKit): the last segment of the URL's path, %-decoded;
/// "__unnamed__" when the path has none ("http://host/", "http://host").
std::string UrlFileName(const std::string& url);

/// One downloaded file, in a private directory under <root>/active (swept when its process is
/// gone, like an active snapshot).
struct Download {
  std::string url;
  std::string path;                     ///< the content
  Digest digest;                        ///< SHA-256 of the content
  std::optional<int64_t> last_modified; ///< from the Last-Modified header, seconds since the epoch
};

/// The downloads of one build (keys are computed from them before the steps run, which then
/// copy them); every file is removed when this is destroyed (success or not). Thread-safe:
/// each URL is fetched once, a concurrent Fetch of the same URL waits for that one.
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
  struct Entry {
    std::mutex mu;  ///< held while the URL is fetched
    bool done = false;
    Download download;
    std::string dir;  ///< its temp directory
  };
  std::string root_;
  std::mutex mu_;  ///< guards entries_ (not the entries)
  std::map<std::string, std::unique_ptr<Entry>> entries_;
};

/// The resolver ComputeKeys uses for ADD <url> without --checksum (BuildKit): the URL is
/// fetched into `downloads` (kept for the step) and its content digest and Last-Modified time
/// are the key, so a changed remote file reruns the step.
planner::UrlResolver UrlKeyResolver(Downloads& downloads);

}  // namespace cb::executor
