// Content digests (SHA-256 through OpenSSL EVP) as strong values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"

namespace cb {

/// "sha256:<64 lowercase hex>". Only sha256 is produced; Parse accepts only sha256.
class Digest {
 public:
  Digest() = default;
  /// Parses "sha256:<hex>"; rejects other algorithms, wrong length, uppercase or non-hex.
  static Result<Digest> Parse(std::string_view s);
  /// From a raw 32-byte SHA-256 value.
  static Digest FromBytes(const unsigned char* bytes32);

  const std::string& Hex() const { return hex_; }
  std::string ToString() const { return hex_.empty() ? std::string() : "sha256:" + hex_; }
  bool empty() const { return hex_.empty(); }
  /// First 12 hex characters, as Docker prints short ids.
  std::string Short() const { return hex_.substr(0, 12); }

  friend bool operator==(const Digest&, const Digest&) = default;
  friend auto operator<=>(const Digest&, const Digest&) = default;

 private:
  std::string hex_;
};

/// Incremental SHA-256. Not thread-safe; one per stream.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(const void* data, size_t len);
  void Update(std::string_view s) { Update(s.data(), s.size()); }
  /// Finalizes; the object must not be updated afterwards.
  Digest Finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// SHA-256 of a byte string.
Digest Sha256Of(std::string_view data);

/// SHA-256 of a file's content, streaming.
Result<Digest> Sha256OfFile(const std::string& path);

}  // namespace cb

template <>
struct std::hash<cb::Digest> {
  size_t operator()(const cb::Digest& d) const noexcept { return std::hash<std::string>{}(d.Hex()); }
};
