// HttpClient: one libcurl easy handle (keeps its connections alive between requests).
// It never follows redirects itself: the caller decides where credentials may go.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace cb::registry {

/// TLS and timeout settings shared by every request of a client.
struct TransportOptions {
  std::string ca_file;           ///< extra CA bundle (PEM); empty = the system CAs only
  long connect_timeout_s = 20;   ///< TCP + TLS handshake
  long stall_timeout_s = 60;     ///< abort when fewer than 1 byte/s arrive for this long
};

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::string> headers;  ///< "Name: value"
  std::string body;                  ///< request body (PUT/POST/PATCH) when body_fd < 0
  int body_fd = -1;                  ///< stream the body from this fd instead (pread)
  int64_t body_offset = 0;
  int64_t body_length = 0;           ///< bytes to send from body_fd
  /// Response bodies kept in memory are capped here (an oversized or endless body is an error).
  int64_t max_body = 4 << 20;
  /// When set, a 2xx response body streams here instead of into memory; a non-OK Status aborts.
  std::function<Status(std::string_view)> sink;
};

struct HttpResponse {
  long status = 0;
  std::map<std::string, std::string> headers;  ///< lowercase names; repeated ones joined by ", "
  std::vector<std::string> www_authenticate;   ///< every WWW-Authenticate header, in order
  std::string body;

  /// The value of a header (name in lowercase) or "".
  std::string Header(const std::string& lower_name) const;
};

/// Not thread-safe: one per thread.
class HttpClient {
 public:
  explicit HttpClient(TransportOptions opts = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  /// Performs one request (no redirects followed). Transport failures are kIo errors naming
  /// the method and URL; any HTTP status is a successful Result.
  Result<HttpResponse> Do(const HttpRequest& req);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Splits "scheme://host[:port]/path?q" into its origin "scheme://host[:port]" and host[:port].
struct UrlParts {
  std::string scheme, authority, host;  ///< host is without port; authority is host[:port]
  std::string path_and_query;
};
Result<UrlParts> ParseUrl(std::string_view url);

/// Resolves a Location header against the URL that returned it (absolute, or path-absolute).
std::string ResolveLocation(const std::string& base_url, const std::string& location);

/// %-encodes a query component.
std::string UrlEncode(std::string_view s);

}  // namespace cb::registry
