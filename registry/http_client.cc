#include "registry/http_client.h"

#include <curl/curl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>

#include "common/cancel.h"

namespace cb::registry {
namespace {

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

/// State of one transfer, reached from libcurl's C callbacks.
struct Transfer {
  const HttpRequest* req;
  HttpResponse* resp;
  CURL* curl;
  int64_t sent = 0;
  std::optional<Error> error;  ///< why a callback aborted the transfer
};

size_t OnHeader(char* data, size_t size, size_t n, void* p) {
  auto* t = static_cast<Transfer*>(p);
  std::string_view line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0) {  // a new response (after 100 Continue or similar)
    t->resp->headers.clear();
    t->resp->www_authenticate.clear();
    return size * n;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return size * n;
  std::string name = Lower(std::string(line.substr(0, colon)));
  std::string value = Trim(line.substr(colon + 1));
  if (name == "www-authenticate") t->resp->www_authenticate.push_back(value);
  auto& slot = t->resp->headers[name];
  slot = slot.empty() ? value : slot + ", " + value;
  return size * n;
}

size_t OnBody(char* data, size_t size, size_t n, void* p) {
  auto* t = static_cast<Transfer*>(p);
  size_t len = size * n;
  if (auto c = cancel::Check(); !c) {  // SIGINT/SIGTERM to cbuild: abort the download
    t->error = std::move(c).error();
    return 0;
  }
  long code = 0;
  curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &code);
  if (t->req->sink && code >= 200 && code < 300) {
    Status st = t->req->sink(std::string_view(data, len));
    if (!st) {
      t->error = std::move(st).error();
      return 0;
    }
    return len;
  }
  if (static_cast<int64_t>(t->resp->body.size() + len) > t->req->max_body) {
    t->error = MakeError(ErrorCode::kCorrupt, "{} `{}`: response body exceeds {} bytes", t->req->method,
                         t->req->url, t->req->max_body);
    return 0;
  }
  t->resp->body.append(data, len);
  return len;
}

size_t OnRead(char* buf, size_t size, size_t n, void* p) {
  auto* t = static_cast<Transfer*>(p);
  const HttpRequest& r = *t->req;
  size_t want = size * n;
  if (r.body_fd < 0) {
    size_t left = r.body.size() - static_cast<size_t>(t->sent);
    size_t k = std::min(want, left);
    std::memcpy(buf, r.body.data() + t->sent, k);
    t->sent += static_cast<int64_t>(k);
    return k;
  }
  int64_t left = r.body_length - t->sent;
  if (left <= 0) return 0;
  size_t k = static_cast<size_t>(std::min<int64_t>(static_cast<int64_t>(want), left));
  ssize_t got;
  do {
    got = ::pread(r.body_fd, buf, k, r.body_offset + t->sent);
  } while (got < 0 && errno == EINTR);
  if (got <= 0) {
    t->error = got < 0 ? ErrnoError(errno, "read upload body")
                       : MakeError(ErrorCode::kIo, "read upload body: file shorter than expected");
    return CURL_READFUNC_ABORT;
  }
  t->sent += got;
  return static_cast<size_t>(got);
}

}  // namespace

std::string HttpResponse::Header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

struct HttpClient::Impl {
  TransportOptions opts;
  CURL* curl = nullptr;
};

HttpClient::HttpClient(TransportOptions opts) : impl_(std::make_unique<Impl>()) {
  GlobalInit();
  impl_->opts = std::move(opts);
  impl_->curl = curl_easy_init();
}

HttpClient::~HttpClient() {
  if (impl_->curl) curl_easy_cleanup(impl_->curl);
}

Result<HttpResponse> HttpClient::Do(const HttpRequest& req) {
  CURL* c = impl_->curl;
  if (!c) return MakeError(ErrorCode::kIo, "{} `{}`: cannot create a libcurl handle", req.method, req.url);
  curl_easy_reset(c);
  HttpResponse resp;
  Transfer t{&req, &resp, c, 0, std::nullopt};
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, impl_->opts.connect_timeout_s);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, impl_->opts.stall_timeout_s);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "cbuild/0.1");
  curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, nullptr);  // blobs are compared byte for byte
  if (!impl_->opts.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, impl_->opts.ca_file.c_str());
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  bool has_body = req.method == "PUT" || req.method == "POST" || req.method == "PATCH";
  if (req.method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (has_body) {
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    curl_easy_setopt(c, CURLOPT_READFUNCTION, OnRead);
    curl_easy_setopt(c, CURLOPT_READDATA, &t);
    curl_off_t len = req.body_fd >= 0 ? req.body_length : static_cast<curl_off_t>(req.body.size());
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, len);
  } else if (req.method != "GET") {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  }
  curl_slist* hl = nullptr;
  for (const auto& h : req.headers) hl = curl_slist_append(hl, h.c_str());
  hl = curl_slist_append(hl, "Expect:");  // no 100-continue round trip
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
  CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(hl);
  if (t.error) return std::move(*t.error);
  if (rc != CURLE_OK) {
    const char* why = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    return MakeError(ErrorCode::kIo, "{} `{}`: {}", req.method, req.url, why);
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp.status);
  return resp;
}

Result<UrlParts> ParseUrl(std::string_view url) {
  UrlParts u;
  size_t sep = url.find("://");
  if (sep == std::string_view::npos)
    return MakeError(ErrorCode::kInvalidArgument, "invalid URL `{}`: no scheme", url);
  u.scheme = Lower(std::string(url.substr(0, sep)));
  std::string_view rest = url.substr(sep + 3);
  size_t slash = rest.find_first_of("/?#");
  u.authority = Lower(std::string(rest.substr(0, slash)));
  u.path_and_query = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (u.authority.find('@') != std::string::npos)
    return MakeError(ErrorCode::kInvalidArgument, "invalid URL `{}`: user info is not allowed", url);
  if (u.authority.empty()) return MakeError(ErrorCode::kInvalidArgument, "invalid URL `{}`: no host", url);
  if (u.authority[0] == '[') {
    size_t close = u.authority.find(']');
    u.host = u.authority.substr(0, close == std::string::npos ? std::string::npos : close + 1);
  } else {
    u.host = u.authority.substr(0, u.authority.find(':'));
  }
  return u;
}

std::string ResolveLocation(const std::string& base_url, const std::string& location) {
  if (location.find("://") != std::string::npos) return location;
  auto base = ParseUrl(base_url);
  if (!base) return location;
  if (location.rfind("//", 0) == 0) return base->scheme + ":" + location;
  if (!location.empty() && location[0] == '/') return base->scheme + "://" + base->authority + location;
  std::string dir = base->path_and_query.substr(0, base->path_and_query.find('?'));
  dir = dir.substr(0, dir.rfind('/') + 1);
  return base->scheme + "://" + base->authority + dir + location;
}

std::string UrlEncode(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace cb::registry
