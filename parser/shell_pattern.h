// Private: the `*` / `?` patterns of ${VAR#p}, ${VAR%p} and ${VAR/p/r}, matched with the
// preferences of a leftmost-first regular expression (as BuildKit's regexp translation).
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace cb::parser::detail {

/// ${VAR#p} / ${VAR##p}: removes the shortest (longest when `greedy`) matching prefix.
Result<std::string> TrimPrefixPattern(std::string_view pattern, std::string_view value, bool greedy);

/// ${VAR%p} / ${VAR%%p}: removes the shortest (longest when `greedy`) matching suffix.
Result<std::string> TrimSuffixPattern(std::string_view pattern, std::string_view value, bool greedy);

/// ${VAR/p/r} (first match) and ${VAR//p/r} (`all`); `*` is greedy. The replacement is literal.
Result<std::string> ReplacePattern(std::string_view pattern, std::string_view replacement,
                                   std::string_view value, bool all);

}  // namespace cb::parser::detail
