// The PEGTL grammar is well-formed: no left recursion, no infinite loops (pegtl::analyze).
#include <doctest/doctest.h>

#include <tao/pegtl/contrib/analyze.hpp>

#include "parser/grammar.h"

namespace pegtl = tao::pegtl;
namespace g = cb::parser::grammar;

TEST_CASE("pegtl::analyze finds no problems in the grammar") {
  CHECK(pegtl::analyze<g::json_value>(1) == 0);
  CHECK(pegtl::analyze<g::exec_form>(1) == 0);
  CHECK(pegtl::analyze<g::directive>(1) == 0);
  CHECK(pegtl::analyze<g::heredoc_word>(1) == 0);
}

TEST_CASE("grammar: strict JSON values") {
  auto ok = [](std::string_view s) {
    pegtl::memory_input in(s.data(), s.size(), "t");
    return pegtl::parse<pegtl::seq<g::json_value, pegtl::eof>>(in);
  };
  CHECK(ok("[1, -0.5e+3, true, null, {\"a\": [\"\\u00e9\"]}]"));
  CHECK_FALSE(ok("[01]"));
  CHECK_FALSE(ok("[1,]"));
  CHECK_FALSE(ok("['a']"));
  CHECK_FALSE(ok("[\"a\tb\"]"));
  CHECK_FALSE(ok("[\"\\x\"]"));
  CHECK_FALSE(ok("[True]"));
}
