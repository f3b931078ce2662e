#include "common/result.h"

#include <cstring>

namespace cb {

std::string Error::ToString() const {
  if (where && !where->file.empty()) {
    if (where->line > 0 && where->col > 0)
      return fmt::format("{}:{}:{}: {}", where->file, where->line, where->col, message);
    if (where->line > 0) return fmt::format("{}:{}: {}", where->file, where->line, message);
    return fmt::format("{}: {}", where->file, message);
  }
  return message;
}

Error ErrnoError(int err, std::string_view what) {
  return Error{ErrorCode::kIo, fmt::format("{}: {}", what, std::strerror(err)), std::nullopt, 0};
}

}  // namespace cb
