// Dockerfile parser: text → ast::Dockerfile. Pure: never touches the filesystem.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"
#include "parser/ast.h"

namespace cb::parser {

/// Parses a whole Dockerfile. On failure the Error has code kSyntax and `where` set to
/// {file_name, line, col} of the offending text. Never throws.
Result<ast::Dockerfile> Parse(std::string_view text, std::string_view file_name = "Dockerfile");

/// Checks what BuildKit's typed layer rejects although its parser accepts it: an unknown
/// instruction ("unknown instruction: COPPY (did you mean COPY?)"), a flag the instruction does
/// not take ("COPY: unknown flag: --frm"), ONBUILD of ONBUILD/FROM/MAINTAINER, and an
/// instruction other than ARG before the first FROM. Errors are kSyntax with file:line:col.
/// `Parse` alone stays lenient (like BuildKit's parser); builds call Parse, then Validate.
Status Validate(const ast::Dockerfile& df);

/// BuildKit's parser-test dump format (one line per instruction, as in testfiles/*/result).
std::string DumpBuildkit(const ast::Dockerfile& df);

/// The AST as JSON, for tools.
std::string DumpJson(const ast::Dockerfile& df);

/// "Dockerfile:3:5: message\n   3 | RUN ...\n     |     ^\n": the error, then the offending line
/// from `text` with a caret under the column (when the location is known).
std::string FormatError(const Error& e, std::string_view text);

}  // namespace cb::parser
