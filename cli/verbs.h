// One function per verb; cli/main.cc parses the command line (CLI11) and calls these.
// Each returns the process exit status.
#pragma once

#include <string>

namespace cb::cli {

/// `cbuild debug parse [--format buildkit|json] FILE` (FILE may be "-" for stdin).
int DebugParse(const std::string& file, const std::string& format);

}  // namespace cb::cli
