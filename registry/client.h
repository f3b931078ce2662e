// Client: the OCI distribution API for one repository at one endpoint, with the auth flow
// (anonymous, Basic, Bearer tokens from the WWW-Authenticate realm) and the redirect policy.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/digest.h"
#include "common/result.h"
#include "registry/credentials.h"
#include "registry/http_client.h"
#include "registry/options.h"

namespace cb::registry {

/// A manifest or index as the registry sent it (bytes kept: its digest is over them).
struct FetchedManifest {
  std::string body;
  std::string media_type;  ///< Content-Type, else the JSON's mediaType
  Digest digest;           ///< SHA-256 of body (checked against the request and Docker-Content-Digest)
};

/// Thread-safe: blob transfers may run on several threads (each borrows an HttpClient).
/// Credentials are sent only to the endpoint's host and to a token realm that
/// MayReceiveCredentials allows, never across a redirect to another host, and never logged.
class Client {
 public:
  /// `push` asks for pull+push scope; `mount_from` adds pull scope on those repositories.
  Client(Endpoint ep, std::string repository, const RegistryOptions& opts,
         std::optional<Credentials> creds, bool push, std::vector<std::string> mount_from = {});
  ~Client();

  /// GET /v2/: picks https or (when allowed) http, and learns the auth challenge.
  Status Ping();

  /// GET /v2/ with the credentials Ping settled on: kFailed unless the registry accepts them.
  Status CheckAccess();

  /// GET a manifest by tag or digest. Verifies the digest when `reference` is one, and the
  /// Docker-Content-Digest header when present; refuses bodies above opts.max_manifest_bytes.
  Result<FetchedManifest> GetManifest(const std::string& reference);

  /// Streams a blob into `sink`, verifying its size and digest; more bytes than `size` abort.
  Status FetchBlob(const Digest& digest, int64_t size, const std::function<Status(std::string_view)>& sink);
  /// A small blob (config) into memory, verified.
  Result<std::string> FetchSmallBlob(const Digest& digest, int64_t size);

  /// HEAD: true when the repository has the blob.
  Result<bool> HasBlob(const Digest& digest);
  /// Tries a cross-repository mount from `from_repo`; true when the registry mounted it.
  Result<bool> MountBlob(const Digest& digest, const std::string& from_repo);
  /// Uploads `size` bytes of `fd` as `digest`: one PUT, or PATCH chunks of opts.chunk_size.
  /// `on_bytes` (may be empty) is told about progress.
  Status UploadBlob(const Digest& digest, int fd, int64_t size, const std::function<void(int64_t)>& on_bytes);
  /// PUT a manifest under `reference` (tag or digest); checks the digest the registry reports.
  Status PutManifest(const std::string& reference, const std::string& body, const std::string& media_type);

  const Endpoint& endpoint() const { return ep_; }
  /// "host/repository", for messages.
  std::string Where() const { return ep_.host + "/" + repo_; }

 private:
  struct Sent {
    HttpResponse resp;
    std::string url;  ///< the URL that answered (after redirects)
  };
  Result<Sent> Send(HttpRequest req, bool cross_host_redirect_ok);
  Result<HttpResponse> SendOnce(HttpRequest req);
  Status Authenticate(const std::vector<std::string>& www_authenticate);
  Result<std::string> FetchToken(const Challenge& c);
  std::string BaseUrl() const;
  Result<std::string> StartUpload(const std::string& query);
  std::unique_ptr<HttpClient> Borrow();
  void Return(std::unique_ptr<HttpClient> h);

  Endpoint ep_;
  std::string repo_;
  RegistryOptions opts_;
  std::optional<Credentials> creds_;
  bool push_;
  std::vector<std::string> mount_from_;

  std::mutex auth_mu_;       ///< guards auth_header_ (held while a token is fetched)
  std::string auth_header_;  ///< "Authorization: ..." for the endpoint's host, or empty
  std::mutex mu_;            ///< guards pool_
  std::vector<std::unique_ptr<HttpClient>> pool_;
};

/// The registry's error text for a failed response ("MANIFEST_UNKNOWN: manifest unknown"),
/// or the status line.
Error ResponseError(const HttpResponse& r, const std::string& action);

}  // namespace cb::registry
