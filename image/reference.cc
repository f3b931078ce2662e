#include "image/reference.h"

#include <cctype>

namespace cb::image {
namespace {

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

/// A path component: lowercase alnum runs joined by '.', '_', '__' or '-'+.
bool ValidComponent(std::string_view c) {
  if (c.empty() || !IsLowerAlnum(c.front()) || !IsLowerAlnum(c.back())) return false;
  for (char ch : c)
    if (!IsLowerAlnum(ch) && ch != '.' && ch != '_' && ch != '-') return false;
  return true;
}

bool ValidTag(std::string_view t) {
  if (t.empty() || t.size() > 128 || t[0] == '.' || t[0] == '-') return false;
  for (char c : t)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') return false;
  return true;
}

}  // namespace

std::string Reference::String() const {
  if (!digest.empty()) return Name() + "@" + digest.ToString();
  return Name() + ":" + tag;
}

std::string Reference::FamiliarName() const {
  if (domain == "docker.io") {
    if (path.rfind("library/", 0) == 0) return path.substr(8);
    return path;
  }
  return Name();
}

std::string Reference::Familiar() const {
  if (!digest.empty()) return FamiliarName() + "@" + digest.ToString();
  return FamiliarName() + ":" + tag;
}

Result<Reference> ParseReference(std::string_view s) {
  auto bad = [&](std::string_view why) {
    return MakeError(ErrorCode::kInvalidArgument, "invalid image reference `{}`: {}", s, why);
  };
  if (s.empty()) return bad("empty");
  Reference r;
  std::string_view rest = s;
  if (auto at = rest.find('@'); at != std::string_view::npos) {
    auto d = Digest::Parse(rest.substr(at + 1));
    if (!d) return bad(d.error().message);
    r.digest = *d;
    rest = rest.substr(0, at);
  }
  // A tag is after the last ':' that follows the last '/'.
  size_t slash = rest.rfind('/');
  size_t colon = rest.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    r.tag = std::string(rest.substr(colon + 1));
    if (!ValidTag(r.tag)) return bad("invalid tag");
    rest = rest.substr(0, colon);
  }
  size_t first = rest.find('/');
  std::string_view head = rest.substr(0, first);
  if (first != std::string_view::npos &&
      (head.find('.') != std::string_view::npos || head.find(':') != std::string_view::npos ||
       head == "localhost")) {
    r.domain = std::string(head);
    rest = rest.substr(first + 1);
  } else {
    r.domain = "docker.io";
  }
  if (r.domain == "index.docker.io") r.domain = "docker.io";
  r.path = std::string(rest);
  if (r.domain == "docker.io" && r.path.find('/') == std::string::npos) r.path = "library/" + r.path;
  size_t start = 0;
  while (start <= r.path.size()) {
    size_t end = r.path.find('/', start);
    if (end == std::string::npos) end = r.path.size();
    if (!ValidComponent(std::string_view(r.path).substr(start, end - start)))
      return bad("repository names must be lowercase letters, digits and separators");
    start = end + 1;
  }
  if (r.tag.empty() && r.digest.empty()) r.tag = "latest";
  return r;
}

}  // namespace cb::image
