// libFuzzer target: the parser, the dumps, Validate and the word expander must never crash,
// hang or leak on any input. Built and run by fuzz/run.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "parser/parser.h"
#include "parser/shell_lex.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto df = cb::parser::Parse(text, "Dockerfile");
  if (df) {
    (void)cb::parser::DumpBuildkit(*df);
    (void)cb::parser::DumpJson(*df);
    auto st = cb::parser::Validate(*df);
    if (!st) (void)cb::parser::FormatError(st.error(), text);
  } else {
    (void)cb::parser::FormatError(df.error(), text);
  }
  if (size <= 4096) {
    auto env = cb::parser::LookupFromList({"A=a b", "EMPTY=", "PATH=/usr/bin:/bin"});
    (void)cb::parser::ExpandWords(text, env);
    (void)cb::parser::ExpandWord(text, env, '`');
  }
  return 0;
}
