#include "tests/security/tar_builder.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <vector>

#include <doctest/doctest.h>

namespace cb::sectest {
namespace {

la_ssize_t Append(archive*, void* self, const void* data, size_t n) {
  static_cast<std::string*>(self)->append(static_cast<const char*>(data), n);
  return static_cast<la_ssize_t>(n);
}

void Put(archive* a, archive_entry* e, const std::string& data) {
  REQUIRE(archive_write_header(a, e) == ARCHIVE_OK);
  if (!data.empty()) {
    REQUIRE(archive_write_data(a, data.data(), data.size()) ==
            static_cast<la_ssize_t>(data.size()));
  }
  archive_entry_free(e);
}

archive_entry* NewEntry(const std::string& name, mode_t mode) {
  archive_entry* e = archive_entry_new();
  archive_entry_copy_pathname(e, name.c_str());
  archive_entry_set_mode(e, mode);
  archive_entry_set_mtime(e, 1234567890, 0);
  return e;
}

}  // namespace

TarBuilder::TarBuilder() : a_(archive_write_new()) {
  archive_write_set_format_pax_restricted(a_);
  archive_write_add_filter_none(a_);
  archive_write_set_bytes_in_last_block(a_, 1);
  REQUIRE(archive_write_open2(a_, &tar_, nullptr, &Append, nullptr, nullptr) == ARCHIVE_OK);
}

TarBuilder::~TarBuilder() { archive_write_free(a_); }

TarBuilder& TarBuilder::File(const std::string& name, const std::string& data, mode_t mode) {
  archive_entry* e = NewEntry(name, S_IFREG | mode);
  archive_entry_set_size(e, static_cast<la_int64_t>(data.size()));
  Put(a_, e, data);
  return *this;
}

TarBuilder& TarBuilder::Zeros(const std::string& name, int64_t size) {
  archive_entry* e = NewEntry(name, S_IFREG | 0644);
  archive_entry_set_size(e, size);
  REQUIRE(archive_write_header(a_, e) == ARCHIVE_OK);
  archive_entry_free(e);
  std::vector<char> zeros(1 << 20);
  for (int64_t left = size; left > 0;) {
    size_t n = static_cast<size_t>(std::min<int64_t>(left, static_cast<int64_t>(zeros.size())));
    REQUIRE(archive_write_data(a_, zeros.data(), n) == static_cast<la_ssize_t>(n));
    left -= static_cast<int64_t>(n);
  }
  return *this;
}

TarBuilder& TarBuilder::Dir(const std::string& name, mode_t mode) {
  Put(a_, NewEntry(name, S_IFDIR | mode), "");
  return *this;
}

TarBuilder& TarBuilder::Symlink(const std::string& name, const std::string& target) {
  archive_entry* e = NewEntry(name, S_IFLNK | 0777);
  archive_entry_copy_symlink(e, target.c_str());
  Put(a_, e, "");
  return *this;
}

TarBuilder& TarBuilder::Hardlink(const std::string& name, const std::string& target) {
  archive_entry* e = NewEntry(name, S_IFREG | 0644);
  archive_entry_copy_hardlink(e, target.c_str());
  archive_entry_set_size(e, 0);
  Put(a_, e, "");
  return *this;
}

TarBuilder& TarBuilder::CharDev(const std::string& name, unsigned major, unsigned minor) {
  archive_entry* e = NewEntry(name, S_IFCHR | 0600);
  archive_entry_set_rdevmajor(e, major);
  archive_entry_set_rdevminor(e, minor);
  Put(a_, e, "");
  return *this;
}

std::string TarBuilder::Finish(snapshotter::Compression c) {
  REQUIRE(archive_write_close(a_) == ARCHIVE_OK);
  if (c == snapshotter::Compression::kNone) return tar_;
  std::string out;
  archive* z = archive_write_new();
  if (c == snapshotter::Compression::kGzip) {
    archive_write_add_filter_gzip(z);
  } else {
    archive_write_add_filter_zstd(z);
  }
  archive_write_set_format_raw(z);
  archive_write_set_bytes_in_last_block(z, 1);
  REQUIRE(archive_write_open2(z, &out, nullptr, &Append, nullptr, nullptr) == ARCHIVE_OK);
  archive_entry* e = NewEntry("layer", S_IFREG | 0644);
  REQUIRE(archive_write_header(z, e) == ARCHIVE_OK);
  archive_entry_free(e);
  REQUIRE(archive_write_data(z, tar_.data(), tar_.size()) == static_cast<la_ssize_t>(tar_.size()));
  REQUIRE(archive_write_close(z) == ARCHIVE_OK);
  archive_write_free(z);
  return out;
}

}  // namespace cb::sectest
