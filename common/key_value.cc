#include "common/key_value.h"

namespace cb {

KeyValue SplitKeyValue(std::string_view s) {
  size_t eq = s.find('=');
  if (eq == std::string_view::npos) return {std::string(s), std::nullopt};
  return {std::string(s.substr(0, eq)), std::string(s.substr(eq + 1))};
}

std::vector<KeyValue> SplitFields(std::string_view s, char sep) {
  std::vector<KeyValue> out;
  size_t i = 0;
  while (i <= s.size()) {
    size_t j = s.find(sep, i);
    if (j == std::string_view::npos) j = s.size();
    if (j > i) out.push_back(SplitKeyValue(s.substr(i, j - i)));
    i = j + 1;
  }
  return out;
}

}  // namespace cb
