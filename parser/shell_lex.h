// Shell-style word processing for Dockerfile arguments, compatible with BuildKit's
// frontend/dockerfile/shell: $VAR / ${VAR} expansion with the ${VAR:-w} family of modifiers,
// quote and escape removal, and word splitting. Used by the planner (ENV, ARG, COPY, ...) and
// by the parser itself to recognise heredoc delimiters. Pure functions; thread-safe.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace cb::parser {

/// Returns the value of a variable, or nullopt when it is unset. Names are case-sensitive.
using EnvLookup = std::function<std::optional<std::string>(std::string_view)>;

/// Knobs of the processor (BuildKit's shell.Lex fields). Defaults are what Dockerfile
/// instructions use.
struct ShellLexOptions {
  char escape = '\\';                ///< the escape token ('\\' or '`')
  bool raw_quotes = false;           ///< keep quote characters in the output
  bool raw_escapes = false;          ///< keep escape tokens in the output
  bool skip_process_quotes = false;  ///< quotes are ordinary characters
  bool skip_unset_env = false;       ///< leave references to unset variables as written
  bool heredoc_words = false;        ///< blanks right after `<<` / `<<-` stay in the word
};

/// The whole word after expansion, and the same text split into words.
struct ShellWordResult {
  std::string word;                ///< expansion with blanks preserved (ProcessWord)
  std::vector<std::string> words;  ///< split on unquoted whitespace (ProcessWords)
};

/// Expansion limit: `${...}` nesting deeper than this is an error, never a stack overflow.
inline constexpr int kMaxShellNesting = 1000;

/// Processes `word`. Supported: `$VAR`, `${VAR}`, `${VAR:-w}`, `${VAR-w}`, `${VAR:+w}`,
/// `${VAR+w}`, `${VAR:?msg}`, `${VAR?msg}`, `${VAR#p}`, `${VAR##p}`, `${VAR%p}`,
/// `${VAR%%p}`, `${VAR/p/r}`, `${VAR//p/r}` (p: `*`, `?` and `\`-escapes), single and double
/// quotes, escapes. Positional and special parameters ($1, $@, ...) are never set.
/// Errors (kSyntax): unterminated quotes, bad substitutions (`${}`, `${:}`, missing `}`),
/// unsupported modifiers, `${VAR?}` on an unset variable. Invalid UTF-8 becomes U+FFFD.
Result<ShellWordResult> ProcessShellWord(std::string_view word, const EnvLookup& lookup,
                                         const ShellLexOptions& options = {});

/// One word with variables expanded and quotes/escapes removed (BuildKit's ProcessWord).
Result<std::string> ExpandWord(std::string_view word, const EnvLookup& lookup,
                               char escape = '\\');

/// Like ExpandWord, then split into words on whitespace that was not quoted (an expanded
/// variable's blanks split too, as in the shell). BuildKit's ProcessWords.
Result<std::vector<std::string>> ExpandWords(std::string_view word, const EnvLookup& lookup,
                                             char escape = '\\');

/// A lookup over "NAME=value" entries (later entries win); handy for tests and the planner.
EnvLookup LookupFromList(std::vector<std::string> env);

}  // namespace cb::parser
