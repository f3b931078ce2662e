// PEGTL grammar of the Dockerfile's token-level syntax (private: include only from parser/*.cc).
// BuildKit's parser is line-oriented; the line structure (continuations, directives, heredoc
// bodies) is driven by parser.cc, and the pieces with real syntax live here: strict JSON for the
// exec form, parser directives, and heredoc operator words. PEGTL rules are snake_case structs.
#pragma once

#include <tao/pegtl.hpp>

namespace cb::parser::grammar {

namespace pegtl = tao::pegtl;

// ---- JSON, exactly what Go's encoding/json accepts (RFC 8259) ---------------------------
struct json_ws : pegtl::star<pegtl::one<' ', '\t', '\n', '\r'>> {};
struct json_escape
    : pegtl::seq<pegtl::one<'\\'>,
                 pegtl::sor<pegtl::one<'"', '\\', '/', 'b', 'f', 'n', 'r', 't'>,
                            pegtl::seq<pegtl::one<'u'>, pegtl::rep<4, pegtl::xdigit>>>> {};
// Any byte but '"', '\\' and control characters (invalid UTF-8 is accepted, as Go does).
struct json_plain : pegtl::seq<pegtl::not_at<pegtl::one<'"', '\\'>>, pegtl::not_range<0, 0x1f>> {};
struct json_chars : pegtl::star<pegtl::sor<json_plain, json_escape>> {};
struct json_string : pegtl::seq<pegtl::one<'"'>, json_chars, pegtl::one<'"'>> {};
struct json_int : pegtl::sor<pegtl::one<'0'>, pegtl::seq<pegtl::range<'1', '9'>, pegtl::star<pegtl::digit>>> {};
struct json_frac : pegtl::seq<pegtl::one<'.'>, pegtl::plus<pegtl::digit>> {};
struct json_exp
    : pegtl::seq<pegtl::one<'e', 'E'>, pegtl::opt<pegtl::one<'+', '-'>>, pegtl::plus<pegtl::digit>> {};
struct json_number
    : pegtl::seq<pegtl::opt<pegtl::one<'-'>>, json_int, pegtl::opt<json_frac>, pegtl::opt<json_exp>> {};
struct json_literal : pegtl::sor<pegtl::string<'t', 'r', 'u', 'e'>, pegtl::string<'f', 'a', 'l', 's', 'e'>,
                                 pegtl::string<'n', 'u', 'l', 'l'>> {};
struct json_value;
struct json_element : pegtl::seq<json_ws, json_value, json_ws> {};
struct json_array
    : pegtl::seq<pegtl::one<'['>, pegtl::sor<pegtl::seq<json_ws, pegtl::one<']'>>,
                                             pegtl::seq<pegtl::list<json_element, pegtl::one<','>>,
                                                        pegtl::one<']'>>>> {};
struct json_member
    : pegtl::seq<json_ws, json_string, json_ws, pegtl::one<':'>, json_element> {};
struct json_object
    : pegtl::seq<pegtl::one<'{'>, pegtl::sor<pegtl::seq<json_ws, pegtl::one<'}'>>,
                                             pegtl::seq<pegtl::list<json_member, pegtl::one<','>>,
                                                        pegtl::one<'}'>>>> {};
struct json_value : pegtl::sor<json_string, json_number, json_object, json_array, json_literal> {};

// The exec form: a JSON array whose top-level elements are captured (strings decoded, anything
// else flagged so the caller can report "arrays must be comprised of strings only").
struct exec_string_chars : json_chars {};
struct exec_string : pegtl::seq<pegtl::one<'"'>, exec_string_chars, pegtl::one<'"'>> {};
struct exec_other : pegtl::sor<json_number, json_object, json_array, json_literal> {};
struct exec_element : pegtl::seq<json_ws, pegtl::sor<exec_string, exec_other>, json_ws> {};
struct exec_form
    : pegtl::seq<json_ws, pegtl::one<'['>,
                 pegtl::sor<pegtl::seq<json_ws, pegtl::one<']'>>,
                            pegtl::seq<pegtl::list<exec_element, pegtl::one<','>>, pegtl::one<']'>>>,
                 json_ws, pegtl::eof> {};

// ---- Parser directives: `#` \s* name \s* `=` \s* value (Go's \s is [\t\n\f\r ]) -----------
struct dir_space : pegtl::one<' ', '\t', '\n', '\f', '\r'> {};
struct dir_name : pegtl::seq<pegtl::alpha, pegtl::star<pegtl::alnum>> {};
struct dir_tail : pegtl::plus<pegtl::any> {};  // value plus trailing blanks; trimmed by the action
struct directive
    : pegtl::seq<pegtl::one<'#'>, pegtl::star<dir_space>, dir_name, pegtl::star<dir_space>,
                 pegtl::one<'='>, dir_tail, pegtl::eof> {};

// ---- Heredoc operator word: ^(\d*)<<(-?)\s*([^<]*)$ --------------------------------------
struct heredoc_fd : pegtl::star<pegtl::digit> {};
struct heredoc_chomp : pegtl::opt<pegtl::one<'-'>> {};
struct heredoc_rest : pegtl::star<pegtl::not_one<'<'>> {};
struct heredoc_word
    : pegtl::seq<heredoc_fd, pegtl::string<'<', '<'>, heredoc_chomp, pegtl::star<dir_space>,
                 heredoc_rest, pegtl::eof> {};

}  // namespace cb::parser::grammar
