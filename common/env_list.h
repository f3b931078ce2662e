// Environment lists ("NAME=value" entries, as in an image config's Env and execve's envp) and
// the default PATH every build and run falls back to.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cb::env {

/// Docker's and BuildKit's PATH for a process whose environment has none (and for images
/// built FROM scratch or imported).
inline constexpr std::string_view kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// "PATH=" + kDefaultPath.
std::string DefaultPathEntry();

/// The name of an entry: "A=b" → "A" ("A" alone → "A").
std::string_view NameOf(std::string_view entry);

/// The value of `name` (the last entry that sets it), or nullopt.
std::optional<std::string> Get(const std::vector<std::string>& env, std::string_view name);

/// True when an entry sets `name`.
bool Has(const std::vector<std::string>& env, std::string_view name);

/// Replaces the first entry of `name` in place (its position kept, as BuildKit's ENV does) or
/// appends one.
void Set(std::vector<std::string>& env, std::string_view name, std::string_view value);

}  // namespace cb::env
