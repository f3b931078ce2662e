#include "registry/client.h"

#include <nlohmann/json.hpp>

namespace cb::registry {
namespace {

using nlohmann::json;

constexpr int kMaxRedirects = 5;
constexpr int64_t kMaxTokenBytes = 1 << 20;
constexpr const char* kAcceptManifests =
    "Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.docker.distribution.manifest.v2+json";

bool IsRedirect(long s) { return s == 301 || s == 302 || s == 303 || s == 307 || s == 308; }

std::string MediaTypeOf(const std::string& content_type, const std::string& body) {
  std::string mt = content_type.substr(0, content_type.find(';'));
  while (!mt.empty() && mt.back() == ' ') mt.pop_back();
  if (mt.empty() || mt == "application/json" || mt == "text/plain" || mt == "application/octet-stream") {
    json j = json::parse(body, nullptr, false);
    if (j.is_object() && j.contains("mediaType") && j["mediaType"].is_string()) return j["mediaType"];
    if (j.is_object() && j.contains("manifests")) return "application/vnd.oci.image.index.v1+json";
    return "application/vnd.oci.image.manifest.v1+json";
  }
  return mt;
}

std::string WithQuery(const std::string& url, const std::string& q) {
  if (q.empty()) return url;
  return url + (url.find('?') == std::string::npos ? "?" : "&") + q;
}

}  // namespace

Error ResponseError(const HttpResponse& r, const std::string& action) {
  // 5xx and 429 are worth another try: kIo, like transport errors.
  ErrorCode code = r.status == 404                     ? ErrorCode::kNotFound
                   : r.status >= 500 || r.status == 429 ? ErrorCode::kIo
                                                        : ErrorCode::kFailed;
  std::string detail;
  json j = json::parse(r.body, nullptr, false);
  if (j.is_object() && j.contains("errors") && j["errors"].is_array()) {
    for (const auto& e : j["errors"]) {
      if (!e.is_object()) continue;
      if (!detail.empty()) detail += "; ";
      detail += e.value("code", "") + ": " + e.value("message", "");
    }
  }
  if (detail.empty()) {
    detail = fmt::format("HTTP {}", r.status);
    if (r.status == 401) detail += " (authentication required)";
    if (r.status == 403) detail += " (access denied)";
  } else {
    detail = fmt::format("HTTP {}: {}", r.status, detail);
  }
  return MakeError(code, "{}: {}", action, detail);
}

Client::Client(Endpoint ep, std::string repository, const RegistryOptions& opts,
               std::optional<Credentials> creds, bool push, std::vector<std::string> mount_from)
    : ep_(std::move(ep)), repo_(std::move(repository)), opts_(opts), creds_(std::move(creds)), push_(push),
      mount_from_(std::move(mount_from)) {}

Client::~Client() = default;

std::unique_ptr<HttpClient> Client::Borrow() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!pool_.empty()) {
      auto h = std::move(pool_.back());
      pool_.pop_back();
      return h;
    }
  }
  TransportOptions t;
  t.ca_file = opts_.ca_file;
  return std::make_unique<HttpClient>(t);
}

void Client::Return(std::unique_ptr<HttpClient> h) {
  std::lock_guard<std::mutex> l(mu_);
  pool_.push_back(std::move(h));
}

std::string Client::BaseUrl() const { return ep_.scheme + "://" + ep_.host + "/v2/"; }

Result<HttpResponse> Client::SendOnce(HttpRequest req) {
  auto url = CB_TRY(ParseUrl(req.url));
  bool ours = url.authority == ep_.host;  // credentials go to the endpoint's host only
  std::string auth;
  if (ours) {
    std::lock_guard<std::mutex> l(auth_mu_);
    auth = auth_header_;
  }
  for (int attempt = 0; attempt < 2; ++attempt) {
    HttpRequest r = req;
    if (!auth.empty()) r.headers.push_back(auth);
    auto h = Borrow();
    auto resp = h->Do(r);
    Return(std::move(h));
    if (!resp) return resp;
    if (resp->status != 401 || !ours || attempt == 1) return resp;
    std::lock_guard<std::mutex> l(auth_mu_);
    if (auth_header_ == auth) {  // nobody refreshed it meanwhile
      auto st = Authenticate(resp->www_authenticate);
      if (!st) return std::move(st).error();
    }
    if (auth_header_ == auth) return resp;  // nothing new to offer
    auth = auth_header_;
  }
  return MakeError(ErrorCode::kFailed, "unreachable");
}

Result<Client::Sent> Client::Send(HttpRequest req, bool cross_host_redirect_ok) {
  std::string first_url = req.url;
  for (int hop = 0; hop <= kMaxRedirects; ++hop) {
    HttpResponse resp = CB_TRY(SendOnce(req));
    std::string loc = resp.Header("location");
    if (!IsRedirect(resp.status) || loc.empty()) return Sent{std::move(resp), req.url};
    std::string next = ResolveLocation(req.url, loc);
    auto nu = CB_TRY_CTX(ParseUrl(next), "{} `{}`: bad redirect", req.method, first_url);
    if (nu.scheme != "https" && nu.scheme != "http")
      return MakeError(ErrorCode::kFailed, "{} `{}`: redirect to `{}` refused (not http or https)", req.method,
                       first_url, next);
    auto cur = CB_TRY(ParseUrl(req.url));
    if (nu.scheme == "http" && cur.scheme == "https")
      return MakeError(ErrorCode::kFailed, "{} `{}`: redirect from HTTPS to plain HTTP `{}` refused", req.method,
                       first_url, next);
    if (nu.authority != ep_.host && !cross_host_redirect_ok)
      return MakeError(ErrorCode::kFailed, "{} `{}`: the registry redirected to another host `{}`: refused",
                       req.method, first_url, nu.authority);
    req.url = next;
    if (resp.status == 303) {
      req.method = "GET";
      req.body.clear();
      req.body_fd = -1;
    }
  }
  return MakeError(ErrorCode::kFailed, "{} `{}`: more than {} redirects", req.method, first_url, kMaxRedirects);
}

Status Client::Authenticate(const std::vector<std::string>& www_authenticate) {
  std::vector<Challenge> all;
  for (const auto& h : www_authenticate)
    for (auto& c : ParseWwwAuthenticate(h)) all.push_back(std::move(c));
  for (const auto& c : all) {
    if (c.scheme != "bearer") continue;
    std::string token = CB_TRY(FetchToken(c));
    auth_header_ = "Authorization: Bearer " + token;
    return Ok();
  }
  for (const auto& c : all) {
    if (c.scheme != "basic") continue;
    if (!creds_ || creds_->username.empty())
      return MakeError(ErrorCode::kFailed,
                       "{}: authentication required and no credentials are stored for `{}` (run `cbuild login {}`)",
                       ep_.host, ep_.registry, ep_.registry);
    auth_header_ = "Authorization: Basic " + Base64Encode(creds_->username + ":" + creds_->password);
    return Ok();
  }
  if (all.empty()) return Ok();  // a 401 without a challenge: the caller reports it
  return MakeError(ErrorCode::kUnsupported, "{}: unsupported authentication scheme `{}`", ep_.host, all[0].scheme);
}

Result<std::string> Client::FetchToken(const Challenge& c) {
  auto it = c.params.find("realm");
  if (it == c.params.end() || it->second.empty())
    return MakeError(ErrorCode::kFailed, "{}: Bearer challenge without a realm", ep_.host);
  std::string realm = it->second;
  auto ru = CB_TRY_CTX(ParseUrl(realm), "{}: token realm", ep_.host);
  if (ru.scheme != "https" && !(ru.scheme == "http" && AllowsPlainHttp(ru.authority, opts_)))
    return MakeError(ErrorCode::kFailed, "{}: token realm `{}` must use HTTPS", ep_.host, realm);
  std::vector<std::string> query;
  if (auto s = c.params.find("service"); s != c.params.end()) query.push_back("service=" + UrlEncode(s->second));
  query.push_back("scope=" + UrlEncode("repository:" + repo_ + (push_ ? ":pull,push" : ":pull")));
  for (const auto& m : mount_from_) query.push_back("scope=" + UrlEncode("repository:" + m + ":pull"));
  bool send_creds = creds_ && MayReceiveCredentials(ep_.host, ru.host);
  HttpRequest req;
  req.max_body = kMaxTokenBytes;
  std::string q;
  for (const auto& p : query) q += (q.empty() ? "" : "&") + p;
  if (send_creds && !creds_->identity_token.empty()) {
    req.method = "POST";
    req.url = realm;
    req.headers.push_back("Content-Type: application/x-www-form-urlencoded");
    req.body = q + "&grant_type=refresh_token&client_id=cbuild&refresh_token=" + UrlEncode(creds_->identity_token);
  } else {
    req.url = WithQuery(realm, q);
    if (send_creds && !creds_->username.empty())
      req.headers.push_back("Authorization: Basic " + Base64Encode(creds_->username + ":" + creds_->password));
  }
  auto h = Borrow();
  auto resp = h->Do(req);  // token endpoints must answer directly: no redirects
  Return(std::move(h));
  if (!resp) return std::move(resp).error();
  if (resp->status != 200) {
    Error e = ResponseError(*resp, fmt::format("get a token from `{}`", realm));
    if (creds_ && !send_creds)
      e.message += fmt::format(" (credentials for `{}` were not sent to the other host `{}`)", ep_.registry, ru.host);
    return e;
  }
  json j = json::parse(resp->body, nullptr, false);
  std::string token;
  if (j.is_object()) token = j.value("token", j.value("access_token", ""));
  if (token.empty() || token.find_first_of("\r\n") != std::string::npos)
    return MakeError(ErrorCode::kFailed, "get a token from `{}`: the answer has no usable token", realm);
  return token;
}

Status Client::Ping() {
  std::vector<std::string> schemes = {ep_.scheme};
  if (ep_.plain_http_ok && ep_.scheme == "https") schemes.push_back("http");
  std::string errors;
  for (const auto& scheme : schemes) {
    ep_.scheme = scheme;
    HttpRequest req;
    req.url = BaseUrl();
    auto h = Borrow();
    auto resp = h->Do(req);
    Return(std::move(h));
    if (!resp) {
      errors += (errors.empty() ? "" : "; ") + resp.error().message;
      continue;
    }
    if (resp->status == 401) {
      std::lock_guard<std::mutex> l(auth_mu_);
      return Authenticate(resp->www_authenticate);
    }
    if (resp->status == 200) return Ok();
    Error e = ResponseError(*resp, fmt::format("{} is not an OCI registry (GET {})", ep_.host, req.url));
    if (!errors.empty()) e.message = errors + "; " + e.message;  // why HTTPS failed matters more
    return e;
  }
  return MakeError(ErrorCode::kIo, "reach registry `{}`: {}", ep_.host, errors);
}

Status Client::CheckAccess() {
  HttpRequest req;
  req.url = BaseUrl();
  auto resp = CB_TRY(SendOnce(req));
  if (resp.status != 200) return ResponseError(resp, fmt::format("GET {}", req.url));
  return Ok();
}

Result<FetchedManifest> Client::GetManifest(const std::string& reference) {
  HttpRequest req;
  req.url = BaseUrl() + repo_ + "/manifests/" + reference;
  req.headers.push_back(kAcceptManifests);
  req.max_body = opts_.max_manifest_bytes;
  std::string what = fmt::format("manifest `{}:{}`", Where(), reference);
  auto sent = Send(req, false);
  if (!sent) {
    Error e = std::move(sent).error();
    if (e.message.find("response body exceeds") != std::string::npos)
      e.message = fmt::format("{}: larger than {} bytes: refused", what, opts_.max_manifest_bytes);
    return e;
  }
  const HttpResponse& r = sent->resp;
  if (r.status != 200) return ResponseError(r, fmt::format("get {}", what));
  FetchedManifest m;
  m.body = r.body;
  m.digest = Sha256Of(m.body);
  m.media_type = MediaTypeOf(r.Header("content-type"), m.body);
  if (auto want = Digest::Parse(reference); want && *want != m.digest)
    return MakeError(ErrorCode::kCorrupt, "{}: content hashes to {}", what, m.digest.ToString());
  if (std::string h = r.Header("docker-content-digest"); !h.empty()) {
    auto d = Digest::Parse(h);
    if (d && *d != m.digest)
      return MakeError(ErrorCode::kCorrupt, "{}: content hashes to {} but the registry says {}", what,
                       m.digest.ToString(), h);
  }
  return m;
}

Status Client::FetchBlob(const Digest& digest, int64_t size,
                         const std::function<Status(std::string_view)>& sink) {
  Sha256 hash;
  int64_t got = 0;
  std::string what = fmt::format("blob {} from `{}`", digest.ToString(), Where());
  HttpRequest req;
  req.url = BaseUrl() + repo_ + "/blobs/" + digest.ToString();
  req.sink = [&](std::string_view data) -> Status {
    got += static_cast<int64_t>(data.size());
    if (got > size)
      return MakeError(ErrorCode::kCorrupt, "{}: the registry sent more than the {} bytes the manifest names", what,
                       size);
    hash.Update(data);
    return sink(data);
  };
  auto sent = CB_TRY(Send(req, true));  // blob storage is often on another host (no credentials)
  if (sent.resp.status != 200) return ResponseError(sent.resp, fmt::format("get {}", what));
  if (got != size)
    return MakeError(ErrorCode::kCorrupt, "{}: got {} bytes but the manifest says {}", what, got, size);
  Digest d = hash.Finish();
  if (d != digest) return MakeError(ErrorCode::kCorrupt, "{}: content hashes to {}", what, d.ToString());
  return Ok();
}

Result<std::string> Client::FetchSmallBlob(const Digest& digest, int64_t size) {
  if (size > opts_.max_manifest_bytes * 4)
    return MakeError(ErrorCode::kCorrupt, "blob {}: {} bytes is too large for an image config", digest.ToString(),
                     size);
  std::string out;
  CB_TRY(FetchBlob(digest, size, [&](std::string_view d) {
    out.append(d);
    return Ok();
  }));
  return out;
}

Result<bool> Client::HasBlob(const Digest& digest) {
  HttpRequest req;
  req.method = "HEAD";
  req.url = BaseUrl() + repo_ + "/blobs/" + digest.ToString();
  auto sent = CB_TRY(Send(req, true));
  if (sent.resp.status == 200) return true;
  if (sent.resp.status == 404) return false;
  return ResponseError(sent.resp, fmt::format("HEAD blob {} in `{}`", digest.ToString(), Where()));
}

Result<std::string> Client::StartUpload(const std::string& query) {
  HttpRequest req;
  req.method = "POST";
  req.url = WithQuery(BaseUrl() + repo_ + "/blobs/uploads/", query);
  auto sent = CB_TRY(Send(req, false));
  if (sent.resp.status == 201) return std::string();
  if (sent.resp.status != 202 || sent.resp.Header("location").empty())
    return ResponseError(sent.resp, fmt::format("start an upload to `{}`", Where()));
  return ResolveLocation(sent.url, sent.resp.Header("location"));
}

Result<bool> Client::MountBlob(const Digest& digest, const std::string& from_repo) {
  std::string loc = CB_TRY(StartUpload("mount=" + UrlEncode(digest.ToString()) + "&from=" + UrlEncode(from_repo)));
  return loc.empty();
}

Status Client::UploadBlob(const Digest& digest, int fd, int64_t size, const std::function<void(int64_t)>& on_bytes) {
  std::string what = fmt::format("upload blob {} to `{}`", digest.ToString(), Where());
  std::string loc = CB_TRY(StartUpload(""));
  if (loc.empty()) return Ok();
  int64_t off = 0;
  bool chunked = opts_.chunk_size > 0 && size > opts_.chunk_size;
  while (chunked && off < size) {
    int64_t n = std::min(opts_.chunk_size, size - off);
    HttpRequest req;
    req.method = "PATCH";
    req.url = loc;
    req.headers = {"Content-Type: application/octet-stream",
                   fmt::format("Content-Range: {}-{}", off, off + n - 1)};
    req.body_fd = fd;
    req.body_offset = off;
    req.body_length = n;
    auto sent = CB_TRY_CTX(Send(req, false), "{}", what);
    if (sent.resp.status != 202 || sent.resp.Header("location").empty())
      return ResponseError(sent.resp, fmt::format("{}: chunk at {}", what, off));
    loc = ResolveLocation(sent.url, sent.resp.Header("location"));
    off += n;
    if (on_bytes) on_bytes(n);
  }
  HttpRequest req;
  req.method = "PUT";
  req.url = WithQuery(loc, "digest=" + UrlEncode(digest.ToString()));
  req.headers = {"Content-Type: application/octet-stream"};
  if (!chunked) {
    req.body_fd = fd;
    req.body_length = size;
  }
  auto sent = CB_TRY_CTX(Send(req, false), "{}", what);
  if (sent.resp.status != 201 && sent.resp.status != 204) return ResponseError(sent.resp, what);
  if (!chunked && on_bytes) on_bytes(size);
  return Ok();
}

Status Client::PutManifest(const std::string& reference, const std::string& body, const std::string& media_type) {
  HttpRequest req;
  req.method = "PUT";
  req.url = BaseUrl() + repo_ + "/manifests/" + reference;
  req.headers = {"Content-Type: " + media_type};
  req.body = body;
  std::string what = fmt::format("put manifest `{}:{}`", Where(), reference);
  auto sent = CB_TRY(Send(req, false));
  if (sent.resp.status != 201 && sent.resp.status != 200) return ResponseError(sent.resp, what);
  if (std::string h = sent.resp.Header("docker-content-digest"); !h.empty()) {
    Digest ours = Sha256Of(body);
    if (h != ours.ToString())
      return MakeError(ErrorCode::kCorrupt, "{}: the registry stored {} but the manifest is {}", what, h,
                       ours.ToString());
  }
  return Ok();
}

}  // namespace cb::registry
