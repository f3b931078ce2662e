#include "common/digest.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include <openssl/evp.h>

#include "common/unique_fd.h"

namespace cb {

Result<Digest> Digest::Parse(std::string_view s) {
  constexpr std::string_view kPrefix = "sha256:";
  if (s.substr(0, kPrefix.size()) != kPrefix)
    return MakeError(ErrorCode::kInvalidArgument, "digest `{}`: only sha256 digests are supported", s);
  std::string_view hex = s.substr(kPrefix.size());
  if (hex.size() != 64)
    return MakeError(ErrorCode::kInvalidArgument, "digest `{}`: want 64 hex characters", s);
  for (char c : hex) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return MakeError(ErrorCode::kInvalidArgument, "digest `{}`: not lowercase hex", s);
  }
  Digest d;
  d.hex_ = std::string(hex);
  return d;
}

Digest Digest::FromBytes(const unsigned char* bytes32) {
  static constexpr char kHex[] = "0123456789abcdef";
  Digest d;
  d.hex_.resize(64);
  for (int i = 0; i < 32; ++i) {
    d.hex_[2 * i] = kHex[bytes32[i] >> 4];
    d.hex_[2 * i + 1] = kHex[bytes32[i] & 0xf];
  }
  return d;
}

struct Sha256::Impl {
  EVP_MD_CTX* ctx = nullptr;
};

namespace {
// Fetched once: EVP_sha256() makes every init look the algorithm up in OpenSSL 3's provider
// store under a lock, which shows when many small files are hashed on several threads.
const EVP_MD* Sha256Md() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md != nullptr ? md : EVP_sha256();
}
}  // namespace

Sha256::Sha256() : impl_(std::make_unique<Impl>()) {
  impl_->ctx = EVP_MD_CTX_new();
  // Only allocation failure can make these fail; out-of-memory ends the program.
  if (impl_->ctx == nullptr || EVP_DigestInit_ex(impl_->ctx, Sha256Md(), nullptr) != 1) std::abort();
}

Sha256::~Sha256() { EVP_MD_CTX_free(impl_->ctx); }

void Sha256::Update(const void* data, size_t len) {
  if (len > 0) EVP_DigestUpdate(impl_->ctx, data, len);
}

Digest Sha256::Finish() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_DigestFinal_ex(impl_->ctx, out, &n);
  return Digest::FromBytes(out);
}

Digest Sha256Of(std::string_view data) {
  Sha256 h;
  h.Update(data);
  return h.Finish();
}

Result<Digest> Sha256OfFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return ErrnoError(errno, fmt::format("open `{}`", path));
  Sha256 h;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError(errno, fmt::format("read `{}`", path));
    }
    if (n == 0) break;
    h.Update(buf, static_cast<size_t>(n));
  }
  return h.Finish();
}

}  // namespace cb
