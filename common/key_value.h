// The one `key=value` splitter: `--build-arg K=V`, `-e K=V`, `ARG name=default`, env entries,
// and the comma-separated field lists of `--mount`, `--output`, `--secret`.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cb {

struct KeyValue {
  std::string key;
  std::optional<std::string> value;  ///< nullopt when there was no '=' ("K" alone)

  bool operator==(const KeyValue&) const = default;
};

/// Splits at the first '=': "K=V=W" → {K, "V=W"}, "K=" → {K, ""}, "K" → {K, nullopt}.
KeyValue SplitKeyValue(std::string_view s);

/// "a=b,c,,d=e" → {a,b} {c,nullopt} {d,e}: fields split at `sep`, empty fields skipped, each
/// field split by SplitKeyValue. No quoting (BuildKit's CSV quotes are not supported).
std::vector<KeyValue> SplitFields(std::string_view s, char sep = ',');

}  // namespace cb
