// The Dockerfile syntax tree: one node per instruction, as BuildKit's parser produces it
// (keyword, flags, argument words, JSON form, heredocs, source range). Typed meaning is the
// planner's job.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace cb::ast {

/// 1-based, inclusive line range of an instruction in the source (continuations included).
struct SourceRange {
  int start_line = 0;
  int end_line = 0;
};

struct Heredoc {
  std::string name;     ///< delimiter word ("EOF")
  std::string content;  ///< body, each line ending in '\n'; leading tabs removed for <<-
  bool expand = true;   ///< false when the delimiter was quoted ('EOF' or "EOF")
  bool chomp = false;   ///< <<- form
  int fd = 0;           ///< file descriptor digits before `<<` (`3<<EOF`); 0 when absent
  int start_line = 0;   ///< first body line (1-based); the terminator is on end_line
  int end_line = 0;     ///< line of the terminator
};

struct Directive {
  std::string name;   ///< lowercase: "syntax", "escape", "check"
  std::string value;
  int line = 0;
};

struct Instruction {
  std::string keyword;              ///< lowercase: "from", "run", "copy", ...
  std::string original;             ///< the instruction text as BuildKit's Node.Original
  std::vector<std::string> flags;   ///< "--from=build", in order, as written
  std::vector<std::string> args;    ///< the argument words (BuildKit's Next chain values)
  bool json = false;                ///< exec (JSON array) form
  std::vector<Heredoc> heredocs;
  SourceRange range;
  int col = 1;                      ///< column of the keyword on range.start_line
  std::shared_ptr<Instruction> onbuild;  ///< for ONBUILD: the wrapped instruction
};

struct Dockerfile {
  std::string file_name;            ///< as given to Parse, for messages
  char escape = '\\';
  std::vector<Directive> directives;
  std::vector<Instruction> instructions;
  std::vector<std::string> warnings;  ///< non-fatal findings (e.g. empty continuation lines)
};

}  // namespace cb::ast
