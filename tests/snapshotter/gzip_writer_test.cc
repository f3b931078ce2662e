// GzipWriter: valid single-member gzip, reproducible for any thread count and write pattern.
#include <zlib.h>

#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include "snapshotter/gzip_writer.h"
#include "tests/snapshotter/tar_test_util.h"

using namespace cb;
using namespace cb::tartest;
using snapshotter::GzipWriter;
using snapshotter::kGzipBlockSize;

namespace {

// Half compressible text, half random bytes, deterministic.
std::string Data(size_t n, unsigned seed = 1) {
  std::mt19937 rng(seed);
  std::string s;
  s.reserve(n);
  while (s.size() < n) {
    if ((s.size() / 4096) % 2 == 0) {
      s += "line " + std::to_string(rng() % 1000) + " of some fairly repetitive layer text\n";
    } else {
      for (int i = 0; i < 64; ++i) s.push_back(static_cast<char>(rng()));
    }
  }
  s.resize(n);
  return s;
}

// Compresses `in`, fed in pieces of `chunk` bytes (0 = one Write).
std::string Gzip(const std::string& in, int threads, size_t chunk = 0, size_t block = kGzipBlockSize,
                 int level = 0) {
  std::string out;
  GzipWriter w([&](const char* p, size_t n) { out.append(p, n); return Ok(); }, level, threads, block);
  if (chunk == 0) chunk = in.size() ? in.size() : 1;
  for (size_t i = 0; i < in.size(); i += chunk) REQUIRE(w.Write(in.data() + i, std::min(chunk, in.size() - i)));
  REQUIRE(w.Finish());
  return out;
}

// zlib's gzip decoder: the whole input must be exactly one member.
std::string Gunzip(const std::string& gz) {
  z_stream z{};
  REQUIRE(inflateInit2(&z, 15 + 16) == Z_OK);
  std::string out;
  std::vector<char> buf(1 << 16);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  z.avail_in = static_cast<uInt>(gz.size());
  int r = Z_OK;
  while (r == Z_OK) {
    z.next_out = reinterpret_cast<Bytef*>(buf.data());
    z.avail_out = static_cast<uInt>(buf.size());
    r = inflate(&z, Z_NO_FLUSH);
    out.append(buf.data(), buf.size() - z.avail_out);
  }
  CHECK(r == Z_STREAM_END);
  CHECK(z.avail_in == 0);  // nothing after the first member
  inflateEnd(&z);
  return out;
}

// gzip(1) on a file: `gzip -t` and `gzip -dc` must both accept it.
std::string GunzipCli(const std::string& gz) {
  TempDir t;
  WriteFile(t / "x.gz", gz);
  REQUIRE(Sh("gzip -t '" + t / "x.gz" + "'") == 0);
  REQUIRE(Sh("gzip -dc '" + t / "x.gz" + "' > '" + t / "x" + "'") == 0);
  return ReadAll(t / "x");
}

}  // namespace

TEST_CASE("gzip writer: round trip through zlib and gzip(1) at block-size boundaries") {
  const size_t block = 64 << 10;
  for (size_t n : {size_t{0}, size_t{1}, block - 1, block, block + 1, 3 * block, 5 * block + 12345}) {
    CAPTURE(n);
    std::string in = Data(n);
    std::string gz = Gzip(in, 4, 0, block);
    CHECK(Gunzip(gz) == in);
    CHECK(GunzipCli(gz) == in);
  }
}

TEST_CASE("gzip writer: identical bytes for 1..N threads, any write pattern") {
  const size_t block = 64 << 10;
  std::string in = Data(10 * block + 777, 7);
  std::string one = Gzip(in, 1, 0, block);
  CHECK(Gzip(in, 2, 0, block) == one);
  CHECK(Gzip(in, 8, 0, block) == one);
  CHECK(Gzip(in, 3, 1000, block) == one);
  CHECK(Gzip(in, 1, 4096, block) == one);
  CHECK(Gzip(in, 2, block, block) == one);
  CHECK(Gzip(std::string(in, 0, 2000), 1, 1, block) == Gzip(std::string(in, 0, 2000), 5, 0, block));
  // The default block size too, with a multi-block input.
  std::string big = Data(3 * kGzipBlockSize + 5, 9);
  std::string big1 = Gzip(big, 1);
  CHECK(Gzip(big, 2, 100000) == big1);
  CHECK(Gzip(big, 16) == big1);
  CHECK(Gunzip(big1) == big);
  // Exactly a block, and empty input: still identical and valid.
  std::string exact = Data(kGzipBlockSize, 3);
  CHECK(Gzip(exact, 1) == Gzip(exact, 4, 4096));
  CHECK(Gzip("", 1) == Gzip("", 4));
  CHECK(Gunzip(Gzip("", 1)).empty());
}

TEST_CASE("gzip writer: fixed header, trailer with CRC-32 and length") {
  std::string in = Data(200000);
  std::string gz = Gzip(in, 2, 0, 64 << 10);
  REQUIRE(gz.size() > 18);
  CHECK(gz.substr(0, 10) == std::string("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", 10));
  CHECK(Gzip(in, 2, 0, 64 << 10, 9)[8] == 2);  // XFL: best compression
  CHECK(Gzip(in, 2, 0, 64 << 10, 1)[8] == 4);  // XFL: fastest
  uint32_t crc = static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(in.data()), in.size()));
  std::string tail = gz.substr(gz.size() - 8);
  auto le32 = [&](size_t i) {
    uint32_t v = 0;
    for (int k = 3; k >= 0; --k) v = (v << 8) | static_cast<unsigned char>(tail[i + k]);
    return v;
  };
  CHECK(le32(0) == crc);
  CHECK(le32(4) == in.size());
}

TEST_CASE("gzip writer: ratio close to one-shot gzip (blocks are primed with the previous 32 KiB)") {
  std::string in = Data(4 * kGzipBlockSize);
  uLongf bound = compressBound(in.size()) + 64;
  std::string plain(bound, '\0');
  z_stream z{};
  REQUIRE(deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  z.next_in = reinterpret_cast<Bytef*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(plain.data());
  z.avail_out = static_cast<uInt>(plain.size());
  REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
  size_t plain_size = z.total_out;
  deflateEnd(&z);
  size_t ours = Gzip(in, 2).size();
  MESSAGE("one-shot ", plain_size, " bytes, blocks ", ours, " bytes");
  CHECK(static_cast<double>(ours) < static_cast<double>(plain_size) * 1.005);
}

TEST_CASE("gzip writer: a sink error stops the writer and is returned") {
  int calls = 0;
  GzipWriter w(
      [&](const char*, size_t) -> Status {
        ++calls;
        return MakeError(ErrorCode::kIo, "write layer: No space left on device");
      },
      6, 2, 64 << 10);
  std::string in = Data(1 << 20);
  Status st = w.Write(in.data(), in.size());
  if (st) st = w.Finish();
  REQUIRE_FALSE(st);
  CHECK(st.error().message.find("No space left") != std::string::npos);
  CHECK(calls == 1);
  CHECK_FALSE(w.Write("x", 1));
}
